"""`kplane-proxy` / `python -m kubeproxy`: flags and KubeProxyConfiguration, the proxy mode, then informers
on Services and EndpointSlices feeding the proxier, /healthz on :10256 and /metrics on :10249.

    kplane-proxy --config=/var/lib/kube-proxy/config.yaml --kubeconfig=/etc/kubernetes/kube-proxy.conf \\
      --hostname-override=node-1
    kplane-proxy --cleanup          # remove every rule either mode made, then exit

Mode ipvs (this kernel has no IPVS) and the removed userspace mode exit with one line before anything
is touched. The rules stay in place when the process exits, so traffic keeps flowing across restarts.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

from prometheus_client import REGISTRY

from componentbase.cli import CommandError
from componentbase.errors import ConfigError
from componentbase.flags import Flags
from componentbase.health import HealthServer
from componentbase.klog import get_logger, setup_logging_from_flags
from componentbase.run import run
from kubeclient.config import load_kubeconfig
from kubeclient.errors import ConfigError as KubeconfigError
from kubeclient.informer import Informer
from kubeclient.rest import Client
from kubeproxy.apply import (
    NETNS_ENV,
    Applier,
    IptablesApplier,
    NftablesApplier,
    Runner,
    cleanup_everything,
    local_ipv4_addresses,
    nftables_supported,
    node_port_ips,
    runner_from_environment,
)
from kubeproxy.config import (
    KubeProxyConfiguration,
    apply_defaults,
    load_proxy_config,
    removed_mode_message,
    split_host_port,
    uses_seed_typo,
    validate,
)
from kubeproxy.healthcheck import ProxyHealth, ServiceHealthServers, add_proxy_routes
from kubeproxy.ipvs import ipvs_refusal, kernel_has_ipvs
from kubeproxy.model import NodeConfig
from kubeproxy.options import PROG, apply_flag_overrides, flag_set
from kubeproxy.proxier import Proxier, Render

log = get_logger(__name__)


def load_config(flags: Flags) -> KubeProxyConfiguration:
    path = flags["config"]
    config = load_proxy_config(path) if path else apply_defaults(KubeProxyConfiguration())
    config = apply_flag_overrides(config, flags)
    problems = validate(config)
    if problems:
        field, message = problems[0]
        raise ConfigError(f"invalid configuration: {field}: {message}")
    return config


async def choose_mode(config: KubeProxyConfiguration, runner: Runner) -> str:
    """The proxy mode to run, or CommandError with the one line that explains why none can."""
    mode = config.mode
    removed = removed_mode_message(mode)
    if removed:
        raise CommandError(removed)
    if mode == "ipvs":
        raise CommandError(ipvs_refusal(kernel_has_ipvs()))
    if mode:
        return mode
    return "nftables" if await nftables_supported(runner) else "iptables"


def renderer(mode: str) -> Render:
    if mode == "nftables":
        from kubeproxy.nftables.rules import render_nftables

        return lambda state, node, changed, existing: render_nftables(
            state, node, changed=changed, existing=existing
        )
    from kubeproxy.iptables.rules import render_iptables

    return lambda state, node, changed, existing: (
        render_iptables(state, node, changed=changed, existing=existing).text
    )


async def start_server(server: HealthServer, what: str, hard_fail: bool) -> bool:
    try:
        await server.start()
        return True
    except OSError as error:
        if hard_fail:
            raise CommandError(f"cannot serve {what} on {server.host}:{server.port}: {error}") from None
        log.error(
            "Cannot serve, continuing without it", what=what, addr=f"{server.host}:{server.port}", err=error
        )
        return False


async def serve(config: KubeProxyConfiguration, mode: str, runner: Runner, master: str = "") -> None:
    kubeconfig = config.client_connection.kubeconfig
    if not kubeconfig:
        raise ConfigError("--kubeconfig is required (or clientConnection.kubeconfig in --config)")
    try:
        client_config = load_kubeconfig(kubeconfig, user_agent="kube-proxy", server=master)
    except KubeconfigError as error:
        raise ConfigError(str(error)) from None
    min_sync, sync = config.sync_periods(mode)
    masquerade_bit, masquerade_all = config.masquerade(mode)
    name = node_name_from(config)
    node = NodeConfig(name, (), config.cluster_cidr, masquerade_all, masquerade_bit)
    health = ProxyHealth(2 * sync)
    entries = list(config.node_port_addresses or ())
    primary = "" if config.bind_address in ("", "0.0.0.0", "::") else config.bind_address

    async def node_ips() -> tuple[str, ...]:
        return node_port_ips(entries, await local_ipv4_addresses(runner), primary)

    applier: Applier = NftablesApplier(runner) if mode == "nftables" else IptablesApplier(runner)
    proxier = Proxier(
        applier, renderer(mode), node, min_sync_period=min_sync, sync_period=sync, health=health,
        node_ips=node_ips, service_health=ServiceHealthServers("0.0.0.0", health),
    )  # fmt: skip
    healthz_host, healthz_port = split_host_port(config.healthz_bind_address)
    healthz = HealthServer(healthz_host, healthz_port)
    add_proxy_routes(healthz, health)
    metrics_host, metrics_port = split_host_port(config.metrics_bind_address)
    metrics_server = HealthServer(metrics_host, metrics_port, registry=REGISTRY)

    async def proxy_mode() -> tuple[int, str, str]:
        return 200, "text/plain; charset=utf-8", mode

    metrics_server.add_route("/proxyMode", proxy_mode)
    log.info("Using proxy mode", mode=mode, node=name, min_sync_period=min_sync, sync_period=sync)
    if os.environ.get(NETNS_ENV):
        log.warning(
            "Programming rules inside a network namespace (testing only)", netns=os.environ[NETNS_ENV]
        )
    async with Client(client_config, max_connections=4) as client, asyncio.TaskGroup() as tasks:
        services = Informer(client, "services")
        slices = Informer(client, "endpointslices.discovery.k8s.io")
        services.add_handler(*proxier.service_handlers())
        slices.add_handler(*proxier.slice_handlers())
        for server, what in ((healthz, "healthz"), (metrics_server, "metrics")):
            if await start_server(server, what, config.bind_address_hard_fail):
                tasks.create_task(server.serve_forever())
        tasks.create_task(services.run(), name="informer-services")
        tasks.create_task(slices.run(), name="informer-endpointslices")
        await services.wait_synced()
        await slices.wait_synced()
        tasks.create_task(proxier.run(), name="proxier")


def node_name_from(config: KubeProxyConfiguration) -> str:
    return (config.hostname_override or socket.gethostname()).strip().lower()


async def cleanup(runner: Runner) -> int:
    errors = await cleanup_everything(runner)
    for error in errors:
        print(f"{PROG}: error: cleanup: {error}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    runner = runner_from_environment()
    try:
        config = load_config(flags)
        if flags["cleanup"]:
            sys.exit(asyncio.run(cleanup(runner)))
        mode = asyncio.run(choose_mode(config, runner))
        if flags["config"] and uses_seed_typo(flags["config"]):
            log.warning("Config file says apiVersion kubelet.config.k8s.io/v1alpha1 (the seed's typo); "
                        "reading it as kubeproxy.config.k8s.io/v1alpha1", file=flags["config"])  # fmt: skip
    except CommandError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    run(lambda: serve(config, mode, runner, flags["master"]), prog=PROG)
