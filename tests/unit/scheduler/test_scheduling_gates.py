"""SchedulingGates: upstream's scheduling_gates_test.go cases."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_pod

from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.scheduling_gates import SchedulingGates, new


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        pytest.param({}, SUCCESS, id="pod without gates is enqueued"),
        pytest.param({"schedulingGates": []}, SUCCESS, id="pod with an empty gate list is enqueued"),
        pytest.param(
            {"schedulingGates": [{"name": "foo"}, {"name": "bar"}]},
            Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ("waiting for scheduling gates: [foo bar]",)),
            id="pod with gates waits and names them as Go prints a slice",
        ),
        pytest.param(
            {"schedulingGates": [{"name": "example.com/quota"}]},
            Status.unresolvable("waiting for scheduling gates: [example.com/quota]"),
            id="pod with one gate waits for it",
        ),
    ],
)
def test_pre_enqueue(spec: dict[str, Any], want: Status) -> None:
    assert SchedulingGates().pre_enqueue(PodInfo(make_pod("p", **spec))) == want


def test_removing_the_gates_requeues() -> None:
    event = ClusterEvent("Pod", ActionType.UPDATE_POD_SCHEDULING_GATES_ELIMINATED)
    registered = SchedulingGates().events_to_register()
    assert any(r.matches(event) for r in registered)
    assert not any(r.matches(ClusterEvent("Node", ActionType.ADD)) for r in registered)


def test_new_takes_no_args() -> None:
    assert isinstance(new({}, None), SchedulingGates)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no args"):
        new({"x": 1}, None)  # type: ignore[arg-type]
