"""The namespace controller (upstream's pkg/controller/namespace and its deletion package):
deleting a namespace deletes everything in it, then removes the `kubernetes` finalizer from
spec.finalizers so the apiserver can let the namespace go.

For a namespace with a deletionTimestamp, a reconcile:
1. makes sure status.phase is Terminating (the apiserver sets it on DELETE already);
2. for every namespaced built-in resource that can be listed and deleted (kplane serves no
   custom resources yet, so the registry is the discovery), LISTs the namespace's objects from the
   apiserver and DELETEs (propagationPolicy Background) each one not already being deleted, then
   counts what remains and the finalizers holding it;
3. writes the deletion conditions (NamespaceDeletionDiscoveryFailure, ...GroupVersionParsingFailure,
   ...ContentFailure, NamespaceContentRemaining, NamespaceFinalizersRemaining) when they changed;
4. when content remains, looks again after a delay (upstream estimates it from pods' grace periods
   or 15 s for finalizers and waits half of it; we wait 1-5 s); when empty, PUTs
   /api/v1/namespaces/NAME/finalize without "kubernetes".

Content is read with live LISTs, not informer caches, as upstream does: finalizing a namespace
whose cache missed a last-moment create would leave that object behind for good.

Why LIST then DELETE each object rather than DELETE on the collection (upstream tries
deletecollection first): the list is needed anyway to count what remains and to estimate pods'
grace; objects already terminating are skipped, so a pass over a namespace that is only waiting
writes nothing; our apiserver's deletecollection is itself a list and a delete per object, so
only the round trips differ; and the client has no deletecollection verb.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, Obj, QueueController
from kubeapi.resources import BUILTIN_REGISTRY, Registry, Resource
from kubeclient.errors import ApiError, KubeClientError, is_not_found
from kubeclient.workqueue import ExponentialBackoff, MaxOfRateLimiter, TokenBucket, WorkQueue

log = get_logger(__name__)

FINALIZER = "kubernetes"
"""v1.FinalizerKubernetes: the token this controller owns in spec.finalizers."""
DELETION_GRACE_PERIOD = 5.0
"""Upstream's namespaceDeletionGracePeriod: wait after a namespace event, so every apiserver's
lifecycle admission has seen the deletion and no create sneaks in after the content is listed."""
FINALIZER_ESTIMATE_SECONDS = 15
"""Upstream's guess for how long objects held by finalizers take to go."""
MIN_REQUEUE, MAX_REQUEUE = 1.0, 5.0

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (
    DISCOVERY_FAILURE,
    GROUP_VERSION_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
)
OK_REASONS = {
    DISCOVERY_FAILURE: "ResourcesDiscovered",
    GROUP_VERSION_PARSING_FAILURE: "ParsedGroupVersions",
    CONTENT_FAILURE: "ContentDeleted",
    CONTENT_REMAINING: "ContentRemoved",
    FINALIZERS_REMAINING: "ContentRemoved",
}
OK_MESSAGES = {
    DISCOVERY_FAILURE: "All resources successfully discovered",
    GROUP_VERSION_PARSING_FAILURE: "All legacy kube types successfully parsed",
    CONTENT_FAILURE: "All content successfully deleted, may be waiting on finalization",
    CONTENT_REMAINING: "All content successfully removed",
    FINALIZERS_REMAINING: "All content successfully removed",
}


class ContentDeletionFailed(KubeClientError):
    """Some resource types could not be emptied; the namespace is retried with back-off."""


# --- pure helpers -------------------------------------------------------------------------------


def deletable_resources(registry: Registry = BUILTIN_REGISTRY) -> list[Resource]:
    """Namespaced resources that can be listed and deleted (upstream filters discovery by the
    delete verb and skips those whose list is not supported)."""
    return [r for r in registry.resources if r.namespaced and {"delete", "list"} <= set(r.verbs)]


def gvr_string(resource: Resource) -> str:
    """schema.GroupVersionResource's String(): "apps/v1, Resource=deployments", "/v1, Resource=pods"."""
    return f"{resource.group}/{resource.version}, Resource={resource.name}"


def client_resource(resource: Resource) -> str:
    return f"{resource.name}.{resource.group}" if resource.group else resource.name


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def pod_grace_estimate(pods: Iterable[Mapping[str, Any]], deleted_at: datetime, now: datetime) -> int:
    """Upstream's estimateGracefulTerminationForPods: the longest terminationGracePeriodSeconds of
    the non-terminal pods, or 0 once that long has passed since the namespace's deletion."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is not None and int(grace) > estimate:
            estimate = int(grace)
    return 0 if (now - deleted_at).total_seconds() >= estimate else estimate


@dataclass(frozen=True)
class Remaining:
    """What one resource type still has in the namespace (upstream's gvrDeletionMetadata)."""

    estimate: int = 0
    count: int = 0
    finalizers: Mapping[str, int] = field(default_factory=dict)
    error: str = ""


def remaining(
    resource: Resource, namespace: str, items: Sequence[Mapping[str, Any]], estimate: int
) -> Remaining:
    """Upstream's verdict on the objects left after deleting: nothing; waiting (a grace estimate,
    or finalizers, which get FINALIZER_ESTIMATE_SECONDS); or an error — objects that should have
    gone and have nothing holding them."""
    if not items:
        return Remaining()
    held = Counter(str(f) for item in items for f in (item.get("metadata") or {}).get("finalizers") or ())
    if estimate:
        return Remaining(estimate, len(items), dict(held))
    if held:
        return Remaining(FINALIZER_ESTIMATE_SECONDS, len(items), dict(held))
    message = f"unexpected items still remain in namespace: {namespace} for gvr: {gvr_string(resource)}"
    return Remaining(0, len(items), error=message)


def deletion_conditions(
    remaining_by_resource: Mapping[Resource, Remaining], content_errors: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """The failing conditions (type -> (reason, message)) of one deletion pass, worded as
    upstream's namespaceConditionUpdater words them; absent types are fine."""
    failing: dict[str, tuple[str, str]] = {}
    if content_errors:
        listed = ", ".join(sorted(content_errors))
        failing[CONTENT_FAILURE] = (
            "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(content_errors)} remaining: {listed}",
        )
    counts = sorted(
        f"{r.name}.{r.group} has {left.count} resource instances"
        for r, left in remaining_by_resource.items()
        if left.count
    )
    if counts:
        failing[CONTENT_REMAINING] = (
            "SomeResourcesRemain",
            f"Some resources are remaining: {', '.join(counts)}",
        )
    held: Counter[str] = Counter()
    for left in remaining_by_resource.values():
        if left.count:
            held.update(left.finalizers)
    by_finalizer = sorted(f"{name} in {count} resource instances" for name, count in held.items() if count)
    if by_finalizer:
        failing[FINALIZERS_REMAINING] = (
            "SomeFinalizerRemain",
            f"Some finalizers are remaining: {', '.join(by_finalizer)}",
        )
    return failing


def updated_conditions(
    conditions: Sequence[Mapping[str, Any]], failing: Mapping[str, tuple[str, str]], now: str
) -> list[Obj] | None:
    """Upstream's updateConditions: every type this controller keeps, True with the failure or
    False with its "ok" wording; lastTransitionTime moves only when the status flips. None when
    nothing changed."""
    result = [dict(c) for c in conditions]
    changed = False
    for type_ in CONDITION_TYPES:
        status, (reason, message) = (
            ("True", failing[type_])
            if type_ in failing
            else ("False", (OK_REASONS[type_], OK_MESSAGES[type_]))
        )
        old = next((c for c in result if c.get("type") == type_), None)
        if old is None:
            result.append(
                {
                    "type": type_,
                    "status": status,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            )
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != (status, reason, message):
            if old.get("status") != status:
                old["lastTransitionTime"] = now
            old.update(status=status, reason=reason, message=message)
            changed = True
    return result if changed else None


def requeue_delay(estimate: int) -> float:
    """Upstream waits estimate/2 + 1 seconds; we keep it within 1-5 s so a namespace goes soon after
    its content does."""
    return min(MAX_REQUEUE, max(MIN_REQUEUE, float(estimate // 2 + 1)))


def finalized_spec(namespace: Mapping[str, Any]) -> list[str]:
    """spec.finalizers without ours, sorted and unique as upstream's finalizeNamespace sends them."""
    return sorted({str(f) for f in (namespace.get("spec") or {}).get("finalizers") or ()} - {FINALIZER})


# --- the controller -----------------------------------------------------------------------------


class NamespaceController(QueueController):
    name = "namespace-controller"
    max_retries = 1_000_000  # upstream keeps retrying a namespace, at least once a minute

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_namespace_syncs)
        # Upstream's nsControllerRateLimiter: back-off capped at 60 s, 10 qps overall.
        self.queue = WorkQueue(
            self.name,
            rate_limiter=MaxOfRateLimiter(ExponentialBackoff(0.005, 60.0), TokenBucket(10.0, 100, ctx.clock)),
            clock=ctx.clock,
        )
        self.namespaces = ctx.informers.informer("namespaces")
        self.namespaces.add_handler(self.enqueue_namespace, lambda _, new: self.enqueue_namespace(new))
        self.resources = deletable_resources()

    def enqueue_namespace(self, namespace: Obj) -> None:
        """Only namespaces being deleted, after the grace period upstream allows HA apiservers."""
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue_after(namespace, DELETION_GRACE_PERIOD)

    async def reconcile(self, key: str) -> None:
        cached = self.namespaces.store.get(key)
        if cached is None or not (cached.get("metadata") or {}).get("deletionTimestamp"):
            return
        namespace = copy.deepcopy(cached)
        try:
            await self._delete(namespace)
        except ApiError as error:
            if not is_not_found(error):  # the namespace is gone: nothing left to do
                raise

    async def _delete(self, namespace: Obj) -> None:
        name = namespace["metadata"]["name"]
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            namespace.setdefault("status", {})["phase"] = "Terminating"
            namespace = await self.client.update("namespaces", namespace, subresource="status")
        if not (namespace.get("spec") or {}).get("finalizers"):
            return  # finalized: the apiserver deletes it
        deleted_at = parse_time(namespace["metadata"]["deletionTimestamp"])
        left: dict[Resource, Remaining] = {}
        errors: list[str] = []
        for resource in self.resources:
            try:
                left[resource] = found = await self._delete_all(resource, name, deleted_at)
            except KubeClientError as error:
                errors.append(str(error))
                continue
            if found.error:
                errors.append(found.error)
        conditions = updated_conditions(
            (namespace.get("status") or {}).get("conditions") or (),
            deletion_conditions(left, errors),
            self.ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        if conditions is not None:
            namespace.setdefault("status", {})["conditions"] = conditions
            try:
                namespace = await self.client.update("namespaces", namespace, subresource="status")
            except KubeClientError as error:  # as upstream: logged, the next pass writes it
                log.warning("Couldn't update status conditions", namespace=name, error=str(error))
        if errors:
            raise ContentDeletionFailed(f"deletion of namespace {name} failed: {'; '.join(errors)}")
        estimate = max((r.estimate for r in left.values()), default=0)
        if estimate > 0:
            delay = requeue_delay(estimate)
            log.info("Content remaining in namespace", namespace=name, estimate=estimate, delay=delay)
            self.enqueue_after(namespace, delay)
            return
        if FINALIZER in ((namespace.get("spec") or {}).get("finalizers") or ()):
            body = copy.deepcopy(namespace)
            body["spec"]["finalizers"] = finalized_spec(namespace)
            log.info("Namespace content removed, finalizing", namespace=name)
            await self.client.update("namespaces", body, subresource="finalize")

    async def _delete_all(self, resource: Resource, namespace: str, deleted_at: datetime) -> Remaining:
        """Upstream's deleteAllContentForGroupVersionResource, with list-and-delete-each."""
        plural = client_resource(resource)
        try:
            items = (await self.client.list(plural, namespace=namespace)).get("items") or []
        except ApiError as error:
            if error.code in (404, 405):  # not served after all: nothing of it to delete
                return Remaining()
            raise
        estimate = pod_grace_estimate(items, deleted_at, self.ctx.now()) if resource.name == "pods" else 0
        deleted = False
        for item in items:
            meta = item.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue  # already on its way; deleting again changes nothing
            try:
                await self.client.delete(
                    plural, meta["name"], namespace=namespace, propagation_policy="Background"
                )
                deleted = True
            except ApiError as error:
                if error.code not in (404, 405):
                    raise
        if deleted:
            items = (await self.client.list(plural, namespace=namespace)).get("items") or []
        return remaining(resource, namespace, items, estimate)


def new(ctx: ControllerContext) -> NamespaceController:
    return NamespaceController(ctx)
