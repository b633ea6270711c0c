"""What every printer shares: the column and printer types, reading JSON-shaped objects with Go's
zero values, ages as `duration.HumanDuration` writes them, and apimachinery's label and selector
strings. Each helper matches the upstream function named in its docstring, because kubectl shows
the cells verbatim and users compare them with what a real cluster prints."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeapi import schema

Obj = Mapping[str, Any]
Cell = str | int | bool
Cells = list[Cell]

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@dataclass(frozen=True)
class Doc:
    """A column description taken from a field's API documentation (upstream uses
    `SomeType{}.SwaggerDoc()[field]`); resolved from the v1.32 OpenAPI definitions on first use."""

    definition: str  # e.g. "io.k8s.api.core.v1.PodStatus"
    field: str


@dataclass(frozen=True)
class Column:
    """One `TableColumnDefinition`. Priority 1 columns show only with `kubectl get -o wide`."""

    name: str
    type: str = "string"
    description: str | Doc = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        description = self.description
        if isinstance(description, Doc):
            description = field_doc(description.definition, description.field)
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": description,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    """A resource's columns and the function computing one object's cells (upstream's
    `TableHandler(columns, printX)`). `conditions` gives the row's `conditions`, if any."""

    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], Cells]
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


@functools.cache
def field_doc(definition: str, field: str) -> str:
    """A field's description, or "" (as a Go map lookup of a missing key gives)."""
    node = schema.definitions().get(definition, {})
    prop = node.get("properties", {}).get(field, {})
    return str(prop.get("description", ""))


def doc(definition: str, field: str) -> Doc:
    """`Doc` for a type in io.k8s.api ("core.v1.PodStatus")."""
    return Doc(f"io.k8s.api.{definition}", field)


NAME = Column("Name", format="name", description=Doc(OBJECT_META, "name"))
AGE = Column("Age", description=Doc(OBJECT_META, "creationTimestamp"))
CONTAINERS = Column("Containers", priority=1, description="Names of each container in the template.")
IMAGES = Column("Images", priority=1, description="Images referenced by each container in the template.")


# Reading objects. Absent fields read as Go's zero values, as the typed structs upstream prints.


def get(obj: Obj | None, *path: str) -> Any:
    """The value at `path`, or None where any step is absent or null."""
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text(obj: Obj | None, *path: str, default: str = "") -> str:
    value = get(obj, *path)
    return default if value is None or value == "" else str(value)


def number(obj: Obj | None, *path: str, default: int = 0) -> int:
    value = get(obj, *path)
    return default if value is None else int(value)


def items(obj: Obj | None, *path: str) -> list[Obj]:
    value = get(obj, *path)
    return list(value) if isinstance(value, list) else []


def mapping(obj: Obj | None, *path: str) -> Obj:
    value = get(obj, *path)
    return value if isinstance(value, Mapping) else {}


def name(obj: Obj) -> str:
    return text(obj, "metadata", "name")


def deleting(obj: Obj) -> bool:
    return get(obj, "metadata", "deletionTimestamp") is not None


# Time.


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 `Time` or `MicroTime`, or None for an absent (zero) one."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`: ~2-3 significant figures ("90s", "2m30s", "5h",
    "3d4h", "400d", "2y30d"); up to 2 s in the future reads "0s" (clock skew), further "<invalid>"."""
    total = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        return f"{minutes}m" if total % 60 == 0 else f"{minutes}m{total % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def since(now: datetime, timestamp: Any) -> str:
    """`translateTimestampSince`: the age of a timestamp, "<unknown>" for a zero one."""
    when = parse_time(timestamp)
    return "<unknown>" if when is None else elapsed(now, when)


def elapsed(now: datetime, when: datetime) -> str:
    return human_duration((now - when).total_seconds())


def age(obj: Obj, now: datetime) -> str:
    return since(now, get(obj, "metadata", "creationTimestamp"))


def rfc3339(timestamp: Any) -> str:
    """Go's `t.UTC().Format(time.RFC3339)`; a zero time prints as year 1."""
    when = parse_time(timestamp) or datetime(1, 1, 1, tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Labels, selectors, lists.


def format_labels(labels: Obj | None) -> str:
    """`labels.FormatLabels`: "k=v,..." sorted by key, "<none>" when empty."""
    rendered = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return rendered or "<none>"


_SELECTOR_OPERATORS = {"In": " in ", "NotIn": " notin ", "Exists": "", "DoesNotExist": ""}


def selector_string(selector: Obj | None) -> str | None:
    """`metav1.LabelSelectorAsSelector(s).String()`: requirements sorted by key, values sorted;
    "" for a nil or empty selector; None where upstream returns an error."""
    if not selector:
        return ""
    requirements: list[tuple[str, str]] = [
        (str(k), f"{k}={v}") for k, v in mapping(selector, "matchLabels").items()
    ]
    for expression in items(selector, "matchExpressions"):
        key, operator = text(expression, "key"), text(expression, "operator")
        values = sorted(str(v) for v in expression.get("values") or [])
        if operator not in _SELECTOR_OPERATORS or (operator in ("In", "NotIn")) != bool(values):
            return None
        if operator == "Exists":
            requirements.append((key, key))
        elif operator == "DoesNotExist":
            requirements.append((key, "!" + key))
        else:
            requirements.append((key, f"{key}{_SELECTOR_OPERATORS[operator]}({','.join(values)})"))
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(rendered for _, rendered in requirements)


def format_label_selector(selector: Obj | None) -> str:
    """`metav1.FormatLabelSelector`: the selector string, "<none>" if empty, "<error>" if invalid."""
    rendered = selector_string(selector)
    if rendered is None:
        return "<error>"
    return rendered or "<none>"


def container_cells(containers: Iterable[Obj]) -> tuple[str, str]:
    """`layoutContainerCells`: container names and images, each comma-joined."""
    listed = list(containers)
    return ",".join(text(c, "name") for c in listed), ",".join(text(c, "image") for c in listed)


def template_containers(obj: Obj, *template: str) -> Cells:
    """The CONTAINERS and IMAGES cells of a pod template at `template` (e.g. "spec", "template")."""
    names, images = container_cells(items(obj, *template, "spec", "containers"))
    return [names, images]


def list_with_more(values: Sequence[str], total: int, limit: int = 3, empty: str = "<unset>") -> str:
    """`listWithMoreString`: the first `limit` values, then " + N more..."."""
    rendered = ",".join(values[:limit])
    if total > limit:
        return f"{rendered} + {total - limit} more..."
    return rendered or empty


def int_or_string(value: Any) -> str:
    """`intstr.IntOrString.String()`."""
    return str(value)


def bool_pointer(value: Any) -> str:
    """`printBoolPtr`: "True", "False" or "<unset>"."""
    return "<unset>" if value is None else ("True" if value else "False")


def condition_true(conditions: Iterable[Obj], condition_type: str) -> bool:
    """Whether the first condition of this type has status True (upstream's `hasJobCondition`)."""
    for condition in conditions:
        if condition.get("type") == condition_type:
            return condition.get("status") == "True"
    return False
