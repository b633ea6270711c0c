"""Node-pressure eviction (upstream pkg/kubelet/eviction): thresholds, signals from node stats, pod
ranking, node pressure conditions and pod admission under pressure."""

from kubelet.eviction.conditions import condition_reason_message, evicted_status, pressure_taints
from kubelet.eviction.manager import EvictionConfig, EvictionManager
from kubelet.eviction.thresholds import EvictionConfigError, parse_thresholds

__all__ = [
    "EvictionConfig",
    "EvictionConfigError",
    "EvictionManager",
    "condition_reason_message",
    "evicted_status",
    "parse_thresholds",
    "pressure_taints",
]
