"""The log storage the core reads from: the `Storage` protocol and `MemoryStorage`.

The core only reads storage. The caller writes it: it persists what a `Ready` hands out (to its WAL)
and appends the same to the `MemoryStorage` the core reads, like etcd does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Final, Protocol

from etcd_raft.raft.errors import CompactedError, SnapOutOfDateError, UnavailableError
from etcd_raft.raft.types import EMPTY_HARD_STATE, ConfState, Entry, HardState, Snapshot, SnapshotMetadata

NO_LIMIT: Final = sys.maxsize
"""A size limit that never cuts."""

ENTRY_OVERHEAD: Final = 16
"""Bytes an entry costs beyond its data (term, index, type, framing), for size limits."""


def limit_end(entries: Sequence[Entry], start: int, end: int, max_size: int, used: int = 0) -> int:
    """The end of the longest run `entries[start:end]` whose size, added to `used`, stays within
    `max_size`. With nothing `used` yet the run holds at least one entry, so progress is always made.
    """
    if max_size >= NO_LIMIT or (used == 0 and end - start <= 1):
        return end
    size = used
    for i in range(start, end):
        size += len(entries[i].data) + ENTRY_OVERHEAD
        if size > max_size:
            return i if (i > start or used) else i + 1
    return end


def entries_size(entries: Sequence[Entry]) -> int:
    return sum(len(e.data) for e in entries) + ENTRY_OVERHEAD * len(entries)


class Storage(Protocol):
    """What the core needs from stable storage. Indices are Raft log indices (the first entry is 1).

    Errors: `CompactedError` for an index before `first_index()`, `UnavailableError` for one after
    `last_index()`, `SnapshotTemporarilyUnavailable` from `snapshot()` when none can be produced now.
    """

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The saved HardState and the membership as of the latest snapshot."""
        ...

    def entries(self, lo: int, hi: int, max_size: int = NO_LIMIT) -> list[Entry]:
        """Entries in [lo, hi), cut to `max_size` bytes but never empty when lo < hi; a new list the
        caller may keep and extend."""
        ...

    def term(self, index: int) -> int:
        """The term of the entry at `index`, which may be `first_index() - 1` (the snapshot's)."""
        ...

    def first_index(self) -> int:
        """The index of the first entry still available (the snapshot's index + 1)."""
        ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot."""
        ...


class MemoryStorage:
    """An in-memory `Storage`: a list of entries with an offset.

    `_entries[0]` is a dummy holding the snapshot's index and term, so `term(first_index() - 1)` and
    every lookup is `_entries[index - offset]`: O(1). Not thread-safe; the server uses it from one
    event loop.
    """

    __slots__ = ("_entries", "_hard_state", "_offset", "_snapshot")

    def __init__(self) -> None:
        self._hard_state = EMPTY_HARD_STATE
        self._snapshot = Snapshot()
        self._entries: list[Entry] = [Entry(term=0, index=0)]
        self._offset = 0  # == _entries[0].index

    # -- Storage --------------------------------------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_size: int = NO_LIMIT) -> list[Entry]:
        offset = self._offset
        if lo <= offset:
            raise CompactedError(f"index {lo} is compacted (first index {offset + 1})")
        if hi > offset + len(self._entries):
            raise UnavailableError(f"entries up to {hi - 1} requested, last index is {self.last_index()}")
        end = limit_end(self._entries, lo - offset, hi - offset, max_size)
        return self._entries[lo - offset : end]

    def term(self, index: int) -> int:
        i = index - self._offset
        if i < 0:
            raise CompactedError(f"index {index} is compacted (first index {self._offset + 1})")
        if i >= len(self._entries):
            raise UnavailableError(f"index {index} is after the last index {self.last_index()}")
        return self._entries[i].term

    def first_index(self) -> int:
        return self._offset + 1

    def last_index(self) -> int:
        return self._offset + len(self._entries) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes, by the caller ------------------------------------------------------------------------

    def hard_state(self) -> HardState:
        return self._hard_state

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def append(self, entries: Sequence[Entry]) -> None:
        """Append `entries` (consecutive indices), replacing any stored entries from the first one's
        index on: a new leader may overwrite a follower's uncommitted tail."""
        if not entries:
            return
        first = self._offset + 1
        start = entries[0].index
        if start + len(entries) - 1 < first:
            return  # all already compacted
        if start < first:
            entries = entries[first - start :]
            start = first
        at = start - self._offset
        n = len(self._entries)
        if at < n:
            del self._entries[at:]
        elif at > n:
            raise UnavailableError(f"missing log entries: last index {self.last_index()}, appending {start}")
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace everything with `snapshot` (a follower catching up from the leader's snapshot)."""
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            raise SnapOutOfDateError(
                f"snapshot at {snapshot.metadata.index} is not after {self._snapshot.metadata.index}"
            )
        self._snapshot = snapshot
        self._entries = [Entry(term=snapshot.metadata.term, index=snapshot.metadata.index)]
        self._offset = snapshot.metadata.index

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine as of the applied `index` (does not compact)."""
        if index <= self._snapshot.metadata.index:
            raise SnapOutOfDateError(f"snapshot at {index} is not after {self._snapshot.metadata.index}")
        if index > self.last_index():
            raise UnavailableError(f"snapshot at {index} is after the last index {self.last_index()}")
        metadata = SnapshotMetadata(
            index=index,
            term=self._entries[index - self._offset].term,
            conf_state=self._snapshot.metadata.conf_state if conf_state is None else conf_state,
        )
        self._snapshot = Snapshot(metadata=metadata, data=data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop the entries before `index`; `index` becomes the dummy. The caller must have made a
        snapshot at or after `index` first, or lagging followers cannot be caught up."""
        if index <= self._offset:
            raise CompactedError(f"index {index} is already compacted (first index {self._offset + 1})")
        if index > self.last_index():
            raise UnavailableError(f"compact to {index} is after the last index {self.last_index()}")
        i = index - self._offset
        dummy = self._entries[i]
        del self._entries[:i]
        self._entries[0] = Entry(term=dummy.term, index=dummy.index)  # drop its data
        self._offset = index
