"""Segment files: names, listing, the directory lock, and the durable-write primitives.

Segments are named like etcd's, `%016x-%016x.wal` (sequence, index): the sequence counts up from 0
with no gaps, and the index is the first entry index the segment was opened for (the last index
written plus one at the time of the cut). Entries below that index can still appear in it when a
new leader overwrites a follower's tail.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Final

from etcd_raft.wal.errors import WalCorruptError, WalLockedError

SEGMENT_SUFFIX: Final = ".wal"
_SEGMENT_NAME: Final = re.compile(r"([0-9a-f]{16})-([0-9a-f]{16})\.wal")
TMP_SUFFIX: Final = ".tmp"
BROKEN_SUFFIX: Final = ".broken"

FsyncHook = Callable[[float], None]
"""Called with the seconds each fsync took (feeds etcd_disk_wal_fsync_duration_seconds)."""


def segment_name(seq: int, index: int) -> str:
    return f"{seq:016x}-{index:016x}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> tuple[int, int] | None:
    """(sequence, index) of a segment file name, or None for any other file."""
    match = _SEGMENT_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match[1], 16), int(match[2], 16)


def list_segments(directory: Path) -> list[tuple[int, int, str]]:
    """The directory's segments as (sequence, index, name), oldest first; other files are ignored."""
    found = []
    for name in os.listdir(directory):
        parsed = parse_segment_name(name)
        if parsed is not None:
            found.append((parsed[0], parsed[1], name))
    found.sort()
    return found


def check_sequence(directory: Path, segments: list[tuple[int, int, str]]) -> None:
    """Segments must be numbered consecutively: a gap means a segment was lost (etcd's isValidSeq)."""
    for (seq, _, _), (next_seq, _, name) in pairwise(segments):
        if next_seq != seq + 1:
            raise WalCorruptError(directory / name, None, f"segment sequence jumps from {seq} to {next_seq}")


def search_index(segments: list[tuple[int, int, str]], index: int) -> int | None:
    """Position of the last segment whose first index is <= `index`: where reading from `index` starts."""
    for i in range(len(segments) - 1, -1, -1):
        if segments[i][1] <= index:
            return i
    return None


def lock_directory(directory: Path) -> int:
    """Open `directory` and take an exclusive flock on it; returns the fd (also used to fsync it).

    flock locks belong to the open file description, so a second open in the same process is
    refused too, and the kernel drops the lock when the holder dies: no stale lock files.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise WalLockedError(f"WAL directory {directory} is locked by another writer") from err
        raise
    return fd


def sync_file(fd: int, on_fsync: FsyncHook | None = None) -> None:
    """fdatasync where the OS has it (the data and the size, not the mtime), as etcd does."""
    start = time.perf_counter()
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # macOS
        os.fsync(fd)
    if on_fsync is not None:
        on_fsync(time.perf_counter() - start)


def sync_directory(fd: int, on_fsync: FsyncHook | None = None) -> None:
    """fsync a directory fd so a create, rename or unlink in it survives a power loss."""
    start = time.perf_counter()
    os.fsync(fd)
    if on_fsync is not None:
        on_fsync(time.perf_counter() - start)


def sync_directory_path(directory: Path, on_fsync: FsyncHook | None = None) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sync_directory(fd, on_fsync)
    finally:
        os.close(fd)


def preallocate(fd: int, size: int) -> None:
    """Reserve `size` bytes (zeros) so appends neither allocate blocks nor grow the file's metadata.

    Falls back to a sparse ftruncate where the filesystem has no fallocate; never shrinks the file.
    """
    if os.fstat(fd).st_size >= size:
        return
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.ftruncate(fd, size)


def write_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """pwrite all of `data` at `offset` (a regular file may take it in more than one write)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written
