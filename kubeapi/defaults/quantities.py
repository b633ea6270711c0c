"""Quantities as upstream stores them. Every resource.Quantity is written back in its serialized
form ("1024Mi" becomes "1Gi", 1.5 becomes "1500m"), and every ResourceList value is first rounded
up to a whole milli-unit (SetDefaults_ResourceList: "100u" of cpu becomes "1m"). Walks the object
along its OpenAPI schema, so it reaches every Quantity field without a list of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeapi.quantity import Quantity, parse_quantity
from kubeapi.schema import Node, ref_name, resolve

QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_MILLI = 10**6  # nanos in one thousandth


def canonical(value: Any, *, milli: bool = False) -> Any:
    """The stored form of a quantity written as a string or a bare number; anything that does not
    parse is left alone (decoding rejects it before defaults run)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    try:
        quantity = parse_quantity(value.strip() if isinstance(value, str) else str(value))
    except ValueError:
        return value
    if milli and quantity.nanos % _MILLI:
        whole, rest = divmod(abs(quantity.nanos), _MILLI)
        rounded = (whole + (1 if rest else 0)) * _MILLI
        quantity = Quantity(-rounded if quantity.nanos < 0 else rounded, quantity.format)
    return str(quantity)


def canonicalize(obj: Any, node: Node) -> Any:
    """`obj` with every Quantity in stored form (changed in place where it is a container)."""
    if ref_name(node) == QUANTITY:
        return canonical(obj)
    resolved = resolve(node)
    if isinstance(obj, dict):
        properties = resolved.get("properties")
        if isinstance(properties, Mapping):
            for key, value in obj.items():
                child = properties.get(key)
                if child is not None and value is not None:
                    obj[key] = canonicalize(value, child)
            return obj
        values = resolved.get("additionalProperties")
        if isinstance(values, Mapping):
            resource_list = ref_name(values) == QUANTITY
            for key, value in obj.items():
                obj[key] = canonical(value, milli=True) if resource_list else canonicalize(value, values)
        return obj
    items = resolved.get("items")
    if isinstance(obj, list) and isinstance(items, Mapping):
        for index, value in enumerate(obj):
            obj[index] = canonicalize(value, items)
    return obj
