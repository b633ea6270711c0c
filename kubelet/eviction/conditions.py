"""The node-status side of pressure: condition reasons and messages as the kubelet writes them
(upstream nodestatus setters), the taints the node lifecycle controller derives from them, and the
pod status an eviction leaves behind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubelet.eviction.signals import DISK_PRESSURE, MEMORY_PRESSURE, PID_PRESSURE

PRESSURE_CONDITIONS = (MEMORY_PRESSURE, DISK_PRESSURE, PID_PRESSURE)

# (reason, message) when the condition is True, then when False.
_WORDS = {
    MEMORY_PRESSURE: (
        ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
        ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ),
    DISK_PRESSURE: (
        ("KubeletHasDiskPressure", "kubelet has disk pressure"),
        ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ),
    PID_PRESSURE: (
        ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
        ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ),
}

TAINT_KEYS = {
    MEMORY_PRESSURE: "node.kubernetes.io/memory-pressure",
    DISK_PRESSURE: "node.kubernetes.io/disk-pressure",
    PID_PRESSURE: "node.kubernetes.io/pid-pressure",
}

EVICTED_REASON = "Evicted"


def condition_reason_message(condition: str, status: bool) -> tuple[str, str]:
    """The reason and message of a pressure condition, e.g. ("KubeletHasNoDiskPressure", ...)."""
    pressured, fine = _WORDS[condition]
    return pressured if status else fine


def pressure_taints(conditions: Iterable[str]) -> list[dict[str, str]]:
    """NoSchedule taints for the pressure conditions that are True (upstream TaintNodesByCondition)."""
    present = set(conditions)
    return [
        {"key": TAINT_KEYS[condition], "effect": "NoSchedule"}
        for condition in PRESSURE_CONDITIONS
        if condition in present
    ]


def evicted_status(message: str) -> dict[str, Any]:
    """What an evicted pod's status says: phase Failed, reason Evicted, and a DisruptionTarget condition."""
    return {
        "phase": "Failed",
        "reason": EVICTED_REASON,
        "message": message,
        "condition": {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "TerminationByKubelet",
            "message": message,
        },
    }
