"""TaintToleration: Filter and Score cases from upstream's taint_toleration_test.go, the toleration
rules (upstream's toleration_test.go) that preemption and NodeUnschedulable share, and the args."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.taint_toleration import (
    DO_NOT_SCHEDULE,
    TaintToleration,
    default_normalize_score,
    find_untolerated_taint,
    new,
    tolerates,
)


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


def toleration(key: str = "", value: str = "", effect: str = "", operator: str = "Equal") -> dict[str, str]:
    out = {"key": key, "operator": operator, "effect": effect}
    if value:
        out["value"] = value
    return out


def plugin() -> TaintToleration:
    return new({}, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tolerations", "taints", "want"),
    [
        pytest.param(
            [],
            [taint("dedicated", "user1")],
            Status.unresolvable("node(s) had untolerated taint {dedicated: user1}"),
            id="pod without tolerations does not fit a tainted node",
        ),
        pytest.param(
            [toleration("dedicated", "user1", "NoSchedule")],
            [taint("dedicated", "user1")],
            SUCCESS,
            id="pod tolerating the dedicated taint fits the dedicated node",
        ),
        pytest.param(
            [toleration("dedicated", "user2", "NoSchedule")],
            [taint("dedicated", "user1")],
            Status.unresolvable("node(s) had untolerated taint {dedicated: user1}"),
            id="pod tolerating another user's value does not fit",
        ),
        pytest.param(
            [toleration("foo", effect="NoSchedule", operator="Exists")],
            [taint("foo", "bar")],
            SUCCESS,
            id="toleration with operator Exists tolerates any value",
        ),
        pytest.param(
            [
                toleration("dedicated", "user2", "NoSchedule"),
                toleration("foo", effect="NoSchedule", operator="Exists"),
            ],
            [taint("dedicated", "user2"), taint("foo", "bar")],
            SUCCESS,
            id="pod with several tolerations fits a node whose taints are all tolerated",
        ),
        pytest.param(
            [toleration("foo", "bar", "PreferNoSchedule")],
            [taint("foo", "bar")],
            Status.unresolvable("node(s) had untolerated taint {foo: bar}"),
            id="toleration with another effect does not tolerate the taint",
        ),
        pytest.param(
            [toleration("foo", "bar")],
            [taint("foo", "bar")],
            SUCCESS,
            id="toleration with an empty effect tolerates every effect",
        ),
        pytest.param(
            [toleration("dedicated", "user2", "NoSchedule")],
            [taint("dedicated", "user1", "PreferNoSchedule")],
            SUCCESS,
            id="PreferNoSchedule taints never keep a pod out",
        ),
        pytest.param(
            [],
            [taint("dedicated", "user1", "PreferNoSchedule")],
            SUCCESS,
            id="pod without tolerations fits a PreferNoSchedule node",
        ),
        pytest.param(
            [],
            [taint("node.kubernetes.io/not-ready", effect="NoExecute")],
            Status.unresolvable("node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
            id="untolerated NoExecute taint keeps a pod out and prints an empty value",
        ),
        pytest.param(
            [toleration(operator="Exists")],
            [taint("a", "1"), taint("b", "2", "NoExecute")],
            SUCCESS,
            id="toleration with an empty key and Exists tolerates everything",
        ),
        pytest.param([], [], SUCCESS, id="pod fits an untainted node"),
    ],
)
def test_filter(tolerations: list[dict[str, str]], taints: list[dict[str, str]], want: Status) -> None:
    pod = PodInfo(make_pod("p", tolerations=tolerations))
    assert plugin().filter(CycleState(), pod, node_info(make_node("n", taints=taints))) == want


def test_filter_rejection_is_unresolvable() -> None:
    pod = PodInfo(make_pod("p"))
    status = plugin().filter(CycleState(), pod, node_info(make_node("n", taints=[taint("k", "v")])))
    assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def scores(tolerations: list[dict[str, str]], node_taints: list[list[dict[str, str]]]) -> list[int]:
    tt, state, pod = plugin(), CycleState(), PodInfo(make_pod("p", tolerations=tolerations))
    infos = [node_info(make_node(f"n{i}", taints=taints)) for i, taints in enumerate(node_taints)]
    assert tt.pre_score(state, pod, infos).is_success()
    result = []
    for info in infos:
        score, status = tt.score(state, pod, info)
        assert status.is_success()
        result.append(NodeScore(info.name, score))
    assert tt.normalize_score(state, pod, result).is_success()
    return [entry.score for entry in result]


@pytest.mark.parametrize(
    ("tolerations", "node_taints", "want"),
    [
        pytest.param(
            [toleration("foo", "bar", "PreferNoSchedule")],
            [[taint("foo", "bar", "PreferNoSchedule")], [taint("foo", "blah", "PreferNoSchedule")]],
            [100, 0],
            id="node whose taints are tolerated scores higher than a node with intolerable taints",
        ),
        pytest.param(
            [
                toleration("cpu-type", "arm64", "PreferNoSchedule"),
                toleration("disk-type", "ssd", "PreferNoSchedule"),
            ],
            [
                [],
                [taint("cpu-type", "arm64", "PreferNoSchedule")],
                [
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ],
            [100, 100, 100],
            id="nodes whose taints are all tolerated score the same however many they have",
        ),
        pytest.param(
            [toleration("foo", "bar", "PreferNoSchedule")],
            [
                [],
                [taint("cpu-type", "arm64", "PreferNoSchedule")],
                [
                    taint("cpu-type", "arm64", "PreferNoSchedule"),
                    taint("disk-type", "ssd", "PreferNoSchedule"),
                ],
            ],
            [100, 50, 0],
            id="the more intolerable taints a node has the lower it scores",
        ),
        pytest.param(
            [toleration("cpu-type", "arm64", "NoSchedule"), toleration("disk-type", "ssd")],
            [
                [],
                [taint("cpu-type", "arm64", "NoSchedule")],
                [taint("cpu-type", "arm64", "PreferNoSchedule")],
            ],
            [100, 100, 0],
            id="only PreferNoSchedule taints and tolerations count for the score",
        ),
        pytest.param(
            [],
            [[], [taint("cpu-type", "arm64", "PreferNoSchedule")]],
            [100, 0],
            id="pod without tolerations prefers the node without taints",
        ),
        pytest.param([], [[], []], [100, 100], id="no taints anywhere gives every node the top score"),
    ],
)
def test_score(
    tolerations: list[dict[str, str]], node_taints: list[list[dict[str, str]]], want: list[int]
) -> None:
    assert scores(tolerations, node_taints) == want


def test_score_without_pre_score_works_it_out_itself() -> None:
    pod = PodInfo(make_pod("p"))
    info = node_info(
        make_node("n", taints=[taint("a", effect="PreferNoSchedule"), taint("b", effect="PreferNoSchedule")])
    )
    assert plugin().score(CycleState(), pod, info) == (2, SUCCESS)


@pytest.mark.parametrize(
    ("tol", "tnt", "want"),
    [
        pytest.param(
            toleration("k", "v", "NoSchedule"),
            taint("k", "v"),
            True,
            id="equal key value and effect tolerate",
        ),
        pytest.param(
            toleration("k", "v"), taint("k", "v", "NoExecute"), True, id="empty effect matches every effect"
        ),
        pytest.param(
            toleration("k", "v", "NoExecute"), taint("k", "v"), False, id="another effect does not tolerate"
        ),
        pytest.param(toleration("k", "other"), taint("k", "v"), False, id="another value does not tolerate"),
        pytest.param({"key": "k", "value": "v"}, taint("k", "v"), True, id="a missing operator means Equal"),
        pytest.param(
            toleration("k", operator="Exists"), taint("k", "v"), True, id="Exists ignores the value"
        ),
        pytest.param(
            toleration(operator="Exists"),
            taint("any", "v"),
            True,
            id="empty key with Exists matches every key",
        ),
        pytest.param(
            toleration("other", operator="Exists"), taint("k", "v"), False, id="another key does not tolerate"
        ),
        pytest.param(
            toleration("k", "1", operator="Lt"),
            taint("k", "0"),
            False,
            id="unknown operators tolerate nothing",
        ),
        pytest.param(toleration("k"), taint("k"), True, id="empty values are equal"),
    ],
)
def test_tolerates(tol: dict[str, str], tnt: dict[str, str], want: bool) -> None:
    assert tolerates(tol, tnt) is want


def test_find_untolerated_taint_returns_the_first_untolerated_taint_with_the_wanted_effects() -> None:
    taints = [
        taint("soft", effect="PreferNoSchedule"),
        taint("ok", "1"),
        taint("bad", "2", "NoExecute"),
        taint("worse", "3"),
    ]
    tolerations = [toleration("ok", "1")]
    assert find_untolerated_taint(taints, tolerations, DO_NOT_SCHEDULE) == taint("bad", "2", "NoExecute")
    assert find_untolerated_taint(taints, tolerations) == taint("soft", effect="PreferNoSchedule")
    assert find_untolerated_taint(taints[:2], tolerations, DO_NOT_SCHEDULE) is None


@pytest.mark.parametrize(
    ("raw", "reverse", "want"),
    [
        pytest.param([0, 1, 2, 4], False, [0, 25, 50, 100], id="scores scale to the highest one"),
        pytest.param([0, 1, 2, 4], True, [100, 75, 50, 0], id="reversed scores favour the lowest"),
        pytest.param([0, 0], False, [0, 0], id="all zero scores stay zero"),
        pytest.param([0, 0], True, [100, 100], id="all zero scores reversed become the maximum"),
        pytest.param([3, 7], False, [42, 100], id="scaling rounds down"),
        pytest.param([], True, [], id="no scores is no work"),
    ],
)
def test_default_normalize_score(raw: list[int], reverse: bool, want: list[int]) -> None:
    entries = [NodeScore(f"n{i}", score) for i, score in enumerate(raw)]
    default_normalize_score(100, reverse, entries)
    assert [entry.score for entry in entries] == want


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT), True, id="a node taint change requeues"
        ),
        pytest.param(ClusterEvent("Node", ActionType.ADD), True, id="a new node requeues"),
        pytest.param(
            ClusterEvent("Pod", ActionType.UPDATE_POD_TOLERATIONS),
            True,
            id="a toleration added to the pod requeues",
        ),
        pytest.param(
            ClusterEvent("Node", ActionType.UPDATE_NODE_ALLOCATABLE), False, id="a resource change does not"
        ),
        pytest.param(ClusterEvent("Pod", ActionType.DELETE), False, id="a deleted pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin().events_to_register()) is want


@pytest.mark.parametrize(
    ("args", "ok"),
    [
        pytest.param({}, True, id="no args are the defaults"),
        pytest.param(
            {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "X"}, True, id="type meta is ignored"
        ),
        pytest.param({"foo": 1}, False, id="an unknown arg is refused"),
    ],
)
def test_args(args: dict[str, Any], ok: bool) -> None:
    if ok:
        assert isinstance(new(args, None), TaintToleration)  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError, match="takes no args"):
            new(args, None)  # type: ignore[arg-type]
