"""A container's environment, as upstream's kubelet makes it (pkg/kubelet/kubelet_pods.go
makeEnvironmentVariables, pkg/kubelet/envvars, third_party/forked/golang/expansion). Pure: the
configMaps, secrets and services it reads are passed in; `fetch_env_sources` gets the first two.

    config_maps, secrets = await fetch_env_sources(client, pod, container)
    env = make_environment(pod, container, pod_ip=..., pod_ips=[...], host_ip=..., node_name=...,
                           services=services, config_maps=config_maps, secrets=secrets,
                           node_allocatable={"cpu": "2", "memory": "4Gi"}, on_warning=event)
    command, args = expand_command_and_args(container, env)

Precedence, lowest first: service links (`<NAME>_SERVICE_HOST`, docker-link `<NAME>_PORT_...`; the
`kubernetes` service of the default namespace always, the pod's namespace's services unless
`enableServiceLinks: false`), then `envFrom` in order, then `env` in order (`$(VAR)` expanded from
what is defined so far and the service variables; `$$` is a literal `$`). Upstream hands the runtime
these from Go maps in no particular order; here each name appears once, at the place of the
definition that won, so the order is deterministic.

A missing configMap, secret or key that is not optional raises `EnvVarError` with upstream's message
(`configmap "x" not found`, `couldn't find key k in ConfigMap ns/x`); the kubelet reports it as the
container's CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kubeapi.validation.names import is_relaxed_env_var_name
from kubelet.volumes.downward import DownwardAPIError, convert_field_label, extract_field_path, resource_value
from kubelet.volumes.sources import (
    ObjectGetter,
    SourceUnavailable,
    get_config_map,
    get_secret,
    not_found_message,
)

Obj = Mapping[str, Any]
EnvVar = tuple[str, str]
Warn = Callable[[str, str], None]  # (event reason, message)

MASTER_SERVICES = frozenset({"kubernetes"})
INVALID_NAMES_REASON = "InvalidEnvironmentVariableNames"


class EnvVarError(Exception):
    """The environment cannot be made; str() is upstream's message (CreateContainerConfigError)."""


# ---- $(VAR) expansion ----


def mapping_for(*contexts: Mapping[str, str]) -> Callable[[str], str]:
    """Looks a name up in each context in turn; an unknown name expands to itself, `$(NAME)`."""

    def lookup(name: str) -> str:
        for context in contexts:
            if name in context:
                return context[name]
        return f"$({name})"

    return lookup


def expand(text: str, mapping: Callable[[str], str]) -> str:
    """`$(NAME)` -> mapping(NAME); `$$` -> `$`; anything else after `$` (or an unclosed `$(`) stays."""
    out: list[str] = []
    checkpoint = cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            rest = text[cursor + 1 :]
            if rest[0] == "$":
                out.append("$")
                advance = 1
            elif rest[0] == "(":
                close = rest.find(")", 1)
                if close >= 0:
                    out.append(mapping(rest[1:close]))
                    advance = close + 1
                else:
                    out.append("$(")
                    advance = 1
            else:
                out.append("$" + rest[0])
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def expand_command_and_args(container: Obj, env: Iterable[EnvVar]) -> tuple[list[str], list[str]]:
    """The container's command and args with `$(VAR)` expanded from its environment."""
    lookup = mapping_for(dict(env))
    command = [expand(str(part), lookup) for part in container.get("command") or []]
    args = [expand(str(part), lookup) for part in container.get("args") or []]
    return command, args


# ---- service links ----


def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _service_ip_set(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def _join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def from_services(services: Iterable[Obj]) -> list[EnvVar]:
    """Upstream's envvars.FromServices: host and ports of each service, then docker-link variables."""
    result: list[EnvVar] = []
    for service in services:
        spec = service.get("spec") or {}
        ports = spec.get("ports") or []
        if not _service_ip_set(service) or not ports:
            continue
        ip = str(spec["clusterIP"])
        prefix = _env_name(str((service.get("metadata") or {}).get("name") or ""))
        result.append((f"{prefix}_SERVICE_HOST", ip))
        result.append((f"{prefix}_SERVICE_PORT", str(ports[0].get("port"))))
        for port in ports:
            if port.get("name"):
                port_name = _env_name(str(port["name"]))
                result.append((f"{prefix}_SERVICE_PORT_{port_name}", str(port.get("port"))))
        for index, port in enumerate(ports):
            protocol = str(port.get("protocol") or "TCP")
            number = int(port.get("port") or 0)
            url = f"{protocol.lower()}://{_join_host_port(ip, number)}"
            if index == 0:
                result.append((f"{prefix}_PORT", url))
            port_prefix = f"{prefix}_PORT_{number}_{protocol.upper()}"
            result += [
                (port_prefix, url),
                (f"{port_prefix}_PROTO", protocol.lower()),
                (f"{port_prefix}_PORT", str(number)),
                (f"{port_prefix}_ADDR", ip),
            ]
    return result


def service_env(services: Iterable[Obj], namespace: str, enable_service_links: bool) -> dict[str, str]:
    """The service variables a pod in `namespace` sees (getServiceEnvVarMap), services by name."""
    chosen: dict[str, Obj] = {}
    for service in services:
        if not _service_ip_set(service):
            continue
        meta = service.get("metadata") or {}
        name, service_namespace = str(meta.get("name") or ""), meta.get("namespace")
        if service_namespace == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, service)
        elif service_namespace == namespace and enable_service_links:
            chosen[name] = service
    return dict(from_services(chosen[name] for name in sorted(chosen)))


# ---- configMaps and secrets ----


def referenced_sources(container: Obj) -> tuple[list[str], list[str]]:
    """The names of the configMaps and the secrets the container's env and envFrom read."""
    config_maps: dict[str, None] = {}
    secrets: dict[str, None] = {}
    for env_from in container.get("envFrom") or []:
        if env_from.get("configMapRef"):
            config_maps[str(env_from["configMapRef"].get("name") or "")] = None
        elif env_from.get("secretRef"):
            secrets[str(env_from["secretRef"].get("name") or "")] = None
    for env in container.get("env") or []:
        value_from = env.get("valueFrom") or {}
        if value_from.get("configMapKeyRef"):
            config_maps[str(value_from["configMapKeyRef"].get("name") or "")] = None
        elif value_from.get("secretKeyRef"):
            secrets[str(value_from["secretKeyRef"].get("name") or "")] = None
    return list(config_maps), list(secrets)


async def fetch_env_sources(
    getter: ObjectGetter, pod: Obj, container: Obj
) -> tuple[dict[str, Obj], dict[str, Obj]]:
    """The configMaps and secrets the container refers to, by name; missing ones are left out
    (make_environment decides whether that is an error). Other failures raise EnvVarError."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    config_map_names, secret_names = referenced_sources(container)
    config_maps: dict[str, Obj] = {}
    secrets: dict[str, Obj] = {}
    try:
        for name in config_map_names:
            if (found := await get_config_map(getter, namespace, name)) is not None:
                config_maps[name] = found
        for name in secret_names:
            if (found := await get_secret(getter, namespace, name)) is not None:
                secrets[name] = found
    except SourceUnavailable as error:
        raise EnvVarError(str(error)) from error
    return config_maps, secrets


def _secret_values(secret: Obj) -> dict[str, str]:
    values = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            raw = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise EnvVarError(f"secret data {key} is not valid base64") from None
        values[key] = raw.decode("utf-8", errors="replace")  # CRI strings are UTF-8
    return values


# ---- the environment ----


def make_environment(
    pod: Obj,
    container: Obj,
    *,
    pod_ip: str = "",
    pod_ips: Sequence[str] = (),
    host_ip: str = "",
    host_ips: Sequence[str] = (),
    node_name: str = "",
    services: Iterable[Obj] = (),
    config_maps: Mapping[str, Obj] | None = None,
    secrets: Mapping[str, Obj] | None = None,
    node_allocatable: Mapping[str, str] | None = None,
    on_warning: Warn | None = None,
) -> list[EnvVar]:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    namespace = str(meta.get("namespace") or "")
    links = spec.get("enableServiceLinks")
    services_env = service_env(services, namespace, links is None or bool(links))
    config_maps, secrets = config_maps or {}, secrets or {}
    defined: dict[str, str] = {}  # envFrom and env: they override the service variables

    def define(name: str, value: str) -> None:
        defined.pop(name, None)  # a later definition moves the name to its own place
        defined[name] = value

    for env_from in container.get("envFrom") or []:
        prefix = str(env_from.get("prefix") or "")
        if env_from.get("configMapRef"):
            ref, kind, label = env_from["configMapRef"], "configmap", "configMap"
            source = config_maps.get(str(ref.get("name") or ""))
            values = None if source is None else {k: str(v) for k, v in (source.get("data") or {}).items()}
        elif env_from.get("secretRef"):
            ref, kind, label = env_from["secretRef"], "secret", "secret"
            source = secrets.get(str(ref.get("name") or ""))
            values = None if source is None else _secret_values(source)
        else:
            continue
        name = str(ref.get("name") or "")
        if values is None:
            if ref.get("optional"):
                continue
            raise EnvVarError(not_found_message(kind, name))
        invalid = []
        for key, value in values.items():
            if is_relaxed_env_var_name(prefix + key):
                invalid.append(prefix + key)
                continue
            define(prefix + key, value)
        if invalid and on_warning is not None:
            on_warning(
                INVALID_NAMES_REASON,
                f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {label} {namespace}/{name} were "
                "skipped since they are considered invalid environment variable names.",
            )

    lookup = mapping_for(defined, services_env)
    addresses = _Addresses(pod_ip, pod_ips, host_ip, host_ips)
    for env in container.get("env") or []:
        resolved = _value(
            pod, container, env, lookup, addresses, node_name, config_maps, secrets, node_allocatable
        )
        if resolved is not None:
            define(str(env.get("name") or ""), resolved)

    result = [(k, v) for k, v in services_env.items() if k not in defined]
    return result + list(defined.items())


class _Addresses:
    def __init__(self, pod_ip: str, pod_ips: Sequence[str], host_ip: str, host_ips: Sequence[str]) -> None:
        self.pod_ips = list(pod_ips) or ([pod_ip] if pod_ip else [])
        self.pod_ip = self.pod_ips[0] if self.pod_ips else ""
        self.host_ips = list(host_ips) or ([host_ip] if host_ip else [])
        self.host_ip = host_ip or (self.host_ips[0] if self.host_ips else "")


def _value(
    pod: Obj,
    container: Obj,
    env: Obj,
    lookup: Callable[[str], str],
    addresses: _Addresses,
    node_name: str,
    config_maps: Mapping[str, Obj],
    secrets: Mapping[str, Obj],
    node_allocatable: Mapping[str, str] | None,
) -> str | None:
    """One env entry's value; None when an optional source or key is missing (the entry is skipped)."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    literal = str(env.get("value") or "")
    value_from = env.get("valueFrom")
    if literal or not value_from:
        return expand(literal, lookup)
    try:
        if value_from.get("fieldRef"):
            ref = value_from["fieldRef"]
            return _field_value(pod, ref, addresses, node_name)
        if value_from.get("resourceFieldRef"):
            return resource_value(value_from["resourceFieldRef"], pod, container, node_allocatable)
    except DownwardAPIError as error:
        raise EnvVarError(str(error)) from None
    if value_from.get("configMapKeyRef"):
        ref = value_from["configMapKeyRef"]
        name, key, optional = str(ref.get("name") or ""), str(ref.get("key") or ""), bool(ref.get("optional"))
        config_map = config_maps.get(name)
        if config_map is None:
            if optional:
                return None
            raise EnvVarError(not_found_message("configmap", name))
        data = config_map.get("data") or {}
        if key not in data:
            if optional:
                return None
            raise EnvVarError(f"couldn't find key {key} in ConfigMap {namespace}/{name}")
        return str(data[key])
    if value_from.get("secretKeyRef"):
        ref = value_from["secretKeyRef"]
        name, key, optional = str(ref.get("name") or ""), str(ref.get("key") or ""), bool(ref.get("optional"))
        secret = secrets.get(name)
        if secret is None:
            if optional:
                return None
            raise EnvVarError(not_found_message("secret", name))
        values = _secret_values(secret)
        if key not in values:
            if optional:
                return None
            raise EnvVarError(f"couldn't find key {key} in Secret {namespace}/{name}")
        return values[key]
    return ""


def _field_value(pod: Obj, ref: Obj, addresses: _Addresses, node_name: str) -> str:
    """podFieldSelectorRuntimeValue: node, service account and addresses, else pod metadata."""
    path = convert_field_label(str(ref.get("apiVersion") or "v1"), str(ref.get("fieldPath") or ""))
    spec = pod.get("spec") or {}
    if path == "spec.nodeName":
        return str(spec.get("nodeName") or node_name)
    if path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName") or "")
    if path == "status.hostIP":
        return addresses.host_ip
    if path == "status.hostIPs":
        return ",".join(addresses.host_ips)
    if path == "status.podIP":
        return addresses.pod_ip
    if path == "status.podIPs":
        return ",".join(addresses.pod_ips)
    return extract_field_path(pod, path)
