"""The running scheduler: informers feed the queue and the cache; one loop takes a pod at a time,
decides (schedule_one.Algorithm), assumes, and hands the binding to a background task so the next
decision does not wait for the API round trip (upstream scheduler.go and schedule_one.go).

Failures follow upstream: a pod that fits nowhere gets PostFilter (preemption), a FailedScheduling
event, the PodScheduled=False/Unschedulable condition, and waits in the queue for a cluster event
that may help; a plugin error or a failed binding retries with back-off.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from componentbase.klog import get_logger
from kubeapi import labels
from kubeclient.errors import KubeClientError, is_not_found
from kubeclient.events import EventRecorder
from kubeclient.informer import Informer
from kubeclient.rest import STRATEGIC_MERGE_PATCH, Client
from scheduler import metrics
from scheduler.cache import SchedulerCache
from scheduler.config import KubeSchedulerConfiguration
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.runtime import Framework
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.types import PodInfo
from scheduler.plugins.image_locality import image_states_for
from scheduler.queue import QueuedPodInfo, SchedulingQueue
from scheduler.schedule_one import Algorithm, FitError, SchedulingError

log = get_logger(__name__)
Obj = dict[str, Any]

WATCHED = (
    "pods", "nodes", "namespaces", "poddisruptionbudgets", "persistentvolumeclaims", "persistentvolumes",
    "storageclasses", "services", "replicasets", "statefulsets", "replicationcontrollers",
)  # fmt: skip


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _assigned(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_update_event(old: Obj, new: Obj) -> ClusterEvent:
    """Which kinds of node change happened (upstream nodeSchedulingPropertiesChange)."""
    action = 0
    if (old.get("status") or {}).get("allocatable") != (new.get("status") or {}).get("allocatable"):
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if _meta(old).get("labels") != _meta(new).get("labels"):
        action |= ActionType.UPDATE_NODE_LABEL
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if old_spec.get("taints") != new_spec.get("taints") or old_spec.get("unschedulable") != new_spec.get(
        "unschedulable"
    ):
        action |= ActionType.UPDATE_NODE_TAINT
    if (old.get("status") or {}).get("conditions") != (new.get("status") or {}).get("conditions"):
        action |= ActionType.UPDATE_NODE_CONDITION
    if _meta(old).get("annotations") != _meta(new).get("annotations"):
        action |= ActionType.UPDATE_NODE_ANNOTATION
    return ClusterEvent("Node", action)


class Scheduler:
    def __init__(
        self,
        client: Client,
        config: KubeSchedulerConfiguration,
        recorder: EventRecorder | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.cache = SchedulerCache(clock, image_states=image_states_for)
        self.informers = {resource: Informer(client, resource) for resource in WATCHED}
        self.profiles = {
            profile.scheduler_name: Framework(profile, self, config.percentage_of_nodes_to_score)
            for profile in config.profiles
        }
        first = next(iter(self.profiles.values()))
        events: dict[str, Sequence[ClusterEvent]] = {}
        for framework in self.profiles.values():
            events.update(framework.events_by_plugin())
        self.queue = SchedulingQueue(
            first.less,
            clock=clock,
            pre_enqueue=self._pre_enqueue,
            events_by_plugin=events,
            initial_backoff=float(config.pod_initial_backoff_seconds),
            max_backoff=float(config.pod_max_backoff_seconds),
            namespace_labels=self._namespace_labels,
        )
        self.algorithm = Algorithm(rng)
        self._background: set[asyncio.Task[None]] = set()
        self._register_handlers()

    # --- Services the framework uses ----------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        return self.cache.snapshot

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]:
        return self.informers["poddisruptionbudgets"].store.objects()

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.queue.nominated_pods_for_node(node_name)

    def has_nominated_pods(self) -> bool:
        return bool(self.queue.nominated_count())

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None:
        node = (victim.pod.get("spec") or {}).get("nodeName", "")
        scheduler_name = preemptor.spec.get("schedulerName", "")
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
            "lastTransitionTime": _micro_now(),
        }
        try:
            await self.client.patch(
                "pods", victim.name, {"status": {"conditions": [condition]}},
                namespace=victim.namespace, subresource="status", content_type=STRATEGIC_MERGE_PATCH,
            )  # fmt: skip
            await self.client.delete(
                "pods", victim.name, namespace=victim.namespace, preconditions={"uid": victim.uid}
            )
        except KubeClientError as error:
            if not is_not_found(error):
                raise
        if self.recorder:
            message = f"Preempted by pod {preemptor.uid} on node {node}"
            self.recorder.event(victim.pod, "Normal", "Preempted", message, component=scheduler_name)

    async def clear_nominated_node_name(self, pod: PodInfo) -> None:
        try:
            await self.client.patch(
                "pods",
                pod.name,
                {"status": {"nominatedNodeName": None}},
                namespace=pod.namespace,
                subresource="status",
            )
        except KubeClientError as error:
            if not is_not_found(error):
                raise

    @property
    def volume_listers(self) -> Scheduler:
        return self

    @property
    def selector_lister(self) -> Scheduler:
        return self

    def get_pvc(self, namespace: str, name: str) -> Obj | None:
        return self.informers["persistentvolumeclaims"].store.get(f"{namespace}/{name}")

    def get_pv(self, name: str) -> Obj | None:
        return self.informers["persistentvolumes"].store.get(name)

    def get_storage_class(self, name: str) -> Obj | None:
        return self.informers["storageclasses"].store.get(name)

    def default_selector(self, pod: Mapping[str, Any]) -> labels.Selector:
        """The union of the selectors of the Services, ReplicationControllers, ReplicaSets and
        StatefulSets that select this pod (upstream helper.DefaultSelector, for system default
        topology spreading)."""
        meta = _meta(pod)
        namespace, pod_labels = meta.get("namespace", ""), meta.get("labels") or {}
        requirements: dict[tuple[str, str], labels.Requirement] = {}

        def merge(selector: labels.Selector) -> None:
            if not selector.empty and selector.matches(pod_labels):
                for requirement in selector.requirements:
                    requirements[(requirement.key, str(requirement))] = requirement

        for resource in ("services", "replicationcontrollers"):
            for obj in self.informers[resource].store.by_index("namespace", namespace):
                selector = (obj.get("spec") or {}).get("selector")
                if selector:
                    merge(labels.from_set(selector))
        for resource in ("replicasets", "statefulsets"):
            for obj in self.informers[resource].store.by_index("namespace", namespace):
                selector = (obj.get("spec") or {}).get("selector")
                if selector:
                    try:
                        merge(labels.from_label_selector(selector))
                    except Exception:  # an invalid selector selects nothing, as upstream
                        continue
        ordered = sorted(requirements.values(), key=lambda r: (r.key, str(r)))
        return labels.Selector(tuple(ordered))

    # --- informer handlers ----------------------------------------------------------------------

    def _responsible(self, pod: Mapping[str, Any]) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return name in self.profiles

    def _pre_enqueue(self, pod_info: PodInfo) -> Any:
        name = pod_info.spec.get("schedulerName") or "default-scheduler"
        return self.profiles[name].run_pre_enqueue(pod_info)

    def _register_handlers(self) -> None:
        self.informers["pods"].add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self.informers["nodes"].add_handler(
            lambda node: self._node_changed(node, ClusterEvent("Node", ActionType.ADD)),
            lambda old, new: self._node_changed(new, node_update_event(old, new)),
            self._on_node_delete,
        )
        for resource, kind in (
            ("persistentvolumeclaims", "PersistentVolumeClaim"),
            ("persistentvolumes", "PersistentVolume"),
            ("storageclasses", "StorageClass"),
            ("namespaces", "Namespace"),
        ):
            self.informers[resource].add_handler(*self._requeue_handlers(kind))

    def _requeue_handlers(self, kind: str) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None]]:
        """Handlers that give pods waiting on this kind of object another chance."""

        def added(_: Obj) -> None:
            self.queue.move_all_to_active_or_backoff(ClusterEvent(kind, ActionType.ADD))

        def updated(_old: Obj, _new: Obj) -> None:
            self.queue.move_all_to_active_or_backoff(ClusterEvent(kind, ActionType.UPDATE))

        return added, updated

    def _on_pod_add(self, pod: Obj) -> None:
        if _assigned(pod):
            self.cache.add_pod(pod)
            self.queue.assigned_pod_added(pod)
        elif self._responsible(pod) and not _meta(pod).get("deletionTimestamp"):
            self.queue.add(pod)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(old)  # bound (by us, or by someone else)
            self.cache.update_pod(new)
            self.queue.assigned_pod_updated(old, new)
        elif self._responsible(new):
            if _meta(new).get("deletionTimestamp"):
                self.queue.delete(new)
            else:
                self.queue.update(old, new)

    def _on_pod_delete(self, pod: Obj) -> None:
        if _assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(ClusterEvent("Pod", ActionType.DELETE), pod, None)
        else:
            self.queue.delete(pod)

    def _node_changed(self, node: Obj, event: ClusterEvent) -> None:
        self.cache.add_node(node)
        if event.action:
            self.queue.move_all_to_active_or_backoff(event, None, node)

    def _on_node_delete(self, node: Obj) -> None:
        self.cache.remove_node(node)

    # --- running ------------------------------------------------------------------------------

    async def run_informers(self, tasks: asyncio.TaskGroup) -> None:
        for informer in self.informers.values():
            tasks.create_task(informer.run(), name=f"informer-{informer.resource}")
        await asyncio.gather(*(informer.wait_synced() for informer in self.informers.values()))

    def synced(self) -> bool:
        return all(informer.has_synced for informer in self.informers.values())

    async def run(self) -> None:
        """Informers, the queue's flush timer, and the scheduling loop, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            await self.run_informers(tasks)
            log.info("Caches synced, scheduling", profiles=",".join(self.profiles))
            tasks.create_task(self._flush_periodically(), name="queue-flush")
            try:
                while True:
                    await self.schedule_one()
            finally:
                for task in list(self._background):
                    task.cancel()

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.queue.flush()
            for uid in self.cache.cleanup_expired_assumed_pods():
                log.warning("Assumed pod expired without its binding being seen", uid=uid)
            for name, count in self.queue.pending_pods().items():
                metrics.PENDING_PODS.labels(name).set(count)

    async def schedule_one(self) -> None:
        qpi = await self.queue.pop()
        pod_info = qpi.pod_info
        framework = self.profiles.get(pod_info.spec.get("schedulerName") or "default-scheduler")
        current = self.informers["pods"].store.get(pod_info.key)
        stale = current is None or _meta(current).get("uid") != pod_info.uid or _assigned(current)
        if framework is None or stale or self.cache.is_assumed(pod_info.uid):
            self.queue.done(pod_info.uid)
            return
        start = self.clock()
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        namespaces = {ns_key: _meta(ns).get("labels") or {} for ns_key, ns in self._namespaces().items()}
        snapshot = self.cache.refresh_snapshot(namespaces)
        try:
            with metrics.ALGORITHM_DURATION.time():
                result = self.algorithm.schedule_pod(framework, state, pod_info, snapshot)
        except FitError as fit:
            await self._handle_fit_error(framework, state, qpi, fit, cycle, start)
            return
        except SchedulingError as error:
            self._handle_failure(framework, qpi, "SchedulerError", str(error), cycle, start, "error")
            return
        assumed = self.cache.assume_pod(pod_info, result.node_name)
        status = framework.run_reserve(state, assumed, result.node_name)
        if not status.is_success():
            framework.run_unreserve(state, assumed, result.node_name)
            self.cache.forget_pod(pod_info.uid)
            self._handle_failure(framework, qpi, "SchedulerError", status.message(), cycle, start, "error")
            return
        task = asyncio.create_task(
            self._binding_cycle(framework, state, qpi, assumed, result.node_name, start, cycle)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        obj = self.informers["namespaces"].store.get(namespace)
        return None if obj is None else _meta(obj).get("labels") or {}

    def _namespaces(self) -> dict[str, Obj]:
        return {_meta(ns).get("name", ""): ns for ns in self.informers["namespaces"].store.objects()}

    async def _binding_cycle(
        self, framework: Framework, state: CycleState, qpi: QueuedPodInfo, assumed: PodInfo, node: str,
        start: float, cycle: int,
    ) -> None:  # fmt: skip
        status = await framework.run_permit(state, assumed, node)
        if status.is_success():
            status = await framework.run_pre_bind(state, assumed, node)
        if status.is_success():
            status = await framework.run_bind(state, assumed, node)
        if not status.is_success():
            framework.run_unreserve(state, assumed, node)
            self.cache.forget_pod(assumed.uid)
            # the room it held is free again: pods waiting for room may fit now
            self.queue.move_all_to_active_or_backoff(
                ClusterEvent("Pod", ActionType.DELETE), assumed.pod, None
            )
            self._handle_failure(framework, qpi, "SchedulerError", status.message(), cycle, start, "error")
            return
        self.cache.finish_binding(assumed.uid)
        framework.run_post_bind(state, assumed, node)
        self.queue.done(assumed.uid)
        metrics.SCHEDULE_ATTEMPTS.labels("scheduled", framework.profile_name).inc()
        metrics.ATTEMPT_DURATION.labels("scheduled", framework.profile_name).observe(self.clock() - start)
        if self.recorder:
            message = f"Successfully assigned {assumed.key} to {node}"
            self.recorder.event(
                qpi.pod_info.pod, "Normal", "Scheduled", message, component=framework.profile_name
            )
        log.v(2).info("Bound pod", pod=assumed.key, node=node)

    async def _handle_fit_error(
        self,
        framework: Framework,
        state: CycleState,
        qpi: QueuedPodInfo,
        fit: FitError,
        cycle: int,
        start: float,
    ) -> None:
        nominated = None
        if framework.post_filter and fit.num_all_nodes:
            metrics.PREEMPTION_ATTEMPTS.inc()
            try:
                result, status = await framework.run_post_filter(state, qpi.pod_info, fit.filtered)
            except KubeClientError as error:
                self._handle_failure(framework, qpi, "SchedulerError", str(error), cycle, start, "error")
                return
            fit.post_filter_msg = status.message()
            if result is not None:
                nominated = result.nominated_node_name  # "" clears an earlier nomination
        qpi.unschedulable_plugins = fit.rejecting_plugins()
        self._handle_failure(
            framework, qpi, "Unschedulable", fit.message(), cycle, start, "unschedulable", nominated
        )

    def _handle_failure(
        self, framework: Framework, qpi: QueuedPodInfo, reason: str, message: str, cycle: int, start: float,
        result: str, nominated: str | None = None,
    ) -> None:  # fmt: skip
        pod_info = qpi.pod_info
        metrics.SCHEDULE_ATTEMPTS.labels(result, framework.profile_name).inc()
        metrics.ATTEMPT_DURATION.labels(result, framework.profile_name).observe(self.clock() - start)
        if result == "error":
            qpi.unschedulable_plugins = set()
        current = self.informers["pods"].store.get(pod_info.key)
        if current is not None and _meta(current).get("uid") == pod_info.uid and not _assigned(current):
            if nominated:
                self.queue.add_nominated_pod(pod_info, nominated)
            elif nominated == "":
                self.queue.delete_nominated_pod_if_exists(pod_info.pod)
            self.queue.add_unschedulable_if_not_present(qpi, cycle)
        self.queue.done(pod_info.uid)
        log.v(2).info("Unable to schedule pod", pod=pod_info.key, reason=reason, message=message)
        if self.recorder:
            self.recorder.event(
                pod_info.pod, "Warning", "FailedScheduling", message, component=framework.profile_name
            )
        self._spawn(self._update_pod_status(pod_info, reason, message, nominated))

    async def _update_pod_status(
        self, pod_info: PodInfo, reason: str, message: str, nominated: str | None
    ) -> None:
        """Set PodScheduled=False with the reason (and the nomination), unless it already says so."""
        status = pod_info.pod.get("status") or {}
        conditions = status.get("conditions") or ()
        condition: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "PodScheduled"), {})
        unchanged = (condition.get("status"), condition.get("reason"), condition.get("message")) == (
            "False", reason, message
        )  # fmt: skip
        if unchanged and (nominated or "") == (status.get("nominatedNodeName") or ""):
            return
        patch: Obj = {
            "status": {
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None, "lastTransitionTime": _micro_now()}
                ]
            }
        }  # fmt: skip
        if nominated is not None:
            patch["status"]["nominatedNodeName"] = nominated or None
        try:
            await self.client.patch(
                "pods", pod_info.name, patch, namespace=pod_info.namespace, subresource="status",
                content_type=STRATEGIC_MERGE_PATCH,
            )  # fmt: skip
        except KubeClientError as error:
            log.v(2).info("Updating the pod's condition failed", pod=pod_info.key, error=str(error))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
