"""The pod-level cgroup hierarchy upstream's container manager keeps (cgroupsPerQOS, cgroupfs driver):

    <cgroupRoot>/kubepods/pod<uid>                 Guaranteed pods
    <cgroupRoot>/kubepods/burstable/pod<uid>       Burstable pods
    <cgroupRoot>/kubepods/besteffort/pod<uid>      BestEffort pods

Each pod's cgroup is the CRI cgroup_parent of its sandbox and containers, and carries the pod's
limits (the sum over its containers) so the pod as a whole cannot exceed them. Works on cgroup v1
(one directory per controller, as on these machines) and v2 (one unified tree).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from kubeapi.quantity import parse_quantity
from kubelet import pods
from kubelet.cri_config import CPU_PERIOD_US, milli_cpu_to_quota, milli_cpu_to_shares
from kubelet.pods import Pod
from kubelet.qos import qos_class

CGROUP_MOUNT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
MIN_SHARES = 2


def is_cgroup_v2(mount: Path = CGROUP_MOUNT) -> bool:
    return (mount / "cgroup.controllers").exists()


def systemd_name(cgroupfs_name: str) -> tuple[str, str]:
    """Upstream's cgroupName.ToSystemd for the systemd cgroup driver: "/kubepods/burstable/pod1-2" is the
    slice "kubepods-burstable-pod1_2.slice" (what CRI gets as cgroup_parent), found on disk at
    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice" ('-' is systemd's
    hierarchy separator, so it is escaped to '_' inside a part)."""
    unit, path = "", ""
    for part in (p.replace("-", "_") for p in cgroupfs_name.strip("/").split("/") if p):
        unit = f"{unit}-{part}" if unit else part
        path += f"/{unit}.slice"
    return (f"{unit}.slice" if unit else "-.slice"), (path or "/")


def pod_cgroup_name(pod: Pod, root: str, per_qos: bool) -> str:
    """The pod's cgroup (cgroupfs syntax, absolute): the CRI cgroup_parent with the cgroupfs driver."""
    base = root.rstrip("/") or ""
    if not per_qos:
        return base or "/"
    qos = qos_class(pod)
    tier = "" if qos == "Guaranteed" else f"/{qos.lower()}"
    return f"{base}/kubepods{tier}/pod{pods.uid(pod)}"


@dataclass(frozen=True)
class PodLimits:
    cpu_shares: int
    cpu_quota: int  # microseconds per CPU_PERIOD_US; 0 = unlimited
    memory_limit: int  # bytes; 0 = unlimited


def pod_limits(pod: Pod) -> PodLimits:
    """Upstream's ResourceConfigForPod: shares from the summed CPU requests; quota and memory limit only
    when every container has the limit (else the pod is unbounded in that resource)."""
    cpu_request = cpu_limit = memory_limit = 0
    all_cpu_limited = all_memory_limited = True
    for container in pods.containers(pod):
        resources = container.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        cpu = requests.get("cpu", limits.get("cpu"))
        cpu_request += parse_quantity(str(cpu)).milli_value() if cpu is not None else 0
        if "cpu" in limits:
            cpu_limit += parse_quantity(str(limits["cpu"])).milli_value()
        else:
            all_cpu_limited = False
        if "memory" in limits:
            memory_limit += parse_quantity(str(limits["memory"])).value()
        else:
            all_memory_limited = False
    for container in pods.init_containers(pod):  # the pod needs at least its biggest init container
        limits = (container.get("resources") or {}).get("limits") or {}
        if "memory" in limits:
            memory_limit = max(memory_limit, parse_quantity(str(limits["memory"])).value())
    qos = qos_class(pod)
    shares = MIN_SHARES if qos == "BestEffort" else milli_cpu_to_shares(cpu_request)
    return PodLimits(
        cpu_shares=shares,
        cpu_quota=milli_cpu_to_quota(cpu_limit) if all_cpu_limited and cpu_limit else 0,
        memory_limit=memory_limit if all_memory_limited and pods.containers(pod) else 0,
    )


class CgroupManager:
    """Pod cgroups with the cgroupfs driver (the kubelet makes the directories) or the systemd driver
    (CRI gets slice names; runc asks systemd for the slices, the kubelet writes the pod's limits into
    them once they exist)."""

    def __init__(
        self, root: str, per_qos: bool = True, mount: Path = CGROUP_MOUNT, driver: str = "cgroupfs"
    ) -> None:
        self.root = root
        self.per_qos = per_qos
        self.mount = mount
        self.v2 = is_cgroup_v2(mount)
        self.systemd = driver == "systemd"

    def runtime_parent(self, name: str) -> str:
        """What CRI's cgroup_parent says for the cgroup `name`."""
        return systemd_name(name)[0] if self.systemd else name

    def _dirs(self, name: str) -> list[Path]:
        relative = (systemd_name(name)[1] if self.systemd else name).strip("/")
        if self.v2:
            return [self.mount / relative]
        return [
            self.mount / controller / relative
            for controller in V1_CONTROLLERS
            if (self.mount / controller).is_dir()
        ]

    def ensure_qos_tiers(self) -> None:
        """kubepods, kubepods/burstable and kubepods/besteffort (BestEffort gets the minimum CPU weight)."""
        if not self.per_qos:
            return
        base = f"{self.root.rstrip('/')}/kubepods"
        for name in (base, f"{base}/burstable", f"{base}/besteffort"):
            for directory in self._dirs(name):
                directory.mkdir(parents=True, exist_ok=True)
        self._write_cpu_shares(f"{base}/besteffort", MIN_SHARES)

    def ensure_pod(self, pod: Pod) -> str:
        """Make the pod's cgroup with the pod's limits; returns the CRI cgroup_parent."""
        name = pod_cgroup_name(pod, self.root, self.per_qos)
        if not self.per_qos:
            return self.runtime_parent(name)
        for directory in self._dirs(name):
            directory.mkdir(parents=True, exist_ok=True)
        limits = pod_limits(pod)
        self._write_cpu_shares(name, limits.cpu_shares)
        if self.v2:
            self._write(name, "cpu.max", f"{limits.cpu_quota or 'max'} {CPU_PERIOD_US}")
            self._write(name, "memory.max", str(limits.memory_limit or "max"))
        else:
            self._write(name, "cpu.cfs_period_us", str(CPU_PERIOD_US), controller="cpu")
            self._write(name, "cpu.cfs_quota_us", str(limits.cpu_quota or -1), controller="cpu")
            if limits.memory_limit:
                self._write(name, "memory.limit_in_bytes", str(limits.memory_limit), controller="memory")
        return self.runtime_parent(name)

    def remove_pod(self, pod_uid: str) -> None:
        """Remove pod<uid> wherever it is (its QoS may be unknown after a restart), depth first."""
        if not self.per_qos:
            return
        base = f"{self.root.rstrip('/')}/kubepods"
        for tier in (base, f"{base}/burstable", f"{base}/besteffort"):
            for directory in self._dirs(f"{tier}/pod{pod_uid}"):
                remove_tree(directory)

    def pod_cgroup(self, pod_uid: str) -> str | None:
        """The pod's cgroup as a path below the cgroup mount (for stats), wherever its QoS tier put it."""
        if not self.per_qos:
            return None
        base = f"{self.root.rstrip('/')}/kubepods"
        for tier in (base, f"{base}/burstable", f"{base}/besteffort"):
            name = f"{tier}/pod{pod_uid}"
            if any(directory.is_dir() for directory in self._dirs(name)[:1]):
                return systemd_name(name)[1] if self.systemd else name
        return None

    def pod_uids(self) -> set[str]:
        """The uids of pods that have a cgroup (for clean-up of pods the kubelet no longer knows)."""
        base = f"{self.root.rstrip('/')}/kubepods"
        found: set[str] = set()
        for tier in (base, f"{base}/burstable", f"{base}/besteffort"):
            for directory in self._dirs(tier)[:1]:
                if directory.is_dir():
                    found |= {
                        uid for p in directory.iterdir() if p.is_dir() and (uid := self._uid_of(p.name))
                    }
        return found

    def _uid_of(self, directory: str) -> str:
        """ "pod<uid>", or with systemd "kubepods-burstable-pod<uid with _>.slice"."""
        if self.systemd:
            head, sep, tail = directory.removesuffix(".slice").rpartition("-pod")
            return tail.replace("_", "-") if sep and head else ""
        return directory[3:] if directory.startswith("pod") else ""

    def _write_cpu_shares(self, name: str, shares: int) -> None:
        if self.v2:
            # upstream's CpuSharesToCpuWeight
            self._write(name, "cpu.weight", str(1 + ((shares - 2) * 9999) // 262142))
        else:
            self._write(name, "cpu.shares", str(shares), controller="cpu")

    def _write(self, name: str, file: str, value: str, controller: str = "") -> None:
        relative = (systemd_name(name)[1] if self.systemd else name).strip("/")
        directory = self.mount / relative if self.v2 else self.mount / controller / relative
        with contextlib.suppress(
            OSError
        ):  # a controller v2 has not delegated here: the runtime's limits still apply
            (directory / file).write_text(value)


def remove_tree(directory: Path) -> None:
    """rmdir a cgroup and its children, deepest first (cgroup dirs cannot be removed with files in them)."""
    if not directory.is_dir():
        return
    for current, children, _files in os.walk(directory, topdown=False):
        for child in children:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(current, child))
    with contextlib.suppress(OSError):
        directory.rmdir()
