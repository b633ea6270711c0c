"""events.k8s.io/v1 Events are stored as core/v1 Events (one key space, /registry/events, as
kube-apiserver keeps them) and converted at the edge of their REST handler, field by field."""

from __future__ import annotations

from typing import Any

from apiserver.rest import ResourceREST

Object = dict[str, Any]

# events.k8s.io/v1 field -> core/v1 field (the rest share their names)
RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
BACK = {core: new for new, core in RENAMED.items()}


def to_core(event: Object) -> Object:
    core = {RENAMED.get(key, key): value for key, value in event.items()}
    core["apiVersion"], core["kind"] = "v1", "Event"
    return core


def from_core(event: Object) -> Object:
    converted = {BACK.get(key, key): value for key, value in event.items()}
    converted["apiVersion"], converted["kind"] = "events.k8s.io/v1", "Event"
    return converted


class EventsREST(ResourceREST):
    """The events.k8s.io/v1 face of the core Events."""

    def to_storage(self, obj: Object) -> Object:
        return to_core(obj)

    def from_storage(self, obj: Object) -> Object:
        return from_core(obj) if obj.get("kind") == "Event" else obj
