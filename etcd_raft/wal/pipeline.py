"""Prepares the next segment file in the background so a cut does not wait for allocation.

Like etcd's filePipeline: a thread creates `0.tmp` / `1.tmp` (alternating, so the file being
prepared is never the one just handed out and not yet renamed) and preallocates it to the segment
size, then waits until the WAL takes it. The WAL owns the thread and joins it in close().
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from etcd_raft.wal.segments import TMP_SUFFIX, preallocate


class FilePipeline:
    def __init__(self, directory: Path, size: int) -> None:
        self._directory = directory
        self._size = size
        self._count = 0
        self._cond = threading.Condition()
        self._ready: Path | None = None
        self._error: OSError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"wal-file-pipeline {directory}", daemon=True)
        self._thread.start()

    def take(self) -> Path:
        """A fresh preallocated file; the caller renames it before taking the next one."""
        with self._cond:
            while self._ready is None and self._error is None:
                self._cond.wait()
            path, self._ready = self._ready, None
            self._cond.notify_all()
        if path is not None:
            return path
        # The thread stopped on an error (a full disk, say). Allocate inline so the caller gets
        # this attempt's error, and a later cut can succeed once the condition clears.
        return self._alloc()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()
        if self._ready is not None:
            self._ready.unlink(missing_ok=True)
            self._ready = None

    def _alloc(self) -> Path:
        path = self._directory / f"{self._count % 2}{TMP_SUFFIX}"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            preallocate(fd, self._size)
        finally:
            os.close(fd)
        self._count += 1
        return path

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
            try:
                path = self._alloc()
            except OSError as err:
                with self._cond:
                    self._error = err
                    self._cond.notify_all()
                return
            with self._cond:
                self._ready = path
                self._cond.notify_all()
                while self._ready is not None and not self._closed:
                    self._cond.wait()
