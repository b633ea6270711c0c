"""The kubelet's own metrics, by upstream name, in the default Prometheus registry (:10250/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BUCKETS = [0.005 * 2**i for i in range(14)]

NODE_NAME = Gauge("kubelet_node_name", "The node's name. The count is always 1.", ["node"])
RUNNING_PODS = Gauge("kubelet_running_pods", "Number of pods that have a running pod sandbox")
RUNNING_CONTAINERS = Gauge(
    "kubelet_running_containers", "Number of containers currently running", ["container_state"]
)
POD_WORKER_DURATION = Histogram(
    "kubelet_pod_worker_duration_seconds",
    "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync",
    ["operation_type"],
    buckets=BUCKETS,
)
POD_START_DURATION = Histogram(
    "kubelet_pod_start_duration_seconds",
    "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
    buckets=BUCKETS,
)
PLEG_RELIST_DURATION = Histogram(
    "kubelet_pleg_relist_duration_seconds", "Duration in seconds for relisting pods in PLEG.", buckets=BUCKETS
)
STARTED_CONTAINERS = Counter(
    "kubelet_started_containers_total", "Cumulative number of containers started", ["container_type"]
)
STARTED_CONTAINERS_ERRORS = Counter(
    "kubelet_started_containers_errors_total",
    "Cumulative number of errors when starting containers",
    ["container_type", "code"],
)
EVICTIONS = Counter(
    "kubelet_evictions", "Cumulative number of pod evictions by eviction signal", ["eviction_signal"]
)
