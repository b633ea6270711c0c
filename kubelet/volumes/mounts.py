"""A container's CRI mounts from its volumeMounts (upstream's makeMounts in pkg/kubelet/kubelet_pods.go).

    mounts = container_mounts(pod, container, volumes, env=env, hosts_file=hosts)

Each volumeMount becomes a `runtime.v1.Mount`: host_path is the volume's directory, or the path
below it that `subPath` (or `subPathExpr`, expanded from the container's environment) names;
readonly when the mount asks or the volume type is read-only (configMap, secret, downwardAPI,
projected); propagation from mountPropagation. A subPath must be relative and free of `..`;
a missing one is made as a directory with the volume's mode, and an existing one must resolve
(symlinks followed) to a place inside the volume. The CRI gets the resolved path.

The kubelet-managed /etc/hosts (see hosts.py) is added last unless the container mounts something
at /etc/hosts itself. Failures raise MountError with upstream's message.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubelet.cri.api import api_pb2
from kubelet.envvars import EnvVar, expand
from kubelet.volumes.errors import MountError
from kubelet.volumes.manager import PodVolume

Obj = Mapping[str, Any]
ETC_HOSTS = "/etc/hosts"

PROPAGATION: dict[str | None, api_pb2.MountPropagation] = {
    None: api_pb2.PROPAGATION_PRIVATE,
    "None": api_pb2.PROPAGATION_PRIVATE,
    "HostToContainer": api_pb2.PROPAGATION_HOST_TO_CONTAINER,
    "Bidirectional": api_pb2.PROPAGATION_BIDIRECTIONAL,
}


def translate_propagation(mode: str | None) -> api_pb2.MountPropagation:
    if mode not in PROPAGATION:
        raise MountError(f'invalid MountPropagation mode: "{mode}"')
    return PROPAGATION[mode]


def expand_sub_path_expr(expr: str, env: Mapping[str, str]) -> str:
    """subPathExpr with $(VAR) from the container's environment; unknown or empty names are errors."""
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name, "")
        if not value:
            missing.add(name)
        return value

    expanded = expand(expr, lookup)
    if missing:
        raise MountError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def container_mounts(
    pod: Obj,
    container: Obj,
    volumes: Mapping[str, PodVolume],
    *,
    env: Iterable[EnvVar] | Mapping[str, str] = (),
    hosts_file: Path | None = None,
) -> list[api_pb2.Mount]:
    env_map = dict(env.items()) if isinstance(env, Mapping) else dict(env)
    container_name = str(container.get("name") or "")
    mounts: list[api_pb2.Mount] = []
    mount_hosts = hosts_file is not None
    for volume_mount in container.get("volumeMounts") or []:
        name = str(volume_mount.get("name") or "")
        mount_path = str(volume_mount.get("mountPath") or "")
        if mount_path == ETC_HOSTS:
            mount_hosts = False
        volume = volumes.get(name)
        if volume is None:
            raise MountError(f'cannot find volume "{name}" to mount into container "{container_name}"')
        sub_path = str(volume_mount.get("subPath") or "")
        if volume_mount.get("subPathExpr"):
            sub_path = expand_sub_path_expr(str(volume_mount["subPathExpr"]), env_map)
        host_path = volume.host_path
        if sub_path:
            host_path = prepare_sub_path(volume.host_path, sub_path, name, container_name)
        mounts.append(
            api_pb2.Mount(
                container_path=mount_path if mount_path.startswith("/") else "/" + mount_path,
                host_path=str(host_path),
                readonly=bool(volume_mount.get("readOnly")) or volume.read_only,
                selinux_relabel=volume.selinux_relabel,
                propagation=translate_propagation(volume_mount.get("mountPropagation")),
            )
        )
    if mount_hosts and hosts_file is not None:
        mounts.append(hosts_mount(hosts_file))
    return mounts


def hosts_mount(hosts_file: Path) -> api_pb2.Mount:
    return api_pb2.Mount(
        container_path=ETC_HOSTS, host_path=str(hosts_file), readonly=False, selinux_relabel=True
    )


# ---- subPath ----


def validate_sub_path(sub_path: str) -> None:
    if sub_path.startswith("/"):
        raise MountError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise MountError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")


def within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def prepare_sub_path(volume_path: Path, sub_path: str, volume_name: str, container_name: str) -> Path:
    """The real path the CRI mounts for a subPath, made first (as a directory) when missing."""
    validate_sub_path(sub_path)
    target = volume_path / sub_path
    if not os.path.exists(target):
        try:
            safe_make_dir(volume_path, sub_path, stat.S_IMODE(os.stat(volume_path).st_mode))
        except OSError:
            # No details: they would tell the pod about the host's filesystem.
            raise MountError(
                f'failed to create subPath directory for volumeMount "{volume_name}" '
                f'of container "{container_name}"'
            ) from None
    base = os.path.realpath(volume_path)
    real = os.path.realpath(target)
    if not within(real, base) or not os.path.exists(real):
        raise MountError(
            f'failed to prepare subPath for volumeMount "{volume_name}" of container "{container_name}"'
        )
    return Path(real)


def _open_beneath(base: str, relative: Sequence[str]) -> int:
    """A descriptor of base/relative opened one component at a time without following symlinks, so a
    component swapped for a symlink during the walk cannot lead outside `base`."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for part in relative:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def safe_make_dir(volume_path: Path, sub_path: str, mode: int) -> None:
    """Upstream's SafeMakeDir: resolve the part of sub_path that exists, check it is inside the
    volume, then make the rest with mkdirat() below it, never following a symlink."""
    base = os.path.realpath(volume_path)
    parts = [p for p in sub_path.split("/") if p not in ("", ".")]
    existing = 0
    while existing < len(parts) and os.path.lexists(os.path.join(volume_path, *parts[: existing + 1])):
        existing += 1
    resolved = os.path.realpath(os.path.join(volume_path, *parts[:existing]))
    if not within(resolved, base):
        raise OSError(errno.EPERM, f"{resolved} is outside of {base}")
    relative = [] if resolved == base else os.path.relpath(resolved, base).split("/")
    fd = _open_beneath(base, relative)
    try:
        for part in parts[existing:]:
            os.mkdir(part, mode, dir_fd=fd)
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
            os.fchmod(fd, mode)  # the volume's own mode, whatever the umask
    finally:
        os.close(fd)
