"""`kplane-scheduler` / `python -m scheduler`: kube-scheduler's flags and config file, leader
election on the kube-system/kube-scheduler Lease, /healthz and /metrics on --secure-port (10259).

    kplane-scheduler --config=/etc/kubernetes/config/kube-scheduler.yaml
    kplane-scheduler --kubeconfig=scheduler.conf --leader-elect=true
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from componentbase.errors import ConfigError
from componentbase.flags import Flags, FlagSet
from componentbase.health import HealthServer
from componentbase.klog import add_logging_flags, get_logger, setup_logging_from_flags
from componentbase.run import run
from componentbase.serving import add_secure_serving_flags, serving_context
from kubeclient.config import load_kubeconfig
from kubeclient.errors import ConfigError as KubeconfigError
from kubeclient.events import EventRecorder
from kubeclient.leaderelection import LeaderElector, LeaseConfig, add_leader_election_flags, default_identity
from kubeclient.rest import Client
from scheduler.config import KubeSchedulerConfiguration, load_scheduler_config
from scheduler.framework.runtime import Framework
from scheduler.scheduler import Scheduler

PROG = "kplane-scheduler"
log = get_logger(__name__)


def flag_set() -> FlagSet:
    flags = FlagSet(PROG, description="The Kubernetes scheduler: places pods on nodes.")
    flags.string("config", "", "The path to the KubeSchedulerConfiguration file.")
    flags.string(
        "kubeconfig", "", "Path to kubeconfig file with authorization and master location information."
    )
    flags.string(
        "master", "", "The address of the Kubernetes API server (overrides any value in kubeconfig)."
    )
    add_leader_election_flags(flags, "kube-scheduler")
    flags.string("authentication-kubeconfig", "", "Accepted for compatibility (delegated authentication).")
    flags.string("authorization-kubeconfig", "", "Accepted for compatibility (delegated authorization).")
    flags.bool("profiling", True, "Accepted for compatibility.")
    add_secure_serving_flags(flags, default_port=10259)
    add_logging_flags(flags)
    return flags


def configuration(flags: Flags) -> KubeSchedulerConfiguration:
    """The config file (or the defaults), with the leader election flags given on the command line
    applied over it, as upstream does; --kubeconfig is used when the file names none."""
    config = load_scheduler_config(flags["config"]) if flags["config"] else KubeSchedulerConfiguration()
    election = config.leader_election
    for flag, attribute in (
        ("leader-elect", "leader_elect"),
        ("leader-elect-lease-duration", "lease_duration"),
        ("leader-elect-renew-deadline", "renew_deadline"),
        ("leader-elect-retry-period", "retry_period"),
        ("leader-elect-resource-name", "resource_name"),
        ("leader-elect-resource-namespace", "resource_namespace"),
    ):
        if flags.changed(flag) or not flags["config"]:
            setattr(election, attribute, flags[flag])
    if not config.client_connection.kubeconfig:
        config.client_connection.kubeconfig = flags["kubeconfig"]
    if not config.client_connection.kubeconfig:
        raise ConfigError("no kubeconfig: set clientConnection.kubeconfig in --config or --kubeconfig")
    for profile in config.profiles:  # unknown plugins and bad plugin args fail here, in one line
        try:
            Framework(profile, services=None)  # type: ignore[arg-type]
        except ValueError as error:
            raise ConfigError(f"profile {profile.scheduler_name!r}: {error}") from None
    return config


async def serve(flags: Flags, config: KubeSchedulerConfiguration) -> None:
    try:
        client_config = load_kubeconfig(
            config.client_connection.kubeconfig, user_agent="kube-scheduler", server=flags["master"]
        )
    except KubeconfigError as error:
        raise ConfigError(str(error)) from None
    health = HealthServer(
        flags["bind-address"], flags["secure-port"], serving_context(flags, "kube-scheduler")
    )
    election = config.leader_election
    async with Client(client_config) as client, asyncio.TaskGroup() as tasks:
        recorder = EventRecorder(client, component="default-scheduler")
        scheduler = Scheduler(client, config, recorder)
        health.add_check("sched-handler-sync", scheduler.synced, endpoints=("readyz",))
        tasks.create_task(health.serve_forever())
        tasks.create_task(recorder.run())
        if not election.leader_elect:
            await scheduler.run()
            return
        lease = LeaseConfig(
            election.resource_namespace, election.resource_name, default_identity(),
            election.lease_duration, election.renew_deadline, election.retry_period,
        )  # fmt: skip
        await LeaderElector(client, lease).run(scheduler.run)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    try:
        config = configuration(flags)
    except (ConfigError, ValueError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(1)
    run(lambda: serve(flags, config), prog=PROG)
