"""Admission on the node: upstream's resource fit (GeneralPredicates' PodFitsResources) as the kubelet
runs it before starting a pod, so a node never runs more than its allocatable, extended resources
(e.g. example.com/dongle advertised in the node's status) included."""

from __future__ import annotations

from collections.abc import Mapping

from kubeapi.quantity import Quantity, parse_quantity
from kubelet import pods
from kubelet.pods import Pod


def pod_requests(pod: Pod) -> dict[str, Quantity]:
    """Upstream's resource.PodRequests: sum over containers, max with each init container."""
    total: dict[str, Quantity] = {}
    for container in pods.containers(pod):
        for resource, amount in ((container.get("resources") or {}).get("requests") or {}).items():
            total[resource] = total.get(resource, Quantity(0)) + parse_quantity(str(amount))
    for container in pods.init_containers(pod):
        for resource, amount in ((container.get("resources") or {}).get("requests") or {}).items():
            value = parse_quantity(str(amount))
            if total.get(resource, Quantity(0)) < value:
                total[resource] = value
    return total


def admit(pod: Pod, active: list[Pod], allocatable: Mapping[str, str]) -> tuple[str, str] | None:
    """Upstream's resource fit at admission (GeneralPredicates): None, or (reason, message) such as
    ("OutOfcpu", "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 500,
    capacity: 1500")."""
    if len(active) + 1 > int(allocatable.get("pods", "110")):
        return "OutOfpods", "Pod was rejected: Node didn't have enough resource: pods"
    requested = pod_requests(pod)
    for resource, amount in requested.items():
        if amount.is_zero():
            continue
        capacity = parse_quantity(allocatable[resource]) if resource in allocatable else Quantity(0)
        used = Quantity(0)
        for other in active:
            used = used + pod_requests(other).get(resource, Quantity(0))
        if capacity < used + amount:
            scale = Quantity.milli_value if resource == "cpu" else Quantity.value
            return (
                f"OutOf{resource}",
                f"Pod was rejected: Node didn't have enough resource: {resource}, "
                f"requested: {scale(amount)}, "
                f"used: {scale(used)}, capacity: {scale(capacity)}",
            )
    return None
