"""SchedulingGates: a pod with `spec.schedulingGates` waits outside the active queue until every gate
is removed (upstream plugins/schedulinggates)."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    Handle,
    PluginArgs,
    PreEnqueuePlugin,
)
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import PodInfo


class SchedulingGates(PreEnqueuePlugin, EnqueueExtensions):
    name = "SchedulingGates"

    def events_to_register(self) -> Sequence[ClusterEvent]:
        return (ClusterEvent("Pod", ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED),)

    def pre_enqueue(self, pod: PodInfo) -> Status:
        gates = pod.spec.get("schedulingGates") or ()
        if not gates:
            return SUCCESS
        # Go prints the []string of gate names as "[a b]".
        names = " ".join(gate.get("name", "") for gate in gates)
        return Status.unresolvable(f"waiting for scheduling gates: [{names}]")


def new(args: PluginArgs, handle: Handle) -> SchedulingGates:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{SchedulingGates.name} takes no args, got {unknown}")
    return SchedulingGates()
