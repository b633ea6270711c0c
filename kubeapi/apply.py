"""Server-side apply: PATCH with `application/apply-patch+yaml` (`kubectl apply --server-side`),
as kube-apiserver v1.32 does it (k8s.io/apimachinery/pkg/util/managedfields and
sigs.k8s.io/structured-merge-diff v4).

The body is the manager's whole intent for the fields it cares about. `server_side_apply`:
  1. merges it over the live object (kubeapi.fieldpath.merge: map lists by key, in the applied
     order; sets by value; atomic lists and maps replaced);
  2. makes the manager's Apply entry exactly the fields the body specifies;
  3. removes from the object what the manager applied last time and no longer does, unless some
     other manager (or the body) still owns it;
  4. fails with 409 Conflict when the body changes a field another manager owns (Apply or
     Update), one cause per field, unless `force`: then the field moves to this manager. Setting
     a field to the value it has is no conflict: the field is then shared;
  5. moves fields that changed or disappeared out of other managers' sets.
An object stored without managedFields first has its fields given to a "before-first-apply"
Update entry, so applying over objects from before tracking conflicts rather than silently
taking them.

For `kubectl` (the manager `kubectl apply --server-side` uses) on an object last applied
client-side: conflicts on fields whose last-applied-configuration value is still the live value
are forced (the documented upgrade from client-side apply), and the annotation is kept in step
with what is applied.

Errors: 422 for a missing or bad fieldManager; 400 for a body that is not an object of this
kind (`invalid object type: apps/v1, Kind=Deployment`), has managedFields, has no metadata.name,
or whose map lists have an element without its key or two with one key (upstream answers those
last ones 500); 409 Conflict as above.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kubeapi import errors, schema
from kubeapi.fieldpath import (
    FieldSet,
    FieldType,
    Path,
    ShapeError,
    compare,
    field_set,
    item_pe,
    json_equal,
    map_type,
    merge,
    named_fields_as_members,
    path_string,
    remove_items,
)
from kubeapi.managedfields import (
    APPLY,
    BEFORE_FIRST_APPLY,
    LAST_APPLIED,
    STRIPPED,
    UPDATE,
    Entry,
    Managed,
    ManagerKey,
    decode,
    record_update,
    reset_fields,
    set_managed_fields,
    validate_options,
    without_managed_fields,
    zero_object,
)

KUBECTL = "kubectl"  # kubectl apply --server-side's manager, which upstream treats specially
ANNOTATIONS_SIZE_LIMIT = 256 * 1024  # bytes of all annotations (ValidateAnnotationsSize)


def server_side_apply(
    live: Mapping[str, Any] | None,
    applied: Any,
    *,
    manager: str,
    force: bool,
    schema_node: schema.Node | None,
    now: str,
    subresource: str = "",
) -> dict[str, Any]:
    """The object after `manager` applies `applied` to `live` (None: it does not exist yet; the
    caller creates the result), with metadata.managedFields updated. `schema_node` is the kind's
    definition (None for a kind without one: everything granular, lists atomic). Raises
    StatusError (see the module docstring). The inputs are not changed."""
    validate_options("PatchOptions", manager, apply=True)
    config = _checked(applied, live, schema_node)
    api_version, kind = config["apiVersion"], config["kind"]
    t = FieldType(schema_node)
    live_object = without_managed_fields(copy.deepcopy(dict(live))) if live is not None else None
    _typed(config, t, "patch", strict=True)
    if live_object is not None:
        _typed(live_object, t, "live", strict=False)
    try:
        managed = decode((live or {}).get("metadata", {}).get("managedFields"))
    except ValueError as error:
        raise errors.internal(f"failed to decode managed fields: {error}") from None
    key = ManagerKey.of(manager, APPLY, api_version, subresource)
    run = _Apply(t, key, api_version, now, reset_fields(api_version, kind, subresource))
    try:
        merged, managed = run.apply(live_object, config, managed, force)
    except _Conflicts as conflicts:
        allowed = _allowed_by_last_applied(live_object, t, api_version) if manager == KUBECTL else None
        if allowed is None:
            raise conflict_error(conflicts.items) from None
        remaining = [c for c in conflicts.items if not allowed.has(c.path)]
        if remaining:
            raise conflict_error(remaining) from None
        merged, managed = run.apply(live_object, config, managed, True)
    if manager == KUBECTL:
        _sync_last_applied(merged, config)
    set_managed_fields(merged, managed)
    return merged


# ---- the request ----


def _group_version_kind(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """As Go's unstructured reads them: ("", "", "") when apiVersion has more than one "/"."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return "", "", ""
    parts = api_version.split("/") if api_version else ["", ""]
    if len(parts) == 1:
        return "", parts[0], kind
    if len(parts) == 2:
        return parts[0], parts[1], kind
    return "", "", ""


def _show_gvk(group: str, version: str, kind: str) -> str:
    return f"{group}/{version}, Kind={kind}"


def _checked(applied: Any, live: Mapping[str, Any] | None, schema_node: schema.Node | None) -> dict[str, Any]:
    """A copy of the applied configuration, or the 400 upstream answers for it."""
    if not isinstance(applied, dict):
        raise errors.bad_request("error decoding YAML: the apply patch must be an object")
    gvk = _group_version_kind(applied)
    if live is not None:
        expected = [_group_version_kind(live)]
    elif schema_node is not None:
        expected = [
            (g["group"], g["version"], g["kind"])
            for g in schema.resolve(schema_node).get("x-kubernetes-group-version-kind", ())
        ]
    else:
        expected = []
    if not gvk[1] or not gvk[2] or (expected and gvk not in expected):
        raise errors.bad_request(f"invalid object type: {_show_gvk(*gvk)}")
    meta = applied.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise errors.bad_request("metadata.name is required for apply")
    if meta.get("managedFields") is not None:
        raise errors.bad_request("metadata.managedFields must be nil")
    live_name = ((live or {}).get("metadata") or {}).get("name")
    if live_name is not None and meta["name"] != live_name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({live_name})"
        )
    config = copy.deepcopy(applied)
    config["metadata"].pop("managedFields", None)
    return config


def _typed(obj: Mapping[str, Any], t: FieldType, what: str, *, strict: bool) -> None:
    """Upstream's conversion to a typed value: map-list elements must carry their keys."""
    try:
        field_set(obj, t, strict=strict)
    except ShapeError as error:
        meta = obj.get("metadata") or {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {_show_gvk(*_group_version_kind(obj))}"
        message = f"failed to create typed {what} object ({where}): {error}"
        raise (errors.bad_request(message) if what == "patch" else errors.internal(message)) from None


# ---- conflicts ----


@dataclass(frozen=True)
class Conflict:
    manager: ManagerKey
    path: Path


class _Conflicts(Exception):
    def __init__(self, items: list[Conflict]) -> None:
        super().__init__(f"{len(items)} conflicts")
        self.items = items


def conflict_error(conflicts: Sequence[Conflict]) -> errors.StatusError:
    """409 Conflict as upstream words it, with a FieldManagerConflict cause per field."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {c.manager.describe()}",
            "field": path_string(c.path),
        }
        for c in conflicts
    ]
    if len(conflicts) == 1:
        only = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {only.manager.describe()}: {path_string(only.path)}"
        )
    else:
        lines = []
        for key in sorted({c.manager for c in conflicts}, key=ManagerKey.identifier):
            lines.append(f"conflicts with {key.describe()}:")
            lines.extend(f"- {path_string(c.path)}" for c in conflicts if c.manager == key)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, "Conflict", message, {"causes": causes})


# ---- the apply ----


class _Apply:
    """One apply: the manager, the kind's type and what it cannot own."""

    def __init__(self, t: FieldType, key: ManagerKey, api_version: str, now: str, ignored: FieldSet) -> None:
        self.t, self.key, self.api_version, self.now, self.ignored = t, key, api_version, now, ignored

    def apply(
        self, live: dict[str, Any] | None, config: dict[str, Any], managed: Managed, force: bool
    ) -> tuple[dict[str, Any], Managed]:
        managed = dict(managed)
        if live is not None and not managed:
            before = ManagerKey.of(BEFORE_FIRST_APPLY, UPDATE, self.api_version, self.key.subresource)
            managed = record_update(
                {},
                zero_object(self.t.node),
                live,
                key=before,
                api_version=self.api_version,
                now=self.now,
                t=self.t,
                ignored=self.ignored,
            )
        base = live if live is not None else {}
        merged = merge(base, config, self.t)
        last = managed.get(self.key)
        mine = field_set(config, self.t).recursive_difference(self.ignored)
        managed[self.key] = Entry(mine, self.api_version, last.time if last else None)
        if last is not None and not last.fields.empty():
            merged = self._prune(merged, managed, last.fields)
        managed = self._take(base, merged, managed, force)
        merged = copy.deepcopy(merged)
        _drop_nulls(merged, config, base, self.t)
        entry = managed.pop(self.key)
        mine = entry.fields.difference(STRIPPED)
        if not mine.empty():
            changed = live is None or not json_equal(base, merged)
            managed[self.key] = Entry(mine, self.api_version, self.now if changed else entry.time)
        return merged, managed

    def _prune(self, merged: Any, managed: Managed, last: FieldSet) -> Any:
        """Remove what the manager applied last time and not now, unless someone owns it
        (upstream's prune: remove, add back owned items, add back dangling items)."""
        t = self.t

        def owned(value: Any) -> FieldSet:
            return named_fields_as_members(field_set(value, t), t)

        last_fields = named_fields_as_members(last, t)
        everyone = FieldSet()
        for entry in managed.values():
            everyone = everyone.union(entry.fields)
        pruned = remove_items(merged, last_fields, t)
        merged_fields = owned(merged)
        keep = owned(pruned).union(named_fields_as_members(everyone, t))
        pruned = remove_items(merged, merged_fields.difference(keep), t)
        return remove_items(merged, merged_fields.difference(owned(pruned)).intersection(last_fields), t)

    def _take(self, live: Any, merged: Any, managed: Managed, force: bool) -> Managed:
        """Other managers lose what this apply changed or removed; changing what they own is a
        conflict unless forced."""
        comparison = compare(live, merged, self.t).exclude(self.ignored)
        changed = comparison.changed()
        conflicts: list[Conflict] = []
        out: Managed = {}
        for key in sorted(managed, key=ManagerKey.identifier):
            entry = managed[key]
            if key == self.key:
                out[key] = entry
                continue
            clash = entry.fields.intersection(changed)
            conflicts.extend(Conflict(key, path) for path in clash.paths())
            rest = entry.fields.difference(clash).difference(comparison.removed)
            if not rest.empty():
                out[key] = replace(entry, fields=rest)
        if conflicts and not force:
            raise _Conflicts(conflicts)
        return out


def _drop_nulls(merged: Any, config: Any, live: Any, t: FieldType) -> None:
    """A field the configuration sets to null is absent afterwards, as upstream's decoding into
    Go types makes it (unless the live object already held a null there: nothing changes)."""
    if isinstance(merged, dict) and isinstance(config, dict):
        t = map_type(t)
        live_map = live if isinstance(live, dict) else {}
        for key, value in config.items():
            if key not in merged:
                continue
            if value is None:
                if merged[key] is None and not (key in live_map and live_map[key] is None):
                    del merged[key]
            else:
                _drop_nulls(merged[key], value, live_map.get(key), t.child(key))
    elif isinstance(merged, list) and isinstance(config, list) and t.list_type()[0] == "map":
        live_items = _by_key(live if isinstance(live, list) else [], t)
        merged_items = _by_key(merged, t)
        for pe, item in _by_key(config, t).items():
            if pe in merged_items:
                _drop_nulls(merged_items[pe], item, live_items.get(pe), t.items())


def _by_key(items: list[Any], t: FieldType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, item in enumerate(items):
        try:
            out.setdefault(item_pe(item, t, index, ()), item)
        except ShapeError:
            continue
    return out


# ---- client-side apply's annotation ----


def _allowed_by_last_applied(
    live: Mapping[str, Any] | None, t: FieldType, api_version: str
) -> FieldSet | None:
    """The fields whose last-applied-configuration value is still the live one: kubectl owned
    them client-side, so its server-side apply may take them without force."""
    annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if live is None or not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return None
    try:
        fields = field_set(last, t, strict=True)
        differs = compare(last, live, t)
    except ShapeError:
        return None
    return fields.difference(differs.modified).difference(differs.added).difference(differs.removed)


def _last_applied_value(config: Mapping[str, Any]) -> str:
    """The configuration as kubectl's annotation holds it: Go's JSON of it, without the
    annotation itself, ending in a newline."""
    obj = copy.deepcopy(dict(config))
    annotations = (obj.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text + "\n"


def _sync_last_applied(merged: dict[str, Any], config: Mapping[str, Any]) -> None:
    """Where the object carries a last-applied-configuration, make it this configuration (and
    drop it when that would make the annotations too large)."""
    annotations = merged.get("metadata", {}).get("annotations")
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    annotations[LAST_APPLIED] = _last_applied_value(config)
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_SIZE_LIMIT:
        del annotations[LAST_APPLIED]


__all__ = ["KUBECTL", "Conflict", "conflict_error", "server_side_apply"]
