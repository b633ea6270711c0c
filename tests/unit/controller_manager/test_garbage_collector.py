"""garbage-collector-controller: the owner graph (pure, tables) and the collector driven against a
fake apiserver that applies propagation finalizers and delete preconditions as ours does."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.garbage_collector import (
    UNOBSERVED_RECHECK,
    AbsentOwners,
    GarbageCollector,
    collectable_resources,
    finalizer_patch,
    new,
    remove_refs_patch,
    resource_for,
    unblock_patch,
)
from controller_manager.controllers.owner_graph import (
    FOREGROUND,
    ORPHAN,
    Decision,
    Identity,
    OwnerGraph,
    OwnerRef,
    Verdict,
    decide,
    references_diff,
    starts_waiting_for,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError
from kubeclient.informer import SharedInformerFactory
from kubeclient.rest import MERGE_PATCH, STRATEGIC_MERGE_PATCH, resolve

Obj = dict[str, Any]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
DELETED_AT = "2026-03-01T11:59:00Z"


# --- objects ----------------------------------------------------------------------------------


def ref(kind: str, name: str, uid: str, *, block: bool = True, api_version: str = "apps/v1") -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": block,
    }


def deployment(name: str = "web", uid: str = "dep-uid", **meta: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "uid": uid, **meta},
        "spec": {"replicas": 2},
    }


def replicaset(
    name: str = "web-abc", uid: str = "rs-uid", owners: list[Obj] | None = None, **meta: Any
) -> Obj:
    owners = [ref("Deployment", "web", "dep-uid")] if owners is None else owners
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default", "uid": uid, "ownerReferences": owners, **meta},
        "spec": {"replicas": 2},
    }


def pod(name: str, owners: list[Obj] | None = None, *, namespace: str = "default", **meta: Any) -> Obj:
    owners = [ref("ReplicaSet", "web-abc", "rs-uid")] if owners is None else owners
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "ownerReferences": owners,
            **meta,
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def chain() -> list[Obj]:
    return [deployment(), replicaset(), pod("web-abc-1"), pod("web-abc-2")]


# --- a fake apiserver that does deletion the way apiserver/rest.py does ----------------------


class ApiServerLikeClient(FakeClient):
    """FakeClient plus what deletion needs: uid/resourceVersion preconditions (409), the
    foregroundDeletion/orphan finalizers a propagationPolicy adds, objects held by finalizers
    marked with a deletionTimestamp (a new resourceVersion), and removal once a patch takes the
    last finalizer off a deleting object."""

    async def delete(self, resource: str, name: str, *, namespace: str | None = None, **options: Any) -> Obj:
        plural = resolve(resource).name
        self._record("delete", plural, namespace, name, None, **options)
        current = self._existing(plural, namespace, name)
        meta = current["metadata"]
        for field, value in (options.get("preconditions") or {}).items():
            if value != meta.get(field):
                raise ApiError(
                    409, {"reason": "Conflict", "code": 409, "message": f"Precondition failed: {field}"}
                )
        finalizers = list(meta.get("finalizers") or [])
        extra = {"Foreground": FOREGROUND, "Orphan": ORPHAN}.get(options.get("propagation_policy") or "")
        if extra and extra not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(extra)
        if not finalizers:
            del self.objects[(plural, namespace or "", name)]
            return {"kind": "Status", "status": "Success"}
        marked = copy.deepcopy(current)
        marked["metadata"]["finalizers"] = finalizers
        marked["metadata"].setdefault("deletionTimestamp", DELETED_AT)
        return copy.deepcopy(self._replace(plural, marked))

    async def patch(self, resource: str, name: str, patch: Any, **options: Any) -> Obj:
        plural = resolve(resource).name
        namespace = options.get("namespace")
        wanted = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
        current = self.objects.get((plural, namespace or "", name))
        if wanted and current is not None and wanted != current["metadata"]["resourceVersion"]:
            self._record("patch", plural, namespace, name, options.get("subresource"), patch)
            raise ApiError(
                409, {"reason": "Conflict", "code": 409, "message": "the object has been modified"}
            )
        patched = await super().patch(resource, name, patch, **options)
        meta = patched["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            del self.objects[(plural, namespace or "", name)]
        return patched


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(*objects: Obj) -> tuple[GarbageCollector, ApiServerLikeClient, SharedInformerFactory, FakeRecorder]:
    client = ApiServerLikeClient(objects)
    factory = informers_from(client)
    recorder = FakeRecorder()
    ctx = ControllerContext(client, factory, recorder, Options(), clock=FakeClock(), now=lambda: NOW)
    gc = GarbageCollector(ctx)
    settle(factory, client)
    return gc, client, factory, recorder


def settle(factory: SharedInformerFactory, client: FakeClient) -> None:
    """Deliver what the watches would: the handlers see every difference (adds, updates with a new
    resourceVersion, deletes)."""
    sync_informers(factory, client, deliver=True)


async def drain(gc: GarbageCollector) -> list[str]:
    """Process every key that is ready now; the keys processed."""
    keys: list[str] = []
    while (key := gc.queue.get_nowait()) is not None:
        keys.append(str(key))
        await gc.process(str(key))
    return keys


async def run_until_quiet(gc: GarbageCollector, client: FakeClient, factory: SharedInformerFactory) -> None:
    """Workers and watches in turn until nothing is left to do."""
    for _ in range(20):
        settle(factory, client)
        if not await drain(gc):
            return
    raise AssertionError("the garbage collector did not settle")


def names(client: FakeClient) -> set[str]:
    return {name for (_, _, name) in client.objects}


def deletes(client: FakeClient) -> list[tuple[str, str, Any]]:
    return [(a.resource, a.name, a.options.get("propagation_policy")) for a in client.writes("delete")]


# --- background ---------------------------------------------------------------------------------


async def test_deleting_a_deployment_in_the_background_deletes_its_replicaset_then_its_pods() -> None:
    gc, client, factory, _ = make(*chain())
    await run_until_quiet(gc, client, factory)
    assert client.writes() == []  # every owner is alive: nothing to collect

    await client.delete("deployments", "web", namespace="default", propagation_policy="Background")
    client.actions.clear()
    await run_until_quiet(gc, client, factory)

    assert names(client) == set()
    assert deletes(client) == [
        ("replicasets", "web-abc", "Background"),
        ("pods", "web-abc-1", "Background"),
        ("pods", "web-abc-2", "Background"),
    ]
    assert client.writes("delete")[0].options["preconditions"]["uid"] == "rs-uid"
    # The deleted owners were seen going: no GET was needed to know they are absent.
    assert [a.verb for a in client.actions if a.verb == "get"] == []


async def test_a_second_pass_after_background_collection_writes_nothing() -> None:
    gc, client, factory, _ = make(*chain())
    await client.delete("deployments", "web", namespace="default")
    await run_until_quiet(gc, client, factory)
    client.actions.clear()
    for uid in ("rs-uid", "uid-web-abc-1", "dep-uid"):
        gc.queue.add(f"delete/{uid}")
    await run_until_quiet(gc, client, factory)
    assert client.writes() == []


# --- foreground ---------------------------------------------------------------------------------


async def test_foreground_deletion_deletes_the_chain_bottom_up_and_the_owners_go_last() -> None:
    gc, client, factory, _ = make(*chain())
    await client.delete("deployments", "web", namespace="default", propagation_policy="Foreground")
    assert client.stored("deployments", "default", "web")["metadata"]["finalizers"] == [FOREGROUND]
    client.actions.clear()

    await run_until_quiet(gc, client, factory)

    assert names(client) == set()
    # The ReplicaSet has dependents of its own: it is deleted in the foreground, so they go first.
    # (Until the watch shows a delete, an object may be attempted again; the repeat finds it
    # deleting or gone and changes nothing.)
    assert list(dict.fromkeys(deletes(client))) == [
        ("replicasets", "web-abc", "Foreground"),
        ("pods", "web-abc-1", "Background"),
        ("pods", "web-abc-2", "Background"),
    ]
    patches = [(a.resource, a.name, a.body) for a in client.writes("patch")]
    assert [(r, n) for r, n, _ in patches] == [("replicasets", "web-abc"), ("deployments", "web")]
    assert all(body["metadata"]["finalizers"] is None for _, _, body in patches)
    assert all(a.options["content_type"] == MERGE_PATCH for a in client.writes("patch"))


async def test_a_foreground_owner_keeps_its_finalizer_while_a_blocking_dependent_remains() -> None:
    held = pod("web-abc-1", finalizers=["example.com/hold"])
    gc, client, factory, _ = make(replicaset(owners=[]), held)
    await client.delete("replicasets", "web-abc", namespace="default", propagation_policy="Foreground")
    client.actions.clear()

    await run_until_quiet(gc, client, factory)

    assert deletes(client) == [("pods", "web-abc-1", "Background")]
    assert client.writes("patch") == []
    assert client.stored("replicasets", "default", "web-abc")["metadata"]["finalizers"] == [FOREGROUND]

    # The pod's own finalizer goes (its controller is done): the owner may go now.
    await client.patch("pods", "web-abc-1", {"metadata": {"finalizers": None}}, namespace="default")
    client.actions.clear()
    await run_until_quiet(gc, client, factory)
    assert names(client) == set()
    assert [(a.resource, a.name) for a in client.writes("patch")] == [("replicasets", "web-abc")]


async def test_a_non_blocking_dependent_does_not_hold_a_foreground_owner() -> None:
    gc, client, factory, _ = make(
        replicaset(owners=[]), pod("web-abc-1", [ref("ReplicaSet", "web-abc", "rs-uid", block=False)])
    )
    gc.queue.add("delete/rs-uid")
    await client.delete("replicasets", "web-abc", namespace="default", propagation_policy="Foreground")
    settle(factory, client)
    await drain(gc)
    # The owner goes at once; the pod is then collected as a dependent of an absent owner.
    assert client.stored("replicasets", "default", "web-abc") is None
    await run_until_quiet(gc, client, factory)
    assert names(client) == set()


# --- orphan -------------------------------------------------------------------------------------


async def test_orphaning_removes_the_owner_reference_from_every_dependent_then_the_finalizer() -> None:
    gc, client, factory, _ = make(replicaset(), pod("web-abc-1"), pod("web-abc-2"))
    await client.delete("replicasets", "web-abc", namespace="default", propagation_policy="Orphan")
    client.actions.clear()

    await run_until_quiet(gc, client, factory)

    assert names(client) == {"web-abc-1", "web-abc-2"}  # the pods stay, the ReplicaSet went
    for name in ("web-abc-1", "web-abc-2"):
        assert client.stored("pods", "default", name)["metadata"]["ownerReferences"] == []
    patches = client.writes("patch")
    assert [(a.resource, a.name) for a in patches] == [
        ("pods", "web-abc-1"),
        ("pods", "web-abc-2"),
        ("replicasets", "web-abc"),
    ]
    assert patches[0].body == remove_refs_patch("uid-web-abc-1", ["rs-uid"])
    assert patches[0].options["content_type"] == STRATEGIC_MERGE_PATCH
    assert client.writes("delete") == []


async def test_orphaning_retries_when_a_dependent_cannot_be_patched_and_keeps_the_finalizer() -> None:
    gc, client, factory, _ = make(replicaset(), pod("web-abc-1"))
    await client.delete("replicasets", "web-abc", namespace="default", propagation_policy="Orphan")
    settle(factory, client)
    client.fail_next("patch", "pods", ApiError(500, {"reason": "InternalError", "message": "etcd down"}))

    await drain(gc)

    assert client.stored("replicasets", "default", "web-abc")["metadata"]["finalizers"] == [ORPHAN]
    assert gc.queue.requeues("orphan/rs-uid") == 1
    gc.ctx.clock.t += 1.0  # type: ignore[attr-defined]
    await run_until_quiet(gc, client, factory)
    assert names(client) == {"web-abc-1"}


# --- dangling references and several owners -----------------------------------------------------


async def test_a_pod_whose_owner_never_existed_is_deleted_after_a_live_lookup() -> None:
    gc, client, factory, _ = make(pod("stray", [ref("ReplicaSet", "ghost", "ghost-uid")]))
    await run_until_quiet(gc, client, factory)
    assert deletes(client) == [("pods", "stray", "Background")]
    assert [(a.verb, a.resource, a.name) for a in client.actions if a.verb == "get"] == [
        ("get", "replicasets", "ghost")
    ]


async def test_an_owner_recreated_under_the_same_name_with_another_uid_counts_as_absent() -> None:
    gc, client, factory, _ = make(pod("stray", [ref("ReplicaSet", "web-abc", "old-uid")]))
    client.add(replicaset(uid="new-uid", owners=[]))  # not delivered to the informers yet
    await drain(gc)
    settle(factory, client)
    await run_until_quiet(gc, client, factory)
    assert deletes(client) == [("pods", "stray", "Background")]
    assert client.stored("replicasets", "default", "web-abc") is not None


async def test_an_owner_the_informers_have_not_delivered_yet_is_found_and_nothing_is_deleted() -> None:
    gc, client, factory, _ = make(pod("web-abc-1"))
    client.add(replicaset(owners=[]))  # exists at the apiserver; the watch lags
    keys = await drain(gc)
    assert keys == ["delete/rs-uid"]
    assert client.writes() == []
    assert gc.graph.get("rs-uid") is not None and not gc.graph.get("rs-uid").observed  # type: ignore[union-attr]
    # Looked at again later; by then the informer has it and it is an ordinary owner.
    settle(factory, client)
    gc.ctx.clock.t += UNOBSERVED_RECHECK  # type: ignore[attr-defined]
    await drain(gc)
    assert client.writes() == []
    assert gc.graph.get("rs-uid").observed  # type: ignore[union-attr]


async def test_a_dependent_with_another_live_owner_only_loses_the_dangling_reference() -> None:
    two = pod("shared", [ref("ReplicaSet", "a", "a-uid"), ref("ReplicaSet", "b", "b-uid")])
    gc, client, factory, _ = make(
        replicaset("a", "a-uid", owners=[]), replicaset("b", "b-uid", owners=[]), two
    )
    await client.delete("replicasets", "a", namespace="default")
    client.actions.clear()

    await run_until_quiet(gc, client, factory)

    assert client.writes("delete") == []
    [patch] = client.writes("patch")
    assert patch.body == remove_refs_patch("uid-shared", ["a-uid"])
    assert [r["uid"] for r in client.stored("pods", "default", "shared")["metadata"]["ownerReferences"]] == [
        "b-uid"
    ]

    client.actions.clear()
    gc.queue.add("delete/uid-shared")
    await run_until_quiet(gc, client, factory)
    assert client.writes() == []  # a second pass finds nothing to do


async def test_a_dependent_of_a_live_owner_and_a_foreground_owner_drops_the_waiting_reference() -> None:
    two = pod("shared", [ref("ReplicaSet", "a", "a-uid"), ref("ReplicaSet", "b", "b-uid")])
    gc, client, factory, _ = make(
        replicaset("a", "a-uid", owners=[]), replicaset("b", "b-uid", owners=[]), two
    )
    await client.delete("replicasets", "a", namespace="default", propagation_policy="Foreground")
    client.actions.clear()

    await run_until_quiet(gc, client, factory)

    assert names(client) == {"b", "shared"}
    assert client.writes("delete") == []
    # The dependent drops its reference to the waiting owner, which then has nothing to wait for.
    assert [(a.resource, a.name, a.body) for a in client.writes("patch")] == [
        ("pods", "shared", remove_refs_patch("uid-shared", ["a-uid"])),
        ("replicasets", "a", {"metadata": {"resourceVersion": "4", "finalizers": None}}),
    ]


# --- conflicts ----------------------------------------------------------------------------------


async def test_a_stale_cache_delete_conflicts_and_is_retried_when_the_owners_did_not_change() -> None:
    gc, client, factory, _ = make(replicaset(), pod("web-abc-1"))
    await client.delete("replicasets", "web-abc", namespace="default")
    settle(factory, client)
    # The pod changed since the informer saw it (a status update), not its owners.
    await client.patch("pods", "web-abc-1", {"metadata": {"labels": {"x": "y"}}}, namespace="default")
    client.actions.clear()

    await drain(gc)

    first, second = client.writes("delete")
    assert set(first.options["preconditions"]) == {"uid", "resourceVersion"}
    assert second.options["preconditions"] == {"uid": "uid-web-abc-1"}
    assert names(client) == set()


async def test_a_dependent_adopted_meanwhile_is_not_deleted_and_is_decided_again() -> None:
    gc, client, factory, _ = make(replicaset(), replicaset("other", "other-uid", owners=[]), pod("web-abc-1"))
    await client.delete("replicasets", "web-abc", namespace="default")
    settle(factory, client)
    adopted = [ref("ReplicaSet", "other", "other-uid")]
    await client.patch("pods", "web-abc-1", {"metadata": {"ownerReferences": adopted}}, namespace="default")

    await drain(gc)

    assert client.stored("pods", "default", "web-abc-1") is not None
    assert gc.queue.requeues("delete/uid-web-abc-1") == 1
    gc.ctx.clock.t += 1.0  # type: ignore[attr-defined]
    await run_until_quiet(gc, client, factory)
    assert client.stored("pods", "default", "web-abc-1") is not None


async def test_a_conflict_removing_the_foreground_finalizer_requeues_the_owner() -> None:
    gc, client, factory, _ = make(replicaset(owners=[]))
    await client.delete("replicasets", "web-abc", namespace="default", propagation_policy="Foreground")
    settle(factory, client)
    client.fail_next("patch", "replicasets", ApiError(409, {"reason": "Conflict", "message": "modified"}))

    await drain(gc)

    assert client.stored("replicasets", "default", "web-abc") is not None
    assert gc.queue.requeues("delete/rs-uid") == 1
    gc.ctx.clock.t += 1.0  # type: ignore[attr-defined]
    await run_until_quiet(gc, client, factory)
    assert names(client) == set()


# --- other behaviour ----------------------------------------------------------------------------


async def test_an_owner_observed_in_another_namespace_is_reported_and_the_dependent_collected() -> None:
    owner = replicaset(owners=[])
    owner["metadata"]["namespace"] = "other"
    gc, client, factory, recorder = make(owner, pod("web-abc-1"))
    assert ("default/web-abc-1", "Warning", "OwnerRefInvalidNamespace") in [e[:3] for e in recorder.events]
    await run_until_quiet(gc, client, factory)
    assert deletes(client) == [("pods", "web-abc-1", "Background")]


async def test_objects_without_owners_are_never_touched() -> None:
    gc, client, factory, _ = make(deployment(), replicaset(owners=[]))
    gc.queue.add("delete/dep-uid")
    gc.queue.add("delete/rs-uid")
    await run_until_quiet(gc, client, factory)
    assert client.writes() == []


def test_new_watches_every_collectable_resource_with_the_gc_workers() -> None:
    client = FakeClient()
    factory = informers_from(client)
    ctx = ControllerContext(client, factory, FakeRecorder(), Options(concurrent_gc_syncs=7))
    gc = new(ctx)
    assert gc.workers == 7
    assert gc.name == "garbage-collector-controller"
    assert {"pods", "replicasets.apps", "deployments.apps", "namespaces", "nodes"} <= set(factory.informers)
    assert "events" not in factory.informers


# --- pure: resources and patches ----------------------------------------------------------------


def test_an_informer_another_controller_asked_for_under_another_name_is_shared() -> None:
    client = FakeClient()
    factory = informers_from(client, "leases.coordination.k8s.io")
    GarbageCollector(ControllerContext(client, factory, FakeRecorder(), Options()))
    factory.informer("leases")
    assert [key for key in factory.informers if key.startswith("leases")] == ["leases.coordination.k8s.io"]


def test_collectable_resources_are_those_with_delete_list_and_watch_less_events() -> None:
    found = {(r.group, r.name) for r in collectable_resources()}
    assert {("", "pods"), ("apps", "replicasets"), ("batch", "jobs"), ("", "namespaces")} <= found
    assert ("", "events") not in found and ("events.k8s.io", "events") not in found
    assert all({"delete", "list", "watch"} <= set(r.verbs) for r in collectable_resources())


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        ("apps/v1", "ReplicaSet", "replicasets"),
        ("v1", "Pod", "pods"),
        ("apps/v1beta2", "Deployment", "deployments"),  # another version of a served group kind
        ("example.com/v1", "Widget", None),
    ],
)
def test_resource_for_maps_owner_references_to_resources(
    api_version: str, kind: str, expected: str | None
) -> None:
    found = resource_for(api_version, kind)
    assert (found.name if found else None) == expected


def test_finalizer_patch_removes_only_that_finalizer_guarded_by_the_resource_version() -> None:
    obj = {"metadata": {"resourceVersion": "7", "finalizers": [FOREGROUND, "example.com/x"]}}
    assert finalizer_patch(obj, FOREGROUND) == {
        "metadata": {"resourceVersion": "7", "finalizers": ["example.com/x"]}
    }
    assert finalizer_patch({"metadata": {"resourceVersion": "7", "finalizers": [ORPHAN]}}, ORPHAN) == {
        "metadata": {"resourceVersion": "7", "finalizers": None}
    }
    assert finalizer_patch(obj, ORPHAN) is None


def test_unblock_patch_turns_off_block_owner_deletion_in_blocking_references_only() -> None:
    obj = pod("p", [ref("ReplicaSet", "a", "a-uid"), ref("ReplicaSet", "b", "b-uid", block=False)])
    patch = unblock_patch(obj)
    assert patch is not None
    assert [(r["uid"], r["blockOwnerDeletion"]) for r in patch["metadata"]["ownerReferences"]] == [
        ("a-uid", False)
    ]
    assert unblock_patch(pod("q", [ref("ReplicaSet", "b", "b-uid", block=False)])) is None


def test_the_absent_owner_cache_forgets_the_least_recently_used() -> None:
    cache = AbsentOwners(size=2)
    a, b, c = (Identity("apps/v1", "ReplicaSet", n, f"{n}-uid", "default") for n in "abc")
    cache.add(a)
    cache.add(b)
    assert a in cache  # a is now the most recently used
    cache.add(c)
    assert a in cache and c in cache and b not in cache
    assert len(cache) == 2


# --- pure: the decision -------------------------------------------------------------------------

S, D, W = Verdict.SOLID, Verdict.DANGLING, Verdict.WAITING


@pytest.mark.parametrize(
    ("verdicts", "finalizers", "has_dependents", "dependent_deleting", "expected"),
    [
        pytest.param({}, (), False, False, Decision("none"), id="no owners: never collected"),
        pytest.param({"a": S}, (), True, False, Decision("none"), id="a solid owner keeps it"),
        pytest.param(
            {"a": S, "b": D},
            (),
            False,
            False,
            Decision("remove_refs", refs=("b",)),
            id="a solid owner keeps it, the dangling reference goes",
        ),
        pytest.param(
            {"a": W, "b": S, "c": D},
            (),
            False,
            False,
            Decision("remove_refs", refs=("a", "c")),
            id="a solid owner keeps it, waiting and dangling references go",
        ),
        pytest.param(
            {"a": D}, (), False, False, Decision("delete", policy="Background"), id="all owners gone"
        ),
        pytest.param(
            {"a": D, "b": D},
            (),
            True,
            False,
            Decision("delete", policy="Background"),
            id="all owners gone, with dependents: background",
        ),
        pytest.param(
            {"a": W},
            (),
            True,
            False,
            Decision("delete", policy="Foreground"),
            id="a waiting owner and dependents: foreground",
        ),
        pytest.param(
            {"a": W},
            (),
            True,
            True,
            Decision("delete", policy="Foreground", unblock=True),
            id="a dependent deleting its dependents too: unblock first (cycle guard)",
        ),
        pytest.param(
            {"a": W},
            (),
            False,
            False,
            Decision("delete", policy="Background"),
            id="a waiting owner and no dependents: background",
        ),
        pytest.param(
            {"a": D},
            (ORPHAN,),
            True,
            False,
            Decision("delete", policy="Orphan"),
            id="an orphan finalizer already there is honoured",
        ),
        pytest.param(
            {"a": D},
            (FOREGROUND,),
            True,
            False,
            Decision("delete", policy="Foreground"),
            id="a foreground finalizer already there is honoured",
        ),
    ],
)
def test_decide(
    verdicts: dict[str, Verdict],
    finalizers: tuple[str, ...],
    has_dependents: bool,
    dependent_deleting: bool,
    expected: Decision,
) -> None:
    got = decide(
        verdicts, finalizers=finalizers, has_dependents=has_dependents, dependent_deleting=dependent_deleting
    )
    assert got == expected


# --- pure: the graph ----------------------------------------------------------------------------

RS = Identity("apps/v1", "ReplicaSet", "web-abc", "rs-uid", "default")
DEP = Identity("apps/v1", "Deployment", "web", "dep-uid", "default")


def pod_identity(name: str, namespace: str = "default") -> Identity:
    return Identity("v1", "Pod", name, f"uid-{name}", namespace)


def test_a_dependent_of_an_unseen_owner_creates_a_virtual_owner_to_verify() -> None:
    graph = OwnerGraph()
    work = graph.observe(pod_identity("p1"), pod("p1"), None)
    assert work.delete == ["rs-uid"]
    owner = graph.get("rs-uid")
    assert owner is not None and not owner.observed and owner.dependents == {"uid-p1"}
    assert owner.identity == RS


def test_observing_the_owner_makes_it_real_and_asks_for_nothing() -> None:
    graph = OwnerGraph()
    graph.observe(pod_identity("p1"), pod("p1"), None)
    work = graph.observe(RS, replicaset(), None)
    assert not work.orphan and work.delete == ["dep-uid"]  # its own owner is the unseen one now
    assert graph.get("rs-uid").observed  # type: ignore[union-attr]
    assert graph.observe(pod_identity("p2"), pod("p2"), None).delete == []


def test_forgetting_an_owner_queues_its_dependents_and_marks_it_absent() -> None:
    graph = OwnerGraph()
    graph.observe(RS, replicaset(), None)
    graph.observe(pod_identity("p1"), pod("p1"), None)
    graph.observe(pod_identity("p2"), pod("p2"), None)
    work = graph.forget(RS)
    assert work.delete == ["uid-p1", "uid-p2"]
    assert work.absent == [RS]
    assert graph.get("rs-uid") is None
    assert graph.get("dep-uid").dependents == set()  # type: ignore[union-attr]


def test_forgetting_a_dependent_queues_an_owner_that_waits_for_it() -> None:
    graph = OwnerGraph()
    deleting = replicaset(owners=[], deletionTimestamp=DELETED_AT, finalizers=[FOREGROUND])
    graph.observe(RS, deleting, None)
    graph.observe(pod_identity("p1"), pod("p1"), None)
    assert graph.forget(pod_identity("p1")).delete == ["rs-uid"]


def test_a_virtual_owner_is_dropped_only_while_still_virtual() -> None:
    graph = OwnerGraph()
    graph.observe(pod_identity("p1"), pod("p1"), None)
    work = graph.forget_virtual(RS)
    assert work.delete == ["uid-p1"] and work.absent == [RS]
    graph.observe(RS, replicaset(), None)
    assert not graph.forget_virtual(RS)  # observed: the informer's word wins


@pytest.mark.parametrize(
    ("old", "new", "finalizer", "expected"),
    [
        pytest.param(
            None, {"metadata": {"deletionTimestamp": "t", "finalizers": [ORPHAN]}}, ORPHAN, True, id="added"
        ),
        pytest.param(
            {"metadata": {}},
            {"metadata": {"deletionTimestamp": "t", "finalizers": [ORPHAN]}},
            ORPHAN,
            True,
            id="deletion started",
        ),
        pytest.param(
            {"metadata": {"deletionTimestamp": "t", "finalizers": [ORPHAN]}},
            {"metadata": {"deletionTimestamp": "t", "finalizers": [ORPHAN]}},
            ORPHAN,
            False,
            id="already waiting",
        ),
        pytest.param(None, {"metadata": {"finalizers": [ORPHAN]}}, ORPHAN, False, id="not being deleted"),
        pytest.param(
            None,
            {"metadata": {"deletionTimestamp": "t", "finalizers": [ORPHAN]}},
            FOREGROUND,
            False,
            id="another finalizer",
        ),
    ],
)
def test_starts_waiting_for(old: Obj | None, new: Obj, finalizer: str, expected: bool) -> None:
    assert starts_waiting_for(old, new, finalizer) is expected


def test_an_owner_starting_foreground_deletion_queues_its_dependents_and_itself() -> None:
    graph = OwnerGraph()
    before = replicaset(owners=[])
    graph.observe(RS, before, None)
    graph.observe(pod_identity("p1"), pod("p1"), None)
    after = replicaset(owners=[], deletionTimestamp=DELETED_AT, finalizers=[FOREGROUND])
    work = graph.observe(RS, after, before)
    assert work.delete == ["uid-p1", "rs-uid"]
    assert graph.get("rs-uid").deleting_dependents  # type: ignore[union-attr]
    assert [n.identity.uid for n in graph.blocking_dependents("rs-uid")] == ["uid-p1"]


def test_an_owner_starting_orphan_deletion_is_queued_for_orphaning() -> None:
    graph = OwnerGraph()
    before = replicaset(owners=[])
    graph.observe(RS, before, None)
    after = replicaset(owners=[], deletionTimestamp=DELETED_AT, finalizers=[ORPHAN])
    assert graph.observe(RS, after, before).orphan == ["rs-uid"]


def test_a_dependent_dropping_a_blocking_reference_queues_the_owner() -> None:
    graph = OwnerGraph()
    graph.observe(RS, replicaset(owners=[]), None)
    graph.observe(pod_identity("p1"), pod("p1"), None)
    work = graph.observe(pod_identity("p1"), pod("p1", []), pod("p1"))
    assert work.delete == ["rs-uid"]
    assert graph.get("rs-uid").dependents == set()  # type: ignore[union-attr]
    unblocked = pod("p2", [ref("ReplicaSet", "web-abc", "rs-uid", block=False)])
    graph.observe(pod_identity("p2"), pod("p2"), None)
    assert graph.observe(pod_identity("p2"), unblocked, pod("p2")).delete == ["rs-uid"]


def test_owner_verdicts_come_from_the_graph_only_for_observed_matching_owners() -> None:
    graph = OwnerGraph()
    graph.observe(pod_identity("p1"), pod("p1"), None)
    rs_ref = OwnerRef.from_dict(ref("ReplicaSet", "web-abc", "rs-uid"))
    assert graph.owner_verdict(rs_ref, "default") is None  # virtual: ask the apiserver
    graph.observe(RS, replicaset(), None)
    assert graph.owner_verdict(rs_ref, "default") is Verdict.SOLID
    assert graph.owner_verdict(rs_ref, "other") is None  # a namespaced owner elsewhere
    renamed = OwnerRef.from_dict(ref("ReplicaSet", "another-name", "rs-uid"))
    assert graph.owner_verdict(renamed, "default") is None
    graph.observe(RS, replicaset(deletionTimestamp=DELETED_AT, finalizers=[FOREGROUND]), replicaset())
    assert graph.owner_verdict(rs_ref, "default") is Verdict.WAITING


def test_a_reference_disagreeing_with_the_observed_owner_queues_the_dependent() -> None:
    graph = OwnerGraph()
    graph.observe(RS, replicaset(), None)
    wrong_kind = pod("p1", [ref("Deployment", "web-abc", "rs-uid")])
    assert graph.observe(pod_identity("p1"), wrong_kind, None).delete == ["uid-p1"]
    elsewhere = pod("p2", namespace="other")
    work = graph.observe(pod_identity("p2", "other"), elsewhere, None)
    assert work.delete == ["uid-p2"]
    assert work.invalid_namespace == [
        (pod_identity("p2", "other"), Identity("apps/v1", "ReplicaSet", "web-abc", "rs-uid", "other"))
    ]


@pytest.mark.parametrize(
    ("old", "new", "added", "removed", "changed"),
    [
        pytest.param([], [("a", True)], ["a"], [], [], id="added"),
        pytest.param([("a", True)], [], [], ["a"], [], id="removed"),
        pytest.param([("a", True)], [("a", False)], [], [], ["a"], id="changed"),
        pytest.param([("a", True), ("b", True)], [("b", True), ("a", True)], [], [], [], id="reordered"),
    ],
)
def test_references_diff(
    old: list[tuple[str, bool]],
    new: list[tuple[str, bool]],
    added: list[str],
    removed: list[str],
    changed: list[str],
) -> None:
    def refs(items: list[tuple[str, bool]]) -> list[OwnerRef]:
        return [OwnerRef("apps/v1", "ReplicaSet", uid, uid, True, block) for uid, block in items]

    got_added, got_removed, got_changed = references_diff(refs(old), refs(new))
    assert [r.uid for r in got_added] == added
    assert [r.uid for r in got_removed] == removed
    assert [after.uid for _, after in got_changed] == changed
