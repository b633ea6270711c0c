"""Server-side printing: the `meta.k8s.io/v1 Table` kube-apiserver answers when a client (kubectl
get) sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`. Columns and cells are those of
k8s.io/kubernetes/pkg/printers/internalversion (v1.32), so `kubectl get` prints what it prints
against a real cluster; resources without a printer get apiserver's default table (NAME, CREATED
AT). The server always prints wide: priority-1 columns are in every table and kubectl hides them
unless `-o wide`.

    table("pods", "", pods, now=now, include_object=include_object_option(query.get("includeObject")),
          list_meta={"resourceVersion": "42"})

Time is an input (`now`); nothing here reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubeapi.errors import bad_request

from . import apps, batch, certificates, coordination, core, discovery, policy, rbac, scheduling, storage
from .cells import NAME, OBJECT_META, Column, Doc, Obj, Printer, get, human_duration, name, rfc3339

__all__ = [
    "DEFAULT_PRINTER",
    "Column",
    "Printer",
    "human_duration",
    "include_object_option",
    "parse_table_accept",
    "printer_for",
    "table",
    "table_api_version",
]

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE_OBJECT_VALUES = ("", "Metadata", "None", "Object")

PRINTERS: Mapping[str, Mapping[str, Printer]] = {
    "": core.PRINTERS,
    "apps": apps.PRINTERS,
    "batch": batch.PRINTERS,
    "certificates.k8s.io": certificates.PRINTERS,
    "coordination.k8s.io": coordination.PRINTERS,
    "discovery.k8s.io": discovery.PRINTERS,
    "events.k8s.io": {"events": core.EVENTS},
    "policy": policy.PRINTERS,
    "rbac.authorization.k8s.io": rbac.PRINTERS,
    "scheduling.k8s.io": scheduling.PRINTERS,
    "storage.k8s.io": storage.PRINTERS,
}

DEFAULT_PRINTER = Printer(
    (NAME, Column("Created At", "date", Doc(OBJECT_META, "creationTimestamp"))),
    lambda obj, now: [name(obj), rfc3339(get(obj, "metadata", "creationTimestamp"))],
)
"""apiserver's `defaultTableConvertor`, for resources without a printer (roles, limit ranges)."""


def printer_for(group: str, resource_name: str) -> Printer:
    return PRINTERS.get(group, {}).get(resource_name, DEFAULT_PRINTER)


def table(
    resource_name: str,
    group: str,
    objects: Iterable[Obj],
    *,
    now: datetime,
    include_object: str = "Metadata",
    list_meta: Mapping[str, Any] | None = None,
    api_version: str = f"{TABLE_GROUP}/v1",
    no_headers: bool = False,
) -> dict[str, Any]:
    """The Table for `objects` of one resource (a list, or a single object for GET and each watch
    event). `list_meta` is the list's `metadata` (resourceVersion, continue, remainingItemCount);
    for a single object pass its resourceVersion, as upstream does. `include_object` is the
    validated `includeObject` (see `include_object_option`); `api_version` the Table version the
    client accepted (`table_api_version`). `no_headers` drops the column definitions, as watch
    events after the first do."""
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(f"includeObject {include_object!r} was not validated")
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    printer = printer_for(group, resource_name)
    metadata = {k: v for k, v in (list_meta or {}).items() if v is not None and v != ""}
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": None if no_headers else [c.definition() for c in printer.columns],
        "rows": [_row(printer, obj, now, include_object, api_version) for obj in objects],
    }


def _row(printer: Printer, obj: Obj, now: datetime, include_object: str, api_version: str) -> dict[str, Any]:
    row: dict[str, Any] = {"cells": printer.cells(obj, now)}
    conditions = printer.conditions(obj) if printer.conditions is not None else []
    if conditions:
        row["conditions"] = conditions
    if include_object == "Object":
        row["object"] = obj
    elif include_object == "None":
        row["object"] = None
    else:
        metadata = obj.get("metadata") or {}
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": metadata}
    return row


def include_object_option(value: str | None) -> str:
    """The `includeObject` query parameter: "Metadata" (the default), "Object" or "None". Raises
    a 400 StatusError with kube-apiserver's message for anything else."""
    if value is None or value == "":
        return "Metadata"
    if value not in INCLUDE_OBJECT_VALUES:
        supported = ", ".join(json.dumps(v) for v in INCLUDE_OBJECT_VALUES)
        raise bad_request(
            "Unable to convert to Table as requested: "
            f"includeObject: Unsupported value: {json.dumps(value)}: supported values: {supported}"
        )
    return value


# Content negotiation.

_TABLE_MEDIA_TYPES = ("application/json", "application/yaml", "application/*", "*/*")


def _accept_clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    """The media ranges of an Accept header with their parameters, most preferred first (by q,
    then specific types before wildcards, else in header order, as goautoneg sorts them)."""
    ranked: list[tuple[tuple[float, bool, bool], str, dict[str, str]]] = []
    for part in accept.split(","):
        media_type, *raw_params = (piece.strip() for piece in part.split(";"))
        media_type = "*/*" if media_type == "*" else media_type.lower()
        if media_type.count("/") != 1:
            continue
        params: dict[str, str] = {}
        for raw in raw_params:
            key, separator, value = raw.partition("=")
            if separator:
                params[key.strip()] = value.strip()
        kind, subtype = media_type.split("/")
        ranked.append(((-_quality(params.pop("q", "1")), kind == "*", subtype == "*"), media_type, params))
    ranked.sort(key=lambda clause: clause[0])
    return [(media_type, params) for _, media_type, params in ranked]


def _quality(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 1.0


def table_api_version(accept: str) -> str | None:
    """The Table apiVersion ("meta.k8s.io/v1" or "meta.k8s.io/v1beta1") if the most preferred
    media range the server can answer asks for a Table; None if it prefers the object itself
    (kubectl puts plain `application/json` last, as its fallback)."""
    for media_type, params in _accept_clauses(accept):
        if media_type not in _TABLE_MEDIA_TYPES:
            continue
        conversion = params.get("as")
        if conversion is None:
            return None
        group, version = params.get("g"), params.get("v")
        if group != TABLE_GROUP or version not in TABLE_VERSIONS:
            continue  # a conversion no endpoint offers: try the next range
        if conversion == "Table":
            return f"{TABLE_GROUP}/{version}"
        if conversion in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return None
    return None


def parse_table_accept(accept: str) -> bool:
    """Whether the client wants a Table (see `table_api_version`)."""
    return table_api_version(accept) is not None
