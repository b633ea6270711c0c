"""Which pod goes first (upstream eviction helpers rankMemoryPressure, rankDiskPressureFunc,
rankPIDPressure), and the pod requests they compare against.

    memory: pods using more than they request first, then lower priority, then the most memory
            used above their request
    disk:   the same with ephemeral storage (or inodes) used by the pod's filesystems
    pids:   lower priority first, then the most processes

Pods with no stats go first in every ordering. Sorting is stable, so equal pods keep their order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeapi.quantity import Quantity, parse_quantity

Pod = Mapping[str, Any]
PodStats = Mapping[str, Any]  # one entry of /stats/summary "pods"
StatsFunc = Callable[[Pod], PodStats | None]
Compare = Callable[[Pod, Pod], int]

FS_ROOT = "root"  # containers' writable layers
FS_LOGS = "logs"  # containers' logs
FS_LOCAL_VOLUMES = "localVolumeSource"  # emptyDir and friends


def container_request(container: Mapping[str, Any], resource: str) -> Quantity:
    return _quantity(((container.get("resources") or {}).get("requests") or {}).get(resource))


def _quantity(raw: Any) -> Quantity:
    try:
        return parse_quantity(str(raw)) if raw is not None else Quantity(0)
    except ValueError:
        return Quantity(0)


def pod_request(pod: Pod, resource: str) -> Quantity:
    """The pod's request of a resource (upstream resource.PodRequests): the containers' sum, at least
    the biggest init container (sidecars, restartable init containers, run alongside and add up),
    plus the pod overhead."""
    spec = pod.get("spec") or {}

    def request(container: Mapping[str, Any]) -> Quantity:
        return container_request(container, resource)

    total = functools.reduce(lambda a, c: a + request(c), spec.get("containers") or [], Quantity(0))
    sidecars = Quantity(0)
    init_peak = Quantity(0)
    for container in spec.get("initContainers") or []:
        if container.get("restartPolicy") == "Always":
            sidecars = sidecars + request(container)
            init_peak = max(init_peak, sidecars)
        else:
            init_peak = max(init_peak, sidecars + request(container))
    overhead = _quantity((spec.get("overhead") or {}).get(resource))
    return max(total + sidecars, init_peak) + overhead


def priority(pod: Pod) -> int:
    return int((pod.get("spec") or {}).get("priority") or 0)


def _first_true(a: bool, b: bool) -> int:
    """upstream cmpBool: true sorts first."""
    return 0 if a == b else (-1 if a else 1)


def by_priority(p1: Pod, p2: Pod) -> int:
    """Lower priority first."""
    return (priority(p1) > priority(p2)) - (priority(p1) < priority(p2))


def memory_used(stats: PodStats) -> Quantity:
    working_set = (stats.get("memory") or {}).get("workingSetBytes")
    return Quantity.from_int(int(working_set or 0))


def disk_used(stats: PodStats, fs_types: Sequence[str]) -> dict[str, Quantity]:
    """ephemeral-storage bytes and inodes of the chosen filesystems (upstream podDiskUsage)."""
    used, inodes = 0, 0
    for container in stats.get("containers") or []:
        for kind, key in ((FS_ROOT, "rootfs"), (FS_LOGS, "logs")):
            if kind in fs_types:
                fs = container.get(key) or {}
                used += int(fs.get("usedBytes") or 0)
                inodes += int(fs.get("inodesUsed") or 0)
    if FS_LOCAL_VOLUMES in fs_types:
        for volume in stats.get("volume") or []:
            used += int(volume.get("usedBytes") or 0)
            inodes += int(volume.get("inodesUsed") or 0)
    return {"ephemeral-storage": Quantity.from_int(used), "inodes": Quantity.from_int(inodes)}


def process_count(stats: PodStats) -> int:
    return int((stats.get("process_stats") or {}).get("process_count") or 0)


def _with_stats(stats: StatsFunc, compare: Callable[[Pod, PodStats, Pod, PodStats], int]) -> Compare:
    def ordered(p1: Pod, p2: Pod) -> int:
        s1, s2 = stats(p1), stats(p2)
        if s1 is None or s2 is None:
            return _first_true(s1 is None, s2 is None)  # no stats: evict first
        return compare(p1, s1, p2, s2)

    return ordered


def exceeds_memory_requests(stats: StatsFunc) -> Compare:
    return _with_stats(
        stats,
        lambda p1, s1, p2, s2: _first_true(
            memory_used(s1) > pod_request(p1, "memory"), memory_used(s2) > pod_request(p2, "memory")
        ),
    )


def memory_above_request(stats: StatsFunc) -> Compare:
    def compare(p1: Pod, s1: PodStats, p2: Pod, s2: PodStats) -> int:
        over1 = memory_used(s1) - pod_request(p1, "memory")
        over2 = memory_used(s2) - pod_request(p2, "memory")
        return (over2 > over1) - (over2 < over1)  # the bigger consumer first

    return _with_stats(stats, compare)


def exceeds_disk_requests(stats: StatsFunc, fs_types: Sequence[str], resource: str) -> Compare:
    def compare(p1: Pod, s1: PodStats, p2: Pod, s2: PodStats) -> int:
        used1, used2 = disk_used(s1, fs_types)[resource], disk_used(s2, fs_types)[resource]
        return _first_true(used1 > pod_request(p1, resource), used2 > pod_request(p2, resource))

    return _with_stats(stats, compare)


def disk_above_request(stats: StatsFunc, fs_types: Sequence[str], resource: str) -> Compare:
    def compare(p1: Pod, s1: PodStats, p2: Pod, s2: PodStats) -> int:
        over1 = disk_used(s1, fs_types)[resource] - pod_request(p1, resource)
        over2 = disk_used(s2, fs_types)[resource] - pod_request(p2, resource)
        return (over2 > over1) - (over2 < over1)

    return _with_stats(stats, compare)


def processes(stats: StatsFunc) -> Compare:
    return _with_stats(stats, lambda p1, s1, p2, s2: process_count(s2) - process_count(s1))


def ordered_by(*compares: Compare) -> Callable[[Pod, Pod], int]:
    def compare(p1: Pod, p2: Pod) -> int:
        for each in compares:
            result = each(p1, p2)
            if result:
                return result
        return 0

    return compare


RankFunc = Callable[[Sequence[Pod], StatsFunc], list[Pod]]


def rank_memory_pressure(pods: Sequence[Pod], stats: StatsFunc) -> list[Pod]:
    compare = ordered_by(exceeds_memory_requests(stats), by_priority, memory_above_request(stats))
    return sorted(pods, key=functools.cmp_to_key(compare))


def rank_pid_pressure(pods: Sequence[Pod], stats: StatsFunc) -> list[Pod]:
    return sorted(pods, key=functools.cmp_to_key(ordered_by(by_priority, processes(stats))))


def rank_disk_pressure(fs_types: Sequence[str], resource: str) -> RankFunc:
    def rank(pods: Sequence[Pod], stats: StatsFunc) -> list[Pod]:
        compare = ordered_by(
            exceeds_disk_requests(stats, fs_types, resource),
            by_priority,
            disk_above_request(stats, fs_types, resource),
        )
        return sorted(pods, key=functools.cmp_to_key(compare))

    return rank
