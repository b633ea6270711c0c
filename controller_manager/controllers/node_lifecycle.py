"""The node lifecycle controller (upstream v1.32 pkg/controller/nodelifecycle, with the taint
eviction manager of pkg/controller/tainteviction running inside it, as upstream does while the
SeparateTaintEvictionController gate is off).

Three loops share one controller:
- every --node-monitor-period, `monitor_node_health` judges each node by its heartbeats (the Ready
  condition's lastHeartbeatTime and its Lease in kube-node-lease, both stamped with this
  controller's clock when they change); a node silent for --node-monitor-grace-period gets Ready
  and the pressure conditions set to Unknown, its pods are marked not ready, and it is queued in
  its zone's rate-limited queue for a NoExecute taint (not-ready for Ready=False, unreachable for
  Unknown); a Ready node loses them. Zone health sets each zone's tainting rate; when every zone
  is down (most likely our own connectivity) nothing is tainted and the NoExecute taints come off;
- every 100 ms, `no_execute_tainting_pass` taints the queued nodes as fast as their zones allow;
- the work queue reconciles node names (the NoSchedule taints that mirror conditions and cordon,
  the beta os/arch labels, and a change of NoExecute taints re-examines the node's pods) and pod
  keys (a pod on a node with NoExecute taints it does not tolerate is deleted at once, one with
  tolerationSeconds that long after the taint's timeAdded, re-queued with add_after until then,
  cancelled when the taint goes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, QueueController, split_key
from controller_manager.controllers.node_health import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    DisruptionPlan,
    EvictionRates,
    NodeHealth,
    NoExecuteAction,
    RateLimitedTimedQueue,
    ZoneState,
    disruption_target_condition,
    eviction_time,
    excluded_from_disruption,
    get_condition,
    grace_period,
    is_stale,
    labels_to_reconcile,
    no_execute_action,
    no_execute_swap,
    no_execute_taints,
    no_schedule_taint_diff,
    node_taints,
    observe_node_health,
    observed_ready_condition,
    plan_disruption,
    pod_not_ready_condition,
    ready_status,
    swap_taints,
    taint_exists,
    unknown_conditions,
    zone_key,
)
from kubeclient.errors import is_conflict, is_not_found
from kubeclient.rest import MERGE_PATCH, STRATEGIC_MERGE_PATCH

log = get_logger(__name__)
Obj = dict[str, Any]

NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_EVICTION_PERIOD = 0.1
"""How often queued nodes are tainted (upstream NodeEvictionPeriod)."""
NODE_HEALTH_UPDATE_RETRY = 5
"""Tries to write a node's status or taints, reading it afresh after a conflict."""
NODE_UPDATE_WORKERS = 8
TAINT_RETRY_DELAY = 0.05
"""A queued node without a Ready condition is looked at again this much later."""
NODE_COMPONENT = "node-controller"
TAINT_EVICTION_COMPONENT = "taint-eviction-controller"
"""The event sources upstream reports under."""


def pod_node_index(pod: Obj) -> list[str]:
    """Pods by spec.nodeName (upstream's "spec.nodeName" indexer)."""
    node_name = (pod.get("spec") or {}).get("nodeName")
    return [node_name] if node_name else []


class NodeLifecycleController(QueueController):
    name = "node-lifecycle-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=NODE_UPDATE_WORKERS)
        options = ctx.options
        self.monitor_period: float = options.node_monitor_period
        self.monitor_grace: float = options.node_monitor_grace_period
        self.startup_grace: float = options.node_startup_grace_period
        self.rates = EvictionRates(
            healthy=options.node_eviction_rate,
            secondary=options.secondary_node_eviction_rate,
            large_cluster_size_threshold=options.large_cluster_size_threshold,
            unhealthy_zone_threshold=options.unhealthy_zone_threshold,
        )
        self.nodes = ctx.informers.informer("nodes")
        self.leases = ctx.informers.informer("leases.coordination.k8s.io")
        self.pods = ctx.informers.informer("pods")
        self.pods.add_indexer("node", pod_node_index)
        self.nodes.add_handler(self.enqueue, self.enqueue_update, self.enqueue)
        self.pods.add_handler(self.enqueue, self._pod_updated, self.enqueue)

        self.health: dict[str, NodeHealth] = {}
        """Per node: the heartbeats last seen and when, on our clock (upstream nodeHealthMap)."""
        self.known_nodes: dict[str, Obj] = {}
        self.zone_states: dict[str, ZoneState] = {}
        self.zone_tainters: dict[str, RateLimitedTimedQueue] = {}
        self.nodes_to_retry: set[str] = set()
        """Nodes whose pods could not all be marked not ready at their transition."""
        self.tainted_nodes: dict[str, list[Obj]] = {}
        """Per node, the NoExecute taints its pods were last examined against."""
        self.scheduled_evictions: dict[str, datetime] = {}
        """Pod key -> when it is to be deleted (a timed work item upstream)."""
        self.eviction_first_seen: dict[str, datetime] = {}
        """Pod key -> when its pending eviction was first found, for taints without timeAdded."""

    # --- handlers (only ever enqueue) ---------------------------------------------------------

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        """Only a change of node or tolerations can change a pod's eviction (upstream PodUpdated)."""
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if old_spec.get("nodeName") != new_spec.get("nodeName") or old_spec.get(
            "tolerations"
        ) != new_spec.get("tolerations"):
            self.enqueue(new)

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(super().run(), name=f"{self.name}-workers")
            tasks.create_task(self._every(self.monitor_period, self.monitor_node_health), name="node-monitor")
            tasks.create_task(
                self._every(NODE_EVICTION_PERIOD, self.no_execute_tainting_pass), name="node-taint"
            )

    async def _every(self, period: float, work: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed pass is retried by the next one
                log.exception("Node lifecycle pass failed", controller=self.name, work=work.__name__)
            await asyncio.sleep(period)

    def _event(
        self, obj: Obj, type_: str, reason: str, message: str, component: str = NODE_COMPONENT
    ) -> None:
        self.ctx.recorder.event(obj, type_, reason, message, component=component)

    # --- the work queue: node names and pod keys ----------------------------------------------

    async def reconcile(self, key: str) -> None:
        if "/" in key:
            await self._sync_pod(key)
        else:
            await self._sync_node(key)

    async def _sync_node(self, name: str) -> None:
        """Controller-owned NoSchedule taints and labels; a new set of NoExecute taints sends the
        node's pods to the eviction check."""
        node = self.nodes.store.get(name)
        if node is None:
            if self.tainted_nodes.pop(name, None):
                for pod in self.pods.store.by_index("node", name):
                    self.enqueue(pod)
            return
        to_add, to_remove = no_schedule_taint_diff(node)
        if to_add or to_remove:
            await self._patch_taints(node, to_add, to_remove)
        labels = labels_to_reconcile((node.get("metadata") or {}).get("labels") or {})
        if labels:
            await self.client.patch("nodes", name, {"metadata": {"labels": labels}}, content_type=MERGE_PATCH)
        taints = no_execute_taints(node)
        if taints != self.tainted_nodes.get(name, []):
            if taints:
                self.tainted_nodes[name] = taints
            else:
                self.tainted_nodes.pop(name, None)
            for pod in self.pods.store.by_index("node", name):
                self.enqueue(pod)

    async def _sync_pod(self, key: str) -> None:
        """Evict, schedule or cancel the eviction of one pod (upstream processPodOnNode), and mark it
        not ready when it is on a node that is not (upstream processPod)."""
        pod = self.pods.store.get(key)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or not node_name or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.scheduled_evictions.pop(key, None)
            self.eviction_first_seen.pop(key, None)
            return
        node = self.nodes.store.get(node_name)
        now = self.ctx.now()
        if node is not None and node_name in self.health and ready_status(node) not in (None, "True"):
            await self._mark_pods_not_ready([pod], node_name)
        tolerations = (pod.get("spec") or {}).get("tolerations") or []
        first_seen = self.eviction_first_seen.get(key)
        when = eviction_time(no_execute_taints(node), tolerations, now, first_seen or now)
        if when is None:
            self.eviction_first_seen.pop(key, None)
            if self.scheduled_evictions.pop(key, None) is not None:
                message = f"Cancelling deletion of Pod {key}"
                self._event(pod, "Normal", "TaintManagerEviction", message, TAINT_EVICTION_COMPONENT)
            return
        self.eviction_first_seen.setdefault(key, now)
        if when > now:
            self.scheduled_evictions[key] = when
            self.queue.add_after(key, (when - now).total_seconds())
            return
        await self._evict(pod, key)

    async def _evict(self, pod: Obj, key: str) -> None:
        """Upstream deletePodHandler: event, DisruptionTarget condition, delete."""
        namespace, name = split_key(key)
        self._event(
            pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}", TAINT_EVICTION_COMPONENT
        )
        log.info("Deleting pod", controller=self.name, pod=key, node=(pod.get("spec") or {}).get("nodeName"))
        condition = disruption_target_condition(pod, self.ctx.now())
        try:
            if condition is not None:
                await self.client.patch(
                    "pods",
                    name,
                    {"status": {"conditions": [condition]}},
                    namespace=namespace,
                    subresource="status",
                    content_type=STRATEGIC_MERGE_PATCH,
                )
            uid = (pod.get("metadata") or {}).get("uid")
            await self.client.delete(
                "pods", name, namespace=namespace, preconditions={"uid": uid} if uid else None
            )
        except Exception as error:
            # gone, or the uid precondition failed (another pod by that name now): done; any other
            # conflict is a concurrent write, so the eviction is tried again
            replaced = is_conflict(error) and "Precondition failed: UID" in str(error)
            if not (is_not_found(error) or replaced):
                raise
            log.info("Pod eviction ended early", controller=self.name, pod=key, error=str(error))
        self.scheduled_evictions.pop(key, None)
        self.eviction_first_seen.pop(key, None)

    async def _mark_pods_not_ready(self, pods: list[Obj], node_name: str) -> None:
        """Upstream MarkPodsNotReady: each pod's Ready condition to False; raises the first failure
        after trying them all."""
        failure: Exception | None = None
        for pod in pods:
            if (pod.get("spec") or {}).get("nodeName") != node_name:
                continue
            condition = pod_not_ready_condition(pod, self.ctx.now())
            if condition is None:
                continue
            meta = pod.get("metadata") or {}
            try:
                await self.client.patch(
                    "pods",
                    meta.get("name", ""),
                    {"status": {"conditions": [condition]}},
                    namespace=meta.get("namespace"),
                    subresource="status",
                    content_type=STRATEGIC_MERGE_PATCH,
                )
            except Exception as error:
                if not is_not_found(error):
                    key = f"{meta.get('namespace')}/{meta.get('name')}"
                    log.info("Failed to update status for pod", pod=key, error=str(error))
                    failure = failure or error
                continue
            self._event(pod, "Warning", "NodeNotReady", "Node is not ready")
        if failure is not None:
            raise failure

    # --- node taints --------------------------------------------------------------------------

    async def _patch_taints(self, node: Obj, add: list[Obj], remove: list[Obj]) -> bool:
        """Write the node's taints with `add` and without `remove`, guarded by its resourceVersion;
        whether anything changed. Errors (a 409 included) propagate."""
        taints = swap_taints(node_taints(node), add, remove, self.ctx.now())
        if taints is None:
            return False
        meta = node.get("metadata") or {}
        patch = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "spec": {"taints": taints or None},
        }
        await self.client.patch("nodes", meta.get("name", ""), patch, content_type=MERGE_PATCH)
        return True

    async def _swap_taints(self, node: Obj, add: list[Obj], remove: list[Obj]) -> bool:
        """`_patch_taints`, reading the node afresh after a conflict (upstream SwapNodeControllerTaint
        retries the same way); whether the taints are as wanted now."""
        name = (node.get("metadata") or {}).get("name", "")
        for _ in range(NODE_HEALTH_UPDATE_RETRY):
            try:
                await self._patch_taints(node, add, remove)
                return True
            except Exception as error:
                if is_not_found(error):
                    return True
                if not is_conflict(error):
                    log.info("Failed to update taints of node", node=name, error=str(error))
                    return False
            try:
                node = await self.client.get("nodes", name)
            except Exception as error:
                log.info("Failed to read node", node=name, error=str(error))
                return False
        return False

    async def _mark_node_as_reachable(self, node: Obj) -> bool:
        """Both NoExecute taints off and the node out of its zone's queue; whether it was queued."""
        taints = node_taints(node)
        tainted = taint_exists(taints, NOT_READY_TAINT) or taint_exists(taints, UNREACHABLE_TAINT)
        if tainted and not await self._swap_taints(
            node, [], [dict(NOT_READY_TAINT), dict(UNREACHABLE_TAINT)]
        ):
            log.error("Failed to remove NoExecute taints from node", node=node["metadata"]["name"])
            return False
        tainter = self.zone_tainters.get(zone_key(node))
        return tainter.remove((node.get("metadata") or {}).get("name", "")) if tainter else False

    def _mark_node_for_tainting(self, node: Obj, ready: str) -> bool:
        """Upstream markNodeForTainting: a node not (or no longer rightly) tainted is re-queued."""
        name = (node.get("metadata") or {}).get("name", "")
        tainter = self._tainter(node)
        wanted = NOT_READY_TAINT if ready == "False" else UNREACHABLE_TAINT
        if not taint_exists(node_taints(node), wanted):
            tainter.remove(name)
        return tainter.add(name, self.ctx.clock())

    def _tainter(self, node: Obj) -> RateLimitedTimedQueue:
        """The node's zone's queue, made (zone state Initial) when the zone is new."""
        zone = zone_key(node)
        if zone not in self.zone_states or zone not in self.zone_tainters:
            self.zone_states.setdefault(zone, ZoneState.INITIAL)
            self.zone_tainters[zone] = RateLimitedTimedQueue(self.rates.healthy, self.ctx.clock())
            log.info("Initializing eviction metric for zone", controller=self.name, zone=zone)
        return self.zone_tainters[zone]

    async def no_execute_tainting_pass(self) -> None:
        """Taint queued nodes, at most as fast as each zone's limiter (upstream
        doNoExecuteTaintingPass); a node Ready again by now is dropped."""
        for zone in list(self.zone_tainters):
            tainter = self.zone_tainters[zone]
            while (head := tainter.head()) is not None:
                now = self.ctx.clock()
                name, process_at = head
                if not tainter.limiter.try_accept(now) or now < process_at:
                    break
                node = self.nodes.store.get(name)
                if node is None:
                    tainter.done(name)
                    continue
                ready = get_condition(node, "Ready")
                if ready is None:
                    tainter.retry(name, now + TAINT_RETRY_DELAY)
                    continue
                swap = no_execute_swap(ready.get("status"))
                if swap is None:
                    tainter.done(name)
                    continue
                if await self._swap_taints(node, [swap[0]], [swap[1]]):
                    tainter.done(name)
                else:
                    tainter.retry(name, now)

    # --- node health --------------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass over every node (upstream monitorNodeHealth)."""
        nodes = self.nodes.store.objects()
        names = {(node.get("metadata") or {}).get("name", "") for node in nodes}
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self.known_nodes:
                log.v(1).info("Controller observed a new Node", controller=self.name, node=name)
                self._event(node, "Normal", "RegisteredNode", f"Registered Node {name} in Controller")
                self.known_nodes[name] = node
                self._tainter(node)
                await self._mark_node_as_reachable(node)
            else:
                self._tainter(node)
        for name in [name for name in self.known_nodes if name not in names]:
            log.v(1).info("Controller observed a Node deletion", controller=self.name, node=name)
            gone = self.known_nodes.pop(name)
            self._event(gone, "Normal", "RemovingNode", f"Removing Node {name} from Controller")
            self.health.pop(name, None)
            self.nodes_to_retry.discard(name)

        zone_ready: dict[str, list[str | None]] = {}
        for node in nodes:
            await self._monitor_node(node, zone_ready)
        await self._handle_disruption(self.zone_states, zone_ready, nodes)

    async def _monitor_node(self, node: Obj, zone_ready: dict[str, list[str | None]]) -> None:
        name = node["metadata"]["name"]
        for _ in range(NODE_HEALTH_UPDATE_RETRY):
            try:
                observed, current = await self._try_update_node_health(node)
                break
            except Exception as error:
                log.info("Failed to update node health, reading it again", node=name, error=str(error))
            try:
                node = await self.client.get("nodes", name)
            except Exception as error:
                log.error("Failed while getting a Node to retry updating node health", err=error, node=name)
                return
        else:
            log.error("Update health of Node failed, skipping - no pods will be evicted", node=name)
            return
        if not excluded_from_disruption(node):
            zone_ready.setdefault(zone_key(node), []).append(
                None if current is None else current.get("status")
            )
        if current is None:
            return
        await self._process_taint_based_eviction(node, observed.get("status"))
        transitioned = current.get("status") != "True" and observed.get("status") == "True"
        if transitioned:
            self._event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if transitioned or (name in self.nodes_to_retry and observed.get("status") != "True"):
            try:
                await self._mark_pods_not_ready(self.pods.store.by_index("node", name), name)
            except Exception as error:
                log.info(
                    "Unable to mark all pods NotReady on node; queuing for retry", node=name, error=str(error)
                )
                self.nodes_to_retry.add(name)
                return
        self.nodes_to_retry.discard(name)

    async def _try_update_node_health(self, node: Obj) -> tuple[Obj, Obj | None]:
        """(Ready condition observed, Ready condition now): records the heartbeats and, past the
        grace period, writes the conditions Unknown (upstream tryUpdateNodeHealth)."""
        name = node["metadata"]["name"]
        lease = self.leases.store.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        now = self.ctx.clock()
        health = observe_node_health(self.health.get(name), node, lease, now)
        self.health[name] = health
        observed = observed_ready_condition(node)
        current = get_condition(node, "Ready")
        if not is_stale(health, grace_period(node, self.monitor_grace, self.startup_grace), now):
            return observed, current
        conditions = unknown_conditions(node, self.ctx.now())
        if conditions is None:
            return observed, current
        log.v(2).info("Node hasn't been updated", node=name, seconds=round(now - health.probe_timestamp, 1))
        meta = node.get("metadata") or {}
        patch = {
            "metadata": {"resourceVersion": meta.get("resourceVersion")},
            "status": {"conditions": conditions},
        }
        await self.client.patch("nodes", name, patch, subresource="status", content_type=MERGE_PATCH)
        current = next(c for c in conditions if c.get("type") == "Ready")
        self.health[name] = replace(health, ready=current, ready_transition_timestamp=self.ctx.clock())
        return observed, current

    async def _process_taint_based_eviction(self, node: Obj, observed: str | None) -> None:
        """Upstream processTaintBaseEviction for the Ready status observed before this pass."""
        name = node["metadata"]["name"]
        action = no_execute_action(observed, node_taints(node))
        if action is NoExecuteAction.SWAP:
            swap = no_execute_swap(observed)
            if swap is not None and not await self._swap_taints(node, [swap[0]], [swap[1]]):
                log.error(
                    "Failed to instantly swap NoExecute taints, will try again in the next cycle", node=name
                )
        elif action is NoExecuteAction.QUEUE and self._mark_node_for_tainting(node, str(observed)):
            log.v(2).info("Node is not ready, adding it to the taint queue", node=name, ready=observed)
        elif action is NoExecuteAction.REMOVE and await self._mark_node_as_reachable(node):
            log.v(2).info("Node is healthy again, removed all taints", node=name)

    async def _handle_disruption(
        self, previous: dict[str, ZoneState], zone_ready: dict[str, list[str | None]], nodes: list[Obj]
    ) -> None:
        plan: DisruptionPlan = plan_disruption(previous, zone_ready, self.rates)
        now = self.ctx.clock()
        if plan.entering_full_disruption:
            log.info("Controller detected that all Nodes are not-Ready. Entering master disruption mode")
            for node in nodes:
                await self._mark_node_as_reachable(node)
        if plan.leaving_full_disruption:
            log.info("Controller detected that some Nodes are Ready. Exiting master disruption mode")
            for node in nodes:
                name = node["metadata"]["name"]
                if name in self.health:
                    self.health[name] = replace(
                        self.health[name], probe_timestamp=now, ready_transition_timestamp=now
                    )
        for zone, state in plan.states.items():
            if previous.get(zone) is not state and not plan.entering_full_disruption:
                log.info("Controller detected that zone is now in new state", zone=zone, state=state.value)
        for zone, rate in plan.rates.items():
            if zone in self.zone_tainters:
                self.zone_tainters[zone].swap_limiter(rate, now)
        self.zone_states = dict(plan.states)


def new(ctx: ControllerContext) -> NodeLifecycleController:
    return NodeLifecycleController(ctx)
