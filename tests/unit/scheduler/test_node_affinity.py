"""NodeAffinity: Filter and PreFilter cases from upstream's node_affinity_test.go (nodeSelector,
required terms with every operator, matchFields), Score cases with preferred terms, the plugin's
addedAffinity args, and the shared matching helpers."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from scheduler.framework.status import SKIP, SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.node_affinity import (
    NodeAffinity,
    RequiredNodeAffinity,
    new,
    node_matches_selector_terms,
    required_node_affinity_matches,
)

REJECTED = Status.unresolvable("node(s) didn't match Pod's node affinity/selector")
ENFORCED = Status.unresolvable("node(s) didn't match scheduler-enforced node affinity")
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    out: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def term(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if expressions:
        out["matchExpressions"] = list(expressions)
    if fields is not None:
        out["matchFields"] = fields
    return out


def name_in(*names: str) -> dict[str, Any]:
    return expr("metadata.name", "In", *names)


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": list(terms)}}}


def preferred(*weighted: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    return {"nodeAffinity": {PREFERRED: [{"weight": w, "preference": t} for w, t in weighted]}}


def plugin(args: dict[str, Any] | None = None) -> NodeAffinity:
    return new(args or {}, None)  # type: ignore[arg-type]


def run_filter(na: NodeAffinity, pod: dict[str, Any], node: dict[str, Any]) -> Status:
    state, pod_info, info = CycleState(), PodInfo(pod), node_info(node)
    result, status = na.pre_filter(state, pod_info, [info])
    if status.is_skip():
        return SUCCESS  # the framework skips Filter then
    if not status.is_success():
        return status
    if result is not None and result.node_names is not None and info.name not in result.node_names:
        return Status.unresolvable()  # the framework never evaluates a node PreFilter left out
    return na.filter(state, pod_info, info)


@pytest.mark.parametrize(
    ("spec", "node_labels", "want"),
    [
        pytest.param({}, {}, SUCCESS, id="pod without selector or affinity fits any node"),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}}, {}, REJECTED, id="node missing the selected label does not fit"
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}}, {"foo": "bar"}, SUCCESS, id="node with the selected label fits"
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}},
            {"foo": "bar", "baz": "blah"},
            SUCCESS,
            id="node labels that are a superset of the selector fit",
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar", "baz": "blah"}},
            {"foo": "bar"},
            REJECTED,
            id="node labels that are a subset of the selector do not fit",
        ),
        pytest.param(
            {"affinity": required(term(expr("foo", "In", "bar", "value2")))},
            {"foo": "bar"},
            SUCCESS,
            id="In matches a node with one of the values",
        ),
        pytest.param(
            {"affinity": required(term(expr("kernel-version", "Gt", "0204")))},
            {"kernel-version": "0206"},
            SUCCESS,
            id="Gt compares the label as an integer",
        ),
        pytest.param(
            {"affinity": required(term(expr("kernel-version", "Lt", "0204")))},
            {"kernel-version": "0206"},
            REJECTED,
            id="Lt rejects a larger label value",
        ),
        pytest.param(
            {"affinity": required(term(expr("kernel-version", "Gt", "0204")))},
            {"kernel-version": "new"},
            REJECTED,
            id="Gt rejects a label that is not an integer",
        ),
        pytest.param(
            {"affinity": required(term(expr("mem-type", "NotIn", "DDR", "DDR2")))},
            {"mem-type": "DDR3"},
            SUCCESS,
            id="NotIn matches a node with another value",
        ),
        pytest.param(
            {"affinity": required(term(expr("mem-type", "NotIn", "DDR")))},
            {},
            SUCCESS,
            id="NotIn matches a node without the label",
        ),
        pytest.param(
            {"affinity": required(term(expr("GPU", "Exists")))},
            {"GPU": "NVIDIA-GRID-K1"},
            SUCCESS,
            id="Exists matches a node with the label",
        ),
        pytest.param(
            {"affinity": required(term(expr("foo", "In", "value1", "value2")))},
            {"foo": "bar"},
            REJECTED,
            id="In rejects a node with another value",
        ),
        pytest.param(
            {"affinity": required(term(expr("GPU", "DoesNotExist")))},
            {"GPU": "yes"},
            REJECTED,
            id="DoesNotExist rejects a node with the label",
        ),
        pytest.param(
            {"affinity": {"nodeAffinity": {REQUIRED: {"nodeSelectorTerms": None}}}},
            {"foo": "bar"},
            REJECTED,
            id="required affinity without terms matches no node",
        ),
        pytest.param(
            {"affinity": required(term())},
            {"foo": "bar"},
            REJECTED,
            id="an empty term matches no node",
        ),
        pytest.param(
            {"affinity": required({"matchExpressions": []})},
            {"foo": "bar"},
            REJECTED,
            id="a term with empty matchExpressions matches no node",
        ),
        pytest.param(
            {"affinity": {"nodeAffinity": {}}},
            {"foo": "bar"},
            SUCCESS,
            id="affinity without required terms fits any node",
        ),
        pytest.param(
            {"affinity": required(term(expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER")))},
            {"GPU": "NVIDIA-GRID-K1"},
            SUCCESS,
            id="expressions within a term must all match",
        ),
        pytest.param(
            {"affinity": required(term(expr("GPU", "Exists"), expr("GPU", "In", "AMD", "INTER")))},
            {"GPU": "NVIDIA-GRID-K1"},
            REJECTED,
            id="one failing expression fails the term",
        ),
        pytest.param(
            {
                "affinity": required(
                    term(expr("foo", "In", "bar", "value2")), term(expr("diffkey", "In", "wrong"))
                )
            },
            {"foo": "bar"},
            SUCCESS,
            id="terms are ORed",
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}, "affinity": required(term(expr("foo", "Exists")))},
            {"foo": "bar"},
            SUCCESS,
            id="node matching both the selector and the affinity fits",
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}, "affinity": required(term(expr("foo", "Exists")))},
            {"foo": "barrrrrr"},
            REJECTED,
            id="node matching the affinity but not the selector does not fit",
        ),
        pytest.param(
            {"affinity": required(term(expr("foo", "Exists"), expr("foo", "Like", "x")))},
            {"foo": "bar"},
            REJECTED,
            id="a term with an unknown operator matches no node",
        ),
        pytest.param(
            {"affinity": required(term(expr("foo", "Exists", "x")), term(expr("foo", "In", "bar")))},
            {"foo": "bar"},
            SUCCESS,
            id="an invalid term does not stop another term from matching",
        ),
        pytest.param(
            {"affinity": required(term(expr("foo", "Gt", "1", "2")))},
            {"foo": "3"},
            REJECTED,
            id="Gt with two values matches no node",
        ),
    ],
)
def test_filter(spec: dict[str, Any], node_labels: dict[str, str], want: Status) -> None:
    assert run_filter(plugin(), make_pod("p", **spec), make_node("node1", labels=node_labels)) == want


@pytest.mark.parametrize(
    ("terms", "node", "want_names", "want"),
    [
        pytest.param(
            [term(fields=[name_in("node1")])],
            "node1",
            {"node1"},
            SUCCESS,
            id="matchFields on the node's name fits it",
        ),
        pytest.param(
            [term(fields=[name_in("node1")])],
            "node2",
            {"node1"},
            Status.unresolvable(),
            id="other nodes are left out",
        ),
        pytest.param(
            [term(fields=[expr("metadata.name", "NotIn", "node1")])],
            "node1",
            None,
            REJECTED,
            id="NotIn on the node's name rejects it without narrowing",
        ),
        pytest.param(
            [term(expr("foo", "In", "bar"), fields=[name_in("node1")])],
            "node1",
            {"node1"},
            REJECTED,
            id="the name and the labels of one term must both match",
        ),
        pytest.param(
            [term(fields=[name_in("node1")]), term(fields=[name_in("node2")])],
            "node2",
            {"node1", "node2"},
            SUCCESS,
            id="names of ORed terms add up",
        ),
        pytest.param(
            [term(fields=[name_in("node1")]), term(expr("foo", "Exists"))],
            "node1",
            None,
            SUCCESS,
            id="a term without a name keeps every node in play",
        ),
        pytest.param(
            [term(fields=[name_in("node1"), name_in("node2")])],
            "node1",
            None,
            Status.unresolvable("pod affinity terms conflict"),
            id="two names ANDed in a term conflict",
        ),
        pytest.param(
            [term(fields=[expr("metadata.name", "In", "node1", "node2")])],
            "node1",
            {"node1", "node2"},
            REJECTED,
            id="matchFields In with two values narrows but never matches",
        ),
    ],
)
def test_pre_filter_narrows_to_named_nodes(
    terms: list[dict[str, Any]], node: str, want_names: set[str] | None, want: Status
) -> None:
    pod = make_pod("p", affinity=required(*terms))
    result, _ = plugin().pre_filter(CycleState(), PodInfo(pod), [])
    assert (result.node_names if result is not None else None) == want_names
    assert run_filter(plugin(), pod, make_node(node)) == want


def test_pre_filter_conflict_is_unresolvable() -> None:
    pod = PodInfo(make_pod("p", affinity=required(term(fields=[name_in("a"), name_in("b")]))))
    _, status = plugin().pre_filter(CycleState(), pod, [])
    assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_pre_filter_skips_pods_without_constraints() -> None:
    assert plugin().pre_filter(CycleState(), PodInfo(make_pod("p")), []) == (None, SKIP)


def test_filter_without_pre_filter_works_it_out_itself() -> None:
    pod = PodInfo(make_pod("p", nodeSelector={"zone": "a"}))
    na = plugin()
    assert na.filter(CycleState(), pod, node_info(make_node("n", labels={"zone": "a"}))) == SUCCESS
    assert na.filter(CycleState(), pod, node_info(make_node("n", labels={"zone": "b"}))) == REJECTED


ADDED = {"addedAffinity": {REQUIRED: {"nodeSelectorTerms": [term(expr("zone", "In", "foo"))]}}}


@pytest.mark.parametrize(
    ("spec", "node_labels", "want"),
    [
        pytest.param({}, {"zone": "foo"}, SUCCESS, id="pod fits a node the added affinity allows"),
        pytest.param({}, {"zone": "bar"}, ENFORCED, id="pod does not fit a node the added affinity excludes"),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}},
            {"zone": "foo"},
            REJECTED,
            id="pod's own selector still applies on an allowed node",
        ),
        pytest.param(
            {"nodeSelector": {"foo": "bar"}},
            {"zone": "bar", "foo": "bar"},
            ENFORCED,
            id="the added affinity is checked first",
        ),
    ],
)
def test_added_affinity_filter(spec: dict[str, Any], node_labels: dict[str, str], want: Status) -> None:
    assert run_filter(plugin(ADDED), make_pod("p", **spec), make_node("n", labels=node_labels)) == want


def run_scores(na: NodeAffinity, pod: dict[str, Any], labels: list[dict[str, str]]) -> list[int] | Status:
    state, pod_info = CycleState(), PodInfo(pod)
    infos = [node_info(make_node(f"node{i}", labels=node_labels)) for i, node_labels in enumerate(labels)]
    status = na.pre_score(state, pod_info, infos)
    if not status.is_success():
        return status
    scores = []
    for info in infos:
        score, status = na.score(state, pod_info, info)
        assert status.is_success()
        scores.append(NodeScore(info.name, score))
    assert na.normalize_score(state, pod_info, scores).is_success()
    return [entry.score for entry in scores]


AFFINITY3 = preferred(
    (2, term(expr("foo", "In", "bar"))),
    (4, term(expr("key", "In", "value"))),
    (5, term(expr("foo", "In", "bar"), expr("key", "In", "value"), expr("az", "In", "az1"))),
)


@pytest.mark.parametrize(
    ("affinity", "labels", "want"),
    [
        pytest.param(
            preferred((2, term(expr("foo", "In", "bar")))),
            [{"foo": "bar"}, {"key": "value"}, {"az": "az1"}],
            [100, 0, 0],
            id="only the node matching the preferred term scores",
        ),
        pytest.param(
            preferred((2, term(expr("foo", "In", "bar")))),
            [{"key": "value"}, {"az": "az1"}],
            [0, 0],
            id="no node matching the preferred term scores nothing",
        ),
        pytest.param(
            AFFINITY3,
            [{"foo": "bar"}, {"foo": "bar", "key": "value", "az": "az1"}, {"key": "value"}],
            [18, 100, 36],
            id="weights of the matching terms add up and scale to the best node",
        ),
        pytest.param(
            preferred((0, term(expr("foo", "In", "bar"))), (3, term())),
            [{"foo": "bar"}, {}],
            [0, 0],
            id="terms with weight zero or no requirements count for nothing",
        ),
        pytest.param(
            preferred((1, term(fields=[name_in("node1")]))),
            [{}, {}],
            [0, 100],
            id="preferred terms can name nodes",
        ),
    ],
)
def test_score(affinity: dict[str, Any], labels: list[dict[str, str]], want: list[int]) -> None:
    assert run_scores(plugin(), make_pod("p", affinity=affinity), labels) == want


def test_pre_score_skips_pods_without_preferred_terms() -> None:
    assert plugin().pre_score(CycleState(), PodInfo(make_pod("p")), []) == SKIP


def test_pre_score_reports_an_invalid_preferred_term() -> None:
    pod = make_pod("p", affinity=preferred((1, term(expr("foo", "Gt", "x")))))
    status = run_scores(plugin(), pod, [{}])
    assert isinstance(status, Status) and status.code is Code.ERROR
    assert "the value must be an integer" in status.message()


def test_added_preferred_terms_score_every_pod() -> None:
    args = {"addedAffinity": {PREFERRED: [{"weight": 5, "preference": term(expr("zone", "In", "foo"))}]}}
    pod = make_pod("p", affinity=preferred((1, term(expr("disk", "In", "ssd")))))
    assert run_scores(plugin(args), make_pod("q"), [{"zone": "foo"}, {"zone": "bar"}]) == [100, 0]
    assert run_scores(
        plugin(args), pod, [{"zone": "foo"}, {"disk": "ssd"}, {"zone": "foo", "disk": "ssd"}]
    ) == [
        83,
        16,
        100,
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            {"addedAffinity": {REQUIRED: {"nodeSelectorTerms": [term(expr("a", "Gt", "x"))]}}},
            "integer",
            id="an unparsable added required term is refused",
        ),
        pytest.param(
            {"addedAffinity": {PREFERRED: [{"weight": 1, "preference": term(expr("a", "Foo"))}]}},
            "Unsupported value",
            id="an unknown operator in an added preferred term is refused",
        ),
        pytest.param(
            {"addedAffinity": {"bogus": {}}}, "unknown field", id="an unknown addedAffinity field is refused"
        ),
        pytest.param({"addedAffinity": []}, "must be a NodeAffinity", id="addedAffinity must be an object"),
        pytest.param({"other": 1}, "unknown field", id="an unknown arg is refused"),
        pytest.param({"kind": "NodePortsArgs"}, "NodeAffinityArgs", id="args of another kind are refused"),
    ],
)
def test_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plugin(args)


def test_args_with_type_meta_are_accepted() -> None:
    args = {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "NodeAffinityArgs", "addedAffinity": None}
    assert plugin(args).added_required is None


def test_node_matches_selector_terms() -> None:
    node = make_node("n1", labels={"zone": "a"})
    assert node_matches_selector_terms(node, [term(expr("zone", "In", "b")), term(expr("zone", "In", "a"))])
    assert not node_matches_selector_terms(node, [term(expr("zone", "In", "b"))])
    assert node_matches_selector_terms(node, [term(fields=[name_in("n1")])])
    assert not node_matches_selector_terms(node, [])


def test_required_node_affinity_matches_selector_and_affinity() -> None:
    pod = make_pod("p", nodeSelector={"disk": "ssd"}, affinity=required(term(expr("zone", "In", "a"))))
    assert required_node_affinity_matches(pod, make_node("n", labels={"disk": "ssd", "zone": "a"}))
    assert not required_node_affinity_matches(pod, make_node("n", labels={"disk": "ssd", "zone": "b"}))
    assert not required_node_affinity_matches(pod, make_node("n", labels={"zone": "a"}))
    assert RequiredNodeAffinity(make_pod("p")).matches(make_node("n"))


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            ClusterEvent("Node", ActionType.UPDATE_NODE_LABEL), True, id="a node label change requeues"
        ),
        pytest.param(ClusterEvent("Node", ActionType.ADD), True, id="a new node requeues"),
        pytest.param(ClusterEvent("Pod", ActionType.DELETE), False, id="a deleted pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin().events_to_register()) is want
