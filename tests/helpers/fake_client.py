"""A recording, in-memory stand-in for kubeclient.rest.Client, for controller unit tests: it keeps
objects by resource/namespace/name, gives them uids and resourceVersions, answers 404/409 like the
apiserver (optimistic concurrency on update), and records every call as an Action so a test asserts
what a reconcile did. Failures can be injected per verb and resource.

    client = FakeClient([deployment, replicaset])
    client.fail_next("create", "pods", ApiError(500, {"reason": "InternalError"}))
    await controller.reconcile("default/web")
    assert client.verbs() == [("create", "pods"), ("update", "replicasets/status")]

`informers_from(client)` gives a SharedInformerFactory whose stores hold what the client holds
(call `sync_informers` after writes to show a controller its own changes, as a watch would).
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeapi import labels, schema
from kubeapi.patch import apply_patch
from kubeapi.resources import BUILTIN_REGISTRY
from kubeclient.errors import ApiError
from kubeclient.informer import SharedInformerFactory, object_key
from kubeclient.rest import MERGE_PATCH, resolve

Obj = dict[str, Any]


def resource_of(obj: Mapping[str, Any]) -> str:
    """The plural resource name of an object by its apiVersion and kind ("pods", "replicasets")."""
    group, _, version = str(obj.get("apiVersion", "v1")).rpartition("/")
    found = BUILTIN_REGISTRY.by_kind(group, version, str(obj.get("kind", "")))
    if found is None:
        raise ValueError(f"unknown kind {obj.get('apiVersion')}/{obj.get('kind')}")
    return found.name


@dataclass
class Action:
    verb: str  # get, list, create, update, patch, delete
    resource: str  # "pods", or "pods/status", "pods/binding" for subresources
    namespace: str
    name: str
    body: Any = None
    options: dict[str, Any] = field(default_factory=dict)


class FakeClient:
    def __init__(self, objects: Iterable[Mapping[str, Any]] = ()) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.actions: list[Action] = []
        self._failures: dict[tuple[str, str], list[Exception]] = {}
        self._revision = itertools.count(1)
        for obj in objects:
            self.add(obj)

    # --- test set-up and assertions -------------------------------------------------------------

    def add(self, obj: Mapping[str, Any]) -> Obj:
        """Put an object in without recording an action (the state a test starts from)."""
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = str(next(self._revision))
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        self.objects[(resource_of(stored), meta.get("namespace", ""), meta["name"])] = stored
        return stored

    def fail_next(self, verb: str, resource: str, error: Exception) -> None:
        self._failures.setdefault((verb, resource), []).append(error)

    def verbs(self) -> list[tuple[str, str]]:
        return [(a.verb, a.resource) for a in self.actions if a.verb not in ("get", "list")]

    def writes(self, verb: str | None = None, resource: str | None = None) -> list[Action]:
        return [
            a
            for a in self.actions
            if a.verb not in ("get", "list") and verb in (None, a.verb) and resource in (None, a.resource)
        ]

    def stored(self, resource: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((resource, namespace, name))

    def all(self, resource: str, namespace: str | None = None) -> list[Obj]:
        return [o for (r, ns, _), o in self.objects.items() if r == resource and namespace in (None, ns)]

    # --- the Client interface ----------------------------------------------------------------------

    async def get(
        self, resource: str, name: str, *, namespace: str | None = None, subresource: str | None = None
    ) -> Obj:
        plural = resolve(resource).name
        self._record("get", plural, namespace, name, subresource)
        return copy.deepcopy(self._existing(plural, namespace, name))

    async def list(self, resource: str, *, namespace: str | None = None, **options: Any) -> Obj:
        plural = resolve(resource).name
        self._record("list", plural, namespace, "", None, **options)
        selector = labels.parse(options["label_selector"]) if options.get("label_selector") else None
        items = [
            copy.deepcopy(o)
            for o in self.all(plural, namespace or None)
            if selector is None or selector.matches(o["metadata"].get("labels") or {})
        ]
        return {
            "kind": "List",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(next(self._revision))},
            "items": items,
        }

    async def create(
        self,
        resource: str,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        **options: Any,
    ) -> Obj:
        plural = resolve(resource).name
        body = copy.deepcopy(dict(obj))
        if subresource:
            self._record("create", plural, namespace, name or "", subresource, body)
            return body
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if namespace:
            meta["namespace"] = namespace
        self._record("create", plural, namespace, meta.get("name", ""), None, body)
        if (plural, namespace or "", meta["name"]) in self.objects:
            raise ApiError(
                409,
                {
                    "reason": "AlreadyExists",
                    "code": 409,
                    "message": f'{plural} "{meta["name"]}" already exists',
                },
            )
        meta.pop("resourceVersion", None)
        meta["uid"] = str(uuid.uuid4())
        body.setdefault("apiVersion", resolve(resource).group_version)
        body.setdefault("kind", resolve(resource).kind)
        return copy.deepcopy(self.add(body))

    async def update(
        self,
        resource: str,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> Obj:
        plural = resolve(resource).name
        body = copy.deepcopy(dict(obj))
        name = body["metadata"]["name"]
        self._record("update", plural, namespace, name, subresource, body)
        current = self._existing(plural, namespace, name)
        if body["metadata"].get("resourceVersion") not in (None, "", current["metadata"]["resourceVersion"]):
            raise ApiError(
                409,
                {
                    "reason": "Conflict",
                    "code": 409,
                    "message": "the object has been modified; "
                    "please apply your changes to the latest version and try again",
                },
            )
        if subresource == "status":
            stored = {**current, "status": body.get("status")}
        else:
            stored = {**body, "status": current.get("status")} if "status" in current else body
        stored["metadata"] = {**body["metadata"], "uid": current["metadata"]["uid"]}
        return copy.deepcopy(self._replace(plural, stored))

    async def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        content_type: str = MERGE_PATCH,
        **options: Any,
    ) -> Obj:
        plural = resolve(resource).name
        self._record("patch", plural, namespace, name, subresource, patch, content_type=content_type)
        current = self._existing(plural, namespace, name)
        kind = resolve(resource)
        node = schema.for_kind(kind.group, kind.version, kind.kind)
        patched = apply_patch(current, json.dumps(patch).encode(), content_type, node)
        return copy.deepcopy(self._replace(plural, patched))

    async def delete(self, resource: str, name: str, *, namespace: str | None = None, **options: Any) -> Obj:
        plural = resolve(resource).name
        self._record("delete", plural, namespace, name, None, **options)
        current = self._existing(plural, namespace, name)
        if current["metadata"].get("finalizers"):
            current["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
            return copy.deepcopy(current)
        del self.objects[(plural, namespace or "", name)]
        return {"kind": "Status", "status": "Success"}

    def watch(self, resource: str, **options: Any) -> AsyncIterator[Obj]:
        raise AssertionError("controllers under unit test read informer stores; nothing watches")

    # --- internals ---------------------------------------------------------------------------------

    def _record(
        self,
        verb: str,
        plural: str,
        namespace: str | None,
        name: str,
        subresource: str | None,
        body: Any = None,
        **options: Any,
    ) -> None:
        resource = f"{plural}/{subresource}" if subresource else plural
        self.actions.append(Action(verb, resource, namespace or "", name, copy.deepcopy(body), options))
        failures = self._failures.get((verb, resource))
        if failures:
            raise failures.pop(0)

    def _existing(self, plural: str, namespace: str | None, name: str) -> Obj:
        found = self.objects.get((plural, namespace or "", name))
        if found is None:
            raise ApiError(
                404, {"reason": "NotFound", "code": 404, "message": f'{plural} "{name}" not found'}
            )
        return found

    def _replace(self, plural: str, obj: Obj) -> Obj:
        obj["metadata"]["resourceVersion"] = str(next(self._revision))
        self.objects[(plural, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])] = obj
        return obj


def informers_from(client: FakeClient, *resources: str) -> SharedInformerFactory:
    """A factory whose informers for `resources` hold the client's objects, as if synced."""
    factory = SharedInformerFactory(client)  # type: ignore[arg-type]
    for resource in resources:
        factory.informer(resource)
    sync_informers(factory, client)
    return factory


def sync_informers(factory: SharedInformerFactory, client: FakeClient, *, deliver: bool = False) -> None:
    """Make every informer's store match the client's objects (what the watches would deliver) and
    mark it synced. With `deliver`, the informers' handlers see each difference as add, update or
    delete, as after a relist; without, stores change silently."""
    for resource, informer in factory.informers.items():
        plural = resolve(resource).name
        if deliver:
            informer._replace([copy.deepcopy(o) for o in client.all(plural)])
            informer._synced.set()
            continue
        wanted = {object_key(o): o for o in client.all(plural)}
        for key in informer.store.key_list():
            if key not in wanted:
                informer.store.remove(key)
        for obj in wanted.values():
            informer.store.put(copy.deepcopy(obj))
        informer._synced.set()


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []  # (object key, type, reason, message)

    def event(
        self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *, component: str | None = None
    ) -> None:
        meta = obj.get("metadata") or {}
        key = (
            f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))
        )
        self.events.append((key, type_, reason, message))

    def reasons(self) -> list[str]:
        return [reason for _, _, reason, _ in self.events]
