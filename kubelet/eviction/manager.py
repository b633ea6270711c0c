"""The eviction manager (upstream pkg/kubelet/eviction eviction_manager.go): every `synchronize()` reads
the node's stats, decides which thresholds are met (soft ones only after their grace period), keeps
the pressure conditions (held for evictionPressureTransitionPeriod), and evicts at most one pod.

    manager = EvictionManager(config, stats, clock=time.time, kill_pod=kill, active_pods=pods)
    await manager.synchronize()          # every 10 s (run() loops)
    manager.conditions()                 # {"MemoryPressure": False, "DiskPressure": False, ...}
    manager.admit(pod)                   # (ok, reason, message) for pod admission

`kill_pod(pod, message)` is the lead's: it stops the pod and sets its status (see
conditions.evicted_status); before calling it the manager fills `last_eviction` with the grace
period upstream would use (1 s for hard thresholds) and the event annotations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from componentbase.klog import get_logger, obj_ref
from kubeapi.quantity import Format, Quantity
from kubeapi.tolerations import tolerates
from kubelet.eviction import core, ranking
from kubelet.eviction.conditions import EVICTED_REASON, PRESSURE_CONDITIONS, TAINT_KEYS
from kubelet.eviction.signals import (
    IMAGEFS_AVAILABLE,
    IMAGEFS_INODES_FREE,
    MEMORY_AVAILABLE,
    MEMORY_PRESSURE,
    NODEFS_AVAILABLE,
    NODEFS_INODES_FREE,
    PID_AVAILABLE,
    SIGNAL_RESOURCE,
    Observations,
    observations_from_summary,
)
from kubelet.eviction.thresholds import Threshold, parse_thresholds, quantity_of
from kubelet.qos import BEST_EFFORT, qos_class

log = get_logger(__name__)

MONITORING_INTERVAL = 10.0
IMMEDIATE_GRACE_SECONDS = 1
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000

Pod = Mapping[str, Any]
Recorder = Callable[[Mapping[str, Any], str, str, str], None]


class StatsSource(Protocol):
    async def summary(self) -> dict[str, Any]: ...

    async def dedicated_image_fs(self) -> bool: ...


@dataclass(frozen=True)
class EvictionConfig:
    thresholds: list[Threshold] = field(default_factory=list)
    pressure_transition_period: float = 300.0
    max_pod_grace_period: int = 0

    @classmethod
    def from_kubelet_config(cls, config: Any) -> EvictionConfig:
        """From a KubeletConfiguration (kubelet.config): raises EvictionConfigError on bad values."""
        return cls(
            parse_thresholds(
                config.eviction_hard_or_default,
                config.eviction_soft,
                config.eviction_soft_grace_period,
                config.eviction_minimum_reclaim,
            ),
            float(config.eviction_pressure_transition_period),
            int(config.eviction_max_pod_grace_period),
        )


@dataclass(frozen=True)
class Eviction:
    pod: Pod
    signal: str
    message: str
    grace_period_seconds: int
    annotations: dict[str, str]


def is_critical(pod: Pod) -> bool:
    """Static, mirror and system-critical-priority pods are never evicted (upstream IsCriticalPod)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if annotations.get("kubernetes.io/config.source", "api") != "api":
        return True
    if "kubernetes.io/config.mirror" in annotations:
        return True
    return ranking.priority(pod) >= SYSTEM_CRITICAL_PRIORITY


def rank_functions(dedicated_image_fs: bool) -> dict[str, ranking.RankFunc]:
    """Upstream buildSignalToRankFunc: with a separate image filesystem, nodefs pressure is relieved by
    logs and volumes and imagefs pressure by writable layers; on one filesystem, by all of them."""
    rank_disk = ranking.rank_disk_pressure
    ranks: dict[str, ranking.RankFunc] = {
        MEMORY_AVAILABLE: ranking.rank_memory_pressure,
        PID_AVAILABLE: ranking.rank_pid_pressure,
    }
    if dedicated_image_fs:
        node_fs = [ranking.FS_LOGS, ranking.FS_LOCAL_VOLUMES]
        ranks[NODEFS_AVAILABLE] = rank_disk(node_fs, "ephemeral-storage")
        ranks[NODEFS_INODES_FREE] = rank_disk(node_fs, "inodes")
        ranks[IMAGEFS_AVAILABLE] = rank_disk([ranking.FS_ROOT], "ephemeral-storage")
        ranks[IMAGEFS_INODES_FREE] = rank_disk([ranking.FS_ROOT], "inodes")
    else:
        all_fs = [ranking.FS_ROOT, ranking.FS_LOGS, ranking.FS_LOCAL_VOLUMES]
        for signal in (NODEFS_AVAILABLE, IMAGEFS_AVAILABLE):
            ranks[signal] = rank_disk(all_fs, "ephemeral-storage")
        for signal in (NODEFS_INODES_FREE, IMAGEFS_INODES_FREE):
            ranks[signal] = rank_disk(all_fs, "inodes")
    return ranks


def eviction_message(
    resource: str,
    pod: Pod,
    stats: ranking.StatsFunc,
    thresholds: Sequence[Threshold],
    observations: Observations,
) -> tuple[str, dict[str, str]]:
    """Upstream evictionMessage: the starved resource, the threshold and what was available, and the
    containers using more than they request."""
    message = f"The node was low on resource: {resource}. "
    for threshold in thresholds:
        observed = observations.get(threshold.signal)
        if observed is not None and SIGNAL_RESOURCE.get(threshold.signal) == resource:
            quantity = quantity_of(threshold.value, observed.capacity)
            message += f"Threshold quantity: {quantity}, available: {observed.available}. "
            break
    offenders: list[str] = []
    usages: list[str] = []
    pod_stats = stats(pod)
    specs = {c.get("name"): c for c in (pod.get("spec") or {}).get("containers") or []}
    for container_stats in (pod_stats or {}).get("containers") or []:
        spec = specs.get(container_stats.get("name"))
        if spec is None:
            continue
        request = ranking.container_request(spec, resource)
        usage = _container_usage(resource, container_stats)
        if usage is not None and usage > request:
            message += (
                f"Container {spec.get('name')} was using {usage}, request is {request}, "
                f"has larger consumption of {resource}. "
            )
            offenders.append(str(spec.get("name")))
            usages.append(str(usage))
    annotations = {
        "offending_containers": ",".join(offenders),
        "offending_containers_usage": ",".join(usages),
        "starved_resource": resource,
    }
    return message, annotations


def _container_usage(resource: str, stats: Mapping[str, Any]) -> Quantity | None:
    if resource == "memory":
        working_set = (stats.get("memory") or {}).get("workingSetBytes")
        return None if working_set is None else Quantity.from_int(int(working_set), Format.BINARY_SI)
    if resource == "ephemeral-storage":
        rootfs = (stats.get("rootfs") or {}).get("usedBytes")
        logs = (stats.get("logs") or {}).get("usedBytes")
        if rootfs is None or logs is None:
            return None
        return Quantity.from_int(int(rootfs) + int(logs), Format.BINARY_SI)
    return None


class EvictionManager:
    def __init__(
        self,
        config: EvictionConfig,
        stats: StatsSource,
        clock: Callable[[], float],
        kill_pod: Callable[[Pod, str], Awaitable[Any]],
        active_pods: Callable[[], Sequence[Pod]],
        *,
        recorder: Recorder | None = None,
        node_ref: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.stats = stats
        self.clock = clock
        self.kill_pod = kill_pod
        self.active_pods = active_pods
        self.recorder = recorder
        self.node_ref = node_ref
        self.last_eviction: Eviction | None = None
        self._ranks: dict[str, ranking.RankFunc] | None = None
        self._conditions: list[str] = []
        self._conditions_last_observed: dict[str, float] = {}
        self._first_observed: dict[Threshold, float] = {}
        self._thresholds_met: list[Threshold] = []
        self._last_observations: Observations = {}

    # ---- what the rest of the kubelet reads ----

    def conditions(self) -> dict[str, bool]:
        return {condition: condition in self._conditions for condition in PRESSURE_CONDITIONS}

    def admit(self, pod: Pod) -> tuple[bool, str, str]:
        """Upstream Admit: under memory pressure only BestEffort pods are refused (unless they tolerate
        the memory-pressure taint); under disk or PID pressure every pod is. Critical pods always pass."""
        if not self._conditions or is_critical(pod):
            return True, "", ""
        if self._conditions == [MEMORY_PRESSURE]:
            if qos_class(pod) != BEST_EFFORT:
                return True, "", ""
            taint = {"key": TAINT_KEYS[MEMORY_PRESSURE], "effect": "NoSchedule"}
            if any(tolerates(t, taint) for t in (pod.get("spec") or {}).get("tolerations") or []):
                return True, "", ""
        log.info("Failed to admit pod to node", pod=obj_ref(pod), nodeCondition=self._conditions)
        return False, EVICTED_REASON, f"The node had condition: [{' '.join(self._conditions)}]. "

    # ---- the control loop ----

    async def run(self, interval: float = MONITORING_INTERVAL) -> None:
        while True:
            try:
                await self.synchronize()
            except Exception as error:
                log.error("Eviction manager: failed to synchronize", err=error)
            await asyncio.sleep(interval)

    async def synchronize(self) -> list[Pod]:
        """One cycle: returns the pods it evicted (at most one)."""
        if not self.config.thresholds:
            return []
        if self._ranks is None:
            self._ranks = rank_functions(await self.stats.dedicated_image_fs())
        summary = await self.stats.summary()
        observations = observations_from_summary(summary)
        pod_stats = {
            str((entry.get("podRef") or {}).get("uid", "")): entry for entry in summary.get("pods") or []
        }

        def stats_of(pod: Pod) -> Mapping[str, Any] | None:
            return pod_stats.get(str((pod.get("metadata") or {}).get("uid", "")))

        now = self.clock()
        thresholds = core.thresholds_met(self.config.thresholds, observations)
        if self._thresholds_met:
            unresolved = core.thresholds_met(self._thresholds_met, observations, enforce_min_reclaim=True)
            thresholds = core.merge(thresholds, unresolved)
        first_seen = core.first_observed(thresholds, self._first_observed, now)
        seen_conditions = core.node_conditions(thresholds)
        last_observed = core.conditions_last_observed(seen_conditions, self._conditions_last_observed, now)
        held = core.conditions_observed_since(last_observed, self.config.pressure_transition_period, now)
        active = core.met_grace_period(first_seen, now)

        self._conditions = [c for c in PRESSURE_CONDITIONS if c in held]
        self._conditions_last_observed = {c: t for c, t in last_observed.items() if c in held}
        self._first_observed = first_seen
        self._thresholds_met = active
        fresh = core.updated_since(active, observations, self._last_observations)
        self._last_observations = observations
        if seen_conditions:
            log.v(3).info("Eviction manager: thresholds met", signals=[t.signal for t in thresholds])

        chosen = core.reclaimable(core.by_eviction_priority(fresh))
        if chosen is None:
            return []
        threshold, resource = chosen
        if self.recorder is not None and self.node_ref is not None:
            self.recorder(
                self.node_ref, "Warning", "EvictionThresholdMet", f"Attempting to reclaim {resource}"
            )
        pods = list(self.active_pods())
        if not pods:
            log.error("Eviction manager: eviction thresholds have been met, but no pods are active to evict")
            return []
        ranked = self._ranks[threshold.signal](pods, stats_of)
        for pod in ranked:
            if is_critical(pod):
                log.error("Eviction manager: cannot evict a critical pod", pod=obj_ref(pod))
                continue
            message, annotations = eviction_message(resource, pod, stats_of, active, observations)
            grace = self._grace_period(threshold, pod)
            self.last_eviction = Eviction(pod, threshold.signal, message, grace, annotations)
            if self.recorder is not None:
                self.recorder(pod, "Warning", EVICTED_REASON, message)
            try:
                outcome = await self.kill_pod(pod, message)
            except Exception as error:
                log.error("Eviction manager: pod failed to evict", err=error, pod=obj_ref(pod))
                continue
            if outcome is False:
                continue
            log.info(
                "Eviction manager: pod is evicted successfully", pod=obj_ref(pod), signal=threshold.signal
            )
            return [pod]
        log.info("Eviction manager: unable to evict any pods from the node")
        return []

    def _grace_period(self, threshold: Threshold, pod: Pod) -> int:
        if threshold.hard:
            return IMMEDIATE_GRACE_SECONDS
        pod_grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if pod_grace is None:
            return self.config.max_pod_grace_period
        return min(self.config.max_pod_grace_period, int(pod_grace))
