"""PodTopologySpread: spread matching pods evenly over topology domains (upstream
plugins/podtopologyspread, v1.32).

A pod's `spec.topologySpreadConstraints` say "pods matching this selector may differ by at most
maxSkew between the domains of topologyKey". DoNotSchedule constraints are Filter rules, ScheduleAnyway
ones Score preferences. A pod without constraints gets the args' default constraints (defaultingType
System: hostname maxSkew 3 and zone maxSkew 5, both ScheduleAnyway), selecting the pods of the same
Services, ReplicaSets and StatefulSets, as the handle's `selector_lister.default_selector(pod)` says.

PreFilter counts the matching pods per domain over the eligible nodes (nodes with all the topology
keys and, per nodeAffinityPolicy/nodeTaintsPolicy, matching the pod's required node affinity and
tolerating its taints); Filter compares the node's domain with the smallest one:

    matching pods in the node's domain + 1 if the pod matches itself - global minimum <= maxSkew

where the global minimum is 0 while fewer than minDomains domains exist. Score prefers domains with
fewer matching pods, each constraint's count weighted by log(number of domains + 2).

Each node's count for a selector is remembered across cycles (PerNodeMemo), so the next pod of the
same workload only recounts the nodes whose pods changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from kubeapi import labels
from kubeapi.errors import StatusError
from kubeapi.labels import Operator
from kubeapi.validation import (
    aggregate_text,
    duplicate,
    error_text,
    forbidden,
    invalid,
    not_supported,
    required,
)
from kubeapi.validation.names import is_qualified_name
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
    PreFilterPlugin,
    PreFilterResult,
    PreScorePlugin,
    ScorePlugin,
)
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import NodeInfo, Obj, PodInfo
from scheduler.plugins.node_affinity import RequiredNodeAffinity
from scheduler.plugins.taint_toleration import DO_NOT_SCHEDULE as DO_NOT_SCHEDULE_EFFECTS
from scheduler.plugins.taint_toleration import find_untolerated_taint

NAME = "PodTopologySpread"

REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
REASON_NODE_LABEL_NOT_MATCH = REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

DO_NOT_SCHEDULE, SCHEDULE_ANYWAY = "DoNotSchedule", "ScheduleAnyway"
HONOR, IGNORE = "Honor", "Ignore"
SYSTEM_DEFAULTING, LIST_DEFAULTING = "System", "List"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"

SYSTEM_DEFAULT_CONSTRAINTS: tuple[Obj, ...] = (
    {"topologyKey": HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 3},
    {"topologyKey": ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY, "maxSkew": 5},
)

_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
_MAX_INT32 = 2**31 - 1


class SelectorLister(Protocol):
    """What the scheduler offers for default constraints (upstream helper.DefaultSelector)."""

    def default_selector(self, pod: Obj) -> labels.Selector:
        """The union of the selectors of the Services, ReplicaSets, ReplicationControllers and
        StatefulSets that own or select `pod`; empty when there are none."""
        ...


@dataclass(frozen=True, slots=True)
class Constraint:
    """A TopologySpreadConstraint made ready to use: selector parsed (matchLabelKeys merged in),
    minDomains and the node inclusion policies defaulted."""

    max_skew: int
    topology_key: str
    selector: labels.Selector
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE


def spread_constraints(raw: Iterable[Obj], pod_labels: Mapping[str, str], action: str) -> list[Constraint]:
    """The constraints with whenUnsatisfiable == `action` (upstream filterTopologySpreadConstraints);
    an invalid labelSelector raises StatusError."""
    result = []
    for item in raw:
        if item.get("whenUnsatisfiable") != action:
            continue
        selector = labels.from_label_selector(item.get("labelSelector"))
        wanted = {key: pod_labels[key] for key in item.get("matchLabelKeys") or () if key in pod_labels}
        if wanted and not selector.matches_nothing:
            merged = labels.from_set(wanted).requirements + selector.requirements
            selector = labels.Selector(tuple(sorted(merged, key=lambda r: r.key)))
        min_domains = item.get("minDomains")
        result.append(
            Constraint(
                int(item.get("maxSkew") or 0),
                item.get("topologyKey") or "",
                selector,
                1 if min_domains is None else int(min_domains),
                item.get("nodeAffinityPolicy") or HONOR,
                item.get("nodeTaintsPolicy") or IGNORE,
            )
        )
    return result


def label_matcher(selector: labels.Selector) -> Callable[[Mapping[str, str]], bool]:
    """`selector.matches` as a closure that is quicker for the common one-requirement selectors:
    matching pods is the inner loop over every pod of every node (InterPodAffinity uses it too)."""
    if selector.matches_nothing or len(selector.requirements) != 1:
        return selector.matches
    req = selector.requirements[0]
    key, values = req.key, frozenset(req.values)
    if req.operator in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
        return lambda pod_labels: pod_labels.get(key) in values
    if req.operator is Operator.EXISTS:
        return lambda pod_labels: key in pod_labels
    return selector.matches


def _count_matching(
    pods: Sequence[PodInfo], matches: Callable[[Mapping[str, str]], bool], namespace: str
) -> int:
    """Pods in `namespace`, not terminating, whose labels match (upstream countPodsMatchSelector)."""
    count = 0
    for pod in pods:
        if pod.namespace != namespace:
            continue
        meta = pod.pod.get("metadata") or {}
        if meta.get("deletionTimestamp") is None and matches(meta.get("labels") or {}):
            count += 1
    return count


Counter = Callable[[NodeInfo], int]
T = TypeVar("T")


class PerNodeMemo(Generic[T]):
    """Values computed from a node's pods (how many match a selector, ...) remembered across cycles
    with the node's generation: the scheduler cache keeps its NodeInfos and bumps the generation on
    every pod change, so the next pod of the same workload recomputes only the nodes that changed.
    Upstream recomputes every node each cycle; the values are the same. InterPodAffinity uses it too."""

    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        self._memos: dict[Hashable, dict[str, tuple[NodeInfo, int, T]]] = {}

    def get(self, key: Hashable, compute: Callable[[NodeInfo], T]) -> Callable[[NodeInfo], T]:
        """`compute`, remembered under `key` (which must name everything `compute` depends on)."""
        memo = self._memos.pop(key, None)
        if memo is None:
            memo = {}
        self._memos[key] = memo  # most recently used last
        while len(self._memos) > self._capacity:
            del self._memos[next(iter(self._memos))]

        def value(node_info: NodeInfo) -> T:
            seen = memo.get(node_info.name)
            if seen is not None and seen[0] is node_info and seen[1] == node_info.generation:
                return seen[2]
            result = compute(node_info)
            memo[node_info.name] = (node_info, node_info.generation, result)
            return result

        return value


def _has_all_keys(node_labels: Mapping[str, str], constraints: Sequence[Constraint]) -> bool:
    return all(c.topology_key in node_labels for c in constraints)


class _Inclusion:
    """Whether a node counts for a constraint under its nodeAffinityPolicy and nodeTaintsPolicy
    (upstream matchNodeInclusionPolicies), each check done only when some constraint honors it."""

    def __init__(self, pod: PodInfo, constraints: Sequence[Constraint]) -> None:
        required = RequiredNodeAffinity(pod.pod)
        has_required = required.node_selector is not None or required.affinity is not None
        self._required = required
        self._tolerations: Sequence[Obj] = pod.spec.get("tolerations") or ()
        self._check_affinity = has_required and any(c.node_affinity_policy == HONOR for c in constraints)
        self._check_taints = any(c.node_taints_policy == HONOR for c in constraints)
        self.trivial = not self._check_affinity and not self._check_taints

    def node(self, node: Obj) -> tuple[bool, bool]:
        """(matches the pod's required node affinity, tolerates the node's NoSchedule/NoExecute taints)."""
        affinity_ok = not self._check_affinity or self._required.matches(node)
        taints_ok = True
        if self._check_taints:
            taints = (node.get("spec") or {}).get("taints") or ()
            taints_ok = find_untolerated_taint(taints, self._tolerations, DO_NOT_SCHEDULE_EFFECTS) is None
        return affinity_ok, taints_ok


def _included(constraint: Constraint, flags: tuple[bool, bool]) -> bool:
    affinity_ok, taints_ok = flags
    return (affinity_ok or constraint.node_affinity_policy != HONOR) and (
        taints_ok or constraint.node_taints_policy != HONOR
    )


@dataclass(slots=True)
class _CriticalPaths:
    """The domain with the fewest matching pods and one with no fewer (upstream criticalPaths: two
    entries suffice because preemption's what-ifs change one node of a cloned state at a time)."""

    values: list[str] = field(default_factory=lambda: ["", ""])
    nums: list[int] = field(default_factory=lambda: [_MAX_INT32, _MAX_INT32])

    def update(self, value: str, num: int) -> None:
        values, nums = self.values, self.nums
        index = 0 if value == values[0] else 1 if value == values[1] else -1
        if index >= 0:
            nums[index] = num
            if nums[0] > nums[1]:
                values.reverse()
                nums.reverse()
        elif num < nums[0]:
            values[1], nums[1] = values[0], nums[0]
            values[0], nums[0] = value, num
        elif num < nums[1]:
            values[1], nums[1] = value, num

    def copy(self) -> _CriticalPaths:
        return _CriticalPaths(list(self.values), list(self.nums))


@dataclass(slots=True)
class _PreFilterState:
    pod: PodInfo
    constraints: tuple[Constraint, ...]
    self_match: tuple[int, ...]
    """1 where the incoming pod matches the constraint's selector itself."""
    counts: list[dict[str, int]]
    """Per constraint: topology value -> matching pods, over the eligible domains."""
    paths: list[_CriticalPaths]
    inclusion: _Inclusion

    def clone(self) -> _PreFilterState:
        counts = [dict(by_value) for by_value in self.counts]
        paths = [critical.copy() for critical in self.paths]
        return _PreFilterState(self.pod, self.constraints, self.self_match, counts, paths, self.inclusion)

    def min_match(self, index: int) -> int:
        """The global minimum for the skew: 0 while fewer domains than minDomains exist."""
        if len(self.counts[index]) < self.constraints[index].min_domains:
            return 0
        return self.paths[index].nums[0]

    def update_with_pod(self, other: PodInfo, node: Obj | None, delta: int) -> None:
        if node is None or other.namespace != self.pod.namespace:
            return
        node_labels = ((node.get("metadata") or {}).get("labels")) or {}
        if not _has_all_keys(node_labels, self.constraints):
            return
        other_labels = other.labels
        flags = self.inclusion.node(node)
        for index, constraint in enumerate(self.constraints):
            if not constraint.selector.matches(other_labels) or not _included(constraint, flags):
                continue
            value = node_labels[constraint.topology_key]
            counts = self.counts[index]
            counts[value] = counts.get(value, 0) + delta
            self.paths[index].update(value, counts[value])


@dataclass(slots=True)
class _PreScoreState:
    constraints: tuple[Constraint, ...]
    ignored: set[str]
    """Filtered nodes without every topology key (scored 0)."""
    counts: list[dict[str, int]]
    """Per constraint (hostname ones excepted: counted per node): topology value -> matching pods."""
    weights: list[float]
    counters: list[Counter]
    raw_scores: dict[str, int]

    def clone(self) -> _PreScoreState:
        return self  # never changed after PreScore


def _round(value: float) -> int:
    """Go's math.Round for the non-negative raw scores: halves round up."""
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


class PodTopologySpread(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions):
    name = NAME
    has_extensions = True
    has_normalize = True

    def __init__(self, handle: Handle, default_constraints: Sequence[Obj], system_defaulted: bool) -> None:
        self._handle = handle
        self.default_constraints = tuple(default_constraints)
        self.system_defaulted = system_defaulted
        self._memo: PerNodeMemo[int] = PerNodeMemo()

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # Placed pods that appear, go or change labels change the counts; nodes that appear, go or
        # change labels change the domains. Taint updates matter for nodeTaintsPolicy Honor and stand
        # in for a missed Node/Add, as upstream registers them.
        pod_changes = ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE
        node_changes = (
            ActionType.ADD | ActionType.DELETE | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT
        )
        return (ClusterEvent("Pod", pod_changes), ClusterEvent("Node", node_changes))

    def constraints(self, pod: PodInfo, action: str) -> list[Constraint]:
        """The pod's own constraints for `action`, or the default ones when it has none."""
        own = pod.spec.get("topologySpreadConstraints")
        if own:
            return spread_constraints(own, pod.labels, action)
        constraints = spread_constraints(self.default_constraints, pod.labels, action)
        if not constraints:
            return []
        lister: SelectorLister | None = getattr(self._handle, "selector_lister", None)
        if lister is None:
            return []
        selector = lister.default_selector(pod.pod)
        if selector.empty:
            return []
        return [
            Constraint(
                c.max_skew,
                c.topology_key,
                selector,
                c.min_domains,
                c.node_affinity_policy,
                c.node_taints_policy,
            )
            for c in constraints
        ]

    def _matching_pods(self, selector: labels.Selector, namespace: str) -> Counter:
        """How many of a node's pods count for a constraint; none for an empty selector, as upstream."""
        if selector.empty:
            return lambda node_info: 0
        matches = label_matcher(selector)
        return self._memo.get(
            (selector, namespace), lambda node_info: _count_matching(node_info.pods, matches, namespace)
        )

    # --- PreFilter / Filter --------------------------------------------------------------------

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        try:
            constraints = tuple(self.constraints(pod, DO_NOT_SCHEDULE))
        except StatusError as err:
            return None, Status.error(f"obtaining pod's hard topology spread constraints: {err.message}")
        if not constraints:
            return None, SKIP
        counters = [self._matching_pods(c.selector, pod.namespace) for c in constraints]
        counts: list[dict[str, int]] = [{} for _ in constraints]
        inclusion = _Inclusion(pod, constraints)
        for node_info in nodes:
            node_labels = node_info.labels
            if not _has_all_keys(node_labels, constraints) or node_info.node is None:
                continue
            flags = (True, True) if inclusion.trivial else inclusion.node(node_info.node)
            for index, constraint in enumerate(constraints):
                if not _included(constraint, flags):
                    continue
                value = node_labels[constraint.topology_key]
                by_value = counts[index]
                by_value[value] = by_value.get(value, 0) + counters[index](node_info)
        paths = []
        for by_value in counts:
            critical = _CriticalPaths()
            for value, num in by_value.items():
                critical.update(value, num)
            paths.append(critical)
        pod_labels = pod.labels
        self_match = tuple(1 if c.selector.matches(pod_labels) else 0 for c in constraints)
        state.write(_PRE_FILTER_KEY, _PreFilterState(pod, constraints, self_match, counts, paths, inclusion))
        return None, SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo) -> Status:
        return self._update(state, to_add, node_info, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo) -> Status:
        return self._update(state, to_remove, node_info, -1)

    def _update(self, state: CycleState, other: PodInfo, node_info: NodeInfo, delta: int) -> Status:
        s: _PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        s.update_with_pod(other, node_info.node, delta)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        s: _PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        node_labels = node_info.labels
        for index, constraint in enumerate(s.constraints):
            value = node_labels.get(constraint.topology_key)
            if value is None:
                return Status.unresolvable(REASON_NODE_LABEL_NOT_MATCH)
            skew = s.counts[index].get(value, 0) + s.self_match[index] - s.min_match(index)
            if skew > constraint.max_skew:
                return Status.unschedulable(REASON_CONSTRAINTS_NOT_MATCH)
        return SUCCESS

    # --- PreScore / Score ----------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        all_nodes = self._handle.snapshot().node_infos
        if not all_nodes or not nodes:
            return SKIP
        try:
            constraints = tuple(self.constraints(pod, SCHEDULE_ANYWAY))
        except StatusError as err:
            return Status.error(f"obtaining pod's soft topology spread constraints: {err.message}")
        if not constraints:
            return SKIP
        # Only non-default constraints need every topology key: with the system defaults, nodes
        # without a zone label still get hostname spreading.
        require_all = bool(pod.spec.get("topologySpreadConstraints")) or not self.system_defaulted

        ignored: set[str] = set()
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for node_info in nodes:
            node_labels = node_info.labels
            if require_all and not _has_all_keys(node_labels, constraints):
                ignored.add(node_info.name)
                continue
            for index, constraint in enumerate(constraints):
                if constraint.topology_key != HOSTNAME:
                    counts[index].setdefault(node_labels.get(constraint.topology_key, ""), 0)
        weights = [
            math.log((len(nodes) - len(ignored) if c.topology_key == HOSTNAME else len(counts[index])) + 2)
            for index, c in enumerate(constraints)
        ]

        counters = [self._matching_pods(c.selector, pod.namespace) for c in constraints]
        inclusion = _Inclusion(pod, constraints)
        for node_info in all_nodes:
            node_labels = node_info.labels
            if node_info.node is None or (require_all and not _has_all_keys(node_labels, constraints)):
                continue
            flags: tuple[bool, bool] | None = (True, True) if inclusion.trivial else None
            for index, constraint in enumerate(constraints):
                value = node_labels.get(constraint.topology_key, "")
                by_value = counts[index]
                if value not in by_value:  # no candidate node in this domain (or a hostname constraint)
                    continue
                if flags is None:
                    flags = inclusion.node(node_info.node)
                if _included(constraint, flags):
                    by_value[value] += counters[index](node_info)

        s = _PreScoreState(constraints, ignored, counts, weights, counters, {})
        for node_info in nodes:
            if node_info.name not in ignored:
                s.raw_scores[node_info.name] = _raw_score(s, node_info)
        state.write(_PRE_SCORE_KEY, s)
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        """The node's weighted count of matching pods (more is worse; normalize_score turns it)."""
        s: _PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return 0, Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        if node_info.name in s.ignored:
            return 0, SUCCESS
        raw = s.raw_scores.get(node_info.name)
        if raw is None:
            raw = _raw_score(s, node_info)
        return raw, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        """Reverse onto [0, MAX_NODE_SCORE]: the fewest matching pods score highest; ignored nodes 0."""
        s: _PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        counted = [entry.score for entry in scores if entry.name not in s.ignored]
        lowest = min(counted, default=0)
        highest = max(counted, default=0)
        for entry in scores:
            if entry.name in s.ignored:
                entry.score = 0
            elif highest == 0:
                entry.score = MAX_NODE_SCORE
            else:
                entry.score = MAX_NODE_SCORE * (highest + lowest - entry.score) // highest
        return SUCCESS


def _raw_score(s: _PreScoreState, node_info: NodeInfo) -> int:
    """Sum over the constraints of count * weight + maxSkew - 1, so that a larger maxSkew tolerates
    more difference between domains."""
    node_labels = node_info.labels
    total = 0.0
    for index, constraint in enumerate(s.constraints):
        value = node_labels.get(constraint.topology_key)
        if value is None:
            continue
        if constraint.topology_key == HOSTNAME:
            count = s.counters[index](node_info)
        else:
            count = s.counts[index].get(value, 0)
        total += count * s.weights[index] + (constraint.max_skew - 1)
    return _round(total)


def _validate_default_constraints(raw: Any, defaulting: Any, problems: list[str]) -> list[Obj]:
    """Upstream ValidatePodTopologySpreadArgs, field errors in its words."""
    if defaulting not in (SYSTEM_DEFAULTING, LIST_DEFAULTING):
        problems.append(
            error_text(not_supported("defaultingType", defaulting, [SYSTEM_DEFAULTING, LIST_DEFAULTING]))
        )
    constraints: list[Obj] = []
    if raw is None:
        return constraints
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        problems.append("defaultConstraints: Invalid value: must be a list of TopologySpreadConstraints")
        return constraints
    if defaulting == SYSTEM_DEFAULTING and raw:
        problems.append(
            error_text(invalid("defaultingType", defaulting, "when .defaultConstraints are not empty"))
        )
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(raw):
        path = f"defaultConstraints[{index}]"
        max_skew = item.get("maxSkew")
        if isinstance(max_skew, bool) or not isinstance(max_skew, int) or max_skew <= 0:
            problems.append(
                error_text(invalid(f"{path}.maxSkew", max_skew or 0, "not in valid range (0, inf)"))
            )
        key = item.get("topologyKey") or ""
        if not key:
            problems.append(error_text(required(f"{path}.topologyKey", "can not be empty")))
        else:
            problems.extend(
                error_text(invalid(f"{path}.topologyKey", key, msg)) for msg in is_qualified_name(key)
            )
        action = item.get("whenUnsatisfiable") or ""
        if not action:
            problems.append(error_text(required(f"{path}.whenUnsatisfiable", "can not be empty")))
        elif action not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
            supported = [DO_NOT_SCHEDULE, SCHEDULE_ANYWAY]
            problems.append(error_text(not_supported(f"{path}.whenUnsatisfiable", action, supported)))
        if item.get("labelSelector") is not None:
            detail = "constraint must not define a selector, as they deduced for each pod"
            problems.append(error_text(forbidden(f"{path}.labelSelector", detail)))
        if (key, action) in seen:
            problems.append(error_text(duplicate(path, f"{{{key}, {action}}}")))
        seen.add((key, action))
        constraints.append(item)
    return constraints


def new(args: PluginArgs, handle: Handle) -> PodTopologySpread:
    """Build the plugin from v1 PodTopologySpreadArgs (defaultingType defaults to System)."""
    problems: list[str] = []
    if unknown := sorted(set(args) - {"apiVersion", "kind", "defaultConstraints", "defaultingType"}):
        problems.append(f"unknown field(s) {unknown}")
    defaulting = args.get("defaultingType") or SYSTEM_DEFAULTING
    constraints = _validate_default_constraints(args.get("defaultConstraints"), defaulting, problems)
    if problems:
        raise ValueError(f"{NAME} args: " + aggregate_text(problems))
    if defaulting == SYSTEM_DEFAULTING:
        return PodTopologySpread(handle, SYSTEM_DEFAULT_CONSTRAINTS, system_defaulted=True)
    return PodTopologySpread(handle, constraints, system_defaulted=False)
