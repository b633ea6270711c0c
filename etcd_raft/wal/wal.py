"""The write-ahead log: Raft's entries and hard state, durable before anything depends on them.

    wal = WAL.create(directory, metadata)                 # a new member
    wal = WAL.open(directory, WalSnapshot(index, term))   # a restart, from the newest snapshot
    metadata, hard_state, entries = wal.read_all()        # once, before the first save
    wal.save(ready.hard_state, ready.entries)             # once per Ready: one fsync per batch
    wal.save_snapshot(WalSnapshot(index, term))           # after the snapshot file is durable
    wal.release_lock_to(index); wal.purge()               # let old segments go
    wal.close()

The directory holds the segments (`%016x-%016x.wal`, see segments.py for naming and records.py
for the format) and at most two preallocated `N.tmp` files being prepared for the next cut. One
WAL object at a time may have a directory open: it holds an flock on the directory itself.

Thread safety: the methods take an internal lock, so the Raft loop may save() while another thread
purges; the Raft loop is still the only sensible writer.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from componentbase.klog import get_logger
from etcd_raft.raft.types import EMPTY_HARD_STATE, Entry, HardState
from etcd_raft.wal.encoder import Encoder
from etcd_raft.wal.errors import (
    SnapshotNotFoundError,
    WalCorruptError,
    WalExistsError,
    WalFailedError,
    WalNotFoundError,
    WalStateError,
    WalTornTailError,
)
from etcd_raft.wal.pipeline import FilePipeline
from etcd_raft.wal.reader import exists, replay
from etcd_raft.wal.records import WalSnapshot
from etcd_raft.wal.repair import repair as repair_wal
from etcd_raft.wal.segments import (
    TMP_SUFFIX,
    FsyncHook,
    check_sequence,
    list_segments,
    lock_directory,
    preallocate,
    search_index,
    segment_name,
    sync_directory,
    sync_directory_path,
    sync_file,
    write_all,
)

log = get_logger(__name__)

DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class WalConfig:
    segment_size: int = DEFAULT_SEGMENT_SIZE
    """Cut to a new segment once the current one reaches this many bytes (etcd's SegmentSizeBytes);
    segments are preallocated to this size."""

    max_segments: int = 5
    """purge() keeps at least this many segments (etcd's --max-wals); 0 keeps them all."""

    on_fsync: FsyncHook | None = None
    """Called with the duration in seconds of every fsync of a segment or the directory."""

    def __post_init__(self) -> None:
        if self.segment_size <= 0 or self.max_segments < 0:
            raise ValueError(f"invalid WalConfig: {self}")


class WalContents(NamedTuple):
    """What read_all() returns; unpacks as (metadata, hard_state, entries)."""

    metadata: bytes
    hard_state: HardState
    entries: list[Entry]


class WAL:
    """An open write-ahead log; build it with create() or open()."""

    def __init__(
        self,
        directory: Path,
        config: WalConfig,
        *,
        dir_fd: int,
        tail_fd: int,
        segments: list[tuple[int, int, str]],
        offset: int,
        encoder: Encoder,
        metadata: bytes,
        state: HardState,
        last_index: int,
        contents: WalContents,
        must_read: bool,
    ) -> None:
        self._dir = directory
        self._config = config
        self._dir_fd = dir_fd
        self._fd = tail_fd
        # Segments this WAL still needs (etcd's w.locks), oldest first; the last is the tail.
        self._segments = segments
        self._offset = offset  # where the next record goes in the tail
        self._encoder = encoder
        self._metadata = metadata
        self._state = state  # the last hard state written
        self._last_index = last_index  # the last entry index written (etcd's enti)
        self._contents: WalContents | None = contents  # held for read_all()
        self._must_read = must_read  # open() replays the log; the caller must take it before writing
        self._mu = threading.Lock()
        self._closed = False
        self._failed: BaseException | None = None
        self._pipeline = FilePipeline(directory, config.segment_size)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path | str, metadata: bytes, config: WalConfig | None = None) -> WAL:
        """Create a WAL holding just `metadata` and the empty snapshot marker, ready for save().

        The first segment is written in `<directory>.tmp` and the directory renamed into place, so
        a crash never leaves a half-created WAL behind (etcd does the same).
        """
        config = config or WalConfig()
        directory = Path(directory)
        if directory.exists():
            if exists(directory):
                raise WalExistsError(f"a WAL already exists in {directory}")
            if not directory.is_dir() or any(directory.iterdir()):
                raise WalExistsError(f"{directory} exists and is not an empty directory")
        tmp = directory.with_name(directory.name + TMP_SUFFIX)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(mode=0o700, parents=True)  # like etcd's PrivateDirMode: the log is the data
        # Locking the tmp directory locks the final one: the flock follows the inode across rename.
        dir_fd = lock_directory(tmp)
        fd = -1
        try:
            name = segment_name(0, 0)
            fd = os.open(tmp / name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            preallocate(fd, config.segment_size)
            encoder = Encoder(0)
            buf = bytearray()
            encoder.crc_record(buf, 0)
            encoder.metadata(buf, metadata)
            encoder.snapshot(buf, WalSnapshot())
            write_all(fd, buf, 0)
            sync_file(fd, config.on_fsync)
            if directory.exists():
                directory.rmdir()
            os.rename(tmp, directory)
            sync_directory_path(directory.parent, config.on_fsync)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            os.close(dir_fd)
            raise
        log.info("Created WAL", dir=str(directory), segment_size=config.segment_size)
        return cls(
            directory,
            config,
            dir_fd=dir_fd,
            tail_fd=fd,
            segments=[(0, 0, name)],
            offset=len(buf),
            encoder=encoder,
            metadata=metadata,
            state=EMPTY_HARD_STATE,
            last_index=0,
            contents=WalContents(metadata, EMPTY_HARD_STATE, []),
            must_read=False,
        )

    @classmethod
    def open(
        cls, directory: Path | str, snapshot: WalSnapshot | None = None, config: WalConfig | None = None
    ) -> WAL:
        """Open for appending, reading everything after `snapshot` (default: the start of the log).

        Raises WalNotFoundError, WalLockedError, WalTornTailError (run repair() then open again),
        WalCorruptError, SnapshotNotFoundError, SnapshotMismatchError or MetadataConflictError.
        """
        config = config or WalConfig()
        snapshot = snapshot or WalSnapshot()
        directory = Path(directory)
        if not directory.is_dir():
            raise WalNotFoundError(f"no WAL directory at {directory}")
        dir_fd = lock_directory(directory)
        try:
            return cls._open_locked(directory, dir_fd, snapshot, config)
        except BaseException:
            os.close(dir_fd)
            raise

    @classmethod
    def _open_locked(cls, directory: Path, dir_fd: int, snapshot: WalSnapshot, config: WalConfig) -> WAL:
        segments = list_segments(directory)
        if not segments:
            raise WalNotFoundError(f"no WAL segments in {directory}")
        check_sequence(directory, segments)
        for name in os.listdir(directory):
            if name.endswith(TMP_SUFFIX):  # a file the previous owner's pipeline was preparing
                (directory / name).unlink()
        first = search_index(segments, snapshot.index)
        if first is None:
            raise SnapshotNotFoundError(
                f"no segment in {directory} reaches back to snapshot index {snapshot.index}"
                f" (the oldest starts at {segments[0][1]})"
            )
        needed = segments[first:]
        paths = [directory / name for _, _, name in needed]
        result = replay(paths, snapshot)
        if result.torn_at is not None:
            raise WalTornTailError(paths[-1], result.torn_at, "the last record is partly written; run repair")
        if not result.start_found:
            raise SnapshotNotFoundError(
                f"snapshot {snapshot.index} (term {snapshot.term}) is not in {directory}"
            )
        if result.metadata is None:
            raise WalCorruptError(paths[0], None, "no metadata record")
        fd = os.open(paths[-1], os.O_RDWR)
        try:
            # The tail may have been truncated by repair() or a cut: restore the preallocation.
            preallocate(fd, config.segment_size)
        except BaseException:
            os.close(fd)
            raise
        log.info(
            "Opened WAL",
            dir=str(directory),
            snapshot_index=snapshot.index,
            segments=len(needed),
            entries=len(result.entries),
            last_index=result.last_index,
        )
        return cls(
            directory,
            config,
            dir_fd=dir_fd,
            tail_fd=fd,
            segments=needed,
            offset=result.end,
            encoder=Encoder(result.crc),
            metadata=result.metadata,
            state=result.state,
            last_index=result.last_index,
            contents=WalContents(result.metadata, result.state, result.entries),
            must_read=True,
        )

    @staticmethod
    def repair(directory: Path | str) -> Path | None:
        """Truncate a torn tail (see repair.py); returns the `.broken` backup or None."""
        return repair_wal(directory)

    # -- reading -------------------------------------------------------------------------------

    def read_all(self) -> WalContents:
        """The metadata, the last hard state and the entries after the snapshot opened at.

        Once only (like etcd's ReadAll in write mode): the WAL drops its reference afterwards.
        """
        with self._mu:
            if self._contents is None:
                raise WalStateError("read_all() was already called")
            contents, self._contents = self._contents, None
            self._must_read = False
            return contents

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def metadata(self) -> bytes:
        return self._metadata

    @property
    def last_index(self) -> int:
        """The index of the last entry (or snapshot marker, if later) written."""
        return self._last_index

    @property
    def hard_state(self) -> HardState:
        return self._state

    def segment_paths(self) -> list[Path]:
        """The segments this WAL still needs, oldest first (the last is being appended to)."""
        with self._mu:
            return [self._dir / name for _, _, name in self._segments]

    # -- writing -------------------------------------------------------------------------------

    def save(self, hard_state: HardState, entries: Sequence[Entry]) -> None:
        """Append `entries` and `hard_state` (skipped if empty or unchanged) with one fsync.

        Call once per Raft Ready, before sending its messages. The fsync is skipped when nothing
        needs durability: no entries and the same term and vote (etcd's MustSync; a commit index
        alone may be lost, the leader tells it again).
        """
        with self._mu:
            self._check_writable()
            if not entries and (hard_state.is_empty() or hard_state == self._state):
                return
            previous = self._state
            must_sync = bool(entries) or hard_state.term != previous.term or hard_state.vote != previous.vote
            buf = bytearray()
            encoder = self._encoder
            chain = encoder.crc
            try:
                for entry in entries:
                    encoder.entry(buf, entry)
                if not hard_state.is_empty() and hard_state != previous:
                    encoder.state(buf, hard_state)
            except ValueError:
                encoder.crc = chain  # nothing was written: the chain must not include this batch
                raise
            try:
                write_all(self._fd, buf, self._offset)
                self._offset += len(buf)
                if entries:
                    self._last_index = entries[-1].index
                if not hard_state.is_empty():
                    self._state = hard_state
                if self._offset >= self._config.segment_size:
                    self._cut()  # syncs the finished segment: no separate fsync needed
                elif must_sync:
                    sync_file(self._fd, self._config.on_fsync)
            except BaseException as err:
                self._fail(err)
                raise

    def save_snapshot(self, snapshot: WalSnapshot) -> None:
        """Record that a snapshot at (index, term) exists; open() can start from it. One fsync.

        Write the snapshot file first (Snapshotter.save), then this marker, as etcd does: a marker
        must never point at a snapshot that is not on disk.
        """
        with self._mu:
            self._check_writable()
            buf = bytearray()
            self._encoder.snapshot(buf, snapshot)
            try:
                write_all(self._fd, buf, self._offset)
                self._offset += len(buf)
                self._last_index = max(self._last_index, snapshot.index)
                sync_file(self._fd, self._config.on_fsync)
            except BaseException as err:
                self._fail(err)
                raise

    def sync(self) -> None:
        """fsync the tail, e.g. after saves whose commit-only hard state was not synced."""
        with self._mu:
            self._check_writable()
            try:
                sync_file(self._fd, self._config.on_fsync)
            except BaseException as err:
                self._fail(err)
                raise

    def _cut(self) -> None:
        """Finish the tail and continue in a fresh segment named (seq + 1, last index + 1)."""
        # Drop the unused preallocated space so only the tail segment ever ends in zeros.
        os.ftruncate(self._fd, self._offset)
        sync_file(self._fd, self._config.on_fsync)
        tmp = self._pipeline.take()
        fd = os.open(tmp, os.O_RDWR)
        try:
            buf = bytearray()
            self._encoder.crc_record(buf, self._encoder.crc)
            self._encoder.metadata(buf, self._metadata)
            if not self._state.is_empty():
                self._encoder.state(buf, self._state)
            write_all(fd, buf, 0)
            sync_file(fd, self._config.on_fsync)
            seq = self._segments[-1][0] + 1
            name = segment_name(seq, self._last_index + 1)
            # The header is durable before the name exists, so a segment is never torn at its start.
            os.rename(tmp, self._dir / name)
            sync_directory(self._dir_fd, self._config.on_fsync)
        except BaseException:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd
        self._offset = len(buf)
        self._segments.append((seq, self._last_index + 1, name))
        log.v(2).info("Cut WAL segment", dir=str(self._dir), segment=name)

    # -- retention -----------------------------------------------------------------------------

    def release_lock_to(self, index: int) -> None:
        """Let purge() remove segments wholly before the one holding `index` (etcd's ReleaseLockTo).

        Call it with the index of a snapshot that is durable (file and WAL marker). Like etcd it
        keeps the segment that starts below `index`, so the log stays readable from `index`.
        """
        with self._mu:
            segments = self._segments
            keep_from = len(segments) - 1
            for position, (_, first_index, _) in enumerate(segments):
                if first_index >= index:
                    keep_from = position - 1
                    break
            if keep_from > 0:
                self._segments = segments[keep_from:]

    def purge(self) -> list[Path]:
        """Delete the oldest released segments beyond `max_segments`; returns what was deleted."""
        with self._mu:
            self._check_open()
            keep = self._config.max_segments
            if keep <= 0:
                return []
            needed = {name for _, _, name in self._segments}
            present = list_segments(self._dir)
            removed: list[Path] = []
            # Oldest first and stop at the first needed one: the log must stay contiguous.
            while len(present) > keep and present[0][2] not in needed:
                path = self._dir / present.pop(0)[2]
                path.unlink()
                removed.append(path)
            if removed:
                log.info("Purged WAL segments", dir=str(self._dir), count=len(removed), kept=len(present))
            return removed

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Sync the tail, stop the file pipeline and release the directory lock. Idempotent."""
        with self._mu:
            if self._closed:
                return
            self._closed = True
            try:
                self._pipeline.close()
                if self._failed is None:
                    sync_file(self._fd, self._config.on_fsync)
            finally:
                os.close(self._fd)
                os.close(self._dir_fd)  # releases the flock

    def __enter__(self) -> WAL:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise WalStateError(f"WAL {self._dir} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._failed is not None:
            raise WalFailedError(f"WAL {self._dir} failed earlier: {self._failed}") from self._failed
        if self._must_read:
            raise WalStateError("call read_all() before writing to a WAL opened with open()")

    def _fail(self, err: BaseException) -> None:
        # After a failed write or fsync the file's content is unknown (Linux may even have dropped
        # the dirty pages), so appending more would build on sand: refuse, like etcd's panic.
        self._failed = err
        log.error("WAL write failed; refusing further writes", err=err, dir=str(self._dir))
