"""The garbage collector (upstream's pkg/controller/garbagecollector): deletes objects whose
owners are gone, and carries out foreground and orphan deletion.

It watches every resource that can be listed, watched and deleted (events excepted, as upstream
ignores them) and keeps an owner graph of metadata.ownerReferences across all of them
(owner_graph.OwnerGraph). The informer handlers feed the graph — a few dictionary operations, on
the event loop that already serialises them as upstream's single graphChanges worker does — and
queue the uids the change concerns. Workers then, per uid:

- "delete/<uid>" (upstream's attemptToDelete): a virtual owner is verified with a live GET and
  dropped from the graph when absent; an owner deleting its dependents (foregroundDeletion) has
  its blocking dependents deleted and loses the finalizer once none remain; any other object has
  its owner references classified (solid, dangling, waiting — from the graph when the owner is
  observed, else by a live GET, remembered in an absent-owner cache) and is deleted when no owner
  is solid (Background, or Foreground when a waiting owner must also wait for its grandchildren),
  or loses its references to absent owners when another owner is still solid;
- "orphan/<uid>" (attemptToOrphan): the owner's dependents lose their reference to it, then the
  owner loses its `orphan` finalizer.

Deletes carry uid and resourceVersion preconditions from the cache; a conflict re-reads the object
and deletes anyway only if its owner references did not change (upstream does the same).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, Obj, QueueController
from controller_manager.controllers.owner_graph import (
    FOREGROUND,
    ORPHAN,
    Decision,
    Identity,
    Node,
    OwnerGraph,
    OwnerRef,
    Verdict,
    Work,
    being_deleted,
    decide,
    finalizers,
    meta_of,
    owner_refs,
    waits_for,
)
from kubeapi.resources import BUILTIN_REGISTRY, Registry, Resource
from kubeclient.errors import ApiError, KubeClientError, is_conflict, is_not_found
from kubeclient.informer import Store
from kubeclient.rest import MERGE_PATCH, STRATEGIC_MERGE_PATCH

log = get_logger(__name__)

IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
"""Upstream's default --gc-ignored-resources: events are never owners worth a watch."""
ABSENT_OWNER_CACHE_SIZE = 500
"""Upstream's absentOwnerCache size: one GET answers for all dependents of a deleted owner."""
UNOBSERVED_RECHECK = 5.0
"""Seconds before looking again at a virtual owner the apiserver has but our informers have not
delivered yet (upstream requeues it until observed: an object created and deleted while a watch
was down would otherwise stay virtual forever)."""


class UnknownOwnerKind(KubeClientError):
    """An ownerReference names a kind no served resource has (upstream's restMappingError);
    retried with back-off, as a custom resource may appear."""


# --- pure helpers -------------------------------------------------------------------------------


def collectable_resources(registry: Registry = BUILTIN_REGISTRY) -> list[Resource]:
    """Upstream's GetDeletableResources: what supports delete, list and watch, less the ignored."""
    return [
        r
        for r in registry.resources
        if {"delete", "list", "watch"} <= set(r.verbs) and (r.group, r.name) not in IGNORED_RESOURCES
    ]


def client_resource(resource: Resource) -> str:
    """The name the client resolves unambiguously: "pods", "replicasets.apps"."""
    return f"{resource.name}.{resource.group}" if resource.group else resource.name


def resource_for(api_version: str, kind: str, registry: Registry = BUILTIN_REGISTRY) -> Resource | None:
    """The resource of an (apiVersion, kind): the exact version, else the group's kind (we serve one
    version per group, as a REST mapper maps any version of a group kind)."""
    group, _, version = api_version.rpartition("/")
    found = registry.by_kind(group, version, kind)
    if found is not None:
        return found
    return next((r for r in registry.resources if (r.group, r.kind) == (group, kind)), None)


def identity_of(resource: Resource, obj: Mapping[str, Any]) -> Identity:
    meta = meta_of(obj)
    return Identity(
        resource.group_version,
        resource.kind,
        str(meta.get("name", "")),
        str(meta.get("uid", "")),
        str(meta.get("namespace") or ""),
    )


def remove_refs_patch(dependent_uid: str, owner_uids: Sequence[str]) -> Obj:
    """Upstream's GenerateDeleteOwnerRefStrategicMergeBytes: delete the references by uid (the
    ownerReferences merge key); the dependent's uid rides along as upstream sends it."""
    return {
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": uid} for uid in owner_uids],
            "uid": dependent_uid,
        }
    }


def unblock_patch(obj: Mapping[str, Any]) -> Obj | None:
    """blockOwnerDeletion turned off in every reference that has it (strategic merge by uid), or
    None when none blocks."""
    blocking = [ref for ref in meta_of(obj).get("ownerReferences") or () if ref.get("blockOwnerDeletion")]
    if not blocking:
        return None
    return {
        "metadata": {
            "ownerReferences": [{**ref, "blockOwnerDeletion": False} for ref in blocking],
            "uid": meta_of(obj).get("uid"),
        }
    }


def finalizer_patch(obj: Mapping[str, Any], finalizer: str) -> Obj | None:
    """A merge patch removing `finalizer`, guarded by the object's resourceVersion (upstream's
    removeFinalizer patch), or None when the object does not have it."""
    present = finalizers(obj)
    if finalizer not in present:
        return None
    rest = [f for f in present if f != finalizer]
    return {"metadata": {"resourceVersion": meta_of(obj).get("resourceVersion"), "finalizers": rest or None}}


class AbsentOwners:
    """Owners the apiserver said do not exist, least recently used dropped first."""

    def __init__(self, size: int = ABSENT_OWNER_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[Identity, None] = OrderedDict()

    def add(self, identity: Identity) -> None:
        self._items[identity] = None
        self._items.move_to_end(identity)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, identity: object) -> bool:
        if identity in self._items:
            self._items.move_to_end(identity)  # type: ignore[arg-type]
            return True
        return False

    def __len__(self) -> int:
        return len(self._items)


# --- the controller -----------------------------------------------------------------------------


class GarbageCollector(QueueController):
    name = "garbage-collector-controller"
    max_retries = 1_000_000  # upstream requeues failed items for as long as it runs

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_gc_syncs)
        self.graph = OwnerGraph()
        self.absent = AbsentOwners()
        self.resources = collectable_resources()
        self.stores: dict[tuple[str, str], Store] = {}
        for resource in self.resources:
            informer = self.ctx.informers.informer(client_resource(resource))  # shared, one per resource
            self.stores[(resource.group, resource.kind)] = informer.store
            informer.add_handler(
                partial(self._added, resource),
                partial(self._updated, resource),
                partial(self._deleted, resource),
            )
        # A handler added to an informer that already holds objects gets them as adds (client-go).
        for resource in self.resources:
            for obj in self.stores[(resource.group, resource.kind)].objects():
                self._added(resource, obj)

    # --- handlers: feed the graph, queue what it says --------------------------------------

    def _added(self, resource: Resource, obj: Obj) -> None:
        self._queue_work(self.graph.observe(identity_of(resource, obj), obj, None))

    def _updated(self, resource: Resource, old: Obj, new: Obj) -> None:
        self._queue_work(self.graph.observe(identity_of(resource, new), new, old))

    def _deleted(self, resource: Resource, obj: Obj) -> None:
        self._queue_work(self.graph.forget(identity_of(resource, obj)))

    def _queue_work(self, work: Work) -> None:
        for identity in work.absent:
            self.absent.add(self._scoped(identity))
        for dependent, owner in work.invalid_namespace:
            ref = {
                "apiVersion": dependent.api_version,
                "kind": dependent.kind,
                "metadata": {"name": dependent.name, "namespace": dependent.namespace, "uid": dependent.uid},
            }
            self.record(
                ref,
                "Warning",
                "OwnerRefInvalidNamespace",
                f"ownerRef {owner} does not exist in namespace {dependent.namespace!r}",
            )
        for uid in work.delete:
            self.queue.add(f"delete/{uid}")
        for uid in work.orphan:
            self.queue.add(f"orphan/{uid}")

    # --- workers ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        queue, _, uid = key.partition("/")
        if queue == "orphan":
            await self._attempt_to_orphan(uid)
        else:
            await self._attempt_to_delete(key, uid)

    async def _attempt_to_delete(self, key: str, uid: str) -> None:
        node = self.graph.get(uid)
        if node is None:
            return
        if not node.observed:
            await self._verify_virtual(key, node)
            return
        if node.being_deleted and not node.deleting_dependents:
            return  # a one-way trip: its dependents are handled when it is gone
        latest = self._cached(node.identity)
        if latest is None:
            return  # the informer's delete is on its way to the graph
        if node.deleting_dependents:
            await self._delete_dependents_of(node, latest)
            return
        refs = owner_refs(latest)
        if not refs:
            return
        verdicts: dict[str, Verdict] = {}
        for ref in refs:
            verdict = await self._classify(ref, node.identity)
            if verdict is None:
                return
            verdicts[ref.uid] = verdict
        decision = decide(
            verdicts,
            finalizers=finalizers(latest),
            has_dependents=bool(node.dependents),
            dependent_deleting=any(dep.deleting_dependents for dep in self.graph.dependents(uid)),
        )
        await self._carry_out(node, latest, decision)

    async def _verify_virtual(self, key: str, node: Node) -> None:
        """A virtual owner: absent at the apiserver -> out of the graph, its dependents looked at
        again; present -> looked at again later, once our informers should have it."""
        resource = resource_for(node.identity.api_version, node.identity.kind)
        if resource is None:
            raise UnknownOwnerKind(f"no resource for {node.identity.api_version}, Kind={node.identity.kind}")
        found = await self._get(resource, node.identity)
        if found is None or meta_of(found).get("uid") != node.identity.uid:
            log.info("Owner not found, forgetting it", controller=self.name, owner=str(node.identity))
            self._queue_work(self.graph.forget_virtual(node.identity))
            return
        if resource in self.resources:
            self.queue.add_after(key, UNOBSERVED_RECHECK)

    async def _classify(self, ref: OwnerRef, item: Identity) -> Verdict | None:
        """SOLID, DANGLING or WAITING (upstream's isDangling and classifyReferences); None when the
        reference can never resolve (a cluster-scoped object naming a namespaced owner)."""
        known = self.graph.owner_verdict(ref, item.namespace)
        if known is not None:
            return known
        resource = resource_for(ref.api_version, ref.kind)
        if resource is None:
            raise UnknownOwnerKind(f"no resource for {ref.api_version}, Kind={ref.kind}")
        if resource.namespaced and not item.namespace:
            log.info(
                "Cluster-scoped object refers to a namespaced owner, ignoring",
                controller=self.name,
                item=str(item),
                owner=ref.name,
            )
            return None
        owner_identity = ref.identity(item.namespace if resource.namespaced else "")
        if owner_identity in self.absent:
            return Verdict.DANGLING
        owner = await self._get(resource, owner_identity)
        if owner is None or meta_of(owner).get("uid") != ref.uid:
            self.absent.add(owner_identity)
            return Verdict.DANGLING
        return Verdict.WAITING if waits_for(owner, FOREGROUND) else Verdict.SOLID

    async def _carry_out(self, node: Node, latest: Obj, decision: Decision) -> None:
        identity = node.identity
        if decision.action == "remove_refs":
            log.info(
                "Removing references to absent or waiting owners",
                controller=self.name,
                item=str(identity),
                owners=",".join(decision.refs),
            )
            await self._patch(identity, remove_refs_patch(identity.uid, decision.refs), STRATEGIC_MERGE_PATCH)
        elif decision.action == "delete":
            if decision.unblock:
                patch = unblock_patch(latest)
                if patch is not None:
                    await self._patch(identity, patch, STRATEGIC_MERGE_PATCH)
            log.info("Deleting item", controller=self.name, item=str(identity), propagation=decision.policy)
            await self._delete(identity, latest, decision.policy or "Background")

    async def _delete_dependents_of(self, node: Node, latest: Obj) -> None:
        """Upstream's processDeletingDependentsItem: the foreground owner goes once nothing blocks
        it; until then its blocking dependents are attempted (they see a waiting owner)."""
        blocking = self.graph.blocking_dependents(node.identity.uid)
        if not blocking:
            patch = finalizer_patch(latest, FOREGROUND)
            if patch is not None:
                log.info(
                    "Removing foregroundDeletion finalizer", controller=self.name, item=str(node.identity)
                )
                await self._patch(node.identity, patch, MERGE_PATCH)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(f"delete/{dep.identity.uid}")

    async def _attempt_to_orphan(self, uid: str) -> None:
        """Upstream's attemptToOrphanWorker: each dependent loses its reference to the owner, then
        the owner loses its orphan finalizer (and the apiserver deletes it)."""
        node = self.graph.get(uid)
        if node is None or not node.observed:
            return
        owner = self._cached(node.identity)
        if owner is None or not waits_for(owner, ORPHAN):
            return
        failures: list[str] = []
        for dep in self.graph.dependents(uid):
            try:
                await self._patch(
                    dep.identity, remove_refs_patch(dep.identity.uid, [uid]), STRATEGIC_MERGE_PATCH
                )
            except KubeClientError as error:
                failures.append(f"orphaning {dep.identity} failed, {error}")
        if failures:
            raise OrphanFailed(
                f"failed to orphan dependents of owner {node.identity}, got errors: {failures}"
            )
        patch = finalizer_patch(owner, ORPHAN)
        if patch is not None:
            log.info("Removing orphan finalizer", controller=self.name, item=str(node.identity))
            await self._patch(node.identity, patch, MERGE_PATCH)

    # --- reads and writes ---------------------------------------------------------------------

    def _scoped(self, identity: Identity) -> Identity:
        """`identity` with the namespace its kind's scope gives it (a virtual node carries its
        dependent's namespace even for a cluster-scoped owner)."""
        resource = resource_for(identity.api_version, identity.kind)
        if resource is not None and not resource.namespaced and identity.namespace:
            return Identity(identity.api_version, identity.kind, identity.name, identity.uid)
        return identity

    def _cached(self, identity: Identity) -> Obj | None:
        store = self.stores.get((identity.group, identity.kind))
        if store is None:
            return None
        key = f"{identity.namespace}/{identity.name}" if identity.namespace else identity.name
        found = store.get(key)
        return found if found is not None and meta_of(found).get("uid") == identity.uid else None

    async def _get(self, resource: Resource, identity: Identity) -> Obj | None:
        namespace = identity.namespace if resource.namespaced else None
        try:
            found: Obj = await self.client.get(client_resource(resource), identity.name, namespace=namespace)
        except ApiError as error:
            if is_not_found(error):
                return None
            raise
        return found

    async def _patch(self, identity: Identity, patch: Obj, content_type: str) -> None:
        resource = self._resource(identity)
        namespace = identity.namespace if resource.namespaced else None
        try:
            await self.client.patch(
                client_resource(resource),
                identity.name,
                patch,
                namespace=namespace,
                content_type=content_type,
            )
        except ApiError as error:
            if not is_not_found(error):
                raise

    async def _delete(self, identity: Identity, latest: Obj, policy: str) -> None:
        """Delete with uid and resourceVersion preconditions; on a conflict, re-read and delete
        anyway (uid only) if the owner references are what we decided on and it is not already
        being deleted."""
        resource = self._resource(identity)
        namespace = identity.namespace if resource.namespaced else None
        name = client_resource(resource)
        preconditions = {"uid": identity.uid}
        version = meta_of(latest).get("resourceVersion")
        try:
            await self.client.delete(
                name,
                identity.name,
                namespace=namespace,
                propagation_policy=policy,
                preconditions={**preconditions, "resourceVersion": version} if version else preconditions,
            )
            return
        except ApiError as error:
            if is_not_found(error):
                return
            if not is_conflict(error):
                raise
            conflict = error
        current = await self._get(resource, identity)
        if current is None or meta_of(current).get("uid") != identity.uid or being_deleted(current):
            return  # gone, replaced, or already on its way (our own earlier delete, say)
        if owner_refs(current) != owner_refs(latest):
            raise conflict  # adopted or released meanwhile: decide again from the cache
        try:
            await self.client.delete(
                name,
                identity.name,
                namespace=namespace,
                propagation_policy=policy,
                preconditions=preconditions,
            )
        except ApiError as error:
            if not is_not_found(error):
                raise

    def _resource(self, identity: Identity) -> Resource:
        resource = resource_for(identity.api_version, identity.kind)
        if resource is None:
            raise UnknownOwnerKind(f"no resource for {identity.api_version}, Kind={identity.kind}")
        return resource


class OrphanFailed(KubeClientError):
    """Some dependents could not be orphaned; the owner keeps its finalizer and is retried."""


def new(ctx: ControllerContext) -> GarbageCollector:
    return GarbageCollector(ctx)
