"""The pod volume manager: sets up a pod's volumes before its containers start, keeps the
API-backed ones current on every sync, and tears them all down when the pod is gone.

    manager = VolumeManager(pods_dir=root / "pods", getter=client, token_source=api_token_source(client))
    volumes = await manager.set_up(pod)      # {name: PodVolume}; idempotent, call on every sync
    await manager.tear_down(pod_uid)          # unmount, then remove <pods_dir>/<uid>
    manager.pods_on_disk()                    # uids with a pod directory (orphans after a restart)

Layout (upstream's): <pods_dir>/<uid>/volumes/kubernetes.io~<plugin>/<volume name>, where plugin is
empty-dir, configmap, secret, downward-api or projected; hostPath volumes stay where they are.
Secret and projected volumes, and emptyDir with `medium: Memory`, are tmpfs mounts, so their
contents never touch the disk. configMap, secret, downwardAPI and projected volumes are written with
the AtomicWriter, which rewrites only when the content changed. A failure is a `VolumeError`
(reason FailedMount); set_up tries every volume before it raises the first failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from componentbase.klog import get_logger
from kubeapi.quantity import parse_quantity
from kubeapi.validation import go_quote
from kubelet.volumes.atomic_writer import AtomicWriter, FileProjection
from kubelet.volumes.errors import VolumeError, setup_failed, teardown_failed
from kubelet.volumes.hostpath import set_up_host_path
from kubelet.volumes.mounter import LinuxMounter, Mounter
from kubelet.volumes.ownership import fs_group, fs_user, set_volume_ownership
from kubelet.volumes.payload import (
    DEFAULT_MODE,
    SourceError,
    aggregate,
    config_map_payload,
    downward_api_payload,
    secret_payload,
)
from kubelet.volumes.sources import (
    ObjectGetter,
    SourceUnavailable,
    get_config_map,
    get_secret,
    not_found_message,
)
from kubelet.volumes.tokens import TokenError, TokenManager, TokenSource

Obj = Mapping[str, Any]
log = get_logger(__name__)

EMPTY_DIR = "kubernetes.io~empty-dir"
CONFIG_MAP = "kubernetes.io~configmap"
SECRET = "kubernetes.io~secret"
DOWNWARD_API = "kubernetes.io~downward-api"
PROJECTED = "kubernetes.io~projected"
HOST_PATH = "kubernetes.io~host-path"
DEFAULT_TOKEN_EXPIRATION = 3600


@dataclass(frozen=True)
class PodVolume:
    name: str
    plugin: str  # the directory name of its type, e.g. "kubernetes.io~configmap"
    host_path: Path
    read_only: bool  # the type's own: API-backed volumes are always mounted read-only
    is_tmpfs: bool
    selinux_relabel: bool


class _Failed(Exception):
    """One volume's set-up failed; the message goes after `MountVolume.SetUp failed for volume "x" : `."""


def _plain_name(name: str) -> bool:
    """A name that is one path element (uids and volume names become directories)."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


def volume_type(volume: Obj) -> str:
    """The volume's source key ("emptyDir" when it has none, as the API defaults it)."""
    for key in volume:
        if key != "name":
            return key
    return "emptyDir"


def pod_memory_limit(pod: Obj) -> int | None:
    """The pod's memory limit when every container has one (the pod cgroup's limit): the larger of the
    containers' sum and the largest init container, plus the pod's overhead."""
    spec = pod.get("spec") or {}

    def limit(container: Obj) -> int | None:
        value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
        return parse_quantity(str(value)).value() if value is not None else None

    regular = [limit(c) for c in spec.get("containers") or []]
    init = [limit(c) for c in spec.get("initContainers") or []]
    if not regular or any(v is None for v in regular + init):
        return None
    total = max(sum(v for v in regular if v), max((v for v in init if v), default=0))
    overhead = (spec.get("overhead") or {}).get("memory")
    return total + (parse_quantity(str(overhead)).value() if overhead is not None else 0)


def memory_backed_size(pod: Obj, size_limit: object, node_allocatable_memory: int | None) -> int | None:
    """A tmpfs's size as upstream's calculateEmptyDirMemorySize: the node's allocatable memory, lowered
    to the pod's memory limit and then to the volume's sizeLimit; None = the kernel's default."""
    size = node_allocatable_memory
    for candidate in (pod_memory_limit(pod), _quantity(size_limit)):
        if candidate is not None and candidate > 0 and (size is None or candidate <= size):
            size = candidate
    return size


def _quantity(value: object) -> int | None:
    if value is None or value == "":
        return None
    return parse_quantity(str(value)).value()


class VolumeManager:
    def __init__(
        self,
        pods_dir: Path,
        getter: ObjectGetter | None,
        token_source: TokenSource | None = None,
        node_name: str = "",
        *,
        mounter: Mounter | None = None,
        node_allocatable: Mapping[str, str] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.pods_dir = pods_dir
        self.getter = getter
        self.node_name = node_name
        # The node's allocatable resources (cpu, memory, ...): resourceFieldRef limits default to
        # them, and memory caps tmpfs sizes. The kubelet updates this as it learns them.
        self.node_allocatable: Mapping[str, str] = dict(node_allocatable or {})
        self.mounter: Mounter = mounter or LinuxMounter()
        self.tokens = TokenManager(token_source, now=now) if token_source is not None else None
        self._now = now
        self._locks: dict[str, asyncio.Lock] = {}

    # ---- paths ----

    def pod_dir(self, pod_uid: str) -> Path:
        return self.pods_dir / pod_uid

    def volume_dir(self, pod_uid: str, plugin: str, name: str) -> Path:
        return self.pods_dir / pod_uid / "volumes" / plugin / name

    def pods_on_disk(self) -> set[str]:
        try:
            return {entry.name for entry in os.scandir(self.pods_dir) if entry.is_dir(follow_symlinks=False)}
        except FileNotFoundError:
            return set()

    # ---- set-up ----

    async def set_up(self, pod: Obj) -> dict[str, PodVolume]:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        if not _plain_name(uid):
            raise VolumeError("FailedMount", f"invalid pod uid {go_quote(uid)}")
        async with self._lock(uid):
            pod_dir = self.pod_dir(uid)
            for path in (pod_dir, pod_dir / "volumes", pod_dir / "plugins"):
                path.mkdir(mode=0o750, parents=True, exist_ok=True)
            volumes: dict[str, PodVolume] = {}
            errors: list[VolumeError] = []
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                name = str(volume.get("name") or "")
                try:
                    volumes[name] = await self._set_up_volume(pod, uid, volume)
                except _Failed as failure:
                    errors.append(setup_failed(name, str(failure)))
            if errors:
                first = errors[0]
                first.all_errors = errors
                raise first
            return volumes

    async def _set_up_volume(self, pod: Obj, uid: str, volume: Obj) -> PodVolume:
        kind = volume_type(volume)
        name = str(volume.get("name") or "")
        source = volume.get(kind) or {}
        if not _plain_name(name):
            raise _Failed("invalid volume name")  # the API validates names; static pods may not be
        try:
            if kind == "emptyDir":
                return self._set_up_empty_dir(pod, uid, name, source)
            if kind == "hostPath":
                path = set_up_host_path(str(source.get("path") or ""), str(source.get("type") or ""))
                return PodVolume(name, HOST_PATH, path, False, False, False)
            if kind == "configMap":
                return await self._set_up_config_map(pod, uid, name, source)
            if kind == "secret":
                return await self._set_up_secret(pod, uid, name, source)
            if kind == "downwardAPI":
                return self._set_up_downward_api(pod, uid, name, source)
            if kind == "projected":
                return await self._set_up_projected(pod, uid, name, source)
        except ValueError as error:  # HostPathError, SourceError, PayloadError, bad quantities
            raise _Failed(str(error)) from error
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            raise _Failed(f"{where}{error.strerror or error}") from error
        # persistentVolumeClaim, csi, nfs, image, ...: later issues.
        raise _Failed(f"unsupported volume type {go_quote(kind)}: kplane's kubelet does not mount it yet")

    def _ensure_dir(self, path: Path, tmpfs: bool, size: int | None) -> bool:
        """The volume's directory (0777, as upstream's emptyDir), with a tmpfs on it when asked.
        True when it was just made (or mounted), so ownership is applied once."""
        created = False
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)
            created = True
        if tmpfs and path not in self.mounter.mount_points_under(path):
            self.mounter.mount_tmpfs(path, size)
            log.v(3).info("Mounted tmpfs", path=str(path), size=size or "default")
            created = True
        return created

    def _memory_size(self, pod: Obj, size_limit: object) -> int | None:
        return memory_backed_size(pod, size_limit, _quantity(self.node_allocatable.get("memory")))

    def _set_up_empty_dir(self, pod: Obj, uid: str, name: str, source: Obj) -> PodVolume:
        medium = source.get("medium") or ""
        if medium not in ("", "Memory"):
            raise _Failed(f"emptyDir medium {medium!r} is not supported by kplane's kubelet")
        path = self.volume_dir(uid, EMPTY_DIR, name)
        tmpfs = medium == "Memory"
        size = self._memory_size(pod, source.get("sizeLimit")) if tmpfs else None
        if self._ensure_dir(path, tmpfs, size):
            set_volume_ownership(path, fs_group(pod), read_only=False)
        return PodVolume(name, EMPTY_DIR, path, False, tmpfs, True)

    def _write(self, pod: Obj, path: Path, payload: Mapping[str, FileProjection]) -> None:
        group = fs_group(pod)
        writer = AtomicWriter(path, now=self._now)
        if writer.write(payload, set_perms=lambda _ts: set_volume_ownership(path, group, read_only=True)):
            meta = pod.get("metadata") or {}
            log.v(3).info(
                "Volume contents written",
                pod=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
                volume=path.name,
                files=len(payload),
            )

    async def _set_up_config_map(self, pod: Obj, uid: str, name: str, source: Obj) -> PodVolume:
        optional = bool(source.get("optional"))
        config_map = await self._config_map(pod, str(source.get("name") or ""), optional)
        payload = config_map_payload(config_map, source.get("items"), source.get("defaultMode"), optional)
        path = self.volume_dir(uid, CONFIG_MAP, name)
        self._ensure_dir(path, False, None)
        self._write(pod, path, payload)
        return PodVolume(name, CONFIG_MAP, path, True, False, True)

    async def _set_up_secret(self, pod: Obj, uid: str, name: str, source: Obj) -> PodVolume:
        optional = bool(source.get("optional"))
        secret = await self._secret(pod, str(source.get("secretName") or ""), optional)
        payload = secret_payload(secret, source.get("items"), source.get("defaultMode"), optional)
        path = self.volume_dir(uid, SECRET, name)
        self._ensure_dir(path, True, self._memory_size(pod, None))
        self._write(pod, path, payload)
        return PodVolume(name, SECRET, path, True, True, True)

    def _set_up_downward_api(self, pod: Obj, uid: str, name: str, source: Obj) -> PodVolume:
        payload = downward_api_payload(
            source.get("items"), pod, source.get("defaultMode"), self.node_allocatable
        )
        path = self.volume_dir(uid, DOWNWARD_API, name)
        self._ensure_dir(path, False, None)
        self._write(pod, path, payload)
        return PodVolume(name, DOWNWARD_API, path, True, False, True)

    async def _set_up_projected(self, pod: Obj, uid: str, name: str, source: Obj) -> PodVolume:
        payload = await self._projected_payload(pod, source)
        path = self.volume_dir(uid, PROJECTED, name)
        self._ensure_dir(path, True, self._memory_size(pod, None))
        self._write(pod, path, payload)
        return PodVolume(name, PROJECTED, path, True, True, True)

    async def _projected_payload(self, pod: Obj, source: Obj) -> dict[str, FileProjection]:
        """Every source is collected; their errors are reported together (upstream's collectData)."""
        default_mode = source.get("defaultMode")
        mode = DEFAULT_MODE if default_mode is None else int(default_mode)
        payload: dict[str, FileProjection] = {}
        errors: list[str] = []
        for projection in source.get("sources") or []:
            try:
                payload.update(await self._projection(pod, projection, mode))
            except (_Failed, SourceError) as error:
                errors.append(str(error))
        if errors:
            raise _Failed(aggregate(errors))
        return payload

    async def _projection(self, pod: Obj, projection: Obj, mode: int) -> dict[str, FileProjection]:
        if projection.get("configMap") is not None:
            cm = projection["configMap"]
            optional = bool(cm.get("optional"))
            config_map = await self._config_map(pod, str(cm.get("name") or ""), optional)
            return config_map_payload(config_map, cm.get("items"), mode, optional)
        if projection.get("secret") is not None:
            sec = projection["secret"]
            optional = bool(sec.get("optional"))
            secret = await self._secret(pod, str(sec.get("name") or ""), optional)
            return secret_payload(secret, sec.get("items"), mode, optional)
        if projection.get("downwardAPI") is not None:
            items = projection["downwardAPI"].get("items")
            return downward_api_payload(items, pod, mode, self.node_allocatable)
        if projection.get("serviceAccountToken") is not None:
            return await self._token_payload(pod, projection["serviceAccountToken"], mode)
        if projection.get("clusterTrustBundle") is not None or projection.get("podCertificate") is not None:
            raise _Failed("projected sources clusterTrustBundle and podCertificate are not supported yet")
        return {}

    async def _token_payload(self, pod: Obj, source: Obj, mode: int) -> dict[str, FileProjection]:
        if self.tokens is None:
            raise _Failed("cannot get service account tokens: the kubelet has no API client")
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        user, group = fs_user(pod), fs_group(pod)
        if user is not None or group is not None:
            mode = 0o600  # fsGroup then makes it 0640
        audience = str(source.get("audience") or "")
        try:
            token = await self.tokens.get(
                str(meta.get("namespace") or ""),
                str(spec.get("serviceAccountName") or "default"),
                [audience] if audience else [],
                int(source.get("expirationSeconds") or DEFAULT_TOKEN_EXPIRATION),
                str(meta.get("name") or ""),
                str(meta.get("uid") or ""),
            )
        except TokenError as error:
            raise _Failed(str(error)) from error
        return {str(source.get("path") or "token"): FileProjection(token.encode(), mode, user)}

    async def _config_map(self, pod: Obj, name: str, optional: bool) -> Obj:
        if self.getter is None:
            raise _Failed(f"cannot setup configMap volume {name} because kube client is not configured")
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        try:
            found = await get_config_map(self.getter, namespace, name)
        except SourceUnavailable as error:
            raise _Failed(str(error)) from error
        if found is None:
            if not optional:
                raise _Failed(not_found_message("configmap", name))
            return {}
        return found

    async def _secret(self, pod: Obj, name: str, optional: bool) -> Obj:
        if self.getter is None:
            raise _Failed(f"cannot setup secret volume {name} because kube client is not configured")
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        try:
            found = await get_secret(self.getter, namespace, name)
        except SourceUnavailable as error:
            raise _Failed(str(error)) from error
        if found is None:
            if not optional:
                raise _Failed(not_found_message("secret", name))
            return {}
        return found

    # ---- tear-down ----

    async def tear_down(self, pod_uid: str) -> None:
        """Unmount everything mounted under the pod's directory (deepest first), then remove it.
        Raises VolumeError (FailedUnMount) and removes nothing while a mount remains."""
        if not _plain_name(pod_uid):
            raise VolumeError("FailedUnMount", f"invalid pod uid {go_quote(pod_uid)}")
        async with self._lock(pod_uid):
            pod_dir = self.pod_dir(pod_uid)
            if not pod_dir.exists():
                return
            for point in self.mounter.mount_points_under(pod_dir):
                try:
                    self.mounter.unmount(point)
                except OSError as error:
                    raise teardown_failed(point.name, str(error)) from error
            remaining = self.mounter.mount_points_under(pod_dir)
            if remaining:
                raise teardown_failed(remaining[0].name, f"{remaining[0]} is still mounted")
            shutil.rmtree(pod_dir)
            log.v(2).info("Removed the pod's volumes", podUID=pod_uid)
            if self.tokens is not None:
                self.tokens.forget_pod(pod_uid)
        self._locks.pop(pod_uid, None)

    def _lock(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock
