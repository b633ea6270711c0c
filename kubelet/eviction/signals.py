"""Eviction signals and what the node shows of them (upstream eviction/api and makeSignalObservations).

An observation is (available, capacity, time) per signal, read from the /stats/summary document:
    memory.available     node.memory.availableBytes; capacity = available + workingSetBytes
    nodefs.available     node.fs.availableBytes / capacityBytes
    nodefs.inodesFree    node.fs.inodesFree / inodes
    imagefs.available    node.runtime.imageFs.availableBytes / capacityBytes
    imagefs.inodesFree   node.runtime.imageFs.inodesFree / inodes
    pid.available        node.rlimit.maxpid - curproc / maxpid
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeapi.quantity import Format, Quantity

MEMORY_AVAILABLE = "memory.available"
NODEFS_AVAILABLE = "nodefs.available"
NODEFS_INODES_FREE = "nodefs.inodesFree"
IMAGEFS_AVAILABLE = "imagefs.available"
IMAGEFS_INODES_FREE = "imagefs.inodesFree"
PID_AVAILABLE = "pid.available"
SIGNALS = (MEMORY_AVAILABLE, NODEFS_AVAILABLE, NODEFS_INODES_FREE, IMAGEFS_AVAILABLE, IMAGEFS_INODES_FREE,
           PID_AVAILABLE)  # fmt: skip

# The resource a signal starves (upstream signalToResource); "inodes" and "pids" are eviction-internal.
SIGNAL_RESOURCE = {
    MEMORY_AVAILABLE: "memory",
    NODEFS_AVAILABLE: "ephemeral-storage",
    NODEFS_INODES_FREE: "inodes",
    IMAGEFS_AVAILABLE: "ephemeral-storage",
    IMAGEFS_INODES_FREE: "inodes",
    PID_AVAILABLE: "pids",
}

# The node condition a signal drives (upstream signalToNodeCondition).
MEMORY_PRESSURE = "MemoryPressure"
DISK_PRESSURE = "DiskPressure"
PID_PRESSURE = "PIDPressure"
SIGNAL_CONDITION = {
    MEMORY_AVAILABLE: MEMORY_PRESSURE,
    NODEFS_AVAILABLE: DISK_PRESSURE,
    NODEFS_INODES_FREE: DISK_PRESSURE,
    IMAGEFS_AVAILABLE: DISK_PRESSURE,
    IMAGEFS_INODES_FREE: DISK_PRESSURE,
    PID_AVAILABLE: PID_PRESSURE,
}


@dataclass(frozen=True)
class Observation:
    available: Quantity
    capacity: Quantity
    time: float  # seconds since the epoch of the sample; 0 when unknown


Observations = dict[str, Observation]


def parse_time(value: Any) -> float:
    """An RFC 3339 time from the summary as epoch seconds (0 when absent or malformed)."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return 0.0
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _observe(available: int | None, capacity: int | None, time: Any, fmt: Format) -> Observation | None:
    if available is None or capacity is None:
        return None
    return Observation(Quantity.from_int(available, fmt), Quantity.from_int(capacity, fmt), parse_time(time))


def observations_from_summary(summary: Mapping[str, Any]) -> Observations:
    node = summary.get("node") or {}
    found: dict[str, Observation | None] = {}
    memory = node.get("memory") or {}
    available, working_set = _int(memory.get("availableBytes")), _int(memory.get("workingSetBytes"))
    if available is not None and working_set is not None:
        found[MEMORY_AVAILABLE] = _observe(
            available, available + working_set, memory.get("time"), Format.BINARY_SI
        )
    for prefix, fs in (("nodefs", node.get("fs")), ("imagefs", (node.get("runtime") or {}).get("imageFs"))):
        fs = fs or {}
        found[f"{prefix}.available"] = _observe(
            _int(fs.get("availableBytes")), _int(fs.get("capacityBytes")), fs.get("time"), Format.BINARY_SI
        )
        found[f"{prefix}.inodesFree"] = _observe(
            _int(fs.get("inodesFree")), _int(fs.get("inodes")), fs.get("time"), Format.DECIMAL_SI
        )
    rlimit = node.get("rlimit") or {}
    max_pid, running = _int(rlimit.get("maxpid")), _int(rlimit.get("curproc"))
    if max_pid is not None and running is not None:
        found[PID_AVAILABLE] = _observe(max_pid - running, max_pid, rlimit.get("time"), Format.DECIMAL_SI)
    return {signal: seen for signal, seen in found.items() if seen is not None}
