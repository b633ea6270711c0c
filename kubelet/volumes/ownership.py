"""Volume ownership for a pod's fsGroup and fsUser (upstream's SetVolumeOwnership and FsUserFrom).

With `securityContext.fsGroup` every file of a volume gets that group, group read (read-only
volumes) or read-write permission, and directories the setgid bit, so the pod's processes can use
the files whatever their uid.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RW_MASK = 0o660
RO_MASK = 0o440
EXEC_MASK = 0o110


def fs_group(pod: Mapping[str, Any]) -> int | None:
    value = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return int(value) if value is not None else None


def fs_user(pod: Mapping[str, Any]) -> int | None:
    """The uid all of the pod's (init) containers run as, when they agree and all say one."""
    spec = pod.get("spec") or {}
    pod_user = (spec.get("securityContext") or {}).get("runAsUser")
    user: int | None = None
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        run_as = (container.get("securityContext") or {}).get("runAsUser", pod_user)
        if run_as is None or (user is not None and user != int(run_as)):
            return None
        user = int(run_as)
    return user


def set_volume_ownership(path: Path, group: int | None, read_only: bool) -> None:
    if group is None:
        return
    _change(path, group, read_only)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            _change(Path(root) / name, group, read_only)


def _change(path: Path, group: int, read_only: bool) -> None:
    info = os.lstat(path)
    os.lchown(path, -1, group)
    if stat.S_ISLNK(info.st_mode):
        return
    mask = RO_MASK if read_only else RW_MASK
    if stat.S_ISDIR(info.st_mode):
        mask |= stat.S_ISGID | EXEC_MASK
    os.chmod(path, stat.S_IMODE(info.st_mode) | mask)
