"""The kubelet's flags, with upstream's names: those that are not in KubeletConfiguration
(KubeletFlags), and the deprecated ones that still override a config field when given."""

from __future__ import annotations

from typing import Any

from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags
from kubelet.config import KubeletConfiguration

PROG = "kplane-kubelet"

# Deprecated flags that set a KubeletConfiguration field (upstream: the flag wins over the file).
CONFIG_FLAGS: dict[str, tuple[str, type]] = {
    "address": ("address", str),
    "port": ("port", int),
    "healthz-port": ("healthz_port", int),
    "healthz-bind-address": ("healthz_bind_address", str),
    "pod-manifest-path": ("static_pod_path", str),
    "manifest-url": ("static_pod_url", str),
    "cgroup-driver": ("cgroup_driver", str),
    "cgroup-root": ("cgroup_root", str),
    "cgroups-per-qos": ("cgroups_per_qos", bool),
    "max-pods": ("max_pods", int),
    "cluster-domain": ("cluster_domain", str),
    "resolv-conf": ("resolv_conf", str),
    "tls-cert-file": ("tls_cert_file", str),
    "tls-private-key-file": ("tls_private_key_file", str),
    "pod-cidr": ("pod_cidr", str),
    "fail-swap-on": ("fail_swap_on", bool),
    "file-check-frequency": ("file_check_frequency", float),
    "sync-frequency": ("sync_frequency", float),
    "node-status-update-frequency": ("node_status_update_frequency", float),
    "container-log-max-size": ("container_log_max_size", str),
    "container-log-max-files": ("container_log_max_files", int),
}


def flag_set() -> FlagSet:
    flags = FlagSet(PROG, description="The kubelet: the node agent that runs pods through CRI.")
    flags.string("config", "", "The Kubelet will load its initial configuration from this file.")
    flags.string("kubeconfig", "", "Path to a kubeconfig file, specifying how to connect to the API server.")
    flags.string(
        "bootstrap-kubeconfig",
        "",
        "Path to a kubeconfig file that will be used to get client certificate for kubelet.",
    )
    flags.string("cert-dir", "/var/lib/kubelet/pki", "The directory where the TLS certs are located.")
    flags.string(
        "container-runtime-endpoint",
        "",
        "The endpoint of the remote runtime service (e.g. unix:///run/containerd/containerd.sock).",
    )
    flags.string("image-service-endpoint", "", "The endpoint of the remote image service.")
    flags.string(
        "pod-infra-container-image",
        "registry.k8s.io/pause:3.9",
        "The image whose network/ipc namespaces containers in each pod will use (the runtime's own "
        "sandbox_image setting decides for containerd).",
    )
    flags.string(
        "hostname-override",
        "",
        "If non-empty, will use this string as identification instead of the hostname.",
    )
    flags.string(
        "node-ip", "", "IP address of the node. If set, kubelet will use this IP address for the node."
    )
    flags.string_map(
        "node-labels", {}, "Labels to add when registering the node in the cluster (key=value,...)."
    )
    flags.strings(
        "register-with-taints", [], "Register the node with the given taints (key=value:Effect,...)."
    )
    flags.bool("register-node", True, "Register the node with the apiserver.")
    flags.string(
        "root-dir", "/var/lib/kubelet", "Directory path for managing kubelet files (volume mounts, etc)."
    )
    flags.string("runtime-cgroups", "", "Optional absolute name of cgroups to create and run the runtime in.")
    flags.string("provider-id", "", "Unique identifier for identifying the node in a machine database.")
    for name, (field, kind) in CONFIG_FLAGS.items():
        help_text = f"Deprecated: set {field} in the --config file instead."
        if kind is bool:
            flags.bool(name, False, help_text)
        elif kind is int:
            flags.int(name, 0, help_text)
        elif kind is float:
            flags.duration(name, 0.0, help_text)
        else:
            flags.string(name, "", help_text)
    flags.strings("cluster-dns", [], "Deprecated: set clusterDNS in the --config file instead.")
    flags.string_map("system-reserved", {}, "Deprecated: set systemReserved in the --config file instead.")
    flags.string_map("kube-reserved", {}, "Deprecated: set kubeReserved in the --config file instead.")
    flags.string_map("eviction-hard", {}, "Deprecated: set evictionHard in the --config file instead.")
    add_logging_flags(flags)
    return flags


def apply_flag_overrides(config: KubeletConfiguration, flags: Flags) -> KubeletConfiguration:
    """Flags given on the command line win over the config file, as upstream."""
    updates: dict[str, Any] = {}
    for name, (field, _kind) in CONFIG_FLAGS.items():
        if flags.changed(name):
            updates[field] = flags[name]
    for name, field in (
        ("cluster-dns", "cluster_dns"),
        ("system-reserved", "system_reserved"),
        ("kube-reserved", "kube_reserved"),
        ("eviction-hard", "eviction_hard"),
    ):
        if flags.changed(name):
            updates[field] = flags[name]
    if flags.changed("container-runtime-endpoint"):
        updates["container_runtime_endpoint"] = flags["container-runtime-endpoint"]
    if flags.changed("provider-id"):
        updates["provider_id"] = flags["provider-id"]
    return config.model_copy(update=updates) if updates else config
