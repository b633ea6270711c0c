"""etcd_raft.wal: the write-ahead log of Raft entries and hard state, like etcd's server/storage/wal.

    from etcd_raft.wal import WAL, WalConfig, WalSnapshot

    wal = WAL.open(wal_dir, WalSnapshot(snap.metadata.index, snap.metadata.term))
    metadata, hard_state, entries = wal.read_all()
    wal.save(ready.hard_state, ready.entries)   # one fsync per call: persist before send

Modules: records.py (the on-disk format), encoder.py / decoder.py (pure framing and torn-tail
detection), segments.py (names, directory lock, fsync and preallocation), pipeline.py (the next
segment prepared in the background), reader.py (replay rules), wal.py (the WAL), repair.py.
The errors, and whether retrying helps, are listed in errors.py.
"""

from etcd_raft.wal.errors import (
    MetadataConflictError,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalCorruptError,
    WalError,
    WalExistsError,
    WalFailedError,
    WalLockedError,
    WalNotFoundError,
    WalStateError,
    WalTornTailError,
)
from etcd_raft.wal.reader import exists, valid_snapshot_entries
from etcd_raft.wal.records import CRC_ALGORITHM, WalSnapshot
from etcd_raft.wal.repair import repair
from etcd_raft.wal.segments import FsyncHook, parse_segment_name, segment_name
from etcd_raft.wal.wal import DEFAULT_SEGMENT_SIZE, WAL, WalConfig, WalContents

__all__ = [
    "CRC_ALGORITHM",
    "DEFAULT_SEGMENT_SIZE",
    "WAL",
    "FsyncHook",
    "MetadataConflictError",
    "SnapshotMismatchError",
    "SnapshotNotFoundError",
    "WalConfig",
    "WalContents",
    "WalCorruptError",
    "WalError",
    "WalExistsError",
    "WalFailedError",
    "WalLockedError",
    "WalNotFoundError",
    "WalSnapshot",
    "WalStateError",
    "WalTornTailError",
    "exists",
    "parse_segment_name",
    "repair",
    "segment_name",
    "valid_snapshot_entries",
]
