"""pod-garbage-collector-controller (upstream pkg/controller/podgc): every `gc_check_period` (20 s) one
pass over the pod and node caches that force-deletes (grace period 0) the pods nobody else will:

- terminated pods (phase Succeeded or Failed) above `--terminated-pod-gc-threshold`, evicted first, then
  oldest first (the threshold 0 turns this off);
- terminating pods on a node that is not Ready and carries the `node.kubernetes.io/out-of-service` taint
  (the operator declared the node dead; its kubelet will never finish them);
- pods bound to a node that no longer exists: the node must have been missing for `quarantine_time`
  (40 s, so a node the informer has not seen yet is not taken for gone) and a live GET must answer 404.
  Such a pod is first marked Failed with the condition DisruptionTarget (reason DeletionByPodGC), since no
  kubelet is left to give it a final phase;
- terminating pods that were never scheduled.

A pod that is not yet Succeeded or Failed is patched to Failed before its deletion (upstream
markFailedAndDeletePod). The periodic task only puts the one key `GC_KEY` on the queue; the worker runs the
pass, so a pass never overlaps another. Picking the pods is pure (`pods_to_collect`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, Obj, QueueController
from kubeclient.errors import KubeClientError, is_not_found
from kubeclient.informer import object_key
from kubeclient.rest import STRATEGIC_MERGE_PATCH

log = get_logger(__name__)

GC_CHECK_PERIOD = 20.0
"""Seconds between passes (upstream gcCheckPeriod)."""
QUARANTINE_TIME = 40.0
"""Seconds a node must be missing from the cache before a GET decides it is gone (upstream quarantineTime)."""
GC_KEY = "podgc"
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
PARALLEL_DELETES = 32
"""Force-deletions in flight at once (upstream starts one goroutine per pod)."""

ORPHANED_CONDITION = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByPodGC",
    "message": "PodGC: node no longer exists",
}

_EPOCH = datetime.min.replace(tzinfo=UTC)


# --- pure decisions ---------------------------------------------------------------------------------


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminated(pod: Mapping[str, Any]) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_evicted(pod: Mapping[str, Any]) -> bool:
    """The kubelet's eviction leaves phase Failed with reason Evicted (upstream eviction.PodIsEvicted)."""
    return phase(pod) == "Failed" and (pod.get("status") or {}).get("reason") == "Evicted"


def node_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _created(pod: Mapping[str, Any]) -> datetime:
    stamp = (pod.get("metadata") or {}).get("creationTimestamp")
    return datetime.fromisoformat(stamp) if stamp else _EPOCH


def collection_order(pod: Mapping[str, Any]) -> tuple[bool, datetime, str]:
    """Evicted pods first (they matter least to their controllers), then oldest, then by name
    (upstream byEvictionAndCreationTimestamp)."""
    return (not is_evicted(pod), _created(pod), str((pod.get("metadata") or {}).get("name", "")))


def node_ready(node: Mapping[str, Any]) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def out_of_service(node: Mapping[str, Any]) -> bool:
    """Not Ready and tainted out-of-service: the operator declared the node dead."""
    taints = (node.get("spec") or {}).get("taints") or ()
    return not node_ready(node) and any(taint.get("key") == OUT_OF_SERVICE_TAINT for taint in taints)


def terminated_over_threshold(pods: Iterable[Obj], threshold: int) -> list[Obj]:
    """The terminated pods beyond `threshold`, in collection order; none when `threshold` <= 0."""
    if threshold <= 0:
        return []
    terminated = [pod for pod in pods if is_terminated(pod)]
    excess = len(terminated) - threshold
    return sorted(terminated, key=collection_order)[:excess] if excess > 0 else []


def terminating_out_of_service(pods: Iterable[Obj], nodes: Mapping[str, Obj]) -> list[Obj]:
    """Terminating pods whose node (known to the cache) is out of service, in collection order."""
    found = [
        pod
        for pod in pods
        if is_terminating(pod) and (node := nodes.get(node_name(pod))) is not None and out_of_service(node)
    ]
    return sorted(found, key=collection_order)


def unscheduled_terminating(pods: Iterable[Obj]) -> list[Obj]:
    return [pod for pod in pods if is_terminating(pod) and not node_name(pod)]


def missing_nodes(pods: Iterable[Obj], existing: Iterable[str]) -> set[str]:
    """Names of nodes that pods are bound to but the node cache does not hold."""
    known = set(existing)
    return {name for pod in pods if (name := node_name(pod)) and name not in known}


def quarantine_step(
    quarantine: Mapping[str, float], missing: Iterable[str], existing: Iterable[str], now: float, wait: float
) -> tuple[dict[str, float], list[str]]:
    """Upstream's delaying node queue as a value: `quarantine` maps a node name to when its check is due.
    Returns the quarantine still waiting and the names due now for a live GET: those whose time has come
    and that pods still name (a node the cache has seen again, or that no pod names any more, is dropped
    unchecked). Every missing node not waiting already is due `wait` seconds from `now`, including the
    ones due now, so a node that a GET still finds is checked again a quarantine later."""
    waiting = dict(quarantine)
    due = sorted(name for name, at in waiting.items() if at <= now)
    for name in due:
        del waiting[name]
    missing = set(missing) - set(existing)
    for name in sorted(missing):
        waiting.setdefault(name, now + wait)
    return waiting, [name for name in due if name in missing]


def orphaned(pods: Iterable[Obj], deleted_nodes: Iterable[str]) -> list[Obj]:
    gone = set(deleted_nodes)
    return [pod for pod in pods if node_name(pod) in gone]


@dataclass
class Collection:
    """One pass's decisions: what to delete, and the condition to set on each before it goes."""

    terminated: list[Obj] = field(default_factory=list)
    terminating_out_of_service: list[Obj] = field(default_factory=list)
    orphaned: list[Obj] = field(default_factory=list)
    unscheduled_terminating: list[Obj] = field(default_factory=list)

    def deletions(self) -> list[tuple[Obj, Mapping[str, str] | None, str]]:
        """(pod, condition or None, why), each pod once, in upstream's order of the four sweeps."""
        seen: set[str] = set()
        out: list[tuple[Obj, Mapping[str, str] | None, str]] = []
        sweeps: list[tuple[list[Obj], Mapping[str, str] | None, str]] = [
            (self.terminated, None, "terminated"),
            (self.terminating_out_of_service, None, "terminating-out-of-service"),
            (self.orphaned, ORPHANED_CONDITION, "orphaned"),
            (self.unscheduled_terminating, None, "terminating-unscheduled"),
        ]
        for pods, condition, why in sweeps:
            for pod in pods:
                key = object_key(pod)
                if key not in seen:
                    seen.add(key)
                    out.append((pod, condition, why))
        return out


def pods_to_collect(
    pods: list[Obj], nodes: Mapping[str, Obj], deleted_nodes: Iterable[str], threshold: int
) -> Collection:
    """Which pods a pass deletes, given the caches and the nodes confirmed gone."""
    return Collection(
        terminated=terminated_over_threshold(pods, threshold),
        terminating_out_of_service=terminating_out_of_service(pods, nodes),
        orphaned=orphaned(pods, deleted_nodes),
        unscheduled_terminating=unscheduled_terminating(pods),
    )


def failed_status_patch(
    pod: Mapping[str, Any], condition: Mapping[str, str] | None, now: datetime
) -> Obj | None:
    """The strategic-merge patch of pods/status that makes the pod Failed (with `condition`, whose
    lastTransitionTime is kept when its status does not change), or None when the pod is already
    Succeeded or Failed. The uid in the patch makes it apply to this pod only, not a namesake."""
    if is_terminated(pod):
        return None
    status: Obj = {"phase": "Failed"}
    if condition is not None:
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for old in (pod.get("status") or {}).get("conditions") or ():
            if old.get("type") == condition["type"] and old.get("status") == condition["status"]:
                stamp = old.get("lastTransitionTime") or stamp
        status["conditions"] = [{**condition, "lastTransitionTime": stamp}]
    return {"metadata": {"uid": (pod.get("metadata") or {}).get("uid")}, "status": status}


# --- the controller ---------------------------------------------------------------------------------


class PodGCController(QueueController):
    name = "pod-garbage-collector-controller"

    def __init__(
        self,
        ctx: ControllerContext,
        gc_check_period: float = GC_CHECK_PERIOD,
        quarantine_time: float = QUARANTINE_TIME,
    ) -> None:
        super().__init__(ctx)
        self.gc_check_period = gc_check_period
        self.quarantine_time = quarantine_time
        self.threshold = int(ctx.options.terminated_pod_gc_threshold)
        self.pods = ctx.informers.informer("pods")
        self.nodes = ctx.informers.informer("nodes")
        self.quarantine: dict[str, float] = {}

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(super().run())
            tasks.create_task(self._tick(), name=f"{self.name}-tick")

    async def _tick(self) -> None:
        """Queue a pass now and every period after (upstream wait.Until(gc, gcCheckPeriod))."""
        while True:
            self.queue.add(GC_KEY)
            await asyncio.sleep(self.gc_check_period)

    async def reconcile(self, key: str) -> None:
        """One pass. Failures of single pods are logged and left to the next pass, as upstream does."""
        pods = self.pods.store.objects()
        nodes = {str(node["metadata"]["name"]): node for node in self.nodes.store.objects()}
        self.quarantine, due = quarantine_step(
            self.quarantine, missing_nodes(pods, nodes), nodes, self.ctx.clock(), self.quarantine_time
        )
        deleted_nodes = [name for name in due if await self._node_gone(name)]
        collection = pods_to_collect(pods, nodes, deleted_nodes, self.threshold)
        deletions = collection.deletions()
        if collection.terminated:
            log.info("Garbage collecting pods", controller=self.name, num_pods=len(collection.terminated))
        for start in range(0, len(deletions), PARALLEL_DELETES):
            batch = deletions[start : start + PARALLEL_DELETES]
            await asyncio.gather(*(self._mark_failed_and_delete(*deletion) for deletion in batch))

    async def _node_gone(self, name: str) -> bool:
        """A live GET: only a 404 says the node is gone; an error leaves the question to a later pass."""
        try:
            await self.client.get("nodes", name)
        except KubeClientError as error:
            if is_not_found(error):
                return True
            log.warning("Error while getting node", controller=self.name, node=name, error=str(error))
        return False

    async def _mark_failed_and_delete(self, pod: Obj, condition: Mapping[str, str] | None, why: str) -> None:
        namespace, pod_name = pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
        ref = f"{namespace}/{pod_name}"
        log.info("PodGC is force deleting Pod", controller=self.name, pod=ref, reason=why)
        try:
            patch = failed_status_patch(pod, condition, self.ctx.now())
            if patch is not None:
                await self.client.patch(
                    "pods", pod_name, patch, namespace=namespace, subresource="status",
                    content_type=STRATEGIC_MERGE_PATCH,
                )  # fmt: skip
            await self.client.delete("pods", pod_name, namespace=namespace, grace_period_seconds=0)
        except KubeClientError as error:
            if not is_not_found(error):
                log.warning("Failed to delete pod", controller=self.name, pod=ref, error=str(error))
            return
        if why != "terminated":
            log.info("Forced deletion of Pod succeeded", controller=self.name, pod=ref, reason=why)


def new(ctx: ControllerContext) -> PodGCController:
    return PodGCController(ctx)
