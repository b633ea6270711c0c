"""PodTopologySpread: Filter cases from upstream's podtopologyspread/filtering_test.go (one and two
constraints, minDomains, node inclusion policies, matchLabelKeys, default constraints), the PreFilter
extensions, Score cases from scoring_test.go, and the args."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from kubeapi import labels
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import SKIP, SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.pod_topology_spread import (
    REASON_CONSTRAINTS_NOT_MATCH,
    REASON_NODE_LABEL_NOT_MATCH,
    PodTopologySpread,
    new,
)

Obj = dict[str, Any]

FITS = SUCCESS
SKEWED = Status.unschedulable(REASON_CONSTRAINTS_NOT_MATCH)
NO_LABEL = Status.unresolvable(REASON_NODE_LABEL_NOT_MATCH)
HOSTNAME = "kubernetes.io/hostname"
FOO = {"matchExpressions": [{"key": "foo", "operator": "Exists"}]}
BAR = {"matchExpressions": [{"key": "bar", "operator": "Exists"}]}
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
PRE_FILTER_KEY = "PreFilterPodTopologySpread"

# --- fixtures ------------------------------------------------------------------------------------


class FakeSelectorLister:
    """Stands in for the Services/ReplicaSets/StatefulSets that select a pod."""

    def __init__(self, selector: labels.Selector) -> None:
        self.selector = selector

    def default_selector(self, pod: Mapping[str, Any]) -> labels.Selector:
        return self.selector


class FakeHandle:
    def __init__(self, snapshot: Snapshot, selector: labels.Selector | None = None) -> None:
        self._snapshot = snapshot
        if selector is not None:
            self.selector_lister = FakeSelectorLister(selector)

    def snapshot(self) -> Snapshot:
        return self._snapshot


def node(name: str, /, **node_labels: str) -> Obj:
    """A node labelled with exactly `node_labels` (no automatic hostname label)."""
    out = make_node(name)
    out["metadata"]["labels"] = dict(node_labels)
    return out


def tainted(name: str, /, **node_labels: str) -> Obj:
    """A node with the NoSchedule taint of an unschedulable node."""
    out = node(name, **node_labels)
    out["spec"]["taints"] = [UNSCHEDULABLE_TAINT]
    return out


def nodes(*names: str, key: str = "node", **extra: str) -> list[Obj]:
    return [node(name, **{key: name}, **extra) for name in names]


ZONED = [
    node("node-a", zone="zone1", node="node-a"),
    node("node-b", zone="zone1", node="node-b"),
    node("node-x", zone="zone2", node="node-x"),
    node("node-y", zone="zone2", node="node-y"),
]


def spread(
    max_skew: int,
    key: str,
    selector: Obj | None = FOO,
    action: str = "DoNotSchedule",
    min_domains: int | None = None,
    affinity_policy: str | None = None,
    taints_policy: str | None = None,
    match_label_keys: Sequence[str] = (),
) -> Obj:
    out: Obj = {"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": action}
    if selector is not None:
        out["labelSelector"] = selector
    if min_domains is not None:
        out["minDomains"] = min_domains
    if affinity_policy is not None:
        out["nodeAffinityPolicy"] = affinity_policy
    if taints_policy is not None:
        out["nodeTaintsPolicy"] = taints_policy
    if match_label_keys:
        out["matchLabelKeys"] = list(match_label_keys)
    return out


def soft(max_skew: int, key: str, selector: Obj | None = FOO, **kwargs: Any) -> Obj:
    return spread(max_skew, key, selector, "ScheduleAnyway", **kwargs)


def pod(
    name: str = "p",
    on: str | None = None,
    namespace: str = "default",
    constraints: Sequence[Obj] = (),
    terminating: bool = False,
    **pod_labels: str,
) -> Obj:
    spec: dict[str, Any] = {"topologySpreadConstraints": list(constraints)} if constraints else {}
    out = make_pod(name, namespace, labels=dict(pod_labels), node_name=on, **spec)
    if terminating:
        out["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return out


def with_spec(obj: Obj, **fields: Any) -> Obj:
    obj["spec"].update(fields)
    return obj


def foo_pods(**per_node: int) -> list[Obj]:
    """`per_node` matching pods (label foo) on each node: foo_pods(node_a=2) puts two on node-a."""
    return [
        pod(f"p-{name}{i}", on=name.replace("_", "-"), foo="")
        for name, count in per_node.items()
        for i in range(count)
    ]


def cluster(node_objs: Sequence[Obj], pods: Sequence[Obj] = ()) -> Snapshot:
    by_node: dict[str, list[Obj]] = {n["metadata"]["name"]: [] for n in node_objs}
    for p in pods:
        by_node[p["spec"]["nodeName"]].append(p)
    return Snapshot([node_info(n, *by_node[n["metadata"]["name"]]) for n in node_objs])


def plugin(
    snapshot: Snapshot, args: Mapping[str, Any] | None = None, selector: labels.Selector | None = None
) -> PodTopologySpread:
    args = {"defaultingType": "List"} if args is None else args
    return new(dict(args), FakeHandle(snapshot, selector))  # type: ignore[arg-type]


def filter_all(
    incoming: Obj, snapshot: Snapshot, pl: PodTopologySpread | None = None
) -> list[Status] | Status:
    """Each node's Filter status in node order, or PreFilter's status when it is not Success."""
    pl, state, info = pl or plugin(snapshot), CycleState(), PodInfo(incoming)
    _, status = pl.pre_filter(state, info, snapshot.node_infos)
    if not status.is_success():
        return status
    return [pl.filter(state, info, n) for n in snapshot.node_infos]


def scores(
    incoming: Obj,
    snapshot: Snapshot,
    candidates: Sequence[str] | None = None,
    pl: PodTopologySpread | None = None,
) -> list[int] | Status:
    """The normalized scores of the candidate nodes (all when None), or PreScore's status."""
    pl, state, info = pl or plugin(snapshot, {}), CycleState(), PodInfo(incoming)
    filtered = [n for n in snapshot.node_infos if candidates is None or n.name in candidates]
    status = pl.pre_score(state, info, filtered)
    if not status.is_success():
        return status
    out = []
    for n in filtered:
        value, status = pl.score(state, info, n)
        assert status.is_success()
        out.append(NodeScore(n.name, value))
    assert pl.normalize_score(state, info, out).is_success()
    return [entry.score for entry in out]


# --- Filter with one constraint --------------------------------------------------------------------

SINGLE_CONSTRAINT_CASES = [
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        ZONED,
        [],
        [FITS, FITS, FITS, FITS],
        id="no existing pods lets every node fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone", BAR)], foo=""),
        ZONED,
        [],
        [FITS, FITS, FITS, FITS],
        id="incoming pod that does not match itself fits everywhere in an empty cluster",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        ZONED,
        [
            pod("p-a1", on="node-a", namespace="ns1", foo=""),
            pod("p-b1", on="node-a", namespace="ns2", foo=""),
            *foo_pods(node_x=1, node_y=1),
        ],
        [FITS, FITS, SKEWED, SKEWED],
        id="existing pods in another namespace do not count",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone", None)], foo=""),
        ZONED,
        foo_pods(node_x=1, node_y=1),
        [FITS, FITS, FITS, FITS],
        id="existing pods do not match a null selector",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        ZONED,
        foo_pods(node_a=2, node_b=1, node_y=3),
        [FITS, FITS, FITS, FITS],
        id="pods spread across zones as 3/3 let every node fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        [ZONED[0], node("node-b", zon="zone1", node="node-b"), ZONED[2], ZONED[3]],
        foo_pods(node_a=1, node_b=1, node_x=1, node_y=1),
        [FITS, NO_LABEL, SKEWED, SKEWED],
        id="a node without the zone label is unresolvable and its pods do not count",
    ),
    pytest.param(
        pod(constraints=[spread(1, "rack")], foo=""),
        ZONED[:1] + ZONED[2:3],
        [],
        [NO_LABEL, NO_LABEL],
        id="no node has the topology key rack",
    ),
    pytest.param(
        pod(constraints=[spread(1, "node")], foo=""),
        ZONED,
        foo_pods(node_a=2, node_b=1, node_y=3),
        [SKEWED, SKEWED, FITS, SKEWED],
        id="pods spread across nodes as 2/1/0/3 let only node-x fit",
    ),
    pytest.param(
        pod(constraints=[spread(2, "node")], foo=""),
        ZONED,
        foo_pods(node_a=2, node_b=1, node_y=3),
        [SKEWED, FITS, FITS, SKEWED],
        id="maxSkew 2 over 2/1/0/3 lets node-b and node-x fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "node")], bar=""),
        ZONED,
        foo_pods(node_a=2, node_b=1, node_y=3),
        [SKEWED, FITS, FITS, SKEWED],
        id="a pod that does not match itself may raise a domain to the skew",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[spread(1, "node")], foo=""),
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "node", "operator": "In", "values": ["node-a", "node-y"]}
                                ]
                            }
                        ]
                    }
                }
            },
        ),
        ZONED,
        foo_pods(node_a=2, node_b=1, node_y=3),
        [FITS, FITS, FITS, SKEWED],
        id="only nodes matching the pod's node affinity count, so node-a fits over 2/~1~/~0~/3",
    ),
    pytest.param(
        pod(constraints=[spread(1, "node")], foo=""),
        nodes("node-a", "node-b"),
        [pod("p-a", on="node-a", terminating=True, foo=""), *foo_pods(node_b=1)],
        [FITS, SKEWED],
        id="terminating pods do not count",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[spread(1, "zone")], foo=""),
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "node", "operator": "NotIn", "values": ["node-b"]}]}
                        ]
                    }
                }
            },
        ),
        ZONED,
        foo_pods(node_b=2, node_y=1),
        [FITS, FITS, SKEWED, SKEWED],
        id="pods on a node outside the pod's node affinity do not count for their zone",
    ),
    pytest.param(
        pod(constraints=[spread(2, "node", min_domains=4)], foo=""),
        nodes("node-a", "node-b", "node-c"),
        foo_pods(node_a=2, node_b=2, node_c=1),
        [SKEWED, SKEWED, FITS],
        id="fewer domains than minDomains make the global minimum 0",
    ),
    pytest.param(
        pod(constraints=[spread(2, "node", min_domains=2)], foo=""),
        nodes("node-a", "node-b", "node-c"),
        foo_pods(node_a=2, node_b=2, node_c=1),
        [FITS, FITS, FITS],
        id="more domains than minDomains keep the real global minimum",
    ),
    pytest.param(
        with_spec(pod(constraints=[spread(1, "zone")], foo=""), nodeSelector={"foo": ""}),
        [node("node-a", zone="zone1", foo=""), node("node-x", zone="zone2")],
        foo_pods(node_a=1, node_x=2),
        [FITS, FITS],
        id="nodeAffinityPolicy Honor leaves out the zone of nodes the nodeSelector rejects",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[spread(1, "zone", affinity_policy="Ignore")], foo=""), nodeSelector={"foo": ""}
        ),
        [node("node-a", zone="zone1", foo=""), node("node-x", zone="zone2")],
        foo_pods(node_a=1, node_x=2),
        [FITS, SKEWED],
        id="nodeAffinityPolicy Ignore counts nodes the nodeSelector rejects",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone", taints_policy="Honor")], foo=""),
        [node("node-a", zone="zone1"), tainted("node-x", zone="zone2")],
        foo_pods(node_a=2),
        [FITS, FITS],
        id="nodeTaintsPolicy Honor leaves out the zone of untolerated tainted nodes",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        [node("node-a", zone="zone1"), tainted("node-x", zone="zone2")],
        foo_pods(node_a=2),
        [SKEWED, FITS],
        id="nodeTaintsPolicy Ignore by default counts tainted nodes",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[spread(1, "zone", taints_policy="Honor")], foo=""),
            tolerations=[
                {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}
            ],
        ),
        [node("node-a", zone="zone1"), tainted("node-x", zone="zone2")],
        foo_pods(node_a=2),
        [SKEWED, FITS],
        id="nodeTaintsPolicy Honor counts tainted nodes the pod tolerates",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone", match_label_keys=["bar"])], foo="", bar="a"),
        [node("node-a", zone="zone1"), node("node-x", zone="zone2")],
        [pod("p-x1", on="node-x", foo="", bar="b"), pod("p-x2", on="node-x", foo="", bar="b")],
        [FITS, FITS],
        id="matchLabelKeys leave out pods with another value of the key",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo="", bar="a"),
        [node("node-a", zone="zone1"), node("node-x", zone="zone2")],
        [pod("p-x1", on="node-x", foo="", bar="b"), pod("p-x2", on="node-x", foo="", bar="b")],
        [FITS, SKEWED],
        id="without matchLabelKeys every pod matching the selector counts",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone")], foo=""),
        ZONED,
        foo_pods(node_a=3),
        SKIP,
        id="ScheduleAnyway constraints do not filter",
    ),
    pytest.param(
        pod(foo=""),
        ZONED,
        foo_pods(node_a=3),
        SKIP,
        id="a pod without constraints skips Filter",
    ),
]


@pytest.mark.parametrize(("incoming", "node_objs", "existing", "want"), SINGLE_CONSTRAINT_CASES)
def test_filter_with_one_constraint(
    incoming: Obj, node_objs: list[Obj], existing: list[Obj], want: list[Status] | Status
) -> None:
    assert filter_all(incoming, cluster(node_objs, existing)) == want


# --- Filter with two constraints -------------------------------------------------------------------

MULTIPLE_CONSTRAINT_CASES = [
    pytest.param(
        pod(constraints=[spread(1, "zone"), spread(1, "node")], foo=""),
        foo_pods(node_a=2, node_b=1, node_y=3),
        [SKEWED, SKEWED, FITS, SKEWED],
        id="zone and node spread as 3/3 and 2/1/0/3 let only node-x fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone"), spread(1, "node")], foo=""),
        foo_pods(node_a=1, node_y=4),
        [SKEWED, FITS, SKEWED, SKEWED],
        id="zone and node spread as 1/4 and 1/0/0/4 let only node-b fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone"), spread(1, "node", BAR)], foo="", bar=""),
        [pod("p-a1", on="node-a", foo=""), pod("p-y1", on="node-y", bar="")],
        [SKEWED, SKEWED, FITS, SKEWED],
        id="constraints with different selectors spread as 1/0 and 0/0/0/1 let only node-x fit",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone"), spread(1, "node", BAR)], bar=""),
        [
            pod("p-a1", on="node-a", foo=""),
            pod("p-b1", on="node-b", foo="", bar=""),
            pod("p-y1", on="node-y", foo=""),
            pod("p-y2", on="node-y", bar=""),
        ],
        [FITS, SKEWED, FITS, SKEWED],
        id="a pod matching only the node constraint's selector does not add to its zone",
    ),
]


@pytest.mark.parametrize(("incoming", "existing", "want"), MULTIPLE_CONSTRAINT_CASES)
def test_filter_with_two_constraints(incoming: Obj, existing: list[Obj], want: list[Status]) -> None:
    assert filter_all(incoming, cluster(ZONED, existing)) == want


def test_filter_with_default_constraints_spreads_the_pods_of_the_same_owner() -> None:
    args = {
        "defaultingType": "List",
        "defaultConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
    }
    snapshot = cluster(ZONED, [*foo_pods(node_a=1), pod("other", on="node-x", app="other")])
    pl = plugin(snapshot, args, labels.from_label_selector(FOO))
    assert filter_all(pod(foo=""), snapshot, pl) == [SKEWED, SKEWED, FITS, FITS]


@pytest.mark.parametrize(
    ("selector", "args"),
    [
        pytest.param(labels.Selector(), {}, id="system defaults are soft so Filter skips"),
        pytest.param(
            labels.Selector(),
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                ],
            },
            id="default constraints skip a pod nothing selects",
        ),
        pytest.param(
            None,
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}
                ],
            },
            id="default constraints skip without a selector lister",
        ),
    ],
)
def test_pre_filter_skips_default_constraints(selector: labels.Selector | None, args: dict[str, Any]) -> None:
    snapshot = cluster(ZONED, foo_pods(node_a=3))
    assert filter_all(pod(foo=""), snapshot, plugin(snapshot, args, selector)) == SKIP


def test_invalid_label_selector_is_an_error() -> None:
    bad = {"matchExpressions": [{"key": "foo", "operator": "In", "values": ["{{.bad-value.}}"]}]}
    status = filter_all(pod(constraints=[spread(1, "zone", bad)], foo=""), cluster(ZONED))
    assert isinstance(status, Status) and status.code is Code.ERROR


# --- PreFilter extensions ---------------------------------------------------------------------------


def counts_after(
    incoming: Obj, node_objs: list[Obj], existing: list[Obj], change: str, other: Obj
) -> tuple[Any, ...]:
    """PreFilter, then add or remove `other` on its node; the counts and minimum per constraint."""
    snapshot = cluster(node_objs, existing)
    pl, state, info = plugin(snapshot), CycleState(), PodInfo(incoming)
    assert pl.pre_filter(state, info, snapshot.node_infos)[1] == SUCCESS
    target = snapshot.get(other["spec"]["nodeName"])
    assert target is not None
    update = pl.add_pod if change == "add" else pl.remove_pod
    assert update(state, info, PodInfo(other), target) == SUCCESS
    s = state.read(PRE_FILTER_KEY)
    return tuple((by_value, s.min_match(index)) for index, by_value in enumerate(s.counts))


ZONE_AND_NODE = [spread(1, "zone"), spread(1, "node")]
TWO_ZONES = [node("node-a", zone="zone1", node="node-a"), node("node-x", zone="zone2", node="node-x")]
NOT_BAR = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "foo", "operator": "NotIn", "values": ["bar"]}]}
            ]
        }
    }
}

EXTENSION_CASES = [
    pytest.param(
        pod(constraints=ZONE_AND_NODE, foo=""),
        TWO_ZONES,
        [],
        "add",
        pod("n", on="node-a", foo=""),
        (({"zone1": 1, "zone2": 0}, 0), ({"node-a": 1, "node-x": 0}, 0)),
        id="adding to an empty cluster raises node-a and its zone",
    ),
    pytest.param(
        pod(constraints=ZONE_AND_NODE, foo=""),
        TWO_ZONES,
        foo_pods(node_x=1),
        "add",
        pod("n", on="node-a", foo=""),
        (({"zone1": 1, "zone2": 1}, 1), ({"node-a": 1, "node-x": 1}, 1)),
        id="adding to the emptiest domain raises the minimum",
    ),
    pytest.param(
        pod(constraints=ZONE_AND_NODE, foo=""),
        TWO_ZONES,
        foo_pods(node_x=1),
        "add",
        pod("n", on="node-a", app="x"),
        (({"zone1": 0, "zone2": 1}, 0), ({"node-a": 0, "node-x": 1}, 0)),
        id="adding a pod the selector does not match changes nothing",
    ),
    pytest.param(
        pod(constraints=ZONE_AND_NODE, foo=""),
        TWO_ZONES,
        foo_pods(node_x=1),
        "add",
        pod("n", on="node-a", namespace="other", foo=""),
        (({"zone1": 0, "zone2": 1}, 0), ({"node-a": 0, "node-x": 1}, 0)),
        id="adding a pod of another namespace changes nothing",
    ),
    pytest.param(
        with_spec(pod(constraints=[spread(1, "zone")], foo=""), affinity=NOT_BAR),
        [node("node-a", zone="zone1", foo="bar"), node("node-b", zone="zone2", foo="")],
        foo_pods(node_a=1, node_b=1),
        "add",
        pod("n", on="node-a", foo=""),
        (({"zone2": 1}, 1),),
        id="adding onto a node the pod's node affinity rejects changes nothing",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        [node("node-a", zone="zone1"), node("node-b", zone="zone1"), node("node-x", zone="zone2")],
        foo_pods(node_a=2, node_b=1, node_x=1),
        "remove",
        foo_pods(node_a=1)[0],
        (({"zone1": 2, "zone2": 1}, 1),),
        id="removing a pod lowers its zone",
    ),
    pytest.param(
        pod(constraints=[spread(1, "zone")], foo=""),
        [node("node-a", zone="zone1"), node("node-x", zone="zone2")],
        foo_pods(node_a=1, node_x=1),
        "remove",
        foo_pods(node_x=1)[0],
        (({"zone1": 1, "zone2": 0}, 0),),
        id="removing from the smallest domain lowers the minimum",
    ),
]


@pytest.mark.parametrize(("incoming", "node_objs", "existing", "change", "other", "want"), EXTENSION_CASES)
def test_pre_filter_extensions(
    incoming: Obj, node_objs: list[Obj], existing: list[Obj], change: str, other: Obj, want: tuple[Any, ...]
) -> None:
    assert counts_after(incoming, node_objs, existing, change, other) == want


def test_what_if_on_a_clone_leaves_the_state_alone() -> None:
    snapshot = cluster(TWO_ZONES, foo_pods(node_a=1))
    pl, state, info = plugin(snapshot), CycleState(), PodInfo(pod(constraints=[spread(1, "zone")], foo=""))
    assert pl.pre_filter(state, info, snapshot.node_infos)[1] == SUCCESS
    node_a = snapshot.node_infos[0]
    assert pl.filter(state, info, node_a) == SKEWED
    what_if = state.clone()
    pl.remove_pod(what_if, info, PodInfo(node_a.pods[0].pod), node_a)
    assert pl.filter(what_if, info, node_a) == FITS
    assert pl.filter(state, info, node_a) == SKEWED


# --- Score ----------------------------------------------------------------------------------------

HOSTS = [node(name, **{HOSTNAME: name}) for name in ("node-a", "node-b", "node-c", "node-d")]
SPREAD_2103 = foo_pods(node_a=2, node_b=1, node_d=3)
SPREAD_4321 = foo_pods(node_a=4, node_b=3, node_c=2, node_d=1)
HOSTS_AXY = [node(name, **{HOSTNAME: name}) for name in ("node-a", "node-b", "node-x", "node-y")]
ZONED_HOSTS = [
    node(n["metadata"]["name"], **n["metadata"]["labels"], **{HOSTNAME: n["metadata"]["name"]}) for n in ZONED
]
THREE_NODES = [
    node("node-a", node="node-a", foo=""),
    node("node-b", node="node-b", foo=""),
    node("node-c", node="node-c"),
]
THREE_NODES_TAINTED = [
    node("node-a", node="node-a"),
    node("node-b", node="node-b"),
    tainted("node-c", node="node-c"),
]
NODE_AFFINITY_FOO = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "foo", "operator": "In", "values": [""]}]}]
        }
    }
}
DIFFERENT_SELECTORS = [
    pod("p-a1", on="node-a", foo=""),
    pod("p-b1", on="node-b", foo="", bar=""),
    pod("p-y1", on="node-y", foo=""),
    pod("p-y2", on="node-y", bar=""),
]
MATCH_LABEL_KEYS_PODS = [
    pod("p-a1", on="node-a", foo=""),
    pod("p-b1", on="node-b", foo="", bar=""),
    pod("p-y1", on="node-c", foo=""),
    pod("p-y2", on="node-c", bar=""),
]
ZONED_CD = [
    node("node-a", zone="zone1", **{HOSTNAME: "node-a"}),
    node("node-b", zone="zone1", **{HOSTNAME: "node-b"}),
    node("node-c", zone="zone2", **{HOSTNAME: "node-c"}),
    node("node-d", zone="zone2", **{HOSTNAME: "node-d"}),
]

SCORE_CASES = [
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS[:2],
        [],
        None,
        [100, 100],
        id="no existing pods score every node the same",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS[:2],
        foo_pods(node_a=2, node_b=1),
        ["node-a"],
        [100],
        id="the only candidate scores 100",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS[:2],
        foo_pods(node_a=1, node_b=1),
        None,
        [100, 100],
        id="nodes with as many matching pods score the same",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS,
        SPREAD_2103,
        None,
        [20, 60, 100, 0],
        id="matching pods spread as 2/1/0/3 favour the emptiest node",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME, None)], foo=""),
        HOSTS,
        SPREAD_2103,
        None,
        [100, 100, 100, 100],
        id="a null selector matches no pods",
    ),
    pytest.param(
        pod(constraints=[soft(2, HOSTNAME)], foo=""),
        HOSTS,
        SPREAD_2103,
        None,
        [33, 66, 100, 16],
        id="maxSkew 2 waters down the differences",
    ),
    pytest.param(
        pod(constraints=[soft(3, HOSTNAME)], foo=""),
        HOSTS,
        SPREAD_4321,
        None,
        [44, 66, 77, 100],
        id="maxSkew 3 over 4/3/2/1",
    ),
    pytest.param(
        pod(foo=""),
        HOSTS,
        SPREAD_4321,
        None,
        [44, 66, 77, 100],
        id="system default constraints spread the pods a service selects over nodes without zones",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS_AXY,
        foo_pods(node_a=4, node_b=2, node_x=1, node_y=3),
        ["node-a", "node-b", "node-x"],
        [33, 83, 100],
        id="a node that is not a candidate does not change the weights",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        [HOSTS_AXY[0], node("node-b", n="node-b"), HOSTS_AXY[2], HOSTS_AXY[3]],
        foo_pods(node_a=4, node_b=2, node_x=1, node_y=3),
        ["node-a", "node-b", "node-x"],
        [16, 0, 100],
        id="a candidate without the topology key scores 0",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone")], foo=""),
        ZONED_HOSTS,
        foo_pods(node_a=4, node_b=2, node_x=1, node_y=3),
        ["node-a", "node-b", "node-x"],
        [75, 75, 100],
        id="zone counts include nodes that are not candidates",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone"), soft(1, HOSTNAME)], foo=""),
        ZONED_HOSTS,
        foo_pods(node_a=2, node_b=1, node_x=2, node_y=4),
        ["node-a", "node-x"],
        [100, 63],
        id="zone and hostname constraints add up",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone"), soft(1, "zone", BAR)], foo="", bar=""),
        ZONED,
        [
            pod("p-a1", on="node-a", foo="", bar=""),
            pod("p-a2", on="node-a", foo=""),
            pod("p-b1", on="node-b", foo="", bar=""),
            pod("p-y1", on="node-y", foo=""),
            pod("p-y2", on="node-y", foo="", bar=""),
            pod("p-y3", on="node-y", foo=""),
        ],
        ["node-a", "node-x"],
        [85, 100],
        id="two zone constraints with different selectors",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone"), soft(1, HOSTNAME, BAR)], foo="", bar=""),
        ZONED_HOSTS,
        DIFFERENT_SELECTORS,
        None,
        [60, 20, 100, 60],
        id="zone and hostname constraints with different selectors",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone"), soft(1, HOSTNAME, BAR)], foo="", bar=""),
        ZONED_HOSTS,
        [
            pod("p-b1", on="node-b", bar=""),
            pod("p-x1", on="node-x", foo=""),
            pod("p-y1", on="node-y", foo="", bar=""),
        ],
        None,
        [100, 60, 40, 0],
        id="zone and hostname constraints with some empty nodes",
    ),
    pytest.param(
        pod(constraints=[soft(1, "zone"), soft(1, HOSTNAME, BAR)], foo="", bar=""),
        ZONED_HOSTS,
        DIFFERENT_SELECTORS,
        ["node-a", "node-b", "node-x"],
        [50, 25, 100],
        id="zone and hostname constraints with different selectors over three candidates",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS[:2],
        [pod("p-a1", on="node-a", namespace="ns1", foo=""), *foo_pods(node_a=1, node_b=2)],
        None,
        [100, 33],
        id="pods in another namespace do not count",
    ),
    pytest.param(
        pod(constraints=[soft(1, HOSTNAME)], foo=""),
        HOSTS[:2],
        [pod("p-a", on="node-a", terminating=True, foo=""), *foo_pods(node_b=1)],
        None,
        [100, 0],
        id="terminating pods do not count",
    ),
    pytest.param(
        pod(constraints=[soft(2, "node", min_domains=10)], foo=""),
        nodes("node-a", "node-b", "node-c"),
        foo_pods(node_a=2, node_b=2, node_c=1),
        None,
        [75, 75, 100],
        id="minDomains has no effect on ScheduleAnyway",
    ),
    pytest.param(
        with_spec(pod(constraints=[soft(1, "node")], foo=""), nodeSelector={"foo": ""}),
        THREE_NODES,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [0, 33, 100],
        id="nodeAffinityPolicy Honor does not count nodes the nodeSelector rejects",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[soft(1, "node", affinity_policy="Ignore")], foo=""), nodeSelector={"foo": ""}
        ),
        THREE_NODES,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [66, 100, 100],
        id="nodeAffinityPolicy Ignore counts nodes the nodeSelector rejects",
    ),
    pytest.param(
        with_spec(pod(constraints=[soft(1, "node")], foo=""), affinity=NODE_AFFINITY_FOO),
        THREE_NODES,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [0, 33, 100],
        id="nodeAffinityPolicy Honor does not count nodes the node affinity rejects",
    ),
    pytest.param(
        with_spec(
            pod(constraints=[soft(1, "node", affinity_policy="Ignore")], foo=""), affinity=NODE_AFFINITY_FOO
        ),
        THREE_NODES,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [66, 100, 100],
        id="nodeAffinityPolicy Ignore counts nodes the node affinity rejects",
    ),
    pytest.param(
        pod(constraints=[soft(1, "node", taints_policy="Honor")], foo=""),
        THREE_NODES_TAINTED,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [0, 33, 100],
        id="nodeTaintsPolicy Honor does not count untolerated tainted nodes",
    ),
    pytest.param(
        pod(constraints=[soft(1, "node")], foo=""),
        THREE_NODES_TAINTED,
        foo_pods(node_a=2, node_b=1, node_c=1),
        None,
        [66, 100, 100],
        id="nodeTaintsPolicy Ignore counts tainted nodes",
    ),
    pytest.param(
        pod(
            constraints=[
                soft(1, "zone", {}, match_label_keys=["foo"]),
                soft(1, HOSTNAME, {}, match_label_keys=["bar"]),
            ],
            foo="",
            bar="",
        ),
        ZONED_CD,
        MATCH_LABEL_KEYS_PODS,
        None,
        [60, 20, 60, 100],
        id="matchLabelKeys are ANDed with an empty labelSelector",
    ),
    pytest.param(
        pod(
            constraints=[soft(1, "zone"), soft(1, HOSTNAME, BAR, match_label_keys=["baz"])],
            foo="",
            bar="",
            baz="",
        ),
        ZONED_CD,
        [
            pod("p-a1", on="node-a", foo=""),
            pod("p-b1", on="node-b", foo="", bar="", baz=""),
            pod("p-c1", on="node-c", foo=""),
            pod("p-c2", on="node-c", bar=""),
            pod("p-d3", on="node-c", bar="", baz=""),
        ],
        None,
        [60, 20, 60, 100],
        id="matchLabelKeys are ANDed with a labelSelector",
    ),
]


@pytest.mark.parametrize(("incoming", "node_objs", "existing", "candidates", "want"), SCORE_CASES)
def test_score(
    incoming: Obj, node_objs: list[Obj], existing: list[Obj], candidates: list[str] | None, want: list[int]
) -> None:
    snapshot = cluster(node_objs, existing)
    pl = plugin(snapshot, {}, labels.from_set({"foo": ""}))
    assert scores(incoming, snapshot, candidates, pl) == want


def test_system_defaults_give_nodes_without_a_zone_their_own_domain() -> None:
    node_objs = [
        node("node-a", **{HOSTNAME: "node-a", "topology.kubernetes.io/zone": "mars"}),
        node("node-b", **{HOSTNAME: "node-b", "topology.kubernetes.io/zone": "mars"}),
        node("node-c", **{HOSTNAME: "node-c"}),
    ]
    snapshot = cluster(node_objs, foo_pods(node_a=3))
    pl = plugin(snapshot, {}, labels.from_set({"foo": ""}))
    got = scores(pod(foo=""), snapshot, None, pl)
    assert isinstance(got, list) and got[2] == 100 and got[0] < got[1] < 100


@pytest.mark.parametrize(
    ("incoming", "args", "selector"),
    [
        pytest.param(
            pod(foo=""),
            {"defaultingType": "List"},
            labels.from_set({"foo": ""}),
            id="a pod without soft constraints skips Score",
        ),
        pytest.param(pod(foo=""), {}, labels.Selector(), id="system defaults skip a pod nothing selects"),
        pytest.param(pod(foo=""), {}, None, id="system defaults skip without a selector lister"),
        pytest.param(
            pod(constraints=[spread(1, "zone")], foo=""),
            {},
            labels.from_set({"foo": ""}),
            id="a pod with only hard constraints skips Score",
        ),
    ],
)
def test_pre_score_skips(incoming: Obj, args: dict[str, Any], selector: labels.Selector | None) -> None:
    snapshot = cluster(HOSTS, SPREAD_2103)
    assert scores(incoming, snapshot, None, plugin(snapshot, args, selector)) == SKIP


def test_pre_score_skips_without_candidates() -> None:
    snapshot = cluster(HOSTS, SPREAD_2103)
    incoming = PodInfo(pod(constraints=[soft(1, HOSTNAME)], foo=""))
    assert plugin(snapshot).pre_score(CycleState(), incoming, []) == SKIP


# --- args and events --------------------------------------------------------------------------------


def test_args_default_to_system_defaulting() -> None:
    pl = new({}, FakeHandle(cluster([])))  # type: ignore[arg-type]
    assert pl.system_defaulted
    assert [(c["topologyKey"], c["maxSkew"]) for c in pl.default_constraints] == [
        (HOSTNAME, 3),
        ("topology.kubernetes.io/zone", 5),
    ]


def test_list_defaulting_keeps_the_given_constraints() -> None:
    given = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]
    pl = new({"defaultingType": "List", "defaultConstraints": given}, FakeHandle(cluster([])))  # type: ignore[arg-type]
    assert (pl.system_defaulted, list(pl.default_constraints)) == (False, given)


ZONE_SOFT = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            {"defaultConstraints": [ZONE_SOFT]},
            'defaultingType: Invalid value: "System": when .defaultConstraints are not empty',
            id="system defaulting refuses default constraints",
        ),
        pytest.param(
            {"defaultingType": "Some"},
            'defaultingType: Unsupported value: "Some": supported values: "System", "List"',
            id="unknown defaulting type is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [{**ZONE_SOFT, "maxSkew": 0}]},
            "defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf)",
            id="maxSkew 0 is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [{**ZONE_SOFT, "topologyKey": ""}]},
            "defaultConstraints[0].topologyKey: Required value: can not be empty",
            id="empty topology key is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [{**ZONE_SOFT, "topologyKey": "a b"}]},
            'defaultConstraints[0].topologyKey: Invalid value: "a b"',
            id="invalid topology key is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [{**ZONE_SOFT, "whenUnsatisfiable": "Never"}]},
            'defaultConstraints[0].whenUnsatisfiable: Unsupported value: "Never": '
            'supported values: "DoNotSchedule", "ScheduleAnyway"',
            id="unknown whenUnsatisfiable is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [{**ZONE_SOFT, "labelSelector": {}}]},
            "defaultConstraints[0].labelSelector: Forbidden: "
            "constraint must not define a selector, as they deduced for each pod",
            id="a selector in a default constraint is refused",
        ),
        pytest.param(
            {"defaultingType": "List", "defaultConstraints": [ZONE_SOFT, ZONE_SOFT]},
            'defaultConstraints[1]: Duplicate value: "{zone, ScheduleAnyway}"',
            id="a repeated key and action is refused",
        ),
        pytest.param(
            {"defaultingTyp": "List"}, "unknown field(s) ['defaultingTyp']", id="misspelt field is refused"
        ),
    ],
)
def test_invalid_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="PodTopologySpread args") as raised:
        new(args, FakeHandle(cluster([])))  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_events_are_pod_and_node_changes_that_can_help() -> None:
    events = plugin(cluster([])).events_to_register()
    pod_event = next(e for e in events if e.resource == "Pod")
    node_event = next(e for e in events if e.resource == "Node")
    for action in (ActionType.ADD, ActionType.DELETE, ActionType.UPDATE_POD_LABEL):
        assert pod_event.matches(ClusterEvent("Pod", action))
    for action in (
        ActionType.ADD,
        ActionType.DELETE,
        ActionType.UPDATE_NODE_LABEL,
        ActionType.UPDATE_NODE_TAINT,
    ):
        assert node_event.matches(ClusterEvent("Node", action))
    assert not node_event.matches(ClusterEvent("Node", ActionType.UPDATE_NODE_ALLOCATABLE))


# --- counts remembered across cycles ------------------------------------------------------------------


def test_a_pod_placed_between_cycles_counts_in_the_next_cycle() -> None:
    snapshot = cluster(TWO_ZONES)
    pl = plugin(snapshot)
    incoming = pod(constraints=[spread(1, "zone")], foo="")
    assert filter_all(incoming, snapshot, pl) == [FITS, FITS]
    snapshot.node_infos[0].add_pod(PodInfo(pod("n", on="node-a", foo="")))
    assert filter_all(incoming, snapshot, pl) == [SKEWED, FITS]
    snapshot.node_infos[0].remove_pod(snapshot.node_infos[0].pods[0].pod)
    assert filter_all(incoming, snapshot, pl) == [FITS, FITS]


def test_a_node_clone_at_the_same_generation_does_not_stand_in_for_the_node() -> None:
    snapshot = cluster(TWO_ZONES)
    pl, incoming = plugin(snapshot), pod(constraints=[spread(1, "zone")], foo="")
    assert filter_all(incoming, snapshot, pl) == [FITS, FITS]
    node_a = snapshot.node_infos[0]
    what_if = node_a.clone()
    what_if.add_pod(PodInfo(pod("matching", on="node-a", foo="")))
    clone_snapshot = Snapshot([what_if, snapshot.node_infos[1]])
    assert filter_all(incoming, clone_snapshot, pl) == [SKEWED, FITS]
    node_a.add_pod(PodInfo(pod("other", on="node-a", app="x")))
    assert node_a.generation == what_if.generation
    assert filter_all(incoming, snapshot, pl) == [FITS, FITS]
