"""Upstream's ControllerExpectations: how many creates and deletes a controller has asked for and
not yet seen come back through its informer. A ReplicaSet whose expectations are not met does not
act again (it would over-create, reading a cache that does not show its own creates yet); after
`ttl` seconds unmet expectations expire, in case a watch event was lost."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

EXPECTATIONS_TTL = 300.0


@dataclass
class _Expected:
    adds: int
    deletes: int
    set_at: float


class Expectations:
    def __init__(self, clock: Callable[[], float] = time.monotonic, ttl: float = EXPECTATIONS_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._by_key: dict[str, _Expected] = {}

    def expect(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        self._by_key[key] = _Expected(adds, deletes, self.clock())

    def creation_observed(self, key: str) -> None:
        self._lower(key, adds=1)

    def deletion_observed(self, key: str) -> None:
        self._lower(key, deletes=1)

    def lower(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        """A create or delete that failed will never be observed: stop waiting for it."""
        self._lower(key, adds, deletes)

    def satisfied(self, key: str) -> bool:
        expected = self._by_key.get(key)
        if expected is None:
            return True
        met = expected.adds <= 0 and expected.deletes <= 0
        return met or self.clock() - expected.set_at > self.ttl

    def delete(self, key: str) -> None:
        self._by_key.pop(key, None)

    def _lower(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        expected = self._by_key.get(key)
        if expected is not None:
            expected.adds -= adds
            expected.deletes -= deletes
