"""What the write-ahead log raises; each error says whether retrying helps.

WalError                  base class
├── WalNotFoundError      the directory does not exist or holds no segments; create it instead
├── WalExistsError        create() on a directory that already holds a WAL; open it instead
├── WalLockedError        another process (or another WAL object) holds the directory lock;
│                         retrying helps only once that owner exits
├── WalCorruptError       a record is damaged where it cannot be a torn write (mid-segment, an
│   │                     earlier segment, a broken CRC chain, a gap in the sequence); names the
│   │                     file and offset; retrying and repair() do not help: restore from a peer
│   └── WalTornTailError  the last segment ends in a partly written record (power loss mid-write);
│                         repair() truncates it, then open() succeeds
├── SnapshotNotFoundError the snapshot marker asked for is not in the WAL (or its segments were
│                         purged); open at an older snapshot or restore from a peer
├── SnapshotMismatchError the marker at that index has another term; the snapshot is not ours
├── MetadataConflictError segments disagree on the metadata written at create(); not repairable
├── WalStateError         a call out of order (save before read_all, use after close); a bug
└── WalFailedError        an earlier write or fsync failed, so what is on disk is unknown; this
                          WAL object is unusable: restart the process, which re-reads the log
"""

from __future__ import annotations

from pathlib import Path


class WalError(Exception):
    """Base class of the write-ahead log's errors."""


class WalNotFoundError(WalError):
    """No WAL at that path: the directory is missing or has no `.wal` segments."""


class WalExistsError(WalError):
    """create() found a WAL already there; open() it instead."""


class WalLockedError(WalError):
    """The WAL directory is locked by another writer."""


class WalCorruptError(WalError):
    """A damaged record that is not a torn tail; `path` and `offset` say where."""

    def __init__(self, path: Path | str, offset: int | None, reason: str) -> None:
        where = f"{path}" if offset is None else f"{path} at offset {offset}"
        super().__init__(f"{type(self).__name__}: {where}: {reason}")
        self.path = Path(path)
        self.offset = offset
        self.reason = reason


class WalTornTailError(WalCorruptError):
    """The last segment ends in a partly written record; `repair()` fixes it by truncating at `offset`."""


class SnapshotNotFoundError(WalError):
    """The snapshot marker open() was asked to start from is not in the WAL."""


class SnapshotMismatchError(WalError):
    """The WAL has a snapshot marker at that index but with a different term."""


class MetadataConflictError(WalError):
    """Two segments carry different metadata."""


class WalStateError(WalError):
    """A call made in the wrong state (a programming error)."""


class WalFailedError(WalError):
    """A previous write or fsync failed; the WAL object refuses further writes."""
