"""Data one scheduling cycle shares between extension points (upstream framework.CycleState): a
plugin computes its pod-wide facts once in PreFilter or PreScore and reads them back per node."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scheduler.framework.status import Status


class CycleState:
    __slots__ = ("_data", "active_filters", "skip_filter_plugins", "skip_score_plugins")

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()
        self.active_filters: list[tuple[str, Callable[[CycleState, Any, Any], Status]]] | None = None
        """The Filter calls left after PreFilter's skips (the framework fills it once per cycle)."""

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value written under `key`; KeyError when PreFilter/PreScore did not write it."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def clone(self) -> CycleState:
        """A copy whose values can be changed without touching this one (preemption's what-ifs):
        values that have a `clone()` method are cloned, others deep-copied."""
        other = CycleState()
        for key, value in self._data.items():
            other._data[key] = value.clone() if hasattr(value, "clone") else copy.deepcopy(value)
        other.skip_filter_plugins = set(self.skip_filter_plugins)
        other.skip_score_plugins = set(self.skip_score_plugins)
        other.active_filters = self.active_filters
        return other
