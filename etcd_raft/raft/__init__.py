"""etcd_raft.raft: the pure Raft consensus core (no I/O, clocks or threads), like etcd-io/raft."""

from etcd_raft.raft.confchange import decode_conf_change, encode_conf_change
from etcd_raft.raft.config import Config
from etcd_raft.raft.errors import (
    CompactedError,
    ConfigError,
    ProposalDroppedError,
    RaftError,
    SnapOutOfDateError,
    SnapshotTemporarilyUnavailable,
    UnavailableError,
)
from etcd_raft.raft.messages import NONE, Message, MessageType, ReadState, Role, SoftState
from etcd_raft.raft.progress import ProgressState
from etcd_raft.raft.rawnode import BasicStatus, Peer, ProgressStatus, RawNode, Ready, Status
from etcd_raft.raft.storage import NO_LIMIT, MemoryStorage, Storage
from etcd_raft.raft.types import (
    EMPTY_HARD_STATE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
    SnapshotMetadata,
)

__all__ = [
    "EMPTY_HARD_STATE",
    "NONE",
    "NO_LIMIT",
    "BasicStatus",
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "ConfigError",
    "Entry",
    "EntryType",
    "HardState",
    "MemoryStorage",
    "Message",
    "MessageType",
    "Peer",
    "ProgressState",
    "ProgressStatus",
    "ProposalDroppedError",
    "RaftError",
    "RawNode",
    "ReadState",
    "Ready",
    "Role",
    "SnapOutOfDateError",
    "Snapshot",
    "SnapshotMetadata",
    "SnapshotTemporarilyUnavailable",
    "SoftState",
    "Status",
    "Storage",
    "UnavailableError",
    "decode_conf_change",
    "encode_conf_change",
]
