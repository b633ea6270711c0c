"""The scheduling queue's contract with the scheduling loop: which pod pops next, and where a pod
waits after a failed attempt (backoffQ, the unschedulable pool) until which event or time."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from helpers.scheduling import make_pod

from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import PodInfo
from scheduler.queue import (
    UPDATE_POD_OTHER,
    QueueClosed,
    QueuedPodInfo,
    SchedulingQueue,
    pod_scheduling_properties_change,
)

NODE_ADD = ClusterEvent("Node", ActionType.ADD)
POD_ADD = ClusterEvent("Pod", ActionType.ADD)
POD_EVENTS = ClusterEvent("Pod", ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE)
EVENTS = {
    "NodeResourcesFit": [NODE_ADD, ClusterEvent("Pod", ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN)],
    "TaintToleration": [
        ClusterEvent("Node", ActionType.ADD),
        ClusterEvent("Pod", ActionType.UPDATE_POD_TOLERATIONS),
    ],
    "SchedulingGates": [ClusterEvent("Pod", ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED)],
    "InterPodAffinity": [POD_EVENTS],
    "PodTopologySpread": [POD_EVENTS],
    "DynamicResources": [ClusterEvent("ResourceClaim", ActionType.ADD)],
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def priority_then_arrival(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
    pa, pb = a.pod_info.priority, b.pod_info.priority
    return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def scheduling_gates(pod: PodInfo) -> Status:
    if pod.spec.get("schedulingGates"):
        return Status.unresolvable("waiting for scheduling gates").with_plugin("SchedulingGates")
    return SUCCESS


def new_queue(clock: FakeClock, **options: Any) -> SchedulingQueue:
    options.setdefault("events_by_plugin", EVENTS)
    options.setdefault("pre_enqueue", scheduling_gates)
    return SchedulingQueue(priority_then_arrival, clock=clock, **options)


def where(queue: SchedulingQueue) -> str:
    """The sub-queue holding the one pod of the queue."""
    holding = [name for name, count in queue.pending_pods().items() if count]
    assert len(holding) <= 1, queue.pending_pods()
    return holding[0] if holding else "nowhere"


def pop(queue: SchedulingQueue) -> QueuedPodInfo:
    qpi = queue.pop_nowait()
    assert qpi is not None
    return qpi


def fail(queue: SchedulingQueue, qpi: QueuedPodInfo, *plugins: str, cycle: int | None = None) -> None:
    qpi.unschedulable_plugins = set(plugins)
    queue.add_unschedulable_if_not_present(qpi, queue.scheduling_cycle if cycle is None else cycle)


def rejected(clock: FakeClock, *plugins: str, **options: Any) -> tuple[SchedulingQueue, dict[str, Any]]:
    """A queue whose one pod was just rejected by `plugins` and waits in the pool."""
    queue = new_queue(clock, **options)
    pod = make_pod("p")
    queue.add(pod)
    fail(queue, pop(queue), *plugins)
    assert where(queue) == "unschedulable"
    return queue, pod


def test_pods_pop_by_priority_then_by_arrival() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    for name, priority in [("low", 0), ("high", 10), ("mid", 5), ("high-later", 10)]:
        queue.add(make_pod(name, priority=priority))
        clock.now += 1
    names = [pop(queue).pod_info.name for _ in range(4)]
    assert names == ["high", "high-later", "mid", "low"]
    assert queue.pop_nowait() is None


def test_pop_counts_attempts_and_scheduling_cycles() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    qpi = pop(queue)
    assert (qpi.attempts, queue.scheduling_cycle, qpi.initial_attempt_timestamp) == (1, 1, 0.0)
    fail(queue, qpi)
    clock.now = 1
    queue.flush()
    assert (pop(queue).attempts, queue.scheduling_cycle) == (2, 2)


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (100, 10)],
    ids=[
        "first retry waits 1s",
        "second retry waits 2s",
        "third retry waits 4s",
        "fourth retry waits 8s",
        "fifth retry is capped at 10s",
        "hundredth retry stays at 10s",
    ],
)
def test_back_off_doubles_from_one_second_up_to_ten(attempts: int, seconds: float) -> None:
    queue = new_queue(FakeClock())
    assert queue.backoff_duration(QueuedPodInfo(PodInfo(make_pod("p")), 0.0, attempts=attempts)) == seconds


def test_a_pod_that_failed_with_an_error_backs_off_then_becomes_active() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("p"))
    fail(queue, pop(queue))  # no rejecting plugin: an error, retried after back-off
    assert where(queue) == "backoff"
    assert queue.next_backoff_expiry() == 1.0
    clock.now = 0.9
    queue.flush()
    assert where(queue) == "backoff"
    clock.now = 1.0
    queue.flush()
    assert where(queue) == "active"
    fail(queue, pop(queue))
    assert queue.next_backoff_expiry() == 3.0  # second failure at t=1: 2s


def test_a_rejected_pod_ignores_events_its_plugin_did_not_register() -> None:
    clock = FakeClock()
    queue, _ = rejected(clock, "NodeResourcesFit")
    queue.move_all_to_active_or_backoff(POD_ADD)
    queue.move_all_to_active_or_backoff(ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT))
    clock.now = 60
    queue.flush()
    assert where(queue) == "unschedulable"


@pytest.mark.parametrize(
    ("seconds_later", "expected"),
    [(0.5, "backoff"), (5, "active")],
    ids=["event while still backing off goes to backoff", "event after the back-off goes to active"],
)
def test_a_rejected_pod_moves_on_an_event_its_plugin_registered(seconds_later: float, expected: str) -> None:
    clock = FakeClock()
    queue, _ = rejected(clock, "NodeResourcesFit")
    clock.now = seconds_later
    queue.move_all_to_active_or_backoff(NODE_ADD)
    assert where(queue) == expected


def test_a_plugin_that_registered_no_events_is_interested_in_every_event() -> None:
    clock = FakeClock()
    queue, _ = rejected(clock, "OutOfTree")
    clock.now = 5
    queue.move_all_to_active_or_backoff(ClusterEvent("StorageClass", ActionType.ADD))
    assert where(queue) == "active"


@pytest.mark.parametrize(
    ("event", "expected"),
    [(NODE_ADD, "backoff"), (POD_ADD, "unschedulable")],
    ids=[
        "an event the rejecting plugin registered during the attempt sends it to backoff",
        "an unrelated event during the attempt leaves it in the pool",
    ],
)
def test_a_move_request_during_the_attempt_is_not_lost(event: ClusterEvent, expected: str) -> None:
    queue = new_queue(FakeClock())
    queue.add(make_pod("p"))
    qpi = pop(queue)
    cycle = queue.scheduling_cycle
    queue.move_all_to_active_or_backoff(event)
    fail(queue, qpi, "NodeResourcesFit", cycle=cycle)
    assert where(queue) == expected


def test_an_event_before_the_pod_was_popped_does_not_count_for_it() -> None:
    queue = new_queue(FakeClock())
    queue.add(make_pod("first", priority=1))
    queue.add(make_pod("second"))
    first = pop(queue)
    queue.move_all_to_active_or_backoff(NODE_ADD)  # seen while `first` is in flight
    second = pop(queue)
    fail(queue, second, "NodeResourcesFit", cycle=queue.scheduling_cycle)
    assert where(queue) == "unschedulable"
    fail(queue, first, "NodeResourcesFit", cycle=queue.scheduling_cycle - 1)
    assert queue.pending_pods()["backoff"] == 1


def test_events_are_forgotten_once_no_pod_in_flight_can_need_them() -> None:
    queue = new_queue(FakeClock())
    queue.add(make_pod("first", priority=1))
    queue.add(make_pod("second"))
    first = pop(queue)
    queue.move_all_to_active_or_backoff(NODE_ADD)
    second = pop(queue)
    queue.move_all_to_active_or_backoff(NODE_ADD)
    queue.done(first.pod_info.uid)
    assert len(queue._in_flight_events) == 1  # only the event `second` saw
    queue.done(second.pod_info.uid)
    assert len(queue._in_flight_events) == 0


def test_an_event_a_pending_plugin_registered_skips_the_back_off() -> None:
    queue = new_queue(FakeClock())
    queue.add(make_pod("p"))
    qpi = pop(queue)
    qpi.pending_plugins = {"DynamicResources"}
    fail(queue, qpi, "NodeResourcesFit")
    queue.move_all_to_active_or_backoff(ClusterEvent("ResourceClaim", ActionType.ADD))
    assert where(queue) == "active"


def test_a_rejected_pod_is_retried_after_five_minutes_in_the_pool() -> None:
    clock = FakeClock()
    queue, _ = rejected(clock, "NodeResourcesFit")
    clock.now = 300
    queue.flush()
    assert where(queue) == "unschedulable"
    clock.now = 300.5
    queue.flush()
    assert where(queue) == "active"


def test_a_gated_pod_becomes_active_when_an_update_removes_its_gates() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    gated = make_pod("p", schedulingGates=[{"name": "example.com/quota"}])
    queue.add(gated)
    assert where(queue) == "gated"
    assert queue.pop_nowait() is None
    queue.move_all_to_active_or_backoff(NODE_ADD)
    clock.now = 600
    queue.flush()
    assert where(queue) == "gated"
    relabelled = {**gated, "metadata": {**gated["metadata"], "labels": {"app": "web"}}}
    queue.update(gated, relabelled)
    assert where(queue) == "gated"
    ungated = {**relabelled, "spec": {k: v for k, v in relabelled["spec"].items() if k != "schedulingGates"}}
    queue.update(relabelled, ungated)
    assert where(queue) == "active"
    qpi = pop(queue)
    assert (qpi.gated, qpi.gating_plugin, qpi.pod_info.labels) == (False, "", {"app": "web"})


@pytest.mark.parametrize(
    "sub_queue",
    ["active", "backoff", "unschedulable", "gated"],
    ids=[
        "delete removes a pod from activeQ",
        "delete removes a pod from backoffQ",
        "delete removes a pod from the unschedulable pool",
        "delete removes a gated pod",
    ],
)
def test_delete_removes_a_pod_from_every_sub_queue_and_the_nominator(sub_queue: str) -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("p", schedulingGates=[{"name": "g"}] if sub_queue == "gated" else [])
    pod["status"]["nominatedNodeName"] = "n1"
    queue.add(pod)
    if sub_queue in ("backoff", "unschedulable"):
        qpi = pop(queue)
        fail(queue, qpi, *(["NodeResourcesFit"] if sub_queue == "unschedulable" else []))
    queue.add_nominated_pod(PodInfo(pod), "n1")
    assert where(queue) == sub_queue
    queue.delete(pod)
    assert where(queue) == "nowhere"
    assert pod["metadata"]["uid"] not in queue
    assert queue.nominated_pods_for_node("n1") == []
    assert queue.pop_nowait() is None


def test_a_pod_added_with_a_nominated_node_is_nominated_there() -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("preemptor")
    pod["status"]["nominatedNodeName"] = "n1"
    queue.add(pod)
    queue.add(make_pod("other"))
    assert [info.name for info in queue.nominated_pods_for_node("n1")] == ["preemptor"]
    assert queue.nominated_pods_for_node("n2") == []


def test_a_bound_pod_is_not_nominated() -> None:
    queue = new_queue(FakeClock())
    queue.add_nominated_pod(PodInfo(make_pod("p", node_name="n2")), "n1")
    assert queue.nominated_pods_for_node("n1") == []


def test_a_nomination_survives_updates_until_the_status_names_another_node() -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("preemptor")
    queue.add(pod)
    queue.add_nominated_pod(PodInfo(pod), "n1")  # preemption, before its status patch is seen
    labelled = {**pod, "metadata": {**pod["metadata"], "labels": {"app": "web"}}}
    queue.update(pod, labelled)
    assert [info.labels for info in queue.nominated_pods_for_node("n1")] == [{"app": "web"}]
    moved = {**labelled, "status": {"nominatedNodeName": "n2"}}
    queue.update(labelled, moved)
    assert queue.nominated_pods_for_node("n1") == []
    assert [info.name for info in queue.nominated_pods_for_node("n2")] == ["preemptor"]
    queue.add_nominated_pod(PodInfo(moved), "")
    assert queue.nominated_pods_for_node("n2") == []


def test_an_update_of_a_queued_pod_replaces_it_in_place() -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("p")
    queue.add(pod)
    queue.update(pod, {**pod, "metadata": {**pod["metadata"], "labels": {"v": "2"}}})
    assert pop(queue).pod_info.labels == {"v": "2"}
    assert queue.pop_nowait() is None


def test_a_status_only_update_leaves_a_rejected_pod_in_the_pool() -> None:
    clock = FakeClock()
    queue, pod = rejected(clock, "OutOfTree")  # interested in every event
    clock.now = 5
    patched = {
        **pod,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]},
    }
    queue.update(pod, patched)
    assert where(queue) == "unschedulable"
    queue.update(patched, {**patched, "metadata": {**pod["metadata"], "labels": {"a": "b"}}})
    assert where(queue) == "active"


def test_an_update_during_the_attempt_counts_for_that_pod_only() -> None:
    queue = new_queue(FakeClock())
    a, b = make_pod("a", priority=1), make_pod("b")
    queue.add(a)
    queue.add(b)
    first, second = pop(queue), pop(queue)
    tolerating = {**a, "spec": {**a["spec"], "tolerations": [{"key": "k", "operator": "Exists"}]}}
    queue.update(a, tolerating)
    assert queue.pending_pods()["active"] == 0  # in flight: not queued again
    fail(queue, first, "TaintToleration")
    assert where(queue) == "backoff"
    queue.delete(a)
    fail(queue, second, "TaintToleration")
    assert where(queue) == "unschedulable"


def test_a_pod_added_again_while_in_flight_is_not_queued_twice() -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("p")
    queue.add(pod)
    qpi = pop(queue)
    queue.add(pod)
    fail(queue, qpi, "NodeResourcesFit")
    assert queue.pending_pods() == {"active": 1, "backoff": 0, "unschedulable": 0, "gated": 0}


def affinity_to(labels: dict[str, str]) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": "zone"}
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def test_a_bound_pod_moves_only_the_pods_whose_affinity_or_spread_it_may_satisfy() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pods = {
        "wants-web": (make_pod("wants-web", affinity=affinity_to({"app": "web"})), "InterPodAffinity"),
        "wants-db": (make_pod("wants-db", affinity=affinity_to({"app": "db"})), "InterPodAffinity"),
        "spread-here": (make_pod("spread-here"), "PodTopologySpread"),
        "spread-elsewhere": (make_pod("spread-elsewhere", "other"), "PodTopologySpread"),
        "needs-cpu": (make_pod("needs-cpu"), "NodeResourcesFit"),
    }
    for pod, _ in pods.values():
        queue.add(pod)
    for _ in pods:
        qpi = pop(queue)
        fail(queue, qpi, pods[qpi.pod_info.name][1])
    clock.now = 5
    queue.assigned_pod_added(make_pod("web", labels={"app": "web"}, node_name="n1"))
    assert sorted(qpi.pod_info.name for qpi in iter(queue.pop_nowait, None)) == ["spread-here", "wants-web"]


@pytest.mark.parametrize(
    ("namespace_labels", "moved"),
    [(None, True), ({"team": "a"}, True), ({"team": "b"}, False)],
    ids=[
        "a namespaceSelector term may select a pod of a namespace whose labels are unknown",
        "a namespaceSelector term selects a pod of a matching namespace",
        "a namespaceSelector term does not select a pod of another namespace",
    ],
)
def test_a_bound_pod_in_another_namespace_moves_pods_whose_namespace_selector_may_match(
    namespace_labels: dict[str, str] | None, moved: bool
) -> None:
    clock = FakeClock()
    lookup = None if namespace_labels is None else (lambda namespace: namespace_labels)
    queue = new_queue(clock, namespace_labels=lookup)
    term = {
        "labelSelector": {"matchLabels": {"app": "web"}},
        "namespaceSelector": {"matchLabels": {"team": "a"}},
        "topologyKey": "zone",
    }
    queue.add(
        make_pod("p", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    )
    fail(queue, pop(queue), "InterPodAffinity")
    clock.now = 5
    queue.assigned_pod_added(make_pod("web", "team-ns", labels={"app": "web"}, node_name="n1"))
    assert where(queue) == ("active" if moved else "unschedulable")


@pytest.mark.parametrize(
    ("change", "moved"),
    [({"cpu": "1"}, True), ({"labels": {"app": "other"}}, False)],
    ids=["a bound pod scaled down frees room for any pod", "a bound pod relabelled frees no room"],
)
def test_a_bound_pod_update_moves_pods_rejected_for_resources_only_on_scale_down(
    change: dict[str, Any], moved: bool
) -> None:
    clock = FakeClock()
    queue, _ = rejected(clock, "NodeResourcesFit")
    clock.now = 5
    old = make_pod("bound", uid="bound", cpu="2", labels={"app": "web"}, node_name="n1")
    new = make_pod("bound", uid="bound", **{"cpu": "2", "labels": {"app": "web"}, **change}, node_name="n1")
    queue.assigned_pod_updated(old, new)
    assert where(queue) == ("active" if moved else "unschedulable")


@pytest.mark.parametrize(
    ("old", "new", "action"),
    [
        (make_pod("p", uid="p"), make_pod("p", uid="p", labels={"a": "b"}), ActionType.UPDATE_POD_LABEL),
        (make_pod("p", uid="p", cpu="2"), make_pod("p", uid="p", cpu="1"), ActionType.UPDATE_POD_SCALE_DOWN),
        (
            make_pod("p", uid="p", schedulingGates=[{"name": "g"}]),
            make_pod("p", uid="p"),
            ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED,
        ),
        (
            make_pod("p", uid="p"),
            make_pod("p", uid="p", tolerations=[{"key": "k", "operator": "Exists"}]),
            ActionType.UPDATE_POD_TOLERATIONS,
        ),
        (make_pod("p", uid="p", cpu="1"), make_pod("p", uid="p", cpu="2"), UPDATE_POD_OTHER),
    ],
    ids=[
        "new labels are a label update",
        "lower requests are a scale-down",
        "the last gate removed eliminates the gates",
        "a new toleration is a toleration update",
        "higher requests are some other update",
    ],
)
def test_a_pod_change_is_named_by_what_it_changes_for_scheduling(
    old: dict[str, Any], new: dict[str, Any], action: int
) -> None:
    assert [event.action for event in pod_scheduling_properties_change(new, old)] == [action]


def test_ten_thousand_pods_pop_in_priority_order_with_deletes_in_between() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    rng = random.Random(6)
    pods = [make_pod(f"p{i}", priority=rng.randrange(100)) for i in range(10_000)]
    for pod in pods:
        queue.add(pod)
        clock.now += 0.001
    for pod in pods[::3]:
        queue.delete(pod)
    popped = list(iter(queue.pop_nowait, None))
    keys = [(-qpi.pod_info.priority, qpi.timestamp) for qpi in popped]
    assert len(popped) == len(pods) - len(pods[::3])
    assert keys == sorted(keys)


async def test_pop_waits_until_a_pod_is_added() -> None:
    queue = new_queue(FakeClock())
    waiter = asyncio.create_task(queue.pop())
    seen_waiting: list[bool] = []

    def add() -> None:  # runs after the waiter's first step: it found the queue empty
        seen_waiting.append(not waiter.done())
        queue.add(make_pod("p"))

    asyncio.get_running_loop().call_soon(add)
    qpi = await asyncio.wait_for(waiter, timeout=5)
    assert (qpi.pod_info.name, seen_waiting) == ("p", [True])


async def test_pop_raises_queue_closed_when_closed_while_waiting() -> None:
    queue = new_queue(FakeClock())
    waiter = asyncio.create_task(queue.pop())
    asyncio.get_running_loop().call_soon(queue.close)
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(waiter, timeout=5)


async def test_a_closed_queue_still_hands_out_what_it_holds() -> None:
    queue = new_queue(FakeClock())
    queue.add(make_pod("p"))
    queue.close()
    assert (await queue.pop()).pod_info.name == "p"
    with pytest.raises(QueueClosed):
        await queue.pop()
