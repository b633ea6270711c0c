"""NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate the
node.kubernetes.io/unschedulable:NoSchedule taint it stands for (upstream plugins/nodeunschedulable).
DaemonSet pods carry that toleration, so they still land on cordoned nodes."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    PluginArgs,
)
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.taint_toleration import NO_SCHEDULE, pod_tolerations, tolerations_tolerate_taint

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
REASON = "node(s) were unschedulable"

_UNSCHEDULABLE_TAINT = {"key": TAINT_NODE_UNSCHEDULABLE, "effect": NO_SCHEDULE}


class NodeUnschedulable(FilterPlugin, EnqueueExtensions):
    name = "NodeUnschedulable"

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # Uncordoning counts as a taint change, as upstream classifies node updates; labels are
        # registered for a missed Node/Add, as upstream does without queueing hints.
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_TAINT | ActionType.UPDATE_NODE_LABEL
        return (ClusterEvent("Node", node_changes), ClusterEvent("Pod", ActionType.UPDATE_POD_TOLERATIONS))

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if not ((node_info.node or {}).get("spec") or {}).get("unschedulable"):
            return SUCCESS
        if tolerations_tolerate_taint(pod_tolerations(pod), _UNSCHEDULABLE_TAINT):
            return SUCCESS
        return Status.unresolvable(REASON)


def new(args: PluginArgs, handle: Handle) -> NodeUnschedulable:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{NodeUnschedulable.name} takes no args, got {unknown}")
    return NodeUnschedulable()
