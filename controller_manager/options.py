"""kube-controller-manager's flags, with upstream's names and defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from ipaddress import IPv4Network, IPv6Network

from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags
from componentbase.serving import add_secure_serving_flags
from kubeclient.leaderelection import add_leader_election_flags

PROG = "kplane-controller-manager"


def flag_set() -> FlagSet:
    flags = FlagSet(PROG, description="The Kubernetes controller manager: the core control loops.")
    flags.string(
        "kubeconfig", "", "Path to kubeconfig file with authorization and master location information."
    )
    flags.string("master", "", "The address of the Kubernetes API server (overrides the kubeconfig's).")
    flags.strings(
        "controllers",
        ["*"],
        "A list of controllers to enable. '*' enables all on-by-default controllers, "
        "'foo' enables the controller named 'foo', '-foo' disables the controller named 'foo'.",
    )
    add_leader_election_flags(flags, "kube-controller-manager")
    flags.string("cluster-name", "kubernetes", "The instance prefix for the cluster.")
    flags.cidr("cluster-cidr", None, "CIDR Range for Pods in cluster (with --allocate-node-cidrs).")
    flags.bool(
        "allocate-node-cidrs", False, "Should CIDRs for Pods be allocated and set on the cloud provider."
    )
    flags.int(
        "node-cidr-mask-size", 0, "Mask size for node cidr in cluster (default 24 for IPv4, 64 for IPv6)."
    )
    flags.int(
        "node-cidr-mask-size-ipv4", 0, "Mask size for IPv4 node cidr in dual-stack cluster (default 24)."
    )
    flags.int(
        "node-cidr-mask-size-ipv6", 0, "Mask size for IPv6 node cidr in dual-stack cluster (default 64)."
    )
    flags.cidr(
        "service-cluster-ip-range", None, "CIDR Range for Services in cluster (kept out of node CIDRs)."
    )
    flags.duration(
        "node-monitor-period", 5.0, "The period for syncing NodeStatus in cloud-node-lifecycle-controller."
    )
    flags.duration(
        "node-monitor-grace-period",
        40.0,
        "Amount of time which we allow running Node to be unresponsive before marking it unhealthy.",
    )
    flags.duration(
        "node-startup-grace-period",
        60.0,
        "Amount of time which we allow starting Node to be unresponsive before marking it unhealthy.",
    )
    flags.duration(
        "pod-eviction-timeout",
        300.0,
        "Deprecated upstream (taint-based eviction uses tolerationSeconds); accepted.",
    )
    flags.float(
        "node-eviction-rate",
        0.1,
        "Nodes per second whose pods are deleted on node failure when a zone is healthy.",
    )
    flags.float(
        "secondary-node-eviction-rate",
        0.01,
        "Nodes per second whose pods are deleted on node failure when a zone is unhealthy.",
    )
    flags.int(
        "large-cluster-size-threshold",
        50,
        "Number of nodes from which the controller treats the cluster as large for eviction.",
    )
    flags.float(
        "unhealthy-zone-threshold",
        0.55,
        "Fraction of Nodes in a zone which needs to be not Ready for a zone to be treated as unhealthy.",
    )
    flags.int(
        "terminated-pod-gc-threshold",
        12500,
        "Number of terminated pods that can exist before the pod garbage collector starts deleting them.",
    )
    concurrency = {"deployment": 5, "replicaset": 5, "endpoint": 5, "service-endpoint": 5, "namespace": 10,
                   "gc": 20, "serviceaccount-token": 5, "rc": 5}  # fmt: skip
    for name, default in concurrency.items():
        flags.int(
            f"concurrent-{name}-syncs",
            default,
            f"The number of {name} objects that are allowed to sync concurrently.",
        )
    flags.string(
        "root-ca-file",
        "",
        "The root CA published as kube-root-ca.crt in every namespace.",
    )
    flags.string(
        "service-account-private-key-file",
        "",
        "PEM RSA or ECDSA private key used to sign service account tokens.",
    )
    flags.string(
        "cluster-signing-cert-file",
        "",
        "PEM X509 CA certificate used to issue cluster-scoped certificates.",
    )
    flags.string(
        "cluster-signing-key-file",
        "",
        "PEM RSA or ECDSA private key used to sign cluster-scoped certificates.",
    )
    flags.bool(
        "use-service-account-credentials",
        False,
        "If true, use individual service account credentials for each controller.",
    )
    flags.string("authentication-kubeconfig", "", "Accepted for compatibility (delegated authentication).")
    flags.string("authorization-kubeconfig", "", "Accepted for compatibility (delegated authorization).")
    flags.string("requestheader-client-ca-file", "", "Accepted for compatibility.")
    flags.bool("profiling", True, "Accepted for compatibility.")
    flags.int(
        "max-endpoints-per-slice",
        100,
        "The maximum number of endpoints that will be added to an EndpointSlice.",
    )
    flags.duration("endpoint-updates-batch-period", 0.0, "The length of endpoint updates batching period.")
    flags.duration(
        "endpointslice-updates-batch-period", 0.0, "The length of endpoint slice updates batching period."
    )
    add_secure_serving_flags(flags, default_port=10257)
    add_logging_flags(flags)
    return flags


@dataclass(frozen=True)
class Options:
    """The flags controllers read, as attributes (`concurrent_replicaset_syncs`, `cluster_cidr`, ...)."""

    controllers: tuple[str, ...] = ("*",)
    cluster_name: str = "kubernetes"
    cluster_cidr: IPv4Network | IPv6Network | None = None
    allocate_node_cidrs: bool = False
    node_cidr_mask_size: int = 0
    node_cidr_mask_size_ipv4: int = 0
    node_cidr_mask_size_ipv6: int = 0
    service_cluster_ip_range: IPv4Network | IPv6Network | None = None
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 40.0
    node_startup_grace_period: float = 60.0
    pod_eviction_timeout: float = 300.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55
    terminated_pod_gc_threshold: int = 12500
    concurrent_deployment_syncs: int = 5
    concurrent_replicaset_syncs: int = 5
    concurrent_endpoint_syncs: int = 5
    concurrent_service_endpoint_syncs: int = 5
    concurrent_namespace_syncs: int = 10
    concurrent_gc_syncs: int = 20
    concurrent_serviceaccount_token_syncs: int = 5
    concurrent_rc_syncs: int = 5
    max_endpoints_per_slice: int = 100
    endpoint_updates_batch_period: float = 0.0
    endpointslice_updates_batch_period: float = 0.0
    root_ca_file: str = ""
    service_account_private_key_file: str = ""
    cluster_signing_cert_file: str = ""
    cluster_signing_key_file: str = ""

    @classmethod
    def from_flags(cls, flags: Flags) -> Options:
        values = {f.name: flags[f.name.replace("_", "-")] for f in fields(cls)}
        values["controllers"] = tuple(values["controllers"])
        return cls(**values)
