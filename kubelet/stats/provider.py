"""The kubelet's stats: /stats/summary (upstream statsapi.Summary JSON), /metrics/resource, and the
node signals the eviction manager reads.

    stats = StatsProvider(runtime, node_name="node-1", root_dir=Path("/var/lib/kubelet"),
                          pod_logs_dir=Path("/var/log/pods"))
    await stats.summary(); await stats.resource_metrics(); await stats.node_signals()

Node numbers come from the kernel (see node.py); pods and containers from CRI: ListPodSandbox for
the pods, ListContainers + ListContainerStats for cpu, memory and writable layers, the pod log
directory for logs. Pod cpu/memory/processes come from the pod's cgroup when `pod_cgroup(uid)` names
one that exists, else the sum of the containers, with ListPodSandboxStats' memory and process count
when the runtime has it (here, containerd 1.6 on cgroup v1 counted 1 process for pause + httpd).
Times are RFC 3339 with nanoseconds like upstream's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from componentbase.klog import get_logger
from kubelet.cri.api import api_pb2
from kubelet.eviction.signals import Observations, observations_from_summary
from kubelet.stats import node as node_stats
from kubelet.stats.cgroups import Cgroups, CgroupUsage
from kubelet.stats.rates import CpuRates
from kubelet.stats.resource_metrics import render_resource_metrics

log = get_logger(__name__)

POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


class StatsRuntime(Protocol):
    async def list_pod_sandbox(self, filter: Any = None) -> list[Any]: ...
    async def list_containers(self, filter: Any = None) -> list[Any]: ...
    async def list_container_stats(self, filter: Any = None) -> list[Any]: ...
    async def list_pod_sandbox_stats(self, filter: Any = None) -> list[Any]: ...
    async def image_fs_info(self) -> Any: ...


def rfc3339(seconds: float) -> str:
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(seconds % 1 * 1e9) % 10**9:09d}Z"


def _value(wrapper: Any) -> int | None:
    """A CRI UInt64Value field, None when unset."""
    return int(wrapper.value) if wrapper is not None and wrapper.ByteSize() else None


def _dir_usage(path: Path) -> tuple[int, int]:
    """(bytes, inodes) under a directory, like `du`: what the pod's logs take."""
    used, inodes = 0, 0
    for directory, _dirs, files in os.walk(path):
        inodes += 1 + len(files)
        for name in files:
            try:
                used += os.lstat(os.path.join(directory, name)).st_blocks * 512
            except OSError:
                continue
    return used, inodes


def _fs_json(sample: node_stats.FsSample, stamp: str) -> dict[str, Any]:
    return {
        "time": stamp,
        "availableBytes": sample.available,
        "capacityBytes": sample.capacity,
        "usedBytes": sample.used,
        "inodesFree": sample.inodes_free,
        "inodes": sample.inodes,
        "inodesUsed": sample.inodes - sample.inodes_free,
    }


class StatsProvider:
    def __init__(
        self,
        runtime: StatsRuntime,
        *,
        node_name: str,
        root_dir: Path,
        pod_logs_dir: Path = Path("/var/log/pods"),
        cgroups: Cgroups | None = None,
        proc: Path = Path("/proc"),
        pod_cgroup: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.node_name = node_name
        self.root_dir = root_dir
        self.pod_logs_dir = pod_logs_dir
        self.cgroups = cgroups or Cgroups()
        self.proc = proc
        self.pod_cgroup = pod_cgroup
        self.clock = clock
        self.start_time = clock()
        self._rates = CpuRates()
        self._sandbox_stats_supported = True
        self._image_fs_mount: str | None = None

    # ---- node ----

    def _node(self, now: float) -> dict[str, Any]:
        stamp = rfc3339(now)
        now_ns = int(now * 1e9)
        memory = node_stats.read_memory(self.proc, self.cgroups)
        cpu_ns = node_stats.read_cpu_usage_ns(self.proc, self.cgroups)
        cpu: dict[str, Any] = {"time": stamp, "usageCoreNanoSeconds": cpu_ns}
        nanocores = self._rates.rate("node", cpu_ns, now_ns)
        if nanocores is not None:
            cpu["usageNanoCores"] = nanocores
        max_pid, running = node_stats.read_pids(self.proc)
        return {
            "nodeName": self.node_name,
            "startTime": rfc3339(self.start_time),
            "cpu": cpu,
            "memory": {
                "time": stamp,
                "availableBytes": memory.available,
                "usageBytes": memory.usage,
                "workingSetBytes": memory.working_set,
                "rssBytes": memory.rss,
                "pageFaults": memory.page_faults,
                "majorPageFaults": memory.major_page_faults,
            },
            "fs": _fs_json(node_stats.read_fs(self.root_dir), stamp),
            "rlimit": {"time": stamp, "maxpid": max_pid, "curproc": running},
        }

    async def _image_fs(self, stamp: str) -> dict[str, Any] | None:
        """The image filesystem: statvfs of containerd's image store mount, used bytes from CRI."""
        try:
            info = await self.runtime.image_fs_info()
        except Exception as error:
            log.v(2).info("ImageFsInfo failed", err=error)
            return None
        filesystems = list(info.image_filesystems)
        if not filesystems:
            return None
        usage = filesystems[0]
        mount = usage.fs_id.mountpoint
        self._image_fs_mount = mount or None
        try:
            sample = node_stats.read_fs(mount) if mount else node_stats.read_fs(self.root_dir)
        except OSError:
            return None
        result = _fs_json(sample, stamp)
        used, inodes_used = _value(usage.used_bytes), _value(usage.inodes_used)
        if used is not None:
            result["usedBytes"] = used
        if inodes_used is not None:
            result["inodesUsed"] = inodes_used
        return result

    async def dedicated_image_fs(self) -> bool:
        """Whether images live on another filesystem than the kubelet's root dir."""
        if self._image_fs_mount is None:
            await self._image_fs(rfc3339(self.clock()))
        if not self._image_fs_mount:
            return False
        try:
            return os.stat(self._image_fs_mount).st_dev != os.stat(self.root_dir).st_dev
        except OSError:
            return False

    # ---- pods ----

    def _container_json(self, stats: Any, started: float, log_dir: Path | None, now: float) -> dict[str, Any]:
        attributes = stats.attributes
        name = attributes.labels.get(CONTAINER_NAME) or attributes.metadata.name
        result: dict[str, Any] = {"name": name, "startTime": rfc3339(started)}
        if stats.HasField("cpu"):
            usage = _value(stats.cpu.usage_core_nano_seconds)
            sample_ns = int(stats.cpu.timestamp) or int(now * 1e9)
            cpu: dict[str, Any] = {"time": rfc3339(sample_ns / 1e9)}
            if usage is not None:
                cpu["usageCoreNanoSeconds"] = usage
                nanocores = _value(stats.cpu.usage_nano_cores)
                computed = self._rates.rate(f"container/{attributes.id}", usage, sample_ns)
                if nanocores is None or nanocores == 0:
                    nanocores = computed
                if nanocores is not None:
                    cpu["usageNanoCores"] = nanocores
            result["cpu"] = cpu
        if stats.HasField("memory"):
            memory = stats.memory
            result["memory"] = {
                "time": rfc3339((int(memory.timestamp) or int(now * 1e9)) / 1e9),
                **{
                    key: value
                    for key, value in (
                        ("workingSetBytes", _value(memory.working_set_bytes)),
                        ("availableBytes", _value(memory.available_bytes)),
                        ("usageBytes", _value(memory.usage_bytes)),
                        ("rssBytes", _value(memory.rss_bytes)),
                        ("pageFaults", _value(memory.page_faults)),
                        ("majorPageFaults", _value(memory.major_page_faults)),
                    )
                    if value is not None
                },
            }
        if stats.HasField("writable_layer"):
            layer = stats.writable_layer
            result["rootfs"] = {
                "time": rfc3339((int(layer.timestamp) or int(now * 1e9)) / 1e9),
                "usedBytes": _value(layer.used_bytes) or 0,
                "inodesUsed": _value(layer.inodes_used) or 0,
            }
        if log_dir is not None:
            used, inodes = _dir_usage(log_dir / name)
            result["logs"] = {"time": rfc3339(now), "usedBytes": used, "inodesUsed": inodes}
        return result

    async def _sandbox_stats(self) -> dict[str, Any]:
        if not self._sandbox_stats_supported:
            return {}
        try:
            items = await self.runtime.list_pod_sandbox_stats()
        except Exception as error:
            log.v(2).info("ListPodSandboxStats unavailable; using cgroups", err=error)
            self._sandbox_stats_supported = False
            return {}
        return {item.attributes.id: item for item in items}

    def _pod_totals(
        self, uid: str, containers: list[dict[str, Any]], now: float
    ) -> tuple[dict[str, Any], dict[str, Any], int | None]:
        """Pod cpu and memory (and process count) from its cgroup, or summed over its containers."""
        stamp = rfc3339(now)
        usage: CgroupUsage | None = None
        path = self.pod_cgroup(uid) if self.pod_cgroup else None
        if path:
            usage = self.cgroups.usage(path)
        if usage is not None and usage.cpu_usage_ns is not None:
            cpu: dict[str, Any] = {"time": stamp, "usageCoreNanoSeconds": usage.cpu_usage_ns}
            rate = self._rates.rate(f"pod/{uid}", usage.cpu_usage_ns, int(now * 1e9))
            if rate is not None:
                cpu["usageNanoCores"] = rate
            memory = {"time": stamp, "usageBytes": usage.memory_usage, "workingSetBytes": usage.working_set,
                      "rssBytes": usage.rss, "pageFaults": usage.page_faults,
                      "majorPageFaults": usage.major_page_faults}  # fmt: skip
            return cpu, {k: v for k, v in memory.items() if v is not None}, usage.pids
        cpu = {"time": stamp, "usageCoreNanoSeconds": 0}
        memory = {"time": stamp, "workingSetBytes": 0, "usageBytes": 0, "rssBytes": 0}
        for container in containers:
            for key in ("usageCoreNanoSeconds", "usageNanoCores"):
                if key in container.get("cpu", {}):
                    cpu[key] = cpu.get(key, 0) + container["cpu"][key]
            for key in ("workingSetBytes", "usageBytes", "rssBytes"):
                memory[key] += container.get("memory", {}).get(key, 0)
        return cpu, memory, None

    async def _pods(self, now: float) -> list[dict[str, Any]]:
        ready = api_pb2.PodSandboxStateValue(state=api_pb2.SANDBOX_READY)
        sandboxes = await self.runtime.list_pod_sandbox(api_pb2.PodSandboxFilter(state=ready))
        running = api_pb2.ContainerStateValue(state=api_pb2.CONTAINER_RUNNING)
        containers = await self.runtime.list_containers(api_pb2.ContainerFilter(state=running))
        container_stats = {s.attributes.id: s for s in await self.runtime.list_container_stats()}
        sandbox_stats = await self._sandbox_stats()
        by_sandbox: dict[str, list[Any]] = {}
        for container in containers:
            by_sandbox.setdefault(container.pod_sandbox_id, []).append(container)
        pods = []
        for sandbox in sandboxes:
            labels: Mapping[str, str] = sandbox.labels
            uid = labels.get(POD_UID) or sandbox.metadata.uid
            name = labels.get(POD_NAME) or sandbox.metadata.name
            namespace = labels.get(POD_NAMESPACE) or sandbox.metadata.namespace
            log_dir = self.pod_logs_dir / f"{namespace}_{name}_{uid}"
            container_json = [
                self._container_json(container_stats[c.id], c.created_at / 1e9, log_dir, now)
                for c in by_sandbox.get(sandbox.id, [])
                if c.id in container_stats
            ]
            cpu, memory, processes = self._pod_totals(uid, container_json, now)
            # containerd 1.6 on cgroup v1 undercounts here (1 process for pause + httpd), so the pod's
            # own cgroup wins when we can read it.
            pod_level = None if processes is not None else sandbox_stats.get(sandbox.id)
            if pod_level is not None and pod_level.linux.HasField("memory"):
                working_set = _value(pod_level.linux.memory.working_set_bytes)
                if working_set is not None:
                    memory["workingSetBytes"] = working_set
                if pod_level.linux.HasField("process"):
                    processes = _value(pod_level.linux.process.process_count)
            pod: dict[str, Any] = {
                "podRef": {"name": name, "namespace": namespace, "uid": uid},
                "startTime": rfc3339(sandbox.created_at / 1e9),
                "containers": container_json,
                "cpu": cpu,
                "memory": memory,
            }
            ephemeral = sum(
                c.get("rootfs", {}).get("usedBytes", 0) + c.get("logs", {}).get("usedBytes", 0)
                for c in container_json
            )
            pod["ephemeral-storage"] = {"time": rfc3339(now), "usedBytes": ephemeral}
            if processes is not None:
                pod["process_stats"] = {"process_count": processes}
            pods.append(pod)
        return pods

    # ---- the three views ----

    async def summary(self) -> dict[str, Any]:
        now = self.clock()
        node = self._node(now)
        image_fs = await self._image_fs(rfc3339(now))
        if image_fs is not None:
            node["runtime"] = {"imageFs": image_fs}
        try:
            pods = await self._pods(now)
        except Exception as error:
            log.error("Failed to list pod stats", err=error)
            pods = []
        self._rates.end_scrape()
        return {"node": node, "pods": pods}

    async def resource_metrics(self) -> str:
        try:
            return render_resource_metrics(await self.summary(), scrape_error=False)
        except Exception as error:
            log.error("Failed to collect resource metrics", err=error)
            return render_resource_metrics({"node": {}, "pods": []}, scrape_error=True)

    async def node_signals(self) -> Observations:
        return observations_from_summary(await self.summary())
