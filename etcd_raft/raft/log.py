"""The Raft log as the core sees it: what storage holds, plus the unstable tail not yet persisted.

Like etcd-io/raft's raftLog and unstable: entries enter `Unstable` (appended by the leader or received
from it), leave it through a `Ready`, and come back from `Storage` once the caller persisted them and
called `advance()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from etcd_raft.raft.errors import CompactedError, UnavailableError
from etcd_raft.raft.storage import ENTRY_OVERHEAD, NO_LIMIT, Storage, limit_end
from etcd_raft.raft.types import Entry, Snapshot


class Unstable:
    """The entries (from `offset` on) and snapshot that are not yet persisted."""

    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset  # the index of entries[0]

    def first_index(self) -> int | None:
        return self.snapshot.metadata.index + 1 if self.snapshot is not None else None

    def last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        return self.snapshot.metadata.index if self.snapshot is not None else None

    def term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == index:
                return self.snapshot.metadata.term
            return None
        i = index - self.offset
        return self.entries[i].term if i < len(self.entries) else None

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to `index` (with `term`) were persisted; a mismatched term means they were
        replaced meanwhile and must stay unstable."""
        if index < self.offset or self.term(index) != term:
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.metadata.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: Sequence[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)  # the common case: a plain append
        elif after <= self.offset:
            # Replaces everything unstable (and, once persisted, the stored tail from `after` on).
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)


class RaftLog:
    """Storage plus the unstable tail, with the commit and apply cursors."""

    __slots__ = ("applied", "committed", "max_committed_size", "storage", "unstable")

    def __init__(self, storage: Storage, max_committed_size: int = NO_LIMIT) -> None:
        self.storage = storage
        first = storage.first_index()
        self.unstable = Unstable(storage.last_index() + 1)
        # Everything up to the last compaction was committed and applied (it is in the snapshot).
        self.committed = first - 1
        self.applied = first - 1
        self.max_committed_size = max_committed_size

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed}, applied={self.applied}, "
            f"unstable.offset={self.unstable.offset}, unstable={len(self.unstable.entries)})"
        )

    # -- indices and terms ----------------------------------------------------------------------------

    def first_index(self) -> int:
        i = self.unstable.first_index()
        return self.storage.first_index() if i is None else i

    def last_index(self) -> int:
        u = self.unstable
        if u.entries:
            return u.offset + len(u.entries) - 1
        if u.snapshot is not None:
            return u.snapshot.metadata.index
        return self.storage.last_index()

    def term(self, index: int) -> int:
        """The term at `index`, valid from the snapshot's index (first_index() - 1) to last_index()."""
        u = self.unstable
        if index >= u.offset:
            i = index - u.offset
            if i < len(u.entries):
                return u.entries[i].term
            raise UnavailableError(f"index {index} is after the last index {self.last_index()}")
        if u.snapshot is not None:
            if index == u.snapshot.metadata.index:
                return u.snapshot.metadata.term
            raise CompactedError(
                f"index {index} is before the pending snapshot at {u.snapshot.metadata.index}"
            )
        # Storage holds everything before the unstable offset; it raises CompactedError before its dummy.
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (CompactedError, UnavailableError):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (CompactedError, UnavailableError):
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Whether a candidate's log ending at (last_index, term) is at least as up to date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # -- appending ------------------------------------------------------------------------------------

    def maybe_append(self, index: int, log_term: int, committed: int, entries: Sequence[Entry]) -> int | None:
        """Append a leader's `entries` that follow (index, log_term) if our log has that entry; returns
        the last index of the new entries, or None when the leader must probe further back."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise AssertionError(
                    f"entry {conflict} conflicts with committed entry (commit {self.committed})"
                )
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return self.last_index()
        if entries[0].index - 1 < self.committed:
            raise AssertionError(f"append after {entries[0].index - 1} is before commit {self.committed}")
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first entry that is new or differs from ours, or 0 if we have them all."""
        last = self.last_index()
        for e in entries:
            if e.index > last or not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= `index` whose term is <= `term`: where the logs may agree, so the leader
        can skip a whole divergent term per probe instead of one entry."""
        if index > self.last_index():
            return index
        while index > 0:
            try:
                if self.term(index) <= term:
                    break
            except (CompactedError, UnavailableError):
                break
            index -= 1
        return index

    # -- reading --------------------------------------------------------------------------------------

    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def has_pending_snapshot(self) -> bool:
        return self.unstable.snapshot is not None

    def snapshot(self) -> Snapshot:
        return self.unstable.snapshot if self.unstable.snapshot is not None else self.storage.snapshot()

    def has_next_committed_entries(self) -> bool:
        return self.committed > self.applied and self.committed >= self.first_index()

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet applied (cut to `max_committed_size`)."""
        lo = max(self.applied + 1, self.first_index())
        if self.committed < lo:
            return []
        return self.slice(lo, self.committed + 1, self.max_committed_size)

    def entries(self, lo: int, max_size: int = NO_LIMIT) -> list[Entry]:
        """Entries from `lo` to the end, cut to `max_size`. Raises CompactedError if `lo` is gone."""
        if lo > self.last_index():
            return []
        return self.slice(lo, self.last_index() + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int = NO_LIMIT) -> list[Entry]:
        if lo < self.first_index():
            raise CompactedError(f"index {lo} is compacted (first index {self.first_index()})")
        if hi > self.last_index() + 1 or lo > hi:
            raise AssertionError(f"slice [{lo}, {hi}) out of bounds (last index {self.last_index()})")
        if lo == hi:
            return []
        offset = self.unstable.offset
        if lo < offset:
            stable_hi = min(hi, offset)
            stored = self.storage.entries(lo, stable_hi, max_size)
            if len(stored) < stable_hi - lo or hi <= offset:
                return stored  # cut by size, or nothing unstable was asked for
            if max_size < NO_LIMIT:
                used = sum(len(e.data) for e in stored) + ENTRY_OVERHEAD * len(stored)
                end = limit_end(self.unstable.entries, 0, hi - offset, max_size, used)
            else:
                end = hi - offset
            stored.extend(self.unstable.entries[:end])
            return stored
        u = self.unstable.entries
        return u[lo - offset : limit_end(u, lo - offset, hi - offset, max_size)]

    # -- cursors --------------------------------------------------------------------------------------

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise AssertionError(f"commit {index} is after the last index {self.last_index()}")
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to `index` if that entry is from `term`: a leader commits only entries of its own
        term by counting replicas (Raft paper §5.4.2); older ones commit with them."""
        if index > self.committed and self.term_or_zero(index) == term:
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if not index:
            return
        if index > self.committed or index < self.applied:
            raise AssertionError(f"applied {index} outside [{self.applied}, {self.committed}]")
        self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.metadata.index
        self.unstable.restore(snapshot)
