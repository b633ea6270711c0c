"""The prober's metrics, by upstream name, in the default Prometheus registry (the kubelet's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PROBE_TOTAL = Counter(
    "prober_probe_total",
    "Cumulative number of a liveness, readiness or startup probe for a container by result.",
    ["probe_type", "result", "container", "pod", "namespace", "pod_uid"],
)
PROBE_DURATION = Histogram(
    "prober_probe_duration_seconds",
    "Duration in seconds for a probe response.",
    ["probe_type", "container", "pod", "namespace"],
)

# upstream's label values for `result`
SUCCESSFUL = "successful"
FAILED = "failed"
UNKNOWN = "unknown"
