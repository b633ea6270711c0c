"""Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), driven by the
OpenAPI schema: what client-side `kubectl apply` and `kubectl patch` (its default type) send.

It is a JSON merge patch (objects merge, `null` deletes a key) that also knows, per field, from the
schema's `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`:
  - lists with strategy `merge` and a merge key (containers by `name`, ports by `containerPort`,
    conditions by `type`, ...) merge element by element: a patch element merges into the element
    with its key, or is added; other lists (tolerations, args, ...) are replaced whole;
  - lists of primitives with strategy `merge` (`metadata.finalizers`) merge as sets;
  - maps with strategy `replace` are replaced whole.

Directives, as upstream (k8s.io/apimachinery/pkg/util/strategicpatch, v1.32) reads them:
  - in a map, `{"$patch": "replace", ...}` makes it the rest of the patch map, and
    `{"$patch": "delete"}` makes it `{}`;
  - in a merging list, `{"$patch": "delete", <key>: v}` deletes every element with that key, and
    `{"$patch": "replace"}` makes the list exactly the patch's other elements;
  - `$deleteFromPrimitiveList/<field>: [values]` removes those values from a list of primitives;
  - `$setElementOrder/<field>: [...]` (entries `{<key>: v}` for lists of maps) orders the merged
    list, kubectl sending it on every re-apply: the elements it names come in its order, the
    ones only the server has are interleaved where they were;
  - `$retainKeys: [...]` (fields with strategy `retainKeys`, like a Deployment's `spec.strategy`
    or a volume's source): keys of the original map it does not list are cleared before merging,
    so switching RollingUpdate → Recreate drops `rollingUpdate`.

The order of a merged list without `$setElementOrder` is upstream's too: the patch's elements
come in the patch's order, and an element only the server has goes before a patch element only
where the original list had it before that one. So an element new to the list goes before the
server's remaining ones: `kubectl patch` adding a container puts it first.

Fields the schema does not know (custom or misspelt ones) merge like a JSON merge patch: maps
recurse, lists are replaced. A patch value where the original has nothing of its type to merge
with is taken as upstream takes it: without the `null` members of its objects, without maps and
list elements marked `$patch: delete` (or list elements marked `$patch: replace`), other
directives inside it ignored. Upstream also drops a map marked `$patch: replace` there, content
and all; here it becomes its content.

Errors: a patch that is not an object, a `$patch` other than replace or delete, an element of a
merging list without its merge key, a malformed directive, elements of different types in one
merging list → 400 BadRequest (upstream answers several of these 500, being plain Go errors);
a list of lists where a merge is needed → 422 Invalid.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeapi import errors, schema

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM = "$deleteFromPrimitiveList"


def apply(document: Mapping[str, Any], patch: Any, schema_node: schema.Node | None) -> dict[str, Any]:
    """The document with the patch merged in, `schema_node` being the definition of its kind
    (None merges everything like a JSON merge patch). The inputs are not changed."""
    if not isinstance(patch, dict):
        raise errors.bad_request(f"a strategic merge patch must be a JSON object, not {_show(patch)}")
    return _merge_map(copy.deepcopy(dict(document)), copy.deepcopy(patch), schema_node)


@dataclass(frozen=True)
class _Field:
    """What the schema says about one field: its node, patch strategies and merge key."""

    node: schema.Node | None = None
    strategies: frozenset[str] = frozenset()
    merge_key: str | None = None

    @property
    def merges_list(self) -> bool:
        return "merge" in self.strategies

    @property
    def replaces_map(self) -> bool:
        return "replace" in self.strategies

    def items(self) -> schema.Node | None:
        return None if self.node is None else schema.items_node(self.node)


def _field(parent: schema.Node | None, key: str) -> _Field:
    """A field of a map: a property of an object type, or the value type of a map type."""
    if parent is None:
        return _Field()
    node = schema.property_node(parent, key) or schema.values_node(parent)
    if node is None:
        return _Field()
    strategy, merge_key = schema.patch_strategy(node)
    return _Field(node, frozenset(s for s in strategy.split(",") if s), merge_key)


# The merge works on private deep copies of both inputs, so it may share their subtrees.


def _merge_map(original: dict[str, Any], patch: dict[str, Any], node: schema.Node | None) -> dict[str, Any]:
    if _PATCH in patch:
        directive = patch[_PATCH]
        if directive == "replace":
            return _fresh_map({k: v for k, v in patch.items() if k != _PATCH}, node)
        if directive == "delete":
            return {}
        raise _unknown_directive(patch)

    merged = _retain_keys(original, patch) if _RETAIN_KEYS in patch else dict(original)
    orders: dict[str, Any] = {}
    deletions: dict[str, Any] = {}
    fields: list[tuple[str, Any]] = []
    for key, value in patch.items():
        if key == _RETAIN_KEYS:
            continue
        if key.startswith(_SET_ORDER):
            orders[_directive_target(key, _SET_ORDER, "setElementOrder list")] = value
        elif key.startswith(_DELETE_FROM):
            deletions[_directive_target(key, _DELETE_FROM, "primitive list")] = value
        else:
            fields.append((key, value))
    # Upstream deletes from a primitive list before merging additions into it, except for a list
    # with a $setElementOrder, which it merges and orders first.
    for name, values in deletions.items():
        if name not in orders:
            _delete_from_primitive_list(merged, name, values)
    for key, value in fields:
        _merge_field(merged, key, value, _field(node, key))
    for name, order in orders.items():
        _set_element_order(merged, original.get(name), patch.get(name), name, order, _field(node, name))
        if name in deletions:
            _delete_from_primitive_list(merged, name, deletions[name])
    return merged


def _merge_field(merged: dict[str, Any], key: str, value: Any, field: _Field) -> None:
    current = merged.get(key)
    if value is None:
        merged.pop(key, None)
    elif isinstance(value, dict) and isinstance(current, dict):
        merged[key] = _fresh(value, field) if field.replaces_map else _merge_map(current, value, field.node)
    elif isinstance(value, list) and isinstance(current, list):
        merged[key] = _merge_list(current, value, field) if field.merges_list else value
    elif (fresh := _fresh(value, field)) is _ABSENT:
        merged.pop(key, None)
    else:
        merged[key] = fresh


class _Absent:
    """What a patch value with `$patch: delete` leaves where there was nothing: no value."""


_ABSENT = _Absent()


def _fresh(value: Any, field: _Field) -> Any:
    """A patch value where the original has nothing of its type to merge with, as upstream takes
    one: `null` members of objects dropped at any depth, maps and list elements carrying `$patch`
    dropped. One difference: upstream also drops a map with `$patch: replace` (losing its
    content); here it becomes that content."""
    if isinstance(value, dict):
        if _PATCH not in value:
            return _fresh_map(value, field.node)
        if value[_PATCH] == "replace":
            return _fresh_map({k: v for k, v in value.items() if k != _PATCH}, field.node)
        if value[_PATCH] == "delete":
            return _ABSENT
        raise _unknown_directive(value)
    if isinstance(value, list):
        element = _Field(field.items())
        taken = []
        for item in value:
            if isinstance(item, dict) and _PATCH in item:
                if item[_PATCH] not in ("delete", "replace"):
                    raise _unknown_directive(item)
            else:
                taken.append(_fresh(item, element))
        return taken
    return value


def _fresh_map(value: dict[str, Any], node: schema.Node | None) -> dict[str, Any]:
    """A map taken fresh: directives that only make sense against an original are dropped."""
    taken = {}
    for key, item in value.items():
        if item is None or key in (_PATCH, _RETAIN_KEYS) or key.startswith((_SET_ORDER, _DELETE_FROM)):
            continue
        if (fresh := _fresh(item, _field(node, key))) is not _ABSENT:
            taken[key] = fresh
    return taken


def _unknown_directive(element: dict[str, Any]) -> errors.StatusError:
    if element[_PATCH] == "merge":
        return errors.bad_request(
            f"merging lists cannot yet be specified in the patch: {_show(element)} "
            '($patch may be "replace" or "delete")'
        )
    return errors.bad_request(f"unknown patch type: {_show(element[_PATCH])} in map: {_show(element)}")


def _directive_target(key: str, prefix: str, what: str) -> str:
    head, slash, target = key.partition("/")
    if head != prefix or not slash:
        raise errors.bad_request(f'invalid patch format of {what}: "{key}"')
    return target


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """The original map without the keys `$retainKeys` does not list (which the patch may not set)."""
    listed = patch[_RETAIN_KEYS]
    if not isinstance(listed, list):
        raise errors.bad_request(f"invalid patch format of retainKeys: {_show(listed)} is not a list")
    retained = {key for key in listed if isinstance(key, str)}
    for key, value in patch.items():
        if value is None or key == _RETAIN_KEYS or key.startswith((_SET_ORDER, _DELETE_FROM)):
            continue
        if key not in retained:
            raise errors.bad_request(
                f'invalid patch format of retainKeys: the patch sets "{key}", '
                f"which $retainKeys {_show(listed)} does not list"
            )
    return {key: value for key, value in original.items() if key in retained}


# Lists with strategy "merge".


def _merge_list(original: list[Any], patch: list[Any], field: _Field) -> list[Any]:
    """Merges two lists of a field with strategy `merge`."""
    kind = _element_kind(original, patch)
    if kind is None:
        return original
    if kind == "primitive":
        merged = _unique([*original, *patch])
        return _ordered(merged, [_identity(v) for v in patch], [_identity(v) for v in original], _identity)

    key = field.merge_key
    if not key:
        raise errors.bad_request("cannot merge lists of objects without a merge key")
    element = _Field(field.items())
    regular, deleted, replace = _split_directives(patch, key)
    if replace:
        return [_fresh(item, element) for item in regular]

    def identity(item: Any) -> Hashable:
        return _key_identity(item, key)

    kept = [item for item in original if identity(item) not in deleted]
    merged = list(kept)
    position = _first_positions([identity(item) for item in merged])
    for item in regular:
        wanted = _identity(item[key])
        if (at := position.get(wanted)) is None:
            position[wanted] = len(merged)
            merged.append(_fresh(item, element))
        else:
            merged[at] = _merge_map(merged[at], item, element.node)
    return _ordered(merged, [identity(e) for e in regular], [identity(e) for e in kept], identity)


def _split_directives(patch: list[Any], key: str) -> tuple[list[dict[str, Any]], set[Hashable], bool]:
    """The patch list's plain elements, the keys it deletes, and whether it replaces the list."""
    regular: list[dict[str, Any]] = []
    deleted: set[Hashable] = set()
    replace = False
    for element in patch:
        directive = element.get(_PATCH)
        if _PATCH in element and directive not in ("delete", "replace"):
            raise _unknown_directive(element)
        if directive == "replace":
            replace = True
        elif key not in element:
            raise _no_merge_key(element, key)
        elif directive == "delete":
            deleted.add(_identity(element[key]))
        else:
            regular.append(element)
    return regular, deleted, replace


def _ordered(
    merged: list[Any],
    patch_order: list[Hashable],
    server_order: list[Hashable],
    identity: Callable[[Any], Hashable],
) -> list[Any]:
    """Upstream's normalizeElementOrder: elements named in `patch_order` in that order, the others
    (already in server order) interleaved where `server_order` has them before a named one."""
    patch_at = _first_positions(patch_order)
    server_at = _first_positions(server_order)
    named = sorted((e for e in merged if identity(e) in patch_at), key=lambda e: patch_at[identity(e)])
    server_only = [e for e in merged if identity(e) not in patch_at]
    result: list[Any] = []
    i = j = 0
    while i < len(server_only) and j < len(named):
        left, right = server_at.get(identity(server_only[i])), server_at.get(identity(named[j]))
        if left is not None and right is not None and left < right:
            result.append(server_only[i])
            i += 1
        else:
            result.append(named[j])
            j += 1
    return result + server_only[i:] + named[j:]


def _set_element_order(
    merged: dict[str, Any], original: Any, patch_list: Any, name: str, order: Any, field: _Field
) -> None:
    if not isinstance(order, list):
        raise errors.bad_request(
            f"invalid patch format of setElementOrder list: {_show(order)} is not a list"
        )
    values = merged.get(name)
    if not field.merges_list or not isinstance(values, list):
        return  # upstream orders only lists it merges; kubectl sends it for no other
    key = field.merge_key

    def identity(element: Any) -> Hashable:
        return _identity(element) if key is None else _key_identity(element, key)

    order_ids: list[Hashable] = []
    for entry in order:
        if key is not None and not (isinstance(entry, dict) and key in entry):
            raise _no_merge_key(entry, key)
        order_ids.append(identity(entry))
    if isinstance(patch_list, list):
        _check_order(patch_list, order_ids, identity, order, name)
    server = original if isinstance(original, list) else []
    merged[name] = _ordered(values, order_ids, [identity(e) for e in server], identity)


def _check_order(
    patch_list: list[Any],
    order_ids: list[Hashable],
    identity: Callable[[Any], Hashable],
    order: list[Any],
    name: str,
) -> None:
    """The patch list's plain elements must appear in `$setElementOrder`, in the same order."""
    if not order_ids:
        return
    at = 0
    for element in patch_list:
        if isinstance(element, dict) and _PATCH in element:
            continue
        wanted = identity(element)
        while at < len(order_ids) and order_ids[at] != wanted:
            at += 1
        if at == len(order_ids):
            raise errors.bad_request(
                f"the order in patch list {_show(patch_list)} doesn't match "
                f"$setElementOrder/{name} list {_show(order)}"
            )
        at += 1


def _delete_from_primitive_list(merged: dict[str, Any], name: str, values: Any) -> None:
    if not isinstance(values, list):
        raise errors.bad_request(f"invalid patch format of primitive list: {_show(values)} is not a list")
    current = merged.get(name)
    if isinstance(current, list):
        doomed = {_identity(v) for v in values}
        merged[name] = [v for v in current if _identity(v) not in doomed]


# Values.


def _element_kind(original: list[Any], patch: list[Any]) -> str | None:
    """Whether a merging list holds maps or primitives (None when both lists are empty)."""
    kinds = {_json_kind(v) for v in [*original, *patch]}
    if "array" in kinds:
        raise errors.StatusError(422, "Invalid", "lists of lists are not supported")
    if len(kinds) > 1:
        raise errors.bad_request(
            f"list element types are not identical: {_show(original)} and {_show(patch)}"
        )
    if not kinds:
        return None
    return "map" if kinds == {"object"} else "primitive"


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def _identity(value: Any) -> Hashable:
    """A hashable stand-in with JSON equality: 80 == 80.0, but "80", 80 and true differ."""
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True, separators=(",", ":")))
    return (_json_kind(value), value)


def _key_identity(element: Any, key: str) -> Hashable:
    """An element's merge-key value; an element without one matches nothing."""
    if isinstance(element, dict) and key in element:
        return _identity(element[key])
    return ("no merge key", id(element))


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Hashable] = set()
    unique = []
    for value in values:
        if (identity := _identity(value)) not in seen:
            seen.add(identity)
            unique.append(value)
    return unique


def _first_positions(ids: list[Hashable]) -> dict[Hashable, int]:
    positions: dict[Hashable, int] = {}
    for i, identity in enumerate(ids):
        positions.setdefault(identity, i)
    return positions


def _no_merge_key(element: Any, key: str) -> errors.StatusError:
    return errors.bad_request(f"map: {_show(element)} does not contain declared merge key: {key}")


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
