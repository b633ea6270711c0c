"""InterPodAffinity: Filter cases from upstream's interpodaffinity/filtering_test.go (single node,
several nodes, symmetry, namespaceSelector, the first pod of a group), the PreFilter extensions,
Score cases from scoring_test.go, and the args."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.inter_pod_affinity import (
    REASON_AFFINITY,
    REASON_ANTI_AFFINITY,
    REASON_EXISTING_ANTI_AFFINITY,
    InterPodAffinity,
    new,
)

Obj = dict[str, Any]

AFFINITY_MISMATCH = Status.unresolvable(REASON_AFFINITY)
ANTI_AFFINITY_MISMATCH = Status.unschedulable(REASON_ANTI_AFFINITY)
EXISTING_ANTI_AFFINITY_MISMATCH = Status.unschedulable(REASON_EXISTING_ANTI_AFFINITY)

# --- fixtures ------------------------------------------------------------------------------------


class FakeHandle:
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> Snapshot:
        return self._snapshot


def node(name: str, **labels: str) -> Obj:
    """A node labelled with exactly `labels` (no automatic hostname label)."""
    out = make_node(name)
    out["metadata"]["labels"] = dict(labels)
    return out


def pod(
    name: str = "p",
    labels: Mapping[str, str] | None = None,
    on: str | None = None,
    namespace: str = "default",
    affinity: Obj | None = None,
) -> Obj:
    extra: dict[str, Any] = {"affinity": affinity} if affinity else {}
    return make_pod(name, namespace, labels=dict(labels or {}), node_name=on, **extra)


def cluster(
    nodes: Sequence[Obj], pods: Sequence[Obj] = (), namespaces: Mapping[str, Mapping[str, str]] | None = None
) -> Snapshot:
    by_node: dict[str, list[Obj]] = {n["metadata"]["name"]: [] for n in nodes}
    for p in pods:
        by_node[p["spec"]["nodeName"]].append(p)
    return Snapshot([node_info(n, *by_node[n["metadata"]["name"]]) for n in nodes], namespaces)


def expr(key: str, operator: str, *values: str) -> Obj:
    out: Obj = {"key": key, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


def term(
    topology_key: str,
    *expressions: Obj,
    namespaces: Sequence[str] = (),
    namespace_selector: Obj | None = None,
) -> Obj:
    out: Obj = {"labelSelector": {"matchExpressions": list(expressions)}, "topologyKey": topology_key}
    if namespaces:
        out["namespaces"] = list(namespaces)
    if namespace_selector is not None:
        out["namespaceSelector"] = namespace_selector
    return out


def weighted(weight: int, pod_term: Obj) -> Obj:
    return {"weight": weight, "podAffinityTerm": pod_term}


def affinity(
    required: Sequence[Obj] = (),
    preferred: Sequence[Obj] = (),
    anti_required: Sequence[Obj] = (),
    anti_preferred: Sequence[Obj] = (),
) -> Obj:
    out: Obj = {}
    if required or preferred:
        out["podAffinity"] = {}
        if required:
            out["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = list(required)
        if preferred:
            out["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = list(preferred)
    if anti_required or anti_preferred:
        out["podAntiAffinity"] = {}
        if anti_required:
            out["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = list(anti_required)
        if anti_preferred:
            out["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] = list(anti_preferred)
    return out


def plugin(snapshot: Snapshot, args: Mapping[str, Any] | None = None) -> InterPodAffinity:
    return new(dict(args or {}), FakeHandle(snapshot))  # type: ignore[arg-type]


def filter_all(incoming: Obj, snapshot: Snapshot) -> dict[str, Status] | Status:
    """Each node's Filter status, or PreFilter's status when it is not Success."""
    pl, state, info = plugin(snapshot), CycleState(), PodInfo(incoming)
    _, status = pl.pre_filter(state, info, snapshot.node_infos)
    if not status.is_success():
        return status
    return {n.name: pl.filter(state, info, n) for n in snapshot.node_infos}


def scores(incoming: Obj, snapshot: Snapshot, args: Mapping[str, Any] | None = None) -> list[int] | Status:
    """The normalized scores in node order, or PreScore's status when it is not Success."""
    pl, state, info = plugin(snapshot, args), CycleState(), PodInfo(incoming)
    status = pl.pre_score(state, info, snapshot.node_infos)
    if not status.is_success():
        return status
    out = []
    for n in snapshot.node_infos:
        value, status = pl.score(state, info, n)
        assert status.is_success()
        out.append(NodeScore(n.name, value))
    assert pl.normalize_score(state, info, out).is_success()
    return [entry.score for entry in out]


# --- Filter on one node ----------------------------------------------------------------------------

SECURITY_S1 = {"service": "securityscan"}
ONE_NODE = [node("machine1", region="r1", zone="z11")]
IN_S1 = expr("service", "In", "securityscan", "value2")
NOT_IN_S1 = expr("service", "NotIn", "securityscan3", "value3")

SINGLE_NODE_CASES = [
    pytest.param(
        pod(),
        [],
        SKIP,
        id="pod without affinity skips when no existing pod has required anti-affinity",
    ),
    pytest.param(
        pod(labels=SECURITY_S1, affinity=affinity(required=[term("region", IN_S1)])),
        [pod("e", SECURITY_S1, on="machine1")],
        SUCCESS,
        id="affinity with In matches the existing pod",
    ),
    pytest.param(
        pod(labels=SECURITY_S1, affinity=affinity(required=[term("region", NOT_IN_S1)])),
        [pod("e", SECURITY_S1, on="machine1")],
        SUCCESS,
        id="affinity with NotIn matches the existing pod",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(required=[term("region", IN_S1, namespaces=["DiffNameSpace"])]),
        ),
        [pod("e", SECURITY_S1, on="machine1", namespace="ns")],
        AFFINITY_MISMATCH,
        id="affinity does not match a pod in another namespace",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(required=[term("region", expr("service", "In", "antivirusscan"))]),
        ),
        [pod("e", SECURITY_S1, on="machine1")],
        AFFINITY_MISMATCH,
        id="affinity whose selector does not match the existing pod fails",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(
                required=[
                    term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
                    term(
                        "region",
                        expr("service", "In", "securityscan"),
                        expr("service", "NotIn", "WrongValue"),
                    ),
                ]
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1")],
        SUCCESS,
        id="several affinity terms with different operators all match",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(
                required=[
                    term("region", expr("service", "Exists"), expr("wrongkey", "DoesNotExist")),
                    term(
                        "region",
                        expr("service", "In", "securityscan2"),
                        expr("service", "NotIn", "WrongValue"),
                    ),
                ]
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1")],
        AFFINITY_MISMATCH,
        id="affinity terms are ANDed so one unmatched term fails",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(
                required=[term("region", IN_S1)],
                anti_required=[term("node", expr("service", "In", "antivirusscan"))],
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1")],
        SUCCESS,
        id="affinity and anti-affinity both satisfied",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(
                required=[term("region", IN_S1)],
                anti_required=[term("zone", expr("service", "In", "antivirusscan"))],
            ),
        ),
        [
            pod(
                "e",
                SECURITY_S1,
                on="machine1",
                affinity=affinity(anti_required=[term("zone", expr("service", "In", "antivirusscan"))]),
            )
        ],
        SUCCESS,
        id="affinity, anti-affinity and the existing pod's anti-affinity all satisfied",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(required=[term("region", IN_S1)], anti_required=[term("zone", IN_S1)]),
        ),
        [pod("e", SECURITY_S1, on="machine1")],
        ANTI_AFFINITY_MISMATCH,
        id="affinity satisfied but anti-affinity matches the existing pod",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            affinity=affinity(
                required=[term("region", IN_S1)],
                anti_required=[term("zone", expr("service", "In", "antivirusscan"))],
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1", affinity=affinity(anti_required=[term("zone", IN_S1)]))],
        EXISTING_ANTI_AFFINITY_MISMATCH,
        id="existing pod's anti-affinity matches the incoming pod",
    ),
    pytest.param(
        pod(labels={"service": "other"}),
        [
            pod(
                "e",
                SECURITY_S1,
                on="machine1",
                affinity=affinity(anti_required=[term("zone", expr("service", "Exists"))]),
            )
        ],
        EXISTING_ANTI_AFFINITY_MISMATCH,
        id="existing pod's anti-affinity is respected when the incoming pod has no affinity",
    ),
    pytest.param(
        pod(labels={"service": "other"}),
        [pod("e", SECURITY_S1, on="machine1", affinity=affinity(anti_required=[term("zone", IN_S1)]))],
        SKIP,
        id="existing pod's anti-affinity that does not match the incoming pod skips Filter",
    ),
    pytest.param(
        pod(labels=SECURITY_S1, affinity=affinity(required=[term("region", IN_S1)])),
        [pod("e", {"service": "other"}, on="machine1")],
        SUCCESS,
        id="first pod of a group matching its own affinity may schedule when no pod matches",
    ),
    pytest.param(
        pod(labels={"service": "other"}, affinity=affinity(required=[term("region", IN_S1)])),
        [],
        AFFINITY_MISMATCH,
        id="pod whose affinity does not match itself waits when no pod matches",
    ),
    pytest.param(
        pod(labels=SECURITY_S1, affinity=affinity(required=[term("rack", IN_S1)])),
        [pod("e", SECURITY_S1, on="machine1")],
        AFFINITY_MISMATCH,
        id="node without the affinity topology key fails even for the first pod of a group",
    ),
    pytest.param(
        pod(
            labels=SECURITY_S1,
            namespace="subteam1.team1",
            affinity=affinity(
                required=[term("region", IN_S1, namespace_selector={"matchLabels": {"team": "team2"}})]
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1", namespace="subteam2.team2")],
        SUCCESS,
        id="affinity namespaceSelector matches a pod in a selected namespace",
    ),
    pytest.param(
        pod(
            labels={"service": "other"},
            namespace="subteam1.team1",
            affinity=affinity(
                required=[term("region", IN_S1, namespace_selector={"matchLabels": {"team": "team2"}})]
            ),
        ),
        [pod("e", SECURITY_S1, on="machine1", namespace="subteam1.team1")],
        AFFINITY_MISMATCH,
        id="affinity namespaceSelector does not match a pod in another namespace",
    ),
    pytest.param(
        pod(
            labels={"service": "other"},
            namespace="subteam1.team1",
            affinity=affinity(anti_required=[term("zone", IN_S1, namespace_selector={})]),
        ),
        [pod("e", SECURITY_S1, on="machine1", namespace="anywhere")],
        ANTI_AFFINITY_MISMATCH,
        id="empty namespaceSelector in anti-affinity selects every namespace",
    ),
    pytest.param(
        pod(labels={"service": "other"}, namespace="subteam1.team1"),
        [
            pod(
                "e",
                SECURITY_S1,
                on="machine1",
                namespace="subteam2.team2",
                affinity=affinity(
                    anti_required=[
                        term(
                            "zone",
                            expr("service", "Exists"),
                            namespace_selector={"matchLabels": {"team": "team1"}},
                        )
                    ]
                ),
            )
        ],
        EXISTING_ANTI_AFFINITY_MISMATCH,
        id="existing pod's anti-affinity namespaceSelector matches the incoming pod's namespace labels",
    ),
]

NAMESPACES = {
    "subteam1.team1": {"team": "team1"},
    "subteam2.team1": {"team": "team1"},
    "subteam1.team2": {"team": "team2"},
    "subteam2.team2": {"team": "team2"},
}


@pytest.mark.parametrize(("incoming", "existing", "want"), SINGLE_NODE_CASES)
def test_filter_on_one_node(incoming: Obj, existing: list[Obj], want: Status) -> None:
    got = filter_all(incoming, cluster(ONE_NODE, existing, NAMESPACES))
    assert got == (want if want is SKIP else {"machine1": want})


# --- Filter over several nodes -----------------------------------------------------------------------

FOO = {"foo": "bar"}
IN_FOO = expr("foo", "In", "bar")

MULTI_NODE_CASES = [
    pytest.param(
        pod(labels=FOO, affinity=affinity(required=[term("region", IN_FOO)])),
        [pod("e", FOO, on="machine1")],
        [
            node("machine1", region="r1", zone="z11"),
            node("machine2", region="r1", zone="z12"),
            node("machine3", region="r2", zone="z21"),
        ],
        [SUCCESS, SUCCESS, AFFINITY_MISMATCH],
        id="every node in the domain of a matching pod satisfies affinity",
    ),
    pytest.param(
        pod(labels={"foo": "x"}, affinity=affinity(anti_required=[term("zone", IN_FOO)])),
        [pod("e", FOO, on="machine1")],
        [
            node("machine1", region="r1", zone="z11"),
            node("machine2", region="r1", zone="z11"),
            node("machine3", region="r1", zone="z12"),
        ],
        [ANTI_AFFINITY_MISMATCH, ANTI_AFFINITY_MISMATCH, SUCCESS],
        id="anti-affinity rejects every node in the matching pod's zone",
    ),
    pytest.param(
        pod(labels=FOO, affinity=affinity(anti_required=[term("kubernetes.io/hostname", IN_FOO)])),
        [
            pod(
                "e",
                FOO,
                on="machine1",
                affinity=affinity(anti_required=[term("kubernetes.io/hostname", IN_FOO)]),
            )
        ],
        [
            node("machine1", **{"kubernetes.io/hostname": "machine1"}),
            node("machine2", **{"kubernetes.io/hostname": "machine2"}),
        ],
        [ANTI_AFFINITY_MISMATCH, SUCCESS],
        id="required anti-affinity on hostname blocks the node with a matching pod",
    ),
    pytest.param(
        pod(labels={"foo": "x"}),
        [
            pod(
                "e",
                FOO,
                on="machine1",
                affinity=affinity(anti_required=[term("region", expr("foo", "In", "x"))]),
            )
        ],
        [
            node("machine1", region="r1"),
            node("machine2", region="r1"),
            node("machine3", region="r2"),
            node("machine4"),
        ],
        [EXISTING_ANTI_AFFINITY_MISMATCH, EXISTING_ANTI_AFFINITY_MISMATCH, SUCCESS, SUCCESS],
        id="existing pod's anti-affinity keeps the incoming pod out of its whole region",
    ),
    pytest.param(
        pod(labels=FOO, affinity=affinity(required=[term("region", IN_FOO), term("zone", IN_FOO)])),
        [pod("e", FOO, on="machine1")],
        [
            node("machine1", region="r1", zone="z1"),
            node("machine2", region="r1", zone="z2"),
            node("machine3", region="r1"),
        ],
        [SUCCESS, AFFINITY_MISMATCH, AFFINITY_MISMATCH],
        id="every affinity term needs a matching pod in the node's domain",
    ),
    pytest.param(
        pod(labels=FOO, affinity=affinity(required=[term("region", IN_FOO)])),
        [],
        [node("machine1", region="r1"), node("machine2")],
        [SUCCESS, AFFINITY_MISMATCH],
        id="first pod of a group schedules only onto nodes with the topology key",
    ),
    pytest.param(
        pod(
            labels=FOO,
            affinity=affinity(required=[term("region", IN_FOO)], anti_required=[term("zone", IN_FOO)]),
        ),
        [pod("e", FOO, on="machine1")],
        [
            node("machine1", region="r1", zone="z1"),
            node("machine2", region="r1", zone="z2"),
            node("machine3", region="r2", zone="z3"),
        ],
        [ANTI_AFFINITY_MISMATCH, SUCCESS, AFFINITY_MISMATCH],
        id="same region but another zone than the matching pod",
    ),
]


@pytest.mark.parametrize(("incoming", "existing", "nodes", "want"), MULTI_NODE_CASES)
def test_filter_on_several_nodes(
    incoming: Obj, existing: list[Obj], nodes: list[Obj], want: list[Status]
) -> None:
    got = filter_all(incoming, cluster(nodes, existing))
    assert got == {n["metadata"]["name"]: status for n, status in zip(nodes, want, strict=True)}


def test_filter_without_pre_filter_state_is_an_error() -> None:
    snapshot = cluster(ONE_NODE)
    status = plugin(snapshot).filter(CycleState(), PodInfo(pod()), snapshot.node_infos[0])
    assert status.code is Status.error().code


# --- PreFilter extensions ---------------------------------------------------------------------------


def test_removing_the_pod_with_anti_affinity_lifts_the_rejection_in_a_clone_only() -> None:
    blocker = pod(
        "e", FOO, on="machine1", affinity=affinity(anti_required=[term("zone", expr("foo", "Exists"))])
    )
    snapshot = cluster([node("machine1", zone="z1"), node("machine2", zone="z1")], [blocker])
    pl, state, info = plugin(snapshot), CycleState(), PodInfo(pod(labels=FOO))
    assert pl.pre_filter(state, info, snapshot.node_infos)[1] == SUCCESS
    what_if = state.clone()
    assert pl.remove_pod(what_if, info, PodInfo(blocker), snapshot.node_infos[0]) == SUCCESS
    assert pl.filter(what_if, info, snapshot.node_infos[1]) == SUCCESS
    assert pl.filter(state, info, snapshot.node_infos[1]) == EXISTING_ANTI_AFFINITY_MISMATCH


def test_adding_a_matching_pod_satisfies_affinity_and_removing_it_undoes_that() -> None:
    snapshot = cluster(
        [node("machine1", region="r1"), node("machine2", region="r2")], [pod("e", FOO, on="machine1")]
    )
    incoming = PodInfo(pod(labels={"foo": "x"}, affinity=affinity(required=[term("region", IN_FOO)])))
    pl, state = plugin(snapshot), CycleState()
    assert pl.pre_filter(state, incoming, snapshot.node_infos)[1] == SUCCESS
    machine2 = snapshot.node_infos[1]
    assert pl.filter(state, incoming, machine2) == AFFINITY_MISMATCH
    added = PodInfo(pod("n", FOO, on="machine2"))
    pl.add_pod(state, incoming, added, machine2)
    assert pl.filter(state, incoming, machine2) == SUCCESS
    pl.remove_pod(state, incoming, added, machine2)
    assert pl.filter(state, incoming, machine2) == AFFINITY_MISMATCH


def test_adding_a_pod_the_incoming_pod_repels_blocks_its_domain() -> None:
    snapshot = cluster([node("machine1", zone="z1"), node("machine2", zone="z2")])
    incoming = PodInfo(pod(labels={"foo": "x"}, affinity=affinity(anti_required=[term("zone", IN_FOO)])))
    pl, state = plugin(snapshot), CycleState()
    assert pl.pre_filter(state, incoming, snapshot.node_infos)[1] == SUCCESS
    pl.add_pod(state, incoming, PodInfo(pod("n", FOO, on="machine2")), snapshot.node_infos[1])
    assert [pl.filter(state, incoming, n) for n in snapshot.node_infos] == [SUCCESS, ANTI_AFFINITY_MISMATCH]


# --- Score ----------------------------------------------------------------------------------------

S1, S2 = {"security": "S1"}, {"security": "S2"}
CHINA, INDIA, AZ1, AZ2 = {"region": "China"}, {"region": "India"}, {"az": "az1"}, {"az": "az2"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
STAY_WITH_S1_IN_REGION = affinity(preferred=[weighted(5, term("region", expr("security", "In", "S1")))])
STAY_WITH_S2_IN_REGION = affinity(preferred=[weighted(6, term("region", expr("security", "In", "S2")))])
AFFINITY3 = affinity(
    preferred=[
        weighted(8, term("region", expr("security", "NotIn", "S1"), expr("security", "In", "S2"))),
        weighted(2, term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist"))),
    ]
)
HARD_AFFINITY = affinity(
    required=[
        term("region", expr("security", "In", "S1", "value2")),
        term("region", expr("security", "Exists"), expr("wrongkey", "DoesNotExist")),
    ]
)
AWAY_FROM_S1_IN_AZ = affinity(anti_preferred=[weighted(5, term("az", expr("security", "In", "S1")))])
AWAY_FROM_S2_IN_AZ = affinity(anti_preferred=[weighted(5, term("az", expr("security", "In", "S2")))])
STAY_WITH_S1_IN_REGION_AWAY_FROM_S2_IN_AZ = affinity(
    preferred=[weighted(8, term("region", expr("security", "In", "S1")))],
    anti_preferred=[weighted(5, term("az", expr("security", "In", "S2")))],
)
TEAM1 = {"matchExpressions": [expr("team", "In", "team1")]}
AFFINITY_NAMESPACE_SELECTOR = affinity(
    preferred=[
        weighted(
            5,
            term(
                "region",
                expr("security", "In", "S1"),
                namespaces=["subteam2.team2"],
                namespace_selector=TEAM1,
            ),
        )
    ]
)
ANTI_AFFINITY_NAMESPACE_SELECTOR = affinity(
    anti_preferred=[
        weighted(
            5,
            term(
                "region",
                expr("security", "In", "S1"),
                namespaces=["subteam2.team2"],
                namespace_selector=TEAM1,
            ),
        )
    ]
)
WEB = {"app": "web"}

SCORE_CASES = [
    pytest.param(
        pod(labels=S1),
        [],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        SKIP,
        id="all nodes score the same when nobody has affinity",
    ),
    pytest.param(
        pod(labels=S1, affinity=STAY_WITH_S1_IN_REGION),
        [pod("a", S1, on="node1"), pod("b", S2, on="node2"), pod("c", S1, on="node3")],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [100, 0, 0],
        id="affinity prefers the node whose region holds a matching pod",
    ),
    pytest.param(
        pod(affinity=STAY_WITH_S1_IN_REGION),
        [pod("a", S1, on="node1")],
        [node("node1", **CHINA), node("node2", **CHINA_AZ1), node("node3", **INDIA)],
        [100, 100, 0],
        id="nodes sharing the topology value of a matching pod score the same",
    ),
    pytest.param(
        pod(labels=S1, affinity=STAY_WITH_S2_IN_REGION),
        [pod(f"p{i}", S2, on=f"node{n}") for i, n in enumerate((1, 1, 2, 3, 4, 5))],
        [
            node("node1", **CHINA),
            node("node2", **INDIA),
            node("node3", **CHINA),
            node("node4", **CHINA),
            node("node5", **INDIA),
        ],
        [100, 0, 100, 100, 0],
        id="the region with more matching pods scores higher",
    ),
    pytest.param(
        pod(labels=S1, affinity=AFFINITY3),
        [pod("a", S1, on="node1"), pod("b", S2, on="node2"), pod("c", S1, on="node3")],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [20, 100, 0],
        id="preferred terms with different operators and weights add up",
    ),
    pytest.param(
        pod(labels=S2),
        [
            pod("a", S1, on="node1", affinity=STAY_WITH_S1_IN_REGION),
            pod("b", S2, on="node2", affinity=STAY_WITH_S2_IN_REGION),
        ],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [0, 100, 0],
        id="existing pods' preferred affinity for the incoming pod counts (symmetry)",
    ),
    pytest.param(
        pod(labels=S1, namespace="subteam1.team1"),
        [
            pod("a", S1, on="node1", affinity=AFFINITY_NAMESPACE_SELECTOR),
            pod("b", S2, on="node2", affinity=STAY_WITH_S2_IN_REGION),
        ],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [100, 0, 0],
        id="existing pod's preferred affinity with a namespaceSelector matches the incoming pod's namespace",
    ),
    pytest.param(
        pod(labels=S1, namespace="subteam1.team1"),
        [
            pod("a", S1, on="node1", affinity=ANTI_AFFINITY_NAMESPACE_SELECTOR),
            pod("b", S2, on="node2", affinity=STAY_WITH_S2_IN_REGION),
        ],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [0, 100, 100],
        id="existing pod's preferred anti-affinity with a namespaceSelector repels the incoming pod",
    ),
    pytest.param(
        pod(labels=S1),
        [pod("a", S1, on="node1", affinity=HARD_AFFINITY), pod("b", S2, on="node2", affinity=HARD_AFFINITY)],
        [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
        [100, 100, 0],
        id="existing pods' required affinity counts with hardPodAffinityWeight",
    ),
    pytest.param(
        pod(labels=S1, affinity=AWAY_FROM_S1_IN_AZ),
        [pod("a", S1, on="node1"), pod("b", S2, on="node2")],
        [node("node1", **AZ1), node("node2", **CHINA)],
        [0, 100],
        id="anti-affinity prefers the node without a matching pod in its az",
    ),
    pytest.param(
        pod(labels=S1, affinity=AWAY_FROM_S1_IN_AZ),
        [pod("a", S1, on="node1"), pod("b", S1, on="node1"), pod("c", S2, on="node2")],
        [node("node1", **AZ1), node("node2", **INDIA)],
        [0, 100],
        id="the node with more matching pods scores lower under anti-affinity",
    ),
    pytest.param(
        pod(labels=S2),
        [
            pod("a", S1, on="node1", affinity=AWAY_FROM_S2_IN_AZ),
            pod("b", S2, on="node2", affinity=AWAY_FROM_S1_IN_AZ),
        ],
        [node("node1", **AZ1), node("node2", **AZ2)],
        [0, 100],
        id="existing pods' preferred anti-affinity repels the incoming pod (symmetry)",
    ),
    pytest.param(
        pod(labels=S1, affinity=STAY_WITH_S1_IN_REGION_AWAY_FROM_S2_IN_AZ),
        [pod(f"p{i}", S1, on=f"node{n}") for i, n in enumerate((1, 1, 2, 3, 3, 4, 5))],
        [
            node("node1", **CHINA_AZ1),
            node("node2", **INDIA),
            node("node3", **CHINA),
            node("node4", **CHINA),
            node("node5", **INDIA),
        ],
        [100, 0, 100, 100, 0],
        id="affinity within the region and anti-affinity within the az combine",
    ),
    pytest.param(
        pod(labels=S1, affinity=STAY_WITH_S1_IN_REGION_AWAY_FROM_S2_IN_AZ),
        [
            pod("a", S1, on="node1"),
            pod("b", S2, on="node2"),
            pod("c", {}, on="node3", affinity=STAY_WITH_S1_IN_REGION_AWAY_FROM_S2_IN_AZ),
            pod("d", {}, on="node4", affinity=AWAY_FROM_S1_IN_AZ),
        ],
        [node("node1", **CHINA), node("node2", **AZ1), node("node3", **INDIA), node("node4", **AZ2)],
        [100, 0, 100, 0],
        id="affinity, anti-affinity and both symmetries together",
    ),
    pytest.param(
        pod(labels=S1),
        [
            pod("a", S1, on="node1"),
            pod("b", {}, on="node2", affinity=STAY_WITH_S1_IN_REGION_AWAY_FROM_S2_IN_AZ),
        ],
        [node("node1", **CHINA), node("node2", **CHINA)],
        [0, 0],
        id="nodes of one topology domain score the same when only some hold pods with affinity",
    ),
    pytest.param(
        pod(
            labels=WEB,
            affinity=affinity(
                anti_preferred=[weighted(100, term("kubernetes.io/hostname", expr("app", "In", "web")))]
            ),
        ),
        [pod("a", WEB, on="node1")],
        [
            node("node1", **{"kubernetes.io/hostname": "node1"}),
            node("node2", **{"kubernetes.io/hostname": "node2"}),
        ],
        [0, 100],
        id="preferred anti-affinity of weight 100 on hostname prefers the node without a web pod",
    ),
]


@pytest.mark.parametrize(("incoming", "existing", "nodes", "want"), SCORE_CASES)
def test_score(incoming: Obj, existing: list[Obj], nodes: list[Obj], want: list[int] | Status) -> None:
    assert scores(incoming, cluster(nodes, existing, NAMESPACES)) == want


HARD_SYMMETRY = (
    pod(labels=S1, namespace="default"),
    [pod("a", S1, on="node1", affinity=HARD_AFFINITY), pod("b", S2, on="node2", affinity=HARD_AFFINITY)],
    [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
)
IGNORED_PREFERENCES = (
    pod(labels=S2),
    [
        pod("a", S1, on="node1", affinity=STAY_WITH_S1_IN_REGION),
        pod("b", S2, on="node2", affinity=STAY_WITH_S2_IN_REGION),
    ],
    [node("node1", **CHINA), node("node2", **INDIA), node("node3", **AZ1)],
)


@pytest.mark.parametrize(
    ("case", "args", "want"),
    [
        pytest.param(
            HARD_SYMMETRY,
            {"hardPodAffinityWeight": 1},
            [100, 100, 0],
            id="hard pod affinity weight 1 scores the symmetric node",
        ),
        pytest.param(
            HARD_SYMMETRY,
            {"hardPodAffinityWeight": 0},
            SKIP,
            id="hard pod affinity weight 0 ignores existing required terms",
        ),
        pytest.param(
            IGNORED_PREFERENCES,
            {"ignorePreferredTermsOfExistingPods": True},
            SKIP,
            id="existing pods' preferences are ignored when asked and the pod has none",
        ),
        pytest.param(
            IGNORED_PREFERENCES,
            {"ignorePreferredTermsOfExistingPods": False},
            [0, 100, 0],
            id="existing pods' preferences count by default",
        ),
        pytest.param(
            (pod(labels=S1, affinity=STAY_WITH_S1_IN_REGION), IGNORED_PREFERENCES[1], IGNORED_PREFERENCES[2]),
            {"ignorePreferredTermsOfExistingPods": True},
            [100, 0, 0],
            id="a pod with preferences of its own is scored even when existing preferences are ignored",
        ),
    ],
)
def test_score_args(
    case: tuple[Obj, list[Obj], list[Obj]], args: dict[str, Any], want: list[int] | Status
) -> None:
    incoming, existing, nodes = case
    assert scores(incoming, cluster(nodes, existing), args) == want


def test_pre_score_skips_without_nodes() -> None:
    snapshot = cluster([node("node1", **CHINA)], [pod("a", S1, on="node1")])
    pl = plugin(snapshot)
    assert pl.pre_score(CycleState(), PodInfo(pod(affinity=STAY_WITH_S1_IN_REGION)), []) == SKIP


# --- args and events --------------------------------------------------------------------------------


def test_args_default_to_upstream_values() -> None:
    pl = plugin(cluster([]))
    assert (pl.hard_pod_affinity_weight, pl.ignore_preferred_terms_of_existing_pods) == (1, False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            {"hardPodAffinityWeight": 101},
            "hardPodAffinityWeight: Invalid value: 101: not in valid range [0-100]",
            id="weight above 100 is refused",
        ),
        pytest.param(
            {"hardPodAffinityWeight": -1},
            "hardPodAffinityWeight: Invalid value: -1: not in valid range [0-100]",
            id="negative weight is refused",
        ),
        pytest.param(
            {"hardPodAffinityWeight": "5"}, "must be an integer", id="weight that is not a number is refused"
        ),
        pytest.param(
            {"ignorePreferredTermsOfExistingPods": "yes"},
            "must be a boolean",
            id="ignore flag that is not a boolean is refused",
        ),
        pytest.param(
            {"hardPodAffinityWeigth": 1},
            "unknown field(s) ['hardPodAffinityWeigth']",
            id="misspelt field is refused",
        ),
    ],
)
def test_invalid_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="InterPodAffinity args") as raised:
        plugin(cluster([]), args)
    assert message in str(raised.value)


def test_events_are_pod_and_node_changes_that_can_help() -> None:
    events = plugin(cluster([])).events_to_register()
    assert ClusterEvent("Pod", ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE) in events
    node_event = next(e for e in events if e.resource == "Node")
    assert node_event.matches(ClusterEvent("Node", ActionType.ADD))
    assert node_event.matches(ClusterEvent("Node", ActionType.UPDATE_NODE_LABEL))
    assert not node_event.matches(ClusterEvent("Node", ActionType.DELETE))


# --- counts remembered across cycles ------------------------------------------------------------------


def test_a_pod_placed_between_cycles_counts_in_the_next_cycle() -> None:
    snapshot = cluster([node("machine1", zone="z1"), node("machine2", zone="z2")])
    pl = plugin(snapshot)
    incoming = pod(labels={"foo": "x"}, affinity=affinity(anti_required=[term("zone", IN_FOO)]))
    preferring = pod(
        labels={"foo": "x"}, affinity=affinity(anti_preferred=[weighted(5, term("zone", IN_FOO))])
    )

    def run() -> tuple[list[Status], list[int] | Status]:
        state, info = CycleState(), PodInfo(incoming)
        assert pl.pre_filter(state, info, snapshot.node_infos)[1] == SUCCESS
        filtered = [pl.filter(state, info, n) for n in snapshot.node_infos]
        state, info = CycleState(), PodInfo(preferring)
        status = pl.pre_score(state, info, snapshot.node_infos)
        if not status.is_success():
            return filtered, status
        out = [NodeScore(n.name, pl.score(state, info, n)[0]) for n in snapshot.node_infos]
        pl.normalize_score(state, info, out)
        return filtered, [entry.score for entry in out]

    assert run() == ([SUCCESS, SUCCESS], SKIP)
    snapshot.node_infos[1].add_pod(PodInfo(pod("n", FOO, on="machine2")))
    assert run() == ([SUCCESS, ANTI_AFFINITY_MISMATCH], [100, 0])
    snapshot.node_infos[1].remove_pod(snapshot.node_infos[1].pods[0].pod)
    assert run() == ([SUCCESS, SUCCESS], SKIP)
