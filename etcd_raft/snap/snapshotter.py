"""Snapshot files: `%016x-%016x.snap` (term, index) for Raft snapshots, `%016x.snap.db` for db copies.

Like etcd's snap.Snapshotter. Every file is written to a `.tmp` name, fsynced, renamed into place
and the directory fsynced, so a crash leaves either the old set of files or the new one plus a
`.tmp` leftover, which the next Snapshotter removes. A `.snap` that fails its checks when loading
is renamed `.broken` and the next older one is tried; only the newest `.broken` is kept.

Order of writes on a snapshot (the server's job, as in etcd): the `.snap.db` copy if the state is
stored apart, then save(), then WAL.save_snapshot(), then WAL.release_lock_to() and the purges.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Final

from componentbase.klog import get_logger
from etcd_raft.raft.types import Snapshot
from etcd_raft.snap.errors import NoDbSnapshotError, NoSnapshotError, SnapshotCorruptError
from etcd_raft.snap.snapfile import DbSnapshotRef, decode_snapshot, encode_snapshot
from etcd_raft.wal.records import WalSnapshot
from etcd_raft.wal.segments import sync_directory_path, sync_file, write_all

log = get_logger(__name__)

SNAP_SUFFIX: Final = ".snap"
DB_SUFFIX: Final = ".snap.db"
TMP_SUFFIX: Final = ".tmp"
BROKEN_SUFFIX: Final = ".broken"
_SNAP_NAME: Final = re.compile(r"([0-9a-f]{16})-([0-9a-f]{16})\.snap")
_DB_NAME: Final = re.compile(r"([0-9a-f]{16})\.snap\.db")
_CHUNK: Final = 1 << 20  # db files are streamed in 1 MiB pieces, never read whole


def snap_name(term: int, index: int) -> str:
    return f"{term:016x}-{index:016x}{SNAP_SUFFIX}"


def db_name(index: int) -> str:
    return f"{index:016x}{DB_SUFFIX}"


class Snapshotter:
    """The snapshot directory (created if missing). `max_snapshots` is purge()'s default."""

    def __init__(self, directory: Path | str, *, max_snapshots: int = 5) -> None:
        self._dir = Path(directory)
        self._max_snapshots = max_snapshots
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._remove_leftovers()

    @property
    def directory(self) -> Path:
        return self._dir

    # -- .snap files ---------------------------------------------------------------------------

    def save(self, snapshot: Snapshot) -> Path | None:
        """Write `snapshot` durably and atomically; an empty snapshot is not written (None)."""
        if snapshot.is_empty():
            return None
        name = snap_name(snapshot.metadata.term, snapshot.metadata.index)
        self._write_atomically(name, encode_snapshot(snapshot))
        return self._dir / name

    def snap_names(self) -> list[str]:
        """The `.snap` file names, newest (highest term, then index) first."""
        return sorted((n for n in os.listdir(self._dir) if _SNAP_NAME.fullmatch(n)), reverse=True)

    def load_newest(self) -> Snapshot:
        """The newest readable snapshot; raises NoSnapshotError if there is none."""
        return self._load_matching(lambda _: True)

    def load_newest_available(self, wal_snapshots: Iterable[WalSnapshot]) -> Snapshot:
        """The newest readable snapshot that has a marker in the WAL (see wal.valid_snapshot_entries).

        A snapshot file without a marker was written but its WAL record was not (a crash between
        the two), so the WAL cannot be opened at it.
        """
        markers = {(marker.term, marker.index) for marker in wal_snapshots}
        return self._load_matching(lambda s: (s.metadata.term, s.metadata.index) in markers)

    def purge(self, keep: int | None = None) -> list[Path]:
        """Delete all but the newest `keep` `.snap` files (default max_snapshots; 0 keeps all),
        and the `.snap.db` files older than the oldest snapshot kept."""
        keep = self._max_snapshots if keep is None else keep
        if keep <= 0:
            return []
        names = self.snap_names()
        removed = [self._dir / name for name in names[keep:]]
        for path in removed:
            path.unlink()
        kept = names[:keep]
        if kept:
            oldest_kept = min(int(_match(_SNAP_NAME, name)[2], 16) for name in kept)
            removed += self.release_db_snapshots(oldest_kept)
        if removed:
            log.info("Purged snapshots", dir=str(self._dir), count=len(removed))
        return removed

    def _load_matching(self, accept: Callable[[Snapshot], bool]) -> Snapshot:
        for name in self.snap_names():
            path = self._dir / name
            try:
                snapshot = read_snapshot(path)
            except (SnapshotCorruptError, OSError) as err:
                broken = path.with_name(name + BROKEN_SUFFIX)
                log.warning("Snapshot file is unreadable; renaming it", path=str(path), err=str(err))
                os.replace(path, broken)
                self._remove_old_broken()
                continue
            if accept(snapshot):
                return snapshot
        raise NoSnapshotError(f"no usable snapshot in {self._dir}")

    # -- .snap.db files ------------------------------------------------------------------------

    def db_path(self, index: int) -> Path:
        """The db copy for `index`; raises NoDbSnapshotError if there is none."""
        path = self._dir / db_name(index)
        if not path.is_file():
            raise NoDbSnapshotError(f"no db snapshot for index {index} in {self._dir}")
        return path

    def save_db_from(self, index: int, source: BinaryIO) -> DbSnapshotRef:
        """Stream `source` to `<index>.snap.db` (atomically, durably) without holding it in memory."""
        tmp = self._dir / (db_name(index) + TMP_SUFFIX)
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        size = crc = 0
        try:
            while chunk := source.read(_CHUNK):
                write_all(fd, chunk, size)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
            sync_file(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return self._install_db(tmp, DbSnapshotRef(index, size, crc))

    def save_db_with(self, index: int, write: Callable[[Path], None]) -> DbSnapshotRef:
        """Have `write(path)` produce the db copy (an SQLite backup, a file copy), then install it
        as `<index>.snap.db` atomically and durably."""
        tmp = self._dir / (db_name(index) + TMP_SUFFIX)
        tmp.unlink(missing_ok=True)
        try:
            write(tmp)
            size, crc = _checksum_file(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                sync_file(fd)
            finally:
                os.close(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self._install_db(tmp, DbSnapshotRef(index, size, crc))

    def open_db(self, index: int) -> BinaryIO:
        """The db copy for `index`, open for streaming (to a follower, or into the backend)."""
        return self.db_path(index).open("rb")

    def verify_db(self, ref: DbSnapshotRef) -> bool:
        """Whether the db copy for `ref.index` exists with the size and crc the reference records."""
        try:
            path = self.db_path(ref.index)
        except NoDbSnapshotError:
            return False
        return _checksum_file(path) == (ref.size, ref.crc)

    def release_db_snapshots(self, before_index: int) -> list[Path]:
        """Delete db copies older than `before_index` (etcd's ReleaseSnapDBs)."""
        removed = []
        for name in os.listdir(self._dir):
            match = _DB_NAME.fullmatch(name)
            if match is not None and int(match[1], 16) < before_index:
                path = self._dir / name
                path.unlink()
                removed.append(path)
        return removed

    def _install_db(self, tmp: Path, ref: DbSnapshotRef) -> DbSnapshotRef:
        os.replace(tmp, self._dir / db_name(ref.index))
        sync_directory_path(self._dir)
        return ref

    # -- housekeeping --------------------------------------------------------------------------

    def _write_atomically(self, name: str, data: bytes) -> None:
        tmp = self._dir / (name + TMP_SUFFIX)
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        try:
            write_all(fd, data, 0)
            sync_file(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, self._dir / name)
        sync_directory_path(self._dir)

    def _remove_leftovers(self) -> None:
        for name in os.listdir(self._dir):
            if name.endswith(TMP_SUFFIX):  # a write that a crash interrupted before its rename
                (self._dir / name).unlink(missing_ok=True)
        self._remove_old_broken()

    def _remove_old_broken(self) -> None:
        # Keep the newest broken file for a post-mortem, not an ever-growing pile (etcd keeps 1).
        broken = sorted(n for n in os.listdir(self._dir) if n.endswith(SNAP_SUFFIX + BROKEN_SUFFIX))
        for name in broken[:-1]:
            (self._dir / name).unlink(missing_ok=True)


def read_snapshot(path: Path) -> Snapshot:
    """Read one `.snap` file; raises SnapshotCorruptError or OSError."""
    return decode_snapshot(path.read_bytes(), path)


def _checksum_file(path: Path) -> tuple[int, int]:
    size = crc = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return size, crc


def _match(pattern: re.Pattern[str], name: str) -> re.Match[str]:
    match = pattern.fullmatch(name)
    assert match is not None, name
    return match
