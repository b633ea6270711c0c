"""What NodeResourcesFit's scoring strategies and NodeResourcesBalancedAllocation share (upstream
noderesources/resource_allocation.go): the configured resources with their weights, and per node, for
each of them, the node's allocatable next to what the node would have requested with the pod on it.

    allocation = ResourceAllocation(parse_resources(raw, "resources", errors), use_requested=False)
    requests = allocation.pod_requests(pod_info)                   # once, in PreScore
    allocation.score(node_info, requests, least_allocated_scorer)  # per node
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scheduler.framework.types import CPU, EPHEMERAL_STORAGE, MEMORY, NodeInfo, PodInfo

Scorer = Callable[[Sequence[int], Sequence[int]], int]
"""(requested, allocatable) per configured resource -> node score; allocatable 0 means "skip it"."""


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    name: str
    weight: int


DEFAULT_RESOURCES = (ResourceSpec(CPU, 1), ResourceSpec(MEMORY, 1))


def parse_resources(raw: Any, path: str, errors: list[str]) -> tuple[ResourceSpec, ...]:
    """A v1 `resources` list ([{name, weight}]) defaulted like upstream: none given means cpu and
    memory, a missing or zero weight means 1. Shape errors go to `errors`; range checks are the
    caller's, since the two plugins allow different weights."""
    if raw is None or raw == []:
        return DEFAULT_RESOURCES
    if not isinstance(raw, list):
        errors.append(f"{path}: Invalid value: must be a list of {{name, weight}}")
        return DEFAULT_RESOURCES
    specs = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            errors.append(f"{where}.name: Required value: a resource name")
            continue
        weight = item.get("weight") or 0
        if not isinstance(weight, int) or isinstance(weight, bool):
            errors.append(f"{where}.weight: Invalid value: {weight!r}: must be an integer")
            continue
        specs.append(ResourceSpec(item["name"], weight or 1))
    return tuple(specs)


def is_extended_resource_name(name: str) -> bool:
    """Upstream IsExtendedResourceName: a domain-prefixed name outside kubernetes.io (nvidia.com/gpu),
    the resources a device plugin advertises and ignoredResources may name."""
    return "/" in name and "kubernetes.io/" not in name and not name.startswith("requests.")


def is_scalar_resource_name(name: str) -> bool:
    """Upstream IsScalarResourceName: the resources the scheduler counts as plain integers besides
    cpu, memory and ephemeral-storage (extended, hugepages-*, kubernetes.io/-prefixed, attachable volumes)."""
    return (
        is_extended_resource_name(name)
        or name.startswith(("hugepages-", "attachable-volumes-"))
        or "kubernetes.io/" in name
    )


class ResourceAllocation:
    """The configured resources, and whether cpu and memory count what pods request (`use_requested`,
    BalancedAllocation) or their non-zero requests (100m / 200Mi for containers that name none, the
    Fit strategies, so that many request-less pods still spread)."""

    __slots__ = ("_scalar", "resources", "use_requested")

    def __init__(self, resources: Sequence[ResourceSpec], use_requested: bool) -> None:
        self.resources = tuple(resources)
        self.use_requested = use_requested
        self._scalar = tuple(is_scalar_resource_name(spec.name) for spec in self.resources)

    def pod_requests(self, pod: PodInfo) -> list[int]:
        """The pod's request of each configured resource, in the order of `resources`."""
        requests = pod.requests if self.use_requested else pod.non_zero_requests
        return [requests.get(spec.name) for spec in self.resources]

    def requested_and_allocatable(
        self, node_info: NodeInfo, pod_requests: Sequence[int]
    ) -> tuple[list[int], list[int]]:
        """Per configured resource, what the node would have requested with the pod on it and what it
        has; both 0 for a scalar resource the pod does not ask for or the node does not have, which
        the scorers skip."""
        node_requested = node_info.requested if self.use_requested else node_info.non_zero_requested
        allocatable = node_info.allocatable
        size = len(self.resources)
        requested_out, allocatable_out = [0] * size, [0] * size
        for index, spec in enumerate(self.resources):
            pod_request = pod_requests[index]
            name = spec.name
            if name == CPU:
                alloc, requested = allocatable.milli_cpu, node_requested.milli_cpu + pod_request
            elif name == MEMORY:
                alloc, requested = allocatable.memory, node_requested.memory + pod_request
            elif name == EPHEMERAL_STORAGE:
                alloc = allocatable.ephemeral_storage
                requested = node_info.requested.ephemeral_storage + pod_request
            elif self._scalar[index] and pod_request and name in allocatable.scalar:
                alloc = allocatable.scalar[name]
                requested = node_info.requested.scalar.get(name, 0) + pod_request
            else:
                continue
            if alloc:
                requested_out[index], allocatable_out[index] = requested, alloc
        return requested_out, allocatable_out

    def score(self, node_info: NodeInfo, pod_requests: Sequence[int], scorer: Scorer) -> int:
        return scorer(*self.requested_and_allocatable(node_info, pod_requests))
