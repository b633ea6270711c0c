"""NodeName: a pod that names its node (`spec.nodeName`) fits only that node (upstream
plugins/nodename). Such pods normally bypass the scheduler; the check matters where pods are
simulated on nodes, as preemption and DaemonSet placement do.

v1.32 has no PreFilter here (an earlier one that narrowed the nodes was taken out again upstream);
the Filter is a string comparison, cheap enough for every node."""

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

REASON = "node(s) didn't match the requested node name"


def fits(pod: PodInfo, node_info: NodeInfo) -> bool:
    wanted = pod.spec.get("nodeName") or ""
    return not wanted or wanted == node_info.name


class NodeName(FilterPlugin, EnqueueExtensions):
    name = "NodeName"

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # Only a new node can help; taint and label updates stand in for a missed Node/Add, as
        # upstream registers them without queueing hints.
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_TAINT | ActionType.UPDATE_NODE_LABEL
        return (ClusterEvent("Node", node_changes),)

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        return SUCCESS if fits(pod, node_info) else Status.unresolvable(REASON)


def new(args: PluginArgs, handle: Handle) -> NodeName:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{NodeName.name} takes no args, got {unknown}")
    return NodeName()
