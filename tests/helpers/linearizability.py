"""A small Wing-Gong linearizability checker (Porcupine-style memoised search) for histories of
single-key registers: `put(v)`, `get() -> v` and `cas(expected, new)`, etcd's
`Txn(If(value(key) == expected), Then(Put(key, new)), Else(Get(key)))`. Keys are independent, so
each is checked alone.

An operation whose outcome the client never learned (a timeout, a dropped connection) may have
taken effect at any point after its call, or never: it gets an infinite return time and may be
left out of the linearization. A cas whose outcome is unknown swaps if the compare held at the
point where it is placed, like any other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class Unread(Enum):
    """A typed sentinel: the failed cas's else-branch did not return the current value."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


@dataclass(frozen=True)
class Op:
    call: float
    ret: float  # math.inf: outcome unknown
    kind: str  # "put", "get" or "cas"
    value: str | None  # put: the value written; get: the value read (None: no key); cas: the new value
    expected: str | None = None  # cas: the value compared with (None: the key must be absent)
    succeeded: bool | None = None  # cas: whether the compare held (None: outcome unknown)
    observed: str | Unread | None = UNREAD  # cas that failed: the value its else-branch read

    def __post_init__(self) -> None:
        if self.kind not in ("put", "get", "cas"):
            raise ValueError(f"unknown operation kind {self.kind!r}")
        if self.kind == "cas" and (self.succeeded is None) != self.unknown:
            raise ValueError("a cas has an outcome exactly when it returned")
        if self.succeeded and self.observed is not UNREAD:
            raise ValueError("only a failed cas observes the current value")

    @property
    def unknown(self) -> bool:
        return math.isinf(self.ret)

    def apply(self, state: str | None) -> tuple[bool, str | None]:
        """Whether the op may take effect when the register holds `state`, and the state after it."""
        if self.kind == "put":
            return True, self.value
        if self.kind == "get":
            return self.value == state, state
        holds = state == self.expected
        if self.succeeded is None:
            return True, self.value if holds else state
        if self.succeeded:
            return holds, self.value
        return not holds and self.observed in (UNREAD, state), state


def linearizable(history: Sequence[Op], initial: str | None = None) -> bool:
    """Whether some total order of `history` respects real time and register semantics."""
    ops = sorted(history, key=lambda op: op.call)
    everything = (1 << len(ops)) - 1
    unknown = sum(1 << i for i, op in enumerate(ops) if op.unknown)
    seen: set[tuple[int, str | None]] = set()
    stack: list[tuple[int, str | None]] = [(0, initial)]
    while stack:
        done, state = stack.pop()
        if done | unknown == everything:
            return True  # every completed op is placed; unknown ones may never have happened
        pending = [i for i in range(len(ops)) if not done & (1 << i)]
        deadline = min(ops[i].ret for i in pending)
        for i in pending:
            op = ops[i]
            if op.call > deadline:
                break  # it started after some pending op finished: that op must come first
            possible, after = op.apply(state)
            if not possible:
                continue
            node = (done | (1 << i), after)
            if node not in seen:
                seen.add(node)
                stack.append(node)
    return False
