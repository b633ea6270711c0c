"""Real tmpfs mounts (needs root, which the test machine is): secret and memory emptyDir volumes are
tmpfs with the asked size, and tear-down unmounts them. Whatever a test mounted is unmounted after it,
even when it fails."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fake_client import FakeClient

from kubelet.volumes.manager import EMPTY_DIR, SECRET, VolumeManager
from kubelet.volumes.mounter import LinuxMounter, parse_mountinfo

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting tmpfs needs root")


def mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, options) from /proc/self/mounts."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        out.append((fields[1].replace("\\040", " "), fields[2], fields[3]))
    return out


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    mounter = LinuxMounter()
    for point in mounter.mount_points_under(tmp_path):
        mounter.unmount(point)


def test_parse_mountinfo_unescapes_spaces() -> None:
    line = r"36 35 98:0 / /mnt/with\040space rw,noatime shared:1 - tmpfs tmpfs rw"
    assert parse_mountinfo(line + "\n") == ["/mnt/with space"]


async def test_secret_and_memory_volumes_are_tmpfs_and_torn_down(root: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "ns"},
        "data": {"password": base64.b64encode(b"hunter2").decode()},
    }
    manager = VolumeManager(root / "pods", FakeClient([secret]), mounter=LinuxMounter())
    pod = {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-tmpfs"},
        "spec": {
            "containers": [{"name": "app"}],
            "volumes": [
                {"name": "s", "secret": {"secretName": "creds"}},
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
            ],
        },
    }
    volumes = await manager.set_up(pod)
    secret_dir = root / "pods" / "u-tmpfs" / "volumes" / SECRET / "s"
    shm_dir = root / "pods" / "u-tmpfs" / "volumes" / EMPTY_DIR / "shm"
    table = {point: (fstype, options) for point, fstype, options in mounts()}
    assert table[str(secret_dir)][0] == "tmpfs"
    assert table[str(shm_dir)][0] == "tmpfs"
    assert "size=8192k" in table[str(shm_dir)][1].split(",")
    assert (secret_dir / "password").read_text() == "hunter2"
    assert volumes["s"].is_tmpfs and volumes["shm"].is_tmpfs

    await manager.set_up(pod)  # a second sync mounts nothing new
    assert [p for p, _, _ in mounts()].count(str(secret_dir)) == 1

    await manager.tear_down("u-tmpfs")
    assert not any(p.startswith(str(root)) for p, _, _ in mounts())
    assert not (root / "pods" / "u-tmpfs").exists()
