"""Kubernetes protobuf request bodies as the JSON-shaped dicts the rest of kplane works with.

Go clients (`kubectl create <generator>`, `create token`, `auth can-i`, `autoscale`, `certificate
approve`) send `Content-Type: application/vnd.kubernetes.protobuf`: the bytes `k8s\\0`, then a
`runtime.Unknown` whose `typeMeta` names the kind and whose `raw` is the object's message. `decode`
parses that with kplane's copies of the upstream schemas (k8s/*.proto, see README.md) and returns
the object exactly as the same client would have sent it in JSON.

A message does not say everything JSON does; the rules, as Go's encoding/json applies them to the
Go structs behind the messages:
- field names are the proto names (upstream names them after the JSON tags), `json_name` where not;
- unset fields, empty lists and empty maps are left out;
- a zero scalar is left out unless the field says `keep_zero` (Go writes every non-pointer field on
  the wire, so a zero there usually means "unset");
- a message field marked `inline` merges its fields into the parent (Go's `json:",inline"`);
- the apimachinery types that marshal themselves: Time (RFC 3339, null when zero), MicroTime
  (microseconds), Duration (Go's "1h2m3s"), Quantity (its string), IntOrString (int or string),
  RawExtension and FieldsV1 (the JSON they carry), ExtraValue (a list of strings);
- bytes fields are base64 strings.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kubeapi import errors
from kubeapi.protobuf.k8s import (
    apps_v1_pb2,
    authentication_v1_pb2,
    authorization_v1_pb2,
    autoscaling_v1_pb2,
    batch_v1_pb2,
    certificates_v1_pb2,
    core_v1_pb2,
    json_options_pb2,
    networking_v1_pb2,
    policy_v1_pb2,
    rbac_v1_pb2,
    runtime_pb2,
    scheduling_v1_pb2,
)

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# The kinds Go clients send as protobuf, by apiVersion: every `kubectl create` generator's, the
# reviews `create token` and `auth can-i|whoami` post, `autoscale`'s HPA and the CSR
# `certificate approve|deny` puts back. (`kubectl run` and `expose` send JSON.)
_KINDS_BY_VERSION: Mapping[str, tuple[Any, tuple[str, ...]]] = {
    "v1": (
        core_v1_pb2,
        ("ConfigMap", "Namespace", "Pod", "ResourceQuota", "Secret", "Service", "ServiceAccount"),
    ),
    "apps/v1": (apps_v1_pb2, ("Deployment",)),
    "batch/v1": (batch_v1_pb2, ("CronJob", "Job")),
    "rbac.authorization.k8s.io/v1": (
        rbac_v1_pb2,
        ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
    ),
    "scheduling.k8s.io/v1": (scheduling_v1_pb2, ("PriorityClass",)),
    "policy/v1": (policy_v1_pb2, ("PodDisruptionBudget",)),
    "networking.k8s.io/v1": (networking_v1_pb2, ("Ingress",)),
    "autoscaling/v1": (autoscaling_v1_pb2, ("HorizontalPodAutoscaler",)),
    "authentication.k8s.io/v1": (authentication_v1_pb2, ("SelfSubjectReview", "TokenRequest")),
    "authorization.k8s.io/v1": (authorization_v1_pb2, ("SelfSubjectAccessReview", "SelfSubjectRulesReview")),
    "certificates.k8s.io/v1": (certificates_v1_pb2, ("CertificateSigningRequest",)),
}
KINDS: Mapping[tuple[str, str], type[Message]] = {
    (api_version, kind): getattr(module, kind)
    for api_version, (module, kinds) in _KINDS_BY_VERSION.items()
    for kind in kinds
}
"""(apiVersion, kind) -> the message class `decode` parses `raw` with."""


def decode(body: bytes) -> dict[str, Any]:
    """The object in a protobuf request body, as a JSON-shaped dict with `kind` and `apiVersion`.

    Raises `errors.StatusError`: 400 for a body that is not a protobuf object or names a kind
    without a schema here, 415 for an encoding or content type inside it that we cannot read.
    """
    if not body.startswith(MAGIC):
        raise errors.bad_request(f"protobuf body does not start with the Kubernetes magic {MAGIC!r}")
    unknown = runtime_pb2.Unknown()
    _parse(unknown, body[len(MAGIC) :])
    api_version, kind = unknown.typeMeta.apiVersion, unknown.typeMeta.kind
    if not api_version or not kind:
        raise errors.bad_request("protobuf body has no apiVersion and kind in its typeMeta")
    if unknown.contentEncoding:
        raise errors.unsupported_media_type(f"{CONTENT_TYPE} with contentEncoding {unknown.contentEncoding}")
    if unknown.contentType not in ("", CONTENT_TYPE):
        raise errors.unsupported_media_type(unknown.contentType)
    message_class = KINDS.get((api_version, kind))
    if message_class is None:
        raise errors.bad_request(
            f'no protobuf schema for kind "{kind}" in version "{api_version}": send it as application/json'
        )
    message = message_class()
    _parse(message, unknown.raw)
    try:
        return {"kind": kind, "apiVersion": api_version, **_fields(message)}
    except (ValueError, OverflowError) as error:  # an out-of-range time, a RawExtension that is not JSON
        raise errors.bad_request(f"protobuf {kind} has a value JSON cannot hold: {error}") from error


def _parse(message: Message, data: bytes) -> None:
    try:
        message.ParseFromString(data)
    except DecodeError as error:
        name = message.DESCRIPTOR.name
        raise errors.bad_request(f"protobuf body is truncated or malformed ({name}: {error})") from error


# kplane's field options (k8s/json_options.proto); Any because the generated stub types them as
# plain FieldDescriptors, which the Extensions mapping does not accept.
_KEEP_ZERO: Any = json_options_pb2.keep_zero
_INLINE: Any = json_options_pb2.inline


@dataclass(frozen=True)
class _Field:
    """How one field shows in JSON (computed once per field)."""

    name: str
    kind: str  # "scalar", "message", "list", "map"
    keep_zero: bool
    inline: bool
    bytes: bool  # a bytes scalar, or a map of bytes values (base64 in JSON)


@functools.cache
def _field(field: FieldDescriptor) -> _Field:
    options = field.GetOptions()
    message_type: Descriptor | None = field.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        kind, value_type = "map", message_type.fields_by_name["value"].type
    else:
        kind = "list" if field.is_repeated else "message" if message_type is not None else "scalar"
        value_type = field.type
    return _Field(
        name=field.json_name,  # type: ignore[attr-defined]  # missing from types-protobuf's stub
        kind=kind,
        keep_zero=options.Extensions[_KEEP_ZERO],
        inline=options.Extensions[_INLINE],
        bytes=value_type == FieldDescriptor.TYPE_BYTES,
    )


def _fields(message: Message, out: dict[str, Any] | None = None) -> dict[str, Any]:
    """The set fields of a message, in declaration order (Go's struct order, as JSON has it)."""
    out = {} if out is None else out
    for field, value in sorted(message.ListFields(), key=lambda item: item[0].index):
        info = _field(field)
        if info.kind == "map":
            out[info.name] = {key: _value(item, info) for key, item in value.items()}
        elif info.kind == "list":
            out[info.name] = [_value(item, info) for item in value]
        elif info.inline:
            _fields(value, out)
        elif info.kind == "message" or value or info.keep_zero:
            out[info.name] = _value(value, info)
    return out


def _value(value: Any, info: _Field) -> Any:
    if isinstance(value, Message):
        special = _SPECIAL.get(value.DESCRIPTOR.full_name)
        return special(value) if special is not None else _fields(value)
    if info.bytes:
        return base64.b64encode(value).decode("ascii")
    return value


def _time(message: Any) -> str | None:
    """metav1.Time: RFC 3339 in UTC to the second; Go writes the zero time as no fields (null)."""
    if not message.ListFields():
        return None
    return datetime.fromtimestamp(message.seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_time(message: Any) -> str | None:
    """metav1.MicroTime: like Time with six fractional digits."""
    if not message.ListFields():
        return None
    moment = datetime.fromtimestamp(message.seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{message.nanos // 1000:06d}Z"


def _duration(message: Any) -> str:
    return go_duration(message.duration)


def go_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String(): "1h2m3.5s", "1m0s", "1.5ms", "0s"."""
    if nanoseconds == 0:
        return "0s"
    sign, left = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if left < 1_000_000_000:
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if left < scale * 1000:
                return sign + _decimal(left, scale) + unit
    hours, left = divmod(left, 3600 * 1_000_000_000)
    minutes, left = divmod(left, 60 * 1_000_000_000)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return sign + text + _decimal(left, 1_000_000_000) + "s"


def _decimal(value: int, scale: int) -> str:
    whole, fraction = divmod(value, scale)
    digits = str(fraction).rjust(len(str(scale)) - 1, "0").rstrip("0") if scale > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _quantity(message: Any) -> str:
    return message.string or "0"


def _int_or_string(message: Any) -> int | str:
    return message.strVal if message.type == 1 else message.intVal  # type: ignore[no-any-return]


def _embedded_json(raw: bytes) -> Any:
    """RawExtension and FieldsV1 carry JSON (a RawExtension from a protobuf client may carry a
    protobuf object instead); empty is JSON null."""
    if not raw:
        return None
    return decode(raw) if raw.startswith(MAGIC) else json.loads(raw)  # a ValueError if not JSON


_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_SPECIAL: Mapping[str, Callable[[Any], Any]] = {
    _META + "Time": _time,
    _META + "MicroTime": _micro_time,
    _META + "Duration": _duration,
    _META + "FieldsV1": lambda message: _embedded_json(message.Raw),
    "k8s.io.apimachinery.pkg.runtime.RawExtension": lambda message: _embedded_json(message.raw),
    "k8s.io.apimachinery.pkg.api.resource.Quantity": _quantity,
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": _int_or_string,
    "k8s.io.api.authentication.v1.ExtraValue": lambda message: list(message.items),
    "k8s.io.api.certificates.v1.ExtraValue": lambda message: list(message.items),
}

__all__ = ["CONTENT_TYPE", "KINDS", "MAGIC", "decode", "go_duration"]
