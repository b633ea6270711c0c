"""The VolumeManager against a fake apiserver and a fake mounter: every volume type, updates, errors,
tear-down. (Real tmpfs mounts: test_volumes_tmpfs.py.)"""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers.fake_client import FakeClient

from kubeclient.errors import TransportError
from kubelet.volumes.errors import VolumeError
from kubelet.volumes.manager import (
    CONFIG_MAP,
    EMPTY_DIR,
    PROJECTED,
    SECRET,
    PodVolume,
    VolumeManager,
    memory_backed_size,
)
from kubelet.volumes.mounter import under

UID = "11111111-2222"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeMounter:
    def __init__(self) -> None:
        self.mounted: dict[Path, int | None] = {}
        self.fail_unmount = False

    def mount_tmpfs(self, target: Path, size_bytes: int | None) -> None:
        self.mounted[target] = size_bytes

    def unmount(self, target: Path) -> None:
        if self.fail_unmount:
            raise OSError(16, "Device or resource busy")
        del self.mounted[target]

    def mount_points_under(self, root: Path) -> list[Path]:
        return under([str(p) for p in self.mounted], root)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def config_map(name: str, data: dict[str, str], namespace: str = "ns") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def secret(name: str, data: dict[str, str], namespace: str = "ns") -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": encoded,
    }


def pod(*volumes: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": UID, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app"}], "volumes": list(volumes), **spec},
    }


class Tokens:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[Any, ...]] = []

    async def __call__(
        self, namespace: str, sa: str, audiences: list[str], seconds: int, pod: str, uid: str
    ) -> tuple[str, datetime]:
        self.calls.append((namespace, sa, tuple(audiences), seconds, pod, uid))
        return f"jwt-{len(self.calls)}", self.clock.now + timedelta(seconds=seconds)


@pytest.fixture
def client() -> FakeClient:
    return FakeClient([config_map("cfg", {"a": "1", "b": "2"}), secret("creds", {"password": "hunter2"})])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> Tokens:
    return Tokens(clock)


@pytest.fixture
def mounter() -> FakeMounter:
    return FakeMounter()


@pytest.fixture
def manager(
    tmp_path: Path, client: FakeClient, tokens: Tokens, mounter: FakeMounter, clock: Clock
) -> Iterator[VolumeManager]:
    yield VolumeManager(
        tmp_path / "pods",
        client,
        tokens,
        "node-1",
        mounter=mounter,
        node_allocatable={"memory": "4Gi", "cpu": "2"},
        now=clock,
    )


def vol_dir(tmp_path: Path, plugin: str, name: str) -> Path:
    return tmp_path / "pods" / UID / "volumes" / plugin / name


async def test_empty_dir_is_a_world_writable_directory(manager: VolumeManager, tmp_path: Path) -> None:
    volumes = await manager.set_up(pod({"name": "scratch", "emptyDir": {}}))
    path = vol_dir(tmp_path, EMPTY_DIR, "scratch")
    assert volumes == {"scratch": PodVolume("scratch", EMPTY_DIR, path, False, False, True)}
    assert path.stat().st_mode & 0o777 == 0o777
    assert (tmp_path / "pods" / UID / "plugins").is_dir()


async def test_empty_dir_content_survives_syncs(manager: VolumeManager, tmp_path: Path) -> None:
    spec = pod({"name": "scratch"})  # no source at all: the API's default is emptyDir
    await manager.set_up(spec)
    (vol_dir(tmp_path, EMPTY_DIR, "scratch") / "kept").write_text("x")
    await manager.set_up(spec)
    assert (vol_dir(tmp_path, EMPTY_DIR, "scratch") / "kept").read_text() == "x"


async def test_memory_empty_dir_is_a_tmpfs_sized_by_its_limit(
    manager: VolumeManager, mounter: FakeMounter, tmp_path: Path
) -> None:
    volumes = await manager.set_up(
        pod({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}})
    )
    path = vol_dir(tmp_path, EMPTY_DIR, "shm")
    assert volumes["shm"].is_tmpfs
    assert mounter.mounted == {path: 64 * 2**20}
    await manager.set_up(pod({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}))
    assert len(mounter.mounted) == 1  # mounted once


def test_memory_backed_size_is_the_smallest_of_node_pod_and_volume() -> None:
    limited = {"spec": {"containers": [{"resources": {"limits": {"memory": "256Mi"}}}]}}
    unlimited = {"spec": {"containers": [{"resources": {"limits": {"memory": "256Mi"}}}, {}]}}
    assert memory_backed_size(limited, None, 2**30) == 256 * 2**20
    assert memory_backed_size(limited, "1Gi", 2**32) == 256 * 2**20  # the volume may not exceed the pod
    assert memory_backed_size(limited, "1Mi", 2**32) == 2**20
    assert memory_backed_size(unlimited, None, 2**30) == 2**30
    assert memory_backed_size(unlimited, None, None) is None


async def test_host_path_types(manager: VolumeManager, tmp_path: Path) -> None:
    made_dir, made_file = tmp_path / "host" / "d", tmp_path / "host" / "sub" / "f"
    sock_path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        volumes = await manager.set_up(
            pod(
                {"name": "d", "hostPath": {"path": str(made_dir), "type": "DirectoryOrCreate"}},
                {"name": "f", "hostPath": {"path": str(made_file), "type": "FileOrCreate"}},
                {"name": "s", "hostPath": {"path": str(sock_path), "type": "Socket"}},
                {"name": "any", "hostPath": {"path": str(tmp_path / "nothing-here")}},
                {"name": "null", "hostPath": {"path": "/dev/null", "type": "CharDevice"}},
            )
        )
    finally:
        sock.close()
    assert made_dir.is_dir() and made_dir.stat().st_mode & 0o777 == 0o755
    assert made_file.is_file() and made_file.stat().st_mode & 0o777 == 0o644
    assert volumes["s"].host_path == sock_path
    assert not volumes["d"].read_only and not volumes["d"].selinux_relabel


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("Directory", "missing", "hostPath type check failed: {p} does not exist"),
        ("Directory", "file", "hostPath type check failed: {p} is not a directory"),
        ("File", "dir", "hostPath type check failed: {p} is not a file"),
        ("File", "missing", "hostPath type check failed: {p} does not exist"),
        ("Socket", "file", "hostPath type check failed: {p} is not a socket file"),
        ("CharDevice", "file", "hostPath type check failed: {p} is not a character device"),
        ("BlockDevice", "missing", "hostPath type check failed: {p} is not a block device"),
        ("Weird", "file", "Weird is an invalid volume type"),
    ],
)
async def test_host_path_checks_fail_naming_the_path(
    manager: VolumeManager, tmp_path: Path, kind: str, target: str, message: str
) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    path = tmp_path / target
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "h", "hostPath": {"path": str(path), "type": kind}}))
    assert error.value.reason == "FailedMount"
    assert error.value.message == 'MountVolume.SetUp failed for volume "h" : ' + message.format(p=path)


async def test_host_path_with_backsteps_is_refused(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "h", "hostPath": {"path": "/var/../etc"}}))
    assert error.value.message.endswith("invalid HostPath `/var/../etc`: must not contain '..'")


async def test_config_map_volume_files_modes_and_read_only(manager: VolumeManager, tmp_path: Path) -> None:
    volumes = await manager.set_up(
        pod(
            {
                "name": "conf",
                "configMap": {
                    "name": "cfg",
                    "defaultMode": 0o640,
                    "items": [{"key": "a", "path": "dir/a.conf"}],
                },
            }
        )
    )
    path = vol_dir(tmp_path, CONFIG_MAP, "conf")
    assert volumes["conf"] == PodVolume("conf", CONFIG_MAP, path, True, False, True)
    assert (path / "dir" / "a.conf").read_text() == "1"
    assert (path / "dir" / "a.conf").stat().st_mode & 0o777 == 0o640
    assert not (path / "b").exists()


async def test_config_map_updates_propagate_atomically(
    manager: VolumeManager, client: FakeClient, tmp_path: Path
) -> None:
    spec = pod({"name": "conf", "configMap": {"name": "cfg"}})
    await manager.set_up(spec)
    path = vol_dir(tmp_path, CONFIG_MAP, "conf")
    first = os.readlink(path / "..data")
    await manager.set_up(spec)
    assert os.readlink(path / "..data") == first  # nothing changed, nothing written

    await client.update("configmaps", config_map("cfg", {"a": "10", "c": "3"}), namespace="ns")
    await manager.set_up(spec)
    assert os.readlink(path / "..data") != first
    assert not (path / first).exists()
    assert (path / "a").read_text() == "10"
    assert (path / "c").read_text() == "3"
    assert not (path / "b").exists()


async def test_a_missing_config_map_fails_the_mount_with_upstreams_message(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "cfg", "configMap": {"name": "x"}}))
    assert (error.value.reason, error.value.message) == (
        "FailedMount",
        'MountVolume.SetUp failed for volume "cfg" : configmap "x" not found',
    )


async def test_optional_sources_that_are_missing_give_empty_volumes_and_skip_keys(
    manager: VolumeManager, tmp_path: Path
) -> None:
    await manager.set_up(
        pod(
            {"name": "c", "configMap": {"name": "x", "optional": True}},
            {"name": "s", "secret": {"secretName": "x", "optional": True}},
            {
                "name": "k",
                "configMap": {"name": "cfg", "optional": True, "items": [{"key": "zz", "path": "zz"}]},
            },
        )
    )
    for plugin, name in ((CONFIG_MAP, "c"), (SECRET, "s"), (CONFIG_MAP, "k")):
        path = vol_dir(tmp_path, plugin, name)
        assert (path / "..data").is_symlink()
        assert [p for p in os.listdir(path) if not p.startswith("..")] == []


async def test_every_volume_is_tried_and_all_failures_reported(
    manager: VolumeManager, tmp_path: Path
) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(
            pod(
                {"name": "one", "configMap": {"name": "gone"}},
                {"name": "ok", "emptyDir": {}},
                {"name": "two", "secret": {"secretName": "gone"}},
            )
        )
    assert [e.message for e in error.value.all_errors] == [
        'MountVolume.SetUp failed for volume "one" : configmap "gone" not found',
        'MountVolume.SetUp failed for volume "two" : secret "gone" not found',
    ]
    assert vol_dir(tmp_path, EMPTY_DIR, "ok").is_dir()


async def test_an_unreachable_apiserver_fails_the_mount(manager: VolumeManager, client: FakeClient) -> None:
    client.fail_next("get", "configmaps", TransportError("GET /api/v1/...: connection refused"))
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "cfg", "configMap": {"name": "cfg"}}))
    assert error.value.message.endswith(": GET /api/v1/...: connection refused")


async def test_secret_volume_is_a_tmpfs_with_decoded_files(
    manager: VolumeManager, mounter: FakeMounter, tmp_path: Path
) -> None:
    volumes = await manager.set_up(
        pod({"name": "s", "secret": {"secretName": "creds", "defaultMode": 0o400}})
    )
    path = vol_dir(tmp_path, SECRET, "s")
    assert volumes["s"].is_tmpfs and volumes["s"].read_only
    assert path in mounter.mounted
    assert mounter.mounted[path] == 4 * 2**30  # node allocatable memory: the pod has no limit
    assert (path / "password").read_text() == "hunter2"
    assert (path / "password").stat().st_mode & 0o777 == 0o400


async def test_secret_missing_key_in_items(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(
            pod({"name": "s", "secret": {"secretName": "creds", "items": [{"key": "k", "path": "k"}]}})
        )
    assert (
        error.value.message
        == 'MountVolume.SetUp failed for volume "s" : references non-existent secret key: k'
    )


async def test_downward_api_volume(manager: VolumeManager, tmp_path: Path) -> None:
    spec = pod(
        {
            "name": "info",
            "downwardAPI": {
                "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {
                        "path": "cpu",
                        "resourceFieldRef": {
                            "containerName": "app",
                            "resource": "limits.cpu",
                            "divisor": "1m",
                        },
                    },
                ]
            },
        }
    )
    await manager.set_up(spec)
    path = vol_dir(tmp_path, "kubernetes.io~downward-api", "info")
    assert (path / "labels").read_text() == 'app="web"'
    assert (path / "cpu").read_text() == "2000"  # no limit: the node's allocatable 2 cpus
    spec["metadata"]["labels"]["tier"] = "front"
    await manager.set_up(spec)
    assert (path / "labels").read_text() == 'app="web"\ntier="front"'


def kube_api_access(expiration: int = 3607) -> dict[str, Any]:
    """The volume the ServiceAccount admission plugin injects."""
    return {
        "name": "kube-api-access-abcde",
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": expiration, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


async def test_kube_api_access_projected_volume(
    manager: VolumeManager,
    client: FakeClient,
    tokens: Tokens,
    mounter: FakeMounter,
    tmp_path: Path,
    clock: Clock,
) -> None:
    client.add(config_map("kube-root-ca.crt", {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}))
    spec = pod(kube_api_access(), serviceAccountName="builder")
    volumes = await manager.set_up(spec)
    path = vol_dir(tmp_path, PROJECTED, "kube-api-access-abcde")
    assert volumes["kube-api-access-abcde"].is_tmpfs and path in mounter.mounted
    assert (path / "token").read_text() == "jwt-1"
    assert (path / "ca.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (path / "namespace").read_text() == "ns"
    assert (path / "token").stat().st_mode & 0o777 == 0o644
    assert tokens.calls == [("ns", "builder", (), 3607, "web", UID)]

    clock.now = T0 + timedelta(seconds=2000)
    await manager.set_up(spec)
    assert (path / "token").read_text() == "jwt-1"  # not yet at 80 % of the lifetime
    clock.now = T0 + timedelta(seconds=3000)
    await manager.set_up(spec)
    assert (path / "token").read_text() == "jwt-2"


async def test_projected_token_with_an_audience_and_fs_group_is_0600_then_group_readable(
    manager: VolumeManager, tokens: Tokens, tmp_path: Path
) -> None:
    spec = pod(
        {
            "name": "vault",
            "projected": {"sources": [{"serviceAccountToken": {"audience": "vault", "path": "vault-token"}}]},
        },
        securityContext={"fsGroup": 1234},
    )
    await manager.set_up(spec)
    token = vol_dir(tmp_path, PROJECTED, "vault") / "vault-token"
    assert token.stat().st_mode & 0o777 == 0o640
    assert token.stat().st_gid == 1234
    assert tokens.calls == [("ns", "default", ("vault",), 3600, "web", UID)]


async def test_projected_sources_report_their_errors_together(manager: VolumeManager) -> None:
    spec = pod(
        {
            "name": "p",
            "projected": {"sources": [{"configMap": {"name": "nope"}}, {"secret": {"name": "nada"}}]},
        }
    )
    with pytest.raises(VolumeError) as error:
        await manager.set_up(spec)
    assert error.value.message == (
        'MountVolume.SetUp failed for volume "p" : [configmap "nope" not found, secret "nada" not found]'
    )


async def test_fs_group_owns_empty_dirs_and_config_maps(manager: VolumeManager, tmp_path: Path) -> None:
    spec = pod(
        {"name": "scratch", "emptyDir": {}},
        {"name": "conf", "configMap": {"name": "cfg"}},
        securityContext={"fsGroup": 2000},
    )
    await manager.set_up(spec)
    scratch = vol_dir(tmp_path, EMPTY_DIR, "scratch").stat()
    assert scratch.st_gid == 2000 and scratch.st_mode & 0o2000
    conf = vol_dir(tmp_path, CONFIG_MAP, "conf") / "a"
    assert conf.stat().st_gid == 2000 and conf.stat().st_mode & 0o777 == 0o644


async def test_persistent_volume_claims_are_not_supported_yet(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "data", "persistentVolumeClaim": {"claimName": "pvc"}}))
    assert error.value.message == (
        'MountVolume.SetUp failed for volume "data" : '
        'unsupported volume type "persistentVolumeClaim": kplane\'s kubelet does not mount it yet'
    )


async def test_without_an_api_client_config_maps_cannot_be_mounted(tmp_path: Path) -> None:
    manager = VolumeManager(tmp_path / "pods", None, mounter=FakeMounter())
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "c", "configMap": {"name": "cfg"}}))
    assert error.value.message.endswith(
        "cannot setup configMap volume cfg because kube client is not configured"
    )


async def test_tear_down_unmounts_deepest_first_and_removes_the_pod_dir(
    manager: VolumeManager, mounter: FakeMounter, tmp_path: Path
) -> None:
    await manager.set_up(
        pod(
            {"name": "s", "secret": {"secretName": "creds"}},
            {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        )
    )
    assert manager.pods_on_disk() == {UID}
    assert len(mounter.mounted) == 2
    await manager.tear_down(UID)
    assert mounter.mounted == {}
    assert not (tmp_path / "pods" / UID).exists()
    assert manager.pods_on_disk() == set()
    await manager.tear_down(UID)  # again: nothing to do


async def test_tear_down_removes_nothing_while_a_mount_remains(
    manager: VolumeManager, mounter: FakeMounter, tmp_path: Path
) -> None:
    await manager.set_up(pod({"name": "s", "secret": {"secretName": "creds"}}))
    mounter.fail_unmount = True
    with pytest.raises(VolumeError) as error:
        await manager.tear_down(UID)
    assert error.value.reason == "FailedUnMount"
    assert "Device or resource busy" in error.value.message
    assert (vol_dir(tmp_path, SECRET, "s") / "password").exists()


async def test_tear_down_refuses_uids_that_are_paths(manager: VolumeManager) -> None:
    for uid in ("", "..", "a/b"):
        with pytest.raises(VolumeError):
            await manager.tear_down(uid)


def test_pods_on_disk_before_anything_exists(manager: VolumeManager) -> None:
    assert manager.pods_on_disk() == set()


async def test_bad_input_is_a_clear_error_not_a_traceback(manager: VolumeManager) -> None:
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "lots"}}))
    assert error.value.message.startswith('MountVolume.SetUp failed for volume "shm" : quantities must match')
    with pytest.raises(VolumeError) as error:
        await manager.set_up(pod({"name": "../escape", "emptyDir": {}}))
    assert error.value.message == 'MountVolume.SetUp failed for volume "../escape" : invalid volume name'
    with pytest.raises(VolumeError, match="invalid pod uid"):
        await manager.set_up({"metadata": {"uid": "../x"}, "spec": {}})
