"""Stats: cgroup readers on both layouts (fake trees), CPU rates, the summary built from a fake CRI
runtime, /metrics/resource, and the real node's numbers on this machine (sane, not exact)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kubelet.cri.api import api_pb2
from kubelet.eviction import EvictionConfig, EvictionManager, parse_thresholds
from kubelet.stats import StatsProvider
from kubelet.stats.cgroups import Cgroups
from kubelet.stats.rates import CpuRates
from kubelet.stats.resource_metrics import render_resource_metrics

NOW = 1_800_000_000.0


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v1_layout(tmp_path: Path) -> None:
    pod = "kplane/podu1"
    write(tmp_path / "memory" / pod / "memory.usage_in_bytes", "1000000\n")
    stat = "cache 5\ntotal_inactive_file 300000\ntotal_rss 600000\ntotal_pgfault 42\ntotal_pgmajfault 2\n"
    write(tmp_path / "memory" / pod / "memory.stat", stat)
    write(tmp_path / "cpuacct" / pod / "cpuacct.usage", "123456789\n")
    write(tmp_path / "pids" / pod / "pids.current", "7\n")
    usage = Cgroups(tmp_path).usage(f"/{pod}")
    assert usage is not None
    assert (usage.memory_usage, usage.working_set, usage.rss) == (1_000_000, 700_000, 600_000)
    assert (usage.page_faults, usage.major_page_faults, usage.cpu_usage_ns, usage.pids) == (
        42,
        2,
        123456789,
        7,
    )
    assert Cgroups(tmp_path).usage("/missing") is None


def test_cgroup_v2_layout(tmp_path: Path) -> None:
    write(tmp_path / "cgroup.controllers", "cpu memory pids\n")
    pod = tmp_path / "kplane" / "podu1"
    write(pod / "memory.current", "2000000\n")
    write(pod / "memory.stat", "anon 1500000\nfile 400000\ninactive_file 250000\npgfault 9\npgmajfault 1\n")
    write(pod / "cpu.stat", "usage_usec 5000\nuser_usec 4000\nsystem_usec 1000\n")
    write(pod / "pids.current", "3\n")
    cgroups = Cgroups(tmp_path)
    assert cgroups.unified
    usage = cgroups.usage("kplane/podu1")
    assert usage is not None
    assert (usage.memory_usage, usage.working_set, usage.rss, usage.cpu_usage_ns, usage.pids) == (
        2_000_000, 1_750_000, 1_500_000, 5_000_000, 3,
    )  # fmt: skip


def test_cpu_rate_needs_two_samples_and_forgets_vanished_keys() -> None:
    rates = CpuRates()
    assert rates.rate("c", 1_000_000_000, 10 * 10**9) is None
    assert rates.rate("c", 1_500_000_000, 11 * 10**9) == 500_000_000, "half a core"
    assert rates.rate("c", 1_500_000_000, 11 * 10**9) is None, "the same sample twice"
    assert rates.rate("c", 100, 12 * 10**9) is None, "the counter restarted"
    rates.end_scrape()
    rates.end_scrape()
    assert rates.rate("c", 200, 13 * 10**9) is None, "forgotten after a scrape without it"


# ---- a fake runtime with one pod of one container ----


def u64(value: int) -> api_pb2.UInt64Value:
    return api_pb2.UInt64Value(value=value)


class FakeRuntime:
    def __init__(self, image_mount: str) -> None:
        self.image_mount = image_mount
        self.cpu_ns = 2_000_000_000
        self.stamp_ns = int(NOW * 1e9)

    async def list_pod_sandbox(self, filter: Any = None) -> list[Any]:
        labels = {
            "io.kubernetes.pod.name": "web",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": "u1",
        }
        metadata = api_pb2.PodSandboxMetadata(name="web", namespace="shop", uid="u1")
        created = int((NOW - 60) * 1e9)
        return [api_pb2.PodSandbox(id="s1", labels=labels, created_at=created, metadata=metadata)]

    async def list_containers(self, filter: Any = None) -> list[Any]:
        labels = {"io.kubernetes.container.name": "app"}
        created = int((NOW - 50) * 1e9)
        return [api_pb2.Container(id="c1", pod_sandbox_id="s1", created_at=created, labels=labels)]

    async def list_container_stats(self, filter: Any = None) -> list[Any]:
        attributes = api_pb2.ContainerAttributes(id="c1", labels={"io.kubernetes.container.name": "app"})
        return [
            api_pb2.ContainerStats(
                attributes=attributes,
                cpu=api_pb2.CpuUsage(timestamp=self.stamp_ns, usage_core_nano_seconds=u64(self.cpu_ns)),
                memory=api_pb2.MemoryUsage(
                    timestamp=self.stamp_ns, working_set_bytes=u64(30 * 2**20), usage_bytes=u64(40 * 2**20)
                ),
                writable_layer=api_pb2.FilesystemUsage(
                    timestamp=self.stamp_ns, used_bytes=u64(4096), inodes_used=u64(3)
                ),
            )
        ]

    async def list_pod_sandbox_stats(self, filter: Any = None) -> list[Any]:
        raise RuntimeError("ListPodSandboxStats: not implemented")

    async def image_fs_info(self) -> Any:
        usage = api_pb2.FilesystemUsage(fs_id=api_pb2.FilesystemIdentifier(mountpoint=self.image_mount),
                                        used_bytes=u64(5 * 2**20), inodes_used=u64(100))  # fmt: skip
        return api_pb2.ImageFsInfoResponse(image_filesystems=[usage])


def provider(tmp_path: Path, runtime: FakeRuntime, clock: list[float]) -> StatsProvider:
    logs = tmp_path / "pod-logs"
    write(logs / "shop_web_u1" / "app" / "0.log", "x" * 5000)
    return StatsProvider(
        runtime, node_name="node-1", root_dir=tmp_path, pod_logs_dir=logs, clock=lambda: clock[0]
    )


async def test_summary_of_a_pod_from_cri_and_its_logs(tmp_path: Path) -> None:
    runtime = FakeRuntime(str(tmp_path))
    clock = [NOW]
    stats = provider(tmp_path, runtime, clock)
    first = await stats.summary()
    assert "usageNanoCores" not in first["pods"][0]["containers"][0]["cpu"], "one sample is no rate"
    runtime.cpu_ns += 250_000_000
    runtime.stamp_ns += 10**9
    clock[0] += 1
    summary = await stats.summary()
    (pod,) = summary["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "shop", "uid": "u1"}
    (container,) = pod["containers"]
    assert container["name"] == "app"
    assert container["cpu"]["usageCoreNanoSeconds"] == 2_250_000_000
    assert container["cpu"]["usageNanoCores"] == 250_000_000
    assert container["memory"]["workingSetBytes"] == 30 * 2**20
    assert container["rootfs"] == {"time": container["rootfs"]["time"], "usedBytes": 4096, "inodesUsed": 3}
    assert container["logs"]["usedBytes"] >= 5000 and container["logs"]["inodesUsed"] == 2
    assert pod["memory"]["workingSetBytes"] == 30 * 2**20, "no sandbox stats, no cgroup: the containers' sum"
    assert pod["ephemeral-storage"]["usedBytes"] == 4096 + container["logs"]["usedBytes"]
    assert summary["node"]["runtime"]["imageFs"]["usedBytes"] == 5 * 2**20
    assert await stats.dedicated_image_fs() is False, "images share the kubelet root's filesystem here"


async def test_resource_metrics_text(tmp_path: Path) -> None:
    stats = provider(tmp_path, FakeRuntime(str(tmp_path)), [NOW])
    text = await stats.resource_metrics()
    assert "# TYPE node_cpu_usage_seconds_total counter" in text
    assert 'container_cpu_usage_seconds_total{container="app",namespace="shop",pod="web"} 2 ' in text
    assert (
        f'container_memory_working_set_bytes{{container="app",namespace="shop",pod="web"}} {30 * 2**20} '
        in text
    )
    assert 'pod_memory_working_set_bytes{namespace="shop",pod="web"}' in text
    assert "container_start_time_seconds" in text
    assert text.rstrip().endswith("scrape_error 0")
    assert render_resource_metrics({}, scrape_error=True).rstrip().endswith("scrape_error 1")


async def test_this_machines_node_stats_are_sane(tmp_path: Path) -> None:
    stats = StatsProvider(FakeRuntime("/"), node_name="node-1", root_dir=tmp_path)
    await stats.summary()
    await asyncio.sleep(0.05)
    node = (await stats.summary())["node"]
    memory, fs, rlimit = node["memory"], node["fs"], node["rlimit"]
    capacity = memory["availableBytes"] + memory["workingSetBytes"]
    assert 0 < memory["workingSetBytes"] <= memory["usageBytes"]
    assert 0 < memory["availableBytes"] <= capacity
    assert 0 <= fs["availableBytes"] <= fs["capacityBytes"] and 0 <= fs["inodesFree"] <= fs["inodes"]
    assert 0 < rlimit["curproc"] < rlimit["maxpid"]
    assert node["cpu"]["usageCoreNanoSeconds"] > 0 and node["cpu"]["usageNanoCores"] >= 0
    signals = await stats.node_signals()
    assert all(seen.available <= seen.capacity for seen in signals.values())
    assert set(signals) >= {"memory.available", "nodefs.available", "pid.available", "imagefs.available"}


async def test_eviction_manager_on_the_real_stats_provider(tmp_path: Path) -> None:
    stats = StatsProvider(FakeRuntime("/"), node_name="node-1", root_dir=tmp_path)
    killed: list[str] = []

    async def kill(pod: Any, message: str) -> None:
        killed.append(message)

    quiet = EvictionConfig(parse_thresholds(hard={"memory.available": "1Ki"}), 300.0, 0)
    manager = EvictionManager(quiet, stats, clock=lambda: NOW, kill_pod=kill, active_pods=list)
    assert await manager.synchronize() == []
    assert manager.conditions() == {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}
    # 99.9% of the pid limit free as the threshold: this machine is "under pressure" by construction.
    pressured = EvictionConfig(parse_thresholds(hard={"pid.available": "99.9%"}), 300, 0)
    pod = {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1"},
        "spec": {"containers": [{"name": "app"}]},
    }
    manager = EvictionManager(pressured, stats, clock=lambda: NOW, kill_pod=kill, active_pods=lambda: [pod])
    assert await manager.synchronize() == [pod]
    assert manager.conditions()["PIDPressure"] is True
    assert killed[0].startswith("The node was low on resource: pids. Threshold quantity: ")
