"""The `.snap` file format and the reference a Raft snapshot can carry to a `.snap.db` file.

A `.snap` file is

    header  magic b"KSNP", version u8 (1), 3 reserved bytes, crc u32, body length u64 (20 bytes)
    body    index u64, term u64, voter count u32, learner count u32,
            voters u64..., learners u64..., then the snapshot data (the rest of the body)

little-endian, with the crc (zlib crc32, as in the WAL) over the body. The length catches a
truncated file even where the crc would happen to match.

The data of a Raft snapshot of the MVCC store is big, so it does not have to live in the `.snap`:
the server writes the db copy as `<index>.snap.db` (Snapshotter.save_db_from / save_db_with) and
puts a DbSnapshotRef (index, size, crc of the db file; 28 bytes) in Snapshot.data instead.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from etcd_raft.raft.types import ConfState, Snapshot, SnapshotMetadata
from etcd_raft.snap.errors import SnapshotCorruptError

MAGIC: Final = b"KSNP"
VERSION: Final = 1
HEADER: Final = struct.Struct("<4sBxxxIQ")
META: Final = struct.Struct("<QQII")

DB_REF_MAGIC: Final = b"KSDB"
DB_REF: Final = struct.Struct("<4sQQI")


def encode_snapshot(snapshot: Snapshot) -> bytes:
    metadata = snapshot.metadata
    voters, learners = metadata.conf_state.voters, metadata.conf_state.learners
    body = b"".join(
        [
            META.pack(metadata.index, metadata.term, len(voters), len(learners)),
            struct.pack(f"<{len(voters)}Q", *voters),
            struct.pack(f"<{len(learners)}Q", *learners),
            snapshot.data,
        ]
    )
    return HEADER.pack(MAGIC, VERSION, zlib.crc32(body), len(body)) + body


def decode_snapshot(buf: bytes, path: Path) -> Snapshot:
    """Raises SnapshotCorruptError naming `path` when `buf` is not a whole, intact `.snap`."""
    if len(buf) < HEADER.size:
        raise SnapshotCorruptError(path, f"{len(buf)} bytes is shorter than the header")
    magic, version, crc, length = HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise SnapshotCorruptError(path, f"bad magic {magic!r}")
    if version != VERSION:
        raise SnapshotCorruptError(path, f"unknown format version {version}")
    body = memoryview(buf)[HEADER.size :]
    if len(body) != length:
        raise SnapshotCorruptError(path, f"body is {len(body)} bytes, header says {length}")
    if zlib.crc32(body) != crc:
        raise SnapshotCorruptError(path, "crc mismatch")
    if length < META.size:
        raise SnapshotCorruptError(path, "body shorter than the snapshot metadata")
    index, term, n_voters, n_learners = META.unpack_from(body)
    data_start = META.size + 8 * (n_voters + n_learners)
    if data_start > length:
        raise SnapshotCorruptError(path, "membership lists run past the body")
    voters = struct.unpack_from(f"<{n_voters}Q", body, META.size)
    learners = struct.unpack_from(f"<{n_learners}Q", body, META.size + 8 * n_voters)
    metadata = SnapshotMetadata(index, term, ConfState(tuple(voters), tuple(learners)))
    return Snapshot(metadata, bytes(body[data_start:]))


@dataclass(frozen=True, slots=True)
class DbSnapshotRef:
    """Where a snapshot's state lives: `<index>.snap.db` of `size` bytes with zlib crc32 `crc`."""

    index: int
    size: int
    crc: int

    def to_bytes(self) -> bytes:
        return DB_REF.pack(DB_REF_MAGIC, self.index, self.size, self.crc)

    @classmethod
    def from_bytes(cls, data: bytes) -> DbSnapshotRef | None:
        """The reference in a Snapshot's data, or None if the data is not one (inline state)."""
        if len(data) != DB_REF.size or not data.startswith(DB_REF_MAGIC):
            return None
        _, index, size, crc = DB_REF.unpack(data)
        return cls(index, size, crc)
