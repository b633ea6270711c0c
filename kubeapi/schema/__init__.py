"""The OpenAPI definitions of the Kubernetes v1.32 built-in types (definitions.json.gz, made by
`python -m kubeapi.schema.generate` from upstream's spec), and how to walk them.

A schema node is a JSON dict as in upstream's swagger `definitions`: `type`, `properties`, `items`,
`additionalProperties`, `$ref` ("#/definitions/<name>"), `required`, `format`, `description`, and
the `x-kubernetes-*` extensions. Extensions about a field (patch strategy and merge key, list type
and map keys) sit on the property node, next to its `$ref`; `resolve` follows the ref to the type.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Node = Mapping[str, Any]

_FILE = Path(__file__).with_name("definitions.json.gz")
_REF_PREFIX = "#/definitions/"


@functools.cache
def definitions() -> Mapping[str, Node]:
    """Every definition by its upstream name, e.g. "io.k8s.api.core.v1.Pod" (loaded once)."""
    return json.loads(gzip.decompress(_FILE.read_bytes()))["definitions"]  # type: ignore[no-any-return]


@functools.cache
def _by_kind() -> Mapping[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, node in definitions().items():
        for gvk in node.get("x-kubernetes-group-version-kind", ()):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition of a kind ("" is the core group), or None for an unknown one."""
    return _by_kind().get((group, version, kind))


def for_kind(group: str, version: str, kind: str) -> Node | None:
    name = definition_name(group, version, kind)
    return None if name is None else definitions()[name]


def ref_name(node: Node) -> str | None:
    ref = node.get("$ref")
    return ref[len(_REF_PREFIX) :] if isinstance(ref, str) and ref.startswith(_REF_PREFIX) else None


def resolve(node: Node) -> Node:
    """The type a node stands for: the definition its `$ref` names, or the node itself."""
    while (name := ref_name(node)) is not None:
        node = definitions()[name]
    return node


def property_node(node: Node, field: str) -> Node | None:
    """The property `field` of an object type (unresolved: it carries the field's extensions)."""
    properties = resolve(node).get("properties")
    return None if properties is None else properties.get(field)


def items_node(node: Node) -> Node | None:
    """The element type of an array node."""
    items = resolve(node).get("items")
    return items if isinstance(items, Mapping) else None


def values_node(node: Node) -> Node | None:
    """The value type of a map node (`additionalProperties`)."""
    values = resolve(node).get("additionalProperties")
    return values if isinstance(values, Mapping) else None


def type_of(node: Node) -> str | None:
    """ "object", "array", "string", "integer", "number", "boolean", or None (anything)."""
    kind = resolve(node).get("type")
    return kind if isinstance(kind, str) else None


def patch_strategy(node: Node) -> tuple[str, str | None]:
    """A field's strategic-merge-patch strategy ("merge", "retainKeys", "merge,retainKeys", or ""
    for replace) and merge key."""
    return node.get("x-kubernetes-patch-strategy", ""), node.get("x-kubernetes-patch-merge-key")


__all__ = [
    "Node",
    "definition_name",
    "definitions",
    "for_kind",
    "items_node",
    "patch_strategy",
    "property_node",
    "ref_name",
    "resolve",
    "type_of",
    "values_node",
]
