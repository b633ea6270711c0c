"""What the leader knows about each peer's log, and how fast it may send to it.

Like etcd-io/raft's tracker.Progress: a peer is probed (one MsgApp per heartbeat until its log matches
ours), then replicated to optimistically (many MsgApps in flight, bounded by `Inflights`), or sent a
snapshot when the entries it needs were compacted away.
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum
from typing import Final


class ProgressState(IntEnum):
    PROBE = 0  # we do not know where the peer's log matches ours: one probing MsgApp at a time
    REPLICATE = 1  # the logs match up to `match`: stream entries, up to the inflight window
    SNAPSHOT = 2  # a snapshot is on its way: send nothing else until it lands


# Enum attribute lookups are slow on CPython 3.11; the hot paths compare against these.
PROBE: Final = ProgressState.PROBE
REPLICATE: Final = ProgressState.REPLICATE
SNAPSHOT: Final = ProgressState.SNAPSHOT


class Inflights:
    """The last indices of MsgApps sent but not yet acknowledged (flow control in REPLICATE)."""

    __slots__ = ("_indices", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._indices: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._indices)

    def add(self, index: int) -> None:
        self._indices.append(index)

    def full(self) -> bool:
        return len(self._indices) >= self.size

    def free_le(self, index: int) -> None:
        """Acknowledge every message up to `index`."""
        q = self._indices
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        if self._indices:
            self._indices.popleft()

    def reset(self) -> None:
        self._indices.clear()


class Progress:
    """The leader's view of one peer. Invariant: match < next."""

    __slots__ = (
        "inflights",
        "is_learner",
        "match",
        "next",
        "pending_snapshot",
        "probe_sent",
        "recent_active",
        "state",
    )

    def __init__(
        self, next_index: int, max_inflight: int, *, is_learner: bool = False, recent_active: bool = False
    ) -> None:
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.pending_snapshot = 0  # the index of the snapshot in flight (SNAPSHOT)
        self.recent_active = recent_active  # heard from since the last check-quorum round
        self.probe_sent = False  # PROBE: a probe is outstanding, wait for an answer or a heartbeat
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.name} match={self.match} next={self.next} "
            f"inflight={len(self.inflights)} active={self.recent_active})"
        )

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        # After a snapshot the peer has at least the snapshot: probe right after it.
        if self.state == SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, index: int) -> bool:
        """The peer acknowledged entries up to `index`; False if that is old news."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def optimistic_update(self, last_sent: int) -> None:
        self.next = last_sent + 1

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The peer rejected a MsgApp whose previous index was `rejected`; move `next` back. False if
        the rejection is stale (answers a message sent before a newer probe)."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # probes go one at a time, so only an answer to the latest one counts
        self.next = max(min(rejected, match_hint + 1), 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """Whether the leader should hold back MsgApps to this peer."""
        if self.state == PROBE:
            return self.probe_sent
        if self.state == REPLICATE:
            return self.inflights.full()
        return True
