"""Atomic updates of a volume's files (upstream's pkg/volume/util/atomic_writer.go).

A configMap, secret, downwardAPI or projected volume is written so that a reader in a container
never sees a half-updated set of files:

    <volume>/..2026_01_02_15_04_05.123456789/   the payload, written in full first
    <volume>/..data -> ..2026_01_02_15_04_05.123456789   swapped atomically (symlink + rename)
    <volume>/<name> -> ..data/<name>             the user-visible names (top-level only)

`write` compares the payload with what `..data` points at and does nothing when content, mode and
the set of paths are the same, so calling it on every sync of the pod is cheap. When something
changed it writes a new timestamped directory, swaps `..data`, adds symlinks for new names,
removes symlinks of names that went away and finally removes the old directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"
MAX_FILE_NAME_LENGTH = 255
MAX_PATH_LENGTH = 4096
_TS_DIR = re.compile(r"\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\..+")


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int
    fs_user: int | None = None  # chown the file to this uid (projected service account tokens)


class PayloadError(ValueError):
    """A payload path that could escape the volume or clash with the writer's own names."""


def validate_path(target: str) -> None:
    """Upstream's validatePath: relative, no `..` element, no leading `..name` (the writer's own)."""
    if not target:
        raise PayloadError(f'invalid path: must not be empty: "{target}"')
    if target.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH_LENGTH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise PayloadError(
                f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {target}")


def clean_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    clean = {}
    for path, projection in payload.items():
        validate_path(path)
        clean[os.path.normpath(path)] = projection
    return clean


class AtomicWriter:
    def __init__(self, target_dir: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self.target_dir = target_dir
        self._now = now or (lambda: datetime.now(UTC))

    def write(
        self, payload: Mapping[str, FileProjection], set_perms: Callable[[Path], None] | None = None
    ) -> bool:
        """Make the volume show exactly `payload`; True when files were (re)written. `set_perms` runs
        on the new timestamped directory before it becomes visible (fsGroup ownership)."""
        files = clean_payload(payload)
        old_ts = self._current_ts_dir()
        to_remove = self._paths_to_remove(files, old_ts)
        changed = old_ts is None or _differs(files, old_ts) or bool(to_remove)
        new_ts = None
        if changed:
            new_ts = self._new_ts_dir()
            try:
                _write_files(new_ts, files)
                if set_perms is not None:
                    set_perms(new_ts)
                self._swap_data_dir(new_ts)
            except BaseException:
                shutil.rmtree(new_ts, ignore_errors=True)
                raise
        self._create_user_visible(files)
        if new_ts is not None:
            for path in to_remove:
                if "/" not in path:  # only the volume root holds user-visible symlinks
                    (self.target_dir / path).unlink(missing_ok=True)
            # The old generation, and any a crash left half-written (names starting with ".." are the
            # writer's own: payload paths may not).
            for entry in os.scandir(self.target_dir):
                if _TS_DIR.fullmatch(entry.name) and entry.name != new_ts.name:
                    shutil.rmtree(entry.path, ignore_errors=True)
        return changed

    def _current_ts_dir(self) -> Path | None:
        try:
            name = os.readlink(self.target_dir / DATA_DIR)
        except (FileNotFoundError, OSError):
            return None
        path = self.target_dir / name
        return path if path.is_dir() else None

    def _paths_to_remove(self, files: Mapping[str, FileProjection], old_ts: Path | None) -> set[str]:
        if old_ts is None:
            return set()
        old = set()
        for root, dirs, names in os.walk(old_ts):
            for name in dirs + names:
                old.add(os.path.relpath(os.path.join(root, name), old_ts))
        new = set()
        for path in files:
            while path:
                new.add(path)
                path = os.path.dirname(path)
        return old - new

    def _new_ts_dir(self) -> Path:
        prefix = self._now().strftime("..%Y_%m_%d_%H_%M_%S.")
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self.target_dir))
        path.chmod(0o755)
        return path

    def _swap_data_dir(self, new_ts: Path) -> None:
        tmp = self.target_dir / DATA_DIR_TMP
        tmp.unlink(missing_ok=True)
        os.symlink(new_ts.name, tmp)
        os.rename(tmp, self.target_dir / DATA_DIR)

    def _create_user_visible(self, files: Mapping[str, FileProjection]) -> None:
        for path in files:
            top = path.split("/", 1)[0]
            visible = self.target_dir / top
            if not visible.is_symlink() and not visible.exists():
                os.symlink(os.path.join(DATA_DIR, top), visible)


def _differs(files: Mapping[str, FileProjection], ts_dir: Path) -> bool:
    for path, projection in files.items():
        target = ts_dir / path
        try:
            if target.is_symlink() or not target.is_file():
                return True
            if target.stat().st_mode & 0o7777 != projection.mode & 0o7777:
                return True
            if target.read_bytes() != projection.data:
                return True
        except OSError:
            return True
    return False


def _write_files(ts_dir: Path, files: Mapping[str, FileProjection]) -> None:
    for path, projection in files.items():
        target = ts_dir / path
        target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            _write_all(fd, projection.data)
            os.fchmod(fd, projection.mode & 0o7777)  # exactly the mode asked for, whatever the umask
            if projection.fs_user is not None:
                os.fchown(fd, projection.fs_user, -1)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
