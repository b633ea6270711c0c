"""Validation of the core/v1 kinds other than pods and their controllers (upstream's
pkg/apis/core/validation), and the checks on ports, IPs and resource quantities the pod checks
share. Every function takes a defaulted object (see kubeapi.defaults) and returns causes with
upstream's field paths and messages, in upstream's order where Go's order is not map order."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from kubeapi.errors import Cause
from kubeapi.quantity import Quantity, parse_quantity
from kubeapi.validation import duplicate, forbidden, invalid, not_supported, required, too_long
from kubeapi.validation.meta import (
    as_dict,
    dicts,
    immutable,
    int_value,
    shown,
    string_map,
    validate_label_selector,
    validate_meta,
)
from kubeapi.validation.names import (
    byte_length,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_labels,
)

Object = dict[str, Any]

MAX_SECRET_SIZE = 1024 * 1024
PORT_RANGE_ERROR = "must be between 1 and 65535, inclusive"
PROTOCOLS = ("SCTP", "TCP", "UDP")
IP_ERROR = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
_PORT_NAME_CHARS = re.compile(r"[-a-z0-9]+")

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | frozenset(
    {
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    }
)
_INTEGER_RESOURCES = frozenset(
    {
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    }
)


# ---- ports and IPs ----


def port_number_errors(port: Any) -> list[str]:
    value = int_value(port)
    return [] if value is not None and 1 <= value <= 65535 else [PORT_RANGE_ERROR]


def port_name_errors(name: str) -> list[str]:
    """IsValidPortName: an IANA service name."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.fullmatch(name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_port_num_or_name(port: Any, field: str) -> list[Cause]:
    if isinstance(port, str):
        return [invalid(field, port, msg) for msg in port_name_errors(port)]
    return [invalid(field, port if port is not None else 0, msg) for msg in port_number_errors(port)]


def validate_protocol(protocol: Any, field: str) -> list[Cause]:
    if not protocol:
        return [required(field)]
    if protocol not in PROTOCOLS:
        return [not_supported(field, protocol, PROTOCOLS)]
    return []


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """netutils.ParseIPSloppy: IPv4 octets may carry leading zeros."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        try:
            return ipaddress.IPv4Address(".".join(str(int(p)) for p in parts))
        except ValueError:
            return None
    return None


def validate_ip(text: Any, field: str) -> list[Cause]:
    return (
        []
        if isinstance(text, str) and parse_ip(text) is not None
        else [invalid(field, str(text or ""), IP_ERROR)]
    )


def validate_non_special_ip(text: str, field: str) -> list[Cause]:
    ip = parse_ip(text)
    if ip is None:
        return [invalid(field, text, "must be a valid IP address")]
    causes = []
    if ip.is_unspecified:
        causes.append(invalid(field, text, f"may not be unspecified ({text})"))
    if ip.is_loopback:
        causes.append(invalid(field, text, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
    link_local_multicast = (
        ip in ipaddress.ip_network("224.0.0.0/24")
        if ip.version == 4
        else (ip.is_multicast and (int(ip) >> 112) & 0xF == 2)
    )
    if ip.is_link_local and not ip.is_multicast:
        causes.append(invalid(field, text, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
    if link_local_multicast:
        causes.append(
            invalid(field, text, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")
        )
    return causes


def validate_cidr(text: Any, field: str) -> list[Cause]:
    try:
        ipaddress.ip_network(str(text), strict=False)
        if "/" not in str(text):
            raise ValueError
    except ValueError:
        return [invalid(field, str(text), "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")]
    return []


# ---- resources and quantities ----


def quantity(value: Any) -> Quantity | None:
    try:
        return parse_quantity(value.strip() if isinstance(value, str) else str(value))
    except (ValueError, AttributeError):
        return None


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    if is_native(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_hugepages(name)


def validate_resource_name(name: str, field: str) -> list[Cause]:
    causes = [invalid(field, name, msg) for msg in is_qualified_name(name)]
    if causes:
        return causes
    standard = name in _STANDARD_RESOURCES or is_hugepages(name) or name.startswith("requests.hugepages-")
    if "/" not in name and not standard:
        causes.append(invalid(field, name, "must be a standard resource type or fully qualified"))
    return causes


def validate_container_resource_name(name: str, field: str) -> list[Cause]:
    causes = validate_resource_name(name, field)
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not is_hugepages(name):
            causes.append(invalid(field, name, "must be a standard resource for containers"))
    elif not is_native(name) and not is_extended(name):
        causes.append(invalid(field, name, "doesn't follow extended resource name standard"))
    return causes


def validate_quantity_value(name: str, value: Any, field: str) -> list[Cause]:
    """ValidateResourceQuantityValue: not negative, and whole for countable resources."""
    parsed = quantity(value)
    if parsed is None:
        return []
    causes = []
    if parsed.nanos < 0:
        causes.append(invalid(field, str(parsed), "must be greater than or equal to 0"))
    integer = name in _INTEGER_RESOURCES or is_extended(name)
    if integer and parsed.milli_value() % 1000:
        causes.append(shown(field, str(parsed), "must be an integer"))
    return causes


def validate_resource_requirements(resources: Any, field: str) -> list[Cause]:
    """A container's requests and limits: names, values, and requests within limits."""
    resources = as_dict(resources)
    limits, requests = as_dict(resources.get("limits")), as_dict(resources.get("requests"))
    causes: list[Cause] = []
    compute = False
    hugepages = False
    for name, value in limits.items():
        path = f"{field}.limits[{name}]"
        causes += validate_container_resource_name(name, path)
        causes += validate_quantity_value(name, value, path)
        hugepages |= is_hugepages(name)
        compute |= name in ("cpu", "memory")
    for name, value in requests.items():
        path = f"{field}.requests[{name}]"
        causes += validate_container_resource_name(name, path)
        causes += validate_quantity_value(name, value, path)
        request, limit = quantity(value), quantity(limits.get(name)) if name in limits else None
        if request is not None and limit is not None:
            if request != limit and not overcommit_allowed(name):
                detail = f"must be equal to {name} limit of {limit}"
                causes.append(invalid(f"{field}.requests", str(request), detail))
            elif request > limit:
                detail = f"must be less than or equal to {name} limit of {limit}"
                causes.append(invalid(f"{field}.requests", str(request), detail))
        elif name not in limits and not overcommit_allowed(name):
            causes.append(required(f"{field}.limits", "Limit must be set for non overcommitable resources"))
        hugepages |= is_hugepages(name)
        compute |= name in ("cpu", "memory")
    if hugepages and not compute:
        causes.append(forbidden(field, "HugePages require cpu or memory"))
    return causes


# ---- Service ----

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def validate_service(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns1035_label)
    spec = as_dict(obj.get("spec"))
    kind = spec.get("type")
    ports = dicts(spec.get("ports"))
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and kind != "ExternalName":
        causes.append(required("spec.ports"))
    cluster_ips = [ip for ip in spec.get("clusterIPs") or [] if isinstance(ip, str)]
    if kind in ("LoadBalancer", "NodePort") and headless:
        first = cluster_ips[0] if cluster_ips else "None"
        causes.append(invalid("spec.clusterIPs[0]", first, f"may not be set to 'None' for {kind} services"))
    elif kind == "ExternalName":
        if cluster_ips:
            causes.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            causes.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            causes.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = str(spec.get("externalName") or "").removesuffix(".")
        if cname:
            causes += [invalid("spec.externalName", cname, msg) for msg in is_dns1123_subdomain(cname)]
        else:
            causes.append(required("spec.externalName"))
    names: set[str] = set()
    for index, port in enumerate(ports):
        causes += _validate_service_port(port, len(ports) > 1, names, f"spec.ports[{index}]")
    if spec.get("selector") is not None:
        causes += validate_labels(string_map(spec.get("selector")), "spec.selector")
    causes += _validate_session_affinity(spec)
    for index, ip in enumerate(spec.get("externalIPs") or []):
        path = f"spec.externalIPs[{index}]"
        problems = validate_ip(ip, path)
        causes += problems or validate_non_special_ip(str(ip), path)
    if not kind:
        causes.append(required("spec.type"))
    elif kind not in SERVICE_TYPES:
        causes.append(not_supported("spec.type", kind, SERVICE_TYPES))
    if kind == "ClusterIP":
        for index, port in enumerate(ports):
            if port.get("nodePort"):
                causes.append(
                    forbidden(f"spec.ports[{index}].nodePort", "may not be used when `type` is 'ClusterIP'")
                )
    causes += _duplicate_service_ports(ports)
    if spec.get("loadBalancerSourceRanges") and kind != "LoadBalancer":
        causes.append(
            forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")
        )
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        causes.append(
            forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
        )
    causes += _validate_traffic_policies(spec, kind)
    return causes


def _validate_service_port(port: Object, require_name: bool, names: set[str], field: str) -> list[Cause]:
    causes: list[Cause] = []
    name = str(port.get("name") or "")
    if require_name and not name:
        causes.append(required(f"{field}.name"))
    elif name:
        causes += [invalid(f"{field}.name", name, msg) for msg in is_dns1123_label(name)]
        if name in names:
            causes.append(duplicate(f"{field}.name", name))
        names.add(name)
    causes += [
        invalid(f"{field}.port", port.get("port", 0), msg) for msg in port_number_errors(port.get("port"))
    ]
    causes += validate_protocol(port.get("protocol"), f"{field}.protocol")
    causes += validate_port_num_or_name(port.get("targetPort"), f"{field}.targetPort")
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        causes += [
            invalid(f"{field}.appProtocol", app_protocol, msg) for msg in is_qualified_name(app_protocol)
        ]
    return causes


def _duplicate_service_ports(ports: list[Object]) -> list[Cause]:
    """(protocol, nodePort) and (protocol, port) pairs must be unique; Go prints the key struct."""
    causes: list[Cause] = []
    node_ports: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        node_port = port.get("nodePort")
        if node_port:
            if (port.get("protocol"), node_port) in node_ports:
                causes.append(duplicate(f"spec.ports[{index}].nodePort", node_port))
            node_ports.add((port.get("protocol"), node_port))
    seen: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        key = (port.get("protocol"), port.get("port"))
        if key in seen:
            struct = (
                f'core.ServicePort{{Name:"", Protocol:"{key[0] or ""}", AppProtocol:(*string)(nil), '
                f"Port:{key[1] or 0}, "
                'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
            )
            causes.append(Cause("FieldValueDuplicate", f"Duplicate value: {struct}", f"spec.ports[{index}]"))
        seen.add(key)
    return causes


def _validate_session_affinity(spec: Object) -> list[Cause]:
    affinity = spec.get("sessionAffinity")
    config = spec.get("sessionAffinityConfig")
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in ("ClientIP", "None"):
        return [not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))]
    if affinity == "None":
        if config is not None:
            return [forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")]
        return []
    path = "spec.sessionAffinityConfig"
    client_ip = as_dict(config).get("clientIP")
    timeout = as_dict(client_ip).get("timeoutSeconds")
    if config is None:
        return [required(path, "when session affinity type is ClientIP")]
    if client_ip is None:
        return [required(f"{path}.clientIP", "when session affinity type is ClientIP")]
    if timeout is None:
        return [required(f"{path}.clientIP.timeoutSeconds", "when session affinity type is ClientIP")]
    if not isinstance(timeout, int) or not 0 < timeout <= 86400:
        return [
            invalid(f"{path}.clientIP.timeoutSeconds", timeout, "must be greater than 0 and less than 86400")
        ]
    return []


def _validate_traffic_policies(spec: Object, kind: Any) -> list[Cause]:
    causes: list[Cause] = []
    external = spec.get("externalTrafficPolicy")
    accessible = kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if not accessible and external:
        detail = "may only be set for externally-accessible services"
        causes.append(invalid("spec.externalTrafficPolicy", external, detail))
    elif kind in ("LoadBalancer", "NodePort") and not external:
        causes.append(required("spec.externalTrafficPolicy"))
    elif external and external not in ("Cluster", "Local"):
        causes.append(not_supported("spec.externalTrafficPolicy", external, ("Cluster", "Local")))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("ClusterIP", "LoadBalancer", "NodePort"):
        causes.append(required("spec.internalTrafficPolicy"))
    elif internal is not None and internal not in ("Cluster", "Local"):
        causes.append(not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local")))
    policy = spec.get("ipFamilyPolicy")
    policies = ("PreferDualStack", "RequireDualStack", "SingleStack")
    if policy is not None and policy not in policies:
        causes.append(not_supported("spec.ipFamilyPolicy", policy, policies))
    for index, family in enumerate(spec.get("ipFamilies") or []):
        if family not in ("IPv4", "IPv6"):
            causes.append(not_supported(f"spec.ipFamilies[{index}]", family, ("IPv4", "IPv6")))
    return causes


# ---- ConfigMap and Secret ----


def validate_config_map(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    if old is not None and old.get("immutable") is True:
        causes += _immutable_contents(obj, old, ("data", "binaryData"))
    data, binary = string_map(obj.get("data")), string_map(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        causes += [invalid(f"data[{key}]", key, msg) for msg in is_config_map_key(key)]
        if key in binary:
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += byte_length(value)
    for key, value in binary.items():
        causes += [invalid(f"binaryData[{key}]", key, msg) for msg in is_config_map_key(key)]
        total += _decoded_length(value)
    if total > MAX_SECRET_SIZE:
        causes.append(too_long("", MAX_SECRET_SIZE))
    return causes


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_secret(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    if old is not None:
        causes += immutable(obj.get("type"), old.get("type"), "type")
        if old.get("immutable") is True:
            causes += _immutable_contents(obj, old, ("data",))
    data = string_map(obj.get("data"))
    total = 0
    for key, value in data.items():
        causes += [invalid(f"data[{key}]", key, msg) for msg in is_config_map_key(key)]
        total += _decoded_length(value)
    if total > MAX_SECRET_SIZE:
        causes.append(too_long("data", MAX_SECRET_SIZE))
    kind = obj.get("type")
    annotations = string_map(as_dict(obj.get("metadata")).get("annotations"))
    if kind == "kubernetes.io/service-account-token":
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes += [required("data[username]"), required("data[password]")]
    elif kind in _SECRET_REQUIRED_KEYS:
        for key in _SECRET_REQUIRED_KEYS[kind]:
            if key not in data or (kind == "kubernetes.io/ssh-auth" and not data[key]):
                causes.append(required(f"data[{key}]"))
            elif key.startswith(".docker"):
                problem = _go_json_object_error(_decoded(data[key]))
                if problem:
                    causes.append(invalid(f"data[{key}]", "<secret contents redacted>", problem))
    return causes


def _immutable_contents(obj: Object, old: Object, fields: tuple[str, ...]) -> list[Cause]:
    causes = []
    if obj.get("immutable") is not True:
        causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in fields:
        if (obj.get(key) or None) != (old.get(key) or None):
            causes.append(forbidden(key, "field is immutable when `immutable` is set"))
    return causes


def _decoded(value: str) -> bytes:
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return value.encode()


def _decoded_length(value: str) -> int:
    return len(_decoded(value))


def _go_json_object_error(raw: bytes) -> str | None:
    """What json.Unmarshal into a map says of bad docker config JSON, for the common cases."""
    text = raw.decode("utf-8", "replace")
    stripped = text.strip()
    if not stripped:
        return "unexpected end of JSON input"
    try:
        value = json.loads(text)
    except ValueError:
        if stripped[0] not in '{["-0123456789tfn':
            return f"invalid character {_go_char(stripped[0])} looking for beginning of value"
        return "unexpected end of JSON input"
    if not isinstance(value, dict) and value is not None:
        kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return None


def _go_char(ch: str) -> str:
    return "'\\''" if ch == "'" else f"'{ch}'"


# ---- Namespace, ServiceAccount, Node, Event ----


def validate_namespace(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, name_is_dns_label)
    for finalizer in as_dict(obj.get("spec")).get("finalizers") or []:
        value = str(finalizer)
        causes += [invalid("spec.finalizers", value, msg) for msg in is_qualified_name(value)]
        if "/" not in value and value != "kubernetes":
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            causes.append(invalid("spec.finalizers", value, detail))
    return causes


def validate_named(namespaced: bool) -> Callable[[Object, Object | None], list[Cause]]:
    """Kinds whose only rules are their metadata's, with DNS-subdomain names."""

    def validate(obj: Object, old: Object | None) -> list[Cause]:
        return validate_meta(obj, namespaced, name_is_dns_subdomain)

    return validate


def validate_node(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    seen: set[tuple[str, str]] = set()
    for index, taint in enumerate(dicts(spec.get("taints"))):
        path = f"metadata.taints[{index}]"  # sic: upstream roots node taints at metadata
        key, effect = str(taint.get("key") or ""), str(taint.get("effect") or "")
        causes += [invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key)]
        value_errors = is_valid_label_value(str(taint.get("value") or ""))
        if value_errors:
            causes.append(invalid(f"{path}.value", str(taint.get("value") or ""), ";".join(value_errors)))
        causes += validate_taint_effect(effect, f"{path}.effect", allow_empty=False)
        if (key, effect) in seen:
            value = taint.get("value") or ""
            struct = f'core.Taint{{Key:"{key}", Value:"{value}", Effect:"{effect}", TimeAdded:<nil>}}'
            message = f"Duplicate value: {struct}: taints must be unique by key and effect pair"
            causes.append(Cause("FieldValueDuplicate", message, path))
        seen.add((key, effect))
    for index, cidr in enumerate(spec.get("podCIDRs") or []):
        causes += validate_cidr(cidr, f"spec.podCIDRs[{index}]")
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        old_cidrs = old_spec.get("podCIDRs") or []
        if old_cidrs and old_cidrs != (spec.get("podCIDRs") or []):
            detail = 'node updates may not change podCIDR except from "" to valid'
            causes.append(forbidden("spec.podCIDRs", detail))
        if old_spec.get("providerID") and old_spec.get("providerID") != spec.get("providerID"):
            detail = 'node updates may not change providerID except from "" to valid'
            causes.append(forbidden("spec.providerID", detail))
    status = as_dict(obj.get("status"))
    for part in ("capacity", "allocatable"):
        for name, value in as_dict(status.get(part)).items():
            causes += validate_quantity_value(name, value, f"status.{part}.{name}")
    return causes


def validate_taint_effect(effect: str, field: str, *, allow_empty: bool) -> list[Cause]:
    if not effect and not allow_empty:
        return [required(field)]
    if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        return [not_supported(field, effect, ("NoSchedule", "PreferNoSchedule", "NoExecute"))]
    return []


# ---- Endpoints ----


def validate_endpoints(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    for index, subset in enumerate(dicts(obj.get("subsets"))):
        path = f"subsets[{index}]"
        addresses, not_ready = dicts(subset.get("addresses")), dicts(subset.get("notReadyAddresses"))
        if not addresses and not not_ready:
            causes.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
        for key, items in (("addresses", addresses), ("notReadyAddresses", not_ready)):
            for number, address in enumerate(items):
                causes += _validate_endpoint_address(address, f"{path}.{key}[{number}]")
        ports = dicts(subset.get("ports"))
        for number, port in enumerate(ports):
            causes += validate_endpoint_port(port, len(ports) > 1, f"{path}.ports[{number}]")
    return causes


def _validate_endpoint_address(address: Object, field: str) -> list[Cause]:
    ip = str(address.get("ip") or "")
    causes = validate_ip(ip, f"{field}.ip")
    hostname = address.get("hostname")
    if hostname:
        causes += [invalid(f"{field}.hostname", hostname, msg) for msg in is_dns1123_label(str(hostname))]
    node_name = address.get("nodeName")
    if node_name is not None:
        causes += [
            invalid(f"{field}.nodeName", node_name, msg) for msg in is_dns1123_subdomain(str(node_name))
        ]
    return causes + validate_non_special_ip(ip, f"{field}.ip")


def validate_endpoint_port(port: Object, require_name: bool, field: str) -> list[Cause]:
    causes: list[Cause] = []
    name = str(port.get("name") or "")
    if require_name and not name:
        causes.append(required(f"{field}.name"))
    elif name:
        causes += [invalid(f"{field}.name", name, msg) for msg in is_dns1123_label(name)]
    causes += [
        invalid(f"{field}.port", port.get("port", 0), msg) for msg in port_number_errors(port.get("port"))
    ]
    causes += validate_protocol(port.get("protocol"), f"{field}.protocol")
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        causes += [
            invalid(f"{field}.appProtocol", app_protocol, msg) for msg in is_qualified_name(app_protocol)
        ]
    return causes


# ---- LimitRange and ResourceQuota ----

LIMIT_TYPES = ("Pod", "Container", "PersistentVolumeClaim")


def validate_limit_range(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    types: set[str] = set()
    for index, item in enumerate(dicts(as_dict(obj.get("spec")).get("limits"))):
        path = f"spec.limits[{index}]"
        kind = str(item.get("type") or "")
        type_errors = [invalid(f"{path}.type", kind, msg) for msg in is_qualified_name(kind)]
        if not type_errors and "/" not in kind and kind not in LIMIT_TYPES:
            type_errors.append(
                invalid(f"{path}.type", kind, "must be a standard limit type or fully qualified")
            )
        causes += type_errors
        if kind in types:
            causes.append(duplicate(f"{path}.type", kind))
        types.add(kind)
        causes += _validate_limit_item(item, kind, path)
    return causes


def _validate_limit_item(item: Object, kind: str, path: str) -> list[Cause]:
    causes: list[Cause] = []
    parts = ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio")
    values: dict[str, dict[str, Quantity]] = {part: {} for part in parts}
    for part in parts:
        if kind == "Pod" and part in ("default", "defaultRequest"):
            if item.get(part):
                causes.append(forbidden(f"{path}.{part}", "may not be specified when `type` is 'Pod'"))
            continue
        for name, value in as_dict(item.get(part)).items():
            field = f"{path}.{part}[{name}]"
            check = (
                validate_container_resource_name if kind in ("Pod", "Container") else validate_resource_name
            )
            causes += check(name, field)
            parsed = quantity(value)
            if parsed is not None:
                values[part][name] = parsed
    if kind == "PersistentVolumeClaim" and "storage" not in values["min"] and "storage" not in values["max"]:
        detail = "either minimum or maximum storage value is required, but neither was provided"
        causes.append(required(f"{path}.limits", detail))
    names = {name for part in values.values() for name in part}
    for name in sorted(names):
        low, high = values["min"].get(name), values["max"].get(name)
        default, request = values["default"].get(name), values["defaultRequest"].get(name)
        ratio = values["maxLimitRequestRatio"].get(name)
        if low is not None and high is not None and low > high:
            causes.append(
                shown(f"{path}.min[{name}]", str(low), f"min value {low} is greater than max value {high}")
            )
        if request is not None and low is not None and low > request:
            detail = f"min value {low} is greater than default request value {request}"
            causes.append(shown(f"{path}.defaultRequest[{name}]", str(request), detail))
        if request is not None and high is not None and request > high:
            detail = f"default request value {request} is greater than max value {high}"
            causes.append(shown(f"{path}.defaultRequest[{name}]", str(request), detail))
        if request is not None and default is not None and request > default:
            detail = f"default request value {request} is greater than default limit value {default}"
            causes.append(shown(f"{path}.defaultRequest[{name}]", str(request), detail))
        if default is not None and low is not None and low > default:
            detail = f"min value {low} is greater than default value {default}"
            causes.append(shown(f"{path}.default[{name}]", str(low), detail))
        if default is not None and high is not None and default > high:
            detail = f"default value {default} is greater than max value {high}"
            causes.append(shown(f"{path}.default[{name}]", str(high), detail))
        if ratio is not None and ratio < Quantity.from_int(1):
            causes.append(
                shown(f"{path}.maxLimitRequestRatio[{name}]", str(ratio), f"ratio {ratio} is less than 1")
            )
    return causes


_QUOTA_SCOPES = (
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
)


def validate_resource_quota(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    for name, value in as_dict(spec.get("hard")).items():
        path = f"spec.hard[{name}]"
        causes += validate_resource_name(name, path) if "/" in name or name.startswith("count/") else []
        causes += validate_quantity_value(name, value, path)
    scopes = [str(s) for s in spec.get("scopes") or []]
    for scope in scopes:
        if scope not in _QUOTA_SCOPES:
            causes.append(shown("spec.scopes", _go_scope_list(scopes), "unsupported scope"))
    for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
        if all(p in scopes for p in pair):
            causes.append(shown("spec.scopes", _go_scope_list(scopes), "conflicting scopes"))
    if old is not None and sorted(set(scopes)) != sorted(
        {str(s) for s in as_dict(old.get("spec")).get("scopes") or []}
    ):
        causes.append(shown("spec.scopes", _go_scope_list(scopes), "field is immutable"))
    return causes


def _go_scope_list(scopes: list[str]) -> str:
    return "[]core.ResourceQuotaScope{" + ", ".join(f'"{s}"' for s in scopes) + "}"


# ---- PersistentVolume and PersistentVolumeClaim ----

_PV_SOURCES = (
    "hostPath", "gcePersistentDisk", "awsElasticBlockStore", "glusterfs", "flocker", "nfs", "rbd", "quobyte",
    "cephfs", "iscsi", "cinder", "fc", "flexVolume", "azureFile", "vsphereVolume", "photonPersistentDisk",
    "portworxVolume", "azureDisk", "scaleIO", "local", "storageos", "csi",
)  # fmt: skip


def validate_persistent_volume(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, False, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += _validate_access_modes(spec.get("accessModes"), "spec.accessModes", "")
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        causes.append(required("spec.capacity"))
    if "storage" not in capacity or len(capacity) > 1:
        shown_map = "core.ResourceList{" + ", ".join(f'"{k}":"{v}"' for k, v in capacity.items()) + "}"
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: {shown_map}: supported values: "storage"',
                "spec.capacity",
            )
        )
    for name, value in capacity.items():
        parsed = quantity(value)
        if parsed is not None and parsed.nanos <= 0:
            causes.append(invalid(f"spec.capacity[{name}]", str(parsed), "must be greater than zero"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        causes.append(
            not_supported("spec.persistentVolumeReclaimPolicy", policy, ("Delete", "Recycle", "Retain"))
        )
    sources = [key for key in _PV_SOURCES if spec.get(key) is not None]
    if not sources:
        causes.append(required("spec", "must specify a volume type"))
    for key in sources[1:]:
        causes.append(forbidden(f"spec.{key}", "may not specify more than 1 volume type"))
    if isinstance(spec.get("hostPath"), dict) and not spec["hostPath"].get("path"):
        causes.append(required("spec.hostPath.path"))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported("spec.volumeMode", mode, VOLUME_MODES))
    class_name = spec.get("storageClassName")
    if class_name:
        causes += [
            invalid("spec.storageClassName", class_name, m) for m in is_dns1123_subdomain(str(class_name))
        ]
    if old is not None:
        causes += immutable(spec.get("volumeMode"), as_dict(old.get("spec")).get("volumeMode"), "volumeMode")
    return causes


def validate_persistent_volume_claim(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    causes += validate_claim_spec(spec, "spec")
    if old is not None:
        causes += _validate_claim_update(obj, old)
    return causes


def validate_claim_spec(spec: Object, field: str) -> list[Cause]:
    """ValidatePersistentVolumeClaimSpec, also for StatefulSet volumeClaimTemplates."""
    causes = _validate_access_modes(
        spec.get("accessModes"), f"{field}.accessModes", "at least 1 access mode is required"
    )
    if spec.get("selector") is not None:
        causes += validate_label_selector(spec.get("selector"), f"{field}.selector")
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    path = f"{field}.resources[storage]"
    if "storage" not in requests:
        causes.append(required(path))
    else:
        parsed = quantity(requests["storage"])
        if parsed is not None and parsed.nanos <= 0:
            causes.append(invalid(path, str(parsed), "must be greater than zero"))
    class_name = spec.get("storageClassName")
    if class_name:
        causes += [
            invalid(f"{field}.storageClassName", class_name, m) for m in is_dns1123_subdomain(str(class_name))
        ]
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(not_supported(f"{field}.volumeMode", mode, VOLUME_MODES))
    return causes


def _validate_access_modes(modes: Any, field: str, missing: str) -> list[Cause]:
    modes = [str(m) for m in modes or []]
    causes = [] if modes else [required(field, missing)]
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(not_supported(field, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and any(m != "ReadWriteOncePod" and m in ACCESS_MODES for m in modes):
        causes.append(forbidden(field, "may not use ReadWriteOncePod with other access modes"))
    return causes


def _validate_claim_update(obj: Object, old: Object) -> list[Cause]:
    """Claims are immutable but for a volumeName set once and, for bound claims, a larger size."""
    spec, old_spec = as_dict(obj.get("spec")), as_dict(old.get("spec"))
    causes: list[Cause] = []
    new_view, old_view = dict(spec), dict(old_spec)
    if not old_spec.get("volumeName"):
        old_view["volumeName"] = new_view.get("volumeName")
    bound = as_dict(obj.get("status")).get("phase") == "Bound"
    if bound:
        for view in (new_view, old_view):
            resources = dict(as_dict(view.get("resources")))
            resources["requests"] = {
                k: v for k, v in as_dict(resources.get("requests")).items() if k != "storage"
            }
            view["resources"] = resources
    if new_view != old_view:
        detail = (
            "spec is immutable after creation except resources.requests "
            "and volumeAttributesClassName for bound claims"
        )
        causes.append(forbidden("spec", detail))
    new_size = quantity(as_dict(as_dict(spec.get("resources")).get("requests")).get("storage"))
    old_size = quantity(as_dict(as_dict(old_spec.get("resources")).get("requests")).get("storage"))
    if new_size is not None and old_size is not None and new_size < old_size:
        causes.append(
            forbidden("spec.resources.requests.storage", "field can not be less than previous value")
        )
    return causes
