"""`kplane-controller-manager` / `python -m controller_manager`: kube-controller-manager's flags,
leader election on the kube-system/kube-controller-manager Lease, the enabled controllers on shared
informers, /healthz and /metrics on --secure-port (10257).

    kplane-controller-manager --kubeconfig=controller-manager.conf --controllers='*,-nodeipam'
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from componentbase.errors import ConfigError
from componentbase.flags import Flags
from componentbase.health import HealthServer
from componentbase.klog import get_logger, setup_logging_from_flags
from componentbase.run import run
from componentbase.serving import serving_context
from controller_manager.controller import ControllerContext
from controller_manager.controllers import ControllerSpec, enabled
from controller_manager.options import PROG, Options, flag_set
from kubeclient.config import load_kubeconfig
from kubeclient.errors import ConfigError as KubeconfigError
from kubeclient.events import EventRecorder
from kubeclient.informer import SharedInformerFactory
from kubeclient.leaderelection import LeaderElector, LeaseConfig, default_identity
from kubeclient.rest import Client

log = get_logger(__name__)


async def run_controllers(
    client: Client, recorder: EventRecorder, options: Options, specs: list[ControllerSpec]
) -> None:
    """Construct the controllers (they ask for their informers), start and sync the informers,
    then run every controller until cancelled."""
    informers = SharedInformerFactory(client)
    ctx = ControllerContext(client=client, informers=informers, recorder=recorder, options=options)
    controllers: list[Any] = [spec.factory()(ctx) for spec in specs]
    async with asyncio.TaskGroup() as tasks:
        informers.start(tasks)
        await informers.wait_synced()
        log.info("Caches synced, starting controllers", controllers=",".join(spec.name for spec in specs))
        for spec, controller in zip(specs, controllers, strict=True):
            tasks.create_task(controller.run(), name=spec.name)


async def serve(flags: Flags, options: Options, specs: list[ControllerSpec]) -> None:
    if not flags["kubeconfig"]:
        raise ConfigError("--kubeconfig is required")
    try:
        client_config = load_kubeconfig(
            flags["kubeconfig"], user_agent="kube-controller-manager", server=flags["master"]
        )
    except KubeconfigError as error:
        raise ConfigError(str(error)) from None
    health = HealthServer(
        flags["bind-address"], flags["secure-port"], serving_context(flags, "kube-controller-manager")
    )
    async with Client(client_config, max_connections=32) as client, asyncio.TaskGroup() as tasks:
        recorder = EventRecorder(client, component="kube-controller-manager")
        tasks.create_task(health.serve_forever())
        tasks.create_task(recorder.run())

        async def lead() -> None:
            await run_controllers(client, recorder, options, specs)

        if not flags["leader-elect"]:
            await lead()
            return
        lease = LeaseConfig(
            flags["leader-elect-resource-namespace"], flags["leader-elect-resource-name"], default_identity(),
            flags["leader-elect-lease-duration"], flags["leader-elect-renew-deadline"],
            flags["leader-elect-retry-period"],
        )  # fmt: skip
        await LeaderElector(client, lease).run(lead)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    try:
        options = Options.from_flags(flags)
        specs = enabled(options.controllers)
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(1)
    run(lambda: serve(flags, options, specs), prog=PROG)
