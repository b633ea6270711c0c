"""The kernel seam of pod volumes: tmpfs mounts for memory-backed volumes and unmounting at tear-down.

`Mounter` is the protocol the volume manager uses; `LinuxMounter` calls mount(2)/umount2(2) through
libc and reads the mount table from /proc/self/mountinfo. Unit tests use a fake.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path
from typing import Protocol

MNT_DETACH = 2


class Mounter(Protocol):
    def mount_tmpfs(self, target: Path, size_bytes: int | None) -> None: ...

    def unmount(self, target: Path) -> None: ...

    def mount_points_under(self, root: Path) -> list[Path]:
        """Mount points at or below `root`, deepest first."""
        ...


def parse_mountinfo(text: str) -> list[str]:
    """The mount points of a /proc/<pid>/mountinfo text, unescaped (\\040 is a space)."""
    points = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.append(_unescape(fields[4]))
    return points


def _unescape(field: str) -> str:
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def under(points: list[str], root: Path) -> list[Path]:
    prefix = str(root).rstrip("/") + "/"
    found = {Path(p) for p in points if p == str(root) or p.startswith(prefix)}
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


class LinuxMounter:
    def __init__(self, mountinfo: Path = Path("/proc/self/mountinfo")) -> None:
        self._mountinfo = mountinfo
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def mount_tmpfs(self, target: Path, size_bytes: int | None) -> None:
        options = f"size={size_bytes}" if size_bytes else ""
        result = self._libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", 0, options.encode() or None)
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"mount -t tmpfs {target}: {os.strerror(code)}")

    def unmount(self, target: Path) -> None:
        if self._libc.umount2(os.fsencode(target), 0) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EBUSY:  # still held (a process cwd in it): detach now, the kernel frees it later
            if self._libc.umount2(os.fsencode(target), MNT_DETACH) == 0:
                return
            code = ctypes.get_errno()
        raise OSError(code, f"umount {target}: {os.strerror(code)}")

    def mount_points_under(self, root: Path) -> list[Path]:
        return under(parse_mountinfo(self._mountinfo.read_text()), root)
