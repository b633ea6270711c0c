"""The Node object the kubelet registers and the status it keeps current: upstream's kubelet_node_status.go
and nodestatus setters, as pure functions of what the machine and the runtime report.

    node = initial_node(NodeFacts(...), config)        # POSTed at registration
    status = node_status(current_node, facts, health)  # merged into the node's status every update
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeapi.quantity import Quantity, parse_quantity
from kubelet.config import KubeletConfiguration
from kubelet.pod_status import timestamp

KUBELET_VERSION = "v1.32.0-kplane"
OWNED_CAPACITY = ("cpu", "memory", "pods", "ephemeral-storage", "hugepages-1Gi", "hugepages-2Mi")
Node = dict[str, Any]

PRESSURE_CONDITIONS = {
    # condition: (reason when False, message when False, reason when True, message when True)
    "MemoryPressure": (
        "KubeletHasSufficientMemory", "kubelet has sufficient memory available",
        "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
    ),
    "DiskPressure": (
        "KubeletHasNoDiskPressure", "kubelet has no disk pressure",
        "KubeletHasDiskPressure", "kubelet has disk pressure",
    ),
    "PIDPressure": (
        "KubeletHasSufficientPID", "kubelet has sufficient PID available",
        "KubeletHasInsufficientPID", "kubelet has insufficient PID available",
    ),
}  # fmt: skip


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def go_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
    }.get(machine, machine)


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def memory_total_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class NodeFacts:
    """What the machine and the runtime say; gathered by the kubelet, read by the pure functions."""

    name: str
    node_ip: str
    hostname: str = ""
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_bytes: int = field(default_factory=memory_total_bytes)
    ephemeral_storage_bytes: int = 0
    runtime_version: str = ""  # "containerd://1.6.20"
    port: int = 10250
    images: list[dict[str, Any]] = field(default_factory=list)  # [{"names": [...], "sizeBytes": n}]

    @staticmethod
    def machine_info() -> dict[str, str]:
        machine_id = _read("/etc/machine-id")
        return {
            "machineID": machine_id,
            "systemUUID": _read("/sys/class/dmi/id/product_uuid", machine_id),
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": os_image(),
            "operatingSystem": "linux",
            "architecture": go_arch(),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
        }


@dataclass
class NodeHealth:
    runtime_ready: bool = False
    network_ready: bool = False
    runtime_message: str = "container runtime status check may not have completed yet"
    pressure: Mapping[str, bool] = field(default_factory=dict)  # MemoryPressure... from the eviction manager
    pleg_message: str = ""  # non-empty when the PLEG is not healthy


def default_labels(facts: NodeFacts, extra: Mapping[str, str]) -> dict[str, str]:
    arch = go_arch()
    return {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": facts.hostname or facts.name,
        "kubernetes.io/os": "linux",
        **extra,
    }


def capacity(facts: NodeFacts, config: KubeletConfiguration) -> dict[str, str]:
    return {
        "cpu": str(facts.cpus),
        "memory": f"{facts.memory_bytes // 1024}Ki",
        "pods": str(config.max_pods),
        "ephemeral-storage": f"{facts.ephemeral_storage_bytes // 1024}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }


def _hard_threshold(config: KubeletConfiguration, signal: str, total: int) -> int:
    value = config.eviction_hard_or_default.get(signal)
    if not value:
        return 0
    if value.endswith("%"):
        return int(total * float(value[:-1]) / 100)
    return parse_quantity(value).value()


def allocatable(
    facts: NodeFacts, config: KubeletConfiguration, node_capacity: Mapping[str, str]
) -> dict[str, str]:
    """Upstream's node allocatable: capacity minus kubeReserved, systemReserved and the hard eviction
    threshold (memory.available and nodefs.available), never below zero; other resources as capacity."""
    result: dict[str, str] = {}
    for resource, amount in node_capacity.items():
        value = parse_quantity(str(amount))
        reserved = Quantity(0)
        for reservation in (config.kube_reserved, config.system_reserved):
            if resource in reservation:
                reserved = reserved + parse_quantity(reservation[resource])
        if resource == "memory":
            reserved = reserved + Quantity.from_int(
                _hard_threshold(config, "memory.available", facts.memory_bytes)
            )
        if resource == "ephemeral-storage":
            threshold = _hard_threshold(config, "nodefs.available", facts.ephemeral_storage_bytes)
            reserved = reserved + Quantity.from_int(threshold)
        left = value - reserved
        if left.nanos < 0:
            left = Quantity(0, value.format)
        if resource == "memory" or resource == "ephemeral-storage":
            result[resource] = f"{left.value() // 1024}Ki"
        elif resource == "cpu":
            result[resource] = (
                f"{left.milli_value()}m" if left.milli_value() % 1000 else str(left.milli_value() // 1000)
            )
        else:
            result[resource] = str(left)
    return result


def initial_node(
    facts: NodeFacts, config: KubeletConfiguration, labels: Mapping[str, str], taints: list[dict[str, Any]]
) -> Node:
    node: Node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": facts.name,
            "labels": default_labels(facts, labels),
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {},
    }
    if taints:
        node["spec"]["taints"] = taints
    if config.provider_id:
        node["spec"]["providerID"] = config.provider_id
    return node


def _condition(
    ctype: str, status: bool, reason: str, message: str, now: float, old: Mapping[str, Any] | None
) -> dict[str, Any]:
    value = "True" if status else "False"
    transition = old.get("lastTransitionTime") if old and old.get("status") == value else None
    return {
        "type": ctype,
        "status": value,
        "lastHeartbeatTime": timestamp(now),
        "lastTransitionTime": transition or timestamp(now),
        "reason": reason,
        "message": message,
    }


def ready_condition(health: NodeHealth) -> tuple[bool, str, str]:
    problems = []
    if not health.runtime_ready:
        problems.append(health.runtime_message or "container runtime is down")
    elif not health.network_ready:
        problems.append(
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"
        )
    if health.pleg_message:
        problems.append(health.pleg_message)
    if problems:
        return False, "KubeletNotReady", ", ".join(problems)
    return True, "KubeletReady", "kubelet is posting ready status"


def node_status(
    current: Node, facts: NodeFacts, config: KubeletConfiguration, health: NodeHealth, now: float
) -> dict[str, Any]:
    """The node's new status: the kubelet's fields set, everything else (extended resources someone
    patched into capacity, conditions others own) kept."""
    old = current.get("status") or {}
    node_capacity = {k: v for k, v in (old.get("capacity") or {}).items() if k not in OWNED_CAPACITY}
    node_capacity.update(capacity(facts, config))
    old_conditions = {c.get("type"): c for c in old.get("conditions") or []}
    conditions = []
    for ctype, (ok_reason, ok_message, bad_reason, bad_message) in PRESSURE_CONDITIONS.items():
        under = bool(health.pressure.get(ctype))
        reason, message = (bad_reason, bad_message) if under else (ok_reason, ok_message)
        conditions.append(_condition(ctype, under, reason, message, now, old_conditions.get(ctype)))
    ready, reason, message = ready_condition(health)
    conditions.append(_condition("Ready", ready, reason, message, now, old_conditions.get("Ready")))
    owned = {c["type"] for c in conditions}
    conditions += [c for c in old.get("conditions") or [] if c.get("type") not in owned]
    addresses = [
        {"type": "InternalIP", "address": facts.node_ip},
        {"type": "Hostname", "address": facts.hostname or facts.name},
    ]
    return {
        "capacity": node_capacity,
        "allocatable": allocatable(facts, config, node_capacity),
        "conditions": conditions,
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": facts.port}},
        "nodeInfo": {**NodeFacts.machine_info(), "containerRuntimeVersion": facts.runtime_version},
        "images": facts.images[: config.node_status_max_images]
        if config.node_status_max_images >= 0
        else facts.images,
    }


def status_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether anything but heartbeat times differs (upstream patches only then, or on the report period)."""

    def strip(status: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(status)
        result["conditions"] = [
            {k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in status.get("conditions") or []
        ]
        return result

    return strip(old) != strip(new)


def parse_taints(specs: list[str]) -> list[dict[str, str]]:
    """--register-with-taints: key=value:Effect or key:Effect."""
    taints = []
    for spec in specs:
        head, sep, effect = spec.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(
                f'invalid taint spec "{spec}": want key[=value]:NoSchedule|PreferNoSchedule|NoExecute'
            )
        key, _, value = head.partition("=")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        taints.append(taint)
    return taints
