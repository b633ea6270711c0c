"""NodeName: upstream's node_name_test.go cases."""

from __future__ import annotations

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent, PreFilterPlugin
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.node_name import NodeName, new


def plugin() -> NodeName:
    return new({}, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("wanted", "node", "want"),
    [
        pytest.param(None, "foo", SUCCESS, id="pod without a node name fits any node"),
        pytest.param("foo", "foo", SUCCESS, id="pod naming the node fits it"),
        pytest.param(
            "bar",
            "foo",
            Status.unresolvable("node(s) didn't match the requested node name"),
            id="pod naming another node does not fit",
        ),
    ],
)
def test_filter(wanted: str | None, node: str, want: Status) -> None:
    pod = PodInfo(make_pod("p", node_name=wanted))
    status = plugin().filter(CycleState(), pod, node_info(make_node(node)))
    assert status == want
    assert status.is_success() or status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_has_no_pre_filter_as_in_v1_32() -> None:
    assert not isinstance(plugin(), PreFilterPlugin)


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(ClusterEvent("Node", ActionType.ADD), True, id="a new node requeues"),
        pytest.param(ClusterEvent("Pod", ActionType.DELETE), False, id="a deleted pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin().events_to_register()) is want


def test_args_are_refused() -> None:
    with pytest.raises(ValueError, match="takes no args"):
        new({"x": 1}, None)  # type: ignore[arg-type]
