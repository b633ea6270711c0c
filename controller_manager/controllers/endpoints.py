"""The Endpoints controller (upstream pkg/controller/endpoint): for every Service with a selector, an
Endpoints object of the same name whose subsets list the pods it selects, ready pods in `addresses`
and the others in `notReadyAddresses` (all in `addresses` with publishNotReadyAddresses), ports
resolved per pod (a named targetPort is looked up in the pod's container ports).

Subsets are repacked into upstream's canonical form (addresses grouped by the exact set of ports
they serve, sorted) so that comparing with what is stored tells whether anything changed; the
object is written only then. Services without a selector are left alone (their Endpoints are
written by someone else, like the apiserver's `kubernetes`); the Endpoints of a deleted Service are
deleted. Over 1000 addresses are truncated and annotated `endpoints.kubernetes.io/over-capacity`.

Every pod event re-syncs its Service, so the addresses are not rebuilt and repacked from all pods
per sync: each pod's address is derived once per version of the pod and kept, sorted, in groups
that read off as the repacked subsets (_AddressSync); desired_subsets does it from scratch (pure).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from componentbase.klog import get_logger
from controller_manager.controller import ControllerContext, QueueController, split_key
from controller_manager.controllers.endpointslice import (
    ANNOTATION_TRIGGER_TIME,
    LABEL_HEADLESS,
    POD_LABEL_INDEX,
    PodCache,
    StaleInformerCache,
    TriggerTimeTracker,
    candidate_pods,
    find_port,
    format_trigger_time,
    is_ipv6,
    is_pod_ready,
    is_service_ip_set,
    namespace_terminating,
    pod_ips,
    pod_label_index,
    ready_transition_time,
    services_for_pod,
    services_to_update_on_pod_change,
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from kubeapi.labels import Selector, from_set
from kubeclient.errors import ApiError, is_not_found

log = get_logger(__name__)
Obj = dict[str, Any]

MAX_CAPACITY = 1000
"""Addresses an Endpoints object holds at most; the rest are left out (EndpointSlices have them)."""
ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
TRUNCATED = "truncated"
ANNOTATION_LEADER = "control-plane.alpha.kubernetes.io/leader"
"""Endpoints used as an old-style leader-election lock: they have no Service and must stay."""


# --- desired subsets ----------------------------------------------------------------------------


def address_family(service: Mapping[str, Any], pod: Mapping[str, Any]) -> str:
    """The family of the Service's addresses: its first ipFamily; without ipFamilies (an old
    apiserver) that of its clusterIP, or for a headless Service that of the pod's IP."""
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or ()
    if families:
        return str(families[0])
    if is_service_ip_set(service):
        return "IPv6" if is_ipv6(str(spec["clusterIP"])) else "IPv4"
    ips = pod_ips(pod)
    return "IPv6" if ips and is_ipv6(ips[0]) else "IPv4"


def endpoint_address(service: Mapping[str, Any], pod: Mapping[str, Any]) -> Obj | None:
    """The pod's address for the Service (its IP of the Service's family), or None if it has none."""
    want_v6 = address_family(service, pod) == "IPv6"
    ip = next((ip for ip in pod_ips(pod) if is_ipv6(ip) is want_v6), None)
    if ip is None:
        return None
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    target: Obj = {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", "")}
    if meta.get("uid"):
        target["uid"] = meta["uid"]
    address: Obj = {"ip": ip}
    if should_set_hostname(pod, service):
        address["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        address["nodeName"] = spec["nodeName"]
    address["targetRef"] = target
    return address


def endpoint_port(service_port: Mapping[str, Any], number: int) -> Obj:
    port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("name"):
        port = {"name": service_port["name"], **port}
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def desired_subsets(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]
) -> tuple[list[Obj], int, int]:
    """(the repacked subsets, ready count, not-ready count) for the pods a Service selects: one
    address per pod and resolved port, ready ones (or all with publishNotReadyAddresses) in
    `addresses`; terminating pods only with publishNotReadyAddresses; a headless Service without
    ports lists its pods with no ports."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    service_ports = spec.get("ports") or []
    subsets: list[Obj] = []
    ready_count = not_ready_count = 0
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, include_terminating=publish):
            continue
        address = endpoint_address(service, pod)
        if address is None:
            continue
        field = "addresses" if publish or is_pod_ready(pod) else "notReadyAddresses"
        if not service_ports:
            if spec.get("clusterIP") == "None":
                subsets.append({field: [address], "ports": []})
                ready_count += field == "addresses"
                not_ready_count += field != "addresses"
            continue
        for service_port in service_ports:
            number = find_port(pod, service_port)
            if number is None:
                continue
            subsets.append({field: [address], "ports": [endpoint_port(service_port, number)]})
            ready_count += field == "addresses"
            not_ready_count += field != "addresses"
    return repack_subsets(subsets), ready_count, not_ready_count


PortKey = tuple[str, int, str, str]
AddressKey = tuple[str, str]
NO_PORTS: PortKey = ("", -1, "", "")
"""Stands for "no ports" while repacking, so a headless Service's port-less addresses are kept."""


def _port_key(port: Mapping[str, Any]) -> PortKey:
    return (str(port.get("name") or ""), int(port.get("port") or 0), str(port.get("protocol") or ""),
            str(port.get("appProtocol") or ""))  # fmt: skip


def _address_key(address: Mapping[str, Any]) -> AddressKey:
    return (str(address.get("ip") or ""), str((address.get("targetRef") or {}).get("uid") or ""))


def _address_order(address: Mapping[str, Any]) -> tuple[bytes, int, str]:
    """Upstream's LessEndpointAddress: by IP bytes, then no targetRef first, then the pod's uid."""
    target = address.get("targetRef")
    return (str(address.get("ip") or "").encode(), 1 if target else 0, str((target or {}).get("uid") or ""))


def repack_subsets(subsets: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """Upstream's RepackSubsets: expand subsets to (port, address, ready) and regroup them so each
    subset holds the addresses that serve exactly the same ports, an address not ready for a port
    if any subset says so; addresses, ports and subsets in a fixed order. Upstream orders ports and
    subsets by a hash of Go's dump of them; here by their fields, which is as canonical."""
    addresses: dict[AddressKey, Mapping[str, Any]] = {}
    ports: dict[PortKey, Mapping[str, Any]] = {}
    readiness: dict[PortKey, dict[AddressKey, bool]] = {}
    for subset in subsets:
        subset_ports = subset.get("ports") or [None]
        for port in subset_ports:
            port_key = NO_PORTS if port is None else _port_key(port)
            if port is not None:
                ports.setdefault(port_key, port)
            by_address = readiness.setdefault(port_key, {})
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                for address in subset.get(field) or ():
                    key = _address_key(address)
                    addresses.setdefault(key, address)
                    if by_address.get(key, True):
                        by_address[key] = ready  # not ready wins over ready
    groups: dict[frozenset[tuple[AddressKey, bool]], list[PortKey]] = {}
    for port_key, by_address in readiness.items():
        if by_address:
            groups.setdefault(frozenset(by_address.items()), []).append(port_key)
    repacked: list[Obj] = []
    for members, port_keys in groups.items():
        packed: Obj = {}
        ready_addresses = sorted((addresses[k] for k, r in members if r), key=_address_order)
        not_ready_addresses = sorted((addresses[k] for k, r in members if not r), key=_address_order)
        if ready_addresses:
            packed["addresses"] = [dict(a) for a in ready_addresses]
        if not_ready_addresses:
            packed["notReadyAddresses"] = [dict(a) for a in not_ready_addresses]
        if port_keys != [NO_PORTS]:
            packed["ports"] = [dict(ports[k]) for k in sorted(k for k in port_keys if k != NO_PORTS)]
        repacked.append(packed)
    return sorted(repacked, key=_subset_order)


def _subset_order(subset: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        [_port_key(p) for p in subset.get("ports") or ()],
        [_address_order(a) for a in subset.get("addresses") or ()],
        [_address_order(a) for a in subset.get("notReadyAddresses") or ()],
    )


def truncate_subsets(subsets: Sequence[Mapping[str, Any]]) -> tuple[list[Obj], bool]:
    """Upstream's truncateEndpoints: at most MAX_CAPACITY addresses, ready ones first, each subset
    keeping its share (rounded up); True if anything was left out."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    result = [dict(s) for s in subsets]  # the lists in it are replaced, never changed in place
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return result, False
    truncate_ready = total_ready > MAX_CAPACITY
    limit = MAX_CAPACITY if truncate_ready else MAX_CAPACITY - total_ready
    total = total_ready if truncate_ready else total_not_ready
    room = limit
    for subset in result:
        field = "addresses" if truncate_ready else "notReadyAddresses"
        count = len(subset.get(field) or ())
        share = min(-(-count * limit // total), room)  # ceil(count / total * limit)
        kept = (subset.get(field) or [])[:share]
        if kept:
            subset[field] = kept
        else:
            subset.pop(field, None)
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        room -= len(kept)
    return result, True


def _normalized(value: Any) -> Any:
    """For comparing subsets: empty lists, empty strings and None are absent; a pod's
    resourceVersion in a targetRef does not count."""
    if isinstance(value, Mapping):
        return {
            k: _normalized(v)
            for k, v in value.items()
            if v not in (None, "", [], {}) and k != "resourceVersion"
        }
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def subsets_equal(a: Sequence[Mapping[str, Any]] | None, b: Sequence[Mapping[str, Any]] | None) -> bool:
    a, b = list(a or []), list(b or [])
    return a == b or bool(_normalized(a) == _normalized(b))  # the first is the common case, and cheap


def endpoints_labels(service: Mapping[str, Any]) -> dict[str, str]:
    """The Service's labels, plus the headless marker for a Service without a cluster IP."""
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if is_service_ip_set(service):
        labels.pop(LABEL_HEADLESS, None)
    else:
        labels[LABEL_HEADLESS] = ""
    return labels


def desired_endpoints(
    service: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    subsets: Sequence[Mapping[str, Any]],
    trigger_time: datetime | None,
) -> Obj | None:
    """The Endpoints object to write for the Service, or None if `current` already is it (same
    subsets after truncation, same labels but for the headless marker, the over-capacity annotation
    as it should be). Upstream compares the untruncated subsets, so it rewrites an over-capacity
    Endpoints on every sync; comparing what would be written makes a second sync a no-op."""
    truncated, over = truncate_subsets(subsets)
    service_meta = service.get("metadata") or {}
    if current is not None:
        meta = current.get("metadata") or {}
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != LABEL_HEADLESS}
        over_annotated = ANNOTATION_OVER_CAPACITY in (meta.get("annotations") or {})
        if (
            subsets_equal(current.get("subsets"), truncated)
            and labels == (service_meta.get("labels") or {})
            and over_annotated == over
        ):
            return None
        wanted = {**current, "metadata": copy.deepcopy(current.get("metadata") or {})}  # subsets are replaced
    else:
        wanted = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": service_meta.get("name"), "namespace": service_meta.get("namespace")},
        }
    meta = wanted.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    if trigger_time is not None:
        annotations[ANNOTATION_TRIGGER_TIME] = format_trigger_time(trigger_time)
    else:
        annotations.pop(ANNOTATION_TRIGGER_TIME, None)
    if over:
        annotations[ANNOTATION_OVER_CAPACITY] = TRUNCATED
    else:
        annotations.pop(ANNOTATION_OVER_CAPACITY, None)
    for key, value in (("annotations", annotations), ("labels", endpoints_labels(service))):
        if value:
            meta[key] = value
        else:
            meta.pop(key, None)
    wanted["subsets"] = truncated
    return wanted


# --- what a sync keeps for the next ----------------------------------------------------------------

AddressOrder = tuple[bytes, int, str]
Profile = tuple[bool, tuple[PortKey, ...]]
"""An address's readiness and the ports it serves: addresses with the same profile share subsets."""


@dataclass(frozen=True, slots=True)
class PodAddress:
    """What one candidate pod contributes to its Service's Endpoints: nothing unless `selected` and
    it has an `address`; then that address for each of `ports` (key and port, None for the no-ports
    stand-in of a headless Service without ports), in `addresses` if `ready`."""

    selected: bool
    ready_time: datetime | None = None
    address: Obj | None = None
    order: AddressOrder = (b"", 0, "")
    ready: bool = False
    ports: tuple[tuple[PortKey, Obj | None], ...] = ()
    profile: Profile = (False, ())


NOT_SELECTED = PodAddress(selected=False)


def pod_address(
    service: Mapping[str, Any], pod: Mapping[str, Any], selector: Selector | None = None
) -> PodAddress:
    """desired_subsets for one pod (a `selector` it does not match makes it NOT_SELECTED)."""
    if selector is not None and not selector.matches((pod.get("metadata") or {}).get("labels") or {}):
        return NOT_SELECTED
    ready_time = ready_transition_time(pod)
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    if not should_pod_be_in_endpoints(pod, include_terminating=publish):
        return PodAddress(True, ready_time)
    address = endpoint_address(service, pod)
    if address is None:
        return PodAddress(True, ready_time)
    ready = publish or is_pod_ready(pod)
    ports: list[tuple[PortKey, Obj | None]] = []
    service_ports = spec.get("ports") or []
    if not service_ports and spec.get("clusterIP") == "None":
        ports.append((NO_PORTS, None))
    for service_port in service_ports:
        number = find_port(pod, service_port)
        if number is not None:
            port = endpoint_port(service_port, number)
            ports.append((_port_key(port), port))
    if not ports:
        return PodAddress(True, ready_time)
    profile = (ready, tuple(sorted({key for key, _ in ports})))
    return PodAddress(True, ready_time, address, _address_order(address), ready, tuple(ports), profile)


class _SortedAddresses:
    """Addresses kept in upstream's order, so a sync does not sort 10k of them again: a few new
    ones are inserted in place, many (a first sync) sorted in at once when next read."""

    __slots__ = ("_new", "addresses", "orders")

    def __init__(self) -> None:
        self.orders: list[AddressOrder] = []
        self.addresses: list[Obj] = []
        self._new: list[tuple[AddressOrder, Obj]] = []

    def __len__(self) -> int:
        return len(self.orders) + len(self._new)

    def add(self, order: AddressOrder, address: Obj) -> None:
        self._new.append((order, address))

    def remove(self, order: AddressOrder, address: Obj) -> None:
        for index, (_, added) in enumerate(self._new):
            if added is address:
                del self._new[index]
                return
        for index in range(bisect.bisect_left(self.orders, order), bisect.bisect_right(self.orders, order)):
            if self.addresses[index] is address:
                del self.orders[index], self.addresses[index]
                return

    def settle(self) -> None:
        if len(self._new) > 64:
            pairs = sorted([*zip(self.orders, self.addresses, strict=True), *self._new], key=itemgetter(0))
            self.orders = [order for order, _ in pairs]
            self.addresses = [address for _, address in pairs]
        else:
            for order, address in self._new:
                index = bisect.bisect_right(self.orders, order)
                self.orders.insert(index, order)
                self.addresses.insert(index, address)
        self._new.clear()


def _merged(groups: Sequence[_SortedAddresses]) -> list[Obj]:
    """The addresses of several groups in order (timsort merges the sorted runs)."""
    for group in groups:
        group.settle()
    if len(groups) == 1:
        return list(groups[0].addresses)
    pairs = sorted(
        ((o, a) for g in groups for o, a in zip(g.orders, g.addresses, strict=True)), key=itemgetter(0)
    )
    return [address for _, address in pairs]


class _AddressSync:
    """Per Service, what the last sync derived: each candidate pod's contribution (PodCache) and
    the addresses grouped by profile, kept sorted, from which the repacked subsets are read off
    without repacking. Valid while the Service's spec is unchanged. Two pods with the same address
    (same IP and uid: not in a real cluster) are left to upstream's repacking (desired_subsets)."""

    def __init__(self, spec: Mapping[str, Any], pods: PodCache[PodAddress]) -> None:
        self.spec = spec
        self.pods = pods
        self.groups: dict[Profile, _SortedAddresses] = {}
        self.ports: dict[PortKey, Obj] = {}
        self.orders: dict[AddressOrder, int] = {}
        self.collisions = 0
        self.ready = self.not_ready = 0

    def add(self, contribution: PodAddress) -> None:
        if contribution.address is None:
            return
        group = self.groups.get(contribution.profile)
        if group is None:
            group = self.groups[contribution.profile] = _SortedAddresses()
        group.add(contribution.order, contribution.address)
        for key, port in contribution.ports:
            if port is not None:
                self.ports.setdefault(key, port)
        count = self.orders.get(contribution.order, 0) + 1
        self.orders[contribution.order] = count
        self.collisions += count == 2
        if contribution.ready:
            self.ready += len(contribution.ports)
        else:
            self.not_ready += len(contribution.ports)

    def remove(self, contribution: PodAddress) -> None:
        if contribution.address is None:
            return
        group = self.groups[contribution.profile]
        group.remove(contribution.order, contribution.address)
        if not group:
            del self.groups[contribution.profile]
        count = self.orders.pop(contribution.order) - 1
        if count:
            self.orders[contribution.order] = count
        self.collisions -= count == 1
        if contribution.ready:
            self.ready -= len(contribution.ports)
        else:
            self.not_ready -= len(contribution.ports)

    def subsets(self, service: Mapping[str, Any]) -> tuple[list[Obj], int, int]:
        """What desired_subsets gives for the Service's pods: ports served by the same profiles
        share a subset, whose addresses are those profiles' (already sorted)."""
        if self.collisions:
            pods = [pod for pod, contribution in self.pods.values() if contribution.selected]
            pods.sort(key=lambda p: str((p.get("metadata") or {}).get("name", "")))
            return desired_subsets(service, pods)
        profiles_of: dict[PortKey, list[Profile]] = {}
        for profile in self.groups:
            for key in profile[1]:
                profiles_of.setdefault(key, []).append(profile)
        ports_of: dict[tuple[Profile, ...], list[PortKey]] = {}
        for key, sharing in profiles_of.items():
            ports_of.setdefault(tuple(sharing), []).append(key)
        subsets: list[Obj] = []
        for members, keys in ports_of.items():
            packed: Obj = {}
            for field, ready in (("addresses", True), ("notReadyAddresses", False)):
                groups = [self.groups[profile] for profile in members if profile[0] is ready]
                if groups:
                    packed[field] = _merged(groups)
            if keys != [NO_PORTS]:
                packed["ports"] = [dict(self.ports[k]) for k in sorted(k for k in keys if k != NO_PORTS)]
            subsets.append(packed)
        if len(subsets) > 1:
            subsets.sort(key=_subset_order)
        return subsets, self.ready, self.not_ready


# --- the controller ------------------------------------------------------------------------------


class EndpointsController(QueueController):
    name = "endpoints-controller"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx, workers=ctx.options.concurrent_endpoint_syncs)
        self.batch_period = ctx.options.endpoint_updates_batch_period
        self.triggers = TriggerTimeTracker()
        self.stale_versions: dict[str, str] = {}
        """Per key, the resourceVersion of an Endpoints this controller has since replaced: seeing it
        in the cache again means the informer lags behind our own write."""
        self.services = ctx.informers.informer("services")
        self.pods = ctx.informers.informer("pods")
        self.endpoints = ctx.informers.informer("endpoints")
        self.pods.add_indexer(POD_LABEL_INDEX, pod_label_index)
        self.syncs: dict[str, _AddressSync] = {}
        """Per Service key, what its last sync derived (dropped with the Service)."""
        self.written: set[str] = set()
        """Keys of Endpoints this controller created or updated: deleted with their Service even if
        the cache does not show them yet."""
        self.services.add_handler(self.enqueue, self.enqueue_update, self.enqueue)
        self.pods.add_handler(self.add_pod, self.update_pod, self.add_pod)
        self.endpoints.add_handler(None, None, self.enqueue)

    async def run(self) -> None:
        self.enqueue_leftovers()
        await super().run()

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

    def enqueue_leftovers(self) -> None:
        """Upstream's checkLeftoverEndpoints, once the caches have synced: Endpoints whose Service
        was deleted while no controller ran are deleted by their sync (not leader-election locks,
        which never had a Service). Only at start: an Endpoints written just before its Service (as
        a manifest may list them) must not be taken for a leftover."""
        for endpoints in self.endpoints.store.objects():
            annotations = (endpoints.get("metadata") or {}).get("annotations") or {}
            if ANNOTATION_LEADER not in annotations:
                self.enqueue(endpoints)

    # --- reconcile ---

    async def reconcile(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        if service is None:
            await self._delete(key, namespace, name)
            return
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return  # these Services' Endpoints are written out-of-band, if at all
        sync, trigger_time = self._refresh(key, service)  # the trigger time is kept current regardless
        subsets, ready, not_ready = sync.subsets(service)
        current = self.endpoints.store.get(key)
        version = str(((current or {}).get("metadata") or {}).get("resourceVersion", ""))
        if current is not None and self.stale_versions.get(key) == version:
            raise StaleInformerCache(
                f"endpoints informer cache is out of date, resource version {version} "
                f"already processed for endpoints {key}"
            )
        wanted = desired_endpoints(service, current, subsets, trigger_time)
        if wanted is None:
            return
        try:
            if current is None:
                await self.client.create("endpoints", wanted, namespace=namespace)
            else:
                updated = await self.client.update("endpoints", wanted, namespace=namespace)
                if (updated.get("metadata") or {}).get("resourceVersion") != version:
                    self.stale_versions[key] = version
            self.written.add(key)
        except ApiError as error:
            if current is None and namespace_terminating(error):
                return  # creates keep failing until the namespace is gone
            if current is None:
                reason, message = (
                    "FailedToCreateEndpoint",
                    f"Failed to create endpoint for service {key}: {error}",
                )
            else:
                reason, message = "FailedToUpdateEndpoint", f"Failed to update endpoint {key}: {error}"
            self.record(wanted, "Warning", reason, message)
            raise
        log.info(
            "Updated Endpoints" if current is not None else "Created Endpoints",
            service=key,
            ready=ready,
            not_ready=not_ready,
        )

    def _refresh(self, key: str, service: Obj) -> tuple[_AddressSync, datetime | None]:
        """Bring the Service's addresses up to date with its pods, deriving only the pods that
        changed since its last sync; the trigger time."""
        namespace, _ = split_key(key)
        spec = service.get("spec") or {}
        sync = self.syncs.get(key)
        reset = sync is None or (sync.spec is not spec and sync.spec != spec)
        pods: PodCache[PodAddress] = PodCache() if sync is None else sync.pods
        if reset:
            pods.invalidate()  # the same pods (for the trigger time), derived anew
        selector = from_set(spec["selector"])
        changes = pods.refresh(
            candidate_pods(self.pods.store, namespace, spec["selector"]),
            lambda pod: pod_address(service, pod, selector),
        )
        # a new aggregate only now: had derive raised, the old one would still match the cache
        if sync is None or reset:
            sync = self.syncs[key] = _AddressSync(spec, pods)
        for _, old, new in changes:
            if old is not None and not reset:
                sync.remove(old)
            if new is not None:
                sync.add(new)
        trigger_time = self.triggers.update(
            service, [(name, None if new is None else new.ready_time) for name, _, new in changes]
        )
        return sync, trigger_time

    async def _delete(self, key: str, namespace: str, name: str) -> None:
        """The Service is gone: so are its Endpoints. Upstream deletes blindly; here only what the
        cache shows or this controller wrote (which the cache may not show yet), so a second sync
        writes nothing."""
        self.syncs.pop(key, None)
        self.triggers.delete_service(namespace, name)
        self.stale_versions.pop(key, None)
        if key not in self.endpoints.store and key not in self.written:
            return
        try:
            await self.client.delete("endpoints", name, namespace=namespace)
        except ApiError as error:
            if not is_not_found(error):
                raise
        self.written.discard(key)
        log.info("Deleted Endpoints of a deleted Service", service=key)


def new(ctx: ControllerContext) -> EndpointsController:
    return EndpointsController(ctx)
