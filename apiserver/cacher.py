"""The watch cache (upstream's Cacher): one store watch per resource keeps the current objects and
a window of recent events in memory; client watches are served from it, and lists that allow a
cached answer (`resourceVersion=0`, `NotOlderThan`).

A client watch from revision R replays the window's events after R, then follows live. R before
the window gives TooOld (410 Expired: the client relists). A watch without R starts with every
current object as ADDED. Each watcher filters by its predicate the way upstream does: an object
that stops matching is DELETED for that watcher, one that starts matching is ADDED.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass

from apiserver.storage import Event, Object, StorageError, Store, TooOld, Unavailable
from componentbase.klog import get_logger

log = get_logger(__name__)

Predicate = Callable[[Object], bool]
MAX_BACKLOG = 10_000  # events queued for one watcher before it is dropped (it re-watches)
RELIST_BACKOFF = 1.0


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED MODIFIED DELETED (BOOKMARK and ERROR come from the REST layer)
    object: Object
    revision: int


def as_seen_through(event: Event, predicate: Predicate) -> WatchEvent | None:
    """The event as a watcher with this filter sees it: an object that stops matching is DELETED
    for it, one that starts matching ADDED; None when it concerns the watcher not at all."""
    if event.type == "DELETED":
        return WatchEvent("DELETED", event.object, event.revision) if predicate(event.object) else None
    matches = predicate(event.object)
    before = event.type == "MODIFIED" and event.previous is not None and predicate(event.previous)
    if matches:
        return WatchEvent("MODIFIED" if before else "ADDED", event.object, event.revision)
    if before:
        return WatchEvent("DELETED", event.object, event.revision)
    return None


class CacheWatcher:
    def __init__(self, cacher: Cacher, predicate: Predicate) -> None:
        self._cacher = cacher
        self._predicate = predicate
        self._queue: collections.deque[WatchEvent] = collections.deque()
        self._wake = asyncio.Event()
        self.closed = False
        self.overflowed = False

    @property
    def pending(self) -> int:
        """Events queued and not yet taken."""
        return len(self._queue)

    def preload(self, events: list[WatchEvent]) -> None:
        """The events a watch starts with (not counted against the backlog limit)."""
        self._queue.extend(events)
        self._wake.set()

    def offer(self, event: Event) -> None:
        seen = as_seen_through(event, self._predicate)
        if seen is not None:
            self._push(seen)

    def _push(self, event: WatchEvent) -> None:
        if len(self._queue) >= MAX_BACKLOG:
            self.overflowed = True
            self.close()
            return
        self._queue.append(event)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._cacher.unregister(self)
        self._wake.set()

    async def next(self, within: float) -> WatchEvent | None:
        """The next event, or None after `within` seconds without one or once closed."""
        if not self._queue and not self.closed:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), within)
            except TimeoutError:
                return None
        return self._queue.popleft() if self._queue else None


class Cacher:
    def __init__(self, store: Store, prefix: str, capacity: int) -> None:
        self.store = store
        self.prefix = prefix
        self.objects: dict[str, Object] = {}
        self.events: collections.deque[Event] = collections.deque(maxlen=capacity)
        self.revision = 0  # everything up to here is in `objects`
        self.window_start = 0  # watches may start from any revision >= this
        self.ready = asyncio.Event()
        self._watchers: set[CacheWatcher] = set()
        self._advanced = asyncio.Condition()

    async def run(self) -> None:
        """List, then follow the store's watch; relist when the watch breaks or falls behind
        a compaction. Runs until cancelled."""
        while True:
            try:
                await self._relist()
                async for batch in self.store.watch(self.prefix, self.revision):
                    await self._apply(batch)
            except (StorageError, Unavailable) as error:
                log.v(1).info("Watch cache relisting", prefix=self.prefix, err=str(error))
                await asyncio.sleep(RELIST_BACKOFF)

    async def _relist(self) -> None:
        objects: dict[str, Object] = {}
        start: str | None = None
        revision = 0
        while True:
            page = await self.store.list(self.prefix, revision=revision, limit=1000, start=start)
            revision = page.revision
            for item in page.items:
                objects[self._key_of(item)] = item
            if page.next_key is None:
                break
            start = page.next_key
        self.objects = objects
        self.events.clear()
        self.revision = self.window_start = revision
        for watcher in list(self._watchers):  # they may have missed events: make them re-watch
            watcher.close()
        self.ready.set()
        await self._notify()

    def _key_of(self, obj: Object) -> str:
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        return self.prefix + (f"{namespace}/" if namespace else "") + str(meta["name"])

    async def _apply(self, batch: list[Event]) -> None:
        for event in batch:
            if event.revision <= self.revision:
                continue
            if event.type == "DELETED":
                self.objects.pop(event.key, None)
            else:
                self.objects[event.key] = event.object
            if len(self.events) == self.events.maxlen:
                self.window_start = self.events[0].revision
            self.events.append(event)
            self.revision = event.revision
            for watcher in list(self._watchers):
                watcher.offer(event)
        await self._notify()

    async def _notify(self) -> None:
        async with self._advanced:
            self._advanced.notify_all()

    async def wait_for(self, revision: int, within: float = 3.0) -> None:
        """Return once the cache holds `revision`; Unavailable after `within` seconds."""
        await asyncio.wait_for(self.ready.wait(), within)

        async def caught_up() -> None:
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.revision >= revision)

        try:
            await asyncio.wait_for(caught_up(), within)
        except TimeoutError:
            raise Unavailable(f"Too large resource version: {revision}, current: {self.revision}") from None

    def list(self, predicate: Predicate, prefix: str | None = None) -> tuple[list[Object], int]:
        """Matching objects in key order (under `prefix`, e.g. one namespace) and the revision."""
        keys = sorted(k for k in self.objects if prefix is None or k.startswith(prefix))
        return [self.objects[k] for k in keys if predicate(self.objects[k])], self.revision

    def watch(self, after: int | None, predicate: Predicate) -> CacheWatcher:
        """A watcher for changes after revision `after` (None: now, starting with every current
        object as ADDED), its first events already queued. Raises TooOld before the window."""
        if after is not None and after < self.window_start:
            raise TooOld(after, self.window_start)
        watcher = CacheWatcher(self, predicate)
        if after is None:
            watcher.preload(
                [
                    WatchEvent("ADDED", obj, self.revision)
                    for _, obj in sorted(self.objects.items())
                    if predicate(obj)
                ]
            )
        else:
            for event in self.events:
                if event.revision > after:
                    watcher.offer(event)
        self._watchers.add(watcher)
        return watcher

    def unregister(self, watcher: CacheWatcher) -> None:
        self._watchers.discard(watcher)
