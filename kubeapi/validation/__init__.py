"""Field errors as apimachinery's k8s.io/apimachinery/pkg/util/validation/field reports them, so a
422 from kplane reads like one from kube-apiserver.

Each constructor returns an `errors.Cause` whose `type` is upstream's field.ErrorType
("FieldValueInvalid", ...) and whose `message` is upstream's ErrorBody(): the type's phrase, the bad
value for the kinds that show it, then the detail:

    invalid("metadata.name", "Foo", "a lowercase RFC 1123 ...")
      -> Cause("FieldValueInvalid", 'Invalid value: "Foo": a lowercase RFC 1123 ...', "metadata.name")

Values are printed the way Go's fmt prints them (%q for strings, %v for numbers and bools, %#v for
string slices), because those strings are what users and tests compare against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from kubeapi.errors import Cause

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"

_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """Go's %q (strconv.Quote): printable characters stay as they are, the rest are escaped."""
    out = ['"']
    for ch in value:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def go_value(value: object) -> str:
    """A bad value as field.Error prints it: strings quoted, numbers and bools bare, None as null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return go_string_slice(value)
    return repr(value)


def go_string_slice(values: Sequence[object] | None) -> str:
    """%#v of a []string: `[]string{"a", "b"}`, `[]string{}`, or `[]string(nil)` for None."""
    if values is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}"


def required(field: str, detail: str = "") -> Cause:
    return Cause(REQUIRED, _body("Required value", detail), field)


def invalid(field: str, value: object, detail: str) -> Cause:
    return Cause(INVALID, _body(f"Invalid value: {go_value(value)}", detail), field)


def not_supported(field: str, value: object, supported: Sequence[str]) -> Cause:
    detail = "supported values: " + ", ".join(go_quote(v) for v in supported) if supported else ""
    return Cause(NOT_SUPPORTED, _body(f"Unsupported value: {go_value(value)}", detail), field)


def duplicate(field: str, value: object) -> Cause:
    return Cause(DUPLICATE, f"Duplicate value: {go_value(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause(FORBIDDEN, _body("Forbidden", detail), field)


def too_long(field: str, max_bytes: int) -> Cause:
    """field.TooLong as of v1.32: the value is never shown, only the limit in bytes."""
    detail = f"may not be more than {max_bytes} bytes" if max_bytes >= 0 else "value is too long"
    return Cause(TOO_LONG, _body("Too long", detail), field)


def error_text(cause: Cause) -> str:
    """A field error as Go's err.Error() spells it: "<field>: <body>"."""
    return f"{cause.field}: {cause.message}"


def aggregate_text(messages: Iterable[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): duplicates dropped, one message bare, several as "[a, b]"."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


def _body(phrase: str, detail: str) -> str:
    return f"{phrase}: {detail}" if detail else phrase
