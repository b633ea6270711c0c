"""A pod's quality-of-service class (upstream pkg/apis/core/v1/helper/qos, GetPodQOS / ComputePodQOS).

    qos_class(pod) -> "Guaranteed" | "Burstable" | "BestEffort"

Only cpu and memory count. Guaranteed: every container (init containers included) has cpu and memory
limits and its requests equal them; BestEffort: no container has a non-zero cpu or memory request or
limit; anything else is Burstable. A pod whose status already carries `qosClass` keeps it (the class
is immutable once set). Requests are read as written: the apiserver defaults a missing request to the
limit, so a pod straight from the API needs nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from kubeapi.quantity import Quantity, parse_quantity

QOSClass = Literal["Guaranteed", "Burstable", "BestEffort"]
GUARANTEED: QOSClass = "Guaranteed"
BURSTABLE: QOSClass = "Burstable"
BEST_EFFORT: QOSClass = "BestEffort"

_COMPUTE_RESOURCES = ("cpu", "memory")


def _positive(amounts: Mapping[str, Any] | None) -> dict[str, Quantity]:
    """The cpu/memory amounts above zero; values that do not parse count as absent."""
    found: dict[str, Quantity] = {}
    for resource in _COMPUTE_RESOURCES:
        raw = (amounts or {}).get(resource)
        if raw is None:
            continue
        try:
            amount = parse_quantity(str(raw))
        except ValueError:
            continue
        if amount.nanos > 0:
            found[resource] = amount
    return found


def compute_qos_class(pod: Mapping[str, Any]) -> QOSClass:
    """The class from the containers' resources alone (upstream ComputePodQOS)."""
    spec = pod.get("spec") or {}
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = container.get("resources") or {}
        for resource, amount in _positive(resources.get("requests")).items():
            requests[resource] = requests.get(resource, Quantity(0)) + amount
        container_limits = _positive(resources.get("limits"))
        for resource, amount in container_limits.items():
            limits[resource] = limits.get(resource, Quantity(0)) + amount
        if set(container_limits) != set(_COMPUTE_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    equal = all(limits.get(resource) == amount for resource, amount in requests.items())
    if guaranteed and equal and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE


def qos_class(pod: Mapping[str, Any]) -> QOSClass:
    """status.qosClass when the pod has one, else the computed class (upstream GetPodQOS)."""
    recorded = (pod.get("status") or {}).get("qosClass")
    if recorded in (GUARANTEED, BURSTABLE, BEST_EFFORT):
        return recorded  # type: ignore[no-any-return]
    return compute_qos_class(pod)
