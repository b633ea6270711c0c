"""PrioritySort: the queue order of upstream's priority_sort_test.go."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from helpers.scheduling import make_pod

from scheduler.framework.types import PodInfo
from scheduler.plugins.priority_sort import PrioritySort, new


@dataclass
class Queued:
    pod_info: PodInfo
    timestamp: float


def queued(priority: int | None, timestamp: float) -> Queued:
    return Queued(PodInfo(make_pod("p", priority=priority)), timestamp)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        pytest.param(
            queued(3, 10.0), queued(1, 5.0), True, id="higher priority goes first even if it came later"
        ),
        pytest.param(queued(1, 5.0), queued(3, 10.0), False, id="lower priority goes after"),
        pytest.param(queued(2, 5.0), queued(2, 10.0), True, id="equal priority earlier arrival goes first"),
        pytest.param(queued(2, 10.0), queued(2, 5.0), False, id="equal priority later arrival goes after"),
        pytest.param(queued(2, 5.0), queued(2, 5.0), False, id="identical pods are not less than each other"),
        pytest.param(queued(None, 10.0), queued(-1, 5.0), True, id="a pod without priority counts as zero"),
    ],
)
def test_less(a: Queued, b: Queued, want: bool) -> None:
    assert PrioritySort().less(a, b) is want


def test_new_takes_no_args() -> None:
    assert isinstance(new({}, None), PrioritySort)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="takes no args"):
        new({"x": 1}, None)  # type: ignore[arg-type]
