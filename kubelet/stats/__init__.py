"""Node, pod and container stats (upstream pkg/kubelet/stats and the summary API): /stats/summary,
/metrics/resource, and the eviction manager's node signals."""

from kubelet.stats.provider import StatsProvider

__all__ = ["StatsProvider"]
