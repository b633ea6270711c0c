"""The ReplicaSet controller against a recording fake client: the pods it creates and deletes, the
pods it adopts and releases, the status it writes, its expectations, and its pure helpers."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from

from controller_manager.controller import ControllerContext
from controller_manager.controllers import replicaset
from controller_manager.controllers.replicaset import (
    BURST_REPLICAS,
    ReplicaSetController,
    active_pods,
    calculate_status,
    claim_action,
    delete_first,
    diff,
    is_pod_available,
    is_pod_ready,
    pod_from_template,
    pods_to_delete,
    rank_by_related_pods_on_node,
    rank_pods_for_deletion,
    slow_start_batches,
    status_changed,
)
from controller_manager.options import Options
from kubeapi import labels
from kubeclient.errors import ApiError
from kubeclient.informer import SharedInformerFactory, Store
from kubeclient.rest import STRATEGIC_MERGE_PATCH, resolve

Obj = dict[str, Any]
NOW = datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC)
KEY = "default/web"
RS_UID = "rs-web-uid"


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_rs(
    name: str = "web",
    replicas: int = 3,
    *,
    uid: str = RS_UID,
    selector: dict[str, str] | None = None,
    template_labels: dict[str, str] | None = None,
    min_ready: int = 0,
    generation: int = 1,
    status: Obj | None = None,
    owner_uid: str | None = None,
) -> Obj:
    match = selector if selector is not None else {"app": name}
    meta: Obj = {"name": name, "namespace": "default", "uid": uid, "generation": generation}
    if owner_uid:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner_uid, "controller": True}
        ]
    spec: Obj = {
        "replicas": replicas,
        "selector": {"matchLabels": match},
        "template": {
            "metadata": {"labels": template_labels if template_labels is not None else dict(match)},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        },
    }
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": spec,
        "status": status or {},
    }


def make_pod(
    name: str,
    *,
    owner: Obj | None = None,
    pod_labels: dict[str, str] | None = None,
    phase: str = "Running",
    ready: bool | None = None,
    ready_since: float = 600.0,
    node: str | None = "n1",
    created: float = 3000.0,
    restarts: int = 0,
    deletion_cost: int | None = None,
    uid: str | None = None,
    deleting: bool = False,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": "default",
        "uid": uid or f"uid-{name}",
        "labels": pod_labels if pod_labels is not None else {"app": "web"},
        "creationTimestamp": ts(created),
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner["kind"],
                "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    if deletion_cost is not None:
        meta["annotations"] = {"controller.kubernetes.io/pod-deletion-cost": str(deletion_cost)}
    if deleting:
        meta["deletionTimestamp"] = ts(1)
    is_ready = (phase == "Running") if ready is None else ready
    status: Obj = {
        "phase": phase,
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if is_ready else "False",
                "lastTransitionTime": ts(ready_since),
            }
        ],
        "containerStatuses": [{"name": "c", "restartCount": restarts}],
    }
    spec: Obj = {"containers": [{"name": "c", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


class Harness:
    def __init__(self, *objects: Obj, burst_replicas: int = BURST_REPLICAS) -> None:
        self.client = FakeClient(objects)
        self.recorder = FakeRecorder()
        self.clock = FakeClock()
        self.informers = informers_from(self.client, "replicasets", "pods")
        self.ctx = ControllerContext(
            client=self.client,
            informers=self.informers,
            recorder=self.recorder,
            options=Options(),
            clock=self.clock,
            now=lambda: NOW,
        )
        self.controller = ReplicaSetController(self.ctx, burst_replicas=burst_replicas)

    def deliver(self, *resources: str) -> None:
        """What the watches would deliver, handlers included (the controller's expectations count on them)."""
        deliver(self.informers, self.client, *resources)

    async def reconcile(self, key: str = KEY) -> None:
        await self.controller.reconcile(key)

    def pods(self) -> list[Obj]:
        return self.client.all("pods", "default")

    def rs(self, name: str = "web") -> Obj:
        stored = self.client.stored("replicasets", "default", name)
        assert stored is not None
        return stored


def deliver(factory: SharedInformerFactory, client: FakeClient, *resources: str) -> None:
    for resource, informer in factory.informers.items():
        if resources and resource not in resources:
            continue
        informer._replace(copy.deepcopy(client.all(resolve(resource).name)))


# --- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": "False"}], False),
        ([{"type": "ContainersReady", "status": "True"}], False),
        ([], False),
    ],
    ids=["ready true", "ready false", "no ready condition", "no conditions"],
)
def test_a_pod_is_ready_when_its_ready_condition_is_true(conditions: list[Obj], ready: bool) -> None:
    assert is_pod_ready({"status": {"conditions": conditions}}) is ready


@pytest.mark.parametrize(
    ("ready", "ready_since", "min_ready", "available"),
    [
        (True, 5, 0, True),
        (False, 600, 0, False),
        (True, 600, 10, True),
        (True, 5, 10, False),
        (True, 10, 10, False),
        (True, 11, 10, True),
    ],
    ids=[
        "ready and no minReadySeconds",
        "not ready",
        "ready long enough",
        "ready too briefly",
        "ready exactly minReadySeconds is not yet available",
        "ready one second more than minReadySeconds",
    ],
)
def test_a_pod_is_available_once_ready_for_longer_than_min_ready_seconds(
    ready: bool, ready_since: int, min_ready: int, available: bool
) -> None:
    pod = make_pod("p", ready=ready, ready_since=ready_since)
    assert is_pod_available(pod, min_ready, NOW) is available


def test_a_ready_pod_without_a_transition_time_is_available_only_without_min_ready_seconds() -> None:
    pod = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert is_pod_available(pod, 0, NOW)
    assert not is_pod_available(pod, 5, NOW)


def test_active_pods_leaves_out_finished_and_terminating_pods() -> None:
    pods = [
        make_pod("running"),
        make_pod("pending", phase="Pending"),
        make_pod("unknown", phase="Unknown"),
        make_pod("succeeded", phase="Succeeded"),
        make_pod("failed", phase="Failed"),
        make_pod("terminating", deleting=True),
    ]
    assert [p["metadata"]["name"] for p in active_pods(pods)] == ["running", "pending", "unknown"]


@pytest.mark.parametrize(
    ("active", "replicas", "expected"), [(0, 3, -3), (3, 3, 0), (5, 3, 2), ([{}, {}], 3, -1)]
)
def test_diff_is_active_pods_minus_desired_replicas(active: Any, replicas: int, expected: int) -> None:
    assert diff(active, replicas) == expected


@pytest.mark.parametrize(
    ("count", "batches"),
    [
        (0, []),
        (1, [1]),
        (3, [1, 2]),
        (7, [1, 2, 4]),
        (10, [1, 2, 4, 3]),
        (500, [1, 2, 4, 8, 16, 32, 64, 128, 245]),
    ],
)
def test_slow_start_batches_double_from_one(count: int, batches: list[int]) -> None:
    assert slow_start_batches(count) == batches
    assert sum(batches) == count


@pytest.mark.parametrize(
    ("first", "second", "ranks"),
    [
        (make_pod("a", node=None, phase="Pending"), make_pod("b", phase="Pending"), (0, 0)),
        (make_pod("a", phase="Pending"), make_pod("b", phase="Unknown"), (0, 0)),
        (make_pod("a", phase="Unknown", ready=False), make_pod("b", phase="Running", ready=False), (0, 0)),
        (make_pod("a", phase="Running", ready=False), make_pod("b", phase="Running", ready=True), (0, 0)),
        (make_pod("a", deletion_cost=-5), make_pod("b", deletion_cost=10), (0, 0)),
        (make_pod("a"), make_pod("b"), (3, 1)),
        (make_pod("a", ready_since=10), make_pod("b", ready_since=10_000), (0, 0)),
        (make_pod("a", restarts=5), make_pod("b", restarts=1), (0, 0)),
        (make_pod("a", created=10), make_pod("b", created=100_000), (0, 0)),
    ],
    ids=[
        "unassigned before assigned",
        "pending before unknown",
        "unknown before running",
        "not ready before ready",
        "lower deletion cost before higher",
        "more related pods on the node before fewer",
        "ready more recently before ready longer",
        "more restarts before fewer",
        "newer before older",
    ],
)
def test_deletion_prefers_the_pod_less_worth_keeping(first: Obj, second: Obj, ranks: tuple[int, int]) -> None:
    assert delete_first(first, ranks[0], second, ranks[1], NOW)
    assert not delete_first(second, ranks[1], first, ranks[0], NOW)


def test_deletion_ranks_an_earlier_rule_above_a_later_one() -> None:
    # Newer and with restarts, but ready; the older one is not ready, so it goes first.
    ready_new = make_pod("ready-new", created=10, restarts=9)
    unready_old = make_pod("unready-old", created=100_000, ready=False)
    assert delete_first(unready_old, 0, ready_new, 0, NOW)


def test_pods_of_about_the_same_age_are_ordered_by_uid() -> None:
    # 1000 s and 1001 s ago fall in the same power of two of nanoseconds (logarithmic scale-down).
    a = make_pod("a", created=1001, uid="uid-1")
    b = make_pod("b", created=1000, uid="uid-2")
    assert delete_first(a, 0, b, 0, NOW)
    assert not delete_first(b, 0, a, 0, NOW)


def test_rank_pods_for_deletion_sorts_a_mixed_set() -> None:
    pods = [
        make_pod("old-ready", created=100_000, ready_since=90_000),
        make_pod("unscheduled", node=None, phase="Pending"),
        make_pod("new-ready", created=100, ready_since=50),
        make_pod("pending", phase="Pending"),
        make_pod("not-ready", ready=False),
    ]
    ordered = rank_pods_for_deletion(pods, [0] * len(pods), NOW)
    assert [p["metadata"]["name"] for p in ordered] == [
        "unscheduled",
        "pending",
        "not-ready",
        "new-ready",
        "old-ready",
    ]


def test_ranks_count_active_related_pods_on_each_node() -> None:
    pods = [make_pod("a", node="n1"), make_pod("b", node="n2"), make_pod("c", node="n3")]
    related = [
        *pods,
        make_pod("d", node="n1"),
        make_pod("e", node="n1", phase="Failed"),
        make_pod("f", node="n2"),
    ]
    assert rank_by_related_pods_on_node(pods, related) == [2, 2, 1]


def test_pods_to_delete_takes_all_without_sorting_when_every_pod_goes() -> None:
    pods = [make_pod("old", created=100_000), make_pod("new", created=10)]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, [], 2, NOW)] == ["old", "new"]
    assert [p["metadata"]["name"] for p in pods_to_delete(pods, [], 1, NOW)] == ["new"]


def test_pod_from_template_copies_the_template_and_points_at_the_replicaset() -> None:
    rs = make_rs()
    rs["spec"]["template"]["metadata"]["annotations"] = {"note": "x"}
    pod = pod_from_template(rs)
    assert pod["metadata"] == {
        "generateName": "web-",
        "labels": {"app": "web"},
        "annotations": {"note": "x"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": RS_UID,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert pod["spec"] == rs["spec"]["template"]["spec"]
    pod["spec"]["containers"][0]["image"] = "changed"
    assert rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


@pytest.mark.parametrize(
    ("pod", "rs_deleting", "action"),
    [
        (make_pod("p", owner=make_rs()), False, "own"),
        (make_pod("p"), False, "adopt"),
        (make_pod("p", pod_labels={"app": "other"}), False, "ignore"),
        (make_pod("p", owner=make_rs(), pod_labels={"app": "other"}), False, "release"),
        (make_pod("p", owner=make_rs(uid="someone-else")), False, "ignore"),
        (make_pod("p", deleting=True), False, "ignore"),
        (make_pod("p"), True, "ignore"),
        (make_pod("p", owner=make_rs(), pod_labels={"app": "other"}), True, "ignore"),
        (make_pod("p", owner=make_rs()), True, "own"),
    ],
    ids=[
        "owned and matching is kept",
        "matching orphan is adopted",
        "orphan not matching is ignored",
        "owned but no longer matching is released",
        "owned by another controller is ignored",
        "terminating orphan is not adopted",
        "a deleting replicaset adopts nothing",
        "a deleting replicaset releases nothing",
        "a deleting replicaset keeps what it owns",
    ],
)
def test_claim_action(pod: Obj, rs_deleting: bool, action: str) -> None:
    rs = make_rs()
    if rs_deleting:
        rs["metadata"]["deletionTimestamp"] = ts(1)
    assert claim_action(rs, labels.from_set({"app": "web"}), pod) == action


def test_calculate_status_counts_labeled_ready_and_available_pods() -> None:
    rs = make_rs(replicas=4, template_labels={"app": "web", "tier": "fe"}, min_ready=30)
    pods = [
        make_pod("full-available", pod_labels={"app": "web", "tier": "fe", "x": "y"}, ready_since=60),
        make_pod("full-ready", pod_labels={"app": "web", "tier": "fe"}, ready_since=5),
        make_pod("partial-ready", ready_since=600),
        make_pod("partial-unready", ready=False),
    ]
    status = calculate_status(rs, pods, None, NOW)
    assert status == {"replicas": 4, "fullyLabeledReplicas": 2, "readyReplicas": 3, "availableReplicas": 2}


def test_calculate_status_sets_replica_failure_on_a_failed_create_and_clears_it_after() -> None:
    rs = make_rs(replicas=3)
    failed = calculate_status(rs, [make_pod("a")], RuntimeError("quota exceeded"), NOW)
    assert failed["conditions"] == [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": "2026-01-01T01:00:00Z",
            "reason": "FailedCreate",
            "message": "quota exceeded",
        }
    ]
    rs["status"] = failed
    later = NOW + timedelta(minutes=1)
    assert (
        calculate_status(rs, [make_pod("a")], RuntimeError("again"), later)["conditions"]
        == failed["conditions"]
    )
    assert "conditions" not in calculate_status(rs, [make_pod("a")], None, NOW)


def test_calculate_status_names_a_failed_delete() -> None:
    rs = make_rs(replicas=1)
    status = calculate_status(rs, [make_pod("a"), make_pod("b")], RuntimeError("boom"), NOW)
    assert status["conditions"][0]["reason"] == "FailedDelete"


def test_status_changed_only_when_counts_conditions_or_generation_differ() -> None:
    status = {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1}
    rs = make_rs(generation=3, status={**status, "observedGeneration": 3})
    assert not status_changed(rs, status)
    assert status_changed(rs, {**status, "readyReplicas": 2})
    assert status_changed(make_rs(generation=4, status={**status, "observedGeneration": 3}), status)
    assert status_changed(rs, {**status, "conditions": [{"type": "ReplicaFailure"}]})
    zero = {"replicas": 0, "fullyLabeledReplicas": 0, "readyReplicas": 0, "availableReplicas": 0}
    assert not status_changed(make_rs(status={"replicas": 0, "observedGeneration": 1}), zero)


# --- the controller: creating -------------------------------------------------------------------------


def test_new_builds_the_controller_with_the_configured_workers() -> None:
    harness = Harness(make_rs())
    ctx = ControllerContext(
        client=harness.client,
        informers=harness.informers,
        recorder=harness.recorder,
        options=Options(concurrent_replicaset_syncs=7),
    )
    controller = replicaset.new(ctx)
    assert controller.name == "replicaset-controller"
    assert controller.workers == 7
    assert BURST_REPLICAS == 500


async def test_missing_pods_are_created_from_the_template_with_events() -> None:
    h = Harness(make_rs(replicas=3))
    await h.reconcile()
    creates = h.client.writes("create", "pods")
    assert len(creates) == 3
    for action in creates:
        assert action.namespace == "default"
        assert action.body["metadata"]["generateName"] == "web-"
        assert action.body["metadata"]["labels"] == {"app": "web"}
        assert action.body["metadata"]["ownerReferences"][0]["uid"] == RS_UID
    names = sorted(p["metadata"]["name"] for p in h.pods())
    assert sorted(msg for _, _, reason, msg in h.recorder.events if reason == "SuccessfulCreate") == [
        f"Created pod: {name}" for name in names
    ]
    assert all(key == KEY and type_ == "Normal" for key, type_, _, _ in h.recorder.events)
    # The status reflects the cache this sync read (no pods yet) and the observed generation.
    assert h.client.verbs()[-1] == ("update", "replicasets/status")
    assert h.rs()["status"] == {
        "replicas": 0,
        "fullyLabeledReplicas": 0,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "observedGeneration": 1,
    }


async def test_expectations_stop_a_second_create_until_the_informer_shows_the_pods() -> None:
    h = Harness(make_rs(replicas=3))
    await h.reconcile()
    h.deliver("replicasets")  # the status write comes back, the pods' events not yet
    await h.reconcile()
    assert len(h.client.writes("create", "pods")) == 3
    assert not h.controller.expectations.satisfied(KEY)

    h.deliver("pods")
    assert h.controller.expectations.satisfied(KEY)
    await h.reconcile()
    assert len(h.client.writes("create", "pods")) == 3
    assert h.rs()["status"]["replicas"] == 3


async def test_a_synced_replicaset_reconciled_twice_makes_no_writes() -> None:
    h = Harness(make_rs(replicas=3))
    await h.reconcile()
    h.deliver()
    await h.reconcile()
    h.deliver()
    writes = len(h.client.writes())
    await h.reconcile()
    await h.reconcile()
    assert len(h.client.writes()) == writes


async def test_slow_start_stops_creating_after_the_first_failed_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = Harness(make_rs(replicas=10))
    original = h.client.create
    calls = 0

    async def create(resource: str, obj: Obj, **options: Any) -> Obj:
        nonlocal calls
        calls += 1
        if calls == 3:  # the second pod of the second batch (sizes 1, 2, 4, 3)
            raise ApiError(
                403, {"reason": "Forbidden", "message": 'pods "web-" is forbidden: exceeded quota'}
            )
        return await original(resource, obj, **options)

    monkeypatch.setattr(h.client, "create", create)
    with pytest.raises(ApiError):
        await h.reconcile()
    assert calls == 3
    assert len(h.pods()) == 2
    assert (
        "default/web",
        "Warning",
        "FailedCreate",
        'Error creating: pods "web-" is forbidden: exceeded quota',
    ) in (h.recorder.events)
    failure = h.rs()["status"]["conditions"][0]
    assert (failure["type"], failure["reason"]) == ("ReplicaFailure", "FailedCreate")
    assert failure["message"] == 'pods "web-" is forbidden: exceeded quota'
    # Expectations were lowered for the failed and the skipped creates: only the 2 made are awaited.
    assert not h.controller.expectations.satisfied(KEY)
    h.deliver()
    assert h.controller.expectations.satisfied(KEY)


async def test_a_failed_create_requeues_the_key_with_back_off() -> None:
    h = Harness(make_rs(replicas=2))
    h.client.fail_next("create", "pods", ApiError(500, {"reason": "InternalError", "message": "etcd down"}))
    await h.controller.process(KEY)
    assert h.controller.queue.requeues(KEY) == 1
    assert len(h.client.writes("create", "pods")) == 1
    assert h.controller.expectations.satisfied(KEY)

    h.deliver()
    h.clock.now += 1.0
    assert h.controller.queue.get_nowait() == KEY
    await h.controller.process(KEY)
    assert len(h.pods()) == 2
    assert h.controller.queue.requeues(KEY) == 0
    h.deliver()
    await h.reconcile()
    assert "conditions" not in h.rs()["status"]  # ReplicaFailure cleared by a good sync


async def test_creates_are_capped_at_burst_replicas_per_sync() -> None:
    h = Harness(make_rs(replicas=8), burst_replicas=5)
    await h.reconcile()
    assert len(h.client.writes("create", "pods")) == 5
    h.deliver()
    await h.reconcile()
    assert len(h.client.writes("create", "pods")) == 8


async def test_no_pods_are_created_in_a_terminating_namespace_and_no_event_is_recorded() -> None:
    h = Harness(make_rs(replicas=1))
    terminating = ApiError(
        403,
        {
            "reason": "Forbidden",
            "message": "unable to create new content in namespace default because it is being terminated",
            "details": {"causes": [{"type": "NamespaceTerminating"}]},
        },
    )
    h.client.fail_next("create", "pods", terminating)
    await h.reconcile()
    assert h.recorder.events == []
    assert "conditions" not in h.rs()["status"]


async def test_a_template_without_labels_creates_nothing() -> None:
    rs = make_rs(replicas=1, selector={}, template_labels={})
    h = Harness(rs)
    with pytest.raises(RuntimeError, match="no labels"):
        await h.reconcile()
    assert h.client.writes("create", "pods") == []


async def test_a_replicaset_being_deleted_creates_no_pods_but_keeps_its_status() -> None:
    rs = make_rs(replicas=3)
    rs["metadata"]["deletionTimestamp"] = ts(1)
    rs["metadata"]["finalizers"] = ["foregroundDeletion"]
    h = Harness(rs, make_pod("web-a", owner=rs))
    await h.reconcile()
    assert h.client.verbs() == [("update", "replicasets/status")]
    assert h.rs()["status"]["replicas"] == 1


# --- the controller: deleting -------------------------------------------------------------------------


async def test_extra_pods_are_deleted_least_valuable_first() -> None:
    rs = make_rs(replicas=2)
    h = Harness(
        rs,
        make_pod("web-old", owner=rs, created=100_000, ready_since=90_000),
        make_pod("web-unscheduled", owner=rs, node=None, phase="Pending"),
        make_pod("web-new", owner=rs, created=100, ready_since=50),
        make_pod("web-pending", owner=rs, phase="Pending"),
    )
    await h.reconcile()
    assert sorted(a.name for a in h.client.writes("delete", "pods")) == ["web-pending", "web-unscheduled"]
    assert sorted(h.recorder.events) == [
        (KEY, "Normal", "SuccessfulDelete", "Deleted pod: web-pending"),
        (KEY, "Normal", "SuccessfulDelete", "Deleted pod: web-unscheduled"),
    ]
    assert not h.controller.expectations.satisfied(KEY)
    h.deliver()
    assert h.controller.expectations.satisfied(KEY)
    await h.reconcile()
    assert len(h.client.writes("delete", "pods")) == 2


async def test_scale_down_spreads_what_is_left_across_nodes_of_the_same_deployment() -> None:
    old = make_rs(
        "web-old", replicas=0, uid="old-uid", selector={"app": "web", "hash": "old"}, owner_uid="dep"
    )
    new = make_rs(
        "web-new", replicas=1, uid="new-uid", selector={"app": "web", "hash": "new"}, owner_uid="dep"
    )
    h = Harness(
        old,
        new,
        make_pod("old-1", owner=old, pod_labels={"app": "web", "hash": "old"}, node="n1"),
        make_pod("new-1", owner=new, pod_labels={"app": "web", "hash": "new"}, node="n1", created=100),
        make_pod("new-2", owner=new, pod_labels={"app": "web", "hash": "new"}, node="n2", created=100_000),
    )
    await h.reconcile("default/web-new")
    # new-2 is older and would be kept anyway; new-1 shares n1 with the old ReplicaSet's pod.
    assert [a.name for a in h.client.writes("delete", "pods")] == ["new-1"]

    h2 = Harness(
        old,
        new,
        make_pod("old-1", owner=old, pod_labels={"app": "web", "hash": "old"}, node="n1"),
        make_pod("new-1", owner=new, pod_labels={"app": "web", "hash": "new"}, node="n1", created=100_000),
        make_pod("new-2", owner=new, pod_labels={"app": "web", "hash": "new"}, node="n2", created=100),
    )
    await h2.reconcile("default/web-new")
    assert [a.name for a in h2.client.writes("delete", "pods")] == ["new-1"]  # crowded beats newer


async def test_a_failed_delete_records_an_event_and_the_failure_condition() -> None:
    rs = make_rs(replicas=0)
    h = Harness(rs, make_pod("web-a", owner=rs))
    h.client.fail_next("delete", "pods", ApiError(500, {"reason": "InternalError", "message": "etcd down"}))
    await h.controller.process(KEY)
    assert h.controller.queue.requeues(KEY) == 1
    assert h.recorder.events == [(KEY, "Warning", "FailedDelete", "Error deleting: etcd down")]
    failure = h.rs()["status"]["conditions"][0]
    assert (failure["reason"], failure["message"]) == ("FailedDelete", "unable to delete pods: etcd down")
    assert h.controller.expectations.satisfied(KEY)  # the failed delete is no longer awaited


async def test_a_pod_already_gone_is_not_a_failed_delete() -> None:
    rs = make_rs(replicas=0)
    h = Harness(rs, make_pod("web-a", owner=rs))
    h.client.fail_next("delete", "pods", ApiError(404, {"reason": "NotFound", "message": "gone"}))
    await h.reconcile()
    assert h.recorder.events == []
    assert "conditions" not in h.rs()["status"]


def test_a_graceful_delete_is_observed_once() -> None:
    rs = make_rs(replicas=0)
    a, b = make_pod("web-a", owner=rs), make_pod("web-b", owner=rs)
    h = Harness(rs, a, b)
    h.controller.expectations.expect_deletions(KEY, ["default/web-a", "default/web-b"])
    terminating = copy.deepcopy(a)
    terminating["metadata"]["deletionTimestamp"] = ts(0)
    terminating["metadata"]["resourceVersion"] = "999"
    h.controller.update_pod(a, terminating)
    h.controller.delete_pod(terminating)
    assert not h.controller.expectations.satisfied(KEY)
    h.controller.delete_pod(b)
    assert h.controller.expectations.satisfied(KEY)


# --- the controller: adopting and releasing ---------------------------------------------------------


async def test_a_matching_orphan_is_adopted_instead_of_creating_a_pod() -> None:
    h = Harness(make_rs(replicas=1), make_pod("stray"))
    await h.reconcile()
    assert [(a.verb, a.resource) for a in h.client.actions[:2]] == [("get", "replicasets"), ("patch", "pods")]
    patch = h.client.writes("patch", "pods")[0]
    assert patch.name == "stray"
    assert patch.options["content_type"] == STRATEGIC_MERGE_PATCH
    assert patch.body == {
        "metadata": {
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web",
                    "uid": RS_UID,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "uid": "uid-stray",
        }
    }
    assert h.client.writes("create", "pods") == []
    assert h.rs()["status"]["replicas"] == 1
    stored = h.client.stored("pods", "default", "stray")
    assert stored is not None and stored["metadata"]["ownerReferences"][0]["uid"] == RS_UID


async def test_no_orphan_is_adopted_when_the_live_replicaset_is_being_deleted() -> None:
    h = Harness(make_rs(replicas=1), make_pod("stray"))
    live = h.rs()
    live["metadata"]["deletionTimestamp"] = ts(1)  # the cache has not seen it yet
    with pytest.raises(RuntimeError, match="can't adopt Pod default/stray"):
        await h.reconcile()
    assert h.client.writes() == []


async def test_an_owned_pod_whose_labels_stopped_matching_is_released_and_replaced() -> None:
    rs = make_rs(replicas=1)
    h = Harness(rs, make_pod("web-a", owner=rs, pod_labels={"app": "debug"}))
    await h.reconcile()
    release = h.client.writes("patch", "pods")[0]
    assert release.body == {
        "metadata": {"ownerReferences": [{"$patch": "delete", "uid": RS_UID}], "uid": "uid-web-a"}
    }
    stored = h.client.stored("pods", "default", "web-a")
    assert stored is not None and not stored["metadata"].get("ownerReferences")
    assert len(h.client.writes("create", "pods")) == 1


async def test_pods_of_other_controllers_and_terminating_pods_are_left_alone() -> None:
    other = make_rs("other", uid="other-uid")
    h = Harness(
        make_rs(replicas=2),
        make_pod("theirs", owner=other),
        make_pod("leaving", deleting=True),
        make_pod("done", phase="Succeeded"),
    )
    await h.reconcile()
    assert h.client.writes("patch", "pods") == []
    assert len(h.client.writes("create", "pods")) == 2


async def test_a_failed_adoption_fails_the_sync_without_a_status_write() -> None:
    h = Harness(make_rs(replicas=1), make_pod("stray"))
    h.client.fail_next("patch", "pods", ApiError(409, {"reason": "Conflict", "message": "conflict"}))
    await h.controller.process(KEY)
    assert h.controller.queue.requeues(KEY) == 1
    assert h.client.verbs() == [("patch", "pods")]


# --- the controller: status ---------------------------------------------------------------------------


async def test_status_counts_ready_and_available_pods_and_requeues_for_availability() -> None:
    rs = make_rs(replicas=2, min_ready=30)
    h = Harness(rs, make_pod("web-a", owner=rs, ready_since=60), make_pod("web-b", owner=rs, ready_since=5))
    await h.reconcile()
    assert h.rs()["status"] == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 1,
    }
    assert h.controller.queue.get_nowait() is None
    h.clock.now += 30
    assert h.controller.queue.get_nowait() == KEY


async def test_a_status_conflict_is_retried_once_after_a_fresh_read() -> None:
    h = Harness(make_rs(replicas=0))
    h.client.fail_next("update", "replicasets/status", ApiError(409, {"reason": "Conflict", "message": "c"}))
    await h.reconcile()
    assert [(a.verb, a.resource) for a in h.client.actions] == [
        ("update", "replicasets/status"),
        ("get", "replicasets"),
        ("update", "replicasets/status"),
    ]
    assert h.rs()["status"]["observedGeneration"] == 1


async def test_a_status_conflict_twice_requeues_the_key() -> None:
    h = Harness(make_rs(replicas=0))
    for _ in range(2):
        h.client.fail_next(
            "update", "replicasets/status", ApiError(409, {"reason": "Conflict", "message": "c"})
        )
    await h.controller.process(KEY)
    assert h.controller.queue.requeues(KEY) == 1
    h.clock.now += 1.0
    assert h.controller.queue.get_nowait() == KEY
    await h.controller.process(KEY)
    assert h.rs()["status"]["observedGeneration"] == 1
    assert h.controller.queue.requeues(KEY) == 0


async def test_an_unchanged_status_is_not_written() -> None:
    rs = make_rs(
        replicas=1,
        status={
            "replicas": 1,
            "fullyLabeledReplicas": 1,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "observedGeneration": 1,
        },
    )
    h = Harness(rs, make_pod("web-a", owner=rs))
    await h.reconcile()
    assert h.client.writes() == []


# --- the controller: what a sync looks at ---------------------------------------------------------------


async def test_a_sync_reads_its_own_pods_and_orphans_and_after_that_only_the_pods_that_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rs = make_rs(replicas=20)
    other = make_rs("api", uid="api-uid", selector={"app": "api"})
    own = [make_pod(f"web-{i}", owner=rs) for i in range(20)]
    theirs = [make_pod(f"api-{i}", owner=other, pod_labels={"app": "api"}) for i in range(30)]
    orphans = [make_pod(f"bare-{i}", pod_labels={"app": "bare"}) for i in range(3)]
    h = Harness(rs, other, *own, *theirs, *orphans)
    looked_at: list[str] = []
    original = replicaset.pod_facts

    def pod_facts(rs: Obj, selector: labels.Selector, template: labels.Selector, pod: Obj) -> Any:
        looked_at.append(pod["metadata"]["name"])
        return original(rs, selector, template, pod)

    monkeypatch.setattr(replicaset, "pod_facts", pod_facts)
    await h.reconcile()
    assert sorted(looked_at) == sorted(p["metadata"]["name"] for p in own + orphans)
    assert h.rs()["status"]["readyReplicas"] == 20

    looked_at.clear()
    await h.reconcile()
    assert looked_at == []

    pods = h.informers.informer("pods").store
    changed = copy.deepcopy(pods.get("default/web-7"))
    assert changed is not None
    changed["status"]["conditions"][0]["status"] = "False"
    changed["metadata"]["resourceVersion"] = "changed"
    pods.put(changed)  # silently, as a relist or a test's sync would: the store itself tells the tally
    pods.remove("default/web-8")
    await h.reconcile()
    assert sorted(looked_at) == ["web-7"]
    assert (h.rs()["status"]["replicas"], h.rs()["status"]["readyReplicas"]) == (19, 18)


def _claims_from_scratch(
    rs: Obj, pods: list[Obj], now: datetime
) -> tuple[set[str], set[str], set[str], replicaset.ReplicaCounts]:
    """What a sync used to compute over every pod of the namespace: the keys owned, to adopt and to
    release, and the status counts of the owned pods."""
    selector = labels.from_label_selector(rs["spec"]["selector"])
    active = active_pods([p for p in pods if p["metadata"]["namespace"] == "default"])
    actions = {f"default/{pod['metadata']['name']}": claim_action(rs, selector, pod) for pod in active}
    owned = [p for p in active if actions[f"default/{p['metadata']['name']}"] == "own"]

    def having(action: str) -> set[str]:
        return {key for key, found in actions.items() if found == action}

    return having("own"), having("adopt"), having("release"), replicaset.count_replicas(rs, owned, now)


@pytest.mark.parametrize(("min_ready", "deleting"), [(0, False), (30, False), (0, True)])
def test_a_tally_kept_across_changes_agrees_with_claiming_from_scratch(
    min_ready: int, deleting: bool
) -> None:
    rs = make_rs(
        replicas=5, min_ready=min_ready, selector={"app": "web"}, template_labels={"app": "web", "t": "1"}
    )
    if deleting:
        rs["metadata"]["deletionTimestamp"] = ts(1)
    other = make_rs("api", uid="api-uid")
    changes = replicaset.PodChanges()
    store = Store(
        {replicaset.POD_CONTROLLER_UID_INDEX: replicaset.pod_controller_uid_index, "changes": changes}
    )
    rng = random.Random(min_ready * 7 + deleting)
    now = NOW

    def random_pod(name: str) -> Obj:
        owner = rng.choice([rs, rs, rs, other, None])
        pod = make_pod(
            name,
            owner=owner,
            pod_labels=rng.choice([{"app": "web"}, {"app": "web", "t": "1"}, {"app": "api"}, {}]),
            phase=rng.choice(["Running", "Running", "Pending", "Succeeded", "Failed"]),
            ready=rng.choice([True, True, False]),
            ready_since=rng.choice([5, 29, 31, 600]),
            deleting=rng.random() < 0.1,
        )
        pod["metadata"]["namespace"] = rng.choice(["default"] * 9 + ["elsewhere"])
        return pod

    for index in range(30):
        store.put(random_pod(f"p{index}"))
    selector = labels.from_label_selector(rs["spec"]["selector"])
    template = labels.from_set(rs["spec"]["template"]["metadata"]["labels"])
    values = (RS_UID, replicaset.orphan_index_key("default"))
    tally = replicaset.PodTally(replicaset.tally_signature(rs, selector), values, min_ready)
    changes.listen(values, tally.dirty)

    def facts_of(pod: Obj) -> replicaset.PodFacts:
        return replicaset.pod_facts(rs, selector, template, pod)

    tally.fill((p for v in values for p in store.by_index(replicaset.POD_CONTROLLER_UID_INDEX, v)), facts_of)
    for step in range(300):
        for _ in range(rng.randint(0, 4)):
            name = f"p{rng.randint(0, 39)}"
            if rng.random() < 0.15:
                gone = store.get(f"default/{name}") or store.get(f"elsewhere/{name}")
                if gone is not None:
                    store.remove(f"{gone['metadata']['namespace']}/{name}")
            else:
                store.put(random_pod(name))
        now += timedelta(seconds=rng.choice([0, 1, 10, -20]))  # the clock may even go back
        tally.refresh(store.get, facts_of)
        found = (tally.owned, tally.to_adopt, tally.to_release, tally.counts(now))
        assert found == _claims_from_scratch(rs, store.objects(), now), step
        assert sorted(p["metadata"]["name"] for p in tally.owned_pods()) == sorted(k[8:] for k in tally.owned)


async def test_a_sync_before_its_status_write_comes_back_writes_over_what_the_write_returned() -> None:
    rs = make_rs(replicas=2)
    h = Harness(rs, make_pod("web-a", owner=rs), make_pod("web-b", owner=rs, ready=False))
    await h.reconcile()
    assert h.rs()["status"]["readyReplicas"] == 1

    h.client.add(make_pod("web-b", owner=rs))  # web-b turns ready; its event comes, ours not yet
    h.deliver("pods")
    await h.reconcile()
    assert h.rs()["status"]["readyReplicas"] == 2
    await h.reconcile()  # nothing new: the cache still lags, but the status we wrote is known
    assert [(a.verb, a.resource) for a in h.client.actions] == [("update", "replicasets/status")] * 2

    h.deliver("replicasets")
    await h.reconcile()
    assert len(h.client.actions) == 2


def test_own_writes_stand_in_for_the_cache_only_until_it_shows_them_or_someone_else_wrote() -> None:
    writes = replicaset.OwnWrites()
    cached = {"metadata": {"uid": "u", "resourceVersion": "1"}}
    first = {"metadata": {"uid": "u", "resourceVersion": "2"}}
    second = {"metadata": {"uid": "u", "resourceVersion": "3"}}
    assert writes.freshest("k", cached) is cached
    writes.wrote("k", cached, first)
    writes.wrote("k", cached, second)
    assert writes.freshest("k", cached) is second
    assert writes.freshest("k", first) is second  # the cache shows our first write, not the second
    assert (
        writes.freshest("k", {"metadata": {"uid": "other", "resourceVersion": "1"}})["metadata"]["uid"]
        == "other"
    )
    assert writes.freshest("k", cached) is cached  # forgotten once the cache went its own way
    writes.wrote("k", cached, second)
    assert writes.freshest("k", second) is second
    assert writes.freshest("k", cached) is cached  # caught up: forgotten


# --- the controller: handlers and deletion ------------------------------------------------------------


def test_a_deleted_replicaset_forgets_its_expectations() -> None:
    rs = make_rs()
    h = Harness(rs)
    h.controller.expectations.expect_creations(KEY, 3)
    h.controller.delete_rs(rs)
    assert h.controller.expectations.satisfied(KEY)
    assert h.controller.queue.get_nowait() == KEY


async def test_reconciling_a_replicaset_that_is_gone_forgets_its_expectations() -> None:
    h = Harness()
    h.controller.expectations.expect_creations(KEY, 3)
    await h.reconcile()
    assert h.controller.expectations.satisfied(KEY)
    assert h.client.actions == []


def test_a_new_pod_with_a_controller_ref_is_a_creation_observed_by_its_replicaset() -> None:
    rs = make_rs()
    h = Harness(rs)
    h.controller.expectations.expect_creations(KEY, 1)
    h.controller.add_pod(make_pod("web-a", owner=rs))
    assert h.controller.expectations.satisfied(KEY)
    assert h.controller.queue.get_nowait() == KEY


def test_a_pod_pointing_at_a_replaced_replicaset_is_ignored() -> None:
    h = Harness(make_rs())
    h.controller.expectations.expect_creations(KEY, 1)
    h.controller.add_pod(make_pod("web-a", owner=make_rs(uid="an-older-web")))
    assert not h.controller.expectations.satisfied(KEY)
    assert h.controller.queue.get_nowait() is None


def test_a_new_orphan_wakes_the_replicasets_selecting_it_but_not_an_empty_selector() -> None:
    h = Harness(make_rs(), make_rs("all", uid="all-uid", selector={}), make_rs("db", uid="db-uid"))
    h.controller.add_pod(make_pod("stray"))
    assert h.controller.queue.get_nowait() == KEY
    assert h.controller.queue.get_nowait() is None


def test_a_pod_turning_ready_wakes_its_replicaset_again_after_min_ready_seconds() -> None:
    rs = make_rs(min_ready=10)
    h = Harness(rs)
    old = make_pod("web-a", owner=rs, ready=False)
    old["metadata"]["resourceVersion"] = "1"
    new = make_pod("web-a", owner=rs, ready=True, ready_since=0)
    new["metadata"]["resourceVersion"] = "2"
    h.controller.update_pod(old, new)
    assert h.controller.queue.get_nowait() == KEY
    h.controller.queue.done(KEY)
    h.clock.now += 10.5
    assert h.controller.queue.get_nowait() is None
    h.clock.now += 1.0
    assert h.controller.queue.get_nowait() == KEY


def test_a_pod_whose_labels_change_wakes_its_old_owner_and_new_selectors() -> None:
    rs = make_rs()
    db = make_rs("db", uid="db-uid")
    h = Harness(rs, db)
    old = make_pod("p", owner=rs)
    old["metadata"]["resourceVersion"] = "1"
    new = make_pod("p", pod_labels={"app": "db"})
    new["metadata"]["resourceVersion"] = "2"
    h.controller.update_pod(old, new)
    assert {h.controller.queue.get_nowait(), h.controller.queue.get_nowait()} == {KEY, "default/db"}


def test_a_resync_with_the_same_resource_version_does_nothing() -> None:
    rs = make_rs()
    h = Harness(rs)
    pod = make_pod("web-a", owner=rs)
    pod["metadata"]["resourceVersion"] = "5"
    h.controller.update_pod(pod, pod)
    assert h.controller.queue.get_nowait() is None
