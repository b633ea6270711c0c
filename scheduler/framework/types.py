"""What the framework knows about pods and nodes (upstream framework/types.go): a pod's resource
requests and affinity terms computed once (PodInfo), and a node with the pods on it and their sums
(NodeInfo). Pods and nodes themselves are the API's JSON objects (dicts), never changed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi import labels
from kubeapi.quantity import parse_quantity

DEFAULT_MILLI_CPU_REQUEST = 100
"""What scoring counts for a container without a cpu request (upstream's DefaultMilliCPURequest)."""
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
"""... and without a memory request (DefaultMemoryRequest)."""

CPU, MEMORY, EPHEMERAL_STORAGE, PODS = "cpu", "memory", "ephemeral-storage", "pods"

Obj = Mapping[str, Any]


@dataclass(slots=True)
class Resource:
    """Amounts in the units the scheduler compares: milli-CPU, bytes, pod count, and whole units of
    any other resource (extended resources such as nvidia.com/gpu, hugepages-*)."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, resources: Mapping[str, str] | None) -> Resource:
        """A ResourceList (`{"cpu": "500m", "memory": "1Gi"}`); unparsable amounts count as zero
        (the apiserver validated them already)."""
        result = cls()
        for name, amount in (resources or {}).items():
            result.add_named(name, amount)
        return result

    def add_named(self, name: str, amount: str | int) -> None:
        try:
            quantity = parse_quantity(str(amount))
        except ValueError:
            return
        if name == CPU:
            self.milli_cpu += quantity.milli_value()
        elif name == MEMORY:
            self.memory += quantity.value()
        elif name == EPHEMERAL_STORAGE:
            self.ephemeral_storage += quantity.value()
        elif name == PODS:
            self.allowed_pod_number += quantity.value()
        else:
            self.scalar[name] = self.scalar.get(name, 0) + quantity.value()

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        self.allowed_pod_number += sign * other.allowed_pod_number
        for name, amount in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, amount in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), amount)

    def clone(self) -> Resource:
        return Resource(
            self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pod_number, dict(self.scalar)
        )

    def names(self) -> list[str]:
        """The resources with a non-zero amount, cpu/memory/ephemeral-storage first."""
        named = [(CPU, self.milli_cpu), (MEMORY, self.memory), (EPHEMERAL_STORAGE, self.ephemeral_storage)]
        return [name for name, amount in named if amount] + [
            name for name, amount in self.scalar.items() if amount
        ]


def pod_requests(pod: Obj, non_zero: bool = False) -> Resource:
    """What the pod asks of a node (upstream resourcehelper.PodRequests): the sum over its
    containers and restartable (sidecar) init containers, or the largest regular init container
    plus the sidecars started before it if that is more, plus `spec.overhead`. With `non_zero`,
    containers without a cpu or memory request count the scoring defaults (100m, 200Mi)."""
    spec = pod.get("spec") or {}
    total = Resource()
    for container in spec.get("containers") or ():
        total.add(_container_requests(container, non_zero))
    sidecars = Resource()
    init_peak = Resource()
    for container in spec.get("initContainers") or ():
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":
            total.add(requests)
            sidecars.add(requests)
            candidate = sidecars.clone()
        else:
            candidate = requests.clone()
            candidate.add(sidecars)
        init_peak.set_max(candidate)
    total.set_max(init_peak)
    total.add(Resource.from_list(spec.get("overhead")))
    return total


def _container_requests(container: Obj, non_zero: bool) -> Resource:
    requests = (container.get("resources") or {}).get("requests") or {}
    result = Resource.from_list(requests)
    if non_zero:
        if CPU not in requests:
            result.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in requests:
            result.memory = DEFAULT_MEMORY_REQUEST
    return result


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A PodAffinityTerm made ready to match: the namespaces it applies to (the pod's own when it
    names none and has no namespaceSelector), its label selector parsed, its topology key."""

    namespaces: frozenset[str]
    selector: labels.Selector
    topology_key: str
    namespace_selector: labels.Selector | None
    """None when the term has no namespaceSelector (matches no extra namespace); an empty one
    matches every namespace."""

    def matches(self, pod: Obj, namespace_labels: Mapping[str, str] | None) -> bool:
        """Whether `pod` is one of the pods this term selects (upstream AffinityTerm.Matches);
        `namespace_labels` are the labels of the pod's namespace (None when unknown)."""
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        in_scope = namespace in self.namespaces or (
            self.namespace_selector is not None
            and namespace_labels is not None
            and self.namespace_selector.matches(namespace_labels)
        )
        return in_scope and self.selector.matches(meta.get("labels") or {})


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def affinity_term(term: Obj, pod_namespace: str) -> AffinityTerm:
    namespaces = frozenset(term.get("namespaces") or ())
    raw_ns_selector = term.get("namespaceSelector")
    if not namespaces and raw_ns_selector is None:
        namespaces = frozenset((pod_namespace,))
    ns_selector = labels.from_label_selector(raw_ns_selector) if raw_ns_selector is not None else None
    return AffinityTerm(
        namespaces,
        labels.from_label_selector(term.get("labelSelector")),
        term.get("topologyKey", ""),
        ns_selector,
    )


def _terms(terms: Iterable[Obj] | None, namespace: str) -> tuple[AffinityTerm, ...]:
    return tuple(affinity_term(term, namespace) for term in terms or ())


def _weighted(terms: Iterable[Obj] | None, namespace: str) -> tuple[WeightedAffinityTerm, ...]:
    return tuple(
        WeightedAffinityTerm(
            affinity_term(term.get("podAffinityTerm") or {}, namespace), int(term.get("weight", 0))
        )
        for term in terms or ()
    )


class PodInfo:
    """A pod with what scheduling needs of it computed once."""

    __slots__ = (
        "key",
        "name",
        "namespace",
        "non_zero_requests",
        "pod",
        "preferred_affinity_terms",
        "preferred_anti_affinity_terms",
        "requests",
        "required_affinity_terms",
        "required_anti_affinity_terms",
        "uid",
    )

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        meta = pod.get("metadata") or {}
        self.namespace: str = meta.get("namespace", "")
        self.name: str = meta.get("name", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = meta.get("uid", "")
        self.requests = pod_requests(pod)
        self.non_zero_requests = pod_requests(pod, non_zero=True)
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        pod_affinity = affinity.get("podAffinity") or {}
        anti = affinity.get("podAntiAffinity") or {}
        required, preferred = (
            "requiredDuringSchedulingIgnoredDuringExecution",
            "preferredDuringSchedulingIgnoredDuringExecution",
        )
        self.required_affinity_terms = _terms(pod_affinity.get(required), self.namespace)
        self.required_anti_affinity_terms = _terms(anti.get(required), self.namespace)
        self.preferred_affinity_terms = _weighted(pod_affinity.get(preferred), self.namespace)
        self.preferred_anti_affinity_terms = _weighted(anti.get(preferred), self.namespace)

    @property
    def spec(self) -> Obj:
        return self.pod.get("spec") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.pod.get("metadata") or {}).get("labels") or {}

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority") or 0)

    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity_terms
            or self.required_anti_affinity_terms
            or self.preferred_affinity_terms
            or self.preferred_anti_affinity_terms
        )

    def __repr__(self) -> str:
        return f"PodInfo({self.key})"


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str
    protocol: str
    port: int


def host_ports(pod: Obj) -> list[HostPort]:
    """The host ports the pod's containers ask for (an empty hostIP means every address)."""
    ports = []
    for container in (pod.get("spec") or {}).get("containers") or ():
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                ports.append(
                    HostPort(
                        port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", int(port["hostPort"])
                    )
                )
    return ports


def ports_conflict(used: Iterable[HostPort], wanted: HostPort) -> bool:
    """Upstream HostPortInfo.CheckConflict: same protocol and port, and the same IP or either 0.0.0.0."""
    for port in used:
        same_port = port.port == wanted.port and port.protocol == wanted.protocol
        if same_port and (port.ip == wanted.ip or "0.0.0.0" in (port.ip, wanted.ip)):
            return True
    return False


@dataclass(frozen=True, slots=True)
class ImageState:
    size: int
    num_nodes: int
    """How many nodes have this image (ImageLocality scales the score by spread)."""


class NodeInfo:
    """A node and the pods on it (bound or assumed), with their sums kept up to date."""

    __slots__ = (
        "allocatable",
        "generation",
        "image_states",
        "name",
        "node",
        "non_zero_requested",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "pvc_ref_counts",
        "requested",
        "used_ports",
    )

    def __init__(self, node: Obj | None = None, pods: Iterable[PodInfo] = ()) -> None:
        self.node: Obj | None = None
        self.name = ""
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.used_ports: list[HostPort] = []
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.allocatable = Resource()
        self.image_states: dict[str, ImageState] = {}
        self.pvc_ref_counts: dict[str, int] = {}
        self.generation = 0
        if node is not None:
            self.set_node(node)
        for pod in pods:
            self.add_pod(pod)

    def set_node(self, node: Obj) -> None:
        self.node = node
        self.name = (node.get("metadata") or {}).get("name", "")
        self.allocatable = Resource.from_list((node.get("status") or {}).get("allocatable"))
        self.generation += 1

    @property
    def labels(self) -> Mapping[str, str]:
        return ((self.node or {}).get("metadata") or {}).get("labels") or {}

    def add_pod(self, pod_info: PodInfo) -> None:
        self.pods.append(pod_info)
        if pod_info.has_affinity():
            self.pods_with_affinity.append(pod_info)
        if pod_info.required_anti_affinity_terms:
            self.pods_with_required_anti_affinity.append(pod_info)
        self._account(pod_info, 1)

    def remove_pod(self, pod: Obj) -> bool:
        """Remove the pod with `pod`'s uid (or namespace/name); False if it is not here."""
        meta = pod.get("metadata") or {}
        uid, key = meta.get("uid", ""), f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        for index, info in enumerate(self.pods):
            if (uid and info.uid == uid) or (not uid and info.key == key):
                del self.pods[index]
                self.pods_with_affinity = [p for p in self.pods_with_affinity if p is not info]
                self.pods_with_required_anti_affinity = [
                    p for p in self.pods_with_required_anti_affinity if p is not info
                ]
                self._account(info, -1)
                return True
        return False

    def _account(self, pod_info: PodInfo, sign: int) -> None:
        self.requested.add(pod_info.requests, sign)
        self.non_zero_requested.add(pod_info.non_zero_requests, sign)
        ports = host_ports(pod_info.pod)
        if sign > 0:
            self.used_ports.extend(ports)
        else:
            for port in ports:
                self.used_ports.remove(port)
        for volume in pod_info.spec.get("volumes") or ():
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                key = f"{pod_info.namespace}/{claim}"
                count = self.pvc_ref_counts.get(key, 0) + sign
                if count:
                    self.pvc_ref_counts[key] = count
                else:
                    self.pvc_ref_counts.pop(key, None)
        self.generation += 1

    def clone(self) -> NodeInfo:
        other = NodeInfo.__new__(NodeInfo)
        other.node = self.node
        other.name = self.name
        other.pods = list(self.pods)
        other.pods_with_affinity = list(self.pods_with_affinity)
        other.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        other.used_ports = list(self.used_ports)
        other.requested = self.requested.clone()
        other.non_zero_requested = self.non_zero_requested.clone()
        other.allocatable = self.allocatable.clone()
        other.image_states = self.image_states
        other.pvc_ref_counts = dict(self.pvc_ref_counts)
        other.generation = self.generation
        return other

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"
