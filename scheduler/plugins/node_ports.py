"""NodePorts: a pod asking for host ports fits only nodes where no pod holds the same port, protocol
and address (0.0.0.0 overlapping every address; upstream plugins/nodeports).

The wanted ports are computed once in PreFilter; the ports in use are the NodeInfo's, so preemption's
what-ifs (which add and remove pods on a cloned NodeInfo) need no PreFilter extensions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    PluginArgs,
    PreFilterPlugin,
    PreFilterResult,
)
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import HostPort, NodeInfo, PodInfo, host_ports, ports_conflict

REASON = "node(s) didn't have free ports for the requested pod ports"


@dataclass(frozen=True, slots=True)
class WantedPorts:
    ports: tuple[HostPort, ...]

    def clone(self) -> WantedPorts:
        return self  # other pods do not change what this pod wants


def fits_ports(wanted: Sequence[HostPort], node_info: NodeInfo) -> bool:
    return not any(ports_conflict(node_info.used_ports, port) for port in wanted)


class NodePorts(PreFilterPlugin, FilterPlugin, EnqueueExtensions):
    name = "NodePorts"

    _STATE_KEY = "PreFilter" + name

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # A deleted pod frees its ports; a new node has all ports free (taint and label updates
        # stand in for a missed Node/Add, as upstream registers them without queueing hints).
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_TAINT | ActionType.UPDATE_NODE_LABEL
        return (ClusterEvent("Pod", ActionType.DELETE), ClusterEvent("Node", node_changes))

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        wanted = host_ports(pod.pod)
        if not wanted:
            return None, SKIP
        state.write(self._STATE_KEY, WantedPorts(tuple(wanted)))
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        state_data: WantedPorts | None = state.get(self._STATE_KEY)
        wanted = state_data.ports if state_data is not None else host_ports(pod.pod)
        return SUCCESS if fits_ports(wanted, node_info) else Status.unschedulable(REASON)


def new(args: PluginArgs, handle: Handle) -> NodePorts:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{NodePorts.name} takes no args, got {unknown}")
    return NodePorts()
