"""RFC 6902 JSON Patch (`application/json-patch+json`), as kube-apiserver applies it.

The operations apply in order to a copy of the document; the first one that fails aborts the whole
patch, so a client sees either every change or none. Paths are RFC 6901 JSON Pointers (`~1` is "/",
`~0` is "~", `-` is the end of an array). kube-apiserver uses evanphx/json-patch v4, and we keep
the leniencies of it that clients may rely on: an array index is any integer (negative ones count
from the end), `replace` of a missing member of an existing object adds it, and `test` with `null`
passes for a missing member. Malformed patches (a pointer not starting with "/", a "~" not followed
by 0 or 1, an operation without its `value`) are refused where the library would guess.

Errors:
  - the patch is not a list of well-formed operations (not an array, an operation that is not an
    object, an unknown `op`, a missing `path`/`from`/`value`, a malformed pointer) → 400 BadRequest,
    before anything is applied (upstream finds an unknown `op` only when it reaches it, → 422);
  - an operation does not apply to this document (missing path, index out of range, failed `test`)
    → 422 Invalid, the message naming the operation and the path;
  - more than `MAX_OPERATIONS` operations → 413 RequestEntityTooLarge.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubeapi import errors

MAX_OPERATIONS = 10_000  # kube-apiserver's maxJSONPatchOperations
OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")

_TOKEN = re.compile(r"(?:[^~]|~[01])*")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (RFC 6902's `test`): numbers by value, but `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and a == b


def parse_pointer(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 pointer ("" is the whole document); ValueError if malformed."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f'JSON pointer "{pointer}" does not start with "/"')
    tokens = pointer[1:].split("/")
    for token in tokens:
        if not _TOKEN.fullmatch(token):
            raise ValueError(f'JSON pointer "{pointer}" has a "~" not followed by 0 or 1')
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


@dataclass(frozen=True)
class Operation:
    """One validated operation; `path`/`from_` are kept as written for messages."""

    op: str
    path: str
    tokens: tuple[str, ...]
    from_: str = ""
    from_tokens: tuple[str, ...] = ()
    value: Any = None


def decode(operations: Any) -> list[Operation]:
    """Check the shape of a whole patch before applying any of it (400 on the first problem)."""
    if not isinstance(operations, list):
        raise errors.bad_request(
            f"a JSON patch must be a JSON array of operations, not {json_type(operations)}"
        )
    if len(operations) > MAX_OPERATIONS:
        raise errors.too_large(
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got: {len(operations)}"
        )
    return [_decode_one(i, raw) for i, raw in enumerate(operations)]


def apply(document: Any, operations: Any) -> Any:
    """The document with every operation applied (the input is not changed)."""
    decoded = decode(operations)
    result = copy.deepcopy(document)
    for operation in decoded:
        result = _APPLY[operation.op](result, operation)
    return result


def _decode_one(index: int, raw: Any) -> Operation:
    where = f"operation {index}"
    if not isinstance(raw, dict):
        raise errors.bad_request(f"{where} of the JSON patch is {json_type(raw)}, not an object")
    op = raw.get("op")
    if op not in OPERATIONS:
        shown = f'"{op}"' if isinstance(op, str) else ("missing" if op is None else json_type(op))
        raise errors.bad_request(
            f"{where} of the JSON patch has an unknown op {shown} (expected one of {', '.join(OPERATIONS)})"
        )
    path, tokens = _pointer_field(raw, "path", f"{where} ({op})")
    moves = op in ("move", "copy")
    from_, from_tokens = _pointer_field(raw, "from", f"{where} ({op})") if moves else ("", ())
    if op in ("add", "replace", "test") and "value" not in raw:
        raise errors.bad_request(f'{where} ({op}) of the JSON patch has no "value"')
    return Operation(op, path, tokens, from_, from_tokens, raw.get("value"))


def _pointer_field(raw: dict[str, Any], field: str, where: str) -> tuple[str, tuple[str, ...]]:
    pointer = raw.get(field)
    if not isinstance(pointer, str):
        raise errors.bad_request(f'{where} of the JSON patch has no string "{field}"')
    try:
        return pointer, tuple(parse_pointer(pointer))
    except ValueError as e:
        raise errors.bad_request(f"{where} of the JSON patch: {e}") from None


# Applying. Each function takes the (private, mutable) document and returns it, since replacing
# the root ("") replaces the document itself.


def _fail(op: Operation, detail: str) -> errors.StatusError:
    return errors.StatusError(422, "Invalid", f"{op.op} operation does not apply: {detail}")


def _missing(op: Operation, pointer: str, what: str = "path") -> errors.StatusError:
    return _fail(op, f'doc is missing {what}: "{pointer}": missing value')


class _Missing(Exception):
    """A pointer names nothing in the document."""


def _index(token: str, length: int, *, inserting: bool = False) -> int | None:
    """An array index as upstream reads one (Go's Atoi: "01" and "+1" are 1; negative counts from
    the end), or None if the token is not one or is out of range (`inserting` allows `length`)."""
    if not _INTEGER.fullmatch(token):
        return None
    size = length + 1 if inserting else length
    index = int(token)
    if not -size <= index < size:
        return None
    return index + size if index < 0 else index


def _get(document: Any, tokens: Sequence[str]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and (index := _index(token, len(node))) is not None:
            node = node[index]
        else:
            raise _Missing
    return node


def _parent(op: Operation, document: Any, tokens: Sequence[str], pointer: str) -> Any:
    try:
        parent = _get(document, tokens[:-1])
    except _Missing:
        raise _missing(op, pointer) from None
    if not isinstance(parent, dict | list):
        raise _missing(op, pointer)
    return parent


def _list_index(op: Operation, items: list[Any], token: str, pointer: str, *, inserting: bool = False) -> int:
    index = _index(token, len(items), inserting=inserting)
    if index is not None:
        return index
    if not _INTEGER.fullmatch(token):
        raise _fail(op, f'"{token}" is not an array index in path: "{pointer}"')
    raise _fail(op, f'index {token} is out of range in path: "{pointer}": invalid index referenced')


def _add(document: Any, op: Operation) -> Any:
    return _add_value(op, document, copy.deepcopy(op.value))


def _add_value(op: Operation, document: Any, value: Any) -> Any:
    if not op.tokens:  # upstream cannot add at the root (replace can)
        raise _missing(op, op.path)
    parent = _parent(op, document, op.tokens, op.path)
    key = op.tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif key == "-":
        parent.append(value)
    else:
        parent.insert(_list_index(op, parent, key, op.path, inserting=True), value)
    return document


def _remove_at(op: Operation, document: Any, tokens: Sequence[str], pointer: str) -> Any:
    """Removes and returns the value at `tokens` (which is not the root)."""
    parent = _parent(op, document, tokens, pointer)
    key = tokens[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise _missing(op, pointer)
        return parent.pop(key)
    return parent.pop(_list_index(op, parent, key, pointer))


def _remove(document: Any, op: Operation) -> Any:
    if not op.tokens:
        raise _missing(op, op.path)
    _remove_at(op, document, op.tokens, op.path)
    return document


def _replace(document: Any, op: Operation) -> Any:
    """Replaces the value at the path; like upstream, a missing member of an existing object is
    added (RFC 6902 would fail), which clients use as "set"."""
    if not op.tokens:
        return copy.deepcopy(op.value)
    parent = _parent(op, document, op.tokens, op.path)
    key = op.tokens[-1]
    if isinstance(parent, dict):
        parent[key] = copy.deepcopy(op.value)
    else:
        parent[_list_index(op, parent, key, op.path)] = copy.deepcopy(op.value)
    return document


def _move(document: Any, op: Operation) -> Any:
    try:
        _get(document, op.from_tokens)
    except _Missing:
        raise _missing(op, op.from_, "from path") from None
    if op.tokens == op.from_tokens:
        return document
    if op.tokens[: len(op.from_tokens)] == op.from_tokens:
        raise _fail(op, f'path "{op.path}" is inside from path "{op.from_}"')
    value = _remove_at(op, document, op.from_tokens, op.from_)
    return _add_value(op, document, value)


def _copy(document: Any, op: Operation) -> Any:
    try:
        value = _get(document, op.from_tokens)
    except _Missing:
        raise _missing(op, op.from_, "from path") from None
    return _add_value(op, document, copy.deepcopy(value))


def _test(document: Any, op: Operation) -> Any:
    """Compares the value at the path; like upstream, `null` also matches a missing member of an
    existing object ("test that this field is absent")."""
    try:
        actual = _get(document, op.tokens)
    except _Missing:
        parent = _parent(op, document, op.tokens, op.path)
        if op.value is None and isinstance(parent, dict):
            return document
        raise _missing(op, op.path) from None
    if not json_equal(actual, op.value):
        raise _fail(op, f'the value at "{op.path}" is not the one the test expects: test failed')
    return document


_APPLY: dict[str, Callable[[Any, Operation], Any]] = {
    "add": _add,
    "remove": _remove,
    "replace": _replace,
    "move": _move,
    "copy": _copy,
    "test": _test,
}


def json_type(value: Any) -> str:
    """A JSON value's type as error messages name it: "an array", "a string", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
