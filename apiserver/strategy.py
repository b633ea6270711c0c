"""What differs between kinds when objects are created, updated and deleted (upstream's
registry strategies): whether spec changes bump `metadata.generation`, what a create resets,
which updates may create, whether deletion is graceful. Pure functions over dicts; `now` and
random names come in as arguments."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeapi.resources import Resource

Object = dict[str, Any]

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's: no vowels, no look-alikes
GENERATED_SUFFIX = 5
MAX_NAME = 63

# Kinds whose controllers compare metadata.generation with status.observedGeneration.
GENERATION_KINDS = frozenset(
    {
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "PodDisruptionBudget",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "CustomResourceDefinition",
    }
)
CREATE_ON_UPDATE = frozenset({"Endpoints", "Lease", "Event", "Node", "EndpointSlice"})


def timestamp(now: datetime) -> str:
    """RFC 3339 in UTC with seconds, as metav1.Time marshals."""
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str, rng: random.Random) -> str:
    suffix = "".join(rng.choice(NAME_ALPHABET) for _ in range(GENERATED_SUFFIX))
    return prefix[: MAX_NAME - GENERATED_SUFFIX] + suffix


@dataclass(frozen=True)
class Strategy:
    resource: Resource
    tracks_generation: bool
    create_on_update: bool
    initial_status: Callable[[Object], Object | None] = field(default=lambda obj: None)

    @property
    def has_status(self) -> bool:
        return self.resource.subresource("status") is not None


def _pod_status(pod: Object) -> Object:
    return {"phase": "Pending", "qosClass": qos_class(pod)}


def _namespace_status(namespace: Object) -> Object:
    return {"phase": "Active"}


def qos_class(pod: Object) -> str:
    """Guaranteed when every container has equal cpu and memory requests and limits, BestEffort
    when none has any, else Burstable (upstream's GetPodQOS, simplified to cpu and memory)."""
    containers = [*pod.get("spec", {}).get("containers", []), *pod.get("spec", {}).get("initContainers", [])]
    requests_seen = False
    guaranteed = True
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in requests or name in limits:
                requests_seen = True
            limit = limits.get(name)
            if limit is None or requests.get(name, limit) != limit:
                guaranteed = False
    if not requests_seen:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_INITIAL_STATUS: dict[str, Callable[[Object], Object | None]] = {
    "Pod": _pod_status,
    "Namespace": _namespace_status,
    # upstream's nodeStrategy keeps the status a client creates a Node with (kubelets register
    # with their capacity; tests and simulators create nodes with status)
    "Node": lambda node: node.get("status"),
}


def strategy_for(resource: Resource) -> Strategy:
    return Strategy(
        resource,
        tracks_generation=resource.kind in GENERATION_KINDS,
        create_on_update=resource.kind in CREATE_ON_UPDATE,
        initial_status=_INITIAL_STATUS.get(resource.kind, lambda obj: None),
    )


def prepare_for_create(
    strategy: Strategy, obj: Object, *, namespace: str | None, now: datetime, uid: str, rng: random.Random
) -> Object:
    """System fields of a new object: name from generateName, uid, creationTimestamp, generation;
    status reset where a status subresource owns it; what clients may not set is dropped."""
    obj = copy.deepcopy(obj)
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = generate_name(meta["generateName"], rng)
    if namespace is not None:
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    for system in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(system, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = timestamp(now)
    if strategy.tracks_generation:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if strategy.has_status:
        status = strategy.initial_status(obj)
        if status is None:
            obj.pop("status", None)
        else:
            obj["status"] = status
    if strategy.resource.kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    return obj


IMMUTABLE_META = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)


def prepare_for_update(strategy: Strategy, new: Object, old: Object, *, subresource: str | None) -> Object:
    """The object to store for an update of `old` to `new` through the main resource or a
    subresource: system metadata kept from `old`; the main resource leaves status alone and the
    status subresource everything else; generation +1 when the spec changed."""
    new = copy.deepcopy(new)
    old_meta = old.get("metadata", {})
    if subresource == "status":
        status = new.get("status")
        new = copy.deepcopy(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
        return new
    meta = new.setdefault("metadata", {})
    if subresource == "binding":  # the apiserver's own write: nodeName and PodScheduled together
        for key in IMMUTABLE_META:
            if key in old_meta:
                meta[key] = old_meta[key]
        return new
    for key in IMMUTABLE_META:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    if strategy.has_status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    generation = old_meta.get("generation")
    if generation is not None:
        changed = _spec_of(new) != _spec_of(old)
        meta["generation"] = generation + 1 if changed and strategy.tracks_generation else generation
    else:
        meta.pop("generation", None)
    return new


def _spec_of(obj: Object) -> Any:
    """What counts as the spec for generation: everything but metadata and status (so kinds
    without a `spec` field, like ConfigMaps, still notice changes)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def same_content(a: Object, b: Object) -> bool:
    """Equal but for resourceVersion (and managedFields timestamps are not ours yet): an update
    that changes nothing is not written, as upstream skips no-op updates."""

    def strip(obj: Object) -> Object:
        meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
        return {**obj, "metadata": meta}

    return strip(a) == strip(b)
