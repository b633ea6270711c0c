"""The decisions of the node lifecycle controller, as data in and data out (upstream v1.32
pkg/controller/nodelifecycle and pkg/controller/tainteviction): when a node's heartbeat is stale,
which conditions turn Unknown, which taints a node should carry, how healthy each zone is and how
fast its nodes may be tainted, and when a pod on a NoExecute-tainted node is to be deleted.

Two clocks appear here, both passed in: `now: float` is the controller's monotonic clock, used for
heartbeat ages (upstream's nodeHealthData.probeTimestamp is local time, so clocks of kubelets and
controllers are never compared); `now: datetime` is wall time, written into objects (condition
transition times, a taint's timeAdded) and compared with times this controller wrote.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kubeapi.tolerations import tolerates

Obj = dict[str, Any]

NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
PID_PRESSURE = "node.kubernetes.io/pid-pressure"
NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"

NOT_READY_TAINT: Obj = {"key": NOT_READY, "effect": NO_EXECUTE}
UNREACHABLE_TAINT: Obj = {"key": UNREACHABLE, "effect": NO_EXECUTE}

CONDITION_TAINTS: Mapping[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): MEMORY_PRESSURE,
    ("DiskPressure", "True"): DISK_PRESSURE,
    ("NetworkUnavailable", "True"): NETWORK_UNAVAILABLE,
    ("PIDPressure", "True"): PID_PRESSURE,
}
"""Upstream nodeConditionToTaintKeyStatusMap: the NoSchedule taint a condition's status calls for."""
CONDITION_TAINT_KEYS = frozenset(CONDITION_TAINTS.values())

STALE_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
"""What a silent kubelet no longer vouches for; NetworkUnavailable is the network's, left alone."""

ZONE_LABEL, REGION_LABEL = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
BETA_ZONE_LABEL = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION_LABEL = "failure-domain.beta.kubernetes.io/region"
EXCLUDE_DISRUPTION_LABEL = "node.kubernetes.io/exclude-disruption"

LABEL_RECONCILE = (
    ("kubernetes.io/os", "beta.kubernetes.io/os"),
    ("kubernetes.io/arch", "beta.kubernetes.io/arch"),
)
"""(stable, beta) node labels upstream keeps equal, the stable one being the source of truth."""


class ZoneState(StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


# --- times --------------------------------------------------------------------------------------


def format_time(when: datetime) -> str:
    """metav1.Time on the wire: RFC 3339 in UTC, whole seconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_FRACTION = re.compile(r"\.(\d{6})\d+")


def parse_time(text: Any) -> datetime | None:
    """A metav1.Time or MicroTime, or None when absent or malformed."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r".\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- conditions and heartbeats ------------------------------------------------------------------


def get_condition(obj: Mapping[str, Any], type_: str) -> Obj | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return dict(condition)
    return None


def ready_status(node: Mapping[str, Any]) -> str | None:
    condition = get_condition(node, "Ready")
    return None if condition is None else str(condition.get("status"))


@dataclass(frozen=True)
class NodeHealth:
    """What the controller last saw of a node's heartbeats and when, on its own clock (upstream
    nodeHealthData): a heartbeat counts when the Ready condition's lastHeartbeatTime or the Lease's
    renewTime changes, stamped with the local time it was observed."""

    probe_timestamp: float
    ready_transition_timestamp: float
    ready: Obj | None = None
    lease_renew_time: datetime | None = None


def observe_node_health(
    saved: NodeHealth | None, node: Mapping[str, Any], lease: Mapping[str, Any] | None, now: float
) -> NodeHealth:
    """The node's health record after looking at it and its Lease at `now` (upstream
    tryUpdateNodeHealth's bookkeeping). A node that never posted Ready is timed from when this
    controller first saw it (upstream uses its creationTimestamp, the apiserver's clock)."""
    current = get_condition(node, "Ready")
    if current is None:
        health = NodeHealth(now, now) if saved is None else replace(saved, ready=None)
    elif saved is None or saved.ready is None:
        health = NodeHealth(now, now, current, saved.lease_renew_time if saved else None)
    elif saved.ready.get("lastHeartbeatTime") != current.get("lastHeartbeatTime"):
        transitioned = saved.ready.get("lastTransitionTime") != current.get("lastTransitionTime")
        health = NodeHealth(
            now, now if transitioned else saved.ready_transition_timestamp, current, saved.lease_renew_time
        )
    else:
        health = saved
    renewed = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
    if renewed is not None and (health.lease_renew_time is None or health.lease_renew_time < renewed):
        health = replace(health, lease_renew_time=renewed, probe_timestamp=now)
    return health


def grace_period(node: Mapping[str, Any], monitor_grace: float, startup_grace: float) -> float:
    """A node that never posted Ready gets the longer startup grace period."""
    return startup_grace if get_condition(node, "Ready") is None else monitor_grace


def is_stale(health: NodeHealth, grace: float, now: float) -> bool:
    return now > health.probe_timestamp + grace


def observed_ready_condition(node: Mapping[str, Any]) -> Obj:
    """The Ready condition as observed; Unknown since creation for a node that never posted one."""
    current = get_condition(node, "Ready")
    if current is not None:
        return current
    created = (node.get("metadata") or {}).get("creationTimestamp")
    return {"type": "Ready", "status": "Unknown", "lastHeartbeatTime": created, "lastTransitionTime": created}


def unknown_conditions(node: Mapping[str, Any], now: datetime) -> list[Obj] | None:
    """The node's conditions with Ready and the pressure conditions turned Unknown, as upstream
    posts for a node whose kubelet went silent; None when the Ready condition would not change
    (upstream writes only then)."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
    stamp = format_time(now)
    created = (node.get("metadata") or {}).get("creationTimestamp")
    for type_ in STALE_CONDITION_TYPES:
        existing = next((c for c in conditions if c.get("type") == type_), None)
        if existing is None:
            conditions.append(
                {
                    "type": type_,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": created,
                    "lastTransitionTime": stamp,
                }
            )
        elif existing.get("status") != "Unknown":
            existing.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=stamp,
            )
    new_ready = next(c for c in conditions if c.get("type") == "Ready")
    return None if new_ready == observed_ready_condition(node) else conditions


# --- zones --------------------------------------------------------------------------------------


def zone_key(node: Mapping[str, Any]) -> str:
    """Upstream GetZoneKey: region and zone (beta labels first), "" when neither is set."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = labels[BETA_ZONE_LABEL] if BETA_ZONE_LABEL in labels else labels.get(ZONE_LABEL, "")
    region = labels[BETA_REGION_LABEL] if BETA_REGION_LABEL in labels else labels.get(REGION_LABEL, "")
    return "" if not zone and not region else f"{region}:\x00:{zone}"


def excluded_from_disruption(node: Mapping[str, Any]) -> bool:
    return EXCLUDE_DISRUPTION_LABEL in ((node.get("metadata") or {}).get("labels") or {})


def compute_zone_state(
    ready_statuses: Sequence[str | None], unhealthy_threshold: float
) -> tuple[int, ZoneState]:
    """(not-ready nodes, state): no Ready node is a full disruption; more than two not ready and at
    least `unhealthy_threshold` of the zone a partial one."""
    ready = sum(1 for status in ready_statuses if status == "True")
    not_ready = len(ready_statuses) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


@dataclass(frozen=True)
class EvictionRates:
    """The --node-eviction-rate family of flags."""

    healthy: float = 0.1
    secondary: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55

    def for_state(self, state: ZoneState, zone_size: int) -> float | None:
        """Upstream setLimiterInZone: a partially disrupted zone slows down, to a stop in a small
        cluster; a fully disrupted one (while others are not) goes on at the healthy rate."""
        if state is ZoneState.PARTIAL_DISRUPTION:
            return self.secondary if zone_size > self.large_cluster_size_threshold else 0.0
        if state in (ZoneState.NORMAL, ZoneState.FULL_DISRUPTION):
            return self.healthy
        return None


@dataclass(frozen=True)
class DisruptionPlan:
    states: dict[str, ZoneState]
    """Every zone's state after this pass."""
    rates: dict[str, float] = field(default_factory=dict)
    """Zones whose tainting rate changes, with the new rate (0 stops tainting)."""
    entering_full_disruption: bool = False
    """Every zone lost all its nodes: remove the NoExecute taints from every node, taint no more."""
    leaving_full_disruption: bool = False
    """Some node answers again: restart every node's grace period before judging it."""


def plan_disruption(
    previous: Mapping[str, ZoneState], zone_ready: Mapping[str, Sequence[str | None]], rates: EvictionRates
) -> DisruptionPlan:
    """Upstream handleDisruption: new zone states from each zone's Ready statuses. When every zone is
    fully disrupted the problem is most likely the control plane's own connectivity, so nothing is
    tainted and existing NoExecute taints go; leaving that mode restores each zone's rate."""
    new_states: dict[str, ZoneState] = {}
    all_are_fully_disrupted = True
    for zone, statuses in zone_ready.items():
        _, state = compute_zone_state(statuses, rates.unhealthy_zone_threshold)
        all_are_fully_disrupted = all_are_fully_disrupted and state is ZoneState.FULL_DISRUPTION
        new_states[zone] = state
    states = {zone: state for zone, state in previous.items() if zone in zone_ready}
    for zone in zone_ready:
        states.setdefault(zone, ZoneState.INITIAL)
    all_were_fully_disrupted = all(state is ZoneState.FULL_DISRUPTION for state in states.values())
    if all_are_fully_disrupted and all_were_fully_disrupted:
        return DisruptionPlan(states)
    if all_are_fully_disrupted:
        return DisruptionPlan(
            {zone: ZoneState.FULL_DISRUPTION for zone in states},
            {zone: 0.0 for zone in states},
            entering_full_disruption=True,
        )
    changed: dict[str, float] = {}
    for zone, state in states.items():
        if state is new_states[zone] and not all_were_fully_disrupted:
            continue
        rate = rates.for_state(new_states[zone], len(zone_ready[zone]))
        if rate is not None:
            changed[zone] = rate
        states[zone] = new_states[zone]
    return DisruptionPlan(states, changed, leaving_full_disruption=all_were_fully_disrupted)


# --- taints -------------------------------------------------------------------------------------


def node_taints(node: Mapping[str, Any]) -> list[Obj]:
    return [dict(t) for t in (node.get("spec") or {}).get("taints") or ()]


def matches(taint: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Upstream Taint.MatchTaint: the same key and effect."""
    return taint.get("key") == other.get("key") and taint.get("effect") == other.get("effect")


def taint_exists(taints: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(matches(existing, taint) for existing in taints)


def no_execute_taints(node: Mapping[str, Any] | None) -> list[Obj]:
    return [t for t in node_taints(node or {}) if t.get("effect") == NO_EXECUTE]


def swap_taints(
    taints: Sequence[Mapping[str, Any]],
    add: Sequence[Mapping[str, Any]],
    remove: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[Obj] | None:
    """The node's taints with `add` (stamped timeAdded=now) and without `remove`, or None when that
    changes nothing (upstream SwapNodeControllerTaint). A taint already there with the same key,
    effect and value is kept as it is, so its timeAdded, which eviction counts from, stays."""
    result = [dict(t) for t in taints if not taint_exists(remove, t)]
    for taint in add:
        same = next((i for i, t in enumerate(result) if matches(t, taint)), None)
        if same is not None and (result[same].get("value") or "") == (taint.get("value") or ""):
            continue
        stamped = {**taint, "timeAdded": format_time(now)}
        if same is None:
            result.append(stamped)
        else:
            result[same] = stamped
    return None if result == [dict(t) for t in taints] else result


def no_schedule_taint_diff(node: Mapping[str, Any]) -> tuple[list[Obj], list[Obj]]:
    """(taints to add, taints to remove) so that the node's controller-owned NoSchedule taints mirror
    its conditions and spec.unschedulable (upstream doNoScheduleTaintingPass)."""
    wanted = []
    for condition in (node.get("status") or {}).get("conditions") or ():
        key = CONDITION_TAINTS.get((condition.get("type"), condition.get("status")))
        if key is not None:
            wanted.append({"key": key, "effect": NO_SCHEDULE})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": UNSCHEDULABLE, "effect": NO_SCHEDULE})
    current = [
        t
        for t in node_taints(node)
        if t.get("effect") == NO_SCHEDULE
        and (t.get("key") == UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)
    ]
    return (
        [t for t in wanted if not taint_exists(current, t)],
        [t for t in current if not taint_exists(wanted, t)],
    )


class NoExecuteAction(StrEnum):
    QUEUE = "queue"
    """Taint through the zone's rate-limited queue."""
    SWAP = "swap"
    """Swap not-ready and unreachable right away: the node is tainted already, only the reason moved."""
    REMOVE = "remove"
    """Ready again: take both taints off and out of the queue."""
    NONE = "none"


def no_execute_action(ready: str | None, taints: Sequence[Mapping[str, Any]]) -> NoExecuteAction:
    """Upstream processTaintBaseEviction for the Ready status observed before this pass."""
    if ready == "False":
        return NoExecuteAction.SWAP if taint_exists(taints, UNREACHABLE_TAINT) else NoExecuteAction.QUEUE
    if ready == "Unknown":
        return NoExecuteAction.SWAP if taint_exists(taints, NOT_READY_TAINT) else NoExecuteAction.QUEUE
    if ready == "True":
        return NoExecuteAction.REMOVE
    return NoExecuteAction.NONE


def no_execute_swap(ready: str | None) -> tuple[Obj, Obj] | None:
    """(taint to add, its opposite to remove) for a Ready status; not-ready and unreachable mirror
    Ready=False and Ready=Unknown, so they exclude each other."""
    if ready == "False":
        return dict(NOT_READY_TAINT), dict(UNREACHABLE_TAINT)
    if ready == "Unknown":
        return dict(UNREACHABLE_TAINT), dict(NOT_READY_TAINT)
    return None


def labels_to_reconcile(labels: Mapping[str, str]) -> dict[str, str]:
    """Beta os/arch labels made equal to their stable ones (upstream reconcileNodeLabels)."""
    return {
        beta: labels[stable]
        for stable, beta in LABEL_RECONCILE
        if stable in labels and labels.get(beta) != labels[stable]
    }


# --- the per-zone rate-limited tainting queue ---------------------------------------------------


class TokenBucket:
    """client-go's token bucket TryAccept: `qps` tokens a second, at most `burst` saved, starting
    full; a rate of 0 never accepts."""

    def __init__(self, qps: float, now: float, burst: int = 1) -> None:
        self.qps, self.burst = qps, burst
        self._tokens = float(burst) if qps > 0 else 0.0
        self._last = now

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._last) * self.qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(order=True)
class _Timed:
    process_at: float
    sequence: int
    value: str = field(compare=False)


class RateLimitedTimedQueue:
    """Upstream RateLimitedTimedQueue: node names waiting to be tainted, each at most once until
    removed (a processed name stays a member, so a node is tainted once per episode), taken in
    process-at order as fast as the zone's token bucket allows."""

    def __init__(self, qps: float, now: float) -> None:
        self.limiter = TokenBucket(qps, now)
        self._waiting: dict[str, _Timed] = {}
        self._members: set[str] = set()
        self._sequence = 0

    def add(self, value: str, now: float) -> bool:
        """Queue `value` unless it is a member already; whether it was added."""
        if value in self._members:
            return False
        self._members.add(value)
        self._sequence += 1
        self._waiting[value] = _Timed(now, self._sequence, value)
        return True

    def remove(self, value: str) -> bool:
        """Forget `value`, so it can be added again; whether it was a member."""
        self._waiting.pop(value, None)
        if value not in self._members:
            return False
        self._members.discard(value)
        return True

    def head(self) -> tuple[str, float] | None:
        if not self._waiting:
            return None
        first = min(self._waiting.values())
        return first.value, first.process_at

    def done(self, value: str) -> None:
        """Processed: out of the queue, still a member."""
        self._waiting.pop(value, None)

    def retry(self, value: str, at: float) -> None:
        if value in self._waiting:
            self._sequence += 1
            self._waiting[value] = _Timed(at, self._sequence, value)

    def swap_limiter(self, qps: float, now: float) -> None:
        """A new rate; a bucket that is empty now stays empty (upstream SwapLimiter drains it)."""
        if qps == self.limiter.qps:
            return
        drained = not self.limiter.try_accept(now)
        self.limiter = TokenBucket(qps, now)
        if drained:
            self.limiter.try_accept(now)

    def __contains__(self, value: str) -> bool:
        return value in self._members

    def waiting(self) -> list[str]:
        return [t.value for t in sorted(self._waiting.values())]


# --- taint-based eviction of pods ---------------------------------------------------------------


def matching_tolerations(
    taints: Sequence[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]] | None:
    """For each taint the first toleration that tolerates it, or None when one is not tolerated
    (upstream GetMatchingTolerations)."""
    used = []
    for taint in taints:
        toleration = next((t for t in tolerations if tolerates(t, taint)), None)
        if toleration is None:
            return None
        used.append(toleration)
    return used


def eviction_time(
    taints: Sequence[Mapping[str, Any]],
    tolerations: Sequence[Mapping[str, Any]],
    now: datetime,
    first_seen: datetime | None = None,
) -> datetime | None:
    """When a pod with `tolerations` on a node with NoExecute `taints` is to be deleted, or None if
    never: at once for a taint it does not tolerate or a tolerationSeconds <= 0, tolerationSeconds
    after the taint's timeAdded otherwise (after `first_seen`, when the pod was first found there,
    for a taint without timeAdded), the earliest over the taints; a toleration without seconds
    tolerates forever."""
    if not taints:
        return None
    used = matching_tolerations(taints, tolerations)
    if used is None:
        return now
    deadline: datetime | None = None
    for taint, toleration in zip(taints, used, strict=True):
        seconds = toleration.get("tolerationSeconds")
        if seconds is None:
            continue
        if int(seconds) <= 0:
            return now
        start = parse_time(taint.get("timeAdded")) or first_seen or now
        candidate = start + timedelta(seconds=int(seconds))
        deadline = candidate if deadline is None else min(deadline, candidate)
    return deadline


def disruption_target_condition(pod: Mapping[str, Any], now: datetime) -> Obj | None:
    """The DisruptionTarget condition the taint manager sets before deleting, or None if the pod
    has it already (upstream UpdatePodCondition)."""
    wanted = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
    }
    existing = get_condition(pod, "DisruptionTarget")
    if existing is not None and all(existing.get(k) == v for k, v in wanted.items()):
        return None
    same_status = existing is not None and existing.get("status") == "True"
    transition = existing.get("lastTransitionTime") if same_status and existing else format_time(now)
    return {**wanted, "lastTransitionTime": transition}


def pod_not_ready_condition(pod: Mapping[str, Any], now: datetime) -> Obj | None:
    """The pod's Ready condition turned False, or None when it has none or it is False already
    (upstream MarkPodsNotReady)."""
    ready = get_condition(pod, "Ready")
    if ready is None or ready.get("status") == "False":
        return None
    return {**copy.deepcopy(ready), "status": "False", "lastTransitionTime": format_time(now)}
