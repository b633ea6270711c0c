"""pod-garbage-collector-controller: terminated pods above the threshold, orphaned pods, terminating pods
on out-of-service nodes and unscheduled terminating pods are force-deleted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.pod_gc import (
    GC_KEY,
    ORPHANED_CONDITION,
    Collection,
    PodGCController,
    collection_order,
    failed_status_patch,
    is_terminated,
    missing_nodes,
    new,
    out_of_service,
    pods_to_collect,
    quarantine_step,
    terminated_over_threshold,
    terminating_out_of_service,
    unscheduled_terminating,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError
from kubeclient.rest import STRATEGIC_MERGE_PATCH

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
OUT_OF_SERVICE = {"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def pod(
    name: str,
    phase: str = "Running",
    *,
    node: str | None = "n1",
    created: str = "2026-01-01T00:00:00Z",
    reason: str | None = None,
    terminating: bool = False,
    namespace: str = "default",
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "creationTimestamp": created,
        "uid": f"uid-{name}",
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-02-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if conditions:
        status["conditions"] = conditions
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def node(
    name: str, *, ready: bool | None = True, taints: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": "True" if ready else "False"}]
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": spec,
        "status": {"conditions": conditions},
    }


def make(*objects: dict[str, Any], threshold: int = 12500) -> tuple[PodGCController, FakeClient, FakeClock]:
    client = FakeClient(objects)
    clock = FakeClock()
    ctx = ControllerContext(
        client,
        informers_from(client, "pods", "nodes"),
        FakeRecorder(),
        Options(terminated_pod_gc_threshold=threshold),
        clock=clock,
        now=lambda: NOW,
    )
    return new(ctx), client, clock


def names(pods: list[dict[str, Any]]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def deleted(client: FakeClient) -> list[str]:
    return [a.name for a in client.writes("delete", "pods")]


def grace_periods(client: FakeClient) -> list[Any]:
    """The grace period of each pod deletion."""
    return [a.options.get("grace_period_seconds") for a in client.writes("delete", "pods")]


# --- pure functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "terminated"),
    [("Pending", False), ("Running", False), ("Unknown", False), ("Succeeded", True), ("Failed", True)],
)
def test_succeeded_and_failed_pods_are_terminated(phase: str, terminated: bool) -> None:
    assert is_terminated(pod("p", phase)) is terminated


def test_evicted_pods_go_first_then_the_oldest_then_by_name() -> None:
    pods = [
        pod("new", "Failed", created="2026-01-03T00:00:00Z"),
        pod("old-b", "Succeeded", created="2026-01-01T00:00:00Z"),
        pod("old-a", "Succeeded", created="2026-01-01T00:00:00Z"),
        pod("evicted-new", "Failed", created="2026-01-05T00:00:00Z", reason="Evicted"),
        pod("mid", "Failed", created="2026-01-02T00:00:00Z", reason="OOMKilled"),
    ]
    assert names(sorted(pods, key=collection_order)) == ["evicted-new", "old-a", "old-b", "mid", "new"]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0, []),
        (-1, []),
        (6, []),
        (5, []),
        (4, ["a"]),
        (2, ["a", "b", "c"]),
    ],
    ids=[
        "threshold 0 turns it off",
        "negative threshold turns it off",
        "fewer terminated than the threshold",
        "as many terminated as the threshold, running ones not counted",
        "one over",
        "three over, oldest first",
    ],
)
def test_terminated_pods_above_the_threshold_are_picked_oldest_first(
    threshold: int, expected: list[str]
) -> None:
    pods = [
        pod("e", "Succeeded", created="2026-01-05T00:00:00Z"),
        pod("c", "Failed", created="2026-01-03T00:00:00Z"),
        pod("running", "Running", created="2025-01-01T00:00:00Z"),
        pod("a", "Succeeded", created="2026-01-01T00:00:00Z"),
        pod("d", "Succeeded", created="2026-01-04T00:00:00Z"),
        pod("b", "Failed", created="2026-01-02T00:00:00Z"),
        pod("pending", "Pending", created="2025-01-01T00:00:00Z"),
    ]
    assert names(terminated_over_threshold(pods, threshold)) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (node("n1", ready=True, taints=[OUT_OF_SERVICE]), False),
        (node("n1", ready=False, taints=[OUT_OF_SERVICE]), True),
        (node("n1", ready=None, taints=[OUT_OF_SERVICE]), True),
        (node("n1", ready=False), False),
        (
            node(
                "n1", ready=False, taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]
            ),
            False,
        ),
    ],
    ids=[
        "ready and tainted",
        "not ready and tainted",
        "no Ready condition and tainted",
        "not ready",
        "other taint",
    ],
)
def test_a_node_is_out_of_service_when_not_ready_and_tainted(n: dict[str, Any], expected: bool) -> None:
    assert out_of_service(n) is expected


def test_terminating_pods_are_picked_only_on_out_of_service_nodes_the_cache_knows() -> None:
    nodes = {"dead": node("dead", ready=False, taints=[OUT_OF_SERVICE]), "live": node("live")}
    pods = [
        pod("on-dead", node="dead", terminating=True),
        pod("on-dead-not-terminating", node="dead"),
        pod("on-live", node="live", terminating=True),
        pod("on-unknown", node="unknown", terminating=True),
    ]
    assert names(terminating_out_of_service(pods, nodes)) == ["on-dead"]


def test_unscheduled_pods_are_picked_only_when_terminating() -> None:
    pods = [pod("a", node=None, terminating=True), pod("b", node=None), pod("c", terminating=True)]
    assert names(unscheduled_terminating(pods)) == ["a"]


def test_missing_nodes_are_those_pods_name_but_the_cache_lacks() -> None:
    pods = [pod("a", node="n1"), pod("b", node="gone"), pod("c", node=None), pod("d", node="gone")]
    assert missing_nodes(pods, ["n1"]) == {"gone"}


@pytest.mark.parametrize(
    ("quarantine", "missing", "existing", "now", "waiting", "due"),
    [
        ({}, ["gone"], [], 100.0, {"gone": 140.0}, []),
        ({"gone": 140.0}, ["gone"], [], 139.0, {"gone": 140.0}, []),
        ({"gone": 140.0}, ["gone"], [], 140.0, {"gone": 180.0}, ["gone"]),
        ({"gone": 140.0}, [], [], 150.0, {}, []),
        ({"back": 140.0}, [], ["back"], 150.0, {}, []),
        ({"a": 140.0, "b": 160.0}, ["a", "b", "c"], [], 150.0, {"a": 190.0, "b": 160.0, "c": 190.0}, ["a"]),
    ],
    ids=[
        "a newly missing node waits 40 s",
        "an earlier due time is kept",
        "due at 40 s, and quarantined again while pods still name it",
        "dropped unchecked when no pod names it any more",
        "dropped unchecked when the cache has seen it again",
        "each node on its own clock",
    ],
)
def test_quarantine_holds_missing_nodes_40_seconds_before_a_check(
    quarantine: dict[str, float],
    missing: list[str],
    existing: list[str],
    now: float,
    waiting: dict[str, float],
    due: list[str],
) -> None:
    assert quarantine_step(quarantine, missing, existing, now, 40.0) == (waiting, due)


def test_a_pod_picked_by_two_sweeps_is_deleted_once_with_the_first_sweeps_reason() -> None:
    failed_orphan = pod("x", "Failed", node="gone")
    collection = pods_to_collect([failed_orphan, pod("y", node="gone")], {}, ["gone"], threshold=0)
    assert names(collection.orphaned) == ["x", "y"]
    collection = Collection(terminated=[failed_orphan], orphaned=[failed_orphan, pod("y", node="gone")])
    assert [(p["metadata"]["name"], c, why) for p, c, why in collection.deletions()] == [
        ("x", None, "terminated"),
        ("y", ORPHANED_CONDITION, "orphaned"),
    ]


def test_the_status_patch_makes_a_live_pod_failed_with_the_condition() -> None:
    patch = failed_status_patch(pod("p", "Running"), ORPHANED_CONDITION, NOW)
    assert patch == {
        "metadata": {"uid": "uid-p"},
        "status": {
            "phase": "Failed",
            "conditions": [
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists",
                    "lastTransitionTime": "2026-03-01T12:00:00Z",
                }
            ],
        },
    }
    assert failed_status_patch(pod("p", "Pending"), None, NOW) == {
        "metadata": {"uid": "uid-p"},
        "status": {"phase": "Failed"},
    }


def test_the_status_patch_keeps_the_transition_time_of_an_unchanged_condition() -> None:
    earlier = {"type": "DisruptionTarget", "status": "True", "lastTransitionTime": "2026-02-01T00:00:00Z"}
    patch = failed_status_patch(pod("p", conditions=[earlier]), ORPHANED_CONDITION, NOW)
    assert patch is not None
    assert patch["status"]["conditions"][0]["lastTransitionTime"] == "2026-02-01T00:00:00Z"


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_terminated_pod_needs_no_status_patch(phase: str) -> None:
    assert failed_status_patch(pod("p", phase), ORPHANED_CONDITION, NOW) is None


# --- reconcile: terminated pods ------------------------------------------------------------------------


async def test_terminated_pods_above_the_threshold_are_force_deleted_oldest_first() -> None:
    controller, client, _ = make(
        node("n1"),
        pod("c", "Failed", created="2026-01-03T00:00:00Z"),
        pod("a", "Succeeded", created="2026-01-01T00:00:00Z"),
        pod("b", "Succeeded", created="2026-01-02T00:00:00Z"),
        pod("live", "Running"),
        threshold=1,
    )
    await controller.reconcile(GC_KEY)
    assert client.verbs() == [("delete", "pods"), ("delete", "pods")]
    assert deleted(client) == ["a", "b"]
    assert grace_periods(client) == [0, 0]
    assert client.stored("pods", "default", "c") is not None


async def test_a_second_pass_with_synced_caches_deletes_nothing_more() -> None:
    controller, client, _ = make(
        node("n1"),
        pod("a", "Succeeded"),
        pod("b", "Succeeded"),
        pod("c", node=None, terminating=True),
        threshold=1,
    )
    await controller.reconcile(GC_KEY)
    writes = len(client.writes())
    assert writes == 3  # one terminated delete, one status patch + delete for the unscheduled one
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile(GC_KEY)
    assert len(client.writes()) == writes


async def test_the_default_threshold_keeps_a_few_terminated_pods() -> None:
    controller, client, _ = make(node("n1"), pod("a", "Succeeded"), pod("b", "Failed"))
    await controller.reconcile(GC_KEY)
    assert client.verbs() == []


# --- reconcile: orphaned pods -------------------------------------------------------------------------


async def test_pods_of_a_deleted_node_are_failed_and_deleted_after_quarantine_and_a_live_check() -> None:
    controller, client, clock = make(node("n1"), pod("orphan", node="gone"), pod("fine", node="n1"))
    await controller.reconcile(GC_KEY)
    assert client.actions == []  # quarantined: no GET yet
    clock.t += 39
    await controller.reconcile(GC_KEY)
    assert client.actions == []
    clock.t += 1
    await controller.reconcile(GC_KEY)
    assert [(a.verb, a.resource, a.name) for a in client.actions] == [
        ("get", "nodes", "gone"),
        ("patch", "pods/status", "orphan"),
        ("delete", "pods", "orphan"),
    ]
    patch = client.writes("patch", "pods/status")[0]
    assert patch.options == {"content_type": STRATEGIC_MERGE_PATCH}
    assert patch.body["status"]["phase"] == "Failed"
    assert patch.body["status"]["conditions"][0]["reason"] == "DeletionByPodGC"
    assert grace_periods(client) == [0]
    assert client.stored("pods", "default", "orphan") is None
    sync_informers(controller.ctx.informers, client)
    clock.t += 100
    await controller.reconcile(GC_KEY)
    assert len(client.writes()) == 2


async def test_the_status_patch_lands_phase_and_condition_on_the_pod() -> None:
    orphan = pod("orphan", node="gone", conditions=[{"type": "Ready", "status": "True"}])
    orphan["metadata"]["finalizers"] = ["example.com/keep"]  # so the fake keeps it after delete
    controller, client, clock = make(orphan)
    await controller.reconcile(GC_KEY)
    clock.t += 40
    await controller.reconcile(GC_KEY)
    stored = client.stored("pods", "default", "orphan")
    assert stored is not None
    assert stored["status"]["phase"] == "Failed"
    assert {c["type"]: c["status"] for c in stored["status"]["conditions"]} == {
        "Ready": "True",
        "DisruptionTarget": "True",
    }


async def test_a_node_the_live_get_still_finds_keeps_its_pods() -> None:
    controller, client, clock = make(pod("p", node="late"))
    client.add(node("late"))  # created after the informer's last sync
    await controller.reconcile(GC_KEY)
    clock.t += 40
    await controller.reconcile(GC_KEY)
    assert client.verbs() == []
    assert [(a.verb, a.name) for a in client.actions] == [("get", "late")]


async def test_a_node_that_reappears_in_the_cache_is_not_checked() -> None:
    controller, client, clock = make(pod("p", node="late"))
    await controller.reconcile(GC_KEY)
    client.add(node("late"))
    sync_informers(controller.ctx.informers, client)
    clock.t += 40
    await controller.reconcile(GC_KEY)
    assert client.actions == []


async def test_a_failed_node_check_starts_a_new_quarantine() -> None:
    controller, client, clock = make(pod("p", node="gone"))
    client.fail_next("get", "nodes", ApiError(500, {"reason": "InternalError"}))
    await controller.reconcile(GC_KEY)
    clock.t += 40
    await controller.reconcile(GC_KEY)
    assert client.verbs() == []
    clock.t += 39
    await controller.reconcile(GC_KEY)
    assert client.verbs() == []
    clock.t += 1
    await controller.reconcile(GC_KEY)
    assert client.verbs() == [("patch", "pods/status"), ("delete", "pods")]


async def test_a_terminated_orphan_is_deleted_without_a_status_patch() -> None:
    controller, client, clock = make(pod("done", "Succeeded", node="gone"))
    await controller.reconcile(GC_KEY)
    clock.t += 40
    await controller.reconcile(GC_KEY)
    assert client.verbs() == [("delete", "pods")]


async def test_a_failed_status_patch_leaves_the_pod_for_the_next_pass() -> None:
    controller, client, _ = make(pod("p", node=None, terminating=True))
    client.fail_next("patch", "pods/status", ApiError(500, {"reason": "InternalError"}))
    await controller.process(GC_KEY)
    assert client.verbs() == [("patch", "pods/status")]
    assert controller.queue.requeues(GC_KEY) == 0  # per-pod failures wait for the next period
    await controller.process(GC_KEY)
    assert client.verbs() == [("patch", "pods/status"), ("patch", "pods/status"), ("delete", "pods")]


async def test_a_pod_already_gone_is_not_an_error() -> None:
    controller, client, _ = make(pod("a", "Succeeded"), pod("b", "Succeeded"), threshold=1)
    client.fail_next("delete", "pods", ApiError(404, {"reason": "NotFound"}))
    await controller.process(GC_KEY)
    assert controller.queue.requeues(GC_KEY) == 0


# --- reconcile: terminating pods --------------------------------------------------------------------------


async def test_terminating_pods_on_an_out_of_service_node_are_failed_and_force_deleted() -> None:
    controller, client, _ = make(
        node("dead", ready=False, taints=[OUT_OF_SERVICE]),
        node("sick", ready=False),
        pod("stuck", node="dead", terminating=True),
        pod("running", node="dead"),
        pod("waiting", node="sick", terminating=True),
    )
    await controller.reconcile(GC_KEY)
    assert [(a.verb, a.resource, a.name) for a in client.writes()] == [
        ("patch", "pods/status", "stuck"),
        ("delete", "pods", "stuck"),
    ]
    assert client.writes("patch")[0].body == {"metadata": {"uid": "uid-stuck"}, "status": {"phase": "Failed"}}


async def test_unscheduled_terminating_pods_are_force_deleted() -> None:
    controller, client, _ = make(
        pod("never-ran", "Pending", node=None, terminating=True), pod("queued", "Pending", node=None)
    )
    await controller.reconcile(GC_KEY)
    assert [(a.verb, a.name) for a in client.writes()] == [("patch", "never-ran"), ("delete", "never-ran")]


# --- running ------------------------------------------------------------------------------------------


async def test_run_starts_a_pass_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient([pod("a", "Succeeded"), pod("b", "Succeeded")])
    ctx = ControllerContext(
        client,
        informers_from(client, "pods", "nodes"),
        FakeRecorder(),
        Options(terminated_pod_gc_threshold=1),
    )
    controller = PodGCController(ctx, gc_check_period=3600)
    deleting = asyncio.Event()
    real_delete = client.delete

    async def delete(resource: str, name: str, **options: Any) -> dict[str, Any]:
        deleting.set()
        return await real_delete(resource, name, **options)

    monkeypatch.setattr(client, "delete", delete)
    task = asyncio.create_task(controller.run())
    await asyncio.wait_for(deleting.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deleted(client) == ["a"]


def test_the_controller_takes_its_period_and_quarantine_as_arguments() -> None:
    controller, _, _ = make()
    assert (controller.gc_check_period, controller.quarantine_time) == (20.0, 40.0)
    assert controller.name == "pod-garbage-collector-controller"
    assert set(controller.ctx.informers.informers) == {"pods", "nodes"}
