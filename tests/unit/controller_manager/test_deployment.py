"""The Deployment controller against a recording fake client: the ReplicaSets it creates and scales,
the status and conditions it writes, step by step through rollouts (the ReplicaSet controller is
simulated by writing ReplicaSet status between reconciles), plus its pure rollout arithmetic."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers.fake_client import Action, FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers import deployment_rollout as rollout
from controller_manager.controllers.deployment import DeploymentController, new
from controller_manager.controllers.deployment_rollout import (
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    compute_hash,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError

Obj = dict[str, Any]
KEY = "default/web"
START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


# --- fixtures ---------------------------------------------------------------------------------


def make_deployment(
    name: str = "web",
    replicas: int = 3,
    image: str = "nginx:1",
    max_surge: int | str = "25%",
    max_unavailable: int | str = "25%",
    strategy: str = "RollingUpdate",
    **spec: Any,
) -> Obj:
    strategy_spec: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strategy_spec["rollingUpdate"] = {"maxSurge": max_surge, "maxUnavailable": max_unavailable}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, image),
            "strategy": strategy_spec,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600,
            **spec,
        },
    }


def template(app: str = "web", image: str = "nginx:1") -> Obj:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": image}]}}


def make_rs(
    name: str,
    replicas: int,
    *,
    available: int | None = None,
    revision: int | None = None,
    image: str = "nginx:1",
    owner: Obj | None = None,
    created: str = "2026-01-01T00:00:00Z",
    annotations: dict[str, str] | None = None,
) -> Obj:
    """A ReplicaSet of `web` (owned by the Deployment unless owner={}) with its status settled."""
    tmpl = template("web", image)
    tmpl["metadata"]["labels"]["pod-template-hash"] = name.rsplit("-", 1)[-1]
    notes = dict(annotations or {})
    if revision is not None:
        notes[REVISION_ANNOTATION] = str(revision)
    meta: Obj = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": dict(tmpl["metadata"]["labels"]),
        "annotations": notes,
        "creationTimestamp": created,
    }
    owner = make_deployment() if owner is None else owner
    if owner:
        meta["ownerReferences"] = [rollout.owner_reference(owner)]
    available = replicas if available is None else available
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(tmpl["metadata"]["labels"])},
            "template": tmpl,
        },
        "status": {"replicas": replicas, "readyReplicas": available, "availableReplicas": available},
    }


class Harness:
    """The controller with a fake client, synced informers, a recorder and a fake clock."""

    def __init__(self, *objects: Obj) -> None:
        self.client = FakeClient(objects)
        self.informers = informers_from(self.client, "deployments", "replicasets", "pods")
        self.recorder = FakeRecorder()
        self.monotonic = 1000.0
        self.wall = START
        context = ControllerContext(
            self.client, self.informers, self.recorder, Options(), clock=self.clock, now=self.now
        )
        self.controller: DeploymentController = new(context)

    def clock(self) -> float:
        return self.monotonic

    def now(self) -> datetime:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)

    async def reconcile(self, key: str = KEY) -> list[Action]:
        """One reconcile from synced caches; the writes it made. New ReplicaSets get the current
        time as creationTimestamp (as the apiserver would), and the clock moves one second."""
        sync_informers(self.informers, self.client)
        mark = len(self.client.actions)
        try:
            await self.controller.reconcile(key)
        finally:
            writes = [a for a in self.client.actions[mark:] if a.verb not in ("get", "list")]
            for action in writes:
                stored = self.client.stored("replicasets", "default", action.name)
                if action.verb == "create" and action.resource == "replicasets" and stored is not None:
                    stored["metadata"]["creationTimestamp"] = rollout.format_time(self.wall)
            self.advance(1)
            sync_informers(self.informers, self.client)
        return writes

    async def process(self, key: str = KEY) -> None:
        sync_informers(self.informers, self.client)
        await self.controller.process(key)
        sync_informers(self.informers, self.client)

    def deployment(self, name: str = "web") -> Obj:
        found: Obj | None = self.client.stored("deployments", "default", name)
        assert found is not None
        return found

    def rs(self, name: str) -> Obj:
        found: Obj | None = self.client.stored("replicasets", "default", name)
        assert found is not None, name
        return found

    def replica_sets(self) -> dict[str, int]:
        return {o["metadata"]["name"]: o["spec"]["replicas"] for o in self.client.all("replicasets")}

    def edit(self, change: Callable[[Obj], None], name: str = "web") -> None:
        """A user's update of the Deployment: the generation moves when the spec changes."""
        stored = self.deployment(name)
        before = copy.deepcopy(stored["spec"])
        change(stored)
        if stored["spec"] != before:
            stored["metadata"]["generation"] = stored["metadata"].get("generation", 1) + 1
        stored["metadata"]["resourceVersion"] = str(int(stored["metadata"]["resourceVersion"]) + 1000)

    def set_status(self, rs_name: str, replicas: int, available: int, ready: int | None = None) -> None:
        """What the ReplicaSet controller would report."""
        rs = self.rs(rs_name)
        rs["status"] = {
            "replicas": replicas,
            "readyReplicas": available if ready is None else ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 0),
        }

    def settle(self, rs_name: str | None = None) -> None:
        """Every ReplicaSet (or one) runs exactly its replicas, all available."""
        for rs in self.client.all("replicasets"):
            if rs_name in (None, rs["metadata"]["name"]):
                self.set_status(rs["metadata"]["name"], rs["spec"]["replicas"], rs["spec"]["replicas"])

    def condition(self, type_: str) -> Obj | None:
        return rollout.get_condition(self.deployment().get("status"), type_)


def new_rs_name(deployment: Obj, collision_count: int | None = None) -> str:
    name = deployment["metadata"]["name"]
    return f"{name}-{compute_hash(deployment['spec']['template'], collision_count)}"


def set_image(image: str) -> Callable[[Obj], None]:
    def change(d: Obj) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def set_replicas(replicas: int) -> Callable[[Obj], None]:
    def change(d: Obj) -> None:
        d["spec"]["replicas"] = replicas

    return change


def verbs(writes: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.verb, a.resource, a.name) for a in writes]


async def stable(h: Harness) -> str:
    """Roll out the Deployment's first ReplicaSet and let it become available and complete."""
    await h.reconcile()
    name = new_rs_name(h.deployment())
    h.settle()
    await h.reconcile()
    assert rollout.deployment_complete(h.deployment(), h.deployment()["status"])
    return name


# --- pure functions: int-or-percent and fenceposts ----------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),
        ("50%", "50%", 5, (3, 2)),
        (2, 0, 5, (2, 0)),
        (0, "1%", 2, (0, 1)),  # both resolve to zero: unavailable becomes 1
        ("1%", "25%", 1, (1, 0)),
        ("0%", "0%", 0, (0, 1)),
    ],
)
def test_fenceposts_round_surge_up_and_unavailable_down(
    surge: int | str, unavailable: int | str, desired: int, expected: tuple[int, int]
) -> None:
    assert rollout.resolve_fenceposts(surge, unavailable, desired) == expected


def test_a_string_that_is_not_a_percentage_is_refused() -> None:
    with pytest.raises(ValueError, match="not a percentage"):
        rollout.scaled_value("3", 10, True)


@pytest.mark.parametrize(
    ("deployment", "surge", "unavailable"),
    [
        (make_deployment(replicas=3, max_surge=1, max_unavailable=5), 1, 3),  # capped at replicas
        (make_deployment(replicas=0), 0, 0),
        (make_deployment(replicas=4, strategy="Recreate"), 0, 0),
        (make_deployment(replicas=10), 3, 2),
    ],
)
def test_max_surge_and_max_unavailable_of_a_deployment(deployment: Obj, surge: int, unavailable: int) -> None:
    assert (rollout.max_surge(deployment), rollout.max_unavailable(deployment)) == (surge, unavailable)


# --- pure functions: hashing and templates --------------------------------------------------------


def test_safe_encoding_maps_each_digit_into_the_alphabet_without_vowels() -> None:
    assert rollout.safe_encode_string("0123456789") == "456789bcdf"


def test_the_template_hash_is_stable_and_changes_with_the_template_and_collision_count() -> None:
    first = compute_hash(template(), None)
    assert first == compute_hash(copy.deepcopy(template()), None)
    assert set(first) <= set(rollout.SAFE_ALPHABET)
    assert first != compute_hash(template(image="nginx:2"), None)
    assert first != compute_hash(template(), 1)
    assert compute_hash(template(), 1) != compute_hash(template(), 2)


def test_fnv1a_matches_the_published_test_vectors() -> None:
    assert rollout.fnv1a_32(b"") == 0x811C9DC5
    assert rollout.fnv1a_32(b"a") == 0xE40C292C
    assert rollout.fnv1a_32(b"foobar") == 0xBF9CF968


HASHED = {"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}
PLAIN = {"metadata": {"labels": {"app": "web"}}}


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        (HASHED, PLAIN, True),
        ({"metadata": {"labels": {"app": "web"}, "annotations": {}}}, PLAIN, True),
        ({"spec": {"volumes": []}}, {"spec": {}}, True),
        (template(image="nginx:1"), template(image="nginx:2"), False),
        (PLAIN, {"metadata": {"labels": {"app": "api"}}}, False),
        ({"metadata": {"labels": {"pod-template-hash": "abc"}}}, {}, True),
        ({"metadata": {"labels": {"pod-template-hash": "abc"}, "annotations": {"a": "b"}}}, {}, False),
    ],
)
def test_templates_compare_ignoring_the_hash_label_and_empty_fields(
    left: Obj, right: Obj, equal: bool
) -> None:
    assert rollout.equal_ignore_hash(left, right) is equal


# --- pure functions: sizing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployment", "old", "new", "expected"),
    [
        (make_deployment(replicas=3), 0, 0, 3),  # nothing running: straight to replicas
        (make_deployment(replicas=4), 4, 0, 1),  # surge 1
        (make_deployment(replicas=4), 4, 1, 1),  # at replicas + surge: no more
        (make_deployment(replicas=4), 2, 1, 3),
        (make_deployment(replicas=10, max_surge=3), 10, 0, 3),
        (make_deployment(replicas=4, strategy="Recreate"), 4, 0, 4),
    ],
)
def test_new_replica_set_grows_within_max_surge(deployment: Obj, old: int, new: int, expected: int) -> None:
    old_rs, new_rs = make_rs("web-old", old), make_rs("web-new", new)
    assert rollout.new_rs_new_replicas(deployment, [old_rs, new_rs], new_rs) == expected


def _annotated(rs: Obj, maximum: int, desired: int = 10) -> Obj:
    rs["metadata"]["annotations"].update(
        {MAX_REPLICAS_ANNOTATION: str(maximum), DESIRED_REPLICAS_ANNOTATION: str(desired)}
    )
    return rs


@pytest.mark.parametrize(
    ("replicas", "old", "new", "expected_old", "expected_new"),
    [
        (15, 8, 5, 11, 7),  # 13 of 13 -> 18: each keeps its share
        (5, 8, 5, 5, 3),  # down to 8 (5 + surge 3): the larger, older loses more
        (0, 8, 5, 0, 0),  # to zero: everything goes
        (10, 8, 5, 8, 5),  # nothing to add: sizes stay
    ],
)
def test_a_scaling_event_mid_rollout_is_shared_out_in_proportion(
    replicas: int, old: int, new: int, expected_old: int, expected_new: int
) -> None:
    deployment = make_deployment(replicas=replicas, max_surge=3, max_unavailable=2)
    old_rs = _annotated(make_rs("web-old", old, created="2026-01-01T00:00:00Z"), 13)
    new_rs = _annotated(make_rs("web-new", new, image="nginx:2", created="2026-01-01T00:01:00Z"), 13)
    sizes = {
        rs["metadata"]["name"]: size for rs, size in rollout.proportional_sizes(deployment, new_rs, [old_rs])
    }
    assert sizes == {"web-old": expected_old, "web-new": expected_new}
    assert sum(sizes.values()) == (replicas + 3 if replicas else 0)


def test_proportional_rounding_leftovers_go_to_the_largest_replica_set() -> None:
    deployment = make_deployment(replicas=12, max_surge=0, max_unavailable=1)
    sets = [
        _annotated(make_rs(f"web-{i}", 3, created=f"2026-01-01T00:0{i}:00Z"), 10) for i in range(1, 4)
    ] + [_annotated(make_rs("web-4", 1, created="2026-01-01T00:04:00Z"), 10)]
    sizes = dict(
        (rs["metadata"]["name"], size) for rs, size in rollout.proportional_sizes(deployment, None, sets)
    )
    assert sum(sizes.values()) == 12
    assert sizes == {"web-3": 4, "web-2": 4, "web-1": 3, "web-4": 1}


@pytest.mark.parametrize(
    ("old", "budget", "expected"),
    [
        ([("web-a", 3, 3)], 2, []),  # all healthy: nothing to clean up
        ([("web-a", 3, 1)], 5, [("web-a", 1)]),  # two unavailable removed
        ([("web-a", 3, 1), ("web-b", 2, 0)], 3, [("web-a", 1), ("web-b", 1)]),  # budget runs out
        ([("web-a", 0, 0), ("web-b", 2, 2)], 3, []),
    ],
)
def test_unhealthy_old_replicas_are_cleaned_up_first_within_the_budget(
    old: list[tuple[str, int, int]], budget: int, expected: list[tuple[str, int]]
) -> None:
    rss = [make_rs(n, r, available=a, created=f"2026-01-01T00:0{i}:00Z") for i, (n, r, a) in enumerate(old)]
    plan = rollout.unhealthy_cleanup_plan(rss, budget)
    assert plan is not None
    assert [(rs["metadata"]["name"], size) for rs, size in plan] == expected


def test_an_old_replica_set_reporting_more_available_than_wanted_stops_the_cleanup() -> None:
    assert rollout.unhealthy_cleanup_plan([make_rs("web-a", 2, available=3)], 4) is None


def test_old_replica_sets_scale_down_oldest_first_down_to_min_available() -> None:
    deployment = make_deployment(replicas=10, max_surge=3, max_unavailable=2)
    older = make_rs("web-a", 3, created="2026-01-01T00:00:00Z")
    newer = make_rs("web-b", 5, created="2026-01-01T00:01:00Z")
    new_rs = make_rs("web-c", 4, available=2, image="nginx:3", created="2026-01-01T00:02:00Z")
    plan = rollout.rolling_scale_down_plan(deployment, [older, newer, new_rs], [newer, older])
    # available 3 + 5 + 2 = 10, minAvailable 8: two may go, from the oldest
    assert [(rs["metadata"]["name"], size) for rs, size in plan] == [("web-a", 1)]


def test_max_scaled_down_discounts_the_new_replica_sets_unavailable_pods() -> None:
    deployment = make_deployment(replicas=10, max_surge=3, max_unavailable=2)
    old_rs, new_rs = make_rs("web-a", 8), make_rs("web-b", 5, available=0, image="nginx:2")
    assert rollout.max_scaled_down(deployment, [old_rs, new_rs], new_rs) == 0
    new_rs["status"]["availableReplicas"] = 4
    assert rollout.max_scaled_down(deployment, [old_rs, new_rs], new_rs) == 4


# --- pure functions: revisions, history, adoption ----------------------------------------------------


def test_a_rollback_to_an_old_replica_set_raises_its_revision_and_keeps_its_history() -> None:
    deployment = make_deployment()
    deployment["metadata"]["annotations"] = {"kubernetes.io/change-cause": "undo", REVISION_ANNOTATION: "3"}
    rs = make_rs("web-a", 0, revision=1)
    assert rollout.set_new_replica_set_annotations(deployment, rs, 4, exists=True)
    notes = rs["metadata"]["annotations"]
    assert notes[REVISION_ANNOTATION] == "4"
    assert notes[REVISION_HISTORY_ANNOTATION] == "1"
    assert notes["kubernetes.io/change-cause"] == "undo"
    rs["metadata"]["annotations"][REVISION_ANNOTATION] = "4"
    assert rollout.set_new_replica_set_annotations(deployment, rs, 6, exists=True)
    assert notes[REVISION_HISTORY_ANNOTATION] == "1,4"
    assert not rollout.set_new_replica_set_annotations(deployment, rs, 6, exists=True)


def test_a_newer_revision_on_the_replica_set_is_never_lowered() -> None:
    rs = make_rs("web-a", 1, revision=7)
    assert not rollout.set_new_replica_set_annotations(make_deployment(), rs, 3, exists=True)
    assert rs["metadata"]["annotations"][REVISION_ANNOTATION] == "7"


def test_history_beyond_the_limit_deletes_the_oldest_scaled_down_revisions() -> None:
    deployment = make_deployment(revisionHistoryLimit=2)
    old = [make_rs(f"web-{i}", 0, revision=i, created=f"2026-01-01T00:0{i}:00Z") for i in range(1, 5)]
    old[0]["status"]["replicas"] = 1  # still has a pod: kept this time
    doomed = rollout.replica_sets_to_clean_up(deployment, old)
    assert [rs["metadata"]["name"] for rs in doomed] == ["web-2"]
    assert rollout.replica_sets_to_clean_up(make_deployment(revisionHistoryLimit=2**31 - 1), old) == []


def test_claims_adopt_matching_orphans_release_strays_and_leave_others_alone() -> None:
    deployment = make_deployment()
    mine = make_rs("web-a", 1)
    orphan = make_rs("web-b", 1, owner={})
    stray = make_rs("web-c", 1)
    stray["metadata"]["labels"] = {"app": "other"}
    foreign = make_rs("web-d", 1, owner=make_deployment(name="other"))
    foreign["metadata"]["labels"] = {"app": "web"}
    deleting_orphan = make_rs("web-e", 1, owner={})
    deleting_orphan["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    claims = rollout.claim_replica_sets(deployment, [mine, orphan, stray, foreign, deleting_orphan])
    names = {k: [rs["metadata"]["name"] for rs in v] for k, v in vars(claims).items()}
    assert names == {"owned": ["web-a"], "adopt": ["web-b"], "release": ["web-c"]}


# --- pure functions: status and progress ----------------------------------------------------------


def test_status_adds_up_the_replica_sets_and_reports_minimum_availability() -> None:
    deployment = make_deployment(replicas=4)
    old_rs = make_rs("web-a", 2, available=2)
    new_rs = make_rs("web-b", 3, available=1, image="nginx:2")
    new_rs["status"]["readyReplicas"] = 2
    status = rollout.calculate_status([old_rs, new_rs], new_rs, deployment, START)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1,
        "replicas": 5,
        "updatedReplicas": 3,
        "readyReplicas": 4,
        "availableReplicas": 3,
        "unavailableReplicas": 2,
    }
    available = rollout.get_condition(status, "Available")
    assert available is not None
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")


def test_progress_refreshes_the_update_time_but_keeps_the_transition_time() -> None:
    deployment = make_deployment(replicas=3)
    earlier = START - timedelta(minutes=5)
    deployment["status"] = {
        "replicas": 3,
        "updatedReplicas": 1,
        "conditions": [rollout.new_condition("Progressing", "True", "NewReplicaSetCreated", "x", earlier)],
    }
    old_rs, new_rs = make_rs("web-a", 1), make_rs("web-b", 2, available=0, image="nginx:2")
    status = rollout.rollout_status([old_rs, new_rs], new_rs, deployment, START)
    progressing = rollout.get_condition(status, "Progressing")
    assert progressing is not None
    assert progressing["reason"] == "ReplicaSetUpdated"
    assert progressing["message"] == 'ReplicaSet "web-b" is progressing.'
    assert progressing["lastUpdateTime"] == rollout.format_time(START)
    assert progressing["lastTransitionTime"] == rollout.format_time(earlier)


@pytest.mark.parametrize(
    ("elapsed", "reason"),
    [(599, "NewReplicaSetCreated"), (600, "NewReplicaSetCreated"), (601, "ProgressDeadlineExceeded")],
)
def test_no_progress_past_the_deadline_times_out(elapsed: int, reason: str) -> None:
    deployment = make_deployment(replicas=3)
    deployment["status"] = {
        "replicas": 3,
        "updatedReplicas": 3,
        "conditions": [rollout.new_condition("Progressing", "True", "NewReplicaSetCreated", "x", START)],
    }
    new_rs = make_rs("web-b", 3, available=0)
    now = START + timedelta(seconds=elapsed)
    status = rollout.rollout_status([new_rs], new_rs, deployment, now)
    progressing = rollout.get_condition(status, "Progressing")
    assert progressing is not None
    assert progressing["reason"] == reason


def test_a_stuck_rollout_is_looked_at_again_when_its_deadline_falls_due() -> None:
    deployment = make_deployment(replicas=3, progressDeadlineSeconds=60)
    deployment["status"] = {
        "conditions": [rollout.new_condition("Progressing", "True", "NewReplicaSetCreated", "x", START)]
    }
    assert rollout.stuck_requeue_after(deployment, {}, START + timedelta(seconds=20)) == 40
    assert rollout.stuck_requeue_after(make_deployment(progressDeadlineSeconds=2**31 - 1), {}, START) is None


def test_pausing_and_resuming_mark_progress_unknown() -> None:
    deployment = make_deployment(paused=True)
    assert rollout.paused_condition(deployment, START)
    assert rollout.get_condition(deployment["status"], "Progressing") == rollout.new_condition(
        "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", START
    )
    assert not rollout.paused_condition(deployment, START)
    deployment["spec"]["paused"] = False
    assert rollout.paused_condition(deployment, START)
    resumed = rollout.get_condition(deployment["status"], "Progressing")
    assert resumed is not None
    assert (resumed["reason"], resumed["message"]) == ("DeploymentResumed", "Deployment is resumed")


def test_recreate_waits_for_every_old_pod_that_may_still_run() -> None:
    old_rs = make_rs("web-a", 0)
    old_rs["status"]["replicas"] = 0
    pods = {"uid-web-a": [{"status": {"phase": "Succeeded"}}, {"status": {"phase": "Failed"}}]}
    assert not rollout.old_pods_running(None, [old_rs], pods)
    pods["uid-web-a"].append({"status": {"phase": "Unknown"}})
    assert rollout.old_pods_running(None, [old_rs], pods)
    assert not rollout.old_pods_running(make_rs("web-a", 0), [], pods)  # the new one's pods are fine


# --- the controller: first rollout ------------------------------------------------------------------


async def test_a_new_deployment_creates_its_replica_set_at_full_size_with_revision_one() -> None:
    deployment = make_deployment(replicas=3)
    h = Harness(deployment)
    writes = await h.reconcile()
    name = new_rs_name(deployment)
    assert verbs(writes) == [
        ("create", "replicasets", name),
        ("update", "deployments/status", "web"),
        ("patch", "deployments", "web"),
    ]
    rs = h.rs(name)
    hash_ = name.removeprefix("web-")
    assert rs["metadata"]["labels"] == {"app": "web", "pod-template-hash": hash_}
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": hash_}}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["ownerReferences"] == [rollout.owner_reference(deployment)]
    assert rs["metadata"]["annotations"] == {
        REVISION_ANNOTATION: "1",
        DESIRED_REPLICAS_ANNOTATION: "3",
        MAX_REPLICAS_ANNOTATION: "4",
    }
    assert h.recorder.events == [
        (KEY, "Normal", "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to 3")
    ]
    assert h.deployment()["metadata"]["annotations"] == {REVISION_ANNOTATION: "1"}
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetCreated")
    assert progressing["message"] == f'Created new replica set "{name}"'
    available = h.condition("Available")
    assert available is not None
    assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert h.deployment()["status"]["observedGeneration"] == 1


async def test_reconciling_again_with_synced_caches_writes_nothing() -> None:
    h = Harness(make_deployment())
    await h.reconcile()
    assert await h.reconcile() == []
    h.settle()
    assert await h.reconcile() != []
    assert await h.reconcile() == []


async def test_status_follows_the_replica_set_until_the_rollout_completes() -> None:
    h = Harness(make_deployment(replicas=3))
    await h.reconcile()
    name = new_rs_name(h.deployment())
    h.set_status(name, replicas=3, available=1, ready=2)
    writes = await h.reconcile()
    assert verbs(writes) == [("update", "deployments/status", "web")]
    status = h.deployment()["status"]
    assert (status["replicas"], status["updatedReplicas"], status["readyReplicas"]) == (3, 3, 2)
    assert (status["availableReplicas"], status["unavailableReplicas"]) == (1, 2)
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert progressing["reason"] == "ReplicaSetUpdated"
    h.settle()
    await h.reconcile()
    status = h.deployment()["status"]
    assert rollout.deployment_complete(h.deployment(), status)
    progressing, available = h.condition("Progressing"), h.condition("Available")
    assert progressing is not None and available is not None
    assert (progressing["reason"], progressing["message"]) == (
        "NewReplicaSetAvailable",
        f'ReplicaSet "{name}" has successfully progressed.',
    )
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    assert "unavailableReplicas" not in status


async def test_a_sync_before_its_status_write_comes_back_starts_from_what_the_write_returned() -> None:
    h = Harness(make_deployment(replicas=3))
    await h.reconcile()
    name = new_rs_name(h.deployment())
    replica_sets = h.informers.informer("replicasets").store

    async def replica_set_reports(available: int) -> list[tuple[str, str, str]]:
        """The ReplicaSet's status moves and its event comes; the Deployment's own write has not."""
        h.set_status(name, replicas=3, available=available)
        replica_sets.put(copy.deepcopy(h.rs(name)))
        mark = len(h.client.actions)
        await h.controller.reconcile(KEY)
        return verbs(h.client.actions[mark:])

    assert await replica_set_reports(1) == [("update", "deployments/status", "web")]
    assert await replica_set_reports(2) == [("update", "deployments/status", "web")]  # no conflict
    assert h.deployment()["status"]["availableReplicas"] == 2
    assert await replica_set_reports(2) == []  # what it wrote is what it would write
    assert await h.reconcile() == []


# --- the controller: rolling updates ---------------------------------------------------------------


async def test_a_template_change_rolls_over_step_by_step() -> None:
    h = Harness(make_deployment(replicas=4))  # surge 1, unavailable 1
    first = await stable(h)
    h.edit(set_image("nginx:2"))
    second = new_rs_name(h.deployment())

    writes = await h.reconcile()  # new RS at the surge, one old pod goes (one may be unavailable)
    assert verbs(writes)[:2] == [("create", "replicasets", second), ("update", "replicasets", first)]
    assert h.replica_sets() == {first: 3, second: 1}
    assert h.rs(second)["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert h.deployment()["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert h.recorder.events[-2:] == [
        (KEY, "Normal", "ScalingReplicaSet", f"Scaled up replica set {second} from 0 to 1"),
        (KEY, "Normal", "ScalingReplicaSet", f"Scaled down replica set {first} from 4 to 3"),
    ]

    h.set_status(first, 3, 3)
    h.set_status(second, 1, 0)
    await h.reconcile()  # room for one more new pod
    assert h.replica_sets() == {first: 3, second: 2}

    h.set_status(second, 2, 0)
    assert [
        w for w in await h.reconcile() if w.resource == "replicasets"
    ] == []  # new pods not available: wait
    assert h.replica_sets() == {first: 3, second: 2}

    h.set_status(second, 2, 2)
    await h.reconcile()  # 5 available, min 3: two old pods may go
    assert h.replica_sets() == {first: 1, second: 2}

    for _ in range(6):
        h.settle()
        await h.reconcile()
    assert h.replica_sets() == {first: 0, second: 4}
    status = h.deployment()["status"]
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (4, 4, 4)
    assert status["observedGeneration"] == 2
    progressing = h.condition("Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable"),
    [
        (4, "25%", "25%"),
        (10, 3, 2),
        (5, 0, 1),
        (5, 2, 0),
        (3, "50%", "0%"),
        (1, 0, "1%"),
        (7, "100%", "100%"),
    ],
)
async def test_rolling_updates_never_exceed_max_surge_or_max_unavailable(
    replicas: int, surge: int | str, unavailable: int | str
) -> None:
    h = Harness(make_deployment(replicas=replicas, max_surge=surge, max_unavailable=unavailable))
    await stable(h)
    most, fewest = rollout.resolve_fenceposts(surge, unavailable, replicas)
    h.edit(set_image("nginx:2"))

    def check() -> None:
        rss = h.client.all("replicasets")
        assert sum(rs["spec"]["replicas"] for rs in rss) <= replicas + most
        assert sum(rs["status"].get("availableReplicas", 0) for rs in rss) >= replicas - fewest

    for _ in range(4 * replicas + 10):
        await h.reconcile()
        for rs in h.client.all("replicasets"):  # the ReplicaSet controller: unavailable pods go first
            status = rs.setdefault("status", {})
            kept = min(status.get("availableReplicas", 0), rs["spec"]["replicas"])
            h.set_status(rs["metadata"]["name"], rs["spec"]["replicas"], kept)
        check()
        await h.reconcile()
        h.settle()  # new pods become available
        check()
        if rollout.deployment_complete(h.deployment(), h.deployment().get("status")):
            break
    assert rollout.deployment_complete(h.deployment(), h.deployment()["status"])
    assert sorted(h.replica_sets().values()) == [0, replicas]


async def test_unhealthy_old_pods_are_scaled_down_before_healthy_ones() -> None:
    h = Harness(make_deployment(replicas=4, max_surge=0, max_unavailable=1))
    first = await stable(h)
    h.set_status(first, 4, 2)  # two old pods broke
    h.edit(set_image("nginx:2"))
    second = new_rs_name(h.deployment())
    await h.reconcile()
    # the new RS cannot surge; budget = 4 - 3 - 0 = 1 (the two broken count against availability)
    assert h.replica_sets() == {first: 3, second: 0}


# --- the controller: scaling and pausing -----------------------------------------------------------


async def test_scaling_a_stable_deployment_resizes_its_replica_set() -> None:
    h = Harness(make_deployment(replicas=3))
    name = await stable(h)
    h.edit(set_replicas(5))
    writes = await h.reconcile()
    assert verbs(writes)[0] == ("update", "replicasets", name)
    assert h.rs(name)["spec"]["replicas"] == 5
    assert h.rs(name)["metadata"]["annotations"][DESIRED_REPLICAS_ANNOTATION] == "5"
    assert h.rs(name)["metadata"]["annotations"][MAX_REPLICAS_ANNOTATION] == "7"
    assert h.recorder.events[-1] == (
        KEY,
        "Normal",
        "ScalingReplicaSet",
        f"Scaled up replica set {name} from 3 to 5",
    )
    h.settle()
    await h.reconcile()
    h.edit(set_replicas(2))
    await h.reconcile()
    assert h.recorder.events[-1] == (
        KEY,
        "Normal",
        "ScalingReplicaSet",
        f"Scaled down replica set {name} from 5 to 2",
    )


async def test_scaling_during_a_rollout_scales_old_and_new_in_proportion() -> None:
    deployment = make_deployment(replicas=10, max_surge=3, max_unavailable=2)
    h = Harness(deployment)
    old = _annotated(make_rs("web-old", 8, revision=1, created="2026-01-01T00:00:00Z"), 13)
    h.client.add(old)
    h.edit(set_image("nginx:2"))
    new_name = new_rs_name(h.deployment())
    new_rs = _annotated(make_rs(new_name, 5, revision=2, image="nginx:2", created="2026-01-01T00:01:00Z"), 13)
    new_rs["status"]["availableReplicas"] = 0
    h.client.add(new_rs)
    h.edit(set_replicas(15))
    writes = await h.reconcile()
    assert {w.name for w in writes if w.resource == "replicasets"} == {"web-old", new_name}
    assert all(w.verb == "update" for w in writes if w.resource == "replicasets")
    assert h.replica_sets() == {"web-old": 11, new_name: 7}
    for name in ("web-old", new_name):
        assert h.rs(name)["metadata"]["annotations"][DESIRED_REPLICAS_ANNOTATION] == "15"
        assert h.rs(name)["metadata"]["annotations"][MAX_REPLICAS_ANNOTATION] == "18"
    assert sorted(e[3] for e in h.recorder.events) == [
        f"Scaled up replica set {new_name} from 5 to 7",
        "Scaled up replica set web-old from 8 to 11",
    ]


async def test_a_paused_deployment_is_scaled_but_not_rolled_out() -> None:
    h = Harness(make_deployment(replicas=3))
    first = await stable(h)
    h.edit(lambda d: d["spec"].update(paused=True))
    h.edit(set_image("nginx:2"))
    await h.reconcile()
    assert h.replica_sets() == {first: 3}
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("Unknown", "DeploymentPaused")
    assert await h.reconcile() == []

    h.edit(set_replicas(4))
    await h.reconcile()
    assert h.replica_sets() == {first: 4}

    h.edit(lambda d: d["spec"].update(paused=False))
    await h.reconcile()
    second = new_rs_name(h.deployment())
    assert second in h.replica_sets()
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetCreated")


# --- the controller: Recreate --------------------------------------------------------------------


def make_pod(name: str, rs: Obj, phase: str = "Running") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": dict(rs["spec"]["template"]["metadata"]["labels"]),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                 "uid": rs["metadata"]["uid"], "controller": True}
            ],
        },
        "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
        "status": {"phase": phase},
    }  # fmt: skip


async def test_recreate_scales_old_to_zero_and_waits_for_their_pods_before_creating_new() -> None:
    h = Harness(make_deployment(replicas=3, strategy="Recreate"))
    first = await stable(h)
    for index in range(3):
        h.client.add(make_pod(f"{first}-{index}", h.rs(first)))
    h.edit(set_image("nginx:2"))
    second = new_rs_name(h.deployment())

    writes = await h.reconcile()
    assert verbs(writes)[0] == ("update", "replicasets", first)
    assert h.replica_sets() == {first: 0}
    assert h.recorder.events[-1][3] == f"Scaled down replica set {first} from 3 to 0"

    h.set_status(first, 0, 0)  # the ReplicaSet says 0, but its pods are still terminating
    await h.reconcile()
    assert second not in h.replica_sets()

    for index in range(3):
        await h.client.delete("pods", f"{first}-{index}", namespace="default")
    writes = await h.reconcile()
    assert ("create", "replicasets", second) in verbs(writes)
    assert h.replica_sets() == {first: 0, second: 3}
    assert h.recorder.events[-1][3] == f"Scaled up replica set {second} from 0 to 3"


async def test_recreate_ignores_finished_old_pods() -> None:
    h = Harness(make_deployment(replicas=2, strategy="Recreate"))
    first = await stable(h)
    h.client.add(make_pod(f"{first}-done", h.rs(first), phase="Succeeded"))
    h.edit(set_image("nginx:2"))
    await h.reconcile()
    h.set_status(first, 0, 0)
    await h.reconcile()
    assert h.replica_sets()[new_rs_name(h.deployment())] == 2


# --- the controller: progress deadline ---------------------------------------------------------------


async def test_a_rollout_without_progress_times_out_after_its_deadline() -> None:
    h = Harness(make_deployment(replicas=2, progressDeadlineSeconds=60))
    await h.reconcile()
    name = new_rs_name(h.deployment())
    h.set_status(name, 2, 0)  # pods never become available
    await h.reconcile()
    created = h.condition("Progressing")
    assert created is not None

    h.advance(20)
    assert await h.reconcile() == []  # no progress yet, not late: looked at again at the deadline
    assert h.controller.queue.get_nowait() is None
    h.advance(60 - 22 + 1 + 1)
    assert h.controller.queue.get_nowait() == KEY
    h.controller.queue.done(KEY)

    writes = await h.reconcile()
    assert verbs(writes) == [("update", "deployments/status", "web")]
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"] == f'ReplicaSet "{name}" has timed out progressing.'
    h.advance(1000)
    assert await h.reconcile() == []  # timed out stays so, without further writes
    assert h.controller.queue.get_nowait() is None


async def test_progress_after_a_timeout_makes_the_rollout_progressing_again() -> None:
    h = Harness(make_deployment(replicas=2, progressDeadlineSeconds=10))
    await h.reconcile()
    name = new_rs_name(h.deployment())
    h.advance(30)
    await h.reconcile()
    timed_out = h.condition("Progressing")
    assert timed_out is not None and timed_out["reason"] == "ProgressDeadlineExceeded"
    h.set_status(name, 2, 1)
    await h.reconcile()
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"]) == ("True", "ReplicaSetUpdated")


# --- the controller: revisions and history ----------------------------------------------------------


async def test_rolling_back_to_an_old_template_reuses_its_replica_set_with_the_next_revision() -> None:
    h = Harness(make_deployment(replicas=2))
    first = await stable(h)
    h.edit(lambda d: d["metadata"].setdefault("annotations", {}).update({"kubernetes.io/change-cause": "v2"}))
    h.edit(set_image("nginx:2"))
    second = new_rs_name(h.deployment())
    for _ in range(8):
        await h.reconcile()
        h.settle()
    assert h.replica_sets() == {first: 0, second: 2}
    assert h.rs(second)["metadata"]["annotations"]["kubernetes.io/change-cause"] == "v2"

    h.edit(set_image("nginx:1"))  # what `kubectl rollout undo` patches in
    writes = await h.reconcile()
    assert not [w for w in writes if w.verb == "create"]
    notes = h.rs(first)["metadata"]["annotations"]
    assert (notes[REVISION_ANNOTATION], notes[REVISION_HISTORY_ANNOTATION]) == ("3", "1")
    for _ in range(8):
        h.settle()
        await h.reconcile()
    assert h.deployment()["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    assert h.replica_sets() == {first: 2, second: 0}


async def test_old_replica_sets_beyond_the_history_limit_are_deleted_once_complete() -> None:
    deployment = make_deployment(replicas=2, revisionHistoryLimit=2)
    olds = [
        make_rs(f"web-old{i}", 0, revision=i, image=f"nginx:old{i}", created=f"2026-01-01T00:0{i}:00Z")
        for i in range(1, 5)
    ]
    for rs in olds:
        rs["status"] = {"replicas": 0}
    h = Harness(deployment, *olds)
    await h.reconcile()  # creates revision 5
    name = new_rs_name(deployment)
    assert h.rs(name)["metadata"]["annotations"][REVISION_ANNOTATION] == "5"
    assert len(h.client.writes("delete")) == 0  # not complete yet
    h.settle()
    await h.reconcile()  # complete
    writes = await h.reconcile()
    assert [(w.verb, w.name) for w in writes] == [("delete", "web-old1"), ("delete", "web-old2")]
    assert set(h.replica_sets()) == {"web-old3", "web-old4", name}
    assert await h.reconcile() == []


# --- the controller: adoption, collisions, failures ----------------------------------------------


async def test_a_matching_orphan_replica_set_is_adopted_instead_of_creating_one() -> None:
    deployment = make_deployment(replicas=2)
    orphan = make_rs(new_rs_name(deployment), 2, owner={})
    h = Harness(deployment, orphan)
    writes = await h.reconcile()
    assert ("patch", "replicasets", orphan["metadata"]["name"]) in verbs(writes)
    assert next(a.verb for a in h.client.actions if a.resource == "deployments") == "get"  # rechecked live
    assert not h.client.writes("create")
    owners = h.rs(orphan["metadata"]["name"])["metadata"]["ownerReferences"]
    assert owners == [rollout.owner_reference(deployment)]


async def test_an_owned_replica_set_that_stops_matching_is_released() -> None:
    h = Harness(make_deployment(replicas=2))
    first = await stable(h)
    h.rs(first)["metadata"]["labels"] = {"app": "elsewhere"}
    writes = await h.reconcile()
    release = [w for w in writes if w.verb == "patch" and w.resource == "replicasets"]
    assert [w.name for w in release] == [first]
    assert h.rs(first)["metadata"]["ownerReferences"] == []


async def test_a_hash_collision_bumps_collision_count_and_the_retry_uses_another_name() -> None:
    deployment = make_deployment(replicas=2)
    taken = new_rs_name(deployment)
    squatter = make_rs(taken, 1, owner=make_deployment(name="other"))
    squatter["metadata"]["labels"] = {"app": "other"}
    h = Harness(deployment, squatter)
    with pytest.raises(ApiError):
        await h.reconcile()
    assert h.deployment()["status"]["collisionCount"] == 1
    writes = await h.reconcile()
    renamed = new_rs_name(h.deployment(), collision_count=1)
    assert renamed != taken
    assert ("create", "replicasets", renamed) in verbs(writes)
    assert h.deployment()["status"]["collisionCount"] == 1


async def test_a_failed_create_is_reported_in_the_condition_and_an_event() -> None:
    h = Harness(make_deployment())
    h.client.fail_next(
        "create", "replicasets", ApiError(403, {"reason": "Forbidden", "message": "quota exceeded"})
    )
    with pytest.raises(ApiError):
        await h.reconcile()
    name = new_rs_name(h.deployment())
    message = f'Failed to create new replica set "{name}": quota exceeded'
    progressing = h.condition("Progressing")
    assert progressing is not None
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False",
        "ReplicaSetCreateError",
        message,
    )
    assert h.recorder.events == [(KEY, "Warning", "ReplicaSetCreateError", message)]


async def test_a_terminating_namespace_is_not_retried() -> None:
    h = Harness(make_deployment())
    details = {"causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]}
    h.client.fail_next("create", "replicasets", ApiError(403, {"reason": "Forbidden", "details": details}))
    await h.process()
    assert h.controller.queue.requeues(KEY) == 0
    assert h.recorder.events == []
    assert h.client.writes() == h.client.writes("create")  # no failure condition either


async def test_a_conflict_on_a_replica_set_update_is_retried_with_back_off() -> None:
    h = Harness(make_deployment(replicas=3))
    name = await stable(h)
    h.edit(set_replicas(5))
    h.client.fail_next("update", "replicasets", ApiError(409, {"reason": "Conflict"}))
    await h.process()
    assert h.rs(name)["spec"]["replicas"] == 3
    assert h.controller.queue.requeues(KEY) == 1
    h.advance(1)
    assert h.controller.queue.get_nowait() == KEY
    await h.process()
    h.controller.queue.done(KEY)
    assert h.rs(name)["spec"]["replicas"] == 5
    assert h.controller.queue.requeues(KEY) == 0


async def test_a_conflict_on_the_status_update_is_retried() -> None:
    h = Harness(make_deployment())
    h.client.fail_next("update", "deployments/status", ApiError(409, {"reason": "Conflict"}))
    await h.process()
    assert h.controller.queue.requeues(KEY) == 1
    assert "observedGeneration" not in (h.deployment().get("status") or {})
    await h.process()
    assert h.deployment()["status"]["observedGeneration"] == 1
    assert len(h.client.writes("create")) == 1  # the ReplicaSet was found, not created twice


# --- the controller: other cases and handlers -----------------------------------------------------


async def test_a_deployment_selecting_everything_only_gets_a_warning_and_its_generation_observed() -> None:
    deployment = make_deployment()
    deployment["spec"]["selector"] = {}
    h = Harness(deployment)
    writes = await h.reconcile()
    assert verbs(writes) == [("update", "deployments/status", "web")]
    assert h.deployment()["status"] == {"observedGeneration": 1}
    assert h.recorder.events == [
        (
            KEY,
            "Warning",
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        )
    ]


async def test_a_deleting_deployment_only_gets_its_status_synced() -> None:
    deployment = make_deployment()
    deployment["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    h = Harness(deployment)
    writes = await h.reconcile()
    assert verbs(writes) == [("update", "deployments/status", "web")]


async def test_a_deployment_gone_from_the_cache_is_a_no_op() -> None:
    h = Harness()
    assert await h.reconcile() == []


def test_replica_set_events_wake_the_owner_or_the_deployments_that_select_an_orphan() -> None:
    h = Harness(make_deployment(), make_deployment(name="api"))
    queue = h.controller.queue
    h.controller.add_replica_set(make_rs("web-a", 1))
    assert queue.get_nowait() == KEY
    queue.done(KEY)
    h.controller.add_replica_set(make_rs("web-b", 1, owner={}))
    assert queue.get_nowait() == KEY
    queue.done(KEY)
    stranger = make_rs("web-c", 1, owner=make_deployment(name="web"))
    stranger["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    h.controller.add_replica_set(stranger)
    assert queue.get_nowait() is None
    old, moved = make_rs("web-d", 1), make_rs("web-d", 1, owner=make_deployment(name="api"))
    moved["metadata"]["resourceVersion"] = "2"
    h.controller.update_replica_set(old, moved)
    assert {queue.get_nowait(), queue.get_nowait()} == {KEY, "default/api"}


def test_a_pod_deletion_wakes_only_a_recreate_deployment() -> None:
    recreate = make_deployment(strategy="Recreate")
    rs = make_rs("web-a", 1, owner=recreate)
    h = Harness(recreate, rs)
    h.controller.delete_pod(make_pod("web-a-1", rs))
    assert h.controller.queue.get_nowait() == KEY
    rolling = Harness(make_deployment(), make_rs("web-a", 1))
    rolling.controller.delete_pod(make_pod("web-a-1", make_rs("web-a", 1)))
    assert rolling.controller.queue.get_nowait() is None


def test_the_controller_is_registered_with_the_upstream_name_and_worker_count() -> None:
    h = Harness()
    assert h.controller.name == "deployment-controller"
    assert h.controller.workers == Options().concurrent_deployment_syncs
