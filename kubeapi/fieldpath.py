"""Which fields an object has, as server-side apply counts them: structured-merge-diff v4
(sigs.k8s.io/structured-merge-diff, the library behind kube-apiserver's managedFields) over the
schema of kubeapi.schema.

Paths. A path is a tuple of path elements, each kept in its FieldsV1 spelling:

    f:<name>     a field of a struct, or a key of a map
    k:<json>     an element of a map list, by its key fields: k:{"containerPort":80,"protocol":"TCP"}
    v:<json>     an element of a set list, by its value: v:"kubernetes.io/pvc-protection"
    i:<index>    an element of any other list (read from stored sets; never made, atomic lists are
                 owned whole)

Sets. `FieldSet` is a trie of paths: `members` are the paths that end at this node, `children`
the subtrees. It encodes to and from FieldsV1 (`{"f:spec":{"f:replicas":{}}}`, with `".": {}`
marking a node that is a member and has children), in upstream's order.

Types. `FieldType` is what the schema says about one field, read from the property node (which
carries the field's extensions) and the definition it refers to:
  - a struct (properties) or map (additionalProperties) is granular unless
    `x-kubernetes-map-type: atomic`;
  - a list is atomic, a set (`x-kubernetes-list-type: set`, or patch strategy merge without a
    key), or a map list keyed by `x-kubernetes-list-map-keys` (or the patch merge key);
  - a field the schema does not know, or an untyped one (RawExtension, JSON), is deduced from
    its value: maps granular, lists atomic.
A value whose shape differs from its schema (a map where a string is declared) is deduced from
its value too, where upstream would refuse it; validation reports such objects.

Walkers (upstream's typed package): `field_set` (ToFieldSet), `merge` (Merge: the applied
configuration over the live object), `compare` (Compare: added, modified and removed paths),
`remove_items` (RemoveItems) and `named_fields_as_members` (EnsureNamedFieldsAreMembers).
An applied configuration with a map-list element missing its key, or two elements with one key,
raises `ShapeError` with upstream's message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubeapi import schema

PathElement = str
Path = tuple[PathElement, ...]

# ---- path elements ----


def _go_json(value: Any) -> str:
    """JSON as Go's encoding/json writes it: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(_normal(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _normal(value: Any) -> Any:
    """Integral floats as ints, as Go's JSON decoding into unstructured objects makes them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def field_pe(name: str) -> PathElement:
    return "f:" + name


def key_pe(fields: Mapping[str, Any]) -> PathElement:
    return "k:" + _go_json(dict(fields))


def value_pe(value: Any) -> PathElement:
    return "v:" + _go_json(value)


def canonical_pe(text: str) -> PathElement | None:
    """A path element read from a stored FieldsV1 key, respelled as ours are made; None for an
    unknown kind of element (upstream drops those). Raises ValueError when malformed."""
    kind, _, rest = text.partition(":")
    if kind == "f":
        return text
    if kind == "k":
        fields = json.loads(rest)
        if not isinstance(fields, dict):
            raise ValueError(f"expected a JSON object in {text!r}")
        return key_pe(fields)
    if kind == "v":
        return value_pe(json.loads(rest))
    if kind == "i":
        return f"i:{int(rest)}"
    return None


def _value_order(value: Any) -> tuple[Any, ...]:
    """structured-merge-diff's total order of values: numbers, strings, booleans, lists, maps, null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_order(value[k])) for k in sorted(value)))
    return (5,)


def pe_order(pe: PathElement) -> tuple[Any, ...]:
    """Fields, then keys, then values, then indexes; each by its own order."""
    kind, rest = pe[0], pe[2:]
    if kind == "f":
        return (0, rest)
    if kind == "k":
        fields = json.loads(rest)
        return (1, tuple((k, _value_order(fields[k])) for k in sorted(fields)))
    if kind == "v":
        return (2, _value_order(json.loads(rest)))
    return (3, int(rest))


def _show_value(value: Any) -> str:
    """Upstream's value.ToString: strings quoted, everything else as it prints."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(_show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={_show_value(v)}" for k, v in value.items())
    return str(value)


def path_string(path: Sequence[PathElement]) -> str:
    """A path as conflicts name it: .spec.containers[name="web"].ports[containerPort=80,protocol="TCP"]."""
    out = []
    for pe in path:
        kind, rest = pe[0], pe[2:]
        if kind == "f":
            out.append("." + rest)
        elif kind == "k":
            fields = json.loads(rest)
            out.append("[" + ",".join(f"{k}={_show_value(v)}" for k, v in fields.items()) + "]")
        elif kind == "v":
            out.append(f"[={_show_value(json.loads(rest))}]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


# ---- sets ----


@dataclass
class FieldSet:
    """A set of paths. Children are never empty, so emptiness and equality are structural."""

    members: set[PathElement] = field(default_factory=set)
    children: dict[PathElement, FieldSet] = field(default_factory=dict)

    @classmethod
    def of(cls, *paths: Sequence[PathElement]) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def empty(self) -> bool:
        return not self.members and not self.children

    def insert(self, path: Sequence[PathElement]) -> None:
        if not path:
            return
        node = self
        for pe in path[:-1]:
            node = node.children.setdefault(pe, FieldSet())
        node.members.add(path[-1])

    def has(self, path: Sequence[PathElement]) -> bool:
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe) if node is not None else None
        return node is not None and bool(path) and path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        return self.children.get(pe) or FieldSet()

    def copy(self) -> FieldSet:
        return FieldSet(set(self.members), {pe: c.copy() for pe, c in self.children.items()})

    def union(self, other: FieldSet) -> FieldSet:
        """Sets are built once (insert) and then only combined into new ones, so the result
        shares the subtrees only one side has instead of copying them (it did: a quarter of an
        apiserver's CPU per pod create)."""
        if other.empty():
            return self
        if self.empty():
            return other
        children = dict(self.children)
        for pe, c in other.children.items():
            mine = children.get(pe)
            children[pe] = c if mine is None else mine.union(c)
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children = {}
        for pe, c in self.children.items():
            if pe in other.children and not (both := c.intersection(other.children[pe])).empty():
                children[pe] = both
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """The paths of self not in other (a member of other removes that path, not its subtree)."""
        if other.empty():
            return self  # shared, as union shares: sets are not changed once built
        children = {}
        for pe, c in self.children.items():
            rest = c.difference(other.children[pe]) if pe in other.children else c
            if not rest.empty():
                children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """The paths of self not in other nor under any member of other."""
        children = {}
        for pe, c in self.children.items():
            if pe in other.members:
                continue
            rest = c.recursive_difference(other.children[pe]) if pe in other.children else c
            if not rest.empty():
                children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in upstream's order: a node's members, then its children's."""
        for pe in sorted(self.members, key=pe_order):
            yield (*prefix, pe)
        for pe in sorted(self.children, key=pe_order):
            yield from self.children[pe].paths((*prefix, pe))

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 encoding ({} for the empty set)."""
        out: dict[str, Any] = {}
        for pe in sorted(self.members | self.children.keys(), key=pe_order):
            child = self.children.get(pe)
            if child is None:
                out[pe] = {}
            elif pe in self.members:
                out[pe] = {".": {}, **child.to_fields_v1()}
            else:
                out[pe] = child.to_fields_v1()
        return out

    @classmethod
    def from_fields_v1(cls, fields: Any) -> FieldSet:
        """Read FieldsV1; raises ValueError when it is not that encoding."""
        if not isinstance(fields, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        out = cls()
        for key, sub in fields.items():
            if key == ".":
                continue
            pe = canonical_pe(key)
            if pe is None:
                continue
            if not isinstance(sub, dict):
                raise ValueError(f"FieldsV1 entry {key!r} must be a JSON object")
            if not sub or "." in sub:
                out.members.add(pe)
            child = cls.from_fields_v1(sub)
            if not child.empty():
                out.children[pe] = child
        return out


# ---- types ----

_SCALARS = ("string", "integer", "number", "boolean")
# Map-list keys that Go's types default (`+default="TCP"`): an element without one is keyed by its
# default, so a port applied without a protocol is the live port with protocol TCP.
_KEY_DEFAULTS: Mapping[tuple[str, str], Any] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}


class FieldType:
    """What the schema says about one field: `node` is the property node at the field's site
    (None for an untyped field, whose shape is deduced from its value)."""

    __slots__ = ("_def", "node", "shape")

    def __init__(self, node: schema.Node | None = None) -> None:
        self.node = node
        self._def = None if node is None else schema.resolve(node)
        self.shape = _shape_of(self._def)

    def _ext(self, name: str) -> Any:
        """An extension at the field's site, else on its definition."""
        if self.node is None or self._def is None:
            return None
        return self.node.get(name, self._def.get(name))

    def child(self, name: str) -> FieldType:
        if self._def is None or self.shape not in ("struct", "map"):
            return UNTYPED
        node = schema.property_node(self._def, name) or schema.values_node(self._def)
        return UNTYPED if node is None else FieldType(node)

    def declares(self, name: str) -> bool:
        """A named field of a struct (not a map key, not a field the schema does not know)."""
        return self.shape == "struct" and self._def is not None and name in self._def["properties"]

    def items(self) -> FieldType:
        node = schema.items_node(self._def) if self._def is not None and self.shape == "list" else None
        return UNTYPED if node is None else FieldType(node)

    def atomic_map(self) -> bool:
        return bool(self._ext("x-kubernetes-map-type") == "atomic")

    def list_type(self) -> tuple[str, tuple[str, ...]]:
        """("atomic" | "set" | "map", key fields), as kube-openapi's schemaconv reads a list."""
        if self.shape != "list":
            return "atomic", ()
        list_type = self._ext("x-kubernetes-list-type")
        if list_type == "set":
            return "set", ()
        if list_type == "map":
            return "map", tuple(self._ext("x-kubernetes-list-map-keys") or ())
        if list_type is None and "merge" in str(self._ext("x-kubernetes-patch-strategy") or "").split(","):
            key = self._ext("x-kubernetes-patch-merge-key")
            return ("map", (key,)) if key else ("set", ())
        return "atomic", ()

    def key_default(self, key: str) -> Any:
        """The default of a key field of this list's elements, or None."""
        item = self.items()
        if item.node is None:
            return None
        prop = item.child(key).node
        if prop is not None and "default" in prop:
            return prop["default"]
        return _KEY_DEFAULTS.get((schema.ref_name(item.node) or "", key))


def _shape_of(node: schema.Node | None) -> str:
    if node is None:
        return "untyped"
    if "properties" in node:
        return "struct"
    if "additionalProperties" in node:
        return "map"
    kind = node.get("type")
    if kind == "array":
        return "list"
    return "scalar" if kind in _SCALARS else "untyped"


UNTYPED: Final = FieldType()


def map_type(t: FieldType) -> FieldType:
    """The type a map value is walked with: its own, or untyped where the schema expects no map."""
    return t if t.shape in ("struct", "map", "untyped") else UNTYPED


class ShapeError(ValueError):
    """A value structured-merge-diff cannot index (upstream: "failed to create typed ... object")."""


def _fail(path: Path, message: str) -> ShapeError:
    return ShapeError(f"{path_string(path)}: {message}" if path else message)


def item_pe(item: Any, t: FieldType, index: int, path: Path) -> PathElement:
    """The path element of a list element: by its key fields in a map list, by its value in a set."""
    relation, keys = t.list_type()
    if relation == "map" and keys:
        if item is None:
            raise _fail(path, f"element {index}: associative list with keys may not have a null element")
        if not isinstance(item, dict):
            raise _fail(path, f"element {index}: associative list with keys may not have non-map elements")
        fields = {}
        for key in keys:
            if key in item:
                fields[key] = item[key]
            elif (default := t.key_default(key)) is not None:
                fields[key] = default
            else:
                raise _fail(
                    path,
                    f"element {index}: associative list with keys has an element that omits key field "
                    f'"{key}" (and doesn\'t have default value)',
                )
        return key_pe(fields)
    if isinstance(item, dict):
        raise _fail(path, f"element {index}: associative list without keys has an element that's a map type")
    if isinstance(item, list):
        raise _fail(path, f"element {index}: not supported: associative list with lists as elements")
    if item is None:
        raise _fail(
            path, f"element {index}: associative list without keys has an element that's an explicit null"
        )
    return value_pe(item)


# ---- walkers ----


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()  # no value at all (None is JSON null)
_DUPLICATE: Final = _Absent()


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (true is not 1; 1 is 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and bool(a == b)


def field_set(value: Any, t: FieldType, *, strict: bool = False) -> FieldSet:
    """The fields a value specifies: every scalar, atomic list and atomic map; every list element;
    map keys the schema does not declare as fields. `strict` (for applied configurations)
    rejects two elements with one key."""
    out = FieldSet()
    _to_set(value, t, (), out, strict)
    return out


def _to_set(value: Any, t: FieldType, path: Path, out: FieldSet, strict: bool) -> None:
    if isinstance(value, dict):
        t = map_type(t)
        if t.atomic_map():
            out.insert(path)
            return
        for key, child in value.items():
            child_path = (*path, field_pe(key))
            _to_set(child, t.child(key), child_path, out, strict)
            if not t.declares(key):
                out.insert(child_path)
    elif isinstance(value, list):
        if t.list_type()[0] == "atomic":
            out.insert(path)
            return
        seen = set()
        for index, item in enumerate(value):
            pe = item_pe(item, t, index, path)
            if strict and pe in seen:
                raise _fail(path, f"duplicate entries for key {path_string((pe,))}")
            seen.add(pe)
            _to_set(item, t.items(), (*path, pe), out, strict)
            out.insert((*path, pe))
    elif value is None:
        # A null is what its schema says it is: an atomic map or list, or a scalar, is set to null.
        atomic_map = t.shape in ("struct", "map") and t.atomic_map()
        if atomic_map or t.shape == "scalar" or (t.shape == "list" and t.list_type()[0] == "atomic"):
            out.insert(path)
    else:
        out.insert(path)


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def exclude(self, ignored: FieldSet) -> Comparison:
        """Without the ignored paths and everything under them."""
        return Comparison(
            self.added.recursive_difference(ignored),
            self.modified.recursive_difference(ignored),
            self.removed.recursive_difference(ignored),
        )

    def changed(self) -> FieldSet:
        return self.modified.union(self.added)


def merge(live: Any, config: Any, t: FieldType) -> Any:
    """The configuration over the live value: config's leaves win, granular maps merge key by
    key, map and set lists element by element (see `_Walker._list`), atomic ones are replaced.
    Nothing is removed. The inputs are not changed; the result may share their subtrees."""
    out = _Walker(comparing=False).visit(live, config, t, ())
    return None if out is ABSENT else out


def compare(old: Any, new: Any, t: FieldType) -> Comparison:
    walker = _Walker(comparing=True)
    walker.visit(old, new, t, ())
    return walker.comparison


class _Walker:
    """Upstream's merging walker, which also drives Compare: the leaf rule keeps the right side
    (and, comparing, records a leaf as added, removed or modified); a map or list node present on
    one side only is recorded as added or removed after its children."""

    def __init__(self, *, comparing: bool) -> None:
        self.comparing = comparing
        self.comparison = Comparison()

    def _shape(self, value: Any, t: FieldType) -> str | None:
        if value is ABSENT:
            return None
        if isinstance(value, dict):
            return "map"
        if isinstance(value, list):
            return "list"
        if value is None:
            return {"list": "list", "scalar": "scalar"}.get(t.shape, "map")
        return "scalar"

    def visit(self, lhs: Any, rhs: Any, t: FieldType, path: Path) -> Any:
        left, right = self._shape(lhs, t), self._shape(rhs, t)
        if rhs is ABSENT:
            out, leaf = self._handle(left, lhs, rhs, t, path)
        elif lhs is ABSENT or left == right:
            out, leaf = self._handle(right, lhs, rhs, t, path)
        else:  # different shapes: upstream walks the left side's too
            self._handle(left, lhs, rhs, t, path)
            out, leaf = self._handle(right, lhs, rhs, t, path)
        if not leaf and self.comparing and path:
            if lhs is ABSENT:
                self.comparison.added.insert(path)
            elif rhs is ABSENT:
                self.comparison.removed.insert(path)
        return out

    def _leaf(self, lhs: Any, rhs: Any, path: Path) -> Any:
        if self.comparing and path:
            if lhs is ABSENT:
                self.comparison.added.insert(path)
            elif rhs is ABSENT:
                self.comparison.removed.insert(path)
            elif not json_equal(lhs, rhs):
                self.comparison.modified.insert(path)
        return lhs if rhs is ABSENT else rhs

    def _handle(self, shape: str | None, lhs: Any, rhs: Any, t: FieldType, path: Path) -> tuple[Any, bool]:
        if shape == "map":
            t = map_type(t)
            left = lhs if isinstance(lhs, dict) else None
            right = rhs if isinstance(rhs, dict) else None
            if t.atomic_map() or (not left and not right):
                return self._leaf(lhs, rhs, path), True
            out = {}
            keys = [*(left or {}), *(k for k in (right or {}) if left is None or k not in left)]
            for key in keys:
                child = self.visit(
                    (left or {}).get(key, ABSENT),
                    (right or {}).get(key, ABSENT),
                    t.child(key),
                    (*path, field_pe(key)),
                )
                if child is not ABSENT:
                    out[key] = child
            return (out if out else ABSENT), False
        if shape == "list":
            left_list = lhs if isinstance(lhs, list) else None
            right_list = rhs if isinstance(rhs, list) else None
            if t.list_type()[0] == "atomic" or (not left_list and not right_list):
                return self._leaf(lhs, rhs, path), True
            items = self._list(left_list or [], right_list or [], t, path)
            return (items if items else ABSENT), False
        return self._leaf(lhs, rhs, path), True

    def _index(
        self, items: list[Any], t: FieldType, path: Path, *, keep_duplicates: bool
    ) -> tuple[list[tuple[PathElement, Any]], dict[PathElement, Any]]:
        """Elements with their path elements, in order, and by path element. A live list may
        hold two elements with one key: merging keeps both (each is looked up by position) unless
        the configuration names that key; comparing takes the first."""
        order: list[tuple[PathElement, Any]] = []
        seen: dict[PathElement, Any] = {}
        for index, item in enumerate(items):
            pe = item_pe(item, t, index, path)
            if pe in seen:
                if keep_duplicates:
                    seen[pe] = _DUPLICATE
                    order.append((pe, item))
                continue
            seen[pe] = item
            order.append((pe, item))
        return order, seen

    def _list(self, lhs: list[Any], rhs: list[Any], t: FieldType, path: Path) -> list[Any]:
        """Map and set lists, element by element, in upstream's order: the right side's elements
        in its order; a left-only element stays where it was relative to the shared ones."""
        right, right_seen = self._index(rhs, t, path, keep_duplicates=False)
        left, left_seen = self._index(lhs, t, path, keep_duplicates=not self.comparing)
        shared = iter([pe for pe, _ in right if pe in left_seen])
        next_shared = next(shared, None)
        merged_right: set[PathElement] = set()
        out: list[Any] = []
        item_type = t.items()

        def emit(pe: PathElement, left_item: Any, right_item: Any) -> None:
            if left_item is _DUPLICATE:
                left_item = ABSENT
            value = self.visit(left_item, right_item, item_type, (*path, pe))
            if value is not ABSENT:
                out.append(value)

        li = ri = 0
        while li < len(left) or ri < len(right):
            if li < len(left) and ri < len(right):
                pe = left[li][0]
                if pe == right[ri][0]:
                    merged_right.add(pe)
                    emit(pe, left_seen[pe], right_seen[pe])
                    li, ri = li + 1, ri + 1
                    next_shared = next(shared, None)
                    continue
                if pe in right_seen and next_shared is not None and next_shared != pe:
                    li += 1  # a shared element, but not the one due now
                    continue
            if li < len(left):
                pe, item = left[li]
                if pe not in right_seen:
                    emit(pe, item, ABSENT)
                    li += 1
                    continue
                if pe in merged_right or ri >= len(right):
                    li += 1
                    continue
            pe = right[ri][0]
            merged_right.add(pe)
            emit(pe, left_seen.get(pe, ABSENT), right_seen[pe])
            ri += 1
            if next_shared == pe:
                next_shared = next(shared, None)
        return out


def remove_items(value: Any, remove: FieldSet, t: FieldType) -> Any:
    """The value without the paths of `remove` (each with its subtree). A map or list emptied by
    this goes too, as a null does when upstream decodes the result into its Go type."""
    out = _remove(value, remove, t)
    return {} if out is ABSENT else out


def _remove(value: Any, remove: FieldSet, t: FieldType) -> Any:
    if isinstance(value, dict) and value:
        t = map_type(t)
        if t.atomic_map():
            return value
        kept = {}
        for key, child in value.items():
            pe = field_pe(key)
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            if sub is not None:
                child = _remove(child, sub, t.child(key))
                if child is ABSENT:
                    continue
            kept[key] = child
        return kept if kept else ABSENT
    if isinstance(value, list) and value:
        if t.list_type()[0] == "atomic":
            return value
        items = []
        for index, item in enumerate(value):
            try:
                pe = item_pe(item, t, index, ())
            except ShapeError:
                items.append(item)
                continue
            if pe in remove.members:
                continue
            sub = remove.children.get(pe)
            if sub is not None:
                item = _remove(item, sub, t.items())
                if item is ABSENT:
                    continue
            items.append(item)
        return items if items else ABSENT
    return value


def named_fields_as_members(fields: FieldSet, t: FieldType) -> FieldSet:
    """The set with every struct field that has owned children counted as owned itself (not map
    keys: owning labels.app does not own labels). Pruning works on these, so a struct whose
    fields someone still owns stays."""
    out = FieldSet(set(fields.members), {})
    for pe, child in fields.children.items():
        if pe.startswith("f:"):
            name = pe[2:]
            if t.declares(name):
                out.members.add(pe)
            child_type = t.child(name)
        else:
            child_type = t.items()
        out.children[pe] = named_fields_as_members(child, child_type)
    return out
