"""Query parameters of list, watch, delete and write requests, checked and turned into options
(upstream's ListOptions, DeleteOptions, CreateOptions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiserver.cacher import Predicate
from apiserver.rest import ListOptions
from kubeapi import errors, fields, labels
from kubeapi.resources import Resource

TRUE = ("true", "1")


def _bool(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None:
        return None
    if value.lower() in TRUE:
        return True
    if value.lower() in ("false", "0", ""):
        return False
    raise errors.bad_request(f"invalid value for {name}: {value!r}")


def _int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise errors.bad_request(f"invalid value for {name}: {value!r}") from None
    if number < 0:
        raise errors.bad_request(f"{name} must not be negative")
    return number


def label_predicate(text: str) -> Predicate | None:
    if not text:
        return None
    selector = labels.parse(text)
    return lambda obj: selector.matches(obj.get("metadata", {}).get("labels") or {})


def field_predicate(resource: Resource, text: str) -> Predicate | None:
    if not text:
        return None
    selector = fields.parse(text)
    fields.check_supported(resource.name, resource.group, selector)
    return lambda obj: selector.matches(fields.field_set(resource.name, resource.group, obj))


def list_options(resource: Resource, query: Mapping[str, str]) -> ListOptions:
    match = query.get("resourceVersionMatch", "")
    if match not in ("", "Exact", "NotOlderThan"):
        raise errors.bad_request(f"unsupported resourceVersionMatch: {match!r}")
    timeout = _int(query, "timeoutSeconds")
    return ListOptions(
        label_selector=label_predicate(query.get("labelSelector", "")),
        field_selector=field_predicate(resource, query.get("fieldSelector", "")),
        limit=_int(query, "limit") or 0,
        continue_token=query.get("continue", ""),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=match,
        allow_bookmarks=bool(_bool(query, "allowWatchBookmarks")),
        send_initial_events=_bool(query, "sendInitialEvents"),
        timeout=float(timeout) if timeout is not None else None,
    )


def dry_run(query: Mapping[str, str]) -> bool:
    value = query.get("dryRun")
    if value is None or value == "":
        return False
    if value != "All":
        raise errors.bad_request(f"Invalid dry run value: {value!r} (only All is supported)")
    return True


def delete_options(query: Mapping[str, str], body: Mapping[str, Any] | None) -> dict[str, Any]:
    """DeleteOptions from the body (kubectl sends one) and the query (curl users do)."""
    options: dict[str, Any] = dict(body or {})
    grace = _int(query, "gracePeriodSeconds")
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
        raise errors.bad_request(f"unsupported propagationPolicy: {policy!r}")
    if options.get("dryRun") not in (None, [], ["All"]):
        raise errors.bad_request(f"Invalid dry run value: {options['dryRun']!r}")
    return options
