"""The scheduling queue (upstream internal/queue PriorityQueue with queueing hints on, as in v1.32, and
its nominator). A pending pod is in exactly one of:

- activeQ: ready to be tried, a heap ordered by the QueueSort plugin's `less`;
- backoffQ: retried too recently, a heap ordered by the end of its back-off (1 s doubling to 10 s);
- the unschedulable pool: rejected, waiting for a cluster event that may help it, or gated by a
  PreEnqueue plugin;

or it is in flight: popped and being scheduled or bound, until `done`. Events that arrive while a pod
is in flight are remembered, so that a pod whose attempt fails after an event that may help it goes to
backoffQ instead of waiting in the pool for an event that already happened.

Where upstream asks a plugin's QueueingHintFn, this queue asks whether the plugin registered an event
matching the one that happened (`events_by_plugin`, from EnqueueExtensions.events_to_register).

The core is synchronous and reads time from the injected clock; `pop()` is the one async wrapper.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

from componentbase.klog import get_logger, obj_ref
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import Status
from scheduler.framework.types import AffinityTerm, Obj, PodInfo, pod_requests

log = get_logger(__name__)

SCHEDULING_GATES = "SchedulingGates"
POD_TOPOLOGY_SPREAD = "PodTopologySpread"

UPDATE_POD_OTHER = 1 << 30
"""A pod update none of the named Pod actions describe (upstream's unexported updatePodOther): only
plugins that registered every kind of Pod update are interested."""

UNSCHEDULABLE_TIMEOUT = ClusterEvent("*", ActionType.ALL, "UnschedulableTimeout")
ASSIGNED_POD_ADD = ClusterEvent("Pod", ActionType.ADD, "AssignedPodAdd")


class QueueClosed(Exception):
    """pop() on a closed queue: the scheduler is shutting down, retrying does not help."""


@dataclass(slots=True)
class QueuedPodInfo:
    """A pending pod and its history in the queue."""

    pod_info: PodInfo
    timestamp: float
    """When it last entered the queue: QueueSort's tie breaker and the start of its back-off."""
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    """The plugins that rejected it in its last attempt (set by the scheduler) or gated it."""
    pending_plugins: set[str] = field(default_factory=set)
    """Plugins that answered Pending: an event they registered sends the pod straight to activeQ."""
    gated: bool = False
    gating_plugin: str = ""

    @property
    def pod(self) -> Obj:
        return self.pod_info.pod


Less = Callable[[QueuedPodInfo, QueuedPodInfo], bool]


class _Strategy(IntEnum):
    """Where an event sends a pod from the pool (upstream queueingStrategy), in rising order."""

    SKIP = 0
    AFTER_BACKOFF = 1
    IMMEDIATELY = 2


class _InFlightEvent(NamedTuple):
    cycle: int
    """The scheduling cycle when it happened: it concerns pods popped in this cycle or earlier."""
    event: ClusterEvent
    uid: str | None
    """Set for an update of an in-flight pod itself, which concerns only that pod."""


class _Entry:
    __slots__ = ("dead", "less", "qpi")

    def __init__(self, qpi: QueuedPodInfo, less: Less) -> None:
        self.qpi = qpi
        self.less = less
        self.dead = False

    def __lt__(self, other: _Entry) -> bool:
        return self.less(self.qpi, other.qpi)


class _PodHeap:
    """A heap of pods keyed by uid: O(log n) push and pop; removal marks the entry dead, and dead
    entries are dropped when they reach the top (or all at once when they outnumber the live ones)."""

    def __init__(self, less: Less) -> None:
        self._less = less
        self._heap: list[_Entry] = []
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, uid: object) -> bool:
        return uid in self._entries

    def get(self, uid: str) -> QueuedPodInfo | None:
        entry = self._entries.get(uid)
        return entry.qpi if entry else None

    def values(self) -> Iterator[QueuedPodInfo]:
        return (entry.qpi for entry in self._entries.values())

    def push(self, qpi: QueuedPodInfo) -> None:
        """Add the pod, or re-sort it if it is already here."""
        self.remove(qpi.pod_info.uid)
        entry = _Entry(qpi, self._less)
        self._entries[qpi.pod_info.uid] = entry
        heapq.heappush(self._heap, entry)

    def remove(self, uid: str) -> QueuedPodInfo | None:
        entry = self._entries.pop(uid, None)
        if entry is None:
            return None
        entry.dead = True
        if len(self._heap) > 2 * len(self._entries) + 64:
            self._heap = [e for e in self._heap if not e.dead]
            heapq.heapify(self._heap)
        return entry.qpi

    def peek(self) -> QueuedPodInfo | None:
        while self._heap and self._heap[0].dead:
            heapq.heappop(self._heap)
        return self._heap[0].qpi if self._heap else None

    def pop(self) -> QueuedPodInfo | None:
        qpi = self.peek()
        if qpi is not None:
            heapq.heappop(self._heap)
            del self._entries[qpi.pod_info.uid]
        return qpi


class SchedulingQueue:
    def __init__(
        self,
        less: Less,
        *,
        clock: Callable[[], float],
        pre_enqueue: Callable[[PodInfo], Status] | None = None,
        events_by_plugin: Mapping[str, Sequence[ClusterEvent]] | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_unschedulable_duration: float = 300.0,
        namespace_labels: Callable[[str], Mapping[str, str] | None] | None = None,
    ) -> None:
        """`pre_enqueue` runs the PreEnqueue plugins (a failed Status names the plugin in `.plugin`);
        `events_by_plugin` holds each plugin's registered events (a plugin missing from it is
        interested in every event); `namespace_labels` looks up a namespace's labels for affinity
        terms with a namespaceSelector (without it such terms match on the pod's labels alone)."""
        self._clock = clock
        self._pre_enqueue = pre_enqueue
        self._events_by_plugin = events_by_plugin
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._max_unschedulable_duration = max_unschedulable_duration
        self._namespace_labels = namespace_labels
        self._active = _PodHeap(less)
        self._backoff = _PodHeap(lambda a, b: self._backoff_expiry(a) < self._backoff_expiry(b))
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._in_flight: dict[str, int] = {}
        """uid -> the cycle it was popped in; insertion order is pop order, so the first is the oldest."""
        self._in_flight_events: deque[_InFlightEvent] = deque()
        self._cycle = 0
        self._closed = False
        self._wakeup = asyncio.Event()
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}

    # --- pods arriving, changing and leaving (the informer's unscheduled pods) ---

    def add(self, pod: Obj) -> None:
        """A new unscheduled pod."""
        self._move_to_active(QueuedPodInfo(PodInfo(pod), self._clock()), nominate=True)

    def update(self, old: Obj, new: Obj) -> None:
        uid = _uid(new)
        if uid in self._in_flight:
            # Being scheduled: remember the change for this pod alone; if its attempt fails, the
            # change decides whether it goes to backoffQ or waits in the pool.
            if _may_affect_scheduling(old, new):
                for event in pod_scheduling_properties_change(new, old):
                    self._in_flight_events.append(_InFlightEvent(self._cycle, event, uid))
            return
        for heap in (self._active, self._backoff):
            if (qpi := heap.get(uid)) is not None:
                qpi.pod_info = PodInfo(new)
                self._update_nominated(old, qpi.pod_info)
                heap.push(qpi)
                return
        if (qpi := self._unschedulable.get(uid)) is not None:
            qpi.pod_info = PodInfo(new)
            self._update_nominated(old, qpi.pod_info)
            if _may_affect_scheduling(old, new):
                events = pod_scheduling_properties_change(new, old)
                strategy = max(self._worth_requeuing(qpi, event) for event in events)
                if strategy is not _Strategy.SKIP:
                    self._requeue(qpi, strategy)
            return
        self._move_to_active(QueuedPodInfo(PodInfo(new), self._clock()), nominate=True)

    def delete(self, pod: Obj) -> None:
        uid = _uid(pod)
        self.delete_nominated_pod_if_exists(pod)
        self._active.remove(uid)
        self._backoff.remove(uid)
        self._unschedulable.pop(uid, None)

    # --- the scheduling loop ---

    def pop_nowait(self) -> QueuedPodInfo | None:
        """The best pod in activeQ, now in flight until `done`; None if activeQ is empty."""
        qpi = self._active.pop()
        if qpi is None:
            return None
        qpi.attempts += 1
        self._cycle += 1
        self._in_flight.pop(qpi.pod_info.uid, None)
        self._in_flight[qpi.pod_info.uid] = self._cycle
        qpi.unschedulable_plugins.clear()
        qpi.pending_plugins.clear()
        return qpi

    async def pop(self) -> QueuedPodInfo:
        while True:
            if (qpi := self.pop_nowait()) is not None:
                return qpi
            if self._closed:
                raise QueueClosed("scheduling queue is closed")
            self._wakeup.clear()
            await self._wakeup.wait()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def done(self, uid: str) -> None:
        """The attempt of that pod ended; events older than every remaining in-flight pod are dropped."""
        if self._in_flight.pop(uid, None) is None:
            return
        oldest = next(iter(self._in_flight.values()), None)
        events = self._in_flight_events
        while events and (oldest is None or events[0].cycle < oldest):
            events.popleft()

    @property
    def scheduling_cycle(self) -> int:
        return self._cycle

    def add_unschedulable_if_not_present(self, qpi: QueuedPodInfo, pod_scheduling_cycle: int) -> None:
        """Requeue a pod whose attempt failed: to backoffQ if it failed with an error (no rejecting
        plugin) or an event since `pod_scheduling_cycle` may help it, else to the unschedulable pool.
        Also ends its attempt (`done`)."""
        uid = qpi.pod_info.uid
        try:
            if uid in self:
                log.warning("Pod is already in the scheduling queue", pod=obj_ref(qpi.pod))
                return
            qpi.timestamp = self._clock()
            self._requeue(qpi, self._hint_for_in_flight(qpi, pod_scheduling_cycle))
        finally:
            self.done(uid)

    def flush(self) -> None:
        """Move pods whose back-off ended to activeQ (flushBackoffQCompleted), and pods that waited in
        the pool longer than max_unschedulable_duration to activeQ/backoffQ
        (flushUnschedulablePodsLeftover)."""
        now = self._clock()
        while (qpi := self._backoff.peek()) is not None and not self._backing_off(qpi, now):
            self._backoff.pop()
            self._move_to_active(qpi)
        limit = self._max_unschedulable_duration
        stale = [qpi for qpi in self._unschedulable.values() if now - qpi.timestamp > limit]
        if stale:
            self._move_pods(stale, UNSCHEDULABLE_TIMEOUT)

    def next_backoff_expiry(self) -> float | None:
        qpi = self._backoff.peek()
        return self._backoff_expiry(qpi) if qpi is not None else None

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        exponent = min(max(qpi.attempts - 1, 0), 64)
        return min(self._initial_backoff * 2.0**exponent, self._max_backoff)

    # --- cluster events ---

    def move_all_to_active_or_backoff(
        self, event: ClusterEvent, old: Obj | None = None, new: Obj | None = None
    ) -> None:
        """Move the pods of the pool that `event` may help (one of their rejecting plugins registered
        it) to backoffQ, or activeQ when their back-off is over. `old`/`new` are the changed object
        (upstream passes them to queueing hints; the registration match does not need them)."""
        self._move_pods(list(self._unschedulable.values()), event)

    def assigned_pod_added(self, pod: Obj) -> None:
        """A pod was bound: it may satisfy the pod affinity or topology spread of pending pods; a new pod
        on a node never helps pods rejected for node-local reasons, so only those are considered."""
        self._move_pods(self._cross_topology_pods(pod), ASSIGNED_POD_ADD)

    def assigned_pod_updated(self, old: Obj, new: Obj) -> None:
        """A bound pod changed: a scale-down may free resources for any pending pod; other changes
        (labels) concern only pods with affinity or topology spread terms."""
        if not _may_affect_scheduling(old, new):
            return
        for event in pod_scheduling_properties_change(new, old):
            if event.action & ActionType.UPDATE_POD_SCALE_DOWN:
                self.move_all_to_active_or_backoff(event, old, new)
            else:
                self._move_pods(self._cross_topology_pods(new), event)

    # --- nominator: preemptors waiting for their victims to leave ---

    def nominated_count(self) -> int:
        """How many pods are nominated to some node (the filters skip nominated pods when none are)."""
        return len(self._nominated_node)

    def add_nominated_pod(self, pod_info: PodInfo, node_name: str) -> None:
        """Reserve `node_name` for a preemptor before its status patch arrives; "" clears it."""
        self._nominate(pod_info, node_name)

    def delete_nominated_pod_if_exists(self, pod: Obj) -> None:
        uid = _uid(pod)
        node_name = self._nominated_node.pop(uid, None)
        if node_name is None:
            return
        pods = self._nominated[node_name]
        pods.pop(uid, None)
        if not pods:
            del self._nominated[node_name]

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self._nominated.get(node_name, {}).values())

    # --- introspection ---

    def pending_pods(self) -> dict[str, int]:
        gated = sum(1 for qpi in self._unschedulable.values() if qpi.gated)
        return {
            "active": len(self._active),
            "backoff": len(self._backoff),
            "unschedulable": len(self._unschedulable) - gated,
            "gated": gated,
        }

    def __contains__(self, uid: object) -> bool:
        """Whether the pod waits in the queue (in flight pods do not)."""
        return uid in self._active or uid in self._backoff or uid in self._unschedulable

    # --- internals ---

    def _move_to_active(self, qpi: QueuedPodInfo, *, nominate: bool = False) -> bool:
        """Run PreEnqueue; put the pod in activeQ (out of the other sub-queues), or in the pool if
        gated. `nominate` for a pod new to the queue: its status.nominatedNodeName counts."""
        uid = qpi.pod_info.uid
        status = self._pre_enqueue(qpi.pod_info) if self._pre_enqueue is not None else None
        qpi.gated = status is not None and not status.is_success()
        if status is not None and qpi.gated:
            qpi.gating_plugin = status.plugin
            if status.plugin:
                qpi.unschedulable_plugins.add(status.plugin)
            if uid not in self._active and uid not in self._backoff:
                self._unschedulable[uid] = qpi
            return False
        qpi.gating_plugin = ""
        if qpi.initial_attempt_timestamp is None:
            qpi.initial_attempt_timestamp = self._clock()
        self._active.push(qpi)
        self._unschedulable.pop(uid, None)
        self._backoff.remove(uid)
        if nominate:
            self._nominate(qpi.pod_info, None)
        self._wakeup.set()
        return True

    def _requeue(self, qpi: QueuedPodInfo, strategy: _Strategy) -> None:
        uid = qpi.pod_info.uid
        if strategy is _Strategy.SKIP:
            self._unschedulable[uid] = qpi
        elif strategy is _Strategy.AFTER_BACKOFF and self._backing_off(qpi):
            self._unschedulable.pop(uid, None)
            self._backoff.push(qpi)
        else:
            self._move_to_active(qpi)

    def _move_pods(self, pods: Sequence[QueuedPodInfo], event: ClusterEvent) -> None:
        for qpi in pods:
            # Only an update of the pod itself lifts scheduling gates; skip them cheaply (upstream's
            # hotfix for pools full of gated pods).
            if qpi.gated and SCHEDULING_GATES in qpi.unschedulable_plugins:
                continue
            strategy = self._worth_requeuing(qpi, event)
            if strategy is not _Strategy.SKIP:
                self._unschedulable.pop(qpi.pod_info.uid, None)
                self._requeue(qpi, strategy)
        if self._in_flight:
            self._in_flight_events.append(_InFlightEvent(self._cycle, event, None))

    def _hint_for_in_flight(self, qpi: QueuedPodInfo, since_cycle: int) -> _Strategy:
        """Upstream determineSchedulingHintForInFlightPod: the strongest strategy any event that
        happened during the pod's attempt gives it."""
        uid = qpi.pod_info.uid
        if uid not in self._in_flight:
            log.warning("Requeued pod was not in flight", pod=obj_ref(qpi.pod))
            return _Strategy.AFTER_BACKOFF
        if not qpi.unschedulable_plugins and not qpi.pending_plugins:
            return _Strategy.AFTER_BACKOFF  # an error, not a rejection: retry
        strategy = _Strategy.SKIP
        for record in self._in_flight_events:
            if record.cycle < since_cycle or record.uid not in (None, uid):
                continue
            strategy = max(strategy, self._worth_requeuing(qpi, record.event))
            if strategy is _Strategy.IMMEDIATELY or (strategy and not qpi.pending_plugins):
                break  # nothing stronger can follow
        return strategy

    def _worth_requeuing(self, qpi: QueuedPodInfo, event: ClusterEvent) -> _Strategy:
        """Upstream isPodWorthRequeuing, with "the plugin registered a matching event" as its hint."""
        if (not qpi.unschedulable_plugins and not qpi.pending_plugins) or _is_wildcard(event):
            return _Strategy.AFTER_BACKOFF
        if any(self._interested(plugin, event) for plugin in qpi.pending_plugins):
            return _Strategy.IMMEDIATELY
        if any(self._interested(plugin, event) for plugin in qpi.unschedulable_plugins):
            return _Strategy.AFTER_BACKOFF
        return _Strategy.SKIP

    def _interested(self, plugin: str, event: ClusterEvent) -> bool:
        if self._events_by_plugin is None:
            return True
        registered = self._events_by_plugin.get(plugin)
        return registered is None or any(_matches(interest, event) for interest in registered)

    def _cross_topology_pods(self, pod: Obj) -> list[QueuedPodInfo]:
        """Pods in the pool that `pod` may help: rejected by PodTopologySpread in its namespace, or with
        a required pod affinity term that selects it (upstream getUnschedulablePodsWithCrossTopologyTerm)."""
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        ns_labels = self._namespace_labels(namespace) if self._namespace_labels is not None else None
        return [
            qpi
            for qpi in self._unschedulable.values()
            if (POD_TOPOLOGY_SPREAD in qpi.unschedulable_plugins and qpi.pod_info.namespace == namespace)
            or any(_term_selects(term, pod, ns_labels) for term in qpi.pod_info.required_affinity_terms)
        ]

    def _backing_off(self, qpi: QueuedPodInfo, now: float | None = None) -> bool:
        return not qpi.gated and self._backoff_expiry(qpi) > (self._clock() if now is None else now)

    def _backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def _nominate(self, pod_info: PodInfo, node_name: str | None) -> None:
        """Record the pod on `node_name`, or on its status.nominatedNodeName when None. Bound pods
        are not nominated."""
        self.delete_nominated_pod_if_exists(pod_info.pod)
        if node_name is None:
            node_name = _nominated_node_name(pod_info.pod)
        if not node_name or pod_info.spec.get("nodeName"):
            return
        self._nominated_node[pod_info.uid] = node_name
        self._nominated.setdefault(node_name, {})[pod_info.uid] = pod_info

    def _update_nominated(self, old: Obj, new: PodInfo) -> None:
        # An update without nominatedNodeName right after preemption nominated the pod in memory
        # (its status patch not seen yet) keeps the nomination.
        node_name = None
        if not _nominated_node_name(old) and not _nominated_node_name(new.pod):
            node_name = self._nominated_node.get(_uid(old))
        self.delete_nominated_pod_if_exists(old)
        self._nominate(new, node_name)


def pod_scheduling_properties_change(new: Obj, old: Obj) -> list[ClusterEvent]:
    """The Pod update events a pod change amounts to (upstream PodSchedulingPropertiesChange): label
    change, scale-down of its requests, last scheduling gate removed, tolerations added; otherwise
    UPDATE_POD_OTHER."""
    new_spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    actions = []
    if _labels(new) != _labels(old):
        actions.append(ActionType.UPDATE_POD_LABEL)
    new_requests, old_requests = pod_requests(new), pod_requests(old)
    if any(new_requests.get(name) < old_requests.get(name) for name in old_requests.names()):
        actions.append(ActionType.UPDATE_POD_SCALE_DOWN)
    if old_spec.get("schedulingGates") and not new_spec.get("schedulingGates"):
        actions.append(ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED)
    if len(new_spec.get("tolerations") or ()) != len(old_spec.get("tolerations") or ()):
        # The API only lets tolerations be added, so a different count is the whole change.
        actions.append(ActionType.UPDATE_POD_TOLERATIONS)
    return [ClusterEvent("Pod", action, "PodUpdate") for action in actions or [UPDATE_POD_OTHER]]


def _may_affect_scheduling(old: Obj, new: Obj) -> bool:
    """False for changes of status (but resourceClaimStatuses), resourceVersion, generation,
    managedFields or finalizers only (upstream isPodUpdated): the scheduler's own status patches
    must not send a rejected pod around again."""

    def strip(pod: Obj) -> tuple[object, ...]:
        ignored = ("resourceVersion", "generation", "managedFields", "finalizers")
        meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k not in ignored}
        rest = {k: v for k, v in pod.items() if k not in ("metadata", "status")}
        return meta, rest, (pod.get("status") or {}).get("resourceClaimStatuses")

    return strip(old) != strip(new)


def _matches(interest: ClusterEvent, event: ClusterEvent) -> bool:
    if interest.matches(event):
        return True
    # UPDATE_POD_OTHER is outside ActionType.UPDATE's bits; a registration of every update covers it.
    return (
        bool(event.action & UPDATE_POD_OTHER)
        and interest.resource in (event.resource, "*")
        and interest.action & ActionType.UPDATE == ActionType.UPDATE
    )


def _is_wildcard(event: ClusterEvent) -> bool:
    return event.resource == "*" and event.action == ActionType.ALL


def _term_selects(term: AffinityTerm, pod: Obj, ns_labels: Mapping[str, str] | None) -> bool:
    if term.matches(pod, ns_labels):
        return True
    # Namespace labels unknown: a term with a namespaceSelector may select the pod; moving it once
    # too often is cheaper than leaving it in the pool until the leftover flush.
    return ns_labels is None and term.namespace_selector is not None and term.selector.matches(_labels(pod))


def _uid(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def _labels(pod: Obj) -> Mapping[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def _nominated_node_name(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "")
