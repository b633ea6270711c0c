"""InterPodAffinity: pods placed by the pods already running (upstream plugins/interpodaffinity, v1.32).

Filter enforces the required terms both ways: the incoming pod's podAffinity and podAntiAffinity,
and the podAntiAffinity of pods already placed (symmetry). Score weighs the preferred terms both
ways, and existing pods' required affinity terms with `hardPodAffinityWeight`.

PreFilter and PreScore count the matching pods by topology pair, e.g. ("topology.kubernetes.io/zone",
"zone-a") -> 2; Filter and Score then look up the node's own pairs. Each node's counts for the
incoming pod's terms are remembered across cycles (PerNodeMemo), so the next pod of the same workload
only recounts the nodes whose pods changed.

The incoming pod's terms get their namespaceSelector unrolled into namespace names up front (upstream
mergeAffinityTermNamespacesIfNotEmpty), so matching another pod needs no namespace labels; an existing
pod's term that selects namespaces is matched against the incoming pod's namespace labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

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
from scheduler.framework.types import AffinityTerm, NodeInfo, Obj, PodInfo
from scheduler.plugins.pod_topology_spread import PerNodeMemo, label_matcher

NAME = "InterPodAffinity"

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1
MAX_HARD_POD_AFFINITY_WEIGHT = 100

_PRE_FILTER_KEY = "PreFilter" + NAME
_PRE_SCORE_KEY = "PreScore" + NAME
_NO_LABELS: Mapping[str, str] = {}
"""Namespace labels for matching with an incoming pod's term: its namespaceSelector is unrolled
already, or empty, which matches every namespace."""

Pair = tuple[str, str]
"""A topology pair: (topology key, the node's value for it)."""


def _count(counts: dict[Pair, int], node_labels: Mapping[str, str], key: str, delta: int) -> None:
    value = node_labels.get(key)
    if value is None:
        return
    pair = (key, value)
    total = counts.get(pair, 0) + delta
    if total:
        counts[pair] = total
    else:
        counts.pop(pair, None)


def _matches_all(terms: Sequence[AffinityTerm], pod: Obj) -> bool:
    """Whether `pod` matches every one of the incoming pod's terms (and there is at least one)."""
    return bool(terms) and all(term.matches(pod, _NO_LABELS) for term in terms)


def _pod_matcher(term: AffinityTerm) -> Callable[[Obj], bool]:
    """`term.matches(pod, _NO_LABELS)` as a closure, for the incoming pod's terms in the loops over
    every pod of every node."""
    any_namespace = term.namespace_selector is not None and term.namespace_selector.matches(_NO_LABELS)
    namespaces = term.namespaces
    matches_labels = label_matcher(term.selector)

    def matches(pod: Obj) -> bool:
        meta = pod.get("metadata") or {}
        return (any_namespace or meta.get("namespace", "") in namespaces) and matches_labels(
            meta.get("labels") or {}
        )

    return matches


def _counting(matchers: Sequence[Callable[[Obj], bool]]) -> Callable[[NodeInfo], tuple[int, ...]]:
    """How many of a node's pods each matcher matches."""

    def compute(node_info: NodeInfo) -> tuple[int, ...]:
        counts = [0] * len(matchers)
        for other in node_info.pods:
            obj = other.pod
            for index, matches in enumerate(matchers):
                if matches(obj):
                    counts[index] += 1
        return tuple(counts)

    return compute


def _no_counts(node_info: NodeInfo) -> tuple[int, ...]:
    return ()


def _unrolled(term: AffinityTerm, namespace_labels: Mapping[str, Mapping[str, str]]) -> AffinityTerm:
    """The incoming pod's term with the namespaces its namespaceSelector picks added by name. An empty
    selector stays: it matches every namespace."""
    selector = term.namespace_selector
    if selector is None or selector.empty:
        return term
    picked = {name for name, ns_labels in namespace_labels.items() if selector.matches(ns_labels)}
    return replace(term, namespaces=term.namespaces | picked, namespace_selector=None)


@dataclass(slots=True)
class _PreFilterState:
    pod: PodInfo
    affinity_terms: tuple[AffinityTerm, ...]
    anti_affinity_terms: tuple[AffinityTerm, ...]
    namespace_labels: Mapping[str, str]
    """The labels of the incoming pod's namespace, for existing pods' terms."""
    existing_anti_affinity_counts: dict[Pair, int]
    """Existing pods whose required anti-affinity terms match the incoming pod, by their node's pair."""
    affinity_counts: dict[Pair, int]
    """Existing pods matching all of the incoming pod's required affinity terms."""
    anti_affinity_counts: dict[Pair, int]
    """Existing pods matching one of the incoming pod's required anti-affinity terms."""
    matches_own_affinity: bool
    """The incoming pod matches all its own affinity terms: it may start a group on its own."""

    def clone(self) -> _PreFilterState:
        return replace(
            self,
            existing_anti_affinity_counts=dict(self.existing_anti_affinity_counts),
            affinity_counts=dict(self.affinity_counts),
            anti_affinity_counts=dict(self.anti_affinity_counts),
        )

    def update_with_pod(self, other: PodInfo, node_labels: Mapping[str, str], delta: int) -> None:
        """Count `other` in (delta 1) or out (delta -1) as if it ran on a node with `node_labels`."""
        for term in other.required_anti_affinity_terms:
            if term.matches(self.pod.pod, self.namespace_labels):
                _count(self.existing_anti_affinity_counts, node_labels, term.topology_key, delta)
        if _matches_all(self.affinity_terms, other.pod):
            for term in self.affinity_terms:
                _count(self.affinity_counts, node_labels, term.topology_key, delta)
        for term in self.anti_affinity_terms:
            if term.matches(other.pod, _NO_LABELS):
                _count(self.anti_affinity_counts, node_labels, term.topology_key, delta)


@dataclass(slots=True)
class _PreScoreState:
    topology_score: dict[str, dict[str, int]]
    """topology key -> value -> the summed weights of the terms that hold in that domain."""

    def clone(self) -> _PreScoreState:
        return self  # never changed after PreScore


def _add_weight(
    scores: dict[str, dict[str, int]], key: str, weight: int, node_labels: Mapping[str, str]
) -> None:
    value = node_labels.get(key)
    if value is not None:
        by_value = scores.setdefault(key, {})
        by_value[value] = by_value.get(value, 0) + weight


def _add_existing_pod_weights(
    scores: dict[str, dict[str, int]],
    other: PodInfo,
    incoming: Obj,
    namespace_labels: Mapping[str, str],
    node_labels: Mapping[str, str],
    hard_weight: int,
) -> None:
    """The weights of the existing pod's terms that the incoming pod matches (symmetry)."""
    if hard_weight > 0:
        for term in other.required_affinity_terms:
            if term.matches(incoming, namespace_labels):
                _add_weight(scores, term.topology_key, hard_weight, node_labels)
    for sign, terms in ((1, other.preferred_affinity_terms), (-1, other.preferred_anti_affinity_terms)):
        for weighted in terms:
            if weighted.term.matches(incoming, namespace_labels):
                _add_weight(scores, weighted.term.topology_key, sign * weighted.weight, node_labels)


class InterPodAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions):
    name = NAME
    has_extensions = True
    has_normalize = True

    def __init__(self, handle: Handle, hard_pod_affinity_weight: int, ignore_preferred_terms: bool) -> None:
        self._handle = handle
        self.hard_pod_affinity_weight = hard_pod_affinity_weight
        self.ignore_preferred_terms_of_existing_pods = ignore_preferred_terms
        self._memo: PerNodeMemo[tuple[int, ...]] = PerNodeMemo()

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # A placed pod that appears, goes or changes labels can satisfy affinity or lift anti-affinity;
        # a new or relabelled node can open a topology domain. Taint updates stand in for a missed
        # Node/Add, as upstream registers them without queueing hints.
        pod_changes = ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT
        return (ClusterEvent("Pod", pod_changes), ClusterEvent("Node", node_changes))

    # --- PreFilter / Filter --------------------------------------------------------------------

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        snapshot = self._handle.snapshot()
        all_namespaces = snapshot.namespace_labels
        namespace_labels = all_namespaces.get(pod.namespace) or _NO_LABELS
        affinity_terms = tuple(_unrolled(term, all_namespaces) for term in pod.required_affinity_terms)
        anti_affinity_terms = tuple(
            _unrolled(term, all_namespaces) for term in pod.required_anti_affinity_terms
        )

        existing: dict[Pair, int] = {}
        for node_info in snapshot.have_pods_with_required_anti_affinity:
            node_labels = node_info.labels
            for other in node_info.pods_with_required_anti_affinity:
                for term in other.required_anti_affinity_terms:
                    if term.matches(pod.pod, namespace_labels):
                        _count(existing, node_labels, term.topology_key, 1)
        if not existing and not affinity_terms and not anti_affinity_terms:
            return None, SKIP

        affinity: dict[Pair, int] = {}
        anti_affinity: dict[Pair, int] = {}
        if affinity_terms or anti_affinity_terms:
            # Per node: the pods matching all affinity terms, then those matching each anti-affinity term.
            affinity_matchers = [_pod_matcher(term) for term in affinity_terms]
            matchers = [_pod_matcher(term) for term in anti_affinity_terms]
            if affinity_matchers:
                matchers.insert(0, lambda obj: all(matches(obj) for matches in affinity_matchers))
            per_node = self._memo.get(("required", affinity_terms, anti_affinity_terms), _counting(matchers))
            anti_keys = [term.topology_key for term in anti_affinity_terms]
            keys = {term.topology_key for term in affinity_terms + anti_affinity_terms}
            for node_info in snapshot.node_infos:
                node_labels = node_info.labels
                if not any(key in node_labels for key in keys):
                    continue
                counts = per_node(node_info)
                if affinity_matchers and counts[0]:
                    for term in affinity_terms:
                        _count(affinity, node_labels, term.topology_key, counts[0])
                for key, number in zip(anti_keys, counts[1 if affinity_matchers else 0 :], strict=True):
                    if number:
                        _count(anti_affinity, node_labels, key, number)

        state.write(
            _PRE_FILTER_KEY,
            _PreFilterState(
                pod,
                affinity_terms,
                anti_affinity_terms,
                namespace_labels,
                existing,
                affinity,
                anti_affinity,
                _matches_all(affinity_terms, pod.pod),
            ),
        )
        return None, SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo) -> Status:
        return self._update(state, to_add, node_info, 1)

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo) -> Status:
        return self._update(state, to_remove, node_info, -1)

    def _update(self, state: CycleState, other: PodInfo, node_info: NodeInfo, delta: int) -> Status:
        s: _PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        s.update_with_pod(other, node_info.labels, delta)
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        s: _PreFilterState | None = state.get(_PRE_FILTER_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_FILTER_KEY!r} from cycleState: not found")
        node_labels = node_info.labels
        if not _satisfies_affinity(s, node_labels):
            return Status.unresolvable(REASON_AFFINITY)
        if s.anti_affinity_counts:
            for term in s.anti_affinity_terms:
                value = node_labels.get(term.topology_key)
                if value is not None and s.anti_affinity_counts.get((term.topology_key, value), 0) > 0:
                    return Status.unschedulable(REASON_ANTI_AFFINITY)
        if s.existing_anti_affinity_counts:
            counts = s.existing_anti_affinity_counts
            if any(counts.get(pair, 0) > 0 for pair in node_labels.items()):
                return Status.unschedulable(REASON_EXISTING_ANTI_AFFINITY)
        return SUCCESS

    # --- PreScore / Score ----------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        if not nodes:
            return SKIP
        has_preferences = bool(pod.preferred_affinity_terms or pod.preferred_anti_affinity_terms)
        if self.ignore_preferred_terms_of_existing_pods and not has_preferences:
            return SKIP
        snapshot = self._handle.snapshot()
        all_namespaces = snapshot.namespace_labels
        namespace_labels = all_namespaces.get(pod.namespace) or _NO_LABELS
        incoming = [
            (_unrolled(weighted.term, all_namespaces), sign * weighted.weight)
            for sign, terms in ((1, pod.preferred_affinity_terms), (-1, pod.preferred_anti_affinity_terms))
            for weighted in terms
        ]
        counts_of: Callable[[NodeInfo], tuple[int, ...]] = _no_counts
        if has_preferences:
            key = ("preferred", tuple(term for term, _ in incoming))
            counts_of = self._memo.get(key, _counting([_pod_matcher(term) for term, _ in incoming]))
        hard_weight = self.hard_pod_affinity_weight
        # Without preferences of its own, only existing pods with affinity terms can score.
        node_infos = snapshot.node_infos if has_preferences else snapshot.have_pods_with_affinity
        scores: dict[str, dict[str, int]] = {}
        for node_info in node_infos:
            node_labels = node_info.labels
            if not node_labels:
                continue
            for (term, weight), number in zip(incoming, counts_of(node_info), strict=True):
                if number:
                    _add_weight(scores, term.topology_key, weight * number, node_labels)
            for other in node_info.pods_with_affinity:
                _add_existing_pod_weights(scores, other, pod.pod, namespace_labels, node_labels, hard_weight)
        if not scores:
            return SKIP
        state.write(_PRE_SCORE_KEY, _PreScoreState(scores))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        s: _PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return 0, Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        node_labels = node_info.labels
        total = 0
        for key, by_value in s.topology_score.items():
            value = node_labels.get(key)
            if value is not None:
                total += by_value.get(value, 0)
        return total, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        """Scale [min, max] to [0, MAX_NODE_SCORE]; all equal gives 0 everywhere."""
        s: _PreScoreState | None = state.get(_PRE_SCORE_KEY)
        if s is None:
            return Status.error(f"reading {_PRE_SCORE_KEY!r} from cycleState: not found")
        if not s.topology_score or not scores:
            return SUCCESS
        lowest = min(entry.score for entry in scores)
        spread = max(entry.score for entry in scores) - lowest
        for entry in scores:
            entry.score = int(MAX_NODE_SCORE * ((entry.score - lowest) / spread)) if spread > 0 else 0
        return SUCCESS


def _satisfies_affinity(s: _PreFilterState, node_labels: Mapping[str, str]) -> bool:
    """The node has every term's topology key, and each of its domains holds a matching pod; or no
    pod anywhere matches and the pod matches its own terms (the first of a group)."""
    pods_exist = True
    for term in s.affinity_terms:
        value = node_labels.get(term.topology_key)
        if value is None:
            return False
        if s.affinity_counts.get((term.topology_key, value), 0) <= 0:
            pods_exist = False
    return pods_exist or (not s.affinity_counts and s.matches_own_affinity)


def new(args: PluginArgs, handle: Handle) -> InterPodAffinity:
    """Build the plugin from v1 InterPodAffinityArgs, defaulted and validated like upstream."""
    problems: list[str] = []
    if unknown := sorted(
        set(args) - {"apiVersion", "kind", "hardPodAffinityWeight", "ignorePreferredTermsOfExistingPods"}
    ):
        problems.append(f"unknown field(s) {unknown}")
    weight = args.get("hardPodAffinityWeight", DEFAULT_HARD_POD_AFFINITY_WEIGHT)
    if weight is None:
        weight = DEFAULT_HARD_POD_AFFINITY_WEIGHT
    if isinstance(weight, bool) or not isinstance(weight, int):
        problems.append(f"hardPodAffinityWeight: Invalid value: {weight!r}: must be an integer")
    elif not 0 <= weight <= MAX_HARD_POD_AFFINITY_WEIGHT:
        problems.append(
            f"hardPodAffinityWeight: Invalid value: {weight}: "
            f"not in valid range [0-{MAX_HARD_POD_AFFINITY_WEIGHT}]"
        )
    ignore = args.get("ignorePreferredTermsOfExistingPods", False)
    if ignore is None:
        ignore = False
    if not isinstance(ignore, bool):
        problems.append(f"ignorePreferredTermsOfExistingPods: Invalid value: {ignore!r}: must be a boolean")
    if problems:
        raise ValueError(f"{NAME} args: " + "; ".join(problems))
    return InterPodAffinity(handle, weight, ignore)
