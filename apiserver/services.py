"""Services: ClusterIP and NodePort allocation around the generic verbs (upstream's service
REST), with the defaults the allocation depends on."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from apiserver.allocator import Allocator, AlreadyAllocated, OutOfRange, RangeFull
from apiserver.rest import ResourceREST
from apiserver.storage import Object
from kubeapi import errors

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def default_service(service: Object) -> Object:
    service = copy.deepcopy(service)
    spec = service.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec["type"] in NODE_PORT_TYPES or spec.get("externalIPs"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec["sessionAffinity"] == "ClientIP":
        client_ip = spec.setdefault("sessionAffinityConfig", {}).setdefault("clientIP", {})
        client_ip.setdefault("timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]
    return service


class ServiceREST(ResourceREST):
    def __init__(self, *args: Any, ips: Allocator, ports: Allocator, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ips = ips
        self.ports = ports

    def _invalid(
        self, name: str, field: str, message: str, kind: str = "FieldValueInvalid"
    ) -> errors.StatusError:
        return errors.invalid("Service", name, [errors.Cause(kind, message, field)])

    async def create(self, namespace: str | None, obj: Object, *, dry_run: bool = False) -> Object:
        service = default_service(obj)
        name = service.get("metadata", {}).get("name", "")
        spec = service["spec"]
        taken_ip: int | None = None
        taken_ports: list[int] = []
        try:
            if spec["type"] != "ExternalName" and spec.get("clusterIP") != "None":
                taken_ip = await self._allocate_ip(name, spec.get("clusterIP") or None, dry_run)
                address = str(ipaddress.ip_address(taken_ip))
                spec["clusterIP"], spec["clusterIPs"] = address, [address]
                spec.setdefault(
                    "ipFamilies", ["IPv4" if ipaddress.ip_address(taken_ip).version == 4 else "IPv6"]
                )
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
                spec.setdefault("ipFamilies", ["IPv4"])
            if spec["type"] in NODE_PORT_TYPES:
                for index, port in enumerate(spec.get("ports") or []):
                    value = await self._allocate_port(name, index, port.get("nodePort") or None, dry_run)
                    taken_ports.append(value)
                    port["nodePort"] = value
            return await super().create(namespace, service, dry_run=dry_run)
        except BaseException:
            if not dry_run:
                await self._release(taken_ip, taken_ports)
            raise

    async def _allocate_ip(self, name: str, wanted: str | None, dry_run: bool) -> int:
        try:
            value = int(ipaddress.ip_address(wanted)) if wanted else None
        except ValueError:
            raise self._invalid(
                name, "spec.clusterIPs[0]", f"Invalid value: {wanted!r}: must be a valid IP address"
            ) from None
        if dry_run:
            return value if value is not None else self.ips.range.first
        try:
            return await self.ips.allocate(value)
        except OutOfRange:
            raise self._invalid(
                name,
                "spec.clusterIPs",
                f"Invalid value: {wanted!r}: provided IP is not in the valid range. "
                f"The range of valid IPs is {self.ips.range.label}",
            ) from None
        except AlreadyAllocated:
            raise self._invalid(
                name, "spec.clusterIPs", f"Invalid value: {wanted!r}: provided IP is already allocated"
            ) from None
        except RangeFull:
            raise errors.internal("failed to allocate a serviceIP: range is full") from None

    async def _allocate_port(self, name: str, index: int, wanted: int | None, dry_run: bool) -> int:
        if dry_run:
            return wanted or self.ports.range.first
        field = f"spec.ports[{index}].nodePort"
        try:
            return await self.ports.allocate(wanted)
        except OutOfRange:
            raise self._invalid(
                name,
                field,
                f"Invalid value: {wanted}: provided port is not in the valid range. "
                f"The range of valid ports is {self.ports.range.label}",
            ) from None
        except AlreadyAllocated:
            raise self._invalid(
                name, field, f"Invalid value: {wanted}: provided port is already allocated"
            ) from None
        except RangeFull:
            raise errors.internal("failed to allocate a nodePort: range is full") from None

    async def _release(self, ip: int | None, ports: list[int]) -> None:
        if ip is not None:
            await self.ips.release(ip)
        for port in ports:
            await self.ports.release(port)

    async def _write_update(
        self, key: str, current: Object, obj: Object, *, subresource: str | None, dry_run: bool
    ) -> Object:
        """Updates and patches keep the allocations (clusterIP is immutable), take node ports for
        ports that need them now (a type change to NodePort) and give back the ones no longer used."""
        if subresource is not None:
            return await super()._write_update(key, current, obj, subresource=subresource, dry_run=dry_run)
        service = self._keep_allocations(default_service(obj), current)
        name = current["metadata"]["name"]
        taken: list[int] = []
        try:
            if service["spec"].get("type") in NODE_PORT_TYPES:
                for index, port in enumerate(service["spec"].get("ports") or []):
                    if not port.get("nodePort"):
                        port["nodePort"] = await self._allocate_port(name, index, None, dry_run)
                        taken.append(port["nodePort"])
            else:  # upstream's dropTypeDependentFields: what only node-port types may hold goes
                spec = service["spec"]
                for port in spec.get("ports") or []:
                    port.pop("nodePort", None)
                spec.pop("healthCheckNodePort", None)
                if not spec.get("externalIPs"):
                    spec.pop("externalTrafficPolicy", None)
            if service["spec"].get("type") != "LoadBalancer":
                service["spec"].pop("allocateLoadBalancerNodePorts", None)
            stored = await super()._write_update(key, current, service, subresource=None, dry_run=dry_run)
        except BaseException:
            if not dry_run:
                await self._release(None, taken)
            raise
        if not dry_run:
            kept = {p.get("nodePort") for p in stored.get("spec", {}).get("ports") or []}
            dropped = [p["nodePort"] for p in current.get("spec", {}).get("ports") or [] if p.get("nodePort")]
            await self._release(None, [port for port in dropped if port not in kept])
        return stored

    def _keep_allocations(self, new: Object, current: Object) -> Object:
        """clusterIP is immutable (an empty one means "keep"); nodePorts of unchanged ports stay."""
        spec, old = new["spec"], current.get("spec", {})
        if spec.get("clusterIP") in (None, "") and old.get("clusterIP"):
            spec["clusterIP"], spec["clusterIPs"] = (
                old["clusterIP"],
                old.get("clusterIPs", [old["clusterIP"]]),
            )
        elif old.get("clusterIP") and spec.get("clusterIP") != old["clusterIP"]:
            raise self._invalid(
                new["metadata"].get("name", ""),
                "spec.clusterIPs[0]",
                "field is immutable",
                "FieldValueInvalid",
            )
        spec.setdefault("ipFamilies", old.get("ipFamilies", ["IPv4"]))
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old.get("ports") or []
        }
        if spec.get("type") in NODE_PORT_TYPES:
            for port in spec.get("ports") or []:
                kept = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if not port.get("nodePort") and kept:
                    port["nodePort"] = kept
        return new

    async def delete(
        self, namespace: str | None, name: str, options: Any, *, dry_run: bool = False
    ) -> tuple[bool, Object]:
        deleted, obj = await super().delete(namespace, name, options, dry_run=dry_run)
        if deleted and not dry_run:
            spec = obj.get("spec", {})
            ip = spec.get("clusterIP")
            ports = [p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort")]
            address = int(ipaddress.ip_address(ip)) if ip and ip != "None" else None
            await self._release(address, ports)
        return deleted, obj
