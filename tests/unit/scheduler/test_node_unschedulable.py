"""NodeUnschedulable: upstream's node_unschedulable_test.go cases."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import SUCCESS, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.node_unschedulable import NodeUnschedulable, new

UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
REJECTED = Status.unresolvable("node(s) were unschedulable")


def plugin() -> NodeUnschedulable:
    return new({}, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "want"),
    [
        pytest.param(False, [], SUCCESS, id="pod fits a schedulable node"),
        pytest.param(True, [], REJECTED, id="pod without toleration does not fit a cordoned node"),
        pytest.param(
            True,
            [{"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}],
            SUCCESS,
            id="pod tolerating the unschedulable taint fits a cordoned node",
        ),
        pytest.param(
            True, [{"operator": "Exists"}], SUCCESS, id="pod tolerating every taint fits a cordoned node"
        ),
        pytest.param(
            True,
            [{"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoExecute"}],
            REJECTED,
            id="a NoExecute toleration does not tolerate the cordon",
        ),
        pytest.param(
            True,
            [{"key": "other", "operator": "Exists", "effect": "NoSchedule"}],
            REJECTED,
            id="a toleration for another key does not tolerate the cordon",
        ),
        pytest.param(
            False,
            [{"key": UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}],
            SUCCESS,
            id="tolerating pod fits a schedulable node too",
        ),
    ],
)
def test_filter(unschedulable: bool, tolerations: list[dict[str, str]], want: Status) -> None:
    pod = PodInfo(make_pod("p", tolerations=tolerations))
    info = node_info(make_node("n", unschedulable=unschedulable))
    assert plugin().filter(CycleState(), pod, info) == want


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT), True, id="uncordoning a node requeues"
        ),
        pytest.param(ClusterEvent("Node", ActionType.ADD), True, id="a new node requeues"),
        pytest.param(
            ClusterEvent("Pod", ActionType.UPDATE_POD_TOLERATIONS), True, id="a new toleration requeues"
        ),
        pytest.param(ClusterEvent("Pod", ActionType.DELETE), False, id="a deleted pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin().events_to_register()) is want


def test_args_are_refused() -> None:
    args: dict[str, Any] = {"unknown": True}
    with pytest.raises(ValueError, match="takes no args"):
        new(args, None)  # type: ignore[arg-type]
