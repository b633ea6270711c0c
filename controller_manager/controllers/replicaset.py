"""The ReplicaSet controller (upstream pkg/controller/replicaset, v1.32): keeps `spec.replicas` active
pods that match a ReplicaSet's selector and are controlled by it.

A sync claims pods (adopts matching orphans, releases owned pods whose labels stopped matching),
creates missing pods from the template in slow-start batches (1, 2, 4, ...; at most 500 per sync)
or deletes the extra ones least worth keeping (upstream's ActivePodsWithRanks order), and writes
the status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration,
the ReplicaFailure condition) when it changed. Expectations stop a ReplicaSet from acting again
before the informer has shown it its own creates and deletes: a cache that lags would otherwise
make it over-create.

Every pod event wakes its ReplicaSet, so a sync must not cost a walk over the namespace: it reads
its own pods and its namespace's orphans from an index by controller uid, and keeps their facts and
counts from one sync to the next (PodTally), computing them again only for the pods that changed.

The pure helpers `is_pod_ready` and `is_pod_available` are upstream's podutil functions; the
Deployment controller uses them too.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from componentbase.klog import get_logger, kref
from controller_manager.controller import ControllerContext, QueueController
from controller_manager.expectations import Expectations
from kubeapi import labels
from kubeapi.errors import StatusError
from kubeclient.errors import ApiError, is_not_found
from kubeclient.informer import object_key
from kubeclient.rest import STRATEGIC_MERGE_PATCH

log = get_logger(__name__)
Obj = dict[str, Any]

BURST_REPLICAS = 500
"""At most this many pods are created or deleted by one sync (upstream's BurstReplicas)."""
SLOW_START_INITIAL_BATCH_SIZE = 1
STATUS_UPDATE_RETRIES = 1
"""A failed status write is retried once in place after a fresh GET, then the key is re-queued."""
CONTROLLER_UID_INDEX = "controllerUID"
POD_CONTROLLER_UID_INDEX = "replicaset-controller/podControllerUID"
"""Pods by their controller's uid, or ORPHAN_POD_INDEX_PREFIX + namespace without one."""
ORPHAN_POD_INDEX_PREFIX = "<orphan>/"
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
KIND = "ReplicaSet"
API_VERSION = "apps/v1"
REPLICA_FAILURE = "ReplicaFailure"
MAX_POD_NAME_PREFIX = 253

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# --- pure helpers: pods -----------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None for a missing (Go's zero) or bad one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    """metav1.Time's wire form (RFC 3339, seconds, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """Upstream podutil.IsPodReady: the pod's Ready condition is True."""
    condition = pod_ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: datetime) -> bool:
    """Upstream podutil.IsPodAvailable: ready, and ready for longer than `min_ready_seconds`."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    condition = pod_ready_condition(pod) or {}
    since = parse_time(condition.get("lastTransitionTime"))
    return since is not None and since + timedelta(seconds=min_ready_seconds) < now


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Not finished (Succeeded/Failed) and not being deleted: a pod that counts as a replica."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not (pod.get("metadata") or {}).get("deletionTimestamp")


def active_pods(pods: Iterable[Obj]) -> list[Obj]:
    """Upstream FilterActivePods."""
    return [pod for pod in pods if is_pod_active(pod)]


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The owner reference with controller=true (metav1.GetControllerOf)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") is True:
            return ref  # type: ignore[no-any-return]
    return None


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def diff(active: Sequence[Obj] | int, replicas: int) -> int:
    """Active pods minus the desired count: below zero that many pods are missing, above it that many
    are extra."""
    count = active if isinstance(active, int) else len(active)
    return count - replicas


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH_SIZE) -> list[int]:
    """The batch sizes that make up `count` calls: `initial`, then doubling, the last one what is left."""
    sizes: list[int] = []
    remaining = count
    size = min(remaining, initial)
    while size > 0:
        sizes.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return sizes


# --- pure helpers: which pods to delete -------------------------------------------------------------


def _deletion_cost(pod: Mapping[str, Any]) -> int:
    """The pod-deletion-cost annotation (an int32); anything else counts as 0, as upstream."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        cost = int(str(value))
    except ValueError:
        return 0
    return cost if -(2**31) <= cost < 2**31 else 0


def _pod_ready_time(pod: Mapping[str, Any]) -> datetime | None:
    if not is_pod_ready(pod):
        return None
    return parse_time((pod_ready_condition(pod) or {}).get("lastTransitionTime"))


def _max_restarts(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    """Whether t1 is after t2, a zero (missing) time counting as after any other."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _log_rank(moment: datetime, now: datetime) -> int:
    """floor(log2(nanoseconds since `moment`)), -1 for the future: upstream's logarithmic scale-down
    treats pods of about the same age alike."""
    nanoseconds = (now - moment) // timedelta(microseconds=1) * 1000
    return int(math.log2(nanoseconds)) if nanoseconds > 0 else -1


@dataclass(frozen=True, slots=True)
class DeletionFacts:
    """What delete_first compares of one pod, read and parsed once (a sort compares each pod many
    times: at 10,000 pods, parsing timestamps in every comparison cost half a second a sync)."""

    assigned: bool
    phase: int
    ready: bool
    cost: int
    rank: int
    uid: str
    ready_since: datetime | None
    ready_log_rank: int | None
    restarts: int
    created: datetime | None
    created_log_rank: int | None


def deletion_facts(pod: Mapping[str, Any], rank: int, now: datetime | None) -> DeletionFacts:
    ready_since = _pod_ready_time(pod)
    created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    return DeletionFacts(
        assigned=bool((pod.get("spec") or {}).get("nodeName")),
        phase=_PHASE_ORDINAL.get((pod.get("status") or {}).get("phase", ""), 0),
        ready=is_pod_ready(pod),
        cost=_deletion_cost(pod),
        rank=rank,
        uid=(pod.get("metadata") or {}).get("uid", ""),
        ready_since=ready_since,
        ready_log_rank=None if now is None or ready_since is None else _log_rank(ready_since, now),
        restarts=_max_restarts(pod),
        created=created,
        created_log_rank=None if now is None or created is None else _log_rank(created, now),
    )


def _newer_first(
    t1: datetime | None, t2: datetime | None, log1: int | None, log2: int | None, uid1: str, uid2: str
) -> bool:
    """Upstream's LogarithmicScaleDown comparison of two different times (with their _log_rank, None
    without a time or a `now`): the more recent one first, times within the same power of two of
    age ordered by uid."""
    if log1 is None or log2 is None:
        return _after_or_zero(t1, t2)
    if log1 == log2:
        return uid1 < uid2
    return log1 < log2


def deletes_first(a: DeletionFacts, b: DeletionFacts) -> bool:
    """delete_first over facts read beforehand."""
    if a.assigned != b.assigned:
        return not a.assigned
    if a.phase != b.phase:
        return a.phase < b.phase
    if a.ready != b.ready:
        return not a.ready
    if a.cost != b.cost:
        return a.cost < b.cost
    if a.rank != b.rank:
        return a.rank > b.rank
    if a.ready and b.ready and a.ready_since != b.ready_since:
        return _newer_first(a.ready_since, b.ready_since, a.ready_log_rank, b.ready_log_rank, a.uid, b.uid)
    if a.restarts != b.restarts:
        return a.restarts > b.restarts
    if a.created != b.created:
        return _newer_first(a.created, b.created, a.created_log_rank, b.created_log_rank, a.uid, b.uid)
    return False


def delete_first(
    a: Mapping[str, Any], rank_a: int, b: Mapping[str, Any], rank_b: int, now: datetime | None
) -> bool:
    """Upstream ActivePodsWithRanks.Less: whether pod `a` is preferred for deletion over pod `b`.
    In turn: unassigned before assigned; Pending before Unknown before Running; not ready before
    ready; lower pod-deletion-cost first; higher rank (more related pods on its node) first; ready
    for less time first; more container restarts first; created more recently first."""
    return deletes_first(deletion_facts(a, rank_a, now), deletion_facts(b, rank_b, now))


def rank_by_related_pods_on_node(pods: Sequence[Obj], related: Iterable[Obj]) -> list[int]:
    """Each pod's rank: how many active related pods (of ReplicaSets with the same owner) share its
    node, so scale-down spreads what is left (upstream getPodsRankedByRelatedPodsOnSameNode)."""
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    return [on_node.get((pod.get("spec") or {}).get("nodeName") or "", 0) for pod in pods]


def rank_pods_for_deletion(pods: Sequence[Obj], ranks: Sequence[int], now: datetime | None) -> list[Obj]:
    """The pods in deletion order (ActivePodsWithRanks sorted): the first ones go first."""

    def compare(x: tuple[Obj, DeletionFacts], y: tuple[Obj, DeletionFacts]) -> int:
        if deletes_first(x[1], y[1]):
            return -1
        if deletes_first(y[1], x[1]):
            return 1
        return 0

    facts = [(pod, deletion_facts(pod, rank, now)) for pod, rank in zip(pods, ranks, strict=True)]
    return [pod for pod, _ in sorted(facts, key=functools.cmp_to_key(compare))]


def pods_to_delete(
    pods: Sequence[Obj], related: Iterable[Obj], count: int, now: datetime | None
) -> list[Obj]:
    """The `count` pods to delete among `pods` (upstream getPodsToDelete; all of them unsorted when
    every one goes)."""
    if count < len(pods):
        return rank_pods_for_deletion(pods, rank_by_related_pods_on_node(pods, related), now)[:count]
    return list(pods[:count])


# --- pure helpers: the ReplicaSet -------------------------------------------------------------------


def replicas_of(rs: Mapping[str, Any]) -> int:
    replicas = (rs.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def owner_reference(rs: Mapping[str, Any]) -> Obj:
    """The controller reference that pods of this ReplicaSet carry."""
    meta = rs.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(rs: Mapping[str, Any]) -> Obj:
    """A new pod for `rs` (upstream GetPodFromTemplate): the template's labels, annotations,
    finalizers and spec, `generateName` "<rs-name>-", controlled by the ReplicaSet."""
    template = (rs.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    name = (rs.get("metadata") or {}).get("name", "")
    prefix = f"{name}-" if len(name) + 1 <= MAX_POD_NAME_PREFIX else name
    meta: Obj = {"generateName": prefix, "labels": dict(template_meta.get("labels") or {})}
    if template_meta.get("annotations"):
        meta["annotations"] = dict(template_meta["annotations"])
    if template_meta.get("finalizers"):
        meta["finalizers"] = list(template_meta["finalizers"])
    meta["ownerReferences"] = [owner_reference(rs)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def adopt_patch(rs: Mapping[str, Any], pod: Mapping[str, Any]) -> Obj:
    """Strategic merge patch making `rs` the pod's controller; the pod's uid guards against a pod
    deleted and re-created under the same name."""
    return {
        "metadata": {"ownerReferences": [owner_reference(rs)], "uid": (pod.get("metadata") or {}).get("uid")}
    }


def release_patch(rs: Mapping[str, Any], pod: Mapping[str, Any]) -> Obj:
    """Strategic merge patch removing the ReplicaSet's owner reference from the pod."""
    return {
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": (rs.get("metadata") or {}).get("uid")}],
            "uid": (pod.get("metadata") or {}).get("uid"),
        }
    }


def claim_action(rs: Mapping[str, Any], selector: labels.Selector, pod: Mapping[str, Any]) -> str:
    """What claiming does with one active pod (upstream claimObject): "own" (ours and matching),
    "adopt" (an orphan that matches), "release" (ours but no longer matching) or "ignore"."""
    ref = controller_ref(pod)
    rs_meta = rs.get("metadata") or {}
    rs_deleting = bool(rs_meta.get("deletionTimestamp"))
    matches = selector.matches((pod.get("metadata") or {}).get("labels") or {})
    if ref is not None:
        if ref.get("uid") != rs_meta.get("uid"):
            return "ignore"
        if matches:
            return "own"
        return "ignore" if rs_deleting else "release"
    if rs_deleting or not matches or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "ignore"
    return "adopt"


def get_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class ReplicaCounts:
    """The pod counts a ReplicaSet's status reports, over its claimed active pods."""

    replicas: int = 0
    fully_labeled: int = 0
    ready: int = 0
    available: int = 0

    def __add__(self, other: ReplicaCounts) -> ReplicaCounts:
        return ReplicaCounts(
            self.replicas + other.replicas,
            self.fully_labeled + other.fully_labeled,
            self.ready + other.ready,
            self.available + other.available,
        )


def count_replicas(rs: Mapping[str, Any], pods: Sequence[Obj], now: datetime) -> ReplicaCounts:
    """How many of the claimed active `pods` carry the template's labels, are ready, are available."""
    spec = rs.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    template_labels = _template_selector(rs)
    fully_labeled = ready = available = 0
    for pod in pods:
        if template_labels.matches((pod.get("metadata") or {}).get("labels") or {}):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    return ReplicaCounts(len(pods), fully_labeled, ready, available)


def calculate_status(
    rs: Mapping[str, Any], pods: Sequence[Obj], manage_error: BaseException | None, now: datetime
) -> Obj:
    """The status the ReplicaSet should have for its claimed active `pods` (upstream calculateStatus):
    counts, and the ReplicaFailure condition set by a failed create/delete, removed by a good sync."""
    return status_from_counts(rs, count_replicas(rs, pods, now), manage_error, now)


def status_from_counts(
    rs: Mapping[str, Any], counts: ReplicaCounts, manage_error: BaseException | None, now: datetime
) -> Obj:
    """calculate_status from counts already made (a sync keeps them per pod version, see PodTally)."""
    status: Obj = copy.deepcopy(dict(rs.get("status") or {}))
    failure = get_condition(status, REPLICA_FAILURE)
    if manage_error is not None and failure is None:
        missing = diff(counts.replicas, replicas_of(rs))
        reason = "FailedCreate" if missing < 0 else "FailedDelete" if missing > 0 else ""
        condition = {
            "type": REPLICA_FAILURE,
            "status": "True",
            "lastTransitionTime": format_time(now),
            "reason": reason,
            "message": str(manage_error),
        }
        status["conditions"] = [*(status.get("conditions") or ()), condition]
    elif manage_error is None and failure is not None:
        rest = [c for c in status.get("conditions") or () if c.get("type") != REPLICA_FAILURE]
        if rest:
            status["conditions"] = rest
        else:
            status.pop("conditions", None)
    status["replicas"] = counts.replicas
    status["fullyLabeledReplicas"] = counts.fully_labeled
    status["readyReplicas"] = counts.ready
    status["availableReplicas"] = counts.available
    return status


def status_changed(rs: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether `status` must be written: a count or the conditions differ from the stored status, or
    the ReplicaSet's generation has not been observed yet (upstream updateReplicaSetStatus)."""
    current = rs.get("status") or {}
    counts = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    if any(int(current.get(f) or 0) != int(status.get(f) or 0) for f in counts):
        return True
    generation = int((rs.get("metadata") or {}).get("generation") or 0)
    if generation != int(current.get("observedGeneration") or 0):
        return True
    return bool((current.get("conditions") or []) != (status.get("conditions") or []))


def has_status_cause(error: BaseException, cause: str) -> bool:
    if not isinstance(error, ApiError):
        return False
    causes = (error.status.get("details") or {}).get("causes") or ()
    return any(c.get("type") == cause for c in causes if isinstance(c, Mapping))


# --- the pods a sync looks at ------------------------------------------------------------------------


def orphan_index_key(namespace: str) -> str:
    return ORPHAN_POD_INDEX_PREFIX + namespace


def pod_controller_uid_index(pod: Obj) -> list[str]:
    """A pod's value in POD_CONTROLLER_UID_INDEX (upstream PodControllerUIDIndex): its controller's
    uid, or its namespace's orphan key, so a sync reads its own pods and the orphans it may adopt,
    not every pod of the namespace."""
    ref = controller_ref(pod)
    if ref is not None:
        return [str(ref.get("uid", ""))]
    return [orphan_index_key((pod.get("metadata") or {}).get("namespace", ""))]


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What a sync needs of one pod version for one ReplicaSet."""

    action: str
    """claim_action's answer; "ignore" as well for an inactive pod or one of another namespace."""
    fully_labeled: bool = False
    ready: bool = False
    ready_since: datetime | None = None
    """The Ready condition's lastTransitionTime, parsed only for a ReplicaSet with minReadySeconds."""


IGNORED = PodFacts("ignore")


def pod_facts(
    rs: Mapping[str, Any],
    selector: labels.Selector,
    template_labels: labels.Selector,
    pod: Mapping[str, Any],
) -> PodFacts:
    meta = pod.get("metadata") or {}
    if not is_pod_active(pod) or meta.get("namespace", "") != (rs.get("metadata") or {}).get("namespace", ""):
        return IGNORED
    action = claim_action(rs, selector, pod)
    if action == "ignore":
        return IGNORED
    ready = is_pod_ready(pod)
    since = None
    if ready and int((rs.get("spec") or {}).get("minReadySeconds") or 0) > 0:
        since = parse_time((pod_ready_condition(pod) or {}).get("lastTransitionTime"))
    return PodFacts(action, template_labels.matches(meta.get("labels") or {}), ready, since)


def tally_signature(rs: Mapping[str, Any], selector: labels.Selector) -> tuple[Any, ...]:
    """Everything of the ReplicaSet that PodFacts depend on: a change means facts anew."""
    meta = rs.get("metadata") or {}
    return (
        meta.get("uid"),
        meta.get("namespace", ""),
        bool(meta.get("deletionTimestamp")),
        selector,
        _template_selector(rs),
        int((rs.get("spec") or {}).get("minReadySeconds") or 0),
    )


class PodChanges:
    """The keys of the pods that changed, for each tally that listens on their POD_CONTROLLER_UID_INDEX
    value. Installed as an index of the pod store that indexes nothing: a store calls its index
    functions with every object it puts and every object it takes out (to keep its indexes), so every
    change is seen, through informer handlers or not (a relist, a test's silent sync)."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[set[str]]] = {}

    def __call__(self, pod: Obj) -> list[str]:
        if self._listeners:
            for dirty in self._listeners.get(pod_controller_uid_index(pod)[0], ()):
                dirty.add(object_key(pod))
        return []

    def listen(self, values: Iterable[str], dirty: set[str]) -> None:
        for value in values:
            self._listeners.setdefault(value, []).append(dirty)

    def stop(self, values: Iterable[str], dirty: set[str]) -> None:
        for value in values:
            listeners = [d for d in self._listeners.get(value, ()) if d is not dirty]
            if listeners:
                self._listeners[value] = listeners
            else:
                self._listeners.pop(value, None)


class PodTally:
    """One ReplicaSet's candidate pods (its own and its namespace's orphans) with their facts and
    running counts, kept from one sync to the next: a sync computes facts for the pods that changed
    since the last one (PodChanges tells which) instead of claiming and counting every pod again.
    At 10,000 pods that was most of the controller's CPU, once per pod event."""

    def __init__(self, signature: tuple[Any, ...], values: tuple[str, ...], min_ready: int) -> None:
        self.signature = signature
        self.values = values
        """The POD_CONTROLLER_UID_INDEX values of its candidates: the ReplicaSet's uid, the orphan key."""
        self.min_ready = min_ready
        self.dirty: set[str] = set()
        self.pods: dict[str, Obj] = {}
        self.facts: dict[str, PodFacts] = {}
        self.owned: set[str] = set()
        self.to_adopt: set[str] = set()
        self.to_release: set[str] = set()
        self.fully_labeled = 0
        self.ready = 0
        self.not_available: set[str] = set()
        """Owned ready pods that were not available yet when last looked at (minReadySeconds > 0)."""
        self.checked_at: datetime | None = None

    def fill(self, pods: Iterable[Obj], facts_of: Callable[[Obj], PodFacts]) -> None:
        """Start from every candidate (a new tally)."""
        for pod in pods:
            self._learn(object_key(pod), pod, facts_of(pod))

    def refresh(self, get: Callable[[str], Obj | None], facts_of: Callable[[Obj], PodFacts]) -> None:
        """Bring the changed pods up to what the store holds (`get` reads it by key)."""
        for key in self.dirty:
            pod = get(key)
            if pod is not None and pod is self.pods.get(key):
                continue
            self._forget(key)
            if pod is not None and pod_controller_uid_index(pod)[0] in self.values:
                self._learn(key, pod, facts_of(pod))
        self.dirty.clear()

    def owned_pods(self) -> list[Obj]:
        return [self.pods[key] for key in self.owned]

    def counts(self, now: datetime) -> ReplicaCounts:
        unavailable = self._unavailable(now)
        return ReplicaCounts(len(self.owned), self.fully_labeled, self.ready, self.ready - unavailable)

    def _unavailable(self, now: datetime) -> int:
        if self.min_ready == 0:
            return 0
        if self.checked_at is not None and now < self.checked_at:  # the clock went back: look at all again
            self.not_available = {key for key in self.owned if self.facts[key].ready}
        self.checked_at = now
        self.not_available = {
            key
            for key in self.not_available
            if not _available_since(self.facts[key].ready_since, self.min_ready, now)
        }
        return len(self.not_available)

    def _learn(self, key: str, pod: Obj, facts: PodFacts) -> None:
        if facts.action == "ignore":
            return
        self.pods[key] = pod
        self.facts[key] = facts
        if facts.action == "adopt":
            self.to_adopt.add(key)
        elif facts.action == "release":
            self.to_release.add(key)
        else:
            self.owned.add(key)
            self.fully_labeled += facts.fully_labeled
            self.ready += facts.ready
            if facts.ready and self.min_ready > 0:
                self.not_available.add(key)

    def _forget(self, key: str) -> None:
        facts = self.facts.pop(key, None)
        if facts is None:
            return
        del self.pods[key]
        self.to_adopt.discard(key)
        self.to_release.discard(key)
        if key in self.owned:
            self.owned.discard(key)
            self.fully_labeled -= facts.fully_labeled
            self.ready -= facts.ready
            self.not_available.discard(key)


def _available_since(since: datetime | None, min_ready: int, now: datetime) -> bool:
    """is_pod_available for a ready pod whose Ready condition changed at `since`."""
    return since is not None and since + timedelta(seconds=min_ready) < now


class OwnWrites:
    """What our own writes returned, until the informer shows them (in the spirit of client-go's
    MutationCache): a sync that runs before the watch has brought back its last status write compares
    with, and writes over, what that write returned, instead of the cached older version (with which
    the write would only conflict, cost a GET and a second write, and wake everybody once more)."""

    def __init__(self) -> None:
        self._by_key: dict[str, tuple[set[str], Obj]] = {}
        """key -> (resourceVersions the cache may still show: what it had when we wrote and what
        our writes since made; the object our last write returned)."""

    def freshest(self, key: str, cached: Obj) -> Obj:
        """`cached`, or what our last write of the object returned while the cache lags behind it."""
        entry = self._by_key.get(key)
        if entry is None:
            return cached
        behind, written = entry
        cached_meta, written_meta = cached.get("metadata") or {}, written.get("metadata") or {}
        version = cached_meta.get("resourceVersion", "")
        if (
            version in behind
            and version != written_meta.get("resourceVersion")
            and cached_meta.get("uid") == written_meta.get("uid")
        ):
            return written
        del self._by_key[key]  # caught up, or someone else wrote: the cache is the truth again
        return cached

    def wrote(self, key: str, cached: Obj | None, response: object) -> None:
        """A write of ours returned `response`; `cached` is what the informer had when it was sent."""
        if cached is None or not isinstance(response, dict):
            self._by_key.pop(key, None)
            return
        behind = self._by_key[key][0] if key in self._by_key else set()
        behind |= {
            (cached.get("metadata") or {}).get("resourceVersion", ""),
            (response.get("metadata") or {}).get("resourceVersion", ""),
        }
        self._by_key[key] = (behind, response)

    def forget(self, key: str) -> None:
        self._by_key.pop(key, None)


# --- expectations that remember which pods are being deleted ----------------------------------------


class PodExpectations:
    """Upstream UIDTrackingControllerExpectations: counts of creates/deletes in flight per ReplicaSet,
    plus the keys of the pods being deleted, so a deletion is observed once although a graceful
    delete shows up twice (deletionTimestamp set, then gone)."""

    def __init__(self, expectations: Expectations) -> None:
        self.counts = expectations
        self._deleting: dict[str, set[str]] = {}

    def satisfied(self, key: str) -> bool:
        return self.counts.satisfied(key)

    def expect_creations(self, key: str, adds: int) -> None:
        self.counts.expect(key, adds=adds)

    def creation_observed(self, key: str) -> None:
        self.counts.creation_observed(key)

    def lower_creations(self, key: str, adds: int) -> None:
        self.counts.lower(key, adds=adds)

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        deleting = set(pod_keys)
        self._deleting[key] = deleting
        self.counts.expect(key, deletes=len(deleting))

    def deletion_observed(self, key: str, pod: str) -> None:
        deleting = self._deleting.get(key)
        if deleting is not None and pod in deleting:
            deleting.discard(pod)
            self.counts.deletion_observed(key)

    def delete(self, key: str) -> None:
        self._deleting.pop(key, None)
        self.counts.delete(key)


# --- the controller -----------------------------------------------------------------------------------


class ReplicaSetController(QueueController):
    name = "replicaset-controller"

    def __init__(self, ctx: ControllerContext, burst_replicas: int = BURST_REPLICAS) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_replicaset_syncs)
        self.burst_replicas = burst_replicas
        self.expectations = PodExpectations(Expectations(clock=ctx.clock))
        self.replicasets = ctx.informers.informer("replicasets")
        self.pods = ctx.informers.informer("pods")
        self.replicasets.add_indexer(CONTROLLER_UID_INDEX, _controller_uid)
        self.pods.add_indexer(POD_CONTROLLER_UID_INDEX, pod_controller_uid_index)
        self.pod_changes = PodChanges()
        # One per controller: a second controller on the same informers must not find the name taken.
        self.pods.add_indexer(f"{self.name}/changes/{id(self)}", self.pod_changes)
        self.tallies: dict[str, PodTally] = {}
        self.own_writes = OwnWrites()
        self.replicasets.add_handler(self.add_rs, self.update_rs, self.delete_rs)
        self.pods.add_handler(self.add_pod, self.update_pod, self.delete_pod)

    # --- handlers: find the ReplicaSet, note what was observed, enqueue ---------------------------

    def add_rs(self, rs: Obj) -> None:
        self.enqueue(rs)

    def update_rs(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("uid") != (new.get("metadata") or {}).get("uid"):
            self.delete_rs(old)
        self.enqueue(new)

    def delete_rs(self, rs: Obj) -> None:
        # A ReplicaSet re-created under the same name starts with no expectations.
        self.expectations.delete(object_key(rs))
        self.enqueue(rs)

    def add_pod(self, pod: Obj) -> None:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            # Seen for the first time already terminating (e.g. after a restart): not a creation.
            self.delete_pod(pod)
            return
        ref = controller_ref(pod)
        if ref is not None:
            rs = self._resolve(pod, ref)
            if rs is not None:
                self.expectations.creation_observed(object_key(rs))
                self.enqueue(rs)
            return
        for rs in self._replicasets_selecting(pod):
            self.enqueue(rs)

    def update_pod(self, old: Obj, new: Obj) -> None:
        old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
        if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
            return
        labels_changed = (old_meta.get("labels") or {}) != (new_meta.get("labels") or {})
        if new_meta.get("deletionTimestamp"):
            # A graceful delete: the ReplicaSet replaces the pod now, not when the kubelet is done.
            self.delete_pod(new)
            if labels_changed:
                self.delete_pod(old)
            return
        new_ref, old_ref = controller_ref(new), controller_ref(old)
        if new_ref != old_ref and old_ref is not None:
            old_rs = self._resolve(old, old_ref)
            if old_rs is not None:
                self.enqueue(old_rs)
        if new_ref is not None:
            rs = self._resolve(new, new_ref)
            if rs is None:
                return
            self.enqueue(rs)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_pod_ready(old) and is_pod_ready(new) and min_ready > 0:
                # Check availability once the pod has been ready for minReadySeconds (+1 s of skew).
                self.enqueue_after(rs, min_ready + 1.0)
            return
        if labels_changed or new_ref != old_ref:
            for rs in self._replicasets_selecting(new):
                self.enqueue(rs)

    def delete_pod(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is None:
            return
        rs = self._resolve(pod, ref)
        if rs is None:
            return
        self.expectations.deletion_observed(object_key(rs), pod_key(pod))
        self.enqueue(rs)

    def _resolve(self, pod: Obj, ref: Mapping[str, Any]) -> Obj | None:
        """The ReplicaSet a controller reference names, if it is (still) that object."""
        if ref.get("kind") != KIND:
            return None
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        rs = self.replicasets.store.get(kref(namespace, str(ref.get("name", ""))))
        if rs is None or (rs.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return rs

    def _replicasets_selecting(self, pod: Obj) -> list[Obj]:
        """ReplicaSets in the pod's namespace whose (non-empty) selector matches it: who may adopt it."""
        meta = pod.get("metadata") or {}
        pod_labels = meta.get("labels") or {}
        found = []
        for rs in self.replicasets.store.by_index("namespace", meta.get("namespace", "")):
            selector = _selector(rs)
            if selector is not None and not selector.empty and selector.matches(pod_labels):
                found.append(rs)
        if len(found) > 1:
            log.warning("More than one ReplicaSet selects a pod", pod=pod_key(pod), labels=pod_labels)
        return found

    # --- reconcile ----------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        rs = self.replicasets.store.get(key)
        if rs is None:
            log.v(4).info("ReplicaSet deleted", key=key)
            self.expectations.delete(key)
            self._drop_tally(key)
            self.own_writes.forget(key)
            return
        needs_sync = self.expectations.satisfied(key)
        selector = _selector(rs)
        if selector is None:
            log.warning("ReplicaSet has an invalid selector", replicaset=key)
            return
        now = self.ctx.now()
        tally = self._tally(key, rs, selector)
        adopted = await self._claim_pods(rs, selector, tally)

        manage_error: Exception | None = None
        if needs_sync and not (rs.get("metadata") or {}).get("deletionTimestamp"):
            try:
                await self._manage_replicas(key, rs, tally, adopted, now)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                manage_error = error
        counts = tally.counts(now) + count_replicas(rs, adopted, now)
        rs = self.own_writes.freshest(key, rs)
        status = status_from_counts(rs, counts, manage_error, now)
        await self._update_status(key, rs, status)
        min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        replicas = replicas_of(rs)
        if (
            manage_error is None
            and min_ready > 0
            and status["readyReplicas"] == replicas
            and status["availableReplicas"] != replicas
        ):
            self.queue.add_after(key, float(min_ready))
        if manage_error is not None:
            raise manage_error

    def _tally(self, key: str, rs: Obj, selector: labels.Selector) -> PodTally:
        """The ReplicaSet's tally brought up to the informer's pods: its own (by controller uid) and
        its namespace's orphans. A new one (first sync, or the selector, template labels,
        minReadySeconds, uid or deletion changed) reads them all from the index."""
        template_labels = _template_selector(rs)

        def facts_of(pod: Obj) -> PodFacts:
            return pod_facts(rs, selector, template_labels, pod)

        signature = tally_signature(rs, selector)
        tally = self.tallies.get(key)
        if tally is not None and tally.signature == signature:
            tally.refresh(self.pods.store.get, facts_of)
            return tally
        self._drop_tally(key)
        meta = rs.get("metadata") or {}
        values = (str(meta.get("uid", "")), orphan_index_key(meta.get("namespace", "")))
        tally = self.tallies[key] = PodTally(
            signature, values, int((rs.get("spec") or {}).get("minReadySeconds") or 0)
        )
        self.pod_changes.listen(values, tally.dirty)
        tally.fill(
            (pod for value in values for pod in self.pods.store.by_index(POD_CONTROLLER_UID_INDEX, value)),
            facts_of,
        )
        return tally

    def _drop_tally(self, key: str) -> None:
        tally = self.tallies.pop(key, None)
        if tally is not None:
            self.pod_changes.stop(tally.values, tally.dirty)

    async def _claim_pods(self, rs: Obj, selector: labels.Selector, tally: PodTally) -> list[Obj]:
        """Upstream ClaimPods: adopt the matching orphans and release owned pods that stopped matching;
        the pods adopted (the owned ones are the tally's). An error (the first; the others come back
        on the retry) fails the sync."""
        adopted: list[Obj] = []
        errors: list[Exception] = []
        adoption_checked = False  # the live re-read happens once a sync, before the first adoption
        adoption_error: Exception | None = None
        for pod in [tally.pods[i] for i in tally.to_adopt]:
            try:
                if not adoption_checked:
                    adoption_checked, adoption_error = True, await self._recheck_deletion(rs)
                if adoption_error is not None:
                    uid = pod["metadata"].get("uid")
                    raise RuntimeError(
                        f"can't adopt Pod {pod_key(pod)} ({uid}): {adoption_error}"
                    ) from adoption_error
                await self._patch_pod(pod, adopt_patch(rs, pod))
                adopted.append(pod)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_not_found(error):
                    errors.append(error)
        for pod in [tally.pods[i] for i in tally.to_release]:
            try:
                await self._release(rs, pod)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_not_found(error):
                    errors.append(error)
        if errors:
            raise errors[0]
        return adopted

    async def _recheck_deletion(self, rs: Obj) -> Exception | None:
        """Before the first adoption, a live read: a ReplicaSet being deleted (or replaced) must not
        adopt pods its cached copy does not know it is about to orphan (upstream #42639)."""
        meta = rs["metadata"]
        try:
            fresh = await self.client.get("replicasets", meta["name"], namespace=meta.get("namespace"))
        except Exception as error:
            return RuntimeError(f"can't recheck DeletionTimestamp: {error}")
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != meta.get("uid"):
            return RuntimeError(
                f"can't recheck DeletionTimestamp: original {KIND} {object_key(rs)} is gone: "
                f"got uid {fresh_meta.get('uid')}, wanted {meta.get('uid')}"
            )
        if fresh_meta.get("deletionTimestamp"):
            return RuntimeError(
                f"{object_key(rs)} has just been deleted at {fresh_meta['deletionTimestamp']}"
            )
        return None

    async def _release(self, rs: Obj, pod: Obj) -> None:
        log.v(2).info("Releasing pod", pod=pod_key(pod), replicaset=object_key(rs))
        try:
            await self._patch_pod(pod, release_patch(rs, pod))
        except ApiError as error:
            # Gone, or no longer carrying our reference (422): nothing left to release.
            if error.code in (404, 422):
                return
            raise

    async def _patch_pod(self, pod: Obj, patch: Obj) -> None:
        meta = pod["metadata"]
        await self.client.patch(
            "pods", meta["name"], patch, namespace=meta.get("namespace"), content_type=STRATEGIC_MERGE_PATCH
        )

    async def _manage_replicas(
        self, key: str, rs: Obj, tally: PodTally, adopted: list[Obj], now: datetime
    ) -> None:
        """Create the missing pods or delete the extra ones, at most `burst_replicas` per sync."""
        difference = diff(len(tally.owned) + len(adopted), replicas_of(rs))
        if difference < 0:
            await self._create_pods(key, rs, min(-difference, self.burst_replicas))
        elif difference > 0:
            pods = tally.owned_pods() + adopted
            await self._delete_pods(key, rs, pods, min(difference, self.burst_replicas), now)

    async def _create_pods(self, key: str, rs: Obj, count: int) -> None:
        log.v(2).info("Too few replicas", replicaset=key, need=replicas_of(rs), creating=count)
        # Expect them all before the first create: its watch event may come back before it returns.
        self.expectations.expect_creations(key, count)
        created, error = await slow_start(count, functools.partial(self._create_pod, rs))
        skipped = count - created
        if skipped > 0:
            log.v(2).info("Slow-start failure, skipping creation of pods", replicaset=key, skipped=skipped)
            self.expectations.lower_creations(key, skipped)
        if error is not None:
            raise error

    async def _create_pod(self, rs: Obj) -> None:
        pod = pod_from_template(rs)
        namespace = rs["metadata"].get("namespace")
        if not pod["metadata"]["labels"]:
            raise RuntimeError("unable to create pods, no labels")
        try:
            created = await self.client.create("pods", pod, namespace=namespace)
        except ApiError as error:
            if has_status_cause(error, NAMESPACE_TERMINATING_CAUSE):
                return  # every create fails while the namespace goes away; nothing to report
            self.record(rs, "Warning", "FailedCreate", f"Error creating: {error}")
            raise
        except Exception as error:
            self.record(rs, "Warning", "FailedCreate", f"Error creating: {error}")
            raise
        self.record(rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pods(self, key: str, rs: Obj, pods: list[Obj], count: int, now: datetime) -> None:
        log.v(2).info("Too many replicas", replicaset=key, need=replicas_of(rs), deleting=count)
        doomed = pods_to_delete(pods, self._related_pods(rs), count, now)
        self.expectations.expect_deletions(key, [pod_key(pod) for pod in doomed])
        results = await asyncio.gather(
            *(self._delete_pod(key, rs, pod) for pod in doomed), return_exceptions=True
        )
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _delete_pod(self, key: str, rs: Obj, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        try:
            await self.client.delete("pods", name, namespace=pod["metadata"].get("namespace"))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The informer will never show this deletion: stop waiting for it.
            self.expectations.deletion_observed(key, pod_key(pod))
            if is_not_found(error):
                return
            self.record(rs, "Warning", "FailedDelete", f"Error deleting: {error}")
            raise RuntimeError(f"unable to delete pods: {error}") from error
        self.record(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """Pods of every ReplicaSet with the same controller as `rs` (a Deployment's old and new
        ones): used to spread what is left across nodes."""
        ref = controller_ref(rs)
        if ref is None:
            return []
        related: list[Obj] = []
        seen: set[str] = set()
        for other in self.replicasets.store.by_index(CONTROLLER_UID_INDEX, str(ref.get("uid", ""))):
            selector = _selector(other)
            if selector is None:
                continue
            namespace = (other.get("metadata") or {}).get("namespace", "")
            for pod in self.pods.store.by_index("namespace", namespace):
                uid = (pod.get("metadata") or {}).get("uid", "")
                if uid not in seen and selector.matches((pod.get("metadata") or {}).get("labels") or {}):
                    seen.add(uid)
                    related.append(pod)
        return related

    async def _update_status(self, key: str, rs: Obj, status: Obj) -> None:
        """Write `status` through the status subresource if it changed, retrying once after a GET."""
        if not status_changed(rs, status):
            return
        status = {**status, "observedGeneration": int((rs.get("metadata") or {}).get("generation") or 0)}
        cached = self.replicasets.store.get(key)
        current = rs
        meta = rs["metadata"]
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            try:
                written = await self.client.update(
                    "replicasets",
                    {**current, "status": copy.deepcopy(status)},
                    namespace=meta.get("namespace"),
                    subresource="status",
                )
            except ApiError:
                if attempt >= STATUS_UPDATE_RETRIES:
                    raise
            else:
                self.own_writes.wrote(key, cached, written)
                return
            current = await self.client.get("replicasets", meta["name"], namespace=meta.get("namespace"))


async def slow_start(count: int, call: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Upstream slowStartBatch: `call` `count` times in batches of 1, 2, 4, ..., each batch at once;
    a batch with a failure is the last. The number of calls that succeeded and the first error."""
    successes = 0
    for size in slow_start_batches(count):
        results = await asyncio.gather(*(call() for _ in range(size)), return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
        errors = [r for r in results if isinstance(r, Exception)]
        successes += size - len(errors)
        if errors:
            return successes, errors[0]
    return successes, None


def _selector(rs: Mapping[str, Any]) -> labels.Selector | None:
    """The ReplicaSet's selector; None when it is invalid (such a ReplicaSet selects nothing)."""
    try:
        return labels.from_label_selector((rs.get("spec") or {}).get("selector"))
    except StatusError:
        return None


def _template_selector(rs: Mapping[str, Any]) -> labels.Selector:
    """The template's labels as a selector: pods carrying them all are "fully labeled"."""
    template_meta = (((rs.get("spec") or {}).get("template") or {}).get("metadata")) or {}
    return labels.from_set(template_meta.get("labels") or {})


def _controller_uid(rs: Obj) -> list[str]:
    ref = controller_ref(rs)
    return [str(ref.get("uid", ""))] if ref is not None else []


def new(ctx: ControllerContext) -> ReplicaSetController:
    return ReplicaSetController(ctx)
