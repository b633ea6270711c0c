"""client-go's flowcontrol.Backoff as the kubelet uses it: per key, a delay that starts at `initial`,
doubles on every `next` up to `maximum`, and is forgotten once nothing happened for 2 x maximum.

Crash-looping containers (10 s doubling to 5 min) and image pulls use one each. Times are given by the
caller (seconds), so the decisions built on it are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, initial: float, maximum: float, clock: Callable[[], float]) -> None:
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    def _expired(self, entry: _Entry, event_time: float) -> bool:
        return self.maximum > 0 and event_time - entry.last_update > 2 * self.maximum

    def next(self, key: str, event_time: float) -> None:
        """An attempt happened at `event_time` (e.g. the container finished then): grow the delay."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            self._entries[key] = _Entry(self.initial, event_time)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.last_update = event_time

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether it is still too early to retry after an attempt at `event_time`."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, event_time):
            return False
        return self.clock() - event_time < entry.delay

    def in_backoff_since_update(self, key: str) -> bool:
        """Whether it is too early to retry after the last recorded attempt (image pulls)."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, self.clock()):
            return False
        return self.clock() - entry.last_update < entry.delay

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def remaining(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        return max(0.0, event_time + entry.delay - self.clock()) if entry else 0.0

    def reset(self, key: str) -> None:
        self._entries.pop(key, None)

    def gc(self) -> None:
        now = self.clock()
        for key in [
            key for key, entry in self._entries.items() if now - entry.last_update > 2 * self.maximum
        ]:
            del self._entries[key]
