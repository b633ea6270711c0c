"""The Deployment controller (upstream pkg/controller/deployment): a Deployment owns one ReplicaSet
per pod template (named "<deployment>-<pod-template-hash>"); a template change creates a new one
and moves the pods over, RollingUpdate within maxSurge/maxUnavailable or Recreate (old pods gone
first). A change of spec.replicas during a rollout is shared out in proportion; a paused Deployment
is only scaled. Revisions, desired/max replicas and the Deployment's annotations are kept on the
ReplicaSets for `kubectl rollout history|undo`; the status (counts and the Progressing/Available
conditions, ProgressDeadlineExceeded after progressDeadlineSeconds) is what `kubectl rollout
status` waits on. Old ReplicaSets beyond revisionHistoryLimit are deleted.

The decisions are pure functions in `deployment_rollout`; this module reads the informers' caches,
adopts and releases ReplicaSets, writes ReplicaSets and the Deployment's status, records events.
Rollback through the deprecated `deprecated.deployment.rollback.to` annotation is not done here:
kubectl 1.32 rolls back client-side by patching the template.
"""

from __future__ import annotations

import copy
from datetime import datetime

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, QueueController
from controller_manager.controllers.deployment_rollout import (
    FAILED_RS_CREATE,
    FOUND_NEW_REPLICA_SET,
    NEW_REPLICA_SET,
    PROGRESSING,
    RECREATE,
    REVISION_ANNOTATION,
    ROLLING_UPDATE,
    Obj,
    annotations_of,
    by_creation,
    calculate_status,
    claim_replica_sets,
    compute_hash,
    controller_ref,
    deployment_complete,
    equal_ignore_hash,
    filter_active,
    find_active_or_latest,
    find_new_replica_set,
    find_old_replica_sets,
    get_condition,
    is_deleting,
    is_rolling_update,
    is_saturated,
    is_scaling_event,
    max_revision,
    max_scaled_down,
    max_surge,
    meta,
    name_of,
    new_condition,
    new_replica_set,
    new_rs_new_replicas,
    normalized_status,
    old_pods_running,
    owner_reference,
    paused_condition,
    progress_deadline,
    proportional_sizes,
    replica_sets_to_clean_up,
    replicas_annotations_need_update,
    rolling_scale_down_plan,
    rollout_status,
    selector_of,
    selects_everything,
    set_condition,
    set_new_replica_set_annotations,
    set_replicas_annotations,
    set_spec_replicas,
    spec_replicas,
    strategy_type,
    stuck_requeue_after,
    template_of,
    uid_of,
    unhealthy_cleanup_plan,
)
from controller_manager.controllers.replicaset import (
    POD_CONTROLLER_UID_INDEX,
    OwnWrites,
    pod_controller_uid_index,
)
from kubeclient.errors import ApiError, KubeClientError, is_already_exists, is_not_found
from kubeclient.rest import MERGE_PATCH, STRATEGIC_MERGE_PATCH

log = get_logger(__name__)

SELECTING_ALL_MESSAGE = "This deployment is selecting all pods. A non-empty selector is required."


class DeploymentController(QueueController):
    name = "deployment-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_deployment_syncs)
        self.deployments = ctx.informers.informer("deployments")
        self.replicasets = ctx.informers.informer("replicasets")
        self.pods = ctx.informers.informer("pods")
        self.pods.add_indexer(POD_CONTROLLER_UID_INDEX, pod_controller_uid_index)
        self.own_writes = OwnWrites()
        self.deployments.add_handler(self.enqueue, self.enqueue_update, self.enqueue)
        self.replicasets.add_handler(self.add_replica_set, self.update_replica_set, self.delete_replica_set)
        self.pods.add_handler(on_delete=self.delete_pod)

    # --- handlers (only ever enqueue) ---------------------------------------------------------

    def add_replica_set(self, rs: Obj) -> None:
        """A new ReplicaSet wakes its Deployment, or, if an orphan, every Deployment that selects it."""
        if is_deleting(rs):
            self.delete_replica_set(rs)
            return
        ref = controller_ref(rs)
        if ref is not None:
            owner = self._resolve(meta(rs).get("namespace", ""), ref)
            if owner is not None:
                self.enqueue(owner)
            return
        for deployment in self._deployments_selecting(rs):
            self.enqueue(deployment)

    def update_replica_set(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        namespace = meta(new).get("namespace", "")
        if old_ref != new_ref and old_ref is not None:
            previous = self._resolve(namespace, old_ref)
            if previous is not None:
                self.enqueue(previous)
        if new_ref is not None:
            owner = self._resolve(namespace, new_ref)
            if owner is not None:
                self.enqueue(owner)
            return
        if old_ref != new_ref or meta(old).get("labels") != meta(new).get("labels"):
            for deployment in self._deployments_selecting(new):
                self.enqueue(deployment)

    def delete_replica_set(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is not None:
            owner = self._resolve(meta(rs).get("namespace", ""), ref)
            if owner is not None:
                self.enqueue(owner)

    def delete_pod(self, pod: Obj) -> None:
        """Recreate waits for old pods to be gone: a pod deletion may let it go on."""
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        namespace = meta(pod).get("namespace", "")
        rs = self.replicasets.store.get(f"{namespace}/{ref.get('name')}")
        if rs is None or uid_of(rs) != ref.get("uid"):
            return
        rs_ref = controller_ref(rs)
        owner = self._resolve(namespace, rs_ref) if rs_ref is not None else None
        if owner is not None and strategy_type(owner) == RECREATE:
            self.enqueue(owner)

    def _resolve(self, namespace: str, ref: Obj) -> Obj | None:
        """The Deployment a controller reference points at, if it is still that one (same uid)."""
        if ref.get("kind") != "Deployment":
            return None
        deployment = self.deployments.store.get(f"{namespace}/{ref.get('name')}")
        if deployment is None or uid_of(deployment) != ref.get("uid"):
            return None
        return deployment

    def _deployments_selecting(self, rs: Obj) -> list[Obj]:
        rs_labels = meta(rs).get("labels") or {}
        if not rs_labels:
            return []
        found = []
        for deployment in self.deployments.store.by_index("namespace", meta(rs).get("namespace", "")):
            if selects_everything(deployment):
                continue
            try:
                selector = selector_of(deployment)
            except Exception:  # an invalid selector selects nothing
                continue
            if selector.matches(rs_labels):
                found.append(deployment)
        return found

    # --- reconcile ----------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        cached = self.deployments.store.get(key)
        if cached is None:
            log.v(2).info("Deployment has been deleted", deployment=key)
            self.own_writes.forget(key)
            return
        cached = self.own_writes.freshest(key, cached)
        d = copy.deepcopy(cached)
        if selects_everything(d):
            await self._selecting_all(d)
            return
        try:
            await self._sync_deployment(key, cached, d)
        except ApiError as error:
            if _namespace_terminating(error):  # every create would fail: nothing to retry
                log.info("Namespace is terminating", deployment=key, error=str(error))
                return
            raise

    async def _sync_deployment(self, key: str, cached: Obj, d: Obj) -> None:
        rs_list = await self._claim_replica_sets(d)
        now = self.ctx.now()
        rollout = False
        if is_deleting(d):
            new_rs, old_rss = await self._get_all_replica_sets(d, rs_list, create=False)
            status = calculate_status([*old_rss, new_rs], new_rs, d, now)
        else:
            paused_condition(d, now)
            new_rs, old_rss = _split(d, rs_list)
            if (d.get("spec") or {}).get("paused") or is_scaling_event(d, new_rs, old_rss):
                status = await self._sync(d, rs_list, now)
            elif strategy_type(d) == RECREATE:
                status, rollout = await self._rollout_recreate(d, rs_list, now), True
            elif strategy_type(d) == ROLLING_UPDATE:
                status, rollout = await self._rollout_rolling(d, rs_list, now), True
            else:
                raise ValueError(f"unexpected deployment strategy type: {strategy_type(d)}")
        await self._finish(key, cached, d, status, rollout, now)

    async def _finish(self, key: str, cached: Obj, d: Obj, status: Obj, rollout: bool, now: datetime) -> None:
        """Write the status if it changed (else, mid-rollout, look again when the progress deadline
        falls due), then the revision annotation (our apiserver's status subresource keeps
        metadata, unlike upstream's Deployment status strategy, so it is patched on its own)."""
        if normalized_status(cached.get("status")) != status:
            d["status"] = status
            await self._update_status(d)
        elif rollout:
            after = stuck_requeue_after(d, status, now)
            if after is not None and after < 1:
                self.queue.add_rate_limited(key)
            elif after is not None:
                self.queue.add_after(key, after + 1)
        wanted = annotations_of(d).get(REVISION_ANNOTATION)
        if wanted is not None and wanted != annotations_of(cached).get(REVISION_ANNOTATION):
            patch = {"metadata": {"annotations": {REVISION_ANNOTATION: wanted}}}
            before = self.deployments.store.get(key)
            patched = await self.client.patch(
                "deployments", name_of(d), patch, namespace=meta(d).get("namespace"), content_type=MERGE_PATCH
            )
            self.own_writes.wrote(key, before, patched)

    async def _update_status(self, d: Obj) -> None:
        """Write the status of `d`; until the informer shows the write, syncs start from what it
        returned (a sync on the older cached copy would only conflict)."""
        key = _key(d)
        body = {**d, "status": normalized_status(d.get("status"))}  # d is this sync's own copy
        before = self.deployments.store.get(key)
        written = await self.client.update(
            "deployments", body, namespace=meta(d).get("namespace"), subresource="status"
        )
        self.own_writes.wrote(key, before, written)

    async def _selecting_all(self, d: Obj) -> None:
        self.record(d, "Warning", "SelectingAll", SELECTING_ALL_MESSAGE)
        generation = int(meta(d).get("generation") or 0)
        status = d.setdefault("status", {})
        if int(status.get("observedGeneration") or 0) < generation:
            status["observedGeneration"] = generation
            await self._update_status(d)

    # --- adoption -------------------------------------------------------------------------------

    async def _claim_replica_sets(self, d: Obj) -> list[Obj]:
        """The Deployment's ReplicaSets: owned ones that match, plus matching orphans adopted;
        owned ones that stopped matching are released."""
        namespace = meta(d).get("namespace", "")
        claims = claim_replica_sets(d, self.replicasets.store.by_index("namespace", namespace))
        owned = list(claims.owned)
        if claims.adopt:
            await self._recheck_can_adopt(d)
        for rs in claims.adopt:
            patch = {"metadata": {"ownerReferences": [owner_reference(d)], "uid": uid_of(rs)}}
            try:
                adopted: Obj = await self.client.patch(
                    "replicasets", name_of(rs), patch, namespace=namespace, content_type=STRATEGIC_MERGE_PATCH
                )
            except ApiError as error:
                if is_not_found(error):
                    continue
                raise
            owned.append(adopted)
        for rs in claims.release:
            patch = {
                "metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid_of(d)}], "uid": uid_of(rs)}
            }
            try:
                await self.client.patch(
                    "replicasets", name_of(rs), patch, namespace=namespace, content_type=STRATEGIC_MERGE_PATCH
                )
            except ApiError as error:
                if not (is_not_found(error) or error.code == 422):
                    raise
        return owned

    async def _recheck_can_adopt(self, d: Obj) -> None:
        """Adopt only for the live Deployment: re-read it past the cache (upstream issue 42639)."""
        namespace = meta(d).get("namespace", "")
        fresh: Obj = await self.client.get("deployments", name_of(d), namespace=namespace)
        if uid_of(fresh) != uid_of(d):
            gone = f"original Deployment {namespace}/{name_of(d)} is gone"
            raise RuntimeError(f"{gone}: got uid {uid_of(fresh)}, wanted {uid_of(d)}")
        if is_deleting(fresh):
            raise RuntimeError(
                f"{namespace}/{name_of(d)} has just been deleted at {meta(fresh).get('deletionTimestamp')}"
            )

    def _pod_map(self, d: Obj, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods by the uid of their ReplicaSet (all phases: Recreate must see any
        old pod still running), read from the pods-by-controller index."""
        selector = selector_of(d)
        namespace = meta(d).get("namespace", "")
        pod_map: dict[str, list[Obj]] = {}
        for rs in rs_list:
            pod_map[uid_of(rs)] = [
                pod
                for pod in self.pods.store.by_index(POD_CONTROLLER_UID_INDEX, uid_of(rs))
                if (pod.get("metadata") or {}).get("namespace", "") == namespace
                and selector.matches((pod.get("metadata") or {}).get("labels") or {})
            ]
        return pod_map

    # --- the new ReplicaSet and revisions ---------------------------------------------------------

    async def _get_all_replica_sets(
        self, d: Obj, rs_list: list[Obj], create: bool
    ) -> tuple[Obj | None, list[Obj]]:
        _, old_rss = find_old_replica_sets(d, rs_list)
        return await self._get_new_replica_set(d, rs_list, old_rss, create), old_rss

    async def _get_new_replica_set(
        self, d: Obj, rs_list: list[Obj], old_rss: list[Obj], create: bool
    ) -> Obj | None:
        """The ReplicaSet for the current template with its annotations brought up to date, created
        if `create` and missing (revision = highest old revision + 1). The Deployment's revision
        annotation and Progressing condition are set in `d`; written by the caller."""
        namespace = meta(d).get("namespace", "")
        status = d.setdefault("status", {})
        now = self.ctx.now()
        new_revision = max_revision(old_rss) + 1
        existing = find_new_replica_set(d, rs_list)
        if existing is not None:
            # A copy of what set_new_replica_set_annotations and minReadySeconds change, no more.
            rs = {**existing, "metadata": {**meta(existing), "annotations": annotations_of(existing)}}
            rs["spec"] = dict(existing.get("spec") or {})
            annotations_changed = set_new_replica_set_annotations(d, rs, new_revision, exists=True)
            min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
            if annotations_changed or int(rs["spec"].get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                updated: Obj = await self.client.update("replicasets", rs, namespace=namespace)
                return updated
            _set_revision(d, annotations_of(rs).get(REVISION_ANNOTATION, ""))
            if progress_deadline(d) is not None and get_condition(status, PROGRESSING) is None:
                message = f'Found new replica set "{name_of(rs)}"'
                set_condition(status, new_condition(PROGRESSING, "True", FOUND_NEW_REPLICA_SET, message, now))
            return rs
        if not create:
            return None

        collision_count = status.get("collisionCount")
        rs = new_replica_set(d, compute_hash(template_of(d), collision_count), new_revision)
        replicas = new_rs_new_replicas(d, [*old_rss, rs], rs)
        set_spec_replicas(rs, replicas)
        already_existed = False
        try:
            created: Obj = await self.client.create("replicasets", rs, namespace=namespace)
        except KubeClientError as error:
            if is_already_exists(error):
                created = await self._existing_or_collision(d, rs, error)
                already_existed = True
            elif isinstance(error, ApiError) and _namespace_terminating(error):
                raise
            else:
                message = f'Failed to create new replica set "{name_of(rs)}": {error}'
                if progress_deadline(d) is not None:
                    set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE, message, now))
                    try:
                        await self._update_status(d)
                    except KubeClientError as status_error:  # the create error is the one to report
                        log.info("Status update failed", deployment=_key(d), error=str(status_error))
                self.record(d, "Warning", FAILED_RS_CREATE, message)
                raise
        if not already_existed and replicas > 0:
            self.record(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {name_of(created)} from 0 to {replicas}",
            )
        _set_revision(d, str(new_revision))
        if not already_existed and progress_deadline(d) is not None:
            message = f'Created new replica set "{name_of(created)}"'
            set_condition(status, new_condition(PROGRESSING, "True", NEW_REPLICA_SET, message, now))
        return created

    async def _existing_or_collision(self, d: Obj, rs: Obj, error: KubeClientError) -> Obj:
        """A create that found the name taken: ours from a stale cache (use it), or a hash collision
        (count it in status.collisionCount so the next try hashes to another name, and fail)."""
        existing = self.replicasets.store.get(f"{meta(rs).get('namespace')}/{name_of(rs)}")
        if existing is None:
            raise error
        ref = controller_ref(existing)
        if (
            ref is not None
            and ref.get("uid") == uid_of(d)
            and equal_ignore_hash(template_of(d), template_of(existing))
        ):
            return copy.deepcopy(existing)
        status = d.setdefault("status", {})
        previous = status.get("collisionCount")
        status["collisionCount"] = (previous or 0) + 1
        try:
            await self._update_status(d)
            log.v(2).info(
                "Found a hash collision for deployment - bumping collisionCount to resolve it",
                deployment=_key(d),
                old_collision_count=previous,
                new_collision_count=status["collisionCount"],
            )
        except KubeClientError as status_error:
            log.info("Status update failed", deployment=_key(d), error=str(status_error))
        raise error

    # --- scaling --------------------------------------------------------------------------------

    async def _scale_replica_set(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
        """Set a ReplicaSet's size and its desired/max-replicas annotations; True if the size
        changed (then the event ScalingReplicaSet)."""
        replicas = spec_replicas(d)
        maximum = replicas + max_surge(d)
        old_scale = spec_replicas(rs)
        size_changes = old_scale != new_scale
        if not size_changes and not replicas_annotations_need_update(rs, replicas, maximum):
            return False, rs
        body = copy.deepcopy(rs)
        set_spec_replicas(body, new_scale)
        set_replicas_annotations(body, replicas, maximum)
        updated: Obj = await self.client.update("replicasets", body, namespace=meta(rs).get("namespace"))
        if size_changes:
            direction = "up" if old_scale < new_scale else "down"
            message = f"Scaled {direction} replica set {name_of(rs)} from {old_scale} to {new_scale}"
            self.record(d, "Normal", "ScalingReplicaSet", message)
        return size_changes, updated

    async def _scale_and_record(self, rs: Obj, new_scale: int, d: Obj) -> tuple[bool, Obj]:
        if spec_replicas(rs) == new_scale:
            return False, rs
        return await self._scale_replica_set(rs, new_scale, d)

    async def _sync(self, d: Obj, rs_list: list[Obj], now: datetime) -> Obj:
        """A paused Deployment or a scaling event: resize (proportionally mid-rollout), no rollout."""
        new_rs, old_rss = await self._get_all_replica_sets(d, rs_list, create=False)
        await self._scale(d, new_rs, old_rss)
        if (d.get("spec") or {}).get("paused"):
            await self._clean_up(d, old_rss)
        return calculate_status([*old_rss, new_rs], new_rs, d, now)

    async def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        replicas = spec_replicas(d)
        latest = find_active_or_latest(new_rs, old_rss)
        if latest is not None:
            if spec_replicas(latest) != replicas:
                await self._scale_and_record(latest, replicas, d)
            return
        if is_saturated(d, new_rs):
            for old in filter_active(by_creation(old_rss, newest_first=True)):
                await self._scale_and_record(old, 0, d)
            return
        if is_rolling_update(d):
            for rs, size in proportional_sizes(d, new_rs, old_rss):
                await self._scale_replica_set(rs, size, d)

    async def _clean_up(self, d: Obj, old_rss: list[Obj]) -> None:
        """Delete the old ReplicaSets beyond revisionHistoryLimit."""
        for rs in replica_sets_to_clean_up(d, old_rss):
            log.v(4).info("Deleting old replica set", deployment=_key(d), replica_set=name_of(rs))
            try:
                await self.client.delete("replicasets", name_of(rs), namespace=meta(rs).get("namespace"))
            except ApiError as error:
                if not is_not_found(error):
                    raise

    # --- strategies -----------------------------------------------------------------------------

    async def _rollout_rolling(self, d: Obj, rs_list: list[Obj], now: datetime) -> Obj:
        """One step of a rolling update: scale the new ReplicaSet up as far as maxSurge allows, else
        the old ones down as far as maxUnavailable allows; when done, clean up history."""
        new_rs, old_rss = await self._get_all_replica_sets(d, rs_list, create=True)
        assert new_rs is not None  # created or found
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        if await self._reconcile_new_replica_set(all_rss, new_rs, d):
            return rollout_status(all_rss, new_rs, d, now)
        if await self._reconcile_old_replica_sets(all_rss, filter_active(old_rss), new_rs, d):
            return rollout_status(all_rss, new_rs, d, now)
        if deployment_complete(d, d.get("status")):
            await self._clean_up(d, old_rss)
        return rollout_status(all_rss, new_rs, d, now)

    async def _reconcile_new_replica_set(self, all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> bool:
        replicas = spec_replicas(d)
        if spec_replicas(new_rs) == replicas:
            return False
        if spec_replicas(new_rs) > replicas:
            return (await self._scale_and_record(new_rs, replicas, d))[0]
        return (await self._scale_and_record(new_rs, new_rs_new_replicas(d, all_rss, new_rs), d))[0]

    async def _reconcile_old_replica_sets(
        self, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj, d: Obj
    ) -> bool:
        """Scale old ReplicaSets down: their unavailable pods first, then available ones while the
        Deployment keeps replicas - maxUnavailable available."""
        if sum(spec_replicas(rs) for rs in old_rss) == 0:
            return False
        budget = max_scaled_down(d, all_rss, new_rs)
        if budget <= 0:
            return False
        plan = unhealthy_cleanup_plan(old_rss, budget)
        if plan is None:
            log.info("Old replica set has more available pods than replicas; waiting", deployment=_key(d))
            return False
        scaled = 0
        updated: dict[str, Obj] = {}
        for rs, size in plan:
            _, updated[uid_of(rs)] = await self._scale_and_record(rs, size, d)
            scaled += spec_replicas(rs) - size
        old_rss = [updated.get(uid_of(rs), rs) for rs in old_rss]
        for rs, size in rolling_scale_down_plan(d, [*old_rss, new_rs], old_rss):
            await self._scale_and_record(rs, size, d)
            scaled += spec_replicas(rs) - size
        return scaled > 0

    async def _rollout_recreate(self, d: Obj, rs_list: list[Obj], now: datetime) -> Obj:
        """Scale every old ReplicaSet to 0, wait until their pods are gone, then create and fill the
        new ReplicaSet (never old and new pods at once)."""
        new_rs, old_rss = await self._get_all_replica_sets(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in filter_active(old_rss):
            scaled, _ = await self._scale_and_record(rs, 0, d)
            scaled_down = scaled_down or scaled
        if scaled_down or old_pods_running(new_rs, old_rss, self._pod_map(d, rs_list)):
            return rollout_status(all_rss, new_rs, d, now)
        if new_rs is None:
            new_rs, old_rss = await self._get_all_replica_sets(d, rs_list, create=True)
            assert new_rs is not None
            all_rss = [*old_rss, new_rs]
        await self._scale_and_record(new_rs, spec_replicas(d), d)
        if deployment_complete(d, d.get("status")):
            await self._clean_up(d, old_rss)
        return rollout_status(all_rss, new_rs, d, now)


def _split(d: Obj, rs_list: list[Obj]) -> tuple[Obj | None, list[Obj]]:
    """(new ReplicaSet, old ones) as the cache has them, without syncing revisions."""
    return find_new_replica_set(d, rs_list), find_old_replica_sets(d, rs_list)[1]


def _set_revision(d: Obj, revision: str) -> None:
    d.setdefault("metadata", {}).setdefault("annotations", {})[REVISION_ANNOTATION] = revision


def _key(d: Obj) -> str:
    return f"{meta(d).get('namespace')}/{name_of(d)}"


def _namespace_terminating(error: ApiError) -> bool:
    """The apiserver refused a create in a namespace being deleted (a StatusCause's type is
    serialized as "reason")."""
    causes = (error.status.get("details") or {}).get("causes") or ()
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)


def new(ctx: ControllerContext) -> DeploymentController:
    return DeploymentController(ctx)
