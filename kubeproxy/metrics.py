"""kube-proxy's Prometheus metrics, with upstream's names (pkg/proxy/metrics/metrics.go), on :10249."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_SYNC_BUCKETS = tuple(0.001 * 2**i for i in range(15))
# 0.25 s, 0.5 s, then every second to 59 s, every 5 s to 115 s, every 30 s to 5 min.
_PROGRAMMING_BUCKETS = (
    0.25,
    0.5,
    *(float(s) for s in [*range(1, 60), *range(60, 120, 5), *range(120, 301, 30)]),
)

SYNC_DURATION = Histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds", buckets=_SYNC_BUCKETS
)
SYNC_FULL_DURATION = Histogram(
    "kubeproxy_sync_full_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for full resyncs",
    buckets=_SYNC_BUCKETS,
)
SYNC_PARTIAL_DURATION = Histogram(
    "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for partial resyncs",
    buckets=_SYNC_BUCKETS,
)
LAST_SYNC = Gauge(
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds", "The last time proxy rules were successfully synced"
)
LAST_QUEUED = Gauge(
    "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
    "The last time a sync of proxy rules was queued",
)
NETWORK_PROGRAMMING = Histogram(
    "kubeproxy_network_programming_duration_seconds",
    "In Cluster Network Programming Latency in seconds",
    buckets=_PROGRAMMING_BUCKETS,
)
ENDPOINT_CHANGES_TOTAL = Counter(
    "kubeproxy_sync_proxy_rules_endpoint_changes", "Cumulative proxy rules Endpoint changes"
)
ENDPOINT_CHANGES_PENDING = Gauge(
    "kubeproxy_sync_proxy_rules_endpoint_changes_pending", "Pending proxy rules Endpoint changes"
)
SERVICE_CHANGES_TOTAL = Counter(
    "kubeproxy_sync_proxy_rules_service_changes", "Cumulative proxy rules Service changes"
)
SERVICE_CHANGES_PENDING = Gauge(
    "kubeproxy_sync_proxy_rules_service_changes_pending", "Pending proxy rules Service changes"
)
IPTABLES_RULES = Gauge(
    "kubeproxy_sync_proxy_rules_iptables_total",
    "Total number of iptables rules owned by kube-proxy",
    ["table"],
)
IPTABLES_RESTORE_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_iptables_restore_failures", "Cumulative proxy iptables restore failures"
)
IPTABLES_PARTIAL_RESTORE_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures",
    "Cumulative proxy iptables partial restore failures",
)
NFTABLES_SYNC_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_nftables_sync_failures", "Cumulative proxy nftables sync failures"
)
NFTABLES_CLEANUP_FAILURES = Counter(
    "kubeproxy_sync_proxy_rules_nftables_cleanup_failures", "Cumulative proxy nftables cleanup failures"
)
NO_LOCAL_ENDPOINTS = Gauge(
    "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
    "Number of services with a Local traffic policy and no endpoints",
    ["traffic_policy"],
)
HEALTHZ_TOTAL = Counter("kubeproxy_proxy_healthz", "Cumulative proxy healthz HTTP status", ["code"])
LIVEZ_TOTAL = Counter("kubeproxy_proxy_livez", "Cumulative proxy livez HTTP status", ["code"])
