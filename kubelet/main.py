"""`kplane-kubelet` / `python -m kubelet`: the flags and KubeletConfiguration, a connection to the
container runtime and the apiserver, then the kubelet's loops, the :10250 server and /healthz.

    kplane-kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf \\
      --container-runtime-endpoint=unix:///run/containerd/containerd.sock --hostname-override=node-1
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from prometheus_client import REGISTRY

from componentbase.errors import ConfigError
from componentbase.flags import Flags
from componentbase.health import HealthServer
from componentbase.klog import get_logger, setup_logging_from_flags
from componentbase.run import run
from componentbase.serving import self_signed_files
from kubeapi.quantity import parse_quantity
from kubeclient.config import load_kubeconfig
from kubeclient.errors import ConfigError as KubeconfigError
from kubeclient.events import EventRecorder
from kubeclient.rest import Client
from kubelet.cgroups import CgroupManager
from kubelet.config import KubeletConfiguration, load_kubelet_config
from kubelet.cri.client import RuntimeClient
from kubelet.cri_config import HostDNS, NodeContext
from kubelet.eviction.manager import EvictionConfig, EvictionManager
from kubelet.eviction.thresholds import EvictionConfigError
from kubelet.image_gc import ImageGC
from kubelet.images import ImageManager
from kubelet.kubelet import Kubelet, NodeSettings
from kubelet.logs import LogRotator
from kubelet.metrics import NODE_NAME
from kubelet.node_status import memory_total_bytes, parse_taints
from kubelet.options import PROG, apply_flag_overrides, flag_set
from kubelet.server.server import KubeletServer
from kubelet.stats.provider import StatsProvider
from kubelet.volumes.manager import VolumeManager
from kubelet.volumes.tokens import api_token_source

log = get_logger(__name__)


def node_ip_for(flags: Flags, config: KubeletConfiguration) -> str:
    if flags["node-ip"]:
        return str(flags["node-ip"])
    if config.address not in ("", "0.0.0.0", "::"):
        return config.address
    return "127.0.0.1"


def load_config(flags: Flags) -> KubeletConfiguration:
    config = load_kubelet_config(flags["config"]) if flags["config"] else KubeletConfiguration()
    config = apply_flag_overrides(config, flags)
    try:
        EvictionConfig.from_kubelet_config(config)
    except EvictionConfigError as error:
        where = f"{flags['config']}: " if flags["config"] else ""
        raise ConfigError(f"{where}invalid configuration: {error}") from None
    return config


def node_settings(flags: Flags, config: KubeletConfiguration) -> NodeSettings:
    """Who this kubelet is; raises ValueError for a bad --register-with-taints."""
    name = (flags["hostname-override"] or socket.gethostname()).lower()
    taints = parse_taints(list(flags["register-with-taints"]))
    taints += [t.model_dump(exclude_none=True) for t in config.register_with_taints]
    return NodeSettings(
        name=name,
        node_ip=node_ip_for(flags, config),
        hostname=name,
        root_dir=Path(flags["root-dir"]),
        labels=dict(flags["node-labels"]),
        taints=taints,
        pod_infra_image=flags["pod-infra-container-image"],
    )


def kubelet_server(
    flags: Flags, config: KubeletConfiguration, runtime: RuntimeClient, kubelet: Kubelet, stats: StatsProvider
) -> KubeletServer:
    """The :10250 server; without a configured serving certificate, a self-signed one in --cert-dir
    (as upstream's kubelet does)."""
    cert, key = config.tls_cert_file, config.tls_private_key_file
    if not (cert and key):
        cert_path, key_path = self_signed_files(Path(flags["cert-dir"]), "kubelet")
        cert, key = str(cert_path), str(key_path)
    return KubeletServer(
        config.address, config.port, cert, key, config.authentication.x509.client_ca_file or None,
        runtime, Path(config.pod_logs_dir), kubelet.running_pods, stats.summary, stats.resource_metrics,
        REGISTRY, configz=lambda: {"kubeletconfig": config.model_dump(mode="json", by_alias=True)},
    )  # fmt: skip


async def serve(flags: Flags, config: KubeletConfiguration, settings: NodeSettings) -> None:
    if not flags["kubeconfig"]:
        raise ConfigError("--kubeconfig is required (standalone mode is not supported)")
    try:
        client_config = load_kubeconfig(flags["kubeconfig"], user_agent="kubelet")
    except KubeconfigError as error:
        raise ConfigError(str(error)) from None
    name, root_dir = settings.name, settings.root_dir
    node_context = NodeContext(
        pod_logs_dir=Path(config.pod_logs_dir),
        cluster_dns=tuple(config.cluster_dns),
        cluster_domain=config.cluster_domain,
        host_dns=HostDNS.read(config.resolv_conf),
        memory_capacity=memory_total_bytes(),
    )
    health = HealthServer(config.healthz_bind_address, config.healthz_port, None)
    async with (
        Client(client_config, max_connections=16) as client,
        RuntimeClient(config.container_runtime_endpoint, timeout=config.runtime_request_timeout) as runtime,
        asyncio.TaskGroup() as tasks,
    ):
        recorder = EventRecorder(client, component="kubelet", host=name)
        NODE_NAME.labels(name).set(1)
        images = ImageManager(
            runtime,
            lambda pod, type_, reason, message: kubelet.event(pod, type_, reason, message),
            time.time,
            serialize_pulls=config.serialize_image_pulls,
            max_parallel_pulls=config.max_parallel_image_pulls,
        )
        volumes = VolumeManager(root_dir / "pods", client, api_token_source(client), name)
        cgroups = CgroupManager(config.cgroup_root, config.cgroups_per_qos, driver=config.cgroup_driver)
        stats = StatsProvider(
            runtime,
            node_name=name,
            root_dir=root_dir,
            pod_logs_dir=Path(config.pod_logs_dir),
            pod_cgroup=cgroups.pod_cgroup,
        )
        kubelet = Kubelet(
            config,
            settings,
            client,
            runtime,
            recorder,
            volumes=volumes,
            images=images,
            node_context=node_context,
            cgroups=cgroups,
        )
        kubelet.eviction = EvictionManager(
            EvictionConfig.from_kubelet_config(config), stats, time.time, kubelet.evict_pod,
            kubelet.active_pods, recorder=kubelet.event,
            node_ref={"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": name}},
        )  # fmt: skip
        kubelet.stats = stats
        tasks.create_task(health.serve_forever())
        tasks.create_task(recorder.run())
        tasks.create_task(kubelet.run())
        tasks.create_task(kubelet.eviction.run())
        image_gc = ImageGC(
            runtime, str(root_dir), time.time,
            high_percent=config.image_gc_high_threshold_percent,
            low_percent=config.image_gc_low_threshold_percent,
            min_age=config.image_minimum_gc_age, max_age=config.image_maximum_gc_age,
            sandbox_image=flags["pod-infra-container-image"],
        )  # fmt: skip
        tasks.create_task(image_gc.run())
        rotator = LogRotator(
            runtime, parse_quantity(config.container_log_max_size).value(), config.container_log_max_files
        )
        tasks.create_task(kubelet.rotate_logs(rotator))
        if config.enable_server:
            tasks.create_task(kubelet_server(flags, config, runtime, kubelet, stats).serve())


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    try:
        config = load_config(flags)
        settings = node_settings(flags, config)
        settings.root_dir.mkdir(parents=True, exist_ok=True)
    except (ConfigError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(1)
    except ValueError as error:  # from --register-with-taints
        print(f"{PROG}: error: --register-with-taints: {error}", file=sys.stderr)
        sys.exit(1)
    run(lambda: serve(flags, config, settings), prog=PROG)
