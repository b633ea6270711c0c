"""repair(): cut a torn record off the end of the last segment, keeping a copy of the original.

Only a torn tail is repaired (what a power loss in the middle of the last write leaves behind);
anything else raises WalCorruptError, because dropping records that were acknowledged as durable
would silently lose writes. Like etcd, the original file is first copied to `<name>.broken`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from componentbase.klog import get_logger
from etcd_raft.wal.decoder import decode_segment
from etcd_raft.wal.errors import WalNotFoundError
from etcd_raft.wal.segments import BROKEN_SUFFIX, list_segments, lock_directory, sync_directory, sync_file

log = get_logger(__name__)


def repair(directory: Path | str) -> Path | None:
    """Truncate the last segment to its last complete record if it ends in a torn one.

    Returns the path of the `.broken` backup, or None when there was nothing to repair. Raises
    WalNotFoundError, WalLockedError (the WAL is open: close it first) or WalCorruptError.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise WalNotFoundError(f"no WAL directory at {directory}")
    dir_fd = lock_directory(directory)
    try:
        segments = list_segments(directory)
        if not segments:
            raise WalNotFoundError(f"no WAL segments in {directory}")
        path = directory / segments[-1][2]
        # Earlier segments are not read: they cannot be torn, and open() verifies them anyway.
        decoded = decode_segment(path.read_bytes(), path, None, is_last=True)
        if not decoded.torn:
            return None
        broken = path.with_name(path.name + BROKEN_SUFFIX)
        shutil.copyfile(path, broken)
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, decoded.end)
            sync_file(fd)
        finally:
            os.close(fd)
        sync_directory(dir_fd)  # the backup's directory entry
        log.info("Repaired WAL torn tail", path=str(path), truncated_at=decoded.end, backup=str(broken))
        return broken
    finally:
        os.close(dir_fd)
