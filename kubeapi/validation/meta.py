"""Checks on the meta.k8s.io types every kind embeds (ObjectMeta, LabelSelector), the small
checks all kinds share (non-negative, immutable), and Go's way of printing the values a field
error shows, so messages read like kube-apiserver's:

    spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}:
        `selector` does not match template `labels`
    spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web"},
        MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubeapi import errors
from kubeapi.errors import Cause
from kubeapi.labels import Selector, from_label_selector
from kubeapi.validation import (
    INVALID,
    forbidden,
    go_quote,
    go_string_slice,
    invalid,
    required,
)
from kubeapi.validation.names import (
    NameValidator,
    is_qualified_name,
    is_valid_label_value,
    validate_annotations,
    validate_labels,
    validate_object_meta,
)

NOT_FOUND = "FieldValueNotFound"
IMMUTABLE = "field is immutable"
NEGATIVE = "must be greater than or equal to 0"
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})

Object = dict[str, Any]


# ---- causes whose value Go prints with %#v or String() ----


def shown(field: str, text: str, detail: str) -> Cause:
    """An Invalid cause whose value is already printed (a map, a struct, a Stringer)."""
    return Cause(INVALID, f"Invalid value: {text}: {detail}" if detail else f"Invalid value: {text}", field)


def not_found(field: str, value: object) -> Cause:
    return Cause(NOT_FOUND, f"Not found: {go_quote(str(value))}", field)


def go_string_map(value: Mapping[str, Any] | None) -> str:
    """%#v of a map[string]string: keys sorted, as fmt prints maps."""
    if value is None:
        return "map[string]string(nil)"
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(str(value[k]))}" for k in sorted(value))
    return "map[string]string{" + items + "}"


def go_label_selector(selector: Mapping[str, Any] | None) -> str:
    """%#v of a metav1.LabelSelector (pointers are printed as what they point to)."""
    if selector is None:
        return "null"
    labels = selector.get("matchLabels")
    expressions = selector.get("matchExpressions")
    if expressions is None:
        shown_expressions = "[]v1.LabelSelectorRequirement(nil)"
    else:
        parts = [
            "v1.LabelSelectorRequirement{"
            f"Key:{go_quote(str(e.get('key', '')))}, Operator:{go_quote(str(e.get('operator', '')))}, "
            f"Values:{go_string_slice(e.get('values'))}" + "}"
            for e in expressions
            if isinstance(e, Mapping)
        ]
        shown_expressions = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    return (
        f"v1.LabelSelector{{MatchLabels:{go_string_map(labels if isinstance(labels, Mapping) else None)}, "
        f"MatchExpressions:{shown_expressions}}}"
    )


def int_or_string_text(value: Any) -> str:
    """IntOrString's String(): the number or the string, unquoted."""
    return str(value)


# ---- metadata ----


def validate_meta(obj: Mapping[str, Any], namespaced: bool, name_validator: NameValidator) -> list[Cause]:
    """core's ValidateObjectMeta: the generic checks, owner references, and finalizer names that
    are neither standard nor qualified."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    causes = validate_object_meta(meta, namespaced, name_validator)
    causes += validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences")
    for index, finalizer in enumerate(_list(meta.get("finalizers"))):
        if isinstance(finalizer, str) and "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            causes.append(invalid(f"metadata.finalizers[{index}]", finalizer, detail))
    return causes


def validate_owner_references(references: Any, field: str) -> list[Cause]:
    """apimachinery's ValidateOwnerReferences: every reference complete, one controller at most."""
    causes: list[Cause] = []
    first_controller = ""
    for ref in _list(references):
        if not isinstance(ref, Mapping):
            continue
        api_version = str(ref.get("apiVersion") or "")
        if not api_version.rsplit("/", 1)[-1]:
            causes.append(invalid(f"{field}.apiVersion", api_version, "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                causes.append(invalid(f"{field}.{key}", str(ref.get(key) or ""), "must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in references for '
                    f"{first_controller} and {current}"
                )
                causes.append(shown(field, "[]v1.OwnerReference{...}", detail))
            else:
                first_controller = current
    return causes


def validate_template_meta(template: Mapping[str, Any], field: str) -> list[Cause]:
    """A template's labels and annotations (the rest of an embedded ObjectMeta is ignored)."""
    meta = template.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return validate_labels(string_map(meta.get("labels")), f"{field}.labels") + validate_annotations(
        string_map(meta.get("annotations")), f"{field}.annotations"
    )


# ---- label selectors ----


def validate_label_selector(selector: Any, field: str) -> list[Cause]:
    """metav1 ValidateLabelSelector (label values checked, as for new objects)."""
    if not isinstance(selector, Mapping):
        return []
    causes = validate_labels(string_map(selector.get("matchLabels")), f"{field}.matchLabels")
    for index, expression in enumerate(_list(selector.get("matchExpressions"))):
        if not isinstance(expression, Mapping):
            continue
        path = f"{field}.matchExpressions[{index}]"
        operator = expression.get("operator")
        values = _list(expression.get("values"))
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(
                    required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'")
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                detail = "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                causes.append(forbidden(f"{path}.values", detail))
        else:
            causes.append(invalid(f"{path}.operator", str(operator or ""), "not a valid selector operator"))
        key = str(expression.get("key") or "")
        causes += [invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key)]
        for value_index, value in enumerate(values):
            for msg in is_valid_label_value(str(value)):
                causes.append(invalid(f"{path}.values[{value_index}]", str(value), msg))
    return causes


def selector_of(selector: Any) -> Selector | None:
    """LabelSelectorAsSelector, or None when it does not convert (an invalid term)."""
    try:
        return from_label_selector(selector if isinstance(selector, Mapping) else None)
    except errors.StatusError:
        return None


def selector_matches_template(selector: Any, template: Any, field: str) -> list[Cause]:
    """The check every controller makes: its selector must select the pods its template makes."""
    converted = selector_of(selector)
    labels = template_labels(template)
    if converted is None or converted.empty or converted.matches(labels or {}):
        return []
    return [
        shown(
            f"{field}.metadata.labels", go_string_map(labels), "`selector` does not match template `labels`"
        )
    ]


def template_labels(template: Any) -> dict[str, str] | None:
    if not isinstance(template, Mapping):
        return None
    meta = template.get("metadata")
    labels = meta.get("labels") if isinstance(meta, Mapping) else None
    return string_map(labels) if isinstance(labels, Mapping) else None


# ---- small shared checks ----


def non_negative(value: Any, field: str) -> list[Cause]:
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [invalid(field, value, NEGATIVE)]
    return []


def immutable(new: Any, old: Any, field: str, show: Callable[[Any], str] | None = None) -> list[Cause]:
    """ValidateImmutableField: Invalid with the new value and "field is immutable"."""
    if new == old:
        return []
    if show is not None:
        return [shown(field, show(new), IMMUTABLE)]
    return [invalid(field, new, IMMUTABLE)]


def string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def int_value(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
