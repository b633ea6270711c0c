"""The values the Raft core exchanges with its caller: log entries, persistent state, snapshots.

Shared by the core (`etcd_raft.raft`), the write-ahead log (`etcd_raft.wal`) and the server, like
etcd-io/raft's raftpb. Plain frozen dataclasses: the core never does I/O, so nothing here is
serialized by the core itself; the WAL and the peer transport encode them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent."""

    term: int = 0
    vote: int = 0  # 0: voted for nobody in `term`
    commit: int = 0

    def is_empty(self) -> bool:
        return self == EMPTY_HARD_STATE


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class ConfState:
    """The cluster's membership at some log index."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    UPDATE_NODE = 2
    ADD_LEARNER_NODE = 3


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One membership change (one member at a time); `context` carries the member's URLs."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of `metadata.index`; `data` is opaque to the core."""

    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes = b""

    def is_empty(self) -> bool:
        return self.metadata.index == 0
