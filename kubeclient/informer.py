"""List-then-watch caches of API objects (client-go's reflector, indexer and shared informer).

    pods = Informer(client, "pods", field_selector="spec.nodeName=")
    pods.add_handler(on_add=queue_pod, on_update=update_pod, on_delete=forget_pod)
    tasks.create_task(pods.run())
    await pods.wait_synced()
    pods.store.get("default/web")

The informer lists, fills its store, calls the handlers for each difference from what the store held
(so a relist after a lost watch reports only real changes), then watches from the list's
resourceVersion. A watch that ends is resumed from the last version seen (bookmarks included); 410
Gone relists. Handlers run on the event loop, must not block, and get read-only objects: copy before
changing one. Several components may share one informer by adding handlers before `run()`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from typing import Any

from componentbase.klog import get_logger
from kubeclient.errors import ApiError, KubeClientError, is_gone
from kubeclient.rest import Client, resolve

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], Iterable[str]]
AddHandler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
DeleteHandler = Callable[[Obj], None]

log = get_logger(__name__)


def object_key(obj: Obj) -> str:
    """ "namespace/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name', '')}" if namespace else meta.get("name", "")


class Store:
    """Objects by key, with optional indexes (name -> function giving an object's index values)."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers = dict(indexers or {})
        self._indexes: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        """A new index, built over what the store holds already (informers share one store)."""
        if name in self._indexers:
            return
        self._indexers[name] = func
        index: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            for value in func(obj):
                index.setdefault(value, set()).add(key)
        self._indexes[name] = index

    def objects(self) -> list[Obj]:
        return list(self._items.values())

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def key_list(self) -> list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def by_index(self, index: str, value: str) -> list[Obj]:
        return [self._items[key] for key in self._indexes[index].get(value, ())]

    def put(self, obj: Obj) -> Obj | None:
        """Store `obj`; the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, func in self._indexers.items():
            for value in func(obj):
                self._indexes[name].setdefault(value, set()).add(key)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indexes[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


def namespace_index(obj: Obj) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace", "")]


class Informer:
    def __init__(
        self,
        client: Client,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        indexers: dict[str, IndexFunc] | None = None,
        page_size: int = 500,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.selectors: dict[str, str | int | None] = {
            "label_selector": label_selector,
            "field_selector": field_selector,
        }
        self.store = Store({"namespace": namespace_index, **(indexers or {})})
        self.page_size = page_size
        self.resource_version = ""
        self._handlers: list[tuple[AddHandler | None, UpdateHandler | None, DeleteHandler | None]] = []
        self._synced = asyncio.Event()

    def add_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> None:
        self._handlers.append((on_add, on_update, on_delete))

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled; transport errors back off 0.8 s doubling to 30 s."""
        backoff = 0.8
        list_from_cache = True
        while True:
            try:
                if not self.resource_version:
                    await self._list(list_from_cache)
                    backoff = 0.8
                await self._watch()
            except asyncio.CancelledError:
                raise
            except KubeClientError as error:
                if is_gone(error):
                    log.info(
                        "Watch expired, relisting",
                        resource=self.resource,
                        resource_version=self.resource_version,
                    )
                    self.resource_version, list_from_cache = "", False
                    continue
                log.warning(
                    "List/watch failed, retrying",
                    resource=self.resource,
                    error=str(error),
                    delay=round(backoff, 1),
                )
                if isinstance(error, ApiError) and error.retry_after:
                    backoff = max(backoff, error.retry_after)
                await asyncio.sleep(backoff * random.uniform(1.0, 1.2))
                backoff = min(backoff * 2, 30.0)
                if isinstance(error, ApiError):
                    self.resource_version = ""  # a refused list/watch starts over with a fresh list

    async def _list(self, from_cache: bool) -> None:
        items: list[Obj] = []
        continue_token: str | None = None
        version = "0" if from_cache else None
        while True:
            page = await self.client.list(
                self.resource, namespace=self.namespace, limit=self.page_size, continue_=continue_token,
                resource_version=None if continue_token else version, **self.selectors,
            )  # fmt: skip
            kind = page.get("kind", "").removesuffix("List")
            for item in page.get("items") or ():
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", page.get("apiVersion", "v1"))
                items.append(item)
            continue_token = (page.get("metadata") or {}).get("continue")
            if not continue_token:
                break
        self._replace(items)
        self.resource_version = (page.get("metadata") or {}).get("resourceVersion", "")
        self._synced.set()

    def _replace(self, items: list[Obj]) -> None:
        fresh = {object_key(item) for item in items}
        for key in self.store.key_list():
            if key not in fresh:
                gone = self.store.remove(key)
                if gone is not None:
                    self._dispatch("DELETED", gone, None)
        for item in items:
            old = self.store.put(item)
            if old is None:
                self._dispatch("ADDED", item, None)
            elif (old.get("metadata") or {}).get("resourceVersion") != (item.get("metadata") or {}).get(
                "resourceVersion"
            ):
                self._dispatch("MODIFIED", item, old)

    async def _watch(self) -> None:
        timeout = random.randint(300, 600)
        async for event in self.client.watch(
            self.resource, namespace=self.namespace, resource_version=self.resource_version,
            timeout_seconds=timeout, **self.selectors,
        ):  # fmt: skip
            kind, obj = event.get("type"), event.get("object") or {}
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                self.resource_version = version or self.resource_version
                continue
            if kind == "DELETED":
                self.store.remove(object_key(obj))
                self._dispatch("DELETED", obj, None)
            else:
                old = self.store.put(obj)
                self._dispatch("MODIFIED" if old is not None else "ADDED", obj, old)
            if version:
                self.resource_version = version

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        self.store.add_indexer(name, func)

    def _dispatch(self, kind: str, obj: Obj, old: Obj | None) -> None:
        for on_add, on_update, on_delete in self._handlers:
            try:
                if kind == "ADDED" and on_add:
                    on_add(obj)
                elif kind == "MODIFIED" and on_update:
                    on_update(old or obj, obj)
                elif kind == "DELETED" and on_delete:
                    on_delete(obj)
            except Exception:  # a handler's bug must not stop the informer
                log.exception("Informer handler failed", resource=self.resource, key=object_key(obj))


class SharedInformerFactory:
    """One informer per resource for a whole process (client-go's SharedInformerFactory): every
    controller that asks for "pods" gets the same cache and adds its own handlers.

        factory = SharedInformerFactory(client)
        pods = factory.informer("pods")
        pods.add_handler(on_add=...)
        factory.start(tasks)          # after every controller has asked for its informers
        await factory.wait_synced()
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.informers: dict[str, Informer] = {}
        self._started: set[str] = set()

    def informer(self, resource: str) -> Informer:
        """The informer of `resource` ("leases" and "leases.coordination.k8s.io" are one)."""
        resolved = resolve(resource)
        canonical = f"{resolved.name}.{resolved.group}" if resolved.group else resolved.name
        if canonical not in self.informers:
            self.informers[canonical] = Informer(self.client, canonical)
        return self.informers[canonical]

    def store(self, resource: str) -> Store:
        return self.informer(resource).store

    def start(self, tasks: asyncio.TaskGroup) -> None:
        for resource, informer in self.informers.items():
            if resource not in self._started:
                self._started.add(resource)
                tasks.create_task(informer.run(), name=f"informer-{resource}")

    async def wait_synced(self) -> None:
        await asyncio.gather(*(informer.wait_synced() for informer in self.informers.values()))

    def synced(self) -> bool:
        return all(informer.has_synced for informer in self.informers.values())
