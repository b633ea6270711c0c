"""The node's own numbers, read from the kernel: memory, cpu, filesystems and pid limits.

Memory comes from the root memory cgroup when it has counters (cgroup v1), else from /proc/meminfo
and /proc/vmstat (the v2 root has no memory.current); capacity is MemTotal and available is
capacity minus working set, as upstream's summary. CPU is the root cpuacct (v1) or /proc/stat.
PIDs: the limit is min(pid_max, threads-max) and the count is the kernel's task total (the 4th
field of /proc/loadavg), as upstream's pidlimit.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from kubelet.stats.cgroups import Cgroups

USER_HZ = 100  # /proc/stat counts in clock ticks of 1/100 s on Linux


@dataclass(frozen=True)
class MemorySample:
    capacity: int
    usage: int
    working_set: int
    rss: int
    page_faults: int
    major_page_faults: int

    @property
    def available(self) -> int:
        return max(self.capacity - self.working_set, 0)


@dataclass(frozen=True)
class FsSample:
    capacity: int
    available: int
    used: int
    inodes: int
    inodes_free: int


def _meminfo(proc: Path) -> dict[str, int]:
    values = {}
    for line in (proc / "meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return values


def _vmstat(proc: Path) -> dict[str, int]:
    try:
        pairs = (line.split() for line in (proc / "vmstat").read_text().splitlines())
    except OSError:
        return {}
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}


def read_memory(proc: Path, cgroups: Cgroups) -> MemorySample:
    info = _meminfo(proc)
    capacity = info.get("MemTotal", 0)
    root = cgroups.usage("/")
    if root is not None and root.memory_usage is not None and root.working_set is not None:
        return MemorySample(
            capacity, root.memory_usage, root.working_set, root.rss or 0, root.page_faults or 0,
            root.major_page_faults or 0,
        )  # fmt: skip
    usage = capacity - info.get("MemFree", 0)
    working_set = max(usage - info.get("Inactive(file)", 0), 0)
    vm = _vmstat(proc)
    return MemorySample(
        capacity, usage, working_set, info.get("AnonPages", 0), vm.get("pgfault", 0), vm.get("pgmajfault", 0)
    )


def read_cpu_usage_ns(proc: Path, cgroups: Cgroups) -> int:
    root = cgroups.usage("/")
    if root is not None and root.cpu_usage_ns is not None:
        return root.cpu_usage_ns
    fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
    # user nice system (idle iowait) irq softirq steal: busy time, without idle and iowait
    busy = sum(int(value) for index, value in enumerate(fields[:8]) if index not in (3, 4))
    return busy * (10**9 // USER_HZ)


def read_fs(path: Path | str) -> FsSample:
    info = os.statvfs(path)
    capacity = info.f_blocks * info.f_frsize
    available = info.f_bavail * info.f_frsize
    used = (info.f_blocks - info.f_bfree) * info.f_frsize
    return FsSample(capacity, available, used, info.f_files, info.f_ffree)


def read_pids(proc: Path) -> tuple[int, int]:
    """(max pids, running tasks)."""
    limits = []
    for name in ("pid_max", "threads-max"):
        with contextlib.suppress(OSError, ValueError):
            limits.append(int((proc / "sys" / "kernel" / name).read_text()))
    running = int((proc / "loadavg").read_text().split()[3].split("/")[1])
    return min(limits) if limits else 0, running


def cpu_count() -> int:
    return os.cpu_count() or 1
