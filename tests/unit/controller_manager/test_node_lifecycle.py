"""The node lifecycle controller and its taint eviction: the pure decisions as tables, the controller
driven pass by pass with a recording fake client, synced informers and a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers import node_health as nh
from controller_manager.controllers.node_health import NodeHealth, ZoneState
from controller_manager.controllers.node_lifecycle import NodeLifecycleController, new
from controller_manager.options import Options
from kubeclient.errors import ApiError

Obj = dict[str, Any]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
NS, NE = "NoSchedule", "NoExecute"
UNREACHABLE_NO_EXECUTE = {"key": nh.UNREACHABLE, "effect": "NoExecute"}
NOT_READY_NO_EXECUTE = {"key": nh.NOT_READY, "effect": "NoExecute"}


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return nh.format_time(at(seconds))


def make_node(
    name: str,
    ready: str | None = "True",
    *,
    heartbeat: float = 0.0,
    labels: dict[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    conditions: list[Obj] | None = None,
) -> Obj:
    status_conditions = list(conditions or [])
    if ready is not None:
        status_conditions.insert(
            0,
            {
                "type": "Ready",
                "status": ready,
                "reason": "KubeletReady" if ready == "True" else "KubeletNotReady",
                "lastHeartbeatTime": stamp(heartbeat),
                "lastTransitionTime": stamp(0),
            },
        )
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": spec,
        "status": {"conditions": status_conditions},
    }


def make_lease(name: str, renewed: float, namespace: str = "kube-node-lease") -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": stamp(renewed)},
    }


def make_pod(name: str, node: str, tolerations: list[Obj] | None = None, ready: bool = True) -> Obj:
    spec: Obj = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def toleration(key: str = nh.UNREACHABLE, seconds: int | None = None) -> Obj:
    found: Obj = {"key": key, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        found["tolerationSeconds"] = seconds
    return found


class FakeClock:
    """One fake time for both of the controller's clocks: monotonic seconds and wall time."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Harness:
    def __init__(self, *objects: Obj, **options: Any) -> None:
        self.client = FakeClient(objects)
        self.clock = FakeClock()
        self.recorder = FakeRecorder()
        self.informers = informers_from(self.client, "nodes", "leases.coordination.k8s.io", "pods")
        self.ctx = ControllerContext(
            client=self.client,
            informers=self.informers,
            recorder=self.recorder,
            options=Options(**options),
            clock=self.clock,
            now=self.clock.now,
        )
        self.controller: NodeLifecycleController = new(self.ctx)
        for informer in self.informers.informers.values():  # the initial list, as the handlers hear it
            for obj in informer.store.objects():
                informer._dispatch("ADDED", obj, None)

    def sync(self) -> None:
        """The stores catch up with the client and the handlers hear of each change, as from a watch."""
        before = {
            resource: {key: informer.store.get(key) for key in informer.store.key_list()}
            for resource, informer in self.informers.informers.items()
        }
        sync_informers(self.informers, self.client)
        for resource, informer in self.informers.informers.items():
            old_objects = before[resource]
            for key in informer.store.key_list():
                new, old = informer.store.get(key), old_objects.get(key)
                assert new is not None
                if old is None:
                    informer._dispatch("ADDED", new, None)
                elif old["metadata"]["resourceVersion"] != new["metadata"]["resourceVersion"]:
                    informer._dispatch("MODIFIED", new, old)
            for key, old in old_objects.items():
                if key not in informer.store and old is not None:
                    informer._dispatch("DELETED", old, None)

    async def monitor(self) -> None:
        """One node-monitor pass, then one tainting pass, as the two loops would run."""
        self.sync()
        await self.controller.monitor_node_health()
        self.sync()
        await self.controller.no_execute_tainting_pass()
        self.sync()

    async def reconcile(self, *keys: str) -> None:
        self.sync()
        for key in keys:
            await self.controller.process(key)
            self.sync()

    async def drain(self) -> None:
        """Every key that is due, as the workers would take them."""
        self.sync()
        while (key := self.controller.queue.get_nowait()) is not None:
            await self.controller.process(str(key))
            self.sync()

    async def advance(self, seconds: float, renew: tuple[str, ...] = ()) -> None:
        """Time passes in node-monitor periods; nodes in `renew` keep renewing their Lease."""
        end = self.clock.t + seconds
        while self.clock.t < end:
            self.clock.advance(min(5.0, end - self.clock.t))
            for name in renew:
                self.renew(name)
            await self.monitor()
            await self.drain()

    def renew(self, name: str) -> None:
        self.client.add(make_lease(name, self.clock.t))

    def node(self, name: str) -> Obj:
        found = self.client.stored("nodes", "", name)
        assert found is not None
        return found

    def taints(self, name: str) -> list[tuple[str, str]]:
        return [(t["key"], t["effect"]) for t in self.node(name).get("spec", {}).get("taints") or []]

    def ready(self, name: str) -> str:
        return str(nh.ready_status(self.node(name)))

    def pod_names(self) -> list[str]:
        return sorted(p["metadata"]["name"] for p in self.client.all("pods"))

    def set_node(self, node: Obj) -> None:
        """Replace a node as its kubelet (or a user) would, keeping what the controller wrote."""
        current = self.node(node["metadata"]["name"])
        node = {**node, "spec": {**current.get("spec", {}), **node.get("spec", {})}}
        self.client.add(node)


# --- pure decisions ---------------------------------------------------------------------------


READY_AT_0 = make_node("n", heartbeat=0)
READY_AT_10 = make_node("n", heartbeat=10)
READY_0 = nh.get_condition(READY_AT_0, "Ready")


@pytest.mark.parametrize(
    ("case", "saved", "node", "lease", "expected_probe", "expected_transition"),
    [
        ("first sight of a ready node starts its clock now", None, READY_AT_0, None, 100.0, 100.0),
        ("a node that never posted Ready is timed from first sight", None, make_node("n", None), None, 100.0,
         100.0),
        ("the same heartbeat leaves the clock alone",
         NodeHealth(50.0, 50.0, READY_0), READY_AT_0, None, 50.0, 50.0),
        ("a new heartbeat restarts the clock, not the transition",
         NodeHealth(50.0, 40.0, READY_0), READY_AT_10, None, 100.0, 40.0),
        ("a new transition time restarts both",
         NodeHealth(50.0, 40.0, READY_0), make_node("n", "False", heartbeat=10)
         | {"status": {"conditions": [{"type": "Ready", "status": "False", "lastHeartbeatTime": stamp(10),
                                       "lastTransitionTime": stamp(10)}]}}, None, 100.0, 100.0),
        ("a renewed lease restarts the clock",
         NodeHealth(50.0, 50.0, READY_0, EPOCH), READY_AT_0, make_lease("n", 30),
         100.0, 50.0),
        ("an unchanged lease does not",
         NodeHealth(50.0, 50.0, READY_0, EPOCH + timedelta(seconds=30)),
         READY_AT_0, make_lease("n", 30), 50.0, 50.0),
        ("a lease older than the one seen does not",
         NodeHealth(50.0, 50.0, READY_0, EPOCH + timedelta(seconds=30)),
         READY_AT_0, make_lease("n", 20), 50.0, 50.0),
    ],
)  # fmt: skip
def test_observe_node_health(
    case: str,
    saved: NodeHealth | None,
    node: Obj,
    lease: Obj | None,
    expected_probe: float,
    expected_transition: float,
) -> None:
    health = nh.observe_node_health(saved, node, lease, 100.0)
    assert (health.probe_timestamp, health.ready_transition_timestamp) == (
        expected_probe,
        expected_transition,
    ), case


def test_a_node_without_ready_gets_the_startup_grace_period_and_is_stale_only_after_it() -> None:
    assert nh.grace_period(make_node("n", None), 40.0, 60.0) == 60.0
    assert nh.grace_period(make_node("n"), 40.0, 60.0) == 40.0
    health = NodeHealth(10.0, 10.0)
    assert not nh.is_stale(health, 40.0, 50.0)
    assert nh.is_stale(health, 40.0, 50.1)


def test_unknown_conditions_turn_ready_and_pressure_unknown_and_leave_the_network_alone() -> None:
    node = make_node(
        "n",
        conditions=[
            {"type": "MemoryPressure", "status": "False"},
            {"type": "NetworkUnavailable", "status": "False"},
        ],
    )
    node["metadata"]["creationTimestamp"] = stamp(0)
    conditions = nh.unknown_conditions(node, EPOCH + timedelta(seconds=99))
    assert conditions is not None
    by_type = {c["type"]: c for c in conditions}
    assert by_type["Ready"] | {} == {
        "type": "Ready",
        "status": "Unknown",
        "reason": "NodeStatusUnknown",
        "message": "Kubelet stopped posting node status.",
        "lastHeartbeatTime": stamp(0),
        "lastTransitionTime": stamp(99),
    }
    assert by_type["MemoryPressure"]["status"] == "Unknown"
    assert by_type["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert by_type["DiskPressure"]["message"] == "Kubelet never posted node status."
    assert by_type["PIDPressure"]["lastHeartbeatTime"] == stamp(0)
    assert by_type["NetworkUnavailable"]["status"] == "False"


def test_unknown_conditions_write_nothing_when_ready_is_unknown_already() -> None:
    assert nh.unknown_conditions(make_node("n", "Unknown"), EPOCH) is None


def test_a_node_that_never_posted_ready_gets_a_never_updated_ready_condition() -> None:
    node = make_node("n", None)
    node["metadata"]["creationTimestamp"] = stamp(0)
    conditions = nh.unknown_conditions(node, EPOCH + timedelta(seconds=70))
    assert conditions is not None
    assert [c["reason"] for c in conditions] == ["NodeStatusNeverUpdated"] * 4


@pytest.mark.parametrize(
    ("case", "statuses", "expected"),
    [
        ("every node ready", ["True", "True"], (0, ZoneState.NORMAL)),
        ("no node ready", ["Unknown", "False"], (2, ZoneState.FULL_DISRUPTION)),
        ("two of three down is normal: more than two are needed", ["True", "False", "Unknown"],
         (2, ZoneState.NORMAL)),
        ("three of five down is a partial disruption", ["True", "True", "False", "False", None],
         (3, ZoneState.PARTIAL_DISRUPTION)),
        ("three of six down is under the threshold", ["True"] * 3 + ["False"] * 3, (3, ZoneState.NORMAL)),
        ("an empty zone is normal", [], (0, ZoneState.NORMAL)),
    ],
)  # fmt: skip
def test_compute_zone_state(case: str, statuses: list[str | None], expected: tuple[int, ZoneState]) -> None:
    assert nh.compute_zone_state(statuses, 0.55) == expected, case


RATES = nh.EvictionRates(healthy=0.1, secondary=0.01, large_cluster_size_threshold=4)
N, P, F, I = ZoneState.NORMAL, ZoneState.PARTIAL_DISRUPTION, ZoneState.FULL_DISRUPTION, ZoneState.INITIAL  # noqa: E741


@pytest.mark.parametrize(
    ("case", "previous", "zone_ready", "states", "rates", "entering", "leaving"),
    [
        ("a new healthy zone goes normal at the healthy rate", {"a": I}, {"a": ["True"]}, {"a": N},
         {"a": 0.1}, False, False),
        ("an unchanged zone keeps its rate", {"a": N}, {"a": ["True"]}, {"a": N}, {}, False, False),
        ("a small partially disrupted zone stops tainting", {"a": N},
         {"a": ["True", "False", "False", "False"]}, {"a": P}, {"a": 0.0}, False, False),
        ("a large partially disrupted zone slows to the secondary rate", {"a": N},
         {"a": ["True", "True", "False", "False", "False"]}, {"a": P}, {"a": 0.01}, False, False),
        ("one zone down while another is up taints at the healthy rate", {"a": N, "b": N},
         {"a": ["False"], "b": ["True"]}, {"a": F, "b": N}, {"a": 0.1}, False, False),
        ("every zone down stops all tainting", {"a": N, "b": N}, {"a": ["False"], "b": ["Unknown"]},
         {"a": F, "b": F}, {"a": 0.0, "b": 0.0}, True, False),
        ("still every zone down changes nothing", {"a": F}, {"a": ["Unknown"]}, {"a": F}, {}, False, False),
        ("a node back after a total outage restores every zone's rate", {"a": F, "b": F},
         {"a": ["True"], "b": ["Unknown"]}, {"a": N, "b": F}, {"a": 0.1, "b": 0.1}, False, True),
        ("a zone without nodes is forgotten", {"a": N, "gone": N}, {"a": ["True"]}, {"a": N}, {}, False,
         False),
    ],
)  # fmt: skip
def test_plan_disruption(
    case: str,
    previous: dict[str, ZoneState],
    zone_ready: dict[str, list[str | None]],
    states: dict[str, ZoneState],
    rates: dict[str, float],
    entering: bool,
    leaving: bool,
) -> None:
    plan = nh.plan_disruption(previous, zone_ready, RATES)
    assert (plan.states, plan.rates, plan.entering_full_disruption, plan.leaving_full_disruption) == (
        states,
        rates,
        entering,
        leaving,
    ), case


@pytest.mark.parametrize(
    ("case", "node", "add", "remove"),
    [
        ("a ready node needs nothing", make_node("n"), [], []),
        ("not ready adds not-ready", make_node("n", "False"), [(nh.NOT_READY, "NoSchedule")], []),
        ("unknown adds unreachable", make_node("n", "Unknown"), [(nh.UNREACHABLE, "NoSchedule")], []),
        ("a cordon adds unschedulable", make_node("n", unschedulable=True), [(nh.UNSCHEDULABLE, NS)],
         []),
        ("pressure conditions add their taints",
         make_node("n", conditions=[{"type": "MemoryPressure", "status": "True"},
                                    {"type": "DiskPressure", "status": "True"},
                                    {"type": "PIDPressure", "status": "True"},
                                    {"type": "NetworkUnavailable", "status": "True"}]),
         [(nh.MEMORY_PRESSURE, NS), (nh.DISK_PRESSURE, NS), (nh.PID_PRESSURE, NS),
          (nh.NETWORK_UNAVAILABLE, "NoSchedule")], []),
        ("a stale taint goes, foreign and NoExecute taints stay",
         make_node("n", taints=[{"key": nh.NOT_READY, "effect": NS}, {"key": "mine", "effect": NS},
                                {"key": nh.UNREACHABLE, "effect": "NoExecute"}]),
         [], [(nh.NOT_READY, "NoSchedule")]),
        ("not-ready swaps for unreachable",
         make_node("n", "Unknown", taints=[{"key": nh.NOT_READY, "effect": "NoSchedule"}]),
         [(nh.UNREACHABLE, "NoSchedule")], [(nh.NOT_READY, "NoSchedule")]),
        ("uncordon removes unschedulable", make_node("n", taints=[{"key": nh.UNSCHEDULABLE, "effect": NS}]),
         [], [(nh.UNSCHEDULABLE, "NoSchedule")]),
    ],
)  # fmt: skip
def test_no_schedule_taint_diff(
    case: str, node: Obj, add: list[tuple[str, str]], remove: list[tuple[str, str]]
) -> None:
    to_add, to_remove = nh.no_schedule_taint_diff(node)
    assert [(t["key"], t["effect"]) for t in to_add] == add, case
    assert [(t["key"], t["effect"]) for t in to_remove] == remove, case


def test_swap_taints_stamps_added_taints_and_keeps_an_existing_ones_time() -> None:
    now = EPOCH + timedelta(seconds=5)
    existing = [{"key": "other", "effect": "NoSchedule"}, {**UNREACHABLE_NO_EXECUTE, "timeAdded": stamp(1)}]
    assert nh.swap_taints(existing, [UNREACHABLE_NO_EXECUTE], [NOT_READY_NO_EXECUTE], now) is None
    swapped = nh.swap_taints(existing, [NOT_READY_NO_EXECUTE], [UNREACHABLE_NO_EXECUTE], now)
    assert swapped == [
        {"key": "other", "effect": "NoSchedule"},
        {**NOT_READY_NO_EXECUTE, "timeAdded": stamp(5)},
    ]
    assert nh.swap_taints(existing, [], [UNREACHABLE_NO_EXECUTE], now) == [
        {"key": "other", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize(
    ("case", "ready", "taints", "expected"),
    [
        ("not ready and untainted queues", "False", [], nh.NoExecuteAction.QUEUE),
        ("not ready but unreachable swaps", "False", [UNREACHABLE_NO_EXECUTE], nh.NoExecuteAction.SWAP),
        ("unknown and untainted queues", "Unknown", [], nh.NoExecuteAction.QUEUE),
        ("unknown but not-ready swaps at once", "Unknown", [NOT_READY_NO_EXECUTE], nh.NoExecuteAction.SWAP),
        ("unknown and unreachable queues (a no-op once tainted)", "Unknown", [UNREACHABLE_NO_EXECUTE],
         nh.NoExecuteAction.QUEUE),
        ("ready removes", "True", [UNREACHABLE_NO_EXECUTE], nh.NoExecuteAction.REMOVE),
    ],
)  # fmt: skip
def test_no_execute_action(case: str, ready: str, taints: list[Obj], expected: nh.NoExecuteAction) -> None:
    assert nh.no_execute_action(ready, taints) is expected, case


@pytest.mark.parametrize(
    ("case", "toleration", "taint", "expected"),
    [
        ("exists on the key", {"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": NE},
         True),
        ("equal needs the value", {"key": "k", "value": "v"}, {"key": "k", "value": "w", "effect": NE},
         False),
        ("an empty key with exists tolerates all", {"operator": "Exists"}, UNREACHABLE_NO_EXECUTE, True),
        ("another effect does not tolerate", {"key": nh.UNREACHABLE, "operator": "Exists", "effect": NS},
         UNREACHABLE_NO_EXECUTE, False),
        ("another key does not tolerate", toleration(nh.NOT_READY), UNREACHABLE_NO_EXECUTE, False),
    ],
)  # fmt: skip
def test_tolerates(case: str, toleration: Obj, taint: Obj, expected: bool) -> None:
    assert nh.tolerates(toleration, taint) is expected, case


NOW = EPOCH + timedelta(seconds=100)
TAINTED_AT_90 = {**UNREACHABLE_NO_EXECUTE, "timeAdded": stamp(90)}


@pytest.mark.parametrize(
    ("case", "taints", "tolerations", "expected"),
    [
        ("no taints, no eviction", [], [], None),
        ("an untolerated taint evicts now", [TAINTED_AT_90], [], NOW),
        ("tolerated forever, no eviction", [TAINTED_AT_90], [toleration()], None),
        ("tolerationSeconds count from the taint's timeAdded", [TAINTED_AT_90], [toleration(seconds=300)],
         EPOCH + timedelta(seconds=390)),
        ("a deadline in the past is one", [TAINTED_AT_90], [toleration(seconds=5)], at(95)),
        ("zero seconds evicts now", [TAINTED_AT_90], [toleration(seconds=0)], NOW),
        ("the earliest deadline over the taints wins",
         [TAINTED_AT_90, {**NOT_READY_NO_EXECUTE, "timeAdded": stamp(95)}],
         [toleration(seconds=300), toleration(nh.NOT_READY, seconds=10)], EPOCH + timedelta(seconds=105)),
        ("one untolerated taint among tolerated ones evicts now",
         [TAINTED_AT_90, {"key": "dedicated", "effect": "NoExecute"}], [toleration()], NOW),
        ("a taint without timeAdded counts from when the pod was first found", [UNREACHABLE_NO_EXECUTE],
         [toleration(seconds=60)], EPOCH + timedelta(seconds=80)),
    ],
)  # fmt: skip
def test_eviction_time(
    case: str, taints: list[Obj], tolerations: list[Obj], expected: datetime | None
) -> None:
    first_seen = EPOCH + timedelta(seconds=20)
    assert nh.eviction_time(taints, tolerations, NOW, first_seen) == expected, case


@pytest.mark.parametrize(
    ("case", "labels", "expected"),
    [
        ("no topology labels", {}, ""),
        ("zone and region", {nh.ZONE_LABEL: "a", nh.REGION_LABEL: "r"}, "r:\x00:a"),
        ("beta labels come first", {nh.BETA_ZONE_LABEL: "b", nh.ZONE_LABEL: "a"}, ":\x00:b"),
    ],
)
def test_zone_key(case: str, labels: dict[str, str], expected: str) -> None:
    assert nh.zone_key(make_node("n", labels=labels)) == expected, case


def test_beta_os_and_arch_labels_follow_the_stable_ones() -> None:
    labels = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "beta.kubernetes.io/arch": "arm64"}
    assert nh.labels_to_reconcile(labels) == {
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }
    assert nh.labels_to_reconcile({"kubernetes.io/os": "linux", "beta.kubernetes.io/os": "linux"}) == {}


def test_pod_conditions_change_only_when_needed() -> None:
    pod = make_pod("p", "n")
    assert nh.pod_not_ready_condition(pod, NOW) == {
        "type": "Ready",
        "status": "False",
        "lastTransitionTime": stamp(100),
    }
    assert nh.pod_not_ready_condition(make_pod("p", "n", ready=False), NOW) is None
    target = nh.disruption_target_condition(pod, NOW)
    assert target is not None and target["reason"] == "DeletionByTaintManager"
    pod["status"]["conditions"].append(target)
    assert nh.disruption_target_condition(pod, NOW) is None


def test_the_timed_queue_takes_each_node_once_until_removed_and_at_the_limiters_rate() -> None:
    queue = nh.RateLimitedTimedQueue(0.1, now=0.0)
    assert queue.add("a", 0.0) and queue.add("b", 1.0)
    assert not queue.add("a", 2.0)
    assert queue.head() == ("a", 0.0)
    assert queue.limiter.try_accept(2.0)
    queue.done("a")
    assert queue.head() == ("b", 1.0) and not queue.add("a", 3.0)
    assert not queue.limiter.try_accept(3.0)
    assert queue.limiter.try_accept(12.0)
    assert queue.remove("a") and queue.add("a", 13.0)
    queue.swap_limiter(0.0, 14.0)
    assert not queue.limiter.try_accept(1000.0)


# --- the controller ---------------------------------------------------------------------------


async def started(*objects: Obj, **options: Any) -> Harness:
    """A harness whose first monitor pass has run (nodes registered, clocks started)."""
    harness = Harness(*objects, **options)
    await harness.monitor()
    await harness.drain()
    return harness


async def test_a_node_whose_lease_stops_goes_unknown_after_the_grace_period_then_is_tainted() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0))
    await harness.advance(40, renew=("n1", "n2"))
    await harness.advance(40, renew=("n2",))
    assert harness.ready("n1") == "True", "not before the grace period has passed"
    await harness.advance(5, renew=("n2",))
    node = harness.node("n1")
    ready = nh.get_condition(node, "Ready")
    assert ready is not None and (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert nh.get_condition(node, "MemoryPressure") is not None
    assert ("nodes/status") in [a.resource for a in harness.client.writes("patch")]
    assert harness.ready("n2") == "True"
    await harness.advance(5, renew=("n2",))
    assert set(harness.taints("n1")) == {(nh.UNREACHABLE, "NoExecute"), (nh.UNREACHABLE, "NoSchedule")}
    unreachable = next(t for t in harness.node("n1")["spec"]["taints"] if t["effect"] == "NoExecute")
    assert unreachable["timeAdded"] == stamp(harness.clock.t)
    assert harness.taints("n2") == []
    assert ("n1", "Normal", "NodeNotReady", "Node n1 status is now: NodeNotReady") in harness.recorder.events


async def test_the_nodes_own_status_heartbeat_keeps_it_ready_without_a_lease() -> None:
    harness = await started(make_node("n1"), make_node("n2"))
    for _ in range(20):
        harness.clock.advance(5)
        for name in ("n1", "n2"):
            harness.set_node(make_node(name, heartbeat=harness.clock.t))
        await harness.monitor()
    assert harness.ready("n1") == "True"
    assert harness.client.writes("patch") == []


async def test_a_node_that_never_posted_ready_gets_the_startup_grace_period() -> None:
    harness = await started(make_node("new", None), make_node("ok"), make_lease("ok", 0))
    await harness.advance(60, renew=("ok",))
    assert nh.get_condition(harness.node("new"), "Ready") is None
    await harness.advance(5, renew=("ok",))
    ready = nh.get_condition(harness.node("new"), "Ready")
    assert ready is not None and ready["reason"] == "NodeStatusNeverUpdated"


async def test_a_recovering_node_loses_its_taints() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0))
    await harness.advance(50, renew=("n2",))
    assert (nh.UNREACHABLE, "NoExecute") in harness.taints("n1")
    harness.set_node(make_node("n1", heartbeat=harness.clock.t))
    await harness.advance(5, renew=("n1", "n2"))
    assert harness.ready("n1") == "True"
    assert harness.taints("n1") == []


async def test_a_node_reporting_not_ready_is_tainted_not_ready_then_swapped_to_unreachable_at_once() -> None:
    harness = await started(
        make_node("n1", "False"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0)
    )
    await harness.advance(5, renew=("n1", "n2"))
    assert set(harness.taints("n1")) == {(nh.NOT_READY, "NoExecute"), (nh.NOT_READY, "NoSchedule")}
    await harness.advance(45, renew=("n2",))
    assert harness.ready("n1") == "Unknown"
    await harness.advance(5, renew=("n2",))
    assert set(harness.taints("n1")) == {(nh.UNREACHABLE, "NoExecute"), (nh.UNREACHABLE, "NoSchedule")}


async def test_pods_that_do_not_tolerate_a_no_execute_taint_are_evicted_at_once() -> None:
    harness = await started(
        make_node("n1", taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]),
        make_pod("web", "n1", [toleration()]),
        make_pod(
            "db", "n1", [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoExecute"}]
        ),
        make_pod("other", "n2"),
    )
    assert harness.pod_names() == ["db", "other"]
    status_patch, delete = (
        harness.client.writes(resource="pods/status")[0],
        harness.client.writes("delete")[0],
    )
    assert status_patch.body["status"]["conditions"][0] | {} == {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByTaintManager",
        "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": stamp(0),
    }
    assert (delete.name, delete.options["preconditions"]) == ("web", {"uid": "uid-web"})
    assert ("default/web", "Normal", "TaintManagerEviction", "Marking for deletion Pod default/web") in (
        harness.recorder.events
    )


async def test_pods_tolerating_for_some_seconds_are_evicted_after_them_counted_from_the_taint() -> None:
    harness = await started(
        make_node("n1"),
        make_node("n2"),
        make_lease("n1", 0),
        make_lease("n2", 0),
        make_pod("patient", "n1", [toleration(seconds=30)]),
        make_pod("forever", "n1", [toleration()]),
    )
    await harness.advance(50, renew=("n2",))
    tainted_at = harness.clock.t
    assert (nh.UNREACHABLE, "NoExecute") in harness.taints("n1")
    assert harness.controller.scheduled_evictions["default/patient"] == harness.clock.now() + timedelta(
        seconds=30
    )
    harness.clock.advance(29)
    await harness.drain()
    assert harness.pod_names() == ["forever", "patient"]
    harness.clock.advance(tainted_at + 30 - harness.clock.t)
    await harness.drain()
    assert harness.pod_names() == ["forever"]
    assert [a.name for a in harness.client.writes("delete")] == ["patient"]


async def test_a_pending_eviction_is_cancelled_when_the_node_recovers() -> None:
    harness = await started(
        make_node("n1"),
        make_node("n2"),
        make_lease("n1", 0),
        make_lease("n2", 0),
        make_pod("patient", "n1", [toleration(seconds=300)]),
    )
    await harness.advance(50, renew=("n2",))
    assert "default/patient" in harness.controller.scheduled_evictions
    harness.set_node(make_node("n1", heartbeat=harness.clock.t))
    await harness.advance(5, renew=("n1", "n2"))
    await harness.reconcile("n1")
    assert harness.taints("n1") == []
    assert harness.controller.scheduled_evictions == {}
    assert (
        "default/patient",
        "Normal",
        "TaintManagerEviction",
        "Cancelling deletion of Pod default/patient",
    ) in (harness.recorder.events)
    harness.clock.advance(400)
    await harness.drain()
    assert harness.pod_names() == ["patient"]
    assert harness.client.writes("delete") == []


async def test_pods_on_a_node_that_goes_unknown_are_marked_not_ready() -> None:
    harness = await started(
        make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0),
        make_pod("web", "n1", [toleration()]),
    )  # fmt: skip
    await harness.advance(45, renew=("n2",))
    pod = harness.client.stored("pods", "default", "web")
    assert pod is not None and nh.get_condition(pod, "Ready") == {
        "type": "Ready",
        "status": "False",
        "lastTransitionTime": stamp(45),
    }
    assert ("default/web", "Warning", "NodeNotReady", "Node is not ready") in harness.recorder.events


async def test_cordon_adds_the_unschedulable_taint_and_uncordon_removes_it() -> None:
    harness = await started(make_node("n1"))
    harness.set_node(make_node("n1", unschedulable=True))
    await harness.reconcile("n1")
    assert harness.taints("n1") == [(nh.UNSCHEDULABLE, "NoSchedule")]
    patch = harness.client.writes("patch", "nodes")[-1]
    assert patch.body["metadata"]["resourceVersion"]
    node = harness.node("n1")
    node["spec"].pop("unschedulable")
    harness.client.add(node)
    await harness.reconcile("n1")
    assert harness.taints("n1") == []


async def test_conditions_and_the_cordon_set_no_schedule_taints_beside_foreign_ones() -> None:
    harness = await started(
        make_node(
            "n1",
            conditions=[{"type": "DiskPressure", "status": "True"}],
            taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
        )
    )
    await harness.reconcile("n1")
    assert harness.taints("n1") == [("dedicated", "NoSchedule"), (nh.DISK_PRESSURE, "NoSchedule")]


async def test_nodes_in_a_zone_are_tainted_at_the_eviction_rate() -> None:
    names = [f"n{i}" for i in range(6)]
    harness = await started(*(make_node(n) for n in names), *(make_lease(n, 0) for n in names))
    healthy = tuple(names[2:])
    await harness.advance(45, renew=healthy)
    await harness.advance(5, renew=healthy)
    tainted = [n for n in names if (nh.UNREACHABLE, "NoExecute") in harness.taints(n)]
    assert len(tainted) == 1, "one token at once (burst 1)"
    await harness.advance(5, renew=healthy)
    assert len([n for n in names if (nh.UNREACHABLE, "NoExecute") in harness.taints(n)]) == 1
    await harness.advance(5, renew=healthy)
    assert sorted(n for n in names if (nh.UNREACHABLE, "NoExecute") in harness.taints(n)) == ["n0", "n1"]


async def test_a_partially_disrupted_small_zone_taints_nothing_and_a_large_one_slowly() -> None:
    names = [f"n{i}" for i in range(5)]
    objects = [*(make_node(n) for n in names), *(make_lease(n, 0) for n in names)]
    small = await started(*objects)
    large = await started(*objects, large_cluster_size_threshold=4)
    for harness in (small, large):
        await harness.advance(45, renew=("n3", "n4"))
        await harness.advance(10, renew=("n3", "n4"))
    assert small.controller.zone_states == {"": ZoneState.PARTIAL_DISRUPTION}
    assert all(small.taints(n) == [(nh.UNREACHABLE, "NoSchedule")] for n in names[:3])
    assert len([n for n in names if (nh.UNREACHABLE, "NoExecute") in large.taints(n)]) == 1
    await large.advance(100, renew=("n3", "n4"))
    assert len([n for n in names if (nh.UNREACHABLE, "NoExecute") in large.taints(n)]) == 2


async def test_when_every_node_is_down_nothing_is_tainted_and_existing_taints_go() -> None:
    harness = await started(
        make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0), make_pod("web", "n1"),
    )  # fmt: skip
    await harness.advance(50, renew=("n2",))
    assert (nh.UNREACHABLE, "NoExecute") in harness.taints("n1")
    assert harness.pod_names() == []
    await harness.advance(45)
    assert harness.controller.zone_states == {"": ZoneState.FULL_DISRUPTION}
    assert harness.ready("n1") == harness.ready("n2") == "Unknown"
    assert harness.taints("n1") == harness.taints("n2") == [(nh.UNREACHABLE, "NoSchedule")]
    harness.client.add(make_pod("web", "n1"))
    await harness.advance(60)
    assert harness.taints("n2") == [(nh.UNREACHABLE, "NoSchedule")]
    assert harness.pod_names() == ["web"]


async def test_when_a_node_answers_again_after_a_total_outage_tainting_resumes() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0))
    await harness.advance(50)
    assert harness.controller.zone_states == {"": ZoneState.FULL_DISRUPTION}
    assert harness.taints("n1") == [(nh.UNREACHABLE, "NoSchedule")]
    harness.set_node(make_node("n2", heartbeat=harness.clock.t))
    await harness.advance(5, renew=("n2",))
    assert harness.controller.zone_states == {"": ZoneState.NORMAL}
    assert harness.taints("n2") == []
    await harness.advance(5, renew=("n2",))
    assert harness.taints("n1") == [(nh.UNREACHABLE, "NoSchedule")], "the drained limiter waits 1/rate"
    await harness.advance(5, renew=("n2",))
    assert set(harness.taints("n1")) == {(nh.UNREACHABLE, "NoExecute"), (nh.UNREACHABLE, "NoSchedule")}


async def test_one_zone_down_while_another_is_up_is_tainted_at_the_healthy_rate() -> None:
    a, b = {nh.ZONE_LABEL: "a"}, {nh.ZONE_LABEL: "b"}
    harness = await started(
        make_node("a1", labels=a), make_node("a2", labels=a), make_node("b1", labels=b),
        *(make_lease(n, 0) for n in ("a1", "a2", "b1")),
    )  # fmt: skip
    await harness.advance(60, renew=("b1",))
    assert harness.controller.zone_states == {
        ":\x00:a": ZoneState.FULL_DISRUPTION,
        ":\x00:b": ZoneState.NORMAL,
    }
    await harness.advance(10, renew=("b1",))
    assert all((nh.UNREACHABLE, "NoExecute") in harness.taints(n) for n in ("a1", "a2"))


async def test_a_second_run_with_synced_informers_writes_nothing() -> None:
    harness = await started(
        make_node("n1", unschedulable=True, labels={"kubernetes.io/os": "linux"}),
        make_node("n2"),
        make_lease("n1", 0),
        make_lease("n2", 0),
        make_pod("patient", "n1", [toleration(seconds=300)]),
    )
    await harness.advance(50, renew=("n2",))
    await harness.reconcile("n1", "n2", "default/patient")
    writes = len(harness.client.writes())
    assert writes > 0
    await harness.monitor()
    await harness.reconcile("n1", "n2", "default/patient")
    await harness.monitor()
    await harness.reconcile("n1", "n2", "default/patient")
    assert len(harness.client.writes()) == writes
    assert harness.node("n1")["metadata"]["labels"]["beta.kubernetes.io/os"] == "linux"


async def test_a_conflict_on_the_taint_patch_requeues_the_node() -> None:
    harness = Harness(make_node("n1", unschedulable=True))
    harness.client.fail_next("patch", "nodes", ApiError(409, {"reason": "Conflict", "code": 409}))
    await harness.drain()
    assert harness.taints("n1") == []
    assert harness.controller.queue.requeues("n1") == 1
    harness.clock.advance(1)
    harness.sync()
    await harness.drain()
    assert harness.taints("n1") == [(nh.UNSCHEDULABLE, "NoSchedule")]
    assert harness.controller.queue.requeues("n1") == 0


async def test_a_conflict_on_the_status_write_reads_the_node_again_and_retries() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0))
    await harness.advance(40, renew=("n2",))
    harness.client.fail_next("patch", "nodes/status", ApiError(409, {"reason": "Conflict", "code": 409}))
    before = len(harness.client.actions)
    await harness.advance(5, renew=("n2",))
    assert harness.ready("n1") == "Unknown"
    calls = [(a.verb, a.resource) for a in harness.client.actions[before:] if a.name == "n1"]
    assert calls[:3] == [("patch", "nodes/status"), ("get", "nodes"), ("patch", "nodes/status")]


async def test_a_conflict_on_the_no_execute_taint_is_retried_with_a_fresh_read() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n1", 0), make_lease("n2", 0))
    await harness.advance(45, renew=("n2",))
    harness.client.fail_next("patch", "nodes", ApiError(409, {"reason": "Conflict", "code": 409}))
    harness.clock.advance(5)
    harness.renew("n2")
    await harness.monitor()
    assert (nh.UNREACHABLE, "NoExecute") in harness.taints("n1")
    assert ("get", "nodes", "n1") in [(a.verb, a.resource, a.name) for a in harness.client.actions]


async def test_new_and_removed_nodes_are_reported() -> None:
    harness = await started(make_node("n1"))
    assert ("n1", "Normal", "RegisteredNode", "Registered Node n1 in Controller") in harness.recorder.events
    del harness.client.objects[("nodes", "", "n1")]
    await harness.monitor()
    assert ("n1", "Normal", "RemovingNode", "Removing Node n1 from Controller") in harness.recorder.events
    assert harness.controller.health == {}


async def test_a_lease_in_another_namespace_is_not_a_heartbeat() -> None:
    harness = await started(make_node("n1"), make_node("n2"), make_lease("n2", 0))
    for _ in range(10):
        harness.clock.advance(5)
        harness.renew("n2")
        harness.client.add(make_lease("n1", harness.clock.t, namespace="default"))
        await harness.monitor()
    assert harness.ready("n1") == "Unknown"
    assert harness.ready("n2") == "True"


async def test_pod_handlers_enqueue_only_changes_of_node_or_tolerations() -> None:
    harness = Harness()
    pod = make_pod("web", "n1")
    harness.controller._pod_updated(pod, {**pod, "status": {"phase": "Running"}})
    assert len(harness.controller.queue) == 0
    harness.controller._pod_updated(pod, {**pod, "spec": {**pod["spec"], "tolerations": [toleration()]}})
    assert harness.controller.queue.get_nowait() == "default/web"


async def test_run_starts_the_monitor_the_tainting_pass_and_the_workers_and_stops_on_cancel() -> None:
    harness = Harness(make_node("n1", unschedulable=True), node_monitor_period=0.01)
    task = asyncio.create_task(harness.controller.run())
    deadline = asyncio.get_running_loop().time() + 5
    while not (harness.recorder.events and harness.client.writes("patch", "nodes")):
        assert asyncio.get_running_loop().time() < deadline, "the loops did not run"
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert harness.recorder.reasons()[0] == "RegisteredNode"
