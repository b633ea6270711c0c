"""NodeResourcesFit (upstream noderesources/fit.go and its scoring strategies): Filter rejects a node
without room for the pod's requests (pod count, cpu, memory, ephemeral-storage, extended resources);
Score ranks the nodes that fit by LeastAllocated (spread, the default), MostAllocated (bin-pack) or
RequestedToCapacityRatio (a utilization -> score curve).

    pluginConfig:
    - name: NodeResourcesFit
      args:
        ignoredResources: [example.com/foo]     # extended resources Filter does not check
        ignoredResourceGroups: [example.com]    # ... by the prefix before the '/'
        scoringStrategy:
          type: MostAllocated
          resources: [{name: cpu, weight: 1}, {name: nvidia.com/gpu, weight: 3}]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from kubeapi.validation.names import is_qualified_name
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    MAX_NODE_SCORE,
    ActionType,
    ClusterEvent,
    EnqueueExtensions,
    FilterPlugin,
    Handle,
    PluginArgs,
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ScorePlugin,
)
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import NodeInfo, PodInfo, Resource
from scheduler.plugins.resource_allocation import (
    ResourceAllocation,
    ResourceSpec,
    Scorer,
    is_extended_resource_name,
    is_scalar_resource_name,
    parse_resources,
)

NAME = "NodeResourcesFit"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO = (
    "LeastAllocated",
    "MostAllocated",
    "RequestedToCapacityRatio",
)
MAX_CUSTOM_PRIORITY_SCORE = 10
"""RequestedToCapacityRatio shapes score 0..10; the scorer scales them to 0..MAX_NODE_SCORE."""
MAX_UTILIZATION = 100


@dataclass(frozen=True, slots=True)
class InsufficientResource:
    """One resource the node lacks for the pod (upstream InsufficientResource); preemption asks
    whether removing victims frees enough of each."""

    resource_name: str
    reason: str
    requested: int
    used: int
    capacity: int


def insufficient_resources(
    pod_requests: Resource,
    node_info: NodeInfo,
    ignored_resources: Collection[str] = frozenset(),
    ignored_resource_groups: Collection[str] = frozenset(),
) -> list[InsufficientResource]:
    """What the node lacks to run a pod requesting `pod_requests` (upstream Fits/fitsRequest): a pod
    slot, then cpu, memory, ephemeral-storage and each scalar resource, against allocatable less what
    the node's pods request. An extended resource the node does not have at all is insufficient;
    ignored extended resources (by name, or by the domain before the '/') are not checked."""
    out: list[InsufficientResource] = []
    allocatable, requested = node_info.allocatable, node_info.requested
    pod_count = len(node_info.pods)
    if pod_count + 1 > allocatable.allowed_pod_number:
        out.append(
            InsufficientResource("pods", "Too many pods", 1, pod_count, allocatable.allowed_pod_number)
        )
    cpu, memory, storage = pod_requests.milli_cpu, pod_requests.memory, pod_requests.ephemeral_storage
    if cpu and cpu > allocatable.milli_cpu - requested.milli_cpu:
        out.append(
            InsufficientResource("cpu", "Insufficient cpu", cpu, requested.milli_cpu, allocatable.milli_cpu)
        )
    if memory and memory > allocatable.memory - requested.memory:
        out.append(
            InsufficientResource(
                "memory", "Insufficient memory", memory, requested.memory, allocatable.memory
            )
        )
    if storage and storage > allocatable.ephemeral_storage - requested.ephemeral_storage:
        out.append(
            InsufficientResource(
                "ephemeral-storage",
                "Insufficient ephemeral-storage",
                storage,
                requested.ephemeral_storage,
                allocatable.ephemeral_storage,
            )
        )
    for name, amount in pod_requests.scalar.items():
        if not amount or not is_scalar_resource_name(name):
            continue
        if is_extended_resource_name(name) and (
            name in ignored_resources
            or (ignored_resource_groups and name.split("/", 1)[0] in ignored_resource_groups)
        ):
            continue
        used, capacity = requested.scalar.get(name, 0), allocatable.scalar.get(name, 0)
        if amount > capacity - used:
            out.append(InsufficientResource(name, f"Insufficient {name}", amount, used, capacity))
    return out


def least_allocated_scorer(resources: Sequence[ResourceSpec]) -> Scorer:
    """Favors nodes with more left over: the weighted mean of (allocatable - requested) / allocatable."""
    weights = [spec.weight for spec in resources]

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for wanted, capacity, weight in zip(requested, allocatable, weights, strict=True):
            if capacity:
                free = 0 if wanted > capacity else (capacity - wanted) * MAX_NODE_SCORE // capacity
                node_score += free * weight
                weight_sum += weight
        return node_score // weight_sum if weight_sum else 0

    return score


def most_allocated_scorer(resources: Sequence[ResourceSpec]) -> Scorer:
    """Favors fuller nodes (bin packing): the weighted mean of requested / allocatable, capped at 1
    (non-zero requests can exceed allocatable)."""
    weights = [spec.weight for spec in resources]

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for wanted, capacity, weight in zip(requested, allocatable, weights, strict=True):
            if capacity:
                node_score += min(wanted, capacity) * MAX_NODE_SCORE // capacity * weight
                weight_sum += weight
        return node_score // weight_sum if weight_sum else 0

    return score


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's does (a falling shape has negative slopes)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def broken_linear(shape: Sequence[tuple[int, int]], utilization: int) -> int:
    """Upstream BuildBrokenLinearFunction: the shape's (utilization, score) points joined by straight
    lines, flat before the first point and after the last."""
    for index, (x, y) in enumerate(shape):
        if utilization <= x:
            if index == 0:
                return y
            x0, y0 = shape[index - 1]
            return y0 + _go_div((y - y0) * (utilization - x0), x - x0)
    return shape[-1][1]


def requested_to_capacity_ratio_scorer(
    resources: Sequence[ResourceSpec], shape: Sequence[tuple[int, int]]
) -> Scorer:
    """The shape's score at each resource's utilization (100% when over capacity), weighted mean
    rounded half up; resources scoring 0 leave the mean, as upstream."""
    scaled = [(x, y * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)) for x, y in shape]
    weights = [spec.weight for spec in resources]

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        node_score = weight_sum = 0
        for wanted, capacity, weight in zip(requested, allocatable, weights, strict=True):
            if not capacity:
                continue
            utilization = MAX_UTILIZATION if wanted > capacity else wanted * MAX_UTILIZATION // capacity
            resource_score = broken_linear(scaled, utilization)
            if resource_score > 0:
                node_score += resource_score * weight
                weight_sum += weight
        return (2 * node_score + weight_sum) // (2 * weight_sum) if weight_sum else 0

    return score


class NodeResourcesFit(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions):
    name = NAME

    def __init__(
        self,
        scorer: Scorer,
        resources: Sequence[ResourceSpec],
        ignored_resources: Collection[str] = frozenset(),
        ignored_resource_groups: Collection[str] = frozenset(),
    ) -> None:
        self.ignored_resources = frozenset(ignored_resources)
        self.ignored_resource_groups = frozenset(ignored_resource_groups)
        self.allocation = ResourceAllocation(resources, use_requested=False)
        self.scorer = scorer

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        # PodInfo.requests already sums containers, sidecars, the largest init container and overhead.
        state.write(PRE_FILTER_KEY, pod.requests)
        return None, SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        requests = state.get(PRE_FILTER_KEY)
        if requests is None:
            return Status.error(f'error reading "{PRE_FILTER_KEY}" from cycleState: not found')
        missing = insufficient_resources(
            requests, node_info, self.ignored_resources, self.ignored_resource_groups
        )
        if missing:
            # Unschedulable even when a request exceeds the node's allocatable outright: v1.32 lets
            # preemption try (UnschedulableAndUnresolvable for that case came later, in v1.34).
            return Status.unschedulable(*(item.reason for item in missing))
        return SUCCESS

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        state.write(PRE_SCORE_KEY, self.allocation.pod_requests(pod))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self.allocation.pod_requests(pod)
        return self.allocation.score(node_info, requests, self.scorer), SUCCESS

    def events_to_register(self) -> Sequence[ClusterEvent]:
        """Room appears when a pod leaves or shrinks, or a node joins or grows."""
        return (
            ClusterEvent("Pod", ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN),
            ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE),
        )


def new(args: PluginArgs, handle: Handle) -> NodeResourcesFit:
    """Build the plugin from v1 NodeResourcesFitArgs, defaulted and validated like upstream."""
    errors: list[str] = []
    ignored = _names(args.get("ignoredResources"), "ignoredResources", errors, group=False)
    groups = _names(args.get("ignoredResourceGroups"), "ignoredResourceGroups", errors, group=True)
    raw_strategy = args.get("scoringStrategy")
    strategy: dict[str, Any] = {"type": LEAST_ALLOCATED} if raw_strategy is None else raw_strategy
    if not isinstance(strategy, dict):
        raise ValueError(f"{NAME} args: scoringStrategy: Invalid value: must be an object")
    kind = strategy.get("type")
    if kind not in (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO):
        errors.append(
            f'scoringStrategy.type: Unsupported value: "{kind or ""}": supported values: '
            f'"{LEAST_ALLOCATED}", "{MOST_ALLOCATED}", "{REQUESTED_TO_CAPACITY_RATIO}"'
        )
    resources = parse_resources(strategy.get("resources"), "scoringStrategy.resources", errors)
    for index, spec in enumerate(resources):
        if not 0 < spec.weight <= 100:
            errors.append(
                f"scoringStrategy.resources[{index}].weight: Invalid value: {spec.weight}: "
                f"resource weight of {spec.name} not in valid range (0, 100]"
            )
    shape: list[tuple[int, int]] = []
    ratio = strategy.get("requestedToCapacityRatio")
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        if not isinstance(ratio, dict):
            errors.append(
                "scoringStrategy.requestedToCapacityRatio: Required value: "
                "must be specified when type is RequestedToCapacityRatio"
            )
        else:
            shape = _shape(ratio.get("shape"), "scoringStrategy.requestedToCapacityRatio.shape", errors)
    if errors:
        raise ValueError(f"{NAME} args: " + "; ".join(errors))
    if kind == MOST_ALLOCATED:
        scorer = most_allocated_scorer(resources)
    elif kind == REQUESTED_TO_CAPACITY_RATIO:
        scorer = requested_to_capacity_ratio_scorer(resources, shape)
    else:
        scorer = least_allocated_scorer(resources)
    return NodeResourcesFit(scorer, resources, ignored, groups)


def _names(raw: Any, path: str, errors: list[str], group: bool) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        errors.append(f"{path}: Invalid value: must be a list of strings")
        return frozenset()
    for index, name in enumerate(raw):
        if group and "/" in name:
            errors.append(f"{path}[{index}]: Invalid value: {name!r}: resource group name can't contain '/'")
        errors.extend(f"{path}[{index}]: Invalid value: {name!r}: {msg}" for msg in is_qualified_name(name))
    return frozenset(raw)


def _shape(raw: Any, path: str, errors: list[str]) -> list[tuple[int, int]]:
    """A utilization -> score curve: at least one point, utilization 0..100 strictly increasing,
    score 0..MAX_CUSTOM_PRIORITY_SCORE."""
    if not raw or not isinstance(raw, list):
        errors.append(f"{path}: Required value: at least one point must be specified")
        return []
    points = []
    for index, point in enumerate(raw):
        utilization = point.get("utilization", 0) if isinstance(point, dict) else None
        score = point.get("score", 0) if isinstance(point, dict) else None
        if not isinstance(utilization, int) or not isinstance(score, int):
            errors.append(f"{path}[{index}]: Invalid value: must be {{utilization: int, score: int}}")
            return []
        points.append((utilization, score))
    for index in range(1, len(points)):
        if points[index - 1][0] >= points[index][0]:
            errors.append(
                f"{path}[{index}].utilization: Invalid value: {points[index][0]}: "
                "values must be sorted in increasing order"
            )
            break
    for index, (utilization, score) in enumerate(points):
        if not 0 <= utilization <= MAX_UTILIZATION:
            errors.append(
                f"{path}[{index}].utilization: Invalid value: {utilization}: not in valid range [0, 100]"
            )
        if not 0 <= score <= MAX_CUSTOM_PRIORITY_SCORE:
            errors.append(f"{path}[{index}].score: Invalid value: {score}: not in valid range [0, 10]")
    return points
