"""TaintToleration: a node's NoSchedule and NoExecute taints keep out the pods that do not tolerate
them, and its PreferNoSchedule taints make it less attractive (upstream plugins/tainttoleration).

The scheduler's other plugins (preemption, NodeUnschedulable, PodTopologySpread) ask the same
question of a node's taints; the single toleration rule is kubeapi.tolerations.tolerates:

    find_untolerated_taint(node_taints, pod_tolerations, DO_NOT_SCHEDULE)   -> taint or None
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from kubeapi.tolerations import tolerates
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    MAX_NODE_SCORE,
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    NodeScore,
    PluginArgs,
    PreScorePlugin,
    ScorePlugin,
)
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import NodeInfo, PodInfo

Obj = Mapping[str, Any]

NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
DO_NOT_SCHEDULE = frozenset((NO_SCHEDULE, NO_EXECUTE))
"""The effects Filter enforces (upstream helper.DoNotScheduleTaintsFilterFunc)."""


def tolerations_tolerate_taint(tolerations: Iterable[Obj], taint: Obj) -> bool:
    return any(tolerates(toleration, taint) for toleration in tolerations)


def find_untolerated_taint(
    taints: Iterable[Obj], tolerations: Sequence[Obj], effects: Collection[str] | None = None
) -> Obj | None:
    """The first taint with one of `effects` (every effect when None) that no toleration tolerates
    (upstream FindMatchingUntoleratedTaint)."""
    for taint in taints:
        if effects is not None and taint.get("effect") not in effects:
            continue
        if not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None


def node_taints(node_info: NodeInfo) -> Sequence[Obj]:
    return ((node_info.node or {}).get("spec") or {}).get("taints") or ()


def pod_tolerations(pod: PodInfo) -> Sequence[Obj]:
    return pod.spec.get("tolerations") or ()


def default_normalize_score(max_priority: int, reverse: bool, scores: list[NodeScore]) -> None:
    """Scale scores from [0, max(scores)] to [0, max_priority], then flip them when `reverse`
    (upstream helper.DefaultNormalizeScore; scores are non-negative). NodeAffinity uses it too."""
    highest = max((entry.score for entry in scores), default=0)
    if highest == 0:
        if reverse:
            for entry in scores:
                entry.score = max_priority
        return
    for entry in scores:
        score = max_priority * entry.score // highest
        entry.score = max_priority - score if reverse else score


class TaintToleration(FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions):
    name = "TaintToleration"
    has_normalize = True

    _PRE_SCORE_KEY = "PreScore" + name

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # Label updates are registered for the same reason upstream does without queueing hints: a
        # missed Node/Add must still be caught by a later update.
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_TAINT | ActionType.UPDATE_NODE_LABEL
        return (ClusterEvent("Node", node_changes), ClusterEvent("Pod", ActionType.UPDATE_POD_TOLERATIONS))

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        taint = find_untolerated_taint(node_taints(node_info), pod_tolerations(pod), DO_NOT_SCHEDULE)
        if taint is None:
            return SUCCESS
        key, value = taint.get("key") or "", taint.get("value") or ""
        return Status.unresolvable(f"node(s) had untolerated taint {{{key}: {value}}}")

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state.write(self._PRE_SCORE_KEY, _prefer_no_schedule_tolerations(pod))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        """How many PreferNoSchedule taints of the node the pod does not tolerate (fewer is better;
        normalize_score turns the count around)."""
        tolerations = state.get(self._PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = _prefer_no_schedule_tolerations(pod)
        count = sum(
            1
            for taint in node_taints(node_info)
            if taint.get("effect") == PREFER_NO_SCHEDULE
            and not tolerations_tolerate_taint(tolerations, taint)
        )
        return count, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        default_normalize_score(MAX_NODE_SCORE, True, scores)
        return SUCCESS


def _prefer_no_schedule_tolerations(pod: PodInfo) -> tuple[Obj, ...]:
    """The tolerations that can tolerate a PreferNoSchedule taint (an empty effect means all)."""
    return tuple(
        t for t in pod_tolerations(pod) if (t.get("effect") or PREFER_NO_SCHEDULE) == PREFER_NO_SCHEDULE
    )


def new(args: PluginArgs, handle: Handle) -> TaintToleration:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{TaintToleration.name} takes no args, got {unknown}")
    return TaintToleration()
