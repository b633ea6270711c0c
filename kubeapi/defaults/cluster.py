"""Defaults of the kinds that are not workloads (core/v1, rbac/v1, discovery/v1, scheduling/v1 and
storage/v1 defaults.go). Services are defaulted by the apiserver's service REST, next to IP and
port allocation that depends on them. Each function changes its argument."""

from __future__ import annotations

import base64
from typing import Any

Object = dict[str, Any]

RBAC_GROUP = "rbac.authorization.k8s.io"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def default_secret(obj: Object) -> None:
    """Type Opaque, and `stringData` folded into `data` (base64) as upstream's conversion does:
    a stored Secret never has stringData, and its values win over data's."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def default_namespace(obj: Object) -> None:
    """Every named namespace carries its name as a label, so selectors can pick namespaces."""
    meta = obj.setdefault("metadata", {})
    name = meta.get("name")
    if name:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels[NAMESPACE_NAME_LABEL] = name


def default_persistent_volume(obj: Object) -> None:
    spec = _spec(obj)
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    if isinstance(spec.get("hostPath"), dict):
        spec["hostPath"].setdefault("type", "")
    _status(obj).setdefault("phase", "Pending")


def default_persistent_volume_claim(obj: Object) -> None:
    _spec(obj).setdefault("volumeMode", "Filesystem")
    _status(obj).setdefault("phase", "Pending")


def default_endpoints(obj: Object) -> None:
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def default_endpoint_slice(obj: Object) -> None:
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("name", "")
            port.setdefault("protocol", "TCP")


def default_node(obj: Object) -> None:
    """Allocatable is capacity until the kubelet says otherwise."""
    status = obj.get("status")
    if isinstance(status, dict) and "allocatable" not in status and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def default_limit_range(obj: Object) -> None:
    """For Container limits: default limit from max, default request from the default limit,
    else from min."""
    for item in _spec(obj).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        default = dict(item.get("default") or {})
        request = dict(item.get("defaultRequest") or {})
        for name, value in (item.get("max") or {}).items():
            default.setdefault(name, value)
        for name, value in default.items():
            request.setdefault(name, value)
        for name, value in (item.get("min") or {}).items():
            request.setdefault(name, value)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def default_role_binding(obj: Object) -> None:
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in obj.get("subjects") or []:
        if (
            isinstance(subject, dict)
            and not subject.get("apiGroup")
            and subject.get("kind") in ("User", "Group")
        ):
            subject["apiGroup"] = RBAC_GROUP


def default_priority_class(obj: Object) -> None:
    obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


def default_storage_class(obj: Object) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _spec(obj: Object) -> Object:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def _status(obj: Object) -> Object:
    status = obj.get("status")
    if not isinstance(status, dict):
        status = obj["status"] = {}
    return status
