"""Validation of the containers and volumes of a pod spec (upstream's validateContainers,
validateInitContainers, validateEphemeralContainers and ValidateVolumes with what they call):
names, images, ports, env, mounts, probes, resources, and exactly one source per volume."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import duplicate, forbidden, invalid, not_supported, required
from kubeapi.validation.core import (
    port_name_errors,
    port_number_errors,
    validate_claim_spec,
    validate_port_num_or_name,
    validate_protocol,
    validate_resource_requirements,
)
from kubeapi.validation.meta import (
    as_dict,
    dicts,
    int_value,
    non_negative,
    not_found,
    validate_template_meta,
)
from kubeapi.validation.names import (
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_relaxed_env_var_name,
)

Object = dict[str, Any]

_MAX_INT32 = 2**31 - 1

FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
HOST_PATH_TYPES = (
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
)
ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
VOLUME_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.labels",
    "metadata.annotations",
    "metadata.uid",
)
# The order upstream checks volume sources in (it decides which one "may not specify more than 1"),
# with the path upstream names for each (sic: "cephFS" and "downwarAPI").
_VOLUME_SOURCES = [
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
]
_QUIRKY_SOURCE_PATHS = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}


# ---- containers ----


def validate_containers(
    containers: list[Object], volumes: dict[str, Object], grace: Any, field: str
) -> list[Cause]:
    if not containers:
        return [required(field)]
    causes: list[Cause] = []
    names: set[str] = set()
    for index, container in enumerate(containers):
        path = f"{field}[{index}]"
        causes += _validate_container_common(container, volumes, path)
        name = str(container.get("name") or "")
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        if isinstance(container.get("lifecycle"), dict):
            causes += _validate_lifecycle(container["lifecycle"], grace, f"{path}.lifecycle")
        causes += _validate_probes(container, grace, path)
        if container.get("restartPolicy") is not None:
            causes.append(forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
    causes += _host_port_conflicts(containers, field)
    return causes


def validate_init_containers(
    init: list[Object], regular: list[Object], volumes: dict[str, Object], grace: Any, field: str
) -> list[Cause]:
    causes: list[Cause] = []
    names = {str(c.get("name") or "") for c in regular}
    for index, container in enumerate(init):
        path = f"{field}[{index}]"
        causes += _validate_container_common(container, volumes, path)
        policy = container.get("restartPolicy")
        if policy is not None and policy != "Always":
            causes.append(not_supported(f"{path}.restartPolicy", policy, ("Always",)))
        name = str(container.get("name") or "")
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        elif name:
            names.add(name)
        causes += _host_port_conflicts([container], field)
        if policy == "Always":
            if isinstance(container.get("lifecycle"), dict):
                causes += _validate_lifecycle(container["lifecycle"], grace, f"{path}.lifecycle")
            causes += _validate_probes(container, grace, path)
        else:
            for key in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if container.get(key) is not None:
                    detail = "may not be set for init containers without restartPolicy=Always"
                    causes.append(forbidden(f"{path}.{key}", detail))
    return causes


def validate_ephemeral_containers(spec: Object, volumes: dict[str, Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    others = {
        str(c.get("name") or "") for key in ("containers", "initContainers") for c in dicts(spec.get(key))
    }
    names = set(others)
    for index, container in enumerate(dicts(spec.get("ephemeralContainers"))):
        path = f"{field}[{index}]"
        causes += _validate_container_common(container, volumes, path)
        name = str(container.get("name") or "")
        if name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        target = container.get("targetContainerName")
        if target and target not in others:
            causes.append(not_found(f"{path}.targetContainerName", target))
        for key in ("ports", "resources", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
            if container.get(key) not in (None, {}, []):
                causes.append(forbidden(f"{path}.{key}", "cannot be set for an Ephemeral Container"))
    return causes


def _validate_container_common(container: Object, volumes: dict[str, Object], path: str) -> list[Cause]:
    causes: list[Cause] = []
    name = str(container.get("name") or "")
    if not name:
        causes.append(required(f"{path}.name"))
    else:
        causes += [invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(name)]
    if not container.get("image"):
        causes.append(required(f"{path}.image"))
    policy = container.get("terminationMessagePolicy", "")
    if policy not in ("File", "FallbackToLogsOnError"):
        if policy == "":
            causes.append(required(f"{path}.terminationMessagePolicy"))
        else:
            supported = ("File", "FallbackToLogsOnError")
            causes.append(not_supported(f"{path}.terminationMessagePolicy", policy, supported))
    causes += _validate_container_ports(dicts(container.get("ports")), f"{path}.ports")
    causes += _validate_env(dicts(container.get("env")), f"{path}.env")
    causes += _validate_env_from(dicts(container.get("envFrom")), f"{path}.envFrom")
    causes += _validate_volume_mounts(
        dicts(container.get("volumeMounts")), volumes, container, f"{path}.volumeMounts"
    )
    causes += one_of(container.get("imagePullPolicy", ""), PULL_POLICIES, f"{path}.imagePullPolicy")
    causes += validate_resource_requirements(container.get("resources"), f"{path}.resources")
    causes += _validate_security_context(as_dict(container.get("securityContext")), f"{path}.securityContext")
    return causes


def _validate_container_ports(ports: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for index, port in enumerate(ports):
        path = f"{field}[{index}]"
        name = str(port.get("name") or "")
        if name:
            problems = port_name_errors(name)
            if problems:
                causes += [invalid(f"{path}.name", name, msg) for msg in problems]
            elif name in names:
                causes.append(duplicate(f"{path}.name", name))
            else:
                names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            causes.append(required(f"{path}.containerPort"))
        else:
            causes += [
                invalid(f"{path}.containerPort", container_port, m)
                for m in port_number_errors(container_port)
            ]
        host_port = port.get("hostPort")
        if host_port:
            causes += [invalid(f"{path}.hostPort", host_port, m) for m in port_number_errors(host_port)]
        causes += validate_protocol(port.get("protocol"), f"{path}.protocol")
    return causes


def _host_port_conflicts(containers: list[Object], field: str) -> list[Cause]:
    """AccumulateUniqueHostPorts: one protocol/hostIP/hostPort per pod."""
    causes: list[Cause] = []
    seen: set[str] = set()
    for index, container in enumerate(containers):
        for number, port in enumerate(dicts(container.get("ports"))):
            if not port.get("hostPort"):
                continue
            key = f"{port.get('protocol', '')}/{port.get('hostIP', '')}/{port['hostPort']}"
            if key in seen:
                causes.append(duplicate(f"{field}[{index}].ports[{number}].hostPort", key))
            seen.add(key)
    return causes


def _validate_env(env: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, var in enumerate(env):
        path = f"{field}[{index}]"
        name = str(var.get("name") or "")
        if not name:
            causes.append(required(f"{path}.name"))
        else:
            causes += [invalid(f"{path}.name", name, msg) for msg in is_relaxed_env_var_name(name)]
        causes += _validate_env_source(var, f"{path}.valueFrom")
    return causes


def _validate_env_source(var: Object, field: str) -> list[Cause]:
    source = var.get("valueFrom")
    if not isinstance(source, dict):
        return []
    causes: list[Cause] = []
    count = 0
    if isinstance(source.get("fieldRef"), dict):
        count += 1
        causes += _validate_field_selector(source["fieldRef"], ENV_FIELD_PATHS, f"{field}.fieldRef")
    if isinstance(source.get("resourceFieldRef"), dict):
        count += 1
        causes += _validate_resource_field(
            source["resourceFieldRef"], f"{field}.resourceFieldRef", volume=False
        )
    for key in ("configMapKeyRef", "secretKeyRef"):
        if isinstance(source.get(key), dict):
            count += 1
            causes += _validate_key_selector(source[key], f"{field}.{key}")
    if count == 0:
        detail = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        causes.append(invalid(field, "", detail))
    elif var.get("value"):
        causes.append(invalid(field, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        causes.append(invalid(field, "", "may not have more than one field specified at a time"))
    return causes


def _validate_field_selector(selector: Object, allowed: tuple[str, ...], field: str) -> list[Cause]:
    if not selector.get("apiVersion"):
        return [required(f"{field}.apiVersion")]
    path = str(selector.get("fieldPath") or "")
    if not path:
        return [required(f"{field}.fieldPath")]
    subscripted = re.fullmatch(r"(metadata\.(?:labels|annotations))\['(.*)'\]", path)
    if subscripted:
        key = subscripted[2].lower() if subscripted[1].endswith("annotations") else subscripted[2]
        return [invalid(field, key, msg) for msg in is_qualified_name(key)]
    if path not in allowed:
        return [not_supported(f"{field}.fieldPath", path, sorted(allowed))]
    return []


def _validate_resource_field(selector: Object, field: str, *, volume: bool) -> list[Cause]:
    resources = sorted(
        f"{k}.{r}" for k in ("limits", "requests") for r in ("cpu", "ephemeral-storage", "memory")
    )
    name = str(selector.get("resource") or "")
    if volume and not selector.get("containerName"):
        return [required(f"{field}.containerName")]
    if not name:
        return [required(f"{field}.resource")]
    if name not in resources and not name.startswith(("limits.hugepages-", "requests.hugepages-")):
        return [not_supported(f"{field}.resource", name, resources)]
    return []


def _validate_key_selector(selector: Object, field: str) -> list[Cause]:
    name = str(selector.get("name") or "")
    causes = [invalid(f"{field}.name", name, msg) for msg in is_dns1123_subdomain(name)]
    key = str(selector.get("key") or "")
    if not key:
        causes.append(required(f"{field}.key"))
    else:
        causes += [invalid(f"{field}.key", key, msg) for msg in is_config_map_key(key)]
    return causes


def _validate_env_from(sources: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, source in enumerate(sources):
        path = f"{field}[{index}]"
        prefix = source.get("prefix")
        if prefix:
            causes += [invalid(f"{path}.prefix", prefix, msg) for msg in is_relaxed_env_var_name(str(prefix))]
        count = 0
        for key in ("configMapRef", "secretRef"):
            if isinstance(source.get(key), dict):
                count += 1
                name = str(source[key].get("name") or "")
                if not name:
                    causes.append(required(f"{path}.{key}.name"))
                else:
                    prefix_name = name[:-2] + "a" if len(name) > 1 and name.endswith("-") else name
                    causes += [
                        invalid(f"{path}.{key}.name", name, m) for m in is_dns1123_subdomain(prefix_name)
                    ]
        if count == 0:
            causes.append(invalid(field, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            causes.append(invalid(field, "", "may not have more than one field specified at a time"))
    return causes


def _validate_volume_mounts(
    mounts: list[Object], volumes: dict[str, Object], container: Object, field: str
) -> list[Cause]:
    causes: list[Cause] = []
    paths: set[str] = set()
    for index, mount in enumerate(mounts):
        path = f"{field}[{index}]"
        name = str(mount.get("name") or "")
        if not name:
            causes.append(required(f"{path}.name"))
        if name not in volumes:
            causes.append(not_found(f"{path}.name", name))
        mount_path = str(mount.get("mountPath") or "")
        if not mount_path:
            causes.append(required(f"{path}.mountPath"))
        if mount_path in paths:
            causes.append(invalid(f"{path}.mountPath", mount_path, "must be unique"))
        paths.add(mount_path)
        if mount.get("subPath"):
            causes += _local_descending_path(str(mount["subPath"]), f"{field}.subPath")
        if mount.get("subPathExpr"):
            if mount.get("subPath"):
                detail = "subPathExpr and subPath are mutually exclusive"
                causes.append(invalid(f"{path}.subPathExpr", mount["subPathExpr"], detail))
            causes += _local_descending_path(str(mount["subPathExpr"]), f"{field}.subPathExpr")
        propagation = mount.get("mountPropagation")
        if propagation is not None:
            supported = ("Bidirectional", "HostToContainer", "None")
            if propagation not in supported:
                causes.append(not_supported(f"{field}.mountPropagation", propagation, supported))
            privileged = as_dict(container.get("securityContext")).get("privileged") is True
            if propagation == "Bidirectional" and not privileged:
                detail = "Bidirectional mount propagation is available only to privileged containers"
                causes.append(forbidden(f"{field}.mountPropagation", detail))
    return causes


# ---- probes and handlers ----


def _validate_probes(container: Object, grace: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = container.get(key)
        if not isinstance(probe, dict):
            continue
        field = f"{path}.{key}"
        causes += _validate_handler(probe, ("exec", "httpGet", "tcpSocket", "grpc"), grace, field)
        for number in (
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ):
            causes += non_negative(probe.get(number), f"{field}.{number}")
        grace_override = probe.get("terminationGracePeriodSeconds")
        if grace_override is not None and isinstance(grace_override, int) and grace_override <= 0:
            causes.append(
                invalid(f"{field}.terminationGracePeriodSeconds", grace_override, "must be greater than 0")
            )
        if key == "readinessProbe" and grace_override is not None:
            detail = "must not be set for readinessProbes"
            causes.append(invalid(f"{field}.terminationGracePeriodSeconds", grace_override, detail))
        if key != "readinessProbe" and probe.get("successThreshold", 1) != 1:
            causes.append(invalid(f"{field}.successThreshold", probe.get("successThreshold"), "must be 1"))
    return causes


def _validate_lifecycle(lifecycle: Object, grace: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for hook in ("postStart", "preStop"):
        if isinstance(lifecycle.get(hook), dict):
            causes += _validate_handler(
                lifecycle[hook], ("exec", "httpGet", "tcpSocket", "sleep"), grace, f"{field}.{hook}"
            )
    return causes


def _validate_handler(handler: Object, kinds: tuple[str, ...], grace: Any, field: str) -> list[Cause]:
    """Exactly one handler, checked; upstream's order is exec, httpGet, tcpSocket, grpc, sleep."""
    causes: list[Cause] = []
    found = 0
    for kind in ("exec", "httpGet", "tcpSocket", "grpc", "sleep"):
        action = handler.get(kind)
        if kind not in kinds or not isinstance(action, dict):
            continue
        if found:
            causes.append(forbidden(f"{field}.{kind}", "may not specify more than 1 handler type"))
            continue
        found += 1
        path = f"{field}.{kind}"
        if kind == "exec" and not action.get("command"):
            causes.append(required(f"{path}.command"))
        elif kind == "httpGet":
            causes += _validate_http_get(action, path)
        elif kind == "tcpSocket":
            causes += validate_port_num_or_name(action.get("port"), f"{path}.port")
        elif kind == "grpc":
            causes += validate_port_num_or_name(action.get("port", 0), f"{path}.port")
        elif kind == "sleep":
            seconds = action.get("seconds", 0)
            if isinstance(grace, int) and isinstance(seconds, int) and not 0 < seconds <= grace:
                detail = (
                    f"must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). "
                    "Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."
                )
                causes.append(invalid(path, seconds, detail))
    if not found:
        causes.append(required(field, "must specify a handler type"))
    return causes


def _validate_http_get(action: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if not action.get("path"):
        causes.append(required(f"{field}.path"))
    causes += validate_port_num_or_name(action.get("port"), f"{field}.port")
    scheme = action.get("scheme", "")
    if scheme not in ("HTTP", "HTTPS"):
        causes.append(not_supported(f"{field}.scheme", scheme, ("HTTP", "HTTPS")))
    for header in dicts(action.get("httpHeaders")):
        name = str(header.get("name") or "")
        if not re.fullmatch(r"[-A-Za-z0-9]+", name):
            detail = (
                "a valid HTTP header must consist of alphanumeric characters or '-' "
                "(e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')"
            )
            causes.append(invalid(f"{field}.httpHeaders", name, detail))
    return causes


# ---- volumes ----


def validate_volumes(volumes: list[Object], field: str) -> tuple[dict[str, Object], list[Cause]]:
    causes: list[Cause] = []
    valid: dict[str, Object] = {}
    names: set[str] = set()
    for index, volume in enumerate(volumes):
        path = f"{field}[{index}]"
        problems = _validate_volume_source(volume, path)
        name = str(volume.get("name") or "")
        if not name:
            problems.append(required(f"{path}.name"))
        else:
            problems += [invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(name)]
        if name in names:
            problems.append(duplicate(f"{path}.name", name))
        if problems:
            causes += problems
        else:
            names.add(name)
            valid[name] = volume
    return valid, causes


def _validate_volume_source(volume: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    count = 0
    for key in _VOLUME_SOURCES:
        name = _QUIRKY_SOURCE_PATHS.get(key, key)
        source = volume.get(key)
        if source is None:
            continue
        if count:
            causes.append(forbidden(f"{field}.{name}", "may not specify more than 1 volume type"))
            continue
        count += 1
        causes += _validate_source(key, as_dict(source), f"{field}.{key}")
    if not count:
        causes.append(required(field, "must specify a volume type"))
    return causes


def _validate_source(key: str, source: Object, field: str) -> list[Cause]:
    """The per-source rules users meet; the legacy cloud volume plugins are left to the kubelet."""
    causes: list[Cause] = []
    if key == "emptyDir":
        size = source.get("sizeLimit")
        if isinstance(size, str) and size.startswith("-"):
            causes.append(
                forbidden(f"{field}.sizeLimit", "SizeLimit field must be a valid resource quantity")
            )
    elif key == "hostPath":
        path = str(source.get("path") or "")
        if not path:
            return [required(f"{field}.path")]
        causes += _no_backsteps(path, f"{field}.path")
        kind = source.get("type")
        if kind is not None and kind not in HOST_PATH_TYPES:
            causes.append(not_supported(f"{field}.type", kind, HOST_PATH_TYPES))
    elif key in ("secret", "configMap"):
        name_key = "secretName" if key == "secret" else "name"
        if not source.get(name_key):
            causes.append(required(f"{field}.{name_key}"))
        causes += _file_mode(source.get("defaultMode"), f"{field}.defaultMode")
        for index, item in enumerate(dicts(source.get("items"))):
            causes += _validate_key_to_path(item, f"{field}.items[{index}]")
    elif key == "persistentVolumeClaim" and not source.get("claimName"):
        causes.append(required(f"{field}.claimName"))
    elif key == "nfs":
        for required_key in ("server", "path"):
            if not source.get(required_key):
                causes.append(required(f"{field}.{required_key}"))
        if not str(source.get("path") or "").startswith("/"):
            causes.append(invalid(f"{field}.path", str(source.get("path") or ""), "must be an absolute path"))
    elif key == "downwardAPI":
        causes += _file_mode(source.get("defaultMode"), f"{field}.defaultMode")
        for item in dicts(source.get("items")):
            causes += _validate_downward_file(item, field)
    elif key == "projected":
        causes += _file_mode(source.get("defaultMode"), f"{field}.defaultMode")
        causes += _validate_projections(dicts(source.get("sources")), field)
    elif key == "csi":
        driver = str(source.get("driver") or "")
        if not driver:
            causes.append(required(f"{field}.driver"))
        causes += [invalid(f"{field}.driver", driver, msg) for msg in is_dns1123_subdomain(driver.lower())]
    elif key == "ephemeral":
        template = source.get("volumeClaimTemplate")
        if not isinstance(template, dict):
            causes.append(required(f"{field}.volumeClaimTemplate"))
        else:
            path = f"{field}.volumeClaimTemplate"
            causes += validate_template_meta(template, f"{path}.metadata")
            causes += validate_claim_spec(as_dict(template.get("spec")), f"{path}.spec")
    return causes


def _validate_key_to_path(item: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    if not item.get("key"):
        causes.append(required(f"{field}.key"))
    path = str(item.get("path") or "")
    if not path:
        causes.append(required(f"{field}.path"))
    causes += _local_non_reserved_path(path, f"{field}.path")
    causes += _file_mode(item.get("mode"), f"{field}.mode")
    return causes


def _validate_downward_file(item: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    path = str(item.get("path") or "")
    if not path:
        causes.append(required(f"{field}.path"))
    causes += _local_non_reserved_path(path, f"{field}.path")
    if isinstance(item.get("fieldRef"), dict):
        causes += _validate_field_selector(item["fieldRef"], VOLUME_FIELD_PATHS, f"{field}.fieldRef")
        if item.get("resourceFieldRef") is not None:
            detail = "fieldRef and resourceFieldRef can not be specified simultaneously"
            causes.append(invalid(field, "resource", detail))
    elif isinstance(item.get("resourceFieldRef"), dict):
        causes += _validate_resource_field(item["resourceFieldRef"], f"{field}.resourceFieldRef", volume=True)
    else:
        causes.append(required(field, "one of fieldRef and resourceFieldRef is required"))
    return causes + _file_mode(item.get("mode"), f"{field}.mode")


def _validate_projections(sources: list[Object], field: str) -> list[Cause]:
    causes: list[Cause] = []
    for index, source in enumerate(sources):
        path = f"{field}.sources[{index}]"
        kinds = [
            k
            for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
            if source.get(k) is not None
        ]
        for kind in kinds:
            part = as_dict(source.get(kind))
            if kind in ("secret", "configMap"):
                if not part.get("name"):
                    causes.append(required(f"{path}.{kind}.name"))
                for number, item in enumerate(dicts(part.get("items"))):
                    causes += _validate_key_to_path(item, f"{path}.{kind}.items[{number}]")
            elif kind == "downwardAPI":
                for item in dicts(part.get("items")):
                    causes += _validate_downward_file(item, f"{path}.downwardAPI")
            elif kind == "serviceAccountToken":
                seconds = part.get("expirationSeconds", 3600)
                token_path = f"{path}.serviceAccountToken.expirationSeconds"
                if isinstance(seconds, int) and seconds < 600:
                    causes.append(
                        invalid(token_path, seconds, "may not specify a duration less than 10 minutes")
                    )
                if isinstance(seconds, int) and seconds > 2**32:
                    causes.append(
                        invalid(token_path, seconds, "may not specify a duration larger than 2^32 seconds")
                    )
                if not part.get("path"):
                    causes.append(required(f"{field}.path"))
                else:
                    causes += _local_non_reserved_path(str(part["path"]), f"{field}.path")
        if len(kinds) > 1:
            causes.append(forbidden(path, "may not specify more than 1 volume type per source"))
    return causes


def _file_mode(mode: Any, field: str) -> list[Cause]:
    if mode is not None and isinstance(mode, int) and not 0 <= mode <= 0o777:
        return [invalid(field, mode, FILE_MODE_ERROR)]
    return []


def _no_backsteps(path: str, field: str) -> list[Cause]:
    if ".." in path.replace("\\", "/").split("/"):
        return [invalid(field, path, "must not contain '..'")]
    return []


def _local_descending_path(path: str, field: str) -> list[Cause]:
    causes = [invalid(field, path, "must be a relative path")] if posixpath.isabs(path) else []
    return causes + _no_backsteps(path, field)


def _local_non_reserved_path(path: str, field: str) -> list[Cause]:
    causes = _local_descending_path(path, field)
    if path.startswith("..") and not path.startswith("../"):
        causes.append(invalid(field, path, "must not start with '..'"))
    return causes


def one_of(value: Any, allowed: tuple[str, ...], field: str) -> list[Cause]:
    if value == "":
        return [required(field)]
    return [] if value in allowed else [not_supported(field, value, allowed)]


def id_errors(value: Any, field: str) -> list[Cause]:
    number = int_value(value)
    if number is not None and not 0 <= number <= _MAX_INT32:
        return [invalid(field, number, f"must be between 0 and {_MAX_INT32}, inclusive")]
    return []


def _validate_security_context(context: Object, field: str) -> list[Cause]:
    causes: list[Cause] = []
    for key in ("runAsUser", "runAsGroup"):
        causes += id_errors(context.get(key), f"{field}.{key}")
    proc_mount = context.get("procMount")
    if proc_mount is not None and proc_mount not in ("Default", "Unmasked"):
        causes.append(not_supported(f"{field}.procMount", proc_mount, ("Default", "Unmasked")))
    causes += validate_seccomp(context.get("seccompProfile"), f"{field}.seccompProfile")
    if context.get("allowPrivilegeEscalation") is False and context.get("privileged") is True:
        detail = "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
        causes.append(invalid(field, "SecurityContext", detail))
    return causes


def validate_seccomp(profile: Any, field: str) -> list[Cause]:
    if not isinstance(profile, dict):
        return []
    kind = profile.get("type", "")
    kinds = ("Localhost", "RuntimeDefault", "Unconfined")
    if kind == "":
        return [required(f"{field}.type", "type is required when seccompProfile is set")]
    if kind not in kinds:
        return [not_supported(f"{field}.type", kind, kinds)]
    if kind == "Localhost" and profile.get("localhostProfile") is None:
        return [required(f"{field}.localhostProfile", "must be set when seccomp type is Localhost")]
    return []
