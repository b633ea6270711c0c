"""The verbs on one resource (upstream's generic registry Store): create, get, list, watch,
update, patch, delete, deletecollection, and the status subresource, over the etcd store and the
watch cache. Handlers receive decoded request data and return objects or raise StatusError."""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apiserver import storage
from apiserver.cacher import Cacher, Predicate, as_seen_through
from apiserver.storage import Object, Store
from apiserver.strategy import (
    Strategy,
    prepare_for_create,
    prepare_for_update,
    same_content,
    strategy_for,
    timestamp,
)
from kubeapi import errors, managedfields, schema
from kubeapi.defaults import apply_defaults, job_selector_and_labels
from kubeapi.resources import Resource
from kubeapi.validation.kinds import validate as validate_kind
from kubeapi.validation.schema import apply_field_validation

Clock = Callable[[], datetime]
# The field manager of the request being served (server.py sets it): create, update and patch
# record the fields they change for it in metadata.managedFields; None for server-side apply,
# which keeps its own books, and for the apiserver's own writes.
FIELD_MANAGER: ContextVar[str | None] = ContextVar("field_manager", default=None)
# The request's fieldValidation directive (None: the body is ours, not a client's) and the Warning
# headers its decoding produced, which server.py sends.
FIELD_VALIDATION: ContextVar[str | None] = ContextVar("field_validation", default=None)
WARNINGS: ContextVar[list[str] | None] = ContextVar("warnings", default=None)
# Set for the apiserver's own writes that upstream makes below validation (the endpoint
# reconciler's kubernetes Endpoints, which may name a loopback address on a one-host cluster).
SYSTEM_WRITE: ContextVar[bool] = ContextVar("system_write", default=False)
WATCH_IDLE_BOOKMARK = 60.0  # seconds between bookmarks on a quiet watch (upstream: about a minute)
CONFLICT_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass(frozen=True)
class ListOptions:
    label_selector: Predicate | None = None
    field_selector: Predicate | None = None
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    allow_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout: float | None = None


def _continue_token(revision: int, next_key: str, prefix: str) -> str:
    start = next_key[len(prefix) :]
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_continue(token: str, prefix: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.bad_request(f"invalid continue token: {token!r}") from None
    if start.startswith("/") or ".." in start.split("/"):
        raise errors.bad_request("invalid continue token: bad start key")
    return revision, prefix + start


def _group_version(obj: Object) -> tuple[str, str]:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return group, version


def parse_revision(text: str, what: str = "resourceVersion") -> int:
    try:
        value = int(text)
    except ValueError:
        raise errors.bad_request(f"invalid {what}: {text!r}") from None
    if value < 0:
        raise errors.bad_request(f"invalid {what}: {text!r}")
    return value


class ResourceREST:
    def __init__(
        self,
        resource: Resource,
        store: Store,
        cacher: Cacher | None,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        namespace_lifecycle: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.resource = resource
        self.namespace_lifecycle = namespace_lifecycle
        self.store = store
        self.cacher = cacher
        self.strategy: Strategy = strategy_for(resource)
        self.clock = clock
        self.rng = rng or random.Random()

    # ---- the stored form (an identity but for kinds kept in another group's shape) ----

    def to_storage(self, obj: Object) -> Object:
        return obj

    def from_storage(self, obj: Object) -> Object:
        return obj

    def track(self, old: Object | None, new: Object, subresource: str | None) -> Object:
        """`new` with the request's field manager recorded for what it changed from `old`."""
        manager = FIELD_MANAGER.get()
        if manager is None:
            return new
        return managedfields.update_managed_fields(
            old, new, manager=manager, now=timestamp(self.clock()), subresource=subresource or ""
        )

    # ---- admission: decoding checks, defaults, validation ----

    def decoded(self, obj: Object, options_kind: str) -> Object:
        """A client's body as upstream's decoder leaves it: type errors are 400; unknown fields
        400 under fieldValidation=Strict, dropped with a Warning otherwise."""
        directive = FIELD_VALIDATION.get()
        node = schema.for_kind(self.resource.group, self.resource.version, self.resource.kind)
        if directive is None or node is None:
            return obj
        checked, warnings = apply_field_validation(obj, node, directive, options_kind=options_kind)
        collected = WARNINGS.get()
        if collected is not None:
            collected.extend(warnings)
        return dict(checked)

    @staticmethod
    def defaulted(obj: Object, old: Object | None = None) -> Object:
        group, version = _group_version(obj)
        return apply_defaults(group, version, obj.get("kind", ""), obj, old=old)

    def validate(self, obj: Object, old: Object | None = None) -> None:
        """422 Invalid with a cause per field, for the stored form of the object."""
        if SYSTEM_WRITE.get():
            return
        group, version = _group_version(obj)
        causes = validate_kind(group, version, obj.get("kind", ""), obj, old=old)
        if causes:
            raise errors.invalid(obj.get("kind", ""), obj.get("metadata", {}).get("name", ""), causes, group)

    # ---- keys and errors ----

    def key(self, namespace: str | None, name: str) -> str:
        return self.store.key(self.resource.storage, namespace, name)

    def prefix(self, namespace: str | None) -> str:
        return self.store.key(self.resource.storage, namespace)

    def not_found(self, name: str) -> errors.StatusError:
        return errors.not_found(self.resource.name, name, self.resource.group)

    def conflict(self, name: str, message: str = CONFLICT_MESSAGE) -> errors.StatusError:
        return errors.conflict(self.resource.name, name, message, self.resource.group)

    def _storage_error(self, error: storage.StorageError, name: str) -> errors.StatusError:
        if isinstance(error, storage.KeyNotFound):
            return self.not_found(name)
        if isinstance(error, storage.KeyExists):
            return errors.already_exists(self.resource.name, name, self.resource.group)
        if isinstance(error, storage.Conflict):
            return self.conflict(name)
        if isinstance(error, storage.TooOld):
            return errors.expired(str(error))
        return errors.StatusError(500, "InternalError", f"Internal error occurred: {error}")

    # ---- create ----

    def check_body(self, obj: Object, namespace: str | None) -> None:
        """The body names this resource's kind and the URL's namespace (upstream's 400s)."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        expected = self.resource.group_version
        if kind is not None and kind != self.resource.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({self.resource.kind})"
            )
        if api_version is not None and api_version != expected:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match "
                f"the expected API version ({expected})"
            )
        meta = obj.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        body_namespace = (meta or {}).get("namespace")
        if namespace is not None and body_namespace and body_namespace != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        obj["apiVersion"], obj["kind"] = expected, self.resource.kind

    async def create(self, namespace: str | None, obj: Object, *, dry_run: bool = False) -> Object:
        self.check_body(obj, namespace)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and not meta.get("generateName"):
            raise errors.invalid(
                self.resource.kind,
                "",
                [errors.Cause("FieldValueRequired", "name or generateName is required", "metadata.name")],
                self.resource.group,
            )
        if self.resource.namespaced and namespace and self.namespace_lifecycle is not None:
            await self.namespace_lifecycle(namespace)
        obj = self.defaulted(self.to_storage(self.track(None, self.decoded(obj, "CreateOptions"), None)))
        for _ in range(8):  # a generated name may collide; upstream retries too
            new = prepare_for_create(
                self.strategy,
                obj,
                namespace=namespace if self.resource.namespaced else None,
                now=self.clock(),
                uid=str(uuid.uuid4()),
                rng=self.rng,
            )
            name = new["metadata"]["name"]
            if new.get("kind") == "Job":
                job_selector_and_labels(new, new["metadata"]["uid"])
            self.validate(new)
            if dry_run:
                return self.from_storage(new)
            try:
                return self.from_storage(await self.store.create(self.key(namespace, name), new))
            except storage.KeyExists:
                if meta.get("name"):
                    raise errors.already_exists(self.resource.name, name, self.resource.group) from None
            except storage.StorageError as error:
                raise self._storage_error(error, name) from error
        raise errors.already_exists(self.resource.name, meta.get("generateName", ""), self.resource.group)

    # ---- read ----

    async def get(self, namespace: str | None, name: str, *, resource_version: str = "") -> Object:
        if resource_version == "0" and self.cacher is not None and self.cacher.ready.is_set():
            found = self.cacher.objects.get(self.key(namespace, name))
            if found is None:
                raise self.not_found(name)
            return self.from_storage(found)
        revision = parse_revision(resource_version) if resource_version not in ("", "0") else 0
        try:
            return self.from_storage(await self.store.get(self.key(namespace, name), revision=revision))
        except storage.StorageError as error:
            raise self._storage_error(error, name) from error

    def _predicate(self, options: ListOptions) -> Predicate:
        label, field = options.label_selector, options.field_selector
        if label is None and field is None:
            return lambda obj: True
        return lambda obj: (label is None or label(obj)) and (field is None or field(obj))

    async def list(self, namespace: str | None, options: ListOptions) -> Object:
        prefix = self.prefix(namespace)
        predicate = self._predicate(options)
        rv, match = options.resource_version, options.resource_version_match
        from_cache = (
            self.cacher is not None
            and not options.continue_token
            and (rv == "0" or (rv and match == "NotOlderThan"))
            and not options.limit
        )
        if match and not rv:
            raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if from_cache and self.cacher is not None:
            if rv not in ("", "0"):
                try:
                    await self.cacher.wait_for(parse_revision(rv))
                except storage.Unavailable as error:
                    raise errors.StatusError(504, "Timeout", str(error)) from None
            cached, revision = self.cacher.list(predicate, prefix)
            return self._list_object(cached, revision)
        revision = 0
        start: str | None = None
        if options.continue_token:
            revision, start = _parse_continue(options.continue_token, prefix)
        elif rv not in ("", "0") and match in ("", "Exact"):
            revision = parse_revision(rv)
        items: builtins.list[Object] = []
        while True:
            want = options.limit - len(items) if options.limit else 0
            try:
                page = await self.store.list(prefix, revision=revision, limit=want, start=start)
            except storage.TooOld as error:
                if options.continue_token:
                    raise errors.expired(
                        "The provided continue parameter is too old to display a consistent list result. "
                        "You can start a new list without the continue parameter."
                    ) from error
                raise errors.expired(f"too old resource version: {revision} ({error.compacted})") from error
            except storage.StorageError as error:
                raise self._storage_error(error, "") from error
            revision = page.revision
            items.extend(item for item in page.items if predicate(item))
            if page.next_key is None:
                return self._list_object(items, revision)
            start = page.next_key
            if options.limit and len(items) >= options.limit:
                remaining = (
                    page.remaining
                    if options.label_selector is None and options.field_selector is None
                    else None
                )
                return self._list_object(items, revision, _continue_token(revision, start, prefix), remaining)

    def _list_object(
        self, items: builtins.list[Object], revision: int, token: str = "", remaining: int | None = None
    ) -> Object:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if token:
            meta["continue"] = token
        if remaining:
            meta["remainingItemCount"] = remaining
        return {
            "kind": self.resource.list_kind,
            "apiVersion": self.resource.group_version,
            "metadata": meta,
            "items": [self.from_storage(item) for item in items],
        }

    async def watch(self, namespace: str | None, options: ListOptions) -> AsyncIterator[Object]:
        """Watch events as objects ({"type", "object"}), ending after options.timeout seconds."""
        if self.cacher is None:
            raise errors.method_not_supported(self.resource.name, "watch")
        await self.cacher.ready.wait()
        prefix = self.prefix(namespace)
        selected = self._predicate(options)

        def predicate(obj: Object) -> bool:
            return self._key_of(obj).startswith(prefix) and selected(obj)

        rv = options.resource_version
        initial_events = options.send_initial_events
        after: int | None
        if initial_events is None:
            after = None if rv in ("", "0") else parse_revision(rv)
        else:
            after = (
                None
                if initial_events
                else (parse_revision(rv) if rv not in ("", "0") else self.cacher.revision)
            )
        try:
            watcher = self.cacher.watch(after, predicate)
        except storage.TooOld:
            assert after is not None
            async for from_store in self._watch_store(prefix, after, predicate, options):
                yield from_store
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (options.timeout if options.timeout is not None else 1800.0)
        initial_pending = bool(initial_events)
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                if initial_pending and not watcher.pending:
                    initial_pending = False
                    yield self._bookmark(self.cacher.revision, initial_end=True)
                event = await watcher.next(min(remaining, WATCH_IDLE_BOOKMARK))
                if event is None:
                    if watcher.closed:
                        if watcher.overflowed:
                            yield {
                                "type": "ERROR",
                                "object": errors.expired("watch fell too far behind").to_status(),
                            }
                        return
                    if options.allow_bookmarks:
                        yield self._bookmark(self.cacher.revision)
                    continue
                yield {"type": event.type, "object": self.from_storage(event.object)}
        finally:
            if not watcher.closed:
                watcher.close()

    async def _watch_store(
        self, prefix: str, after: int, predicate: Predicate, options: ListOptions
    ) -> AsyncIterator[Object]:
        """A watch from before the cache's window (a client resuming after an apiserver restart):
        straight from the store, which still has the history unless it was compacted (410)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (options.timeout if options.timeout is not None else 1800.0)
        stream = self.store.watch(prefix, after).__aiter__()
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    batch = await asyncio.wait_for(stream.__anext__(), remaining)
                except TimeoutError:
                    return
                except StopAsyncIteration:
                    return
                except storage.TooOld as error:
                    yield {"type": "ERROR", "object": errors.expired(str(error)).to_status()}
                    return
                for event in batch:
                    seen = as_seen_through(event, predicate)
                    if seen is not None:
                        yield {"type": seen.type, "object": self.from_storage(seen.object)}
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    def _bookmark(self, revision: int, *, initial_end: bool = False) -> Object:
        meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {
                "kind": self.resource.kind,
                "apiVersion": self.resource.group_version,
                "metadata": meta,
            },
        }

    def _key_of(self, obj: Object) -> str:
        meta = obj.get("metadata", {})
        return self.key(meta.get("namespace") if self.resource.namespaced else None, meta.get("name", ""))

    # ---- update and patch ----

    async def update(
        self,
        namespace: str | None,
        name: str,
        obj: Object,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> tuple[int, Object]:
        """PUT: (200, stored) or (201, created) where this kind creates on update."""
        self.check_body(obj, namespace)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        wanted = meta.get("resourceVersion", "")
        key = self.key(namespace, name)
        try:
            current = await self.store.get(key)
        except storage.KeyNotFound:
            if not self.strategy.create_on_update or subresource is not None:
                raise self.not_found(name) from None
            return 201, await self.create(namespace, obj, dry_run=dry_run)
        except storage.StorageError as error:
            raise self._storage_error(error, name) from error
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise self.conflict(name)
        body = self.to_storage(self.decoded(obj, "UpdateOptions"))
        stored = await self._write_update(key, current, body, subresource=subresource, dry_run=dry_run)
        return 200, self.from_storage(stored)

    async def _write_update(
        self, key: str, current: Object, obj: Object, *, subresource: str | None, dry_run: bool
    ) -> Object:
        name = current["metadata"]["name"]
        tracked = self.defaulted(self.track(current, obj, subresource), current)
        new = prepare_for_update(self.strategy, tracked, current, subresource=subresource)
        if "managedFields" in tracked.get("metadata", {}):  # the status path rebuilds from `current`
            new["metadata"]["managedFields"] = tracked["metadata"]["managedFields"]
        # A binding is the apiserver's own write of a field no client update may change.
        self.validate(new, None if subresource == "binding" else current)
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if same_content(new, current):
            return current
        if dry_run:
            return new
        if self._finished_deleting(new):
            return await self._remove(key, name, int(current["metadata"]["resourceVersion"]))
        try:
            return await self.store.update(key, new, int(current["metadata"]["resourceVersion"]))
        except storage.StorageError as error:
            raise self._storage_error(error, name) from error

    async def patch(
        self,
        namespace: str | None,
        name: str,
        apply: Callable[[Object], Object],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Object:
        """Read, `apply` the patch to a copy, write; again when someone wrote in between."""
        key = self.key(namespace, name)
        for _ in range(8):
            try:
                current = await self.store.get(key)
            except storage.StorageError as error:
                raise self._storage_error(error, name) from error
            patched = apply(self.from_storage(copy.deepcopy(current)))
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce an object")
            self.check_body(patched, namespace)
            patched_meta = patched.setdefault("metadata", {})
            if patched_meta.get("name", name) != name:
                raise errors.bad_request("the name of a patched object cannot change")
            wanted = patched_meta.get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise self.conflict(name)
            try:
                stored = await self._write_update(
                    key,
                    current,
                    self.to_storage(self.decoded(patched, "PatchOptions")),
                    subresource=subresource,
                    dry_run=dry_run,
                )
                return self.from_storage(stored)
            except errors.StatusError as error:
                if error.reason == "Conflict" and not wanted:
                    continue
                raise
        raise self.conflict(name)

    # ---- delete ----

    def _finished_deleting(self, obj: Object) -> bool:
        meta = obj.get("metadata", {})
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        if self.resource.kind == "Namespace" and obj.get("spec", {}).get("finalizers"):
            return False
        return not meta.get("deletionGracePeriodSeconds")

    async def _remove(self, key: str, name: str, revision: int) -> Object:
        try:
            return await self.store.delete(key, revision)
        except storage.StorageError as error:
            raise self._storage_error(error, name) from error

    async def delete(
        self, namespace: str | None, name: str, options: Mapping[str, Any], *, dry_run: bool = False
    ) -> tuple[bool, Object]:
        """(deleted now, object): removed at once, or marked with deletionTimestamp while
        finalizers (or a pod's grace period, or a namespace's content) hold it."""
        key = self.key(namespace, name)
        for _ in range(8):
            try:
                current = await self.store.get(key)
            except storage.StorageError as error:
                raise self._storage_error(error, name) from error
            self._check_preconditions(current, options.get("preconditions") or {})
            marked = self._mark_for_deletion(current, options)
            if dry_run:
                return marked is None, self.from_storage(marked or current)
            revision = int(current["metadata"]["resourceVersion"])
            try:
                if marked is None:
                    return True, self.from_storage(await self.store.delete(key, revision))
                if same_content(marked, current):
                    return False, self.from_storage(current)
                return False, self.from_storage(await self.store.update(key, marked, revision))
            except storage.Conflict:
                continue
            except storage.StorageError as error:
                raise self._storage_error(error, name) from error
        raise self.conflict(name)

    def _check_preconditions(self, current: Object, preconditions: Mapping[str, Any]) -> None:
        meta = current["metadata"]
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid and uid != meta.get("uid"):
            raise self.conflict(
                meta["name"],
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {meta.get('uid')}",
            )
        if rv and rv != meta.get("resourceVersion"):
            raise self.conflict(
                meta["name"],
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
            )

    def _mark_for_deletion(self, current: Object, options: Mapping[str, Any]) -> Object | None:
        """The object marked for graceful deletion, or None to delete it now."""
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        marked = copy.deepcopy(current)
        meta = marked["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
        if extra and extra not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(extra)
        now = self.clock()
        grace = self._grace_period(current, options)
        namespace_content = self.resource.kind == "Namespace" and bool(
            current.get("spec", {}).get("finalizers")
        )
        if not finalizers and not grace and not namespace_content:
            return None
        if finalizers:
            meta["finalizers"] = finalizers
        if not meta.get("deletionTimestamp") or grace < (meta.get("deletionGracePeriodSeconds") or 0):
            meta["deletionTimestamp"] = timestamp(now + timedelta(seconds=grace))
            meta["deletionGracePeriodSeconds"] = grace
        if self.resource.kind == "Namespace":
            marked.setdefault("status", {})["phase"] = "Terminating"
        if grace == 0 and not finalizers and not namespace_content:
            return None
        return marked

    def _grace_period(self, current: Object, options: Mapping[str, Any]) -> int:
        """Only pods on a node delete gracefully (the kubelet confirms); others go at once."""
        if self.resource.kind != "Pod" or not current.get("spec", {}).get("nodeName"):
            return 0
        if current.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        requested = options.get("gracePeriodSeconds")
        if requested is None:
            requested = current.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        return max(0, int(requested))

    async def delete_collection(
        self,
        namespace: str | None,
        list_options: ListOptions,
        options: Mapping[str, Any],
        *,
        dry_run: bool = False,
    ) -> Object:
        listed = await self.list(namespace, list_options)
        for item in listed["items"]:
            meta = item["metadata"]
            try:
                await self.delete(meta.get("namespace"), meta["name"], options, dry_run=dry_run)
            except errors.StatusError as error:
                if error.code != 404:
                    raise
        return listed
