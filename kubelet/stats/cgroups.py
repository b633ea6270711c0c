"""Reading a cgroup's memory, cpu and pid counters on either layout.

cgroup v1 (this host): one hierarchy per controller, /sys/fs/cgroup/{memory,cpuacct,pids}/<path>.
cgroup v2 (unified): one tree, /sys/fs/cgroup/<path>, with memory.current, memory.stat, cpu.stat,
pids.current. Working set is usage minus inactive file pages, as cadvisor computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CgroupUsage:
    memory_usage: int | None = None
    working_set: int | None = None
    rss: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    cpu_usage_ns: int | None = None
    pids: int | None = None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_stat(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


class Cgroups:
    def __init__(self, root: Path = Path("/sys/fs/cgroup")) -> None:
        self.root = root
        self.unified = (root / "cgroup.controllers").exists()

    def usage(self, path: str) -> CgroupUsage | None:
        """The counters of the cgroup at `path` ("/" for the root), or None when it does not exist."""
        relative = path.strip("/")
        return self._v2(relative) if self.unified else self._v1(relative)

    def _v1(self, relative: str) -> CgroupUsage | None:
        memory_dir = self.root / "memory" / relative
        if not memory_dir.is_dir():
            return None
        usage = _read_int(memory_dir / "memory.usage_in_bytes")
        stat = _read_stat(memory_dir / "memory.stat")
        inactive = stat.get("total_inactive_file", 0)
        return CgroupUsage(
            memory_usage=usage,
            working_set=None if usage is None else max(usage - inactive, 0),
            rss=stat.get("total_rss"),
            page_faults=stat.get("total_pgfault"),
            major_page_faults=stat.get("total_pgmajfault"),
            cpu_usage_ns=_read_int(self.root / "cpuacct" / relative / "cpuacct.usage"),
            pids=_read_int(self.root / "pids" / relative / "pids.current"),
        )

    def _v2(self, relative: str) -> CgroupUsage | None:
        directory = self.root / relative
        if not directory.is_dir():
            return None
        usage = _read_int(directory / "memory.current")
        stat = _read_stat(directory / "memory.stat")
        cpu = _read_stat(directory / "cpu.stat")
        usec = cpu.get("usage_usec")
        return CgroupUsage(
            memory_usage=usage,
            working_set=None if usage is None else max(usage - stat.get("inactive_file", 0), 0),
            rss=stat.get("anon"),
            page_faults=stat.get("pgfault"),
            major_page_faults=stat.get("pgmajfault"),
            cpu_usage_ns=None if usec is None else usec * 1000,
            pids=_read_int(directory / "pids.current"),
        )
