"""NodeAffinity: a pod fits the nodes its `nodeSelector` and required node affinity select, and prefers
the nodes its preferred terms select, weighted (upstream plugins/nodeaffinity and component-helpers'
nodeaffinity). The profile's `addedAffinity` arg applies to every pod on top of its own.

Node selector terms are ORed, the requirements inside a term ANDed; a term with neither
matchExpressions nor matchFields selects nothing, and a term that does not parse (an unknown operator,
Gt with a non-integer) matches no node. The matching is shared with PodTopologySpread (its
nodeAffinityPolicy) and VolumeBinding (a PV's node affinity):

    node_matches_selector_terms(node, pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"])
    required_node_affinity_matches(pod, node)
    RequiredNodeAffinity(pod).matches(node)     # parse once, match many nodes
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeapi import labels
from kubeapi.validation.names import is_qualified_name, is_valid_label_value
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
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.taint_toleration import default_normalize_score

Obj = Mapping[str, Any]

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
OBJECT_NAME_FIELD = "metadata.name"
_INT = re.compile(r"[+-]?[0-9]+")

REASON_POD = "node(s) didn't match Pod's node affinity/selector"
REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
REASON_CONFLICT = "pod affinity terms conflict"

_OPERATORS = {
    "In": labels.Operator.IN,
    "NotIn": labels.Operator.NOT_IN,
    "Exists": labels.Operator.EXISTS,
    "DoesNotExist": labels.Operator.DOES_NOT_EXIST,
    "Gt": labels.Operator.GREATER_THAN,
    "Lt": labels.Operator.LESS_THAN,
}


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One NodeSelectorTerm, parsed: its label requirements, its field requirements as
    (field, equal, value), and the parse errors that make it match nothing."""

    label_selector: labels.Selector | None
    field_requirements: tuple[tuple[str, bool, str], ...] | None
    errors: tuple[str, ...] = ()

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        """Upstream ignores matchFields for a node without a name (a PV's node affinity is
        checked against the node's labels alone)."""
        if self.errors:
            return False
        if self.label_selector is not None and not self.label_selector.matches(node_labels):
            return False
        if self.field_requirements is not None and node_name:
            for field, equal, value in self.field_requirements:
                have = node_name if field == OBJECT_NAME_FIELD else ""
                if (have == value) != equal:
                    return False
        return True


def parse_term(term: Obj, path: str = "") -> NodeSelectorTerm:
    errors: list[str] = []
    selector = None
    expressions = term.get("matchExpressions") or ()
    if expressions:
        requirements = []
        for i, expr in enumerate(expressions):
            requirement = _label_requirement(expr, f"{path}matchExpressions[{i}]", errors)
            if requirement is not None:
                requirements.append(requirement)
        selector = labels.Selector(tuple(sorted(requirements, key=lambda r: r.key)))
    field_requirements = None
    match_fields = term.get("matchFields") or ()
    if match_fields:
        parsed = []
        for i, expr in enumerate(match_fields):
            where, operator, values = (
                f"{path}matchFields[{i}]",
                expr.get("operator"),
                expr.get("values") or [],
            )
            if operator not in ("In", "NotIn"):
                errors.append(
                    f'{where}.operator: Unsupported value: "{operator}": supported values: "In", "NotIn"'
                )
            elif len(values) != 1:
                errors.append(f"{where}.values: Invalid value: {list(values)}: must have one element")
            else:
                parsed.append((str(expr.get("key", "")), operator == "In", str(values[0])))
        field_requirements = tuple(parsed)
    return NodeSelectorTerm(selector, field_requirements, tuple(errors))


def _label_requirement(expr: Obj, where: str, errors: list[str]) -> labels.Requirement | None:
    """Upstream labels.NewRequirement's checks, with the node-selector operators (Gt, Lt)."""
    operator = _OPERATORS.get(expr.get("operator", ""))
    if operator is None:
        supported = ", ".join(f'"{name}"' for name in _OPERATORS)
        errors.append(
            f'{where}.operator: Unsupported value: "{expr.get("operator")}": supported values: {supported}'
        )
        return None
    key, values = str(expr.get("key", "")), [str(value) for value in expr.get("values") or ()]
    problems = [f"{where}.key: Invalid value: {key!r}: {msg}" for msg in is_qualified_name(key)]
    bad_values = f"{where}.values: Invalid value: {values}:"
    if operator in (labels.Operator.IN, labels.Operator.NOT_IN) and not values:
        problems.append(f"{bad_values} for 'in', 'notin' operators, values set can't be empty")
    elif operator in (labels.Operator.EXISTS, labels.Operator.DOES_NOT_EXIST) and values:
        problems.append(f"{bad_values} values set must be empty for exists and does not exist")
    elif operator in (labels.Operator.GREATER_THAN, labels.Operator.LESS_THAN):
        if len(values) != 1:
            problems.append(f"{bad_values} for 'Gt', 'Lt' operators, exactly one value is required")
        not_int = "for 'Gt', 'Lt' operators, the value must be an integer"
        problems += [
            f"{where}.values[{i}]: Invalid value: {value!r}: {not_int}"
            for i, value in enumerate(values)
            if not _is_int64(value)
        ]
    for i, value in enumerate(values):
        problems += [
            f"{where}.values[{i}][{key}]: Invalid value: {value!r}: {msg}"
            for msg in is_valid_label_value(value)
        ]
    errors += problems
    return None if problems else labels.Requirement(key, operator, tuple(values))


def _is_int64(text: str) -> bool:
    """strconv.ParseInt(text, 10, 64) succeeds."""
    return _INT.fullmatch(text) is not None and -(2**63) <= int(text) < 2**63


def _is_empty_term(term: Obj) -> bool:
    return not term.get("matchExpressions") and not term.get("matchFields")


@dataclass(frozen=True, slots=True)
class NodeSelector:
    """A v1.NodeSelector's terms, parsed (empty terms dropped): a node matches if any term does."""

    terms: tuple[NodeSelectorTerm, ...]

    @classmethod
    def parse(cls, selector: Obj | None, path: str = "") -> NodeSelector:
        terms = (selector or {}).get("nodeSelectorTerms") or ()
        return cls(
            tuple(
                parse_term(t, f"{path}nodeSelectorTerms[{i}].")
                for i, t in enumerate(terms)
                if not _is_empty_term(t)
            )
        )

    @property
    def errors(self) -> list[str]:
        return [error for term in self.terms for error in term.errors]

    def matches(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        return any(term.matches(node_name, node_labels) for term in self.terms)


@dataclass(frozen=True, slots=True)
class PreferredTerms:
    """PreferredSchedulingTerms, parsed; terms of weight 0 and empty terms count for nothing."""

    terms: tuple[tuple[NodeSelectorTerm, int], ...]

    @classmethod
    def parse(cls, terms: Iterable[Obj], path: str = "") -> tuple[PreferredTerms, list[str]]:
        parsed: list[tuple[NodeSelectorTerm, int]] = []
        errors: list[str] = []
        for i, term in enumerate(terms):
            preference, weight = term.get("preference") or {}, int(term.get("weight") or 0)
            if weight == 0 or _is_empty_term(preference):
                continue
            compiled = parse_term(preference, f"{path}[{i}].preference.")
            if compiled.errors:
                errors += compiled.errors
            else:
                parsed.append((compiled, weight))
        return cls(tuple(parsed)), errors

    def score(self, node_name: str, node_labels: Mapping[str, str]) -> int:
        return sum(weight for term, weight in self.terms if term.matches(node_name, node_labels))


def _node_name_and_labels(node: Obj) -> tuple[str, Mapping[str, str]]:
    meta = node.get("metadata") or {}
    return meta.get("name", ""), meta.get("labels") or {}


def node_matches_selector_terms(node: Obj, terms: Sequence[Obj]) -> bool:
    """Whether `node` matches any of the NodeSelectorTerms `terms` (upstream MatchNodeSelectorTerms)."""
    return NodeSelector.parse({"nodeSelectorTerms": terms}).matches(*_node_name_and_labels(node))


class RequiredNodeAffinity:
    """A pod's `nodeSelector` and required node affinity, parsed once (upstream
    GetRequiredNodeAffinity): a node must match both."""

    __slots__ = ("affinity", "node_selector")

    def __init__(self, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        selector = spec.get("nodeSelector")
        self.node_selector = labels.from_set(selector) if selector else None
        required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED)
        self.affinity = NodeSelector.parse(required) if required is not None else None

    def clone(self) -> RequiredNodeAffinity:
        return self  # immutable once parsed; cycle state copies need not copy it

    def matches_name_and_labels(self, node_name: str, node_labels: Mapping[str, str]) -> bool:
        if self.node_selector is not None and not self.node_selector.matches(node_labels):
            return False
        return self.affinity is None or self.affinity.matches(node_name, node_labels)

    def matches(self, node: Obj) -> bool:
        return self.matches_name_and_labels(*_node_name_and_labels(node))


def required_node_affinity_matches(pod: Obj, node: Obj) -> bool:
    return RequiredNodeAffinity(pod).matches(node)


def _node_names_in_terms(terms: Sequence[Obj]) -> set[str] | None:
    """The node names the terms allow when every term pins metadata.name with In; None when some
    term does not, and any node may match."""
    names: set[str] = set()
    for term in terms:
        term_names: set[str] | None = None
        for requirement in term.get("matchFields") or ():
            if requirement.get("key") == OBJECT_NAME_FIELD and requirement.get("operator") == "In":
                values = set(requirement.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return names


class NodeAffinity(PreFilterPlugin, FilterPlugin, PreScorePlugin, ScorePlugin, EnqueueExtensions):
    name = "NodeAffinity"
    has_normalize = True

    _PRE_FILTER_KEY = "PreFilter" + name
    _PRE_SCORE_KEY = "PreScore" + name

    def __init__(
        self, added_required: NodeSelector | None = None, added_preferred: PreferredTerms | None = None
    ):
        self.added_required = added_required
        self.added_preferred = added_preferred

    def events_to_register(self) -> Sequence[ClusterEvent]:
        # Taint updates stand in for a missed Node/Add, as upstream registers them without hints.
        node_changes = ActionType.ADD | ActionType.UPDATE_NODE_LABEL | ActionType.UPDATE_NODE_TAINT
        return (ClusterEvent("Node", node_changes),)

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        required = ((pod.spec.get("affinity") or {}).get("nodeAffinity") or {}).get(REQUIRED)
        if required is None and self.added_required is None and pod.spec.get("nodeSelector") is None:
            return None, SKIP
        state.write(self._PRE_FILTER_KEY, RequiredNodeAffinity(pod.pod))
        terms = (required or {}).get("nodeSelectorTerms") or ()
        if not terms:
            return None, SUCCESS
        names = _node_names_in_terms(terms)
        if names is None:
            return None, SUCCESS
        if not names:
            return None, Status.unresolvable(REASON_CONFLICT)
        return PreFilterResult(names), SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        node_labels = node_info.labels
        if self.added_required is not None and not self.added_required.matches(node_info.name, node_labels):
            return Status.unresolvable(REASON_ENFORCED)
        required = state.get(self._PRE_FILTER_KEY)
        if required is None:
            required = RequiredNodeAffinity(pod.pod)
        if not required.matches_name_and_labels(node_info.name, node_labels):
            return Status.unresolvable(REASON_POD)
        return SUCCESS

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        preferred, errors = _pod_preferred_terms(pod)
        if errors:
            return Status.error(*errors)
        if preferred is None and self.added_preferred is None:
            return SKIP
        state.write(self._PRE_SCORE_KEY, preferred or PreferredTerms(()))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        """The sum of the weights of the preferred terms (the pod's and the added ones) the node matches."""
        name, node_labels = node_info.name, node_info.labels
        total = self.added_preferred.score(name, node_labels) if self.added_preferred is not None else 0
        preferred = state.get(self._PRE_SCORE_KEY)
        if preferred is None:
            preferred, errors = _pod_preferred_terms(pod)
            if errors:
                return 0, Status.error(*errors)
        if preferred is not None:
            total += preferred.score(name, node_labels)
        return total, SUCCESS

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        default_normalize_score(MAX_NODE_SCORE, False, scores)
        return SUCCESS


def _pod_preferred_terms(pod: PodInfo) -> tuple[PreferredTerms | None, list[str]]:
    preferred = ((pod.spec.get("affinity") or {}).get("nodeAffinity") or {}).get(PREFERRED)
    if preferred is None:
        return None, []
    return PreferredTerms.parse(preferred)


def new(args: PluginArgs, handle: Handle) -> NodeAffinity:
    """Args: NodeAffinityArgs, `{"addedAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
    {"nodeSelectorTerms": [...]}, "preferredDuringSchedulingIgnoredDuringExecution": [...]}}`."""
    if args.get("kind", "NodeAffinityArgs") != "NodeAffinityArgs":
        raise ValueError(f"args are not of type NodeAffinityArgs, got {args['kind']}")
    if unknown := sorted(set(args) - {"apiVersion", "kind", "addedAffinity"}):
        raise ValueError(f"NodeAffinityArgs: unknown field(s) {unknown}")
    added = args.get("addedAffinity")
    if added is None:
        return NodeAffinity()
    if not isinstance(added, Mapping):
        raise ValueError("addedAffinity: must be a NodeAffinity object")
    if unknown := sorted(set(added) - {REQUIRED, PREFERRED}):
        raise ValueError(f"addedAffinity: unknown field(s) {unknown}")
    errors: list[str] = []
    added_required = None
    if (required := added.get(REQUIRED)) is not None:
        added_required = NodeSelector.parse(required, f"addedAffinity.{REQUIRED}.")
        errors += added_required.errors
    added_preferred = None
    if preferred := added.get(PREFERRED):
        added_preferred, preferred_errors = PreferredTerms.parse(preferred, f"addedAffinity.{PREFERRED}")
        errors += preferred_errors
    if errors:
        raise ValueError("; ".join(errors))
    return NodeAffinity(added_required, added_preferred)
