"""What the snapshotter raises; each error says whether retrying helps.

SnapError                 base class
├── NoSnapshotError       no readable snapshot (matching the WAL's markers) in the directory:
│                         normal on a new member; otherwise replay the WAL from its start or
│                         get a snapshot from the leader; retrying does not help
├── SnapshotCorruptError  a `.snap` file fails its checks (the loaders rename it `.broken` and
│                         fall back to an older one, so callers see it only from read_snapshot)
└── NoDbSnapshotError     the `.snap.db` file for an index is missing: fetch it from the leader
"""

from __future__ import annotations

from pathlib import Path


class SnapError(Exception):
    """Base class of the snapshotter's errors."""


class NoSnapshotError(SnapError):
    """No usable snapshot file."""


class SnapshotCorruptError(SnapError):
    """A snapshot file is truncated, has a bad checksum or does not decode."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NoDbSnapshotError(SnapError):
    """No `.snap.db` file for the index asked for."""
