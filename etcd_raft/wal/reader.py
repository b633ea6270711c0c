"""Replays segments into the log's state (metadata, last hard state, entries, snapshot markers),
and the read-only helpers built on it: exists() and valid_snapshot_entries().

The rules are etcd's ReadAll: entries at or below the start snapshot are skipped; an entry whose
index is at or below the last one read replaces it and drops everything after it (a new leader
truncated this member's uncommitted tail, and the WAL only ever appends); the last hard state
wins; every segment repeats the same metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from etcd_raft.raft.types import EMPTY_HARD_STATE, Entry, HardState
from etcd_raft.wal.decoder import decode_segment
from etcd_raft.wal.errors import (
    MetadataConflictError,
    SnapshotMismatchError,
    WalCorruptError,
    WalNotFoundError,
)
from etcd_raft.wal.records import RecordType, WalSnapshot, decode_entry, decode_snapshot, decode_state
from etcd_raft.wal.segments import check_sequence, list_segments

_ENTRY = int(RecordType.ENTRY)
_STATE = int(RecordType.STATE)
_SNAPSHOT = int(RecordType.SNAPSHOT)
_METADATA = int(RecordType.METADATA)


@dataclass(slots=True)
class Replay:
    start: WalSnapshot
    metadata: bytes | None = None
    state: HardState = EMPTY_HARD_STATE
    entries: list[Entry] = field(default_factory=list)
    last_index: int = 0  # the last entry index written (etcd's enti), from any record read
    start_found: bool = False  # the marker for `start` was read
    snapshots: list[WalSnapshot] = field(default_factory=list)  # every marker read, in order
    crc: int = 0  # the chain value after the last good record
    end: int = 0  # offset in the last segment just past the last good record
    torn_at: int | None = None  # offset of a torn record at the end of the last segment
    keep_entries: bool = True


def replay(paths: list[Path], start: WalSnapshot, *, entries: bool = True) -> Replay:
    """Read `paths` (consecutive segments, the last one being the log's tail) from `start`.

    With `entries=False` entry records are checked but not kept (listing snapshot markers).

    Raises WalCorruptError (not its torn-tail subclass: a torn tail is reported in `torn_at`),
    MetadataConflictError and SnapshotMismatchError.
    """
    out = Replay(start=start, keep_entries=entries)
    crc: int | None = None
    for position, path in enumerate(paths):
        buf = path.read_bytes()
        decoded = decode_segment(buf, path, crc, is_last=position == len(paths) - 1)
        view = memoryview(buf)
        for record_type, begin, end, offset in decoded.frames:
            try:
                _apply(out, record_type, view[begin:end])
            except (ValueError, OverflowError) as err:
                raise WalCorruptError(
                    path, offset, f"malformed {RecordType(record_type).name} record: {err}"
                ) from err
            except _EntryGap as gap:
                raise WalCorruptError(path, offset, str(gap)) from None
        crc = decoded.crc
        out.end = decoded.end
        if decoded.torn:
            out.torn_at = decoded.end
    out.crc = 0 if crc is None else crc
    return out


class _EntryGap(Exception):
    pass


def _apply(out: Replay, record_type: int, payload: memoryview) -> None:
    if record_type == _ENTRY:
        entry = decode_entry(payload)
        first = out.start.index + 1
        if entry.index >= first and out.keep_entries:
            entries = out.entries
            position = entry.index - first
            if position < len(entries):
                del entries[position:]
            elif position > len(entries):
                raise _EntryGap(
                    f"entry {entry.index} follows entry {first + len(entries) - 1}: the log has a gap"
                )
            entries.append(entry)
        out.last_index = entry.index
    elif record_type == _STATE:
        out.state = decode_state(payload)
    elif record_type == _SNAPSHOT:
        marker = decode_snapshot(payload)
        out.snapshots.append(marker)
        if marker.index == out.start.index:
            if marker.term != out.start.term:
                raise SnapshotMismatchError(
                    f"WAL has snapshot {marker.index} at term {marker.term}, asked for term {out.start.term}"
                )
            out.start_found = True
    elif record_type == _METADATA:
        metadata = bytes(payload)
        if out.metadata is not None and metadata != out.metadata:
            raise MetadataConflictError("WAL segments carry different metadata")
        out.metadata = metadata


def exists(directory: Path | str) -> bool:
    """Whether `directory` holds WAL segments (etcd's wal.Exist)."""
    directory = Path(directory)
    return directory.is_dir() and bool(list_segments(directory))


def valid_snapshot_entries(directory: Path | str) -> list[WalSnapshot]:
    """The snapshot markers a restart can start from: those at or below the last commit index.

    Reads every segment without taking the lock, tolerating a torn tail (etcd's
    ValidSnapshotEntries). Feed the result to Snapshotter.load_newest_available().
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise WalNotFoundError(f"no WAL directory at {directory}")
    segments = list_segments(directory)
    if not segments:
        raise WalNotFoundError(f"no WAL segments in {directory}")
    check_sequence(directory, segments)
    result = replay([directory / name for _, _, name in segments], WalSnapshot(), entries=False)
    return [marker for marker in result.snapshots if marker.index <= result.state.commit]
