"""The termination-message file of a container (upstream's kuberuntime makeMounts and
getTerminationMessage).

Before each container start the kubelet makes an empty, world-writable file
<pod_dir>/containers/<container>/<8 hex digits> and mounts it at the container's
terminationMessagePath (default /dev/termination-log). When the container has exited, the kubelet
finds that mount in the CRI ContainerStatus and reads at most the last 4096 bytes as the message.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from kubelet.cri.api import api_pb2

MAX_MESSAGE_LENGTH = 4096  # upstream's MaxContainerTerminationMessageLength
DEFAULT_PATH = "/dev/termination-log"


class _MountLike(Protocol):
    container_path: str
    host_path: str


def termination_message_mount(
    pod_dir: Path, container: Mapping[str, Any], *, rng: random.Random | None = None
) -> api_pb2.Mount | None:
    """A fresh file for this start of the container, or None when it has no terminationMessagePath.
    (The path is also what the lead stores in the io.kubernetes.container.terminationMessagePath
    annotation.)"""
    container_path = container.get("terminationMessagePath", DEFAULT_PATH)
    if not container_path:
        return None
    directory = pod_dir / "containers" / str(container.get("name") or "")
    directory.mkdir(mode=0o750, parents=True, exist_ok=True)
    while True:
        name = f"{(rng or random).getrandbits(32):08x}"
        path = directory / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.fchmod(fd, 0o666)  # the container's user may be anyone; the umask must not narrow it
        os.close(fd)
        break
    container_path = str(container_path)
    return api_pb2.Mount(
        container_path=container_path if container_path.startswith("/") else "/" + container_path,
        host_path=str(path),
    )


def read_termination_message(
    mounts: Iterable[_MountLike], termination_message_path: str, fallback_to_logs: bool
) -> tuple[str, bool]:
    """(message, whether to read the logs instead) from the status mounts of an exited container.
    The logs are the fallback only under FallbackToLogsOnError when the file is missing or empty."""
    if not termination_message_path:
        return "", fallback_to_logs
    for mount in mounts:
        if mount.container_path != termination_message_path:
            continue
        try:
            with open(mount.host_path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                file.seek(max(0, size - MAX_MESSAGE_LENGTH))
                data = file.read(MAX_MESSAGE_LENGTH)
        except FileNotFoundError:
            return "", fallback_to_logs
        except OSError as error:
            return f"Error on reading termination log {mount.host_path}: {error}", False
        return data.decode("utf-8", errors="replace"), fallback_to_logs and not data
    return "", fallback_to_logs
