"""The EndpointSlice controller (upstream pkg/controller/endpointslice and the staging
k8s.io/endpointslice reconciler): for every Service with a selector, discovery.k8s.io/v1
EndpointSlices listing the addresses of the pods it selects, at most `max_endpoints_per_slice` (100)
endpoints per slice, one group of slices per address type and per set of resolved ports.

The reconciler keeps slices stable: endpoints stay in the slice that holds them, changed slices are
filled up first, leftovers go into the existing slice they fill best, and only then new slices are
made; a slice that would be deleted while another is created is updated in its place. Slices are
labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by`, so slices of
other managers (the mirroring controller, users) are never touched.

Every pod event re-syncs its Service, so a sync must not cost O(pods) of real work: what each pod
contributes is derived once per version of the pod (PodCache) and kept aggregated between syncs
(DesiredSlices), each slice's endpoint keys once per version of the slice; a sync at 10k pods with
one changed derives one pod and compares keys. reconcile_slices does the same from scratch (pure).

This module also holds what the Endpoints controller shares with it, as upstream's
k8s.io/endpointslice/util does: pod readiness and membership, port lookup, the trigger-time tracker,
the per-pod cache and the pod label index.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import itertools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, QueueController, split_key
from kubeapi.labels import Selector, from_set
from kubeclient.errors import ApiError, KubeClientError, is_not_found
from kubeclient.informer import Store, object_key
from kubeclient.workqueue import ExponentialBackoff, MaxOfRateLimiter, TokenBucket, WorkQueue

log = get_logger(__name__)
Obj = dict[str, Any]

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
"""The value of the managed-by label on the slices this controller owns."""
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_TOPOLOGY_ZONE = "topology.kubernetes.io/zone"
ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
MAX_ENDPOINTS_PER_SLICE = 100
SLICE_CHANGE_MIN_SYNC_DELAY = 1.0
"""Seconds between a slice change made by someone else and the Service's sync (batches them)."""
SYNC_BACKOFF = 1.0
"""Upstream backs this controller's retries off from 1 s (not 5 ms): a sync can rewrite many slices."""
MAX_SYNC_BACKOFF = 1000.0
IPV4, IPV6 = "IPv4", "IPv6"
RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})


class StaleInformerCache(KubeClientError):
    """The informer does not show this controller's own last writes yet: acting on it would undo
    them or duplicate slices, so the key is retried after back-off."""

    retryable = True


class PodsSkipped(KubeClientError):
    """Pods left out of the slices because their Node is not in the cache: the slices were written
    without them and the Service is synced again later."""

    retryable = True


# --- pods and services (shared with the Endpoints controller) ----------------------------------


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def is_pod_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    """status.podIPs, or status.podIP for a writer that sets only that."""
    status = pod.get("status") or {}
    ips = [str(entry.get("ip")) for entry in status.get("podIPs") or () if entry.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


@functools.lru_cache(maxsize=65536)
def parse_ip(ip: str) -> tuple[int, str] | None:
    """(4 or 6, the address in canonical form), or None for something that is not an address
    (cached: every sync of a large Service parses the same pod IPs again)."""
    try:
        parsed = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    return parsed.version, str(parsed)


def is_ipv6(ip: str) -> bool | None:
    """True for IPv6, False for IPv4, None for something that is not an address."""
    parsed = parse_ip(ip)
    return None if parsed is None else parsed[0] == 6


def should_pod_be_in_endpoints(pod: Mapping[str, Any], include_terminating: bool) -> bool:
    """Terminal pods never; pods without an IP never; terminating pods only when asked."""
    if is_pod_terminal(pod) or not pod_ips(pod):
        return False
    return include_terminating or not is_terminating(pod)


def should_set_hostname(pod: Mapping[str, Any], service: Mapping[str, Any]) -> bool:
    spec, meta = pod.get("spec") or {}, pod.get("metadata") or {}
    service_meta = service.get("metadata") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == service_meta.get("name")
        and meta.get("namespace") == service_meta.get("namespace")
    )


def is_service_ip_set(service: Mapping[str, Any]) -> bool:
    cluster_ip = (service.get("spec") or {}).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


def selects(service: Mapping[str, Any], pod_labels: Mapping[str, str] | None) -> bool:
    """A nil selector selects nothing (the Service's endpoints are managed by someone else)."""
    selector = (service.get("spec") or {}).get("selector")
    if selector is None:
        return False
    return from_set(selector).matches(pod_labels or {})


def find_port(pod: Mapping[str, Any], service_port: Mapping[str, Any]) -> int | None:
    """The pod's port for a service port: a numeric targetPort as is, a named one looked up among the
    containers' ports (and restartable init containers') with the same protocol; None if absent."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def pod_endpoints_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[bool, bool]:
    """(the pod changed in a way its endpoint shows, its labels/hostname changed so its Services
    may differ): upstream's podEndpointsChanged."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = (
        (old_meta.get("labels") or {}) != (new_meta.get("labels") or {})
        or old_spec.get("hostname") != new_spec.get("hostname")
        or old_spec.get("subdomain") != new_spec.get("subdomain")
    )
    changed = (
        old_meta.get("deletionTimestamp") != new_meta.get("deletionTimestamp")
        or is_pod_ready(old) != is_pod_ready(new)
        or pod_ips(old) != pod_ips(new)
    )
    return changed, labels_changed


def services_for_pod(services: Iterable[Mapping[str, Any]], pod_labels: Mapping[str, str] | None) -> set[str]:
    """Keys of the Services (of the pod's namespace) whose selector matches these labels."""
    return {object_key(dict(service)) for service in services if selects(service, pod_labels)}


def services_to_update_on_pod_change(
    services: Iterable[Mapping[str, Any]], old: Mapping[str, Any], new: Mapping[str, Any]
) -> set[str]:
    """The Services a pod update concerns: none for a resync or a change no endpoint shows; when
    its labels changed, those of the old labels too (all of them if the pod also changed, else only
    the ones it joined or left)."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
        return set()
    changed, labels_changed = pod_endpoints_changed(old, new)
    if not changed and not labels_changed:
        return set()
    services = list(services)
    keys = services_for_pod(services, new_meta.get("labels"))
    if labels_changed:
        old_keys = services_for_pod(services, old_meta.get("labels"))
        keys = keys | old_keys if changed else keys ^ old_keys
    return keys


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_trigger_time(value: datetime) -> str:
    """RFC 3339 with nanoseconds as Go prints it (trailing zeros of the fraction dropped)."""
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def ready_transition_time(pod: Mapping[str, Any]) -> datetime | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return parse_time(condition.get("lastTransitionTime"))
    return None


@dataclass
class _ServiceTriggers:
    service: datetime | None = None
    pods: dict[str, datetime] = field(default_factory=dict)


class TriggerTimeTracker:
    """Upstream's TriggerTimeTracker: the earliest change (a pod's Ready transition, the Service's
    creation) not yet seen by a sync of the Service, for the last-change-trigger-time annotation
    that lets latency SLOs be measured. Called once per sync and never concurrently for one key."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], _ServiceTriggers] = {}

    def compute(self, service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> datetime | None:
        """From all the pods the Service selects."""
        times = ((str((p.get("metadata") or {}).get("name", "")), ready_transition_time(p)) for p in pods)
        return self._apply(service, times, replace=True)

    def update(
        self, service: Mapping[str, Any], changes: Iterable[tuple[str, datetime | None]]
    ) -> datetime | None:
        """As `compute`, from only the pods that changed since the last call (by name: their Ready
        transition time, None for a pod that has none or is no longer selected): the others did
        not move, so they cannot be the earliest change."""
        return self._apply(service, changes, replace=False)

    def _apply(
        self, service: Mapping[str, Any], changes: Iterable[tuple[str, datetime | None]], replace: bool
    ) -> datetime | None:
        meta = service.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        state = self._states.get(key)
        known = state is not None
        state = state or _ServiceTriggers()
        earliest: datetime | None = None
        pod_times: dict[str, datetime] = {} if replace else state.pods
        seen = state.pods
        for name, when in changes:
            if when is None:
                if not replace:
                    pod_times.pop(name, None)
                continue
            last = seen.get(name)
            if (last is None or when > last) and (earliest is None or when < earliest):
                earliest = when
            pod_times[name] = when
        created = parse_time(meta.get("creationTimestamp"))
        if (
            created is not None
            and (state.service is None or created > state.service)
            and (earliest is None or created < earliest)
        ):
            earliest = created
        self._states[key] = _ServiceTriggers(created, pod_times)
        return created if not known else earliest

    def delete_service(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)


def namespace_terminating(error: BaseException) -> bool:
    """A create refused because the namespace is being deleted: retrying cannot help."""
    if not isinstance(error, ApiError):
        return False
    causes = (error.status.get("details") or {}).get("causes") or ()
    return any(cause.get("type") == "NamespaceTerminating" for cause in causes)


# --- incremental syncs (shared with the Endpoints controller) --------------------------------------

POD_LABEL_INDEX = "endpoints-pod-labels"
"""Pod index by "<namespace>/<key>=<value>" of each label: a Service's candidate pods are those of
one pair of its selector, not every pod of its namespace."""


def pod_label_index(pod: Obj) -> list[str]:
    meta = pod.get("metadata") or {}
    namespace = meta.get("namespace", "")
    return [f"{namespace}/{key}={value}" for key, value in (meta.get("labels") or {}).items()]


def candidate_pods(store: Store, namespace: str, selector: Mapping[str, str]) -> list[Obj]:
    """The pods that may match a Service's selector (a superset: callers still match it): those of
    the selector's rarest pair, every pod of the namespace for an empty selector. The store needs
    the POD_LABEL_INDEX indexer."""
    if not selector:
        return store.by_index("namespace", namespace)
    return min(
        (store.by_index(POD_LABEL_INDEX, f"{namespace}/{key}={value}") for key, value in selector.items()),
        key=len,
    )


T = TypeVar("T")
Change = tuple[str, T | None, T | None]
"""(pod name, what was derived from it before or None, what is derived now or None if it is gone)."""


@dataclass(slots=True)
class _PodEntry(Generic[T]):
    pod: Mapping[str, Any]
    uid: Any
    version: Any
    value: T


class PodCache(Generic[T]):
    """What was derived from each pod of one Service (for that Service), kept while the pod is the
    same object or has the same uid and resourceVersion: at 10k pods a sync re-derives the few that
    changed, and `refresh` says which, so aggregates are updated instead of rebuilt. A pod that is
    no longer a candidate (deleted, relabelled) is dropped at the next refresh. Informer objects
    are read-only, so an object seen again is unchanged: finding the unchanged ones is a set
    difference of object ids, without looking into 10k pods."""

    def __init__(self) -> None:
        self._entries: dict[str, _PodEntry[T]] = {}
        self._valid: dict[int, _PodEntry[T]] = {}
        """The entries still valid, by id() of their pod (which they keep alive, so ids are unique)."""
        self.derived = 0
        """How many pods were derived, for tests that guard the algorithmic shape."""

    def invalidate(self, select: Callable[[T], bool] | None = None) -> None:
        """Derive again (at the next refresh) the pods whose value `select`s, or all of them."""
        if select is None:
            self._valid.clear()
            return
        for entry in self._entries.values():
            if select(entry.value):
                self._valid.pop(id(entry.pod), None)

    def values(self) -> list[tuple[Mapping[str, Any], T]]:
        return [(entry.pod, entry.value) for entry in self._entries.values()]

    def refresh(
        self, pods: Sequence[Mapping[str, Any]], derive: Callable[[Mapping[str, Any]], T]
    ) -> list[Change[T]]:
        """Bring the cache to `pods` (the candidates, unique names), deriving only new or changed
        pods; the changes. Nothing is kept if `derive` raises."""
        entries, valid = self._entries, self._valid
        rebound: list[tuple[_PodEntry[T], Mapping[str, Any]]] = []
        fresh: list[tuple[str, _PodEntry[T] | None, _PodEntry[T]]] = []
        for pod in [pod for pod in pods if id(pod) not in valid]:
            meta = pod.get("metadata") or {}
            name = meta.get("name") or ""
            entry = entries.get(name)
            version = meta.get("resourceVersion")
            if (
                entry is not None
                and valid.get(id(entry.pod)) is entry
                and version
                and entry.version == version
                and entry.uid == meta.get("uid")
            ):
                rebound.append((entry, pod))  # an equal copy (a relist): keep what was derived
                continue
            fresh.append((name, entry, _PodEntry(pod, meta.get("uid"), version, derive(pod))))
        self.derived += len(fresh)
        for entry, pod in rebound:
            del valid[id(entry.pod)]
            entry.pod = pod
            valid[id(pod)] = entry
        changes: list[Change[T]] = []
        for name, old, new in fresh:
            if old is not None:
                valid.pop(id(old.pod), None)
            entries[name] = new
            valid[id(new.pod)] = new
            changes.append((name, None if old is None else old.value, new.value))
        if len(entries) > len(pods):  # some are gone
            names = {(pod.get("metadata") or {}).get("name") or "" for pod in pods}
            for name in [name for name in entries if name not in names]:
                gone = entries.pop(name)
                valid.pop(id(gone.pod), None)
                changes.append((name, gone.value, None))
        return changes


# --- desired endpoints -------------------------------------------------------------------------


def address_types_for_service(service: Mapping[str, Any]) -> list[str]:
    """The address types of a Service's slices: its ipFamilies; without them (an old apiserver) the
    family of its clusterIP, and both for a headless Service."""
    spec = service.get("spec") or {}
    types = [family for family in spec.get("ipFamilies") or () if family in (IPV4, IPV6)]
    if types:
        return list(dict.fromkeys(types))
    if is_service_ip_set(service):
        return [IPV6 if is_ipv6(str(spec["clusterIP"])) else IPV4]
    return [IPV4, IPV6]


def endpoint_ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    """The service's ports resolved against one pod (ports the pod lacks are left out)."""
    spec = service.get("spec") or {}
    ports: list[Obj] = []
    for service_port in spec.get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {
            "name": service_port.get("name") or "",
            "port": number,
            "protocol": service_port.get("protocol") or "TCP",
        }
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


PortKey = tuple[tuple[str, int, str, str], ...]


def port_map_key(ports: Iterable[Mapping[str, Any]] | None) -> PortKey:
    """Identifies a set of ports regardless of order: slices are grouped by it."""
    return tuple(
        sorted(
            (str(p.get("name") or ""), int(p.get("port") or 0), str(p.get("protocol") or "TCP"),
             str(p.get("appProtocol") or ""))
            for p in ports or ()
        )
    )  # fmt: skip


def endpoint_addresses(pod: Mapping[str, Any], address_type: str) -> list[str]:
    version = 6 if address_type == IPV6 else 4
    parsed = [parse_ip(ip) for ip in pod_ips(pod)]
    return [p[1] for p in parsed if p is not None and p[0] == version]


def pod_to_endpoint(
    pod: Mapping[str, Any], node: Mapping[str, Any] | None, service: Mapping[str, Any], address_type: str
) -> Obj:
    """One pod's endpoint: serving is the pod's readiness, ready also requires that it is not
    terminating (unless the Service publishes not-ready addresses), zone from its Node."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    serving = is_pod_ready(pod)
    terminating = is_terminating(pod)
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    target: Obj = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", "")}
    if meta.get("uid"):
        target["uid"] = meta["uid"]
    endpoint: Obj = {
        "addresses": endpoint_addresses(pod, address_type),
        "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                       "terminating": terminating},
        "targetRef": target,
    }  # fmt: skip
    if spec.get("nodeName"):
        endpoint["nodeName"] = spec["nodeName"]
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(LABEL_TOPOLOGY_ZONE)
    if zone:
        endpoint["zone"] = zone
    if should_set_hostname(pod, service):
        endpoint["hostname"] = spec["hostname"]
    return endpoint


EndpointKey = str


def endpoint_key(endpoint: Mapping[str, Any]) -> EndpointKey:
    """What identifies an endpoint across syncs (addresses, hostname, pod): other fields may change
    in place. An interned string (the repr of those fields): its hash is computed once and equal
    keys are one object, so matching 10k endpoints per sync is cheap."""
    target = endpoint.get("targetRef") or {}
    return sys.intern(
        repr(
            (
                tuple(sorted(endpoint.get("addresses") or ())),
                str(endpoint.get("hostname") or ""),
                str(target.get("namespace") or ""),
                str(target.get("name") or ""),
            )
        )
    )


def _without_version(ref: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if ref is None or "resourceVersion" not in ref:
        return ref  # for comparing only: no copy
    return {k: v for k, v in ref.items() if k != "resourceVersion"}


Fingerprint = tuple[Any, ...]


def endpoint_fingerprint(endpoint: Mapping[str, Any]) -> Fingerprint:
    """What endpoint_key leaves out and a slice update must carry (a pod's resourceVersion does
    not count): two endpoints with the same key are equal when their fingerprints are."""
    conditions = endpoint.get("conditions") or {}
    return (
        endpoint.get("nodeName"),
        endpoint.get("zone"),
        conditions.get("ready"),
        conditions.get("serving"),
        conditions.get("terminating"),
        _without_version(endpoint.get("targetRef")),
    )


def endpoints_equal_beyond_key(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal in what endpoint_key leaves out (a pod's resourceVersion does not count)."""
    return endpoint_fingerprint(a) == endpoint_fingerprint(b)


SliceKeys = Sequence[tuple[EndpointKey, Fingerprint]]


def slice_endpoint_keys(endpoint_slice: Mapping[str, Any]) -> SliceKeys:
    """Key and fingerprint of each endpoint of a slice (the controller caches them per slice)."""
    return [(endpoint_key(e), endpoint_fingerprint(e)) for e in endpoint_slice.get("endpoints") or ()]


@dataclass(frozen=True, slots=True)
class DesiredEndpoint:
    """An endpoint a Service's slices should hold, with what comparing it needs precomputed; `order`
    (the pod's name, or its place in the list given) orders endpoints that go into new slices."""

    endpoint: Obj
    key: EndpointKey
    fingerprint: Fingerprint
    order: Any


@dataclass(frozen=True, slots=True)
class PodSlicing:
    """What one candidate pod contributes to its Service's slices: nothing unless `selected`;
    `port_key` None when it has no place in them (terminal, no IP); `skipped` when its Node is
    unknown; else an endpoint (or None without an address of that type) per address type."""

    selected: bool
    ready_time: datetime | None = None
    port_key: PortKey | None = None
    ports: tuple[Obj, ...] = ()
    node_name: str = ""
    skipped: str | None = None
    endpoints: tuple[DesiredEndpoint | None, ...] = ()


NOT_SELECTED = PodSlicing(selected=False)
NodeLookup = Callable[[str], Mapping[str, Any] | None]


def pod_slicing(
    service: Mapping[str, Any],
    pod: Mapping[str, Any],
    node_of: NodeLookup,
    address_types: Sequence[str],
    member: Any,
    selector: Selector | None = None,
) -> PodSlicing:
    """A pod's contribution (`member` names it in the aggregate: its name, or its place in a list);
    a `selector` it does not match makes it NOT_SELECTED."""
    meta = pod.get("metadata") or {}
    if selector is not None and not selector.matches(meta.get("labels") or {}):
        return NOT_SELECTED
    ready_time = ready_transition_time(pod)
    if not should_pod_be_in_endpoints(pod, include_terminating=True):
        return PodSlicing(True, ready_time)
    ports = endpoint_ports(service, pod)
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    node = node_of(node_name) if node_name else None
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    if node is None and not publish:
        skipped = f"{meta.get('name')} (node {node_name!r} not found)"
        return PodSlicing(True, ready_time, port_map_key(ports), tuple(ports), node_name, skipped)
    endpoints: list[DesiredEndpoint | None] = []
    for address_type in address_types:
        endpoint = pod_to_endpoint(pod, node, service, address_type)
        endpoints.append(
            DesiredEndpoint(endpoint, endpoint_key(endpoint), endpoint_fingerprint(endpoint), member)
            if endpoint["addresses"]
            else None
        )
    return PodSlicing(True, ready_time, port_map_key(ports), tuple(ports), node_name, None, tuple(endpoints))


@dataclass
class _PortGroup:
    ports: tuple[Obj, ...]
    members: set[Any] = field(default_factory=set)
    endpoints: list[dict[EndpointKey, DesiredEndpoint]] = field(default_factory=list)


class DesiredSlices:
    """The endpoints a Service's slices should hold, by set of ports and address type, kept up to
    date pod by pod (`add`/`remove` what PodCache.refresh reports) rather than rebuilt per sync."""

    def __init__(self, address_types: Sequence[str]) -> None:
        self.address_types = list(address_types)
        self.groups: dict[PortKey, _PortGroup] = {}
        self._skipped: dict[Any, str] = {}

    def add(self, member: Any, contribution: PodSlicing) -> None:
        if contribution.port_key is None:
            return
        group = self.groups.get(contribution.port_key)
        if group is None:
            group = _PortGroup(contribution.ports, endpoints=[{} for _ in self.address_types])
            self.groups[contribution.port_key] = group
        group.members.add(member)
        if contribution.skipped is not None:
            self._skipped[member] = contribution.skipped
        for by_key, endpoint in zip(group.endpoints, contribution.endpoints, strict=False):
            if endpoint is not None:
                by_key[endpoint.key] = endpoint

    def remove(self, member: Any, contribution: PodSlicing) -> None:
        if contribution.port_key is None:
            return
        group = self.groups[contribution.port_key]
        group.members.discard(member)
        self._skipped.pop(member, None)
        for by_key, endpoint in zip(group.endpoints, contribution.endpoints, strict=False):
            if endpoint is not None and by_key.get(endpoint.key) is endpoint:
                del by_key[endpoint.key]
        if not group.members:
            del self.groups[contribution.port_key]

    def ordered_groups(self) -> list[tuple[PortKey, _PortGroup]]:
        """In the order of the first pod of each (upstream walks the pods and meets them so)."""
        groups = list(self.groups.items())
        if len(groups) > 1:
            groups.sort(key=lambda item: min(item[1].members))
        return groups

    def skipped(self) -> list[str]:
        return [self._skipped[member] for member in sorted(self._skipped)]


# --- slices ------------------------------------------------------------------------------------


def slice_labels(
    current: Mapping[str, str] | None, service: Mapping[str, Any], controller_name: str = CONTROLLER_NAME
) -> tuple[dict[str, str], bool]:
    """(the labels a slice should have, whether its non-reserved labels differ from the Service's):
    the Service's labels plus service-name, managed-by and the headless marker; a Service using a
    reserved key does not override it."""
    own = {k: v for k, v in (current or {}).items() if k not in RESERVED_LABELS}
    service_meta = service.get("metadata") or {}
    wanted = {k: v for k, v in (service_meta.get("labels") or {}).items() if k not in RESERVED_LABELS}
    changed = own != wanted
    if not is_service_ip_set(service):
        wanted[LABEL_HEADLESS] = ""
    wanted[LABEL_SERVICE_NAME] = str(service_meta.get("name", ""))
    wanted[LABEL_MANAGED_BY] = controller_name
    return wanted, changed


def controller_ref(service: Mapping[str, Any]) -> Obj:
    meta = service.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Service", "name": meta.get("name"), "uid": meta.get("uid"),
            "controller": True, "blockOwnerDeletion": True}  # fmt: skip


def new_endpoint_slice(
    service: Mapping[str, Any], ports: Sequence[Mapping[str, Any]], address_type: str,
    controller_name: str = CONTROLLER_NAME,
) -> Obj:  # fmt: skip
    """An empty slice for the Service, named by the apiserver from "<service>-"."""
    meta = service.get("metadata") or {}
    labels, _ = slice_labels(None, service, controller_name)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{meta.get('name', '')}-",
            "namespace": meta.get("namespace", ""),
            "labels": labels,
            "ownerReferences": [controller_ref(service)],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": [dict(p) for p in ports],
    }


def owned_by(endpoint_slice: Mapping[str, Any], service: Mapping[str, Any]) -> bool:
    uid = (service.get("metadata") or {}).get("uid")
    return any(
        ref.get("uid") == uid and ref.get("kind") == "Service" and ref.get("apiVersion") == "v1"
        for ref in (endpoint_slice.get("metadata") or {}).get("ownerReferences") or ()
    )


def slice_to_fill(slices: Sequence[Obj], count: int, max_endpoints: int) -> Obj | None:
    """The slice that `count` more endpoints bring closest to full, if any has room for them all."""
    closest_diff, closest = max_endpoints, None
    for candidate in slices:
        diff = max_endpoints - (count + len(candidate.get("endpoints") or ()))
        if 0 <= diff < closest_diff:
            closest_diff, closest = diff, candidate
            if diff == 0:
                break
    return closest


def is_placeholder(endpoint_slice: Mapping[str, Any], placeholder: Mapping[str, Any]) -> bool:
    """Equal in what a placeholder is made of (namespace, labels, address type, no ports/endpoints)."""
    meta_a, meta_b = endpoint_slice.get("metadata") or {}, placeholder.get("metadata") or {}
    return (
        meta_a.get("namespace") == meta_b.get("namespace")
        and (meta_a.get("labels") or {}) == (meta_b.get("labels") or {})
        and endpoint_slice.get("addressType") == placeholder.get("addressType")
        and not endpoint_slice.get("endpoints")
        and not placeholder.get("endpoints")
        and not endpoint_slice.get("ports")
        and not placeholder.get("ports")
    )


@dataclass
class SliceChanges:
    """The writes that bring a Service's slices to the desired state."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def extend(self, other: SliceChanges) -> None:
        self.create += other.create
        self.update += other.update
        self.delete += other.delete


def _copy_slice(endpoint_slice: Mapping[str, Any]) -> Obj:
    """A slice to change: its own metadata and endpoint list; the endpoints themselves are shared,
    as nothing changes one in place (a changed endpoint is replaced)."""
    return {
        **endpoint_slice,
        "metadata": copy.deepcopy(endpoint_slice.get("metadata") or {}),
        "endpoints": list(endpoint_slice.get("endpoints") or ()),
    }


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


Desired = dict[EndpointKey, DesiredEndpoint]
Matcher = Callable[[Mapping[str, Any], Desired], "list[Obj] | None"]


def match_slice(endpoint_slice: Mapping[str, Any], desired: Desired) -> list[Obj] | None:
    """Take the slice's endpoints out of `desired`: None if the slice keeps all of them unchanged,
    else the desired endpoints it keeps (in its order; empty: it keeps none)."""
    kept: list[Obj] = []
    changed = False
    keys = slice_endpoint_keys(endpoint_slice)
    for key, fingerprint in keys:
        wanted = desired.pop(key, None)
        if wanted is not None:
            kept.append(wanted.endpoint)
            changed = changed or wanted.fingerprint != fingerprint
    return kept if changed or len(kept) != len(keys) else None


def reconcile_by_port_mapping(
    service: Mapping[str, Any],
    existing: Sequence[Obj],
    desired: Desired,
    ports: Sequence[Mapping[str, Any]],
    address_type: str,
    max_endpoints: int = MAX_ENDPOINTS_PER_SLICE,
    controller_name: str = CONTROLLER_NAME,
    match: Matcher = match_slice,
) -> SliceChanges:
    """Upstream's reconcileByPortMapping for one group of slices with the same ports: (1) drop
    unwanted endpoints from existing slices and refresh changed ones (and the labels), (2) fill the
    slices already being updated, fullest first, (3) put what is left (in `order`) into the
    unchanged slice it fills best, or new slices. `desired` is consumed."""
    by_name: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    for current in existing:
        name = _name(current)
        by_name[name] = current
        kept = match(current, desired)
        labels, labels_changed = slice_labels(
            (current.get("metadata") or {}).get("labels"), service, controller_name
        )
        if kept is not None:
            if not kept:
                to_delete.append(name)
                continue
            copied = _copy_slice(current)
            copied["endpoints"] = kept
            copied["metadata"]["labels"] = labels
            by_name[name] = copied
            to_update.append(name)
        elif labels_changed:
            copied = _copy_slice(current)
            copied["metadata"]["labels"] = labels
            by_name[name] = copied
            to_update.append(name)
        else:
            unchanged.append(name)

    remaining = iter([d.endpoint for d in sorted(desired.values(), key=lambda d: d.order)])
    left = len(desired)
    desired.clear()

    def fill(target: Obj) -> None:
        nonlocal left
        endpoints = target.setdefault("endpoints", [])
        while left > 0 and len(endpoints) < max_endpoints:
            endpoints.append(next(remaining))
            left -= 1

    if left and to_update:
        for updated in sorted((by_name[n] for n in to_update), key=lambda s: -len(s.get("endpoints") or ())):
            fill(updated)
    created: list[Obj] = []
    while left:
        target: Obj | None = None
        if left < max_endpoints and unchanged:
            target = slice_to_fill([by_name[n] for n in unchanged], left, max_endpoints)
        if target is None:
            target = new_endpoint_slice(service, ports, address_type, controller_name)
            created.append(target)
        else:
            target = _copy_slice(target)
            by_name[_name(target)] = target
            unchanged.remove(_name(target))
            to_update.append(_name(target))
        fill(target)
    return SliceChanges(created, [by_name[n] for n in to_update], [by_name[n] for n in to_delete])


def reconcile_by_address_type(
    service: Mapping[str, Any],
    desired: DesiredSlices,
    type_index: int,
    existing: Sequence[Obj],
    max_endpoints: int = MAX_ENDPOINTS_PER_SLICE,
    controller_name: str = CONTROLLER_NAME,
    match: Matcher = match_slice,
) -> tuple[SliceChanges, list[str]]:
    """The changes for one address type, and the pods skipped because their Node is unknown."""
    address_type = desired.address_types[type_index]
    changes = SliceChanges()
    existing_by_ports: dict[PortKey, list[Obj]] = {}
    for current in existing:
        if owned_by(current, service):
            existing_by_ports.setdefault(port_map_key(current.get("ports")), []).append(current)
        else:
            changes.delete.append(current)
    for key, group in desired.ordered_groups():
        changes.extend(
            reconcile_by_port_mapping(
                service, existing_by_ports.get(key, []), dict(group.endpoints[type_index]), group.ports,
                address_type, max_endpoints, controller_name, match,
            )
        )  # fmt: skip
    for key, slices in existing_by_ports.items():
        if key not in desired.groups:
            changes.delete.extend(slices)
    if len(existing) == len(changes.delete) and not changes.create:
        placeholder = new_endpoint_slice(service, [], address_type, controller_name)
        if len(changes.delete) == 1 and is_placeholder(changes.delete[0], placeholder):
            changes.delete.clear()  # the placeholder we have is the one we would make
        else:
            changes.create.append(placeholder)
    return changes, desired.skipped()


def reconcile_desired(
    service: Mapping[str, Any],
    desired: DesiredSlices,
    existing: Sequence[Obj],
    max_endpoints: int = MAX_ENDPOINTS_PER_SLICE,
    controller_name: str = CONTROLLER_NAME,
    match: Matcher = match_slice,
) -> tuple[SliceChanges, list[str]]:
    """Upstream's Reconciler.Reconcile given the desired endpoints (`desired.address_types` must be
    the Service's): slices of address types the Service no longer has are deleted, then creates
    are turned into updates of slices that would be deleted (finalize)."""
    types = desired.address_types
    changes = SliceChanges()
    skipped: list[str] = []
    for index, address_type in enumerate(types):
        of_type = [s for s in existing if s.get("addressType") == address_type]
        type_changes, type_skipped = reconcile_by_address_type(
            service, desired, index, of_type, max_endpoints, controller_name, match
        )
        changes.extend(type_changes)
        skipped += type_skipped
    changes.delete += [s for s in existing if s.get("addressType") not in types]
    return reuse_deleted_slices(service, changes), skipped


def reconcile_slices(
    service: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    existing: Sequence[Obj],
    node_of: NodeLookup,
    max_endpoints: int = MAX_ENDPOINTS_PER_SLICE,
    controller_name: str = CONTROLLER_NAME,
) -> tuple[SliceChanges, list[str]]:
    """Upstream's Reconciler.Reconcile, pure: the slice writes for a Service given the pods it
    selects (new endpoints are placed in their order) and the slices it has. The controller keeps
    the desired endpoints up to date between syncs and calls reconcile_desired."""
    desired = DesiredSlices(address_types_for_service(service))
    for index, pod in enumerate(pods):
        desired.add(index, pod_slicing(service, pod, node_of, desired.address_types, index))
    return reconcile_desired(service, desired, existing, max_endpoints, controller_name)


def reuse_deleted_slices(service: Mapping[str, Any], changes: SliceChanges) -> SliceChanges:
    """A slice to create takes the place of one to delete (same address type, owned by this
    Service): one update instead of a create and a delete."""
    create, update, delete = list(changes.create), list(changes.update), list(changes.delete)
    index = 0
    while index < len(delete) and create:
        doomed, fresh = delete[index], create[-1]
        if doomed.get("addressType") == fresh.get("addressType") and owned_by(doomed, service):
            fresh["metadata"].pop("generateName", None)
            fresh["metadata"]["name"] = _name(doomed)
            version = (doomed.get("metadata") or {}).get("resourceVersion")
            if version:
                fresh["metadata"]["resourceVersion"] = version
            create.pop()
            update.append(fresh)
            delete.pop(index)
        else:
            index += 1
    return SliceChanges(create, update, delete)


def with_trigger_time(endpoint_slice: Obj, trigger_time: datetime | None) -> Obj:
    annotations = endpoint_slice["metadata"].setdefault("annotations", {})
    if trigger_time is not None:
        annotations[ANNOTATION_TRIGGER_TIME] = format_trigger_time(trigger_time)
    else:
        annotations.pop(ANNOTATION_TRIGGER_TIME, None)
    if not annotations:
        del endpoint_slice["metadata"]["annotations"]
    return endpoint_slice


# --- the tracker of this controller's own writes -------------------------------------------------

DELETION_EXPECTED = -1


def _version(endpoint_slice: Mapping[str, Any]) -> int:
    """How new a slice is. Upstream compares metadata.generation; our apiserver does not keep a
    generation for EndpointSlices, so the resourceVersion (etcd's mod_revision) stands in for it."""
    meta = endpoint_slice.get("metadata") or {}
    try:
        return int(meta.get("resourceVersion") or 0)
    except ValueError:
        return 0


def _service_of(endpoint_slice: Mapping[str, Any]) -> tuple[str, str]:
    meta = endpoint_slice.get("metadata") or {}
    return str(meta.get("namespace", "")), str((meta.get("labels") or {}).get(LABEL_SERVICE_NAME, ""))


class EndpointSliceTracker:
    """Upstream's EndpointSliceTracker: the versions of the slices this controller last wrote, per
    Service, so a sync can tell that the informer lags behind its own writes (and a watch event
    that only echoes its own write does not trigger another sync)."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], dict[str, int]] = {}
        self._service_uids: dict[tuple[str, str], str] = {}

    def _uid(self, endpoint_slice: Mapping[str, Any]) -> str:
        return str((endpoint_slice.get("metadata") or {}).get("uid", ""))

    def has(self, endpoint_slice: Mapping[str, Any]) -> bool:
        return self._uid(endpoint_slice) in self._versions.get(_service_of(endpoint_slice), {})

    def should_sync(self, endpoint_slice: Mapping[str, Any]) -> bool:
        tracked = self._versions.get(_service_of(endpoint_slice), {}).get(self._uid(endpoint_slice))
        return tracked is None or _version(endpoint_slice) > tracked

    def stale_slices(self, service: Mapping[str, Any], slices: Iterable[Mapping[str, Any]]) -> bool:
        meta = service.get("metadata") or {}
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        uid = str(meta.get("uid") or "")
        if self._service_uids.get(key) not in (None, "", uid) and uid:
            self._versions.pop(key, None)  # a new Service of the same name: old writes do not count
        self._service_uids[key] = uid
        tracked = self._versions.get(key)
        if tracked is None:
            return False
        provided = set()
        for endpoint_slice in slices:
            slice_uid = self._uid(endpoint_slice)
            provided.add(slice_uid)
            version = tracked.get(slice_uid)
            if version is not None and (version == DELETION_EXPECTED or version > _version(endpoint_slice)):
                return True
        return any(v != DELETION_EXPECTED and u not in provided for u, v in tracked.items())

    def update(self, endpoint_slice: Mapping[str, Any]) -> None:
        self._versions.setdefault(_service_of(endpoint_slice), {})[self._uid(endpoint_slice)] = _version(
            endpoint_slice
        )

    def expect_deletion(self, endpoint_slice: Mapping[str, Any]) -> None:
        self._versions.setdefault(_service_of(endpoint_slice), {})[self._uid(endpoint_slice)] = (
            DELETION_EXPECTED
        )

    def handle_deletion(self, endpoint_slice: Mapping[str, Any]) -> bool:
        """Forget a deleted slice; False when the deletion was not this controller's."""
        tracked = self._versions.get(_service_of(endpoint_slice))
        if tracked is None:
            return True
        version = tracked.pop(self._uid(endpoint_slice), None)
        return version is None or version == DELETION_EXPECTED

    def delete_service(self, namespace: str, name: str) -> None:
        self._versions.pop((namespace, name), None)
        self._service_uids.pop((namespace, name), None)


# --- what a sync keeps for the next ----------------------------------------------------------------

SLICE_SERVICE_INDEX = "endpointslice-service"
"""EndpointSlice index by "<namespace>/<service-name label>": a Service's slices without scanning
every slice of its namespace."""


def slice_service_index(endpoint_slice: Obj) -> list[str]:
    namespace, service = _service_of(endpoint_slice)
    return [f"{namespace}/{service}"] if service else []


NodeInfo = tuple[bool, Any]
"""What an endpoint takes from its pod's Node: whether it exists, its zone label."""


def node_info(node: Mapping[str, Any] | None) -> NodeInfo:
    if node is None:
        return False, None
    return True, ((node.get("metadata") or {}).get("labels") or {}).get(LABEL_TOPOLOGY_ZONE)


@dataclass(slots=True)
class _SliceMatch:
    slice: Mapping[str, Any]
    version: str
    keys: list[EndpointKey]
    fingerprints: list[Fingerprint]
    unchanged: list[DesiredEndpoint | None] | None = None
    """The desired endpoints the slice matched, all unchanged, at its last sync."""


class _SliceSync:
    """Per Service, what the last sync derived: each candidate pod's contribution (PodCache), the
    desired endpoints aggregated from them, the Node facts they used (a changed Node re-derives
    its pods), and each existing slice's endpoint keys. Valid while the Service's spec is unchanged."""

    def __init__(self, spec: Mapping[str, Any], address_types: list[str], pods: PodCache[PodSlicing]) -> None:
        self.spec = spec
        self.pods = pods
        self.desired = DesiredSlices(address_types)
        self.nodes: dict[str, NodeInfo] = {}
        self._slices: dict[str, _SliceMatch] = {}

    def match(self, endpoint_slice: Mapping[str, Any], desired: Desired) -> list[Obj] | None:
        """match_slice, with the slice's endpoint keys computed once per version of it, and a slice
        whose endpoints are the very ones it matched unchanged last time found unchanged at once."""
        meta = endpoint_slice.get("metadata") or {}
        name = str(meta.get("name") or "")
        version = f"{meta.get('uid') or ''}/{meta.get('resourceVersion') or ''}"
        cached = self._slices.get(name)
        if cached is None or not (
            cached.slice is endpoint_slice or (meta.get("resourceVersion") and cached.version == version)
        ):
            keys = slice_endpoint_keys(endpoint_slice)
            cached = _SliceMatch(endpoint_slice, version, [k for k, _ in keys], [f for _, f in keys])
            self._slices[name] = cached
        wanted = list(map(desired.pop, cached.keys, itertools.repeat(None, len(cached.keys))))
        if cached.unchanged is not None and wanted == cached.unchanged:
            return None
        kept: list[Obj] = []
        changed = False
        for endpoint, fingerprint in zip(wanted, cached.fingerprints, strict=True):
            if endpoint is not None:
                kept.append(endpoint.endpoint)
                changed = changed or endpoint.fingerprint != fingerprint
        if changed or len(kept) != len(wanted):
            cached.unchanged = None
            return kept
        cached.unchanged = wanted
        return None

    def keep_slices(self, slices: Iterable[Mapping[str, Any]]) -> None:
        names = {_name(s) for s in slices}
        self._slices = {name: match for name, match in self._slices.items() if name in names}


# --- the controller ------------------------------------------------------------------------------


class EndpointSliceController(QueueController):
    name = "endpointslice-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_service_endpoint_syncs)
        self.queue = WorkQueue(
            self.name,
            MaxOfRateLimiter(
                ExponentialBackoff(SYNC_BACKOFF, MAX_SYNC_BACKOFF), TokenBucket(clock=ctx.clock)
            ),
            clock=ctx.clock,
        )
        self.max_endpoints = ctx.options.max_endpoints_per_slice
        self.batch_period = ctx.options.endpointslice_updates_batch_period
        self.tracker = EndpointSliceTracker()
        self.triggers = TriggerTimeTracker()
        self.services = ctx.informers.informer("services")
        self.pods = ctx.informers.informer("pods")
        self.nodes = ctx.informers.informer("nodes")
        self.slices = ctx.informers.informer("endpointslices")
        self.pods.add_indexer(POD_LABEL_INDEX, pod_label_index)
        self.slices.add_indexer(SLICE_SERVICE_INDEX, slice_service_index)
        self.syncs: dict[str, _SliceSync] = {}
        """Per Service key, what its last sync derived (dropped with the Service)."""
        self.services.add_handler(self.enqueue, self.enqueue_update, self.enqueue)
        self.pods.add_handler(self.add_pod, self.update_pod, self.add_pod)
        self.slices.add_handler(self.add_slice, self.update_slice, self.delete_slice)

    # --- handlers ---

    def _services_in(self, namespace: str) -> list[Obj]:
        return self.services.store.by_index("namespace", namespace)

    def add_pod(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        for key in sorted(services_for_pod(self._services_in(meta.get("namespace", "")), meta.get("labels"))):
            self.queue.add_after(key, self.batch_period)

    def update_pod(self, old: Obj, new: Obj) -> None:
        namespace = (new.get("metadata") or {}).get("namespace", "")
        for key in sorted(services_to_update_on_pod_change(self._services_in(namespace), old, new)):
            self.queue.add_after(key, self.batch_period)

    def _queue_service_of(self, endpoint_slice: Obj) -> None:
        namespace, service = _service_of(endpoint_slice)
        if service:
            self.queue.add_after(
                f"{namespace}/{service}", max(SLICE_CHANGE_MIN_SYNC_DELAY, self.batch_period)
            )

    def _managed(self, endpoint_slice: Obj) -> bool:
        return bool(
            ((endpoint_slice.get("metadata") or {}).get("labels") or {}).get(LABEL_MANAGED_BY)
            == CONTROLLER_NAME
        )

    def add_slice(self, endpoint_slice: Obj) -> None:
        if self._managed(endpoint_slice) and self.tracker.should_sync(endpoint_slice):
            self._queue_service_of(endpoint_slice)

    def update_slice(self, old: Obj, new: Obj) -> None:
        if _service_of(old) != _service_of(new):
            self._queue_service_of(new)
            self._queue_service_of(old)
        elif self._managed(old) != self._managed(new) or (
            self._managed(new) and self.tracker.should_sync(new)
        ):
            self._queue_service_of(new)

    def delete_slice(self, endpoint_slice: Obj) -> None:
        if (
            self._managed(endpoint_slice)
            and self.tracker.has(endpoint_slice)
            and not self.tracker.handle_deletion(endpoint_slice)
        ):
            self._queue_service_of(endpoint_slice)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            self.triggers.delete_service(namespace, name)
            self.tracker.delete_service(namespace, name)
            self.syncs.pop(key, None)
            return  # the slices go with their owner (garbage collector)
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return  # their slices, if any, are someone else's
        existing = sorted(
            (
                s
                for s in self.slices.store.by_index(SLICE_SERVICE_INDEX, key)
                if self._managed(s) and _service_of(s) == (namespace, name) and not is_terminating(s)
            ),
            key=_name,
        )
        if self.tracker.stale_slices(service, existing):
            raise StaleInformerCache(f"EndpointSlice informer cache is out of date for Service {key}")
        sync, trigger_time = self._refresh(key, service)
        changes, skipped = reconcile_desired(
            service, sync.desired, existing, self.max_endpoints, match=sync.match
        )
        sync.keep_slices(existing)
        try:
            await self._write(service, changes, trigger_time)
        except ApiError as error:
            self.record(
                service, "Warning", "FailedToUpdateEndpointSlices",
                f"Error updating Endpoint Slices for Service {key}: {error}",
            )  # fmt: skip
            raise
        if skipped:
            raise PodsSkipped(f"skipped pods of Service {key} whose Node is not found: {', '.join(skipped)}")

    def _node(self, name: str) -> Mapping[str, Any] | None:
        return self.nodes.store.get(name)

    def _refresh(self, key: str, service: Obj) -> tuple[_SliceSync, datetime | None]:
        """Bring the Service's desired endpoints up to date with its pods, deriving only the pods
        (and the pods of Nodes) that changed since its last sync; the trigger time."""
        namespace, _ = split_key(key)
        spec = service.get("spec") or {}
        sync = self.syncs.get(key)
        reset = sync is None or (sync.spec is not spec and sync.spec != spec)
        if sync is None or reset:
            pods: PodCache[PodSlicing] = PodCache() if sync is None else sync.pods
            pods.invalidate()  # the same pods (for the trigger time), derived anew
            types = address_types_for_service(service)
        else:
            pods, types = sync.pods, sync.desired.address_types
            moved = {node for node, info in sync.nodes.items() if node_info(self._node(node)) != info}
            if moved:
                pods.invalidate(lambda contribution: contribution.node_name in moved)
                for node in moved:
                    del sync.nodes[node]
        selector = from_set(spec["selector"])

        def derive(pod: Mapping[str, Any]) -> PodSlicing:
            name = str((pod.get("metadata") or {}).get("name") or "")
            return pod_slicing(service, pod, self._node, types, name, selector)

        changes = pods.refresh(candidate_pods(self.pods.store, namespace, spec["selector"]), derive)
        # a new aggregate only now: had derive raised, the old one would still match the cache
        if sync is None or reset:
            sync = self.syncs[key] = _SliceSync(spec, types, pods)
        for name, old, new in changes:
            if old is not None and not reset:
                sync.desired.remove(name, old)
            if new is not None:
                sync.desired.add(name, new)
                if new.port_key is not None and new.node_name and new.node_name not in sync.nodes:
                    sync.nodes[new.node_name] = node_info(self._node(new.node_name))  # checked above
        trigger_time = self.triggers.update(
            service, [(name, None if new is None else new.ready_time) for name, _, new in changes]
        )
        return sync, trigger_time

    async def _write(self, service: Obj, changes: SliceChanges, trigger_time: datetime | None) -> None:
        """Creates (not while the Service is being deleted: the garbage collector would race us),
        then updates, then deletes; each remembered in the tracker."""
        namespace = (service.get("metadata") or {}).get("namespace", "")
        if not is_terminating(service):
            for endpoint_slice in changes.create:
                try:
                    created = await self.client.create(
                        "endpointslices", with_trigger_time(endpoint_slice, trigger_time), namespace=namespace
                    )
                except ApiError as error:
                    if namespace_terminating(error):
                        return
                    raise
                self.tracker.update(created)
        for endpoint_slice in changes.update:
            updated = await self.client.update(
                "endpointslices", with_trigger_time(endpoint_slice, trigger_time), namespace=namespace
            )
            self.tracker.update(updated)
        for endpoint_slice in changes.delete:
            try:
                await self.client.delete("endpointslices", _name(endpoint_slice), namespace=namespace)
            except ApiError as error:
                if not is_not_found(error):
                    raise
                continue
            self.tracker.expect_deletion(endpoint_slice)
        if changes:
            log.info(
                "Synced EndpointSlices",
                service=object_key(service),
                created=len(changes.create),
                updated=len(changes.update),
                deleted=len(changes.delete),
            )


def new(ctx: ControllerContext) -> EndpointSliceController:
    return EndpointSliceController(ctx)
