"""Field selectors (`?fieldSelector=metadata.name=foo,status.phase!=Running`) as apimachinery's
pkg/fields parses them, and the fields each resource lets clients select on, as kube-apiserver's
registries (GetAttrs) and field label conversions define them at v1.32.

    parse(text)                             -> FieldSelector (syntax only)
    check_supported(resource, group, sel)   -> the selector in stored field names, or bad_request
    field_set(resource, group, obj)         -> {"metadata.name": ..., "spec.nodeName": ...}

Matching a field the object's set does not have compares against "" (Go's fields.Set.Get), so
`spec.nodeName=` selects unscheduled pods. A few resources accept selector names that differ from
the stored ones: pods' legacy `spec.host` means `spec.nodeName`, and events.k8s.io's `regarding.*`
and `reportingController` mean core events' `involvedObject.*` and `reportingComponent`;
`check_supported` translates them, so a checked selector always matches a `field_set`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubeapi import errors
from kubeapi.resources import BUILTIN_REGISTRY
from kubeapi.validation import go_quote
from kubeapi.validation.names import byte_length

MAX_SELECTOR_BYTES = 64 * 1024
"""As for label selectors: a cap of our own, far above real selectors, so parsing stays cheap."""


@dataclass(frozen=True)
class FieldRequirement:
    """`field=value` or `field!=value` ("==" parses as "=", as upstream's selection.Equals)."""

    field: str
    operator: Literal["=", "!="]
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == "=" else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of requirements in the order upstream keeps them (terms sorted as written)."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value an `=` term demands for `field`, if any (pods by spec.nodeName use this)."""
        for r in self.requirements:
            if r.field == field and r.operator == "=":
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_value(value: str) -> str:
    """fields.EscapeValue: backslash, comma and equals get a backslash."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(value: str) -> str:
    """fields.UnescapeValue: `\\\\`, `\\,` and `\\=` are the only escapes; a bare ',' or '=' is an error."""
    if not any(ch in value for ch in "\\,="):
        return value
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise errors.bad_request(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go prints the rune with %v, which is its code point
            raise errors.bad_request(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise errors.bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse(selector: str) -> FieldSelector:
    """Terms split on unescaped commas and sorted; each splits at its first '!=', '==' or '='. The
    field name is taken as written (no trimming, no escapes); the value is unescaped."""
    size = byte_length(selector)
    if size > MAX_SELECTOR_BYTES:
        raise errors.bad_request(
            f"field selector is too long: {size} bytes, the limit is {MAX_SELECTOR_BYTES}"
        )
    requirements = []
    for term in sorted(_split_terms(selector)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise errors.bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
        field, operator, raw_value = split
        requirements.append(
            FieldRequirement(field, "!=" if operator == "!=" else "=", unescape_value(raw_value))
        )
    return FieldSelector(tuple(requirements))


def _split_terms(selector: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(selector):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(selector[start:i])
            start = i + 1
    if selector:
        terms.append(selector[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


# Which selector names a resource accepts, and the stored field each one means.
# Resources not listed here get apimachinery's default: metadata.name and metadata.namespace.
_POD = {
    name: name
    for name in (
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",  # accepted, but never in the field set (upstream's TODO): matches ""
        "status.nominatedNodeName",
    )
} | {"spec.host": "spec.nodeName"}
_CORE_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
)
_EVENTS_V1 = {
    "reason": "reason",
    "regarding.kind": "involvedObject.kind",
    "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name",
    "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath",
    "reportingController": "reportingComponent",
    "source": "source",
    "type": "type",
    "metadata.namespace": "metadata.namespace",
    "metadata.name": "metadata.name",
}


def _same(*names: str) -> dict[str, str]:
    return {name: name for name in names}


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


_CONVERSIONS: dict[tuple[str, str], tuple[Mapping[str, str], Callable[[str], str]]] = {
    ("", "pods"): (_POD, _not_supported),
    ("", "nodes"): (_same("metadata.name", "spec.unschedulable"), _not_supported),
    ("", "replicationcontrollers"): (
        _same("metadata.name", "metadata.namespace", "status.replicas"),
        _not_supported,
    ),
    ("", "events"): (_same(*_CORE_EVENT_FIELDS), _not_supported),
    ("", "namespaces"): (_same("status.phase", "metadata.name"), _not_supported),
    ("", "secrets"): (_same("type", "metadata.namespace", "metadata.name"), _not_supported),
    ("", "services"): (
        _same("metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"),
        _not_supported,
    ),
    ("batch", "jobs"): (
        _same("metadata.name", "metadata.namespace", "status.successful"),
        lambda label: f"field label {go_quote(label)} not supported for batchv1.Job",
    ),
    ("certificates.k8s.io", "certificatesigningrequests"): (
        _same("metadata.name", "spec.signerName"),
        _not_supported,
    ),
    ("events.k8s.io", "events"): (_EVENTS_V1, _not_supported),
}
_DEFAULT_CONVERSION: tuple[Mapping[str, str], Callable[[str], str]] = (
    _same("metadata.name", "metadata.namespace"),
    lambda label: (
        f"{go_quote(label)} is not a known field selector: only "
        f"{go_quote('metadata.name')}, {go_quote('metadata.namespace')}"
    ),
)


def check_supported(resource: str, group: str, selector: FieldSelector) -> FieldSelector:
    """The selector with every field in stored terms, or bad_request naming the first field the
    resource does not support, in upstream's words for that resource. Note apps/v1 ReplicaSets
    register no conversion upstream, so their `status.replicas` is refused like any unknown field."""
    accepted, message = _CONVERSIONS.get((group, resource), _DEFAULT_CONVERSION)
    converted = []
    for r in selector.requirements:
        stored = accepted.get(r.field)
        if stored is None:
            raise errors.bad_request(message(r.field))
        converted.append(FieldRequirement(stored, r.operator, r.value))
    return FieldSelector(tuple(converted))


def field_set(resource: str, group: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of a stored object: metadata.name, metadata.namespace for namespaced
    resources (unknown resources count as namespaced when the object has a namespace), and the
    resource's own fields in their stored names."""
    meta = _map(obj, "metadata")
    fields = {"metadata.name": _str(meta, "name")}
    if _NAMESPACED.get((group, resource), bool(_str(meta, "namespace"))):
        fields["metadata.namespace"] = _str(meta, "namespace")
    extract = _EXTRACTORS.get((group, resource))
    if extract is not None:
        fields.update(extract(obj))
    return fields


_NAMESPACED = {(r.group, r.name): r.namespaced for r in BUILTIN_REGISTRY.resources}


def _pod_fields(pod: Mapping[str, Any]) -> dict[str, str]:
    spec, status = _map(pod, "spec"), _map(pod, "status")
    pod_ip = _str(status, "podIP")
    if not pod_ip:
        ips = status.get("podIPs")
        if isinstance(ips, list) and ips and isinstance(ips[0], Mapping):
            pod_ip = _str(ips[0], "ip")
    return {
        "spec.nodeName": _str(spec, "nodeName"),
        "spec.restartPolicy": _str(spec, "restartPolicy"),
        "spec.schedulerName": _str(spec, "schedulerName"),
        # v1's deprecated serviceAccount fills in for an empty serviceAccountName on conversion
        "spec.serviceAccountName": _str(spec, "serviceAccountName") or _str(spec, "serviceAccount"),
        "spec.hostNetwork": _bool(spec, "hostNetwork"),
        "status.phase": _str(status, "phase"),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _str(status, "nominatedNodeName"),
    }


def _core_event_fields(event: Mapping[str, Any]) -> dict[str, str]:
    involved = _map(event, "involvedObject")
    reporting = _str(event, "reportingComponent")
    return {
        **{f"involvedObject.{k}": _str(involved, k) for k in _OBJECT_REFERENCE_FIELDS},
        "reason": _str(event, "reason"),
        "reportingComponent": reporting,
        "source": _str(_map(event, "source"), "component") or reporting,
        "type": _str(event, "type"),
    }


def _events_v1_fields(event: Mapping[str, Any]) -> dict[str, str]:
    """An events.k8s.io/v1 Event, described in core event terms (both are one stored kind)."""
    regarding = _map(event, "regarding")
    reporting = _str(event, "reportingController")
    return {
        **{f"involvedObject.{k}": _str(regarding, k) for k in _OBJECT_REFERENCE_FIELDS},
        "reason": _str(event, "reason"),
        "reportingComponent": reporting,
        "source": _str(_map(event, "deprecatedSource"), "component") or reporting,
        "type": _str(event, "type"),
    }


_OBJECT_REFERENCE_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

_EXTRACTORS: dict[tuple[str, str], Callable[[Mapping[str, Any]], dict[str, str]]] = {
    ("", "pods"): _pod_fields,
    ("", "nodes"): lambda node: {"spec.unschedulable": _bool(_map(node, "spec"), "unschedulable")},
    ("", "replicationcontrollers"): lambda rc: {"status.replicas": _int(_map(rc, "status"), "replicas")},
    ("", "events"): _core_event_fields,
    ("", "namespaces"): lambda ns: {"status.phase": _str(_map(ns, "status"), "phase")},
    ("", "secrets"): lambda secret: {"type": _str(secret, "type")},
    ("", "services"): lambda svc: {
        "spec.clusterIP": _str(_map(svc, "spec"), "clusterIP"),
        "spec.type": _str(_map(svc, "spec"), "type"),
    },
    # in upstream's field set, though no conversion lets a selector reach it
    ("apps", "replicasets"): lambda rs: {"status.replicas": _int(_map(rs, "status"), "replicas")},
    ("batch", "jobs"): lambda job: {"status.successful": _int(_map(job, "status"), "succeeded")},
    ("certificates.k8s.io", "certificatesigningrequests"): lambda csr: {
        "spec.signerName": _str(_map(csr, "spec"), "signerName")
    },
    ("events.k8s.io", "events"): _events_v1_fields,
}


def _map(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _bool(obj: Mapping[str, Any], key: str) -> str:
    return "true" if obj.get(key) is True else "false"


def _int(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"
