"""The decode step of a create or update: the body checked against the kind's OpenAPI schema the way
kube-apiserver's JSON decoder (sigs.k8s.io/json, a fork of encoding/json) checks it, so a wrong type
or an unknown field is answered with upstream's words.

    type errors     a string where an integer belongs, an int32 out of range, bad base64 in a Secret,
                    a malformed quantity: 400 BadRequest, whatever fieldValidation says:
                    `Deployment in version "v1" cannot be handled as a Deployment: json: cannot
                    unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`
    unknown fields  `spec.foo` for a field the schema does not have; what happens depends on the
                    request's fieldValidation: Strict answers 400 `... strict decoding error: unknown
                    field "spec.foo"`, Warn (the server's default) sends one Warning header per field,
                    Ignore says nothing. The stored object never keeps them (Go structs cannot).

Go names the innermost struct and the field path without list indices in type errors
(`Container.spec.containers.image`), and names Go types we only approximate: a named string type
such as `v1.Protocol` is reported as `string`, because the OpenAPI schema does not keep Go names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi import errors
from kubeapi.errors import Cause
from kubeapi.quantity import parse_quantity
from kubeapi.schema import Node, definitions, ref_name, resolve
from kubeapi.validation import not_supported

TYPE_INVALID = "FieldValueTypeInvalid"
DIRECTIVES = ("", "Ignore", "Strict", "Warn")
DEFAULT_DIRECTIVE = "Warn"  # kube-apiserver's default since v1.27 (kubectl itself sends Strict)

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_TIMES = ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime")
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_GO_SHORT_TYPES = {_QUANTITY: "resource.Quantity", _INT_OR_STRING: "intstr.IntOrString"}


@dataclass(frozen=True)
class _Issue:
    """One type error; `aborts` marks errors Go returns at once (a custom UnmarshalJSON failing)
    rather than saving and decoding on, which decides which one the 400 reports."""

    cause: Cause
    aborts: bool


class _Walk:
    def __init__(self, root_struct: str) -> None:
        self.issues: list[_Issue] = []
        self.unknown: list[str] = []
        self.root_struct = root_struct

    # ---- errors in Go's words ----

    def type_error(self, value: Any, go_type: str, where: _Where, *, aborts: bool = False) -> None:
        message = (
            f"json: cannot unmarshal {_json_kind(value, go_type)} into {where.go_target()} of type {go_type}"
        )
        self.issues.append(_Issue(Cause(TYPE_INVALID, message, where.path), aborts))

    def plain_error(self, message: str, where: _Where, *, aborts: bool) -> None:
        self.issues.append(_Issue(Cause(TYPE_INVALID, message, where.path), aborts))

    # ---- the walk ----

    def value(self, value: Any, node: Node, where: _Where) -> None:
        if value is None:
            return  # JSON null leaves a Go field at its zero value: never an error
        name = _ref(node)
        resolved = resolve(node)
        if _accepts_anything(node, resolved):
            return
        if name == _QUANTITY:
            self.quantity(value, where)
        elif name == _INT_OR_STRING:
            self.int_or_string(value, where)
        elif name in _TIMES:
            if not isinstance(value, str):
                self.type_error(value, "string", where, aborts=True)
        elif "properties" in resolved:
            self.struct(value, node, resolved, where)
        else:
            self.plain(value, node, resolved, where)

    def struct(self, value: Any, node: Node, resolved: Node, where: _Where) -> None:
        if not isinstance(value, dict):
            self.type_error(value, go_type_name(node), where)
            return
        struct = _short_name(_ref(node)) or where.struct
        properties: Mapping[str, Node] = resolved["properties"]
        for key, item in value.items():
            child = properties.get(key)
            if child is None:
                self.unknown.append(where.strict_child(key))
                continue
            self.value(item, child, where.field(key, struct))

    def plain(self, value: Any, node: Node, resolved: Node, where: _Where) -> None:
        kind = resolved.get("type")
        if kind == "array":
            if not isinstance(value, list):
                self.type_error(value, go_type_name(node), where)
                return
            items = resolved.get("items") or {}
            for index, item in enumerate(value):
                self.value(item, items, where.index(index))
        elif kind == "object":
            values = resolved.get("additionalProperties")
            if not isinstance(value, dict):
                self.type_error(value, go_type_name(node), where)
            elif isinstance(values, Mapping):
                for key, item in value.items():
                    self.value(item, values, where.key(key))
        elif kind == "string":
            if not isinstance(value, str):
                self.type_error(value, "string", where)
            elif resolved.get("format") == "byte":
                problem = go_base64_error(value)
                if problem:
                    self.plain_error(problem, where, aborts=False)
        elif kind == "integer":
            fmt = resolved.get("format", "")
            go = fmt if fmt in _INT_RANGES else "int"
            low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
            if not _is_number(value) or isinstance(value, float) or not low <= value <= high:
                self.type_error(value, go, where)
        elif kind == "number":
            if not _is_number(value):
                self.type_error(value, "float64", where)
        elif kind == "boolean" and not isinstance(value, bool):
            self.type_error(value, "bool", where)

    def quantity(self, value: Any, where: _Where) -> None:
        """resource.Quantity's UnmarshalJSON: a JSON string or bare number, trimmed and parsed."""
        text = value if isinstance(value, str) else _go_literal(value)
        try:
            parse_quantity(text.strip())
        except ValueError as error:
            self.plain_error(str(error), where, aborts=True)

    def int_or_string(self, value: Any, where: _Where) -> None:
        """intstr's UnmarshalJSON: a string, or else whatever json.Unmarshal takes as an int32."""
        if isinstance(value, str):
            return
        if not _is_number(value) or isinstance(value, float) or not -(2**31) <= value < 2**31:
            self.type_error(value, "int32", where, aborts=True)


@dataclass(frozen=True)
class _Where:
    """Where the walk is: the path shown to users (with indices), Go's field stack (without), and
    the Go struct whose field holds the value."""

    path: str
    go_fields: tuple[str, ...]
    struct: str

    def field(self, name: str, struct: str) -> _Where:
        return _Where(_join(self.path, name), (*self.go_fields, name), struct)

    def index(self, index: int) -> _Where:
        return _Where(f"{self.path}[{index}]", self.go_fields, self.struct)

    def key(self, key: str) -> _Where:
        return _Where(_join(self.path, key), self.go_fields, self.struct)

    def strict_child(self, name: str) -> str:
        return _join(self.path, name)

    def go_target(self) -> str:
        if not self.go_fields:
            return "Go value"
        return f"Go struct field {self.struct}.{'.'.join(self.go_fields)}"


def check_structure(obj: Any, schema_node: Node, *, kind: str = "") -> tuple[list[Cause], list[str]]:
    """The type errors (causes of type FieldValueTypeInvalid whose message is Go's decode error, in
    decoding order) and the unknown fields (paths like "spec.template.spec.containers[0].foo") of
    `obj` against the schema of its kind. `kind` names the top Go struct when the node has none."""
    walk = _Walk(kind or _root_struct(schema_node))
    walk.value(obj, schema_node, _Where("", (), walk.root_struct))
    return [issue.cause for issue in walk.issues], walk.unknown


def decode_message(obj: Any, schema_node: Node, *, kind: str = "") -> str | None:
    """The one error Go's decoder would return, or None: the first error that aborts decoding if
    any (a bad quantity), else the first saved one (Go keeps decoding and reports the first)."""
    walk = _Walk(kind or _root_struct(schema_node))
    walk.value(obj, schema_node, _Where("", (), walk.root_struct))
    first = next((issue for issue in walk.issues if issue.aborts), None) or next(iter(walk.issues), None)
    return None if first is None else first.cause.message


def drop_unknown(obj: Any, schema_node: Node) -> Any:
    """A copy of `obj` holding only what its Go type can: unknown fields and nulls in structs are
    dropped, as decoding into a struct and encoding again does (Ignore and Warn store this)."""
    if obj is None:
        return None
    resolved = resolve(schema_node)
    if _accepts_anything(schema_node, resolved) or _ref(schema_node) in (_QUANTITY, _INT_OR_STRING):
        return copy.deepcopy(obj)
    if "properties" in resolved and isinstance(obj, dict):
        properties = resolved["properties"]
        return {
            key: drop_unknown(value, properties[key])
            for key, value in obj.items()
            if key in properties and value is not None
        }
    values = resolved.get("additionalProperties")
    if isinstance(obj, dict) and isinstance(values, Mapping):
        return {key: drop_unknown(value, values) for key, value in obj.items()}
    items = resolved.get("items")
    if isinstance(obj, list) and isinstance(items, Mapping):
        return [drop_unknown(item, items) for item in obj]
    return copy.deepcopy(obj)


def apply_field_validation(
    obj: Any, schema_node: Node, directive: str, *, options_kind: str = "CreateOptions"
) -> tuple[Any, list[str]]:
    """The object to store and the Warning headers to send for a body decoded under the request's
    `fieldValidation` ("Strict", "Warn", "Ignore", or "" for the server default, Warn). Raises
    StatusError 400 for type errors (always) and for unknown fields under Strict, and 422 for an
    unsupported directive (`options_kind` is CreateOptions, UpdateOptions or PatchOptions)."""
    if directive not in DIRECTIVES:
        cause = not_supported("fieldValidation", directive, list(DIRECTIVES))
        raise errors.invalid(options_kind, "", [cause], "meta.k8s.io")
    kind, version = _kind_and_version(obj, schema_node)
    message = decode_message(obj, schema_node, kind=kind)
    if message is not None:
        raise decode_error(kind, version, message)
    _, unknown = check_structure(obj, schema_node, kind=kind)
    messages = [f'unknown field "{path}"' for path in unknown]
    directive = directive or DEFAULT_DIRECTIVE
    if messages and directive == "Strict":
        raise decode_error(kind, version, "strict decoding error: " + ", ".join(messages))
    if not unknown:
        return obj, []  # nothing to drop: skip a third walk of the object
    return drop_unknown(obj, schema_node), messages if directive == "Warn" else []


def decode_error(kind: str, version: str, message: str) -> errors.StatusError:
    """upstream's transformDecodeError: the 400 every decode failure turns into."""
    return errors.bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {message}')


def go_base64_error(text: str) -> str | None:
    """encoding/base64's StdEncoding.Decode error ("illegal base64 data at input byte N"), or None.
    Go skips CR and LF, wants padding, and reports the first bad byte's offset."""
    offset = _corrupt_offset(text.encode("utf-8", "surrogatepass"))
    return None if offset is None else f"illegal base64 data at input byte {offset}"


_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")


def _corrupt_offset(src: bytes) -> int | None:
    """Go's decodeQuantum, quantum by quantum: where decoding fails, or None when it does not."""
    si, end = 0, len(src)
    while True:
        j = 0
        while j < 4:
            if si == end:
                return None if j == 0 else si - j
            ch = src[si]
            si += 1
            if ch in _B64:
                j += 1
            elif ch in _NEWLINES:
                continue
            elif ch != ord("=") or j < 2:
                return si - 1
            else:
                if j == 2:  # "==" expected: the second "=" must follow
                    while si < end and src[si] in _NEWLINES:
                        si += 1
                    if si == end:
                        return end
                    if src[si] != ord("="):
                        return si - 1
                    si += 1
                while si < end and src[si] in _NEWLINES:
                    si += 1
                return si if si < end else None  # anything after the padding is garbage


def go_type_name(node: Node) -> str:
    """How Go's reflect names the field's type: `v1.PodSpec`, `[]v1.Container`, `map[string]string`."""
    name = _ref(node)
    if name is not None:
        if name in _GO_SHORT_TYPES:
            return _GO_SHORT_TYPES[name]
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    resolved = resolve(node)
    kind = resolved.get("type")
    if kind == "array":
        return "[]" + go_type_name(resolved.get("items") or {})
    if kind == "object":
        values = resolved.get("additionalProperties")
        return "map[string]" + (go_type_name(values) if isinstance(values, Mapping) else "interface {}")
    if kind == "integer":
        fmt = resolved.get("format", "")
        return fmt if fmt in _INT_RANGES else "int"
    return {"string": "string", "number": "float64", "boolean": "bool"}.get(str(kind), "interface {}")


# ---- helpers ----


def _ref(node: Node) -> str | None:
    """The definition a node names, following refs of refs."""
    name = ref_name(node)
    while name is not None:
        inner = ref_name(definitions()[name])
        if inner is None:
            return name
        name = inner
    return None


def _short_name(name: str | None) -> str:
    return "" if name is None else name.rsplit(".", 1)[-1]


def _root_struct(node: Node) -> str:
    gvks = node.get("x-kubernetes-group-version-kind") or ()
    return str(gvks[0]["kind"]) if gvks else _short_name(_ref(node))


def _kind_and_version(obj: Any, node: Node) -> tuple[str, str]:
    """The kind and version upstream names in decode errors: the body's, else the schema's."""
    gvks = list(node.get("x-kubernetes-group-version-kind") or ())
    kind = str(gvks[0]["kind"]) if gvks else ""
    version = str(gvks[0]["version"]) if gvks else ""
    if isinstance(obj, dict):
        if isinstance(obj.get("kind"), str) and obj["kind"]:
            kind = obj["kind"]
        api_version = obj.get("apiVersion")
        if isinstance(api_version, str) and api_version:
            version = api_version.rsplit("/", 1)[-1]
    return kind, version


def _accepts_anything(node: Node, resolved: Node) -> bool:
    """RawExtension, FieldsV1, JSON and fields marked to keep unknown fields take any JSON."""
    if node.get("x-kubernetes-preserve-unknown-fields") or resolved.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        return True
    if "properties" in resolved or "additionalProperties" in resolved:
        return False
    kind = resolved.get("type")
    return kind is None or kind == "object"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_kind(value: Any, go_type: str) -> str:
    """UnmarshalTypeError.Value: the JSON kind, with the literal for numbers that do not fit."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    numeric = go_type in _INT_RANGES or go_type in ("int", "float64")
    return f"number {_go_literal(value)}" if numeric else "number"


def _go_literal(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


__all__ = [
    "DEFAULT_DIRECTIVE",
    "DIRECTIVES",
    "TYPE_INVALID",
    "apply_field_validation",
    "check_structure",
    "decode_error",
    "decode_message",
    "drop_unknown",
    "go_base64_error",
    "go_type_name",
]
