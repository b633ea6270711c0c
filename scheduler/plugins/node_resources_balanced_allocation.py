"""NodeResourcesBalancedAllocation (upstream noderesources/balanced_allocation.go): favors nodes whose
resources would be used evenly with the pod on them, so that no node runs out of cpu while its memory
sits idle. Score = (1 - std) * 100 over the fractions requested / allocatable (each capped at 1).

    pluginConfig:
    - name: NodeResourcesBalancedAllocation
      args:
        resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}, {name: nvidia.com/gpu, weight: 1}]

It counts what pods actually request, not the 100m/200Mi defaults NodeResourcesFit scores with
(upstream's useRequested); v1.32 still scores request-less pods (skipping them came in v1.33).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import MAX_NODE_SCORE, Handle, PluginArgs, PreScorePlugin, ScorePlugin
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.resource_allocation import ResourceAllocation, ResourceSpec, parse_resources

NAME = "NodeResourcesBalancedAllocation"
PRE_SCORE_KEY = "PreScore" + NAME


def balanced_resource_scorer(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    """(1 - standard deviation of the used fractions) * MAX_NODE_SCORE, in floats and truncated as
    upstream; with two resources the deviation is half their difference."""
    fractions = [
        min(float(wanted) / float(capacity), 1.0)
        for wanted, capacity in zip(requested, allocatable, strict=True)
        if capacity
    ]
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        # Plain left-to-right sums like Go's (3.12's sum() compensates and could differ in the last bit).
        total = squares = 0.0
        for fraction in fractions:
            total += fraction
        mean = total / len(fractions)
        for fraction in fractions:
            squares += (fraction - mean) * (fraction - mean)
        std = math.sqrt(squares / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class NodeResourcesBalancedAllocation(PreScorePlugin, ScorePlugin):
    name = NAME

    def __init__(self, resources: Sequence[ResourceSpec]) -> None:
        self.allocation = ResourceAllocation(resources, use_requested=True)

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state.write(PRE_SCORE_KEY, self.allocation.pod_requests(pod))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.allocation.pod_requests(pod)
        return self.allocation.score(node_info, requests, balanced_resource_scorer), SUCCESS


def new(args: PluginArgs, handle: Handle) -> NodeResourcesBalancedAllocation:
    """Build the plugin from v1 NodeResourcesBalancedAllocationArgs: resources default to cpu and
    memory; every weight must be 1 (the deviation has no use for weights) and names be unique."""
    errors: list[str] = []
    resources = parse_resources(args.get("resources"), "resources", errors)
    seen: set[str] = set()
    for index, spec in enumerate(resources):
        if spec.name in seen:
            errors.append(f'resources[{index}].name: Duplicate value: "{spec.name}"')
        seen.add(spec.name)
        if spec.weight != 1:
            errors.append(f"resources[{index}].weight: Invalid value: {spec.weight}: must be 1")
    if errors:
        raise ValueError(f"{NAME} args: " + "; ".join(errors))
    return NodeResourcesBalancedAllocation(resources)
