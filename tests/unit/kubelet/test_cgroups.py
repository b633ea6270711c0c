"""The pod cgroup hierarchy and limits, on a fake cgroup mount (v1 and v2 layouts, both drivers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelet.cgroups import CgroupManager, pod_cgroup_name, pod_limits, systemd_name


def make_pod(uid: str = "1234-abcd", **resources: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": resources}]},
    }


GUARANTEED = {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "500m", "memory": "64Mi"}}
BURSTABLE = {"requests": {"cpu": "250m"}}


def v1_mount(tmp_path: Path) -> Path:
    for controller in ("cpu", "cpuacct", "memory", "pids"):
        (tmp_path / controller).mkdir()
    return tmp_path


def v2_mount(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    return tmp_path


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        (GUARANTEED, "/kpl/kubepods/pod1234-abcd"),
        (BURSTABLE, "/kpl/kubepods/burstable/pod1234-abcd"),
        ({}, "/kpl/kubepods/besteffort/pod1234-abcd"),
    ],
)
def test_pods_go_under_their_qos_tier(resources: dict[str, Any], expected: str) -> None:
    assert pod_cgroup_name(make_pod(**resources), "/kpl", per_qos=True) == expected


def test_systemd_names_escape_dashes_and_nest_slices() -> None:
    assert systemd_name("/kubepods/burstable/pod12-34") == (
        "kubepods-burstable-pod12_34.slice",
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice",
    )


def test_pod_limits_sum_the_containers_and_need_every_limit() -> None:
    limits = pod_limits(make_pod(**GUARANTEED))
    assert (limits.cpu_shares, limits.cpu_quota, limits.memory_limit) == (512, 50_000, 64 * 2**20)
    assert pod_limits(make_pod(**BURSTABLE)).memory_limit == 0  # no memory limit: the pod is unbounded
    assert pod_limits(make_pod()).cpu_shares == 2


def test_cgroup_v1_files(tmp_path: Path) -> None:
    mount = v1_mount(tmp_path)
    manager = CgroupManager("/kpl", mount=mount)
    manager.ensure_qos_tiers()
    assert (mount / "cpu/kpl/kubepods/besteffort/cpu.shares").read_text() == "2"
    parent = manager.ensure_pod(make_pod(**GUARANTEED))
    assert parent == "/kpl/kubepods/pod1234-abcd"
    pod_dir = mount / "cpu/kpl/kubepods/pod1234-abcd"
    assert (pod_dir / "cpu.shares").read_text() == "512"
    assert (pod_dir / "cpu.cfs_quota_us").read_text() == "50000"
    assert (mount / "memory/kpl/kubepods/pod1234-abcd/memory.limit_in_bytes").read_text() == str(64 * 2**20)
    assert manager.pod_uids() == {"1234-abcd"}
    assert manager.pod_cgroup("1234-abcd") == "/kpl/kubepods/pod1234-abcd"


def test_cgroup_v2_files(tmp_path: Path) -> None:
    mount = v2_mount(tmp_path)
    manager = CgroupManager("/kpl", mount=mount)
    manager.ensure_pod(make_pod(**GUARANTEED))
    pod_dir = mount / "kpl/kubepods/pod1234-abcd"
    assert (pod_dir / "cpu.max").read_text() == "50000 100000"
    assert (pod_dir / "memory.max").read_text() == str(64 * 2**20)
    assert (pod_dir / "cpu.weight").read_text() == str(1 + ((512 - 2) * 9999) // 262142)
    manager.ensure_pod(make_pod(uid="u2", **BURSTABLE))
    assert (mount / "kpl/kubepods/burstable/podu2/memory.max").read_text() == "max"


def test_the_systemd_driver_hands_cri_a_slice_and_writes_limits_into_it(tmp_path: Path) -> None:
    mount = v2_mount(tmp_path)
    manager = CgroupManager("/", mount=mount, driver="systemd")
    parent = manager.ensure_pod(make_pod(**BURSTABLE))
    assert parent == "kubepods-burstable-pod1234_abcd.slice"
    slice_dir = mount / "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice"
    assert (slice_dir / "cpu.weight").exists()
    assert manager.pod_uids() == {"1234-abcd"}
    for file in slice_dir.iterdir():  # cgroupfs drops a cgroup's files with it; a plain directory does not
        file.unlink()
    manager.remove_pod("1234-abcd")
    assert not slice_dir.exists()
