"""hostPath volumes: the checks and creation of upstream's `type` field (pkg/volume/hostpath).

    ""                 no check (the default)
    DirectoryOrCreate  made (0755, with parents) when missing, else must be a directory
    Directory          must exist and be a directory
    FileOrCreate       made empty (0644, parents 0755) when missing, else must be a file
    File               must exist and be a regular file
    Socket, CharDevice, BlockDevice   must exist and be one
Symlinks are followed, as upstream's os.Stat does.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class HostPathError(ValueError):
    pass


def _mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def set_up_host_path(path: str, path_type: str) -> Path:
    """Checks (and maybe creates) the path; returns it. Raises HostPathError with upstream's text."""
    if ".." in path.split("/"):
        raise HostPathError(f"invalid HostPath `{path}`: must not contain '..'")
    if path_type == "DirectoryOrCreate" and _mode(path) is None:
        os.makedirs(path, 0o755, exist_ok=True)
        return Path(path)
    if path_type == "FileOrCreate" and _mode(path) is None:
        os.makedirs(os.path.dirname(path) or "/", 0o755, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o644))
        return Path(path)
    mode = _mode(path)
    failed = "hostPath type check failed:"
    if path_type in ("", None):
        pass
    elif path_type in ("Directory", "DirectoryOrCreate"):
        if mode is None:
            raise HostPathError(f"{failed} {path} does not exist")
        if not stat.S_ISDIR(mode):
            raise HostPathError(f"{failed} {path} is not a directory")
    elif path_type in ("File", "FileOrCreate"):
        if mode is None:
            raise HostPathError(f"{failed} {path} does not exist")
        if not stat.S_ISREG(mode):
            raise HostPathError(f"{failed} {path} is not a file")
    elif path_type == "Socket":
        if mode is None or not stat.S_ISSOCK(mode):
            raise HostPathError(f"{failed} {path} is not a socket file")
    elif path_type == "CharDevice":
        if mode is None or not stat.S_ISCHR(mode):
            raise HostPathError(f"{failed} {path} is not a character device")
    elif path_type == "BlockDevice":
        if mode is None or not stat.S_ISBLK(mode):
            raise HostPathError(f"{failed} {path} is not a block device")
    else:
        raise HostPathError(f"{path_type} is an invalid volume type")
    return Path(path)
