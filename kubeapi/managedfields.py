"""metadata.managedFields: which manager owns which fields of an object, and how a write that is
not an apply changes that (k8s.io/apimachinery/pkg/util/managedfields, v1.32).

An entry is one manager's claim: `{"manager", "operation": "Apply" | "Update", "apiVersion",
"time", "fieldsType": "FieldsV1", "fieldsV1", "subresource"}`. Its identity (`ManagerKey`) is the
manager, the operation and the subresource, plus the apiVersion for Update entries: a client
applying from a newer version keeps its one Apply entry.

`update_managed_fields` is what kube-apiserver does on every create, update and non-apply patch:
  - the fields the write added or changed (not those it set to their old value) become this
    manager's and leave every other manager's set, Apply entries included (so `kubectl scale`
    takes spec.replicas from the applier);
  - fields the write removed leave every set; entries left empty go;
  - the entry's time is `now` only when the write took fields;
  - fields the strategy resets are never owned (`reset_fields`: a status written through the
    main resource, the spec written through /status) and neither is system metadata (name,
    namespace, uid, resourceVersion, generation, creationTimestamp, managedFields, ...);
  - a client may send managedFields to replace them (`[]` or `[{}]` clears them); through a
    subresource, or when they cannot be read, the stored ones are kept;
  - an object stored without managedFields is not tracked by updates (only its creation or its
    first apply starts the tracking, as upstream);
  - beyond 10 Update entries the oldest are merged into "ancient-changes" entries.
A create is compared against the Go zero object of its kind (structs that Go always writes, as
`{}`; required lists and maps as null), so its entry looks like kube-apiserver's: `f:spec` has no
".", `f:metadata.f:labels` has one.

`default_manager` names a client that gave no fieldManager; `validate_options` checks the
fieldManager and force parameters as upstream does (422 on `PatchOptions.meta.k8s.io`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kubeapi import errors, schema
from kubeapi.fieldpath import FieldSet, FieldType, ShapeError, compare, field_pe
from kubeapi.resources import BUILTIN_REGISTRY

APPLY = "Apply"
UPDATE = "Update"
FIELDS_V1 = "FieldsV1"
MAX_UPDATE_MANAGERS = 10
FIELD_MANAGER_MAX_LENGTH = 128
BEFORE_FIRST_APPLY = "before-first-apply"
ANCIENT_CHANGES = "ancient-changes"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@dataclass(frozen=True)
class ManagerKey:
    manager: str
    operation: str
    api_version: str = ""  # "" for Apply entries, whose identity has no version
    subresource: str = ""

    @classmethod
    def of(cls, manager: str, operation: str, api_version: str, subresource: str = "") -> ManagerKey:
        return cls(manager, operation, "" if operation == APPLY else api_version, subresource)

    def identifier(self) -> str:
        """Upstream's manager identifier (the entry as JSON without time and fields)."""
        entry = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        entry["subresource"] = self.subresource
        return json.dumps({k: v for k, v in entry.items() if v}, separators=(",", ":"))

    def describe(self) -> str:
        """As conflicts name a manager: "kubectl-scale" with subresource "scale" using apps/v1."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


@dataclass(frozen=True)
class Entry:
    fields: FieldSet
    api_version: str
    time: str | None = None


Managed = dict[ManagerKey, Entry]


# ---- encoding ----


def decode(entries: Any) -> Managed:
    """The entries of metadata.managedFields; ValueError when they are not well formed."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    managed: Managed = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"managed fields entry {index} must be an object")
        operation = entry.get("operation")
        if operation not in (APPLY, UPDATE):
            raise ValueError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise ValueError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType")
        if not fields_type:
            raise ValueError(f"missing fieldsType in managed fields entry {index}")
        if fields_type != FIELDS_V1:
            raise ValueError(f"invalid fieldsType {fields_type!r} in managed fields entry {index}")
        manager, subresource, time = entry.get("manager", ""), entry.get("subresource", ""), entry.get("time")
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise ValueError(f"manager and subresource of managed fields entry {index} must be strings")
        key = ManagerKey.of(manager, operation, api_version, subresource)
        fields = FieldSet.from_fields_v1(entry.get("fieldsV1") or {})
        managed[key] = Entry(fields, api_version, time if isinstance(time, str) else None)
    return managed


def _seconds(time: str | None) -> float:
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() if time else 0.0
    except ValueError:
        return 0.0


def encode(managed: Mapping[ManagerKey, Entry]) -> list[dict[str, Any]]:
    """The entries in upstream's order: Apply before Update, then oldest first, then by name."""
    entries = []
    for key, entry in managed.items():
        encoded: dict[str, Any] = {"manager": key.manager} if key.manager else {}
        encoded.update(operation=key.operation, apiVersion=entry.api_version)
        if entry.time is not None:
            encoded["time"] = entry.time
        encoded.update(fieldsType=FIELDS_V1, fieldsV1=entry.fields.to_fields_v1())
        if key.subresource:
            encoded["subresource"] = key.subresource
        entries.append(encoded)
    entries.sort(
        key=lambda e: (
            e["operation"],
            _seconds(e.get("time")),
            e.get("manager", ""),
            e["apiVersion"],
            e.get("subresource", ""),
        )
    )
    return entries


def set_managed_fields(obj: dict[str, Any], managed: Mapping[ManagerKey, Entry]) -> None:
    meta = obj.setdefault("metadata", {})
    meta.pop("managedFields", None)
    if managed:
        meta["managedFields"] = encode(managed)


def without_managed_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of the object without metadata.managedFields."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


# ---- what is never owned ----

# Type and system metadata (upstream's stripMetaManager); `metadata` alone, not what is in it.
STRIPPED = FieldSet.of(
    *[(field_pe(name),) for name in ("apiVersion", "kind", "metadata")],
    *[
        (field_pe("metadata"), field_pe(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ],
)

# The strategies' GetResetFields that are not "status" on the main resource, "spec" on /status.
_RESET: Mapping[tuple[str, str, str], tuple[tuple[str, ...], ...]] = {
    ("certificates.k8s.io", "CertificateSigningRequest", ""): (("spec",), ("status",)),
    ("certificates.k8s.io", "CertificateSigningRequest", "status"): (("spec",), ("status", "conditions")),
    ("certificates.k8s.io", "CertificateSigningRequest", "approval"): (("spec",), ("status", "certificate")),
    ("apps", "Deployment", "status"): (("spec",), ("metadata", "labels")),
    ("", "Pod", "status"): (("spec",), ("metadata", "deletionTimestamp"), ("metadata", "ownerReferences")),
    ("", "Namespace", "finalize"): (("status",),),
}


def reset_fields(api_version: str, kind: str, subresource: str = "") -> FieldSet:
    """The fields a write through this (sub)resource cannot own, the strategy resetting them: the
    status of kinds with a status subresource on the main resource, the spec on /status."""
    group, _, version = api_version.rpartition("/")
    paths = _RESET.get((group, kind, subresource))
    if paths is None:
        resource = BUILTIN_REGISTRY.by_kind(group, version, kind)
        has_status = resource is not None and resource.subresource("status") is not None
        paths = (
            (("status",),)
            if has_status and not subresource
            else (("spec",),)
            if subresource == "status"
            else ()
        )
    return FieldSet.of(*[tuple(field_pe(name) for name in path) for path in paths])


# ---- the object a create starts from ----

# Struct fields Go writes as {} even when unset (values, not pointers), beyond a kind's
# metadata, spec and status; required lists, maps and pointers are written as null.
_VALUE_STRUCTS: Mapping[str, tuple[str, ...]] = {
    "io.k8s.api.apps.v1.DeploymentSpec": ("strategy", "template"),
    "io.k8s.api.apps.v1.ReplicaSetSpec": ("template",),
    "io.k8s.api.apps.v1.StatefulSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.apps.v1.DaemonSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.batch.v1.JobSpec": ("template",),
    "io.k8s.api.batch.v1.CronJobSpec": ("jobTemplate",),
    "io.k8s.api.batch.v1.JobTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.core.v1.PodTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.core.v1.PodTemplate": ("template",),
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": ("resources",),
    "io.k8s.api.core.v1.ServiceStatus": ("loadBalancer",),
    "io.k8s.api.core.v1.NodeStatus": ("daemonEndpoints", "nodeInfo"),
    "io.k8s.api.core.v1.NodeDaemonEndpoints": ("kubeletEndpoint",),
    "io.k8s.api.core.v1.Event": ("involvedObject", "source"),
    "io.k8s.api.rbac.v1.RoleBinding": ("roleRef",),
    "io.k8s.api.rbac.v1.ClusterRoleBinding": ("roleRef",),
}
# Timestamps Go writes as null when unset (metav1.Time values).
_NULL_TIMES: Mapping[str, tuple[str, ...]] = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": ("creationTimestamp",),
    "io.k8s.api.core.v1.Event": ("firstTimestamp", "lastTimestamp", "eventTime"),
}


def _definition_name(node: schema.Node) -> str:
    name = schema.ref_name(node)
    if name is None:
        for gvk in node.get("x-kubernetes-group-version-kind", ()):
            name = schema.definition_name(gvk["group"], gvk["version"], gvk["kind"])
            break
    return name or ""


def zero_object(node: schema.Node | None) -> dict[str, Any]:
    """The kind's Go zero value as kube-apiserver sees it (what a create is compared against)."""
    if node is None:
        return {}
    definition = schema.resolve(node)
    name = _definition_name(node)
    values = set(_VALUE_STRUCTS.get(name, ()))
    if "x-kubernetes-group-version-kind" in definition:
        values |= {"metadata", "spec", "status"}
    required = definition.get("required", ())
    out: dict[str, Any] = {}
    for field, prop in definition.get("properties", {}).items():
        if field in values:
            out[field] = zero_object(prop)
        elif field in required or field in _NULL_TIMES.get(name, ()):
            out[field] = None
    return out


def kind_schema(obj: Mapping[str, Any]) -> schema.Node | None:
    """The definition of an object's apiVersion and kind, if the schema knows them."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return schema.for_kind(group, version, str(obj.get("kind", "")))


# ---- updates ----


def record_update(
    managed: Mapping[ManagerKey, Entry],
    old: Any,
    new: Any,
    *,
    key: ManagerKey,
    api_version: str,
    now: str,
    t: FieldType,
    ignored: FieldSet,
) -> Managed:
    """The managers after a write from `old` to `new` (both without managedFields) by `key`."""
    comparison = compare(old, new, t)
    lost = comparison.exclude(ignored)
    lost_fields = lost.changed().union(lost.removed)
    out: Managed = {}
    for other, entry in managed.items():
        rest = entry.fields.difference(lost_fields)
        if not rest.empty():
            out[other] = replace(entry, fields=rest)
    taken = comparison.changed().difference(comparison.removed).recursive_difference(ignored)
    taken = taken.difference(STRIPPED)
    if not taken.empty():
        previous = out.get(key)
        fields = taken.union(previous.fields) if previous is not None else taken
        out[key] = Entry(fields, api_version, now)
    return _cap_updaters(out)


def _cap_updaters(managed: Managed) -> Managed:
    """Merge the oldest Update entries, per apiVersion, into "ancient-changes" ones until at most
    MAX_UPDATE_MANAGERS remain."""
    updaters = [key for key in managed if key.operation == UPDATE]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return managed
    updaters.sort(key=lambda k: (_seconds(managed[k].time), k.identifier()))
    out = dict(managed)
    first_of_version: dict[str, ManagerKey] = {}
    remaining = len(updaters)
    for key in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        entry = out[key]
        bucket = ManagerKey.of(ANCIENT_CHANGES, UPDATE, entry.api_version)
        first = first_of_version.get(entry.api_version)
        if first is None:
            first_of_version[entry.api_version] = key
            continue
        if bucket not in out:
            out[bucket] = out.pop(first)
        out[bucket] = Entry(entry.fields.union(out[bucket].fields), entry.api_version, entry.time)
        if key != bucket:
            del out[key]
        remaining -= 1
    return out


def _live_or_requested(live: Any, requested: Any, *, ignore_requested: bool) -> Managed:
    """The managedFields a write starts from: the request's when it sends readable ones (and
    writes through the main resource), none when it asks to clear them, else the stored ones."""
    if not ignore_requested:
        if requested == [] or requested == [{}]:
            return {}
        try:
            managed = decode(requested)
        except ValueError:
            managed = {}
        if managed:
            return managed
    try:
        return decode(live)
    except ValueError:
        return {}


def update_managed_fields(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    *,
    manager: str,
    operation: str = UPDATE,
    now: str,
    subresource: str = "",
    schema_node: schema.Node | None = None,
) -> dict[str, Any]:
    """`new` (a copy) with metadata.managedFields updated for a write by `manager` (create when
    `old` is None). `schema_node` defaults to the definition of new's apiVersion and kind. Call it
    with the object as the client sent it (defaulted), before the strategy resets fields. Never
    raises: where the fields cannot be worked out, the stored managedFields are kept."""
    result = copy.deepcopy(dict(new))
    meta = result.get("metadata")
    if not isinstance(meta, dict):
        return result
    requested = meta.pop("managedFields", None)
    old_meta = (old or {}).get("metadata") or {}
    stored = old_meta.get("managedFields")
    node = schema_node if schema_node is not None else kind_schema(result)
    api_version = str(result.get("apiVersion", ""))
    managed = _live_or_requested(stored, requested, ignore_requested=bool(subresource))
    if not managed and old is not None and old_meta.get("uid"):
        return result
    base = without_managed_fields(old) if old is not None else zero_object(node)
    try:
        managed = record_update(
            managed,
            base,
            result,
            key=ManagerKey.of(manager or "unknown", operation, api_version, subresource),
            api_version=api_version,
            now=now,
            t=FieldType(node),
            ignored=reset_fields(api_version, str(result.get("kind", "")), subresource),
        )
    except ShapeError:
        if stored is not None:
            meta["managedFields"] = copy.deepcopy(stored)
        return result
    set_managed_fields(result, managed)
    return result


# ---- request parameters ----


def default_manager(user_agent: str) -> str:
    """The manager of a client that names none: its User-Agent up to the first "/" ("kubectl",
    "kube-controller-manager"), printable characters only, at most 128 bytes. An empty one is
    recorded as "unknown"."""
    out, size = [], 0
    for char in user_agent.split("/", 1)[0]:
        if not char.isprintable():
            continue
        size += len(char.encode())
        if size > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(char)
    return "".join(out)


def validate_options(
    options_kind: str, field_manager: str, *, apply: bool = False, force: bool | None = None
) -> None:
    """Upstream's checks of fieldManager and force (ValidatePatchOptions, ValidateCreateOptions,
    ValidateUpdateOptions): 422 Invalid on `<options_kind>.meta.k8s.io`."""
    causes = []
    if options_kind == "PatchOptions" and not apply and force is not None:
        causes.append(
            errors.Cause(
                "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch", "force"
            )
        )
    if apply and not field_manager:
        causes.append(
            errors.Cause("FieldValueRequired", "Required value: is required for apply patch", "fieldManager")
        )
    if len(field_manager.encode()) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(
            errors.Cause(
                "FieldValueTooLong",
                f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes",
                "fieldManager",
            )
        )
    position = 0
    for char in field_manager:
        if not char.isprintable():
            message = (
                f"Invalid value: {json.dumps(field_manager)}: "
                f"invalid character U+{ord(char):04X} (at position {position})"
            )
            causes.append(errors.Cause("FieldValueInvalid", message, "fieldManager"))
        position += len(char.encode())
    if causes:
        raise errors.invalid(options_kind, "", causes, "meta.k8s.io")


__all__ = [
    "ANCIENT_CHANGES",
    "APPLY",
    "BEFORE_FIRST_APPLY",
    "LAST_APPLIED",
    "STRIPPED",
    "UPDATE",
    "Entry",
    "Managed",
    "ManagerKey",
    "decode",
    "default_manager",
    "encode",
    "kind_schema",
    "record_update",
    "reset_fields",
    "set_managed_fields",
    "update_managed_fields",
    "validate_options",
    "without_managed_fields",
    "zero_object",
]
