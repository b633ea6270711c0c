"""KubeletConfiguration (kubelet.config.k8s.io/v1beta1): read strictly, defaulted and validated like
upstream's (pkg/kubelet/apis/config/v1beta1/defaults.go, validation/validation.go, v1.32).

Every field of the v1beta1 kind is accepted, so an upstream config file loads unchanged; the fields kplane
acts on are typed, the rest (`Any`) are kept and reported by /configz. A bad value is one ConfigError line
naming the file and field:

    config.yaml:9: imageGCHighThresholdPercent: must be between 0 and 100 (got 120)
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, field_validator

from componentbase.config import ConfigModel, Duration, load_config
from componentbase.errors import ConfigError
from kubeapi.quantity import parse_quantity

API_VERSION = "kubelet.config.k8s.io/v1beta1"
KIND = "KubeletConfiguration"


class X509Authentication(ConfigModel):
    client_ca_file: str = Field(default="", alias="clientCAFile")


class WebhookAuthentication(ConfigModel):
    enabled: bool = True
    cache_ttl: Duration = Field(default=120.0, alias="cacheTTL")


class AnonymousAuthentication(ConfigModel):
    enabled: bool = False


class Authentication(ConfigModel):
    x509: X509Authentication = Field(default_factory=lambda: X509Authentication())
    webhook: WebhookAuthentication = Field(default_factory=lambda: WebhookAuthentication())
    anonymous: AnonymousAuthentication = Field(default_factory=lambda: AnonymousAuthentication())


class WebhookAuthorization(ConfigModel):
    cache_authorized_ttl: Duration = Field(default=300.0, alias="cacheAuthorizedTTL")
    cache_unauthorized_ttl: Duration = Field(default=30.0, alias="cacheUnauthorizedTTL")


class Authorization(ConfigModel):
    mode: str = "Webhook"
    webhook: WebhookAuthorization = Field(default_factory=lambda: WebhookAuthorization())


class Taint(ConfigModel):
    key: str
    value: str = ""
    effect: str
    time_added: str | None = None


class CrashLoopBackOff(ConfigModel):
    max_container_restart_period: Duration | None = None


class KubeletConfiguration(ConfigModel):
    # Where pods come from.
    static_pod_path: str = ""
    static_pod_url: str = Field(default="", alias="staticPodURL")
    static_pod_url_header: dict[str, list[str]] = Field(default_factory=dict, alias="staticPodURLHeader")
    sync_frequency: Duration = 60.0
    file_check_frequency: Duration = 20.0
    http_check_frequency: Duration = 20.0
    # Serving (:10250) and health (:10248).
    enable_server: bool = True
    address: str = "0.0.0.0"
    port: int = 10250
    read_only_port: int = 0
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    tls_cipher_suites: list[str] = Field(default_factory=list)
    tls_min_version: str = ""
    rotate_certificates: bool = False
    server_tls_bootstrap: bool = Field(default=False, alias="serverTLSBootstrap")
    authentication: Authentication = Field(default_factory=lambda: Authentication())
    authorization: Authorization = Field(default_factory=lambda: Authorization())
    healthz_port: int = 10248
    healthz_bind_address: str = "127.0.0.1"
    enable_debugging_handlers: bool = True
    streaming_connection_idle_timeout: Duration = 4 * 3600.0
    # Node status and lease.
    register_node: bool = True
    register_with_taints: list[Taint] = Field(default_factory=list)
    node_status_update_frequency: Duration = 10.0
    node_status_report_frequency: Duration = 300.0
    node_lease_duration_seconds: int = 40
    node_status_max_images: int = 50
    provider_id: str = Field(default="", alias="providerID")
    # Pods, DNS and networking.
    max_pods: int = 110
    pods_per_core: int = 0
    pod_cidr: str = Field(default="", alias="podCIDR")
    pod_pids_limit: int = -1
    cluster_domain: str = ""
    cluster_dns: list[str] = Field(default_factory=list, alias="clusterDNS")
    resolv_conf: str = "/etc/resolv.conf"
    hairpin_mode: str = "promiscuous-bridge"
    allowed_unsafe_sysctls: list[str] = Field(default_factory=list)
    # Runtime and images.
    container_runtime_endpoint: str = "unix:///run/containerd/containerd.sock"
    image_service_endpoint: str = ""
    runtime_request_timeout: Duration = 120.0
    serialize_image_pulls: bool = True
    max_parallel_image_pulls: int | None = None
    registry_pull_qps: int = Field(default=5, alias="registryPullQPS")
    registry_burst: int = 10
    image_minimum_gc_age: Duration = Field(default=120.0, alias="imageMinimumGCAge")
    image_maximum_gc_age: Duration = Field(default=0.0, alias="imageMaximumGCAge")
    image_gc_high_threshold_percent: int = Field(default=85, alias="imageGCHighThresholdPercent")
    image_gc_low_threshold_percent: int = Field(default=80, alias="imageGCLowThresholdPercent")
    # Logs.
    pod_logs_dir: str = "/var/log/pods"
    container_log_max_size: str = "10Mi"
    container_log_max_files: int = 5
    container_log_max_workers: int = 1
    container_log_monitor_interval: Duration = 10.0
    # Resources, cgroups and reservations.
    cgroup_root: str = ""
    cgroups_per_qos: bool = Field(default=True, alias="cgroupsPerQOS")
    cgroup_driver: str = "cgroupfs"
    kubelet_cgroups: str = ""
    system_cgroups: str = ""
    system_reserved: dict[str, str] = Field(default_factory=dict)
    kube_reserved: dict[str, str] = Field(default_factory=dict)
    system_reserved_cgroup: str = ""
    kube_reserved_cgroup: str = ""
    enforce_node_allocatable: list[str] = Field(default_factory=lambda: ["pods"])
    reserved_system_cpus: str = Field(default="", alias="reservedSystemCPUs")
    cpu_cfs_quota: bool = Field(default=True, alias="cpuCFSQuota")
    cpu_cfs_quota_period: Duration = Field(default=0.1, alias="cpuCFSQuotaPeriod")
    qos_reserved: dict[str, str] = Field(default_factory=dict, alias="qosReserved")
    fail_swap_on: bool = True
    # Eviction.
    eviction_hard: dict[str, str] | None = None
    eviction_soft: dict[str, str] = Field(default_factory=dict)
    eviction_soft_grace_period: dict[str, str] = Field(default_factory=dict)
    eviction_pressure_transition_period: Duration = 300.0
    eviction_max_pod_grace_period: int = 0
    eviction_minimum_reclaim: dict[str, str] = Field(default_factory=dict)
    # Restarts and shutdown.
    crash_loop_back_off: CrashLoopBackOff = Field(default_factory=lambda: CrashLoopBackOff())
    shutdown_grace_period: Duration = 0.0
    shutdown_grace_period_critical_pods: Duration = 0.0
    # Client side.
    kube_api_qps: int = Field(default=50, alias="kubeAPIQPS")
    kube_api_burst: int = Field(default=100, alias="kubeAPIBurst")
    event_record_qps: int = Field(default=50, alias="eventRecordQPS")
    event_burst: int = 100
    content_type: str = "application/vnd.kubernetes.protobuf"
    # Accepted from upstream files; kplane does not act on them.
    cpu_manager_policy: Any = None
    cpu_manager_policy_options: Any = None
    cpu_manager_reconcile_period: Any = None
    memory_manager_policy: Any = None
    topology_manager_policy: Any = None
    topology_manager_scope: Any = None
    topology_manager_policy_options: Any = None
    oom_score_adj: Any = Field(default=None, alias="oomScoreAdj")
    volume_stats_agg_period: Any = None
    volume_plugin_dir: Any = None
    enable_controller_attach_detach: Any = None
    protect_kernel_defaults: Any = None
    make_iptables_util_chains: Any = Field(default=None, alias="makeIPTablesUtilChains")
    iptables_masquerade_bit: Any = Field(default=None, alias="iptablesMasqueradeBit")
    iptables_drop_bit: Any = Field(default=None, alias="iptablesDropBit")
    feature_gates: dict[str, bool] = Field(default_factory=dict)
    memory_swap: Any = None
    config_map_and_secret_change_detection_strategy: Any = None
    show_hidden_metrics_for_version: Any = None
    kernel_memcg_notification: Any = None
    logging: Any = None
    enable_system_log_handler: Any = None
    enable_system_log_query: Any = None
    shutdown_grace_period_by_pod_priority: Any = None
    reserved_memory: Any = None
    enable_profiling_handler: Any = None
    enable_debug_flags_handler: Any = None
    enable_contention_profiling: Any = None
    seccomp_default: Any = None
    memory_throttling_factor: Any = None
    tracing: Any = None
    local_storage_capacity_isolation: Any = None
    fail_cgroup_v1: Any = Field(default=None, alias="failCgroupV1")
    user_namespaces: Any = None
    run_once: Any = None
    max_open_files: Any = None

    @field_validator("system_reserved", "kube_reserved")
    @classmethod
    def _quantities(cls, value: dict[str, str]) -> dict[str, str]:
        for resource, amount in value.items():
            try:
                if parse_quantity(str(amount)).nanos < 0:
                    raise ValueError("must be non-negative")
            except ValueError as error:
                raise ValueError(f"{resource}: {error}") from None
        return {resource: str(amount) for resource, amount in value.items()}

    @property
    def eviction_hard_or_default(self) -> dict[str, str]:
        """Upstream's default evictionHard applies only when the field is absent."""
        if self.eviction_hard is None:
            return dict(DEFAULT_EVICTION_HARD)
        return self.eviction_hard


DEFAULT_EVICTION_HARD = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "imagefs.available": "15%",
    "imagefs.inodesFree": "5%",
}


def validate(config: KubeletConfiguration) -> list[tuple[str, str]]:
    """Upstream's ValidateKubeletConfiguration, for the fields kplane acts on: (field, message) pairs."""
    problems: list[tuple[str, str]] = []

    def check(ok: bool, field: str, message: str) -> None:
        if not ok:
            problems.append((field, message))

    for field in ("image_gc_high_threshold_percent", "image_gc_low_threshold_percent"):
        value = getattr(config, field)
        check(0 <= value <= 100, _alias(field), f"must be between 0 and 100 (got {value})")
    check(
        config.image_gc_low_threshold_percent < config.image_gc_high_threshold_percent
        or config.image_gc_high_threshold_percent == config.image_gc_low_threshold_percent == 100,
        "imageGCLowThresholdPercent",
        f"must be less than imageGCHighThresholdPercent ({config.image_gc_high_threshold_percent})",
    )
    for field in ("port", "healthz_port"):
        value = getattr(config, field)
        check(0 < value < 65536 or (field == "healthz_port" and value == 0), _alias(field), "must be 1-65535")
    check(config.max_pods >= 0, "maxPods", "must be non-negative")
    check(config.node_lease_duration_seconds > 0, "nodeLeaseDurationSeconds", "must be greater than 0")
    check(config.node_status_update_frequency > 0, "nodeStatusUpdateFrequency", "must be greater than 0")
    check(config.sync_frequency > 0, "syncFrequency", "must be greater than 0")
    check(config.container_log_max_files >= 2, "containerLogMaxFiles", "must be at least 2")
    check(
        config.cgroup_driver in ("cgroupfs", "systemd"),
        "cgroupDriver",
        f'must be "cgroupfs" or "systemd" (got "{config.cgroup_driver}")',
    )
    check(
        config.hairpin_mode in ("promiscuous-bridge", "hairpin-veth", "none"),
        "hairpinMode",
        'must be "promiscuous-bridge", "hairpin-veth" or "none"',
    )
    try:
        size = parse_quantity(config.container_log_max_size)
        check(size.nanos > 0, "containerLogMaxSize", "must be positive")
    except ValueError as error:
        problems.append(("containerLogMaxSize", str(error)))
    for taint in config.register_with_taints:
        check(
            taint.effect in ("NoSchedule", "PreferNoSchedule", "NoExecute"),
            "registerWithTaints",
            f'effect "{taint.effect}" must be NoSchedule, PreferNoSchedule or NoExecute',
        )
    if config.cgroup_root and not config.cgroup_root.startswith("/"):
        problems.append(("cgroupRoot", f'must be an absolute path (got "{config.cgroup_root}")'))
    return problems


def _alias(field: str) -> str:
    info = KubeletConfiguration.model_fields[field]
    return info.alias or field


def load_kubelet_config(path: str | os.PathLike[str]) -> KubeletConfiguration:
    """Read, default and validate a KubeletConfiguration file; ConfigError names the first bad field."""
    config = load_config(path, KubeletConfiguration, api_version=API_VERSION, kind=KIND)
    problems = validate(config)
    if problems:
        field, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{os.fspath(path)}: invalid configuration: {field}: {message}{more}")
    return config
