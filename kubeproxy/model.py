"""What kube-proxy knows: service ports and their endpoints, parsed from Services and EndpointSlices.

The parsing follows upstream's service and endpoint-slice change trackers (pkg/proxy): a Service yields
one `ServicePort` per `spec.ports[]` entry unless it is headless or ExternalName; EndpointSlices yield
endpoints per (port name, protocol), de-duplicated by "ip:port" and sorted by that string. Only IPv4 is
proxied. `ChangeTracker` keeps the current objects and answers which service ports changed since the
previous `take_changes()`, so a backend can rewrite only those.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

ServicePortName = tuple[str, str, str, str]
"""(namespace, service name, port name, protocol)."""

DEFAULT_AFFINITY_SECONDS = 10800
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class ServicePort:
    name: ServicePortName
    cluster_ips: tuple[str, ...]
    port: int
    protocol: str
    node_port: int = 0
    session_affinity_seconds: int | None = None
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    ready: bool
    serving: bool
    terminating: bool
    node_name: str = ""
    zone: str = ""

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass
class NodeConfig:
    node_name: str
    node_ips: tuple[str, ...]
    cluster_cidr: str = ""
    masquerade_all: bool = False
    masquerade_bit: int = 14


@dataclass
class ProxyState:
    services: dict[ServicePortName, ServicePort] = field(default_factory=dict)
    endpoints: dict[ServicePortName, list[Endpoint]] = field(default_factory=dict)


def port_name_string(name: ServicePortName) -> str:
    """Upstream's ServicePortName.String(): "ns/svc:port", or "ns/svc" for an unnamed port."""
    namespace, service, port, _ = name
    return f"{namespace}/{service}:{port}" if port else f"{namespace}/{service}"


def _is_ipv4(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 4
    except ValueError:
        return False


def _ipv4s(values: Any) -> tuple[str, ...]:
    return tuple(v for v in values or () if isinstance(v, str) and _is_ipv4(v))


def service_ports(service: dict[str, Any]) -> list[ServicePort]:
    """The proxied ports of one Service; none for headless, ExternalName or IPv6-only services."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    cluster_ip = spec.get("clusterIP") or ""
    if svc_type == "ExternalName" or cluster_ip in ("", "None"):
        return []
    cluster_ips = _ipv4s(spec.get("clusterIPs") or [cluster_ip])
    if not cluster_ips:
        return []
    affinity: int | None = None
    if spec.get("sessionAffinity") == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(client_ip.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
    external_local = svc_type in ("NodePort", "LoadBalancer") and spec.get("externalTrafficPolicy") == "Local"
    health_check = (
        int(spec.get("healthCheckNodePort") or 0) if external_local and svc_type == "LoadBalancer" else 0
    )
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = _ipv4s(i.get("ip") for i in ingress if i.get("ipMode") != "Proxy")
    namespace, name = meta.get("namespace") or "default", meta.get("name") or ""
    return [
        ServicePort(
            name=(namespace, name, p.get("name") or "", p.get("protocol") or "TCP"),
            cluster_ips=cluster_ips,
            port=int(p["port"]),
            protocol=p.get("protocol") or "TCP",
            node_port=int(p.get("nodePort") or 0),
            session_affinity_seconds=affinity,
            external_policy_local=external_local,
            internal_policy_local=spec.get("internalTrafficPolicy") == "Local",
            health_check_node_port=health_check,
            external_ips=_ipv4s(spec.get("externalIPs")),
            load_balancer_ips=lb_ips,
        )
        for p in spec.get("ports") or []
    ]


def _slice_service(slice_: dict[str, Any]) -> tuple[str, str]:
    meta = slice_.get("metadata") or {}
    labels = meta.get("labels") or {}
    return meta.get("namespace") or "default", labels.get(SERVICE_NAME_LABEL) or ""


def _endpoint(raw: dict[str, Any], port: int) -> Endpoint | None:
    addresses = raw.get("addresses") or []
    if not addresses or not _is_ipv4(addresses[0]):
        return None
    conditions = raw.get("conditions") or {}
    ready = conditions.get("ready") is not False
    return Endpoint(
        ip=addresses[0],
        port=port,
        ready=ready,
        serving=conditions.get("serving") is not False,
        terminating=conditions.get("terminating") is True,
        node_name=raw.get("nodeName") or "",
        zone=raw.get("zone") or "",
    )


def slice_endpoints(slices: list[dict[str, Any]]) -> dict[ServicePortName, list[Endpoint]]:
    """Endpoints per service port from the EndpointSlices of ONE service.

    Slice ports are matched to service ports by name and protocol, as upstream does.
    """
    by_port: dict[ServicePortName, dict[str, Endpoint]] = {}
    for slice_ in slices:
        if slice_.get("addressType", "IPv4") != "IPv4":
            continue
        namespace, service = _slice_service(slice_)
        for port in slice_.get("ports") or []:
            number = port.get("port")
            if not number:
                continue
            key = (namespace, service, port.get("name") or "", port.get("protocol") or "TCP")
            found = by_port.setdefault(key, {})
            for raw in slice_.get("endpoints") or []:
                ep = _endpoint(raw, int(number))
                if ep is not None:
                    found.setdefault(str(ep), ep)
    return {key: [eps[k] for k in sorted(eps)] for key, eps in by_port.items() if eps}


ServiceKey = tuple[str, str]
_Snapshot = tuple[ServicePort | None, tuple[Endpoint, ...]]


def _object_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "default", meta.get("name") or ""


class ChangeTracker:
    """Services and EndpointSlices in; the current `ProxyState` and the changed service ports out."""

    def __init__(self) -> None:
        self._ports: dict[ServiceKey, dict[ServicePortName, ServicePort]] = {}
        self._slices: dict[ServiceKey, dict[str, dict[str, Any]]] = {}
        self._endpoints: dict[ServiceKey, dict[ServicePortName, list[Endpoint]]] = {}
        self._touched: set[ServiceKey] = set()
        self._taken: dict[ServiceKey, dict[ServicePortName, _Snapshot]] = {}

    def update_service(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if old is not None and (new is None or _object_key(old) != _object_key(new)):
            self._ports.pop(_object_key(old), None)
            self._touched.add(_object_key(old))
        if new is not None:
            key = _object_key(new)
            self._ports[key] = {p.name: p for p in service_ports(new)}
            self._touched.add(key)

    def update_slice(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        if old is not None:
            self._drop_slice(old)
        if new is not None:
            service = _slice_service(new)
            if service[1]:
                self._slices.setdefault(service, {})[_object_key(new)[1]] = new
                self._recompute_endpoints(service)

    def _drop_slice(self, slice_: dict[str, Any]) -> None:
        service = _slice_service(slice_)
        slices = self._slices.get(service)
        if slices is not None and slices.pop(_object_key(slice_)[1], None) is not None:
            if not slices:
                del self._slices[service]
            self._recompute_endpoints(service)

    def _recompute_endpoints(self, service: ServiceKey) -> None:
        slices = self._slices.get(service)
        if slices:
            self._endpoints[service] = slice_endpoints([slices[n] for n in sorted(slices)])
        else:
            self._endpoints.pop(service, None)
        self._touched.add(service)

    def state(self) -> ProxyState:
        state = ProxyState()
        for ports in self._ports.values():
            state.services.update(ports)
        for endpoints in self._endpoints.values():
            state.endpoints.update(endpoints)
        return state

    def take_changes(self) -> set[ServicePortName]:
        """Service ports whose definition or endpoints changed since the previous call."""
        changed: set[ServicePortName] = set()
        for key in self._touched:
            before = self._taken.pop(key, {})
            now = self._snapshot(key)
            for name in before.keys() | now.keys():
                if before.get(name) != now.get(name):
                    changed.add(name)
            if now:
                self._taken[key] = now
        self._touched.clear()
        return changed

    def _snapshot(self, key: ServiceKey) -> dict[ServicePortName, _Snapshot]:
        ports = self._ports.get(key, {})
        endpoints = self._endpoints.get(key, {})
        names = ports.keys() | endpoints.keys()
        return {name: (ports.get(name), tuple(endpoints.get(name, ()))) for name in names}


def externally_accessible(svc: ServicePort) -> bool:
    return svc.node_port != 0 or bool(svc.load_balancer_ips) or bool(svc.external_ips)


def uses_cluster_endpoints(svc: ServicePort) -> bool:
    return not svc.internal_policy_local or (externally_accessible(svc) and not svc.external_policy_local)


def uses_local_endpoints(svc: ServicePort) -> bool:
    return svc.internal_policy_local or (externally_accessible(svc) and svc.external_policy_local)


@dataclass(frozen=True)
class EndpointSets:
    """Which endpoints each traffic policy uses on this node (upstream's CategorizeEndpoints)."""

    cluster: list[Endpoint]
    local: list[Endpoint]
    reachable: list[Endpoint]
    """Every endpoint some rule on this node may pick; each gets an endpoint chain."""
    has_any: bool
    """The service has usable endpoints somewhere in the cluster."""


def categorize_endpoints(endpoints: list[Endpoint], svc: ServicePort, node_name: str) -> EndpointSets:
    """Ready endpoints, else serving+terminating ones when none is ready; topology hints are ignored."""

    def local(ep: Endpoint) -> bool:
        return bool(node_name) and ep.node_name == node_name

    cluster: list[Endpoint] = []
    has_any = False
    if uses_cluster_endpoints(svc):
        cluster = [ep for ep in endpoints if ep.ready]
        if not cluster:
            cluster = [ep for ep in endpoints if ep.serving and ep.terminating]
        has_any = bool(cluster)
    if not uses_local_endpoints(svc):
        return EndpointSets(cluster, [], cluster, has_any)

    local_ready = local_terminating = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            local_ready = local_ready or local(ep)
        elif ep.serving and ep.terminating:
            has_any = True
            local_terminating = local_terminating or local(ep)
    local_eps: list[Endpoint] = []
    if local_ready:
        local_eps = [ep for ep in endpoints if local(ep) and ep.ready]
    elif local_terminating:
        local_eps = [ep for ep in endpoints if local(ep) and ep.serving and ep.terminating]
    if not uses_cluster_endpoints(svc):
        return EndpointSets(cluster, local_eps, local_eps, has_any)
    if not local_terminating or local_ready:
        return EndpointSets(cluster, local_eps, cluster, has_any)
    merged = {str(ep): ep for ep in cluster} | {str(ep): ep for ep in local_eps}
    return EndpointSets(cluster, local_eps, [merged[k] for k in sorted(merged)], has_any)
