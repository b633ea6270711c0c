"""namespace-controller: a namespace being deleted is emptied of every namespaced resource, gets
upstream's deletion conditions, and loses the `kubernetes` finalizer once nothing remains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.namespace import (
    CONDITION_TYPES,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    DELETION_GRACE_PERIOD,
    FINALIZERS_REMAINING,
    OK_MESSAGES,
    OK_REASONS,
    NamespaceController,
    Remaining,
    deletable_resources,
    deletion_conditions,
    finalized_spec,
    gvr_string,
    new,
    pod_grace_estimate,
    remaining,
    requeue_delay,
    updated_conditions,
)
from controller_manager.options import Options
from kubeapi.resources import BUILTIN_REGISTRY, Resource
from kubeclient.errors import ApiError

Obj = dict[str, Any]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW_TEXT = "2026-03-01T12:00:00Z"
DELETED_AT = "2026-03-01T11:59:50Z"  # ten seconds ago


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def namespace(
    name: str = "test",
    *,
    deleting: bool = True,
    finalizers: list[str] | None = None,
    phase: str = "Terminating",
    conditions: list[Obj] | None = None,
) -> Obj:
    meta: Obj = {"name": name, "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = DELETED_AT
    status: Obj = {"phase": phase}
    if conditions is not None:
        status["conditions"] = conditions
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"] if finalizers is None else finalizers},
        "status": status,
    }


def pod(name: str, ns: str = "test", **meta: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, **meta},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Running"},
    }


def configmap(name: str, ns: str = "test", **meta: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, **meta}}


def deployment(name: str, ns: str = "test") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns}}


def make(*objects: Obj) -> tuple[NamespaceController, FakeClient, FakeClock]:
    client = FakeClient(objects)
    clock = FakeClock()
    ctx = ControllerContext(
        client, informers_from(client, "namespaces"), FakeRecorder(), Options(), clock=clock, now=lambda: NOW
    )
    return NamespaceController(ctx), client, clock


def ok_conditions() -> list[Obj]:
    return [
        {
            "type": t,
            "status": "False",
            "lastTransitionTime": NOW_TEXT,
            "reason": OK_REASONS[t],
            "message": OK_MESSAGES[t],
        }
        for t in CONDITION_TYPES
    ]


def by_type(conditions: list[Obj]) -> dict[str, Obj]:
    return {c["type"]: c for c in conditions}


# --- the controller -----------------------------------------------------------------------------


async def test_a_deleted_namespace_is_emptied_and_then_finalized() -> None:
    controller, client, _ = make(
        namespace(),
        pod("web-1"),
        pod("web-2"),
        configmap("settings"),
        deployment("web"),
        pod("elsewhere", ns="default"),
        namespace("default", deleting=False),
    )
    await controller.reconcile("test")

    deleted = [(a.resource, a.name) for a in client.writes("delete")]
    assert sorted(deleted) == [
        ("configmaps", "settings"),
        ("deployments", "web"),
        ("pods", "web-1"),
        ("pods", "web-2"),
    ]
    assert all(a.namespace == "test" for a in client.writes("delete"))
    assert all(a.options["propagation_policy"] == "Background" for a in client.writes("delete"))
    assert client.stored("pods", "default", "elsewhere") is not None
    assert client.verbs()[-2:] == [("update", "namespaces/status"), ("update", "namespaces/finalize")]
    status = client.writes("update", "namespaces/status")[0].body["status"]
    assert status["conditions"] == ok_conditions()
    finalize = client.writes("update", "namespaces/finalize")[0]
    assert finalize.name == "test"
    assert finalize.body["spec"]["finalizers"] == []


async def test_a_second_run_after_finalizing_writes_nothing() -> None:
    controller, client, _ = make(namespace(), pod("web-1"), configmap("settings"))
    await controller.reconcile("test")
    sync_informers(controller.ctx.informers, client)
    client.actions.clear()
    await controller.reconcile("test")
    assert client.writes() == []


async def test_an_empty_namespace_is_finalized_keeping_other_finalizers() -> None:
    controller, client, _ = make(namespace(finalizers=["kubernetes", "example.com/z", "example.com/a"]))
    await controller.reconcile("test")
    assert client.writes("delete") == []
    finalize = client.writes("update", "namespaces/finalize")[0]
    assert finalize.body["spec"]["finalizers"] == ["example.com/a", "example.com/z"]
    # The other finalizers' owners still have work: content is checked again, nothing written.
    sync_informers(controller.ctx.informers, client)
    client.actions.clear()
    await controller.reconcile("test")
    assert client.writes() == []


async def test_content_held_by_finalizers_sets_conditions_and_waits_without_finalizing() -> None:
    controller, client, clock = make(
        namespace(), configmap("held", finalizers=["example.com/hold"]), pod("web-1")
    )
    await controller.reconcile("test")

    assert sorted((a.resource, a.name) for a in client.writes("delete")) == [
        ("configmaps", "held"),
        ("pods", "web-1"),
    ]
    assert client.writes("update", "namespaces/finalize") == []
    conditions = by_type(client.stored("namespaces", "", "test")["status"]["conditions"])
    assert conditions[CONTENT_REMAINING] == {
        "type": CONTENT_REMAINING,
        "status": "True",
        "lastTransitionTime": NOW_TEXT,
        "reason": "SomeResourcesRemain",
        "message": "Some resources are remaining: configmaps. has 1 resource instances",
    }
    assert conditions[FINALIZERS_REMAINING]["reason"] == "SomeFinalizerRemain"
    assert conditions[FINALIZERS_REMAINING]["message"] == (
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    )
    assert conditions[CONTENT_FAILURE]["status"] == "False"
    # Looked at again within 1-5 s (upstream would wait 15/2 + 1 s).
    assert controller.queue.get_nowait() is None
    clock.t += 5.0
    assert controller.queue.get_nowait() == "test"


async def test_a_namespace_only_waiting_for_finalizers_is_checked_again_without_writes() -> None:
    controller, client, _ = make(namespace(), configmap("held", finalizers=["example.com/hold"]))
    await controller.reconcile("test")
    sync_informers(controller.ctx.informers, client)
    client.actions.clear()
    await controller.reconcile("test")
    assert client.writes() == []  # already deleting: not deleted again; conditions unchanged


async def test_once_the_held_content_goes_the_conditions_clear_and_the_namespace_is_finalized() -> None:
    controller, client, _ = make(namespace(), configmap("held", finalizers=["example.com/hold"]))
    await controller.reconcile("test")
    del client.objects[("configmaps", "test", "held")]  # its finalizer's owner finished
    sync_informers(controller.ctx.informers, client)
    client.actions.clear()

    await controller.reconcile("test")

    assert client.verbs() == [("update", "namespaces/status"), ("update", "namespaces/finalize")]
    conditions = client.writes("update", "namespaces/status")[0].body["status"]["conditions"]
    assert by_type(conditions)[CONTENT_REMAINING]["status"] == "False"
    assert by_type(conditions)[CONTENT_REMAINING]["message"] == "All content successfully removed"


async def test_a_failed_delete_sets_the_content_failure_condition_and_retries() -> None:
    controller, client, _ = make(namespace(), configmap("settings"))
    client.fail_next(
        "delete", "configmaps", ApiError(500, {"reason": "InternalError", "message": "etcd down"})
    )
    controller.queue.add("test")
    key = controller.queue.get_nowait()
    await controller.process(str(key))

    conditions = by_type(client.stored("namespaces", "", "test")["status"]["conditions"])
    assert conditions[CONTENT_FAILURE]["status"] == "True"
    assert conditions[CONTENT_FAILURE]["reason"] == "ContentDeletionFailed"
    assert (
        conditions[CONTENT_FAILURE]["message"]
        == "Failed to delete all resource types, 1 remaining: etcd down"
    )
    assert client.writes("update", "namespaces/finalize") == []
    assert controller.queue.requeues("test") == 1

    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("test")  # the retry succeeds
    assert client.stored("configmaps", "test", "settings") is None
    assert client.writes("update", "namespaces/finalize")


async def test_a_conflict_finalizing_is_retried() -> None:
    controller, client, _ = make(namespace())
    client.fail_next(
        "update", "namespaces/finalize", ApiError(409, {"reason": "Conflict", "message": "modified"})
    )
    controller.queue.add("test")
    await controller.process(str(controller.queue.get_nowait()))
    assert controller.queue.requeues("test") == 1
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("test")
    assert len(client.writes("update", "namespaces/finalize")) == 2


async def test_a_namespace_not_yet_terminating_gets_the_phase_first() -> None:
    controller, client, _ = make(namespace(phase="Active"))
    await controller.reconcile("test")
    first = client.writes()[0]
    assert (first.verb, first.resource) == ("update", "namespaces/status")
    assert first.body["status"]["phase"] == "Terminating"


async def test_namespaces_not_being_deleted_are_ignored() -> None:
    controller, client, _ = make(namespace(deleting=False), pod("web-1"))
    controller.enqueue_namespace(namespace(deleting=False))
    assert controller.queue.get_nowait() is None
    assert not controller.queue._waiting
    await controller.reconcile("test")
    assert client.actions == []


async def test_a_namespace_gone_from_the_cache_is_ignored() -> None:
    controller, client, _ = make()
    await controller.reconcile("test")
    assert client.actions == []


async def test_a_deleted_namespace_is_queued_after_the_deletion_grace_period() -> None:
    controller, _, clock = make(namespace())
    controller.enqueue_namespace(namespace())
    assert controller.queue.get_nowait() is None
    clock.t += DELETION_GRACE_PERIOD
    assert controller.queue.get_nowait() == "test"


async def test_the_namespace_vanishing_mid_deletion_ends_quietly() -> None:
    controller, client, _ = make(namespace())
    client.fail_next("update", "namespaces/status", ApiError(404, {"reason": "NotFound"}))
    client.fail_next("update", "namespaces/finalize", ApiError(404, {"reason": "NotFound"}))
    await controller.reconcile("test")  # no exception


def test_new_uses_the_namespace_workers() -> None:
    client = FakeClient()
    ctx = ControllerContext(
        client, informers_from(client), FakeRecorder(), Options(concurrent_namespace_syncs=3)
    )
    controller = new(ctx)
    assert controller.workers == 3
    assert controller.name == "namespace-controller"
    assert "namespaces" in ctx.informers.informers


# --- pure ---------------------------------------------------------------------------------------

RESOURCES = {(r.group, r.name): r for r in BUILTIN_REGISTRY.resources}
PODS, CONFIGMAPS, DEPLOYMENTS = (
    RESOURCES[("", "pods")],
    RESOURCES[("", "configmaps")],
    RESOURCES[("apps", "deployments")],
)


def test_deletable_resources_are_the_namespaced_ones_that_list_and_delete() -> None:
    found = {(r.group, r.name) for r in deletable_resources()}
    assert {
        ("", "pods"),
        ("", "configmaps"),
        ("", "secrets"),
        ("apps", "deployments"),
        ("batch", "jobs"),
    } <= found
    assert ("", "namespaces") not in found and ("", "nodes") not in found
    assert all(r.namespaced for r in deletable_resources())


@pytest.mark.parametrize(
    ("resource", "expected"),
    [(PODS, "/v1, Resource=pods"), (DEPLOYMENTS, "apps/v1, Resource=deployments")],
)
def test_gvr_string_matches_upstream(resource: Resource, expected: str) -> None:
    assert gvr_string(resource) == expected


@pytest.mark.parametrize(
    ("pods", "elapsed", "expected"),
    [
        pytest.param([], 0, 0, id="no pods"),
        pytest.param([{"spec": {"terminationGracePeriodSeconds": 30}}], 10, 30, id="within the grace period"),
        pytest.param([{"spec": {"terminationGracePeriodSeconds": 30}}], 30, 0, id="grace period over"),
        pytest.param(
            [
                {"spec": {"terminationGracePeriodSeconds": 30}},
                {"spec": {"terminationGracePeriodSeconds": 60}},
            ],
            10,
            60,
            id="the longest grace",
        ),
        pytest.param(
            [{"spec": {"terminationGracePeriodSeconds": 90}, "status": {"phase": "Succeeded"}}],
            10,
            0,
            id="terminal pods do not count",
        ),
        pytest.param([{"spec": {}}], 0, 0, id="no grace period set"),
    ],
)
def test_pod_grace_estimate(pods: list[Obj], elapsed: int, expected: int) -> None:
    deleted_at = NOW - timedelta(seconds=elapsed)
    assert pod_grace_estimate(pods, deleted_at, NOW) == expected


@pytest.mark.parametrize(
    ("items", "estimate", "expected"),
    [
        pytest.param([], 0, Remaining(), id="nothing left"),
        pytest.param([], 30, Remaining(), id="nothing left, whatever the estimate"),
        pytest.param(
            [{"metadata": {"finalizers": ["a", "b"]}}, {"metadata": {"finalizers": ["a"]}}],
            0,
            Remaining(15, 2, {"a": 2, "b": 1}),
            id="finalizers: the default estimate",
        ),
        pytest.param([{"metadata": {}}], 30, Remaining(30, 1, {}), id="pods in their grace period"),
        pytest.param(
            [{"metadata": {}}],
            0,
            Remaining(
                0, 1, error="unexpected items still remain in namespace: test for gvr: /v1, Resource=pods"
            ),
            id="nothing holds them: an error",
        ),
    ],
)
def test_remaining(items: list[Obj], estimate: int, expected: Remaining) -> None:
    assert remaining(PODS, "test", items, estimate) == expected


def test_deletion_conditions_word_failures_as_upstream() -> None:
    left = {
        PODS: Remaining(30, 2, {"example.com/x": 1}),
        DEPLOYMENTS: Remaining(15, 1, {"example.com/x": 1, "foregroundDeletion": 1}),
        CONFIGMAPS: Remaining(),
    }
    failing = deletion_conditions(left, ["b failed", "a failed"])
    assert failing == {
        CONTENT_FAILURE: (
            "ContentDeletionFailed",
            "Failed to delete all resource types, 2 remaining: a failed, b failed",
        ),
        CONTENT_REMAINING: (
            "SomeResourcesRemain",
            "Some resources are remaining: deployments.apps has 1 resource instances, "
            "pods. has 2 resource instances",
        ),
        FINALIZERS_REMAINING: (
            "SomeFinalizerRemain",
            "Some finalizers are remaining: example.com/x in 2 resource instances, "
            "foregroundDeletion in 1 resource instances",
        ),
    }
    assert deletion_conditions({PODS: Remaining()}, []) == {}


def test_updated_conditions_add_every_type_with_its_ok_wording() -> None:
    assert updated_conditions([], {}, NOW_TEXT) == ok_conditions()


def test_updated_conditions_are_none_when_nothing_changed() -> None:
    assert updated_conditions(ok_conditions(), {}, "2026-03-02T00:00:00Z") is None


def test_updated_conditions_move_the_transition_time_only_when_the_status_flips() -> None:
    later = "2026-03-02T00:00:00Z"
    flipped = updated_conditions(ok_conditions(), {CONTENT_REMAINING: ("SomeResourcesRemain", "m1")}, later)
    assert flipped is not None
    assert by_type(flipped)[CONTENT_REMAINING] == {
        "type": CONTENT_REMAINING,
        "status": "True",
        "lastTransitionTime": later,
        "reason": "SomeResourcesRemain",
        "message": "m1",
    }
    assert by_type(flipped)[CONTENT_FAILURE]["lastTransitionTime"] == NOW_TEXT
    reworded = updated_conditions(
        flipped, {CONTENT_REMAINING: ("SomeResourcesRemain", "m2")}, "2026-03-03T00:00:00Z"
    )
    assert reworded is not None
    assert by_type(reworded)[CONTENT_REMAINING]["message"] == "m2"
    assert by_type(reworded)[CONTENT_REMAINING]["lastTransitionTime"] == later


def test_updated_conditions_keep_conditions_of_other_types() -> None:
    other = {"type": "Example", "status": "True", "reason": "R", "message": "M"}
    result = updated_conditions([other], {}, NOW_TEXT)
    assert result is not None and result[0] == other and len(result) == 6


@pytest.mark.parametrize(("estimate", "delay"), [(0, 1.0), (1, 1.0), (4, 3.0), (15, 5.0), (30, 5.0)])
def test_requeue_delay_stays_within_one_to_five_seconds(estimate: int, delay: float) -> None:
    assert requeue_delay(estimate) == delay


@pytest.mark.parametrize(
    ("finalizers", "expected"),
    [
        (["kubernetes"], []),
        (["kubernetes", "b/x", "a/y", "b/x"], ["a/y", "b/x"]),
        (["a/y"], ["a/y"]),
        ([], []),
    ],
)
def test_finalized_spec_drops_only_the_kubernetes_finalizer(
    finalizers: list[str], expected: list[str]
) -> None:
    assert finalized_spec({"spec": {"finalizers": finalizers}}) == expected
