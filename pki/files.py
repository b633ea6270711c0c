"""Writing PKI files: atomically, with the mode set before any secret byte lands on disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

CERT_MODE = 0o644
SECRET_MODE = 0o600
DIR_MODE = 0o755


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half of one."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise


def read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def make_dir(path: Path, mode: int = DIR_MODE) -> None:
    """Create `path` and its parents; an existing directory keeps the mode its owner gave it."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
