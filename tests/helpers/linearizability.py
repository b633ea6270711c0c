"""A small Wing-Gong linearizability checker (Porcupine-style memoised search) for histories of
single-key registers: `put(v)` and `get() -> v`. Keys are independent, so each is checked alone.

An operation whose outcome the client never learned (a timeout, a dropped connection) may have
taken effect at any point after its call, or never: it gets an infinite return time and may be
left out of the linearization.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    call: float
    ret: float  # math.inf: outcome unknown
    kind: str  # "put" or "get"
    value: str | None  # put: the value written; get: the value read (None: no key)

    @property
    def unknown(self) -> bool:
        return math.isinf(self.ret)


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
            if op.kind == "put":
                after: str | None = op.value
            elif op.value == state:
                after = state
            else:
                continue
            node = (done | (1 << i), after)
            if node not in seen:
                seen.add(node)
                stack.append(node)
    return False
