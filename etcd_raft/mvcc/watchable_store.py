"""Watches over the key space (etcd's watchableStore), without threads.

A watcher is in one of three groups:

- synced: it has seen every revision up to the store's; each write transaction is pushed to it
  as one `WatchResponse` when the store applies it (the store calls `on_write`);
- unsynced: it started in the past (or fell behind); `sync_watchers()` replays history from the
  key db to up to `max_watchers_per_sync` of them per call, reading at most
  `max_events_per_sync` stored revisions and sending each watcher at most `batch_max_revs`
  revisions per response, so one far-behind watcher never holds up the others. A watcher
  whose next revision was compacted gets a response with `compact_revision` set and is dropped;
- victims: its buffer (`buffer_size` responses) was full when a response was due. The response is
  parked instead of blocking the writer; `sync_victims()` delivers it once there is room, and the
  watcher rejoins the synced group, or the unsynced one if revisions went by meanwhile.

Nothing here waits. The server drives it: it passes `on_ready` to `watch` (called whenever the
watcher's buffer gains a response; e.g. set an asyncio.Event) and drains responses with
`Watcher.take()`; it calls `sync()` every ~100 ms while `needs_sync` (and soon after
`on_sync_needed` fires: a watcher became unsynced or a victim, or a victim's consumer made room).

    ws = WatchableStore(store, on_sync_needed=wakeup.set)
    w = ws.watch(b"/registry/pods/", prefix_end(b"/registry/pods/"), start_revision=rev + 1,
                 prev_kv=True, on_ready=lambda w: ready.set())
    ...
    for resp in w.take():
        send(resp)
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from etcd_raft.mvcc.kvstore import KVStore
from etcd_raft.mvcc.types import Event, EventType, WatchFilter

DEFAULT_BUFFER_SIZE = 128  # etcd's chanBufLen
DEFAULT_MAX_WATCHERS_PER_SYNC = 512  # etcd's maxWatchersPerSync
DEFAULT_BATCH_MAX_REVS = 1000  # etcd's watchBatchMaxRevs
DEFAULT_MAX_EVENTS_PER_SYNC = 10_000  # stored revisions one sync_watchers() call reads at most


@dataclass(slots=True)
class WatchResponse:
    """mvcc.WatchResponse: the events of one or more revisions for one watcher, in revision order.

    `revision` is the store's revision when it was produced (the header revision). A response
    with `compact_revision` set has no events: the watcher asked for compacted history and is
    gone (etcd sends it with canceled=true)."""

    watch_id: int
    events: list[Event] = field(default_factory=list)
    revision: int = 0
    compact_revision: int = 0


class WatcherState(Enum):
    SYNCED = "synced"
    UNSYNCED = "unsynced"
    VICTIM = "victim"
    COMPACTED = "compacted"
    CANCELED = "canceled"


class Watcher:
    """One watch: a key or range, from `min_rev` on. Responses queue in its buffer until `take()`."""

    __slots__ = (
        "_buffer",
        "_end",
        "_owner",
        "buffer_size",
        "id",
        "key",
        "min_rev",
        "no_delete",
        "no_put",
        "on_ready",
        "prev_kv",
        "range_end",
        "state",
    )

    def __init__(
        self,
        owner: WatchableStore,
        watch_id: int,
        key: bytes,
        range_end: bytes,
        min_rev: int,
        prev_kv: bool,
        filters: Iterable[WatchFilter],
        buffer_size: int,
        on_ready: Callable[[Watcher], None] | None,
    ) -> None:
        self._owner = owner
        self.id = watch_id
        self.key = key
        self.range_end = range_end
        # b"": the single key; b"\0": every key >= key (None); else [key, range_end)
        self._end: bytes | None = None if range_end == b"\0" else range_end
        self.min_rev = min_rev  # the next revision this watcher wants
        self.prev_kv = prev_kv
        fs = set(filters)
        self.no_put = WatchFilter.NOPUT in fs
        self.no_delete = WatchFilter.NODELETE in fs
        self.buffer_size = buffer_size
        self.on_ready = on_ready
        self.state = WatcherState.UNSYNCED
        self._buffer: deque[WatchResponse] = deque()

    def __repr__(self) -> str:
        return f"Watcher(id={self.id}, key={self.key!r}, range_end={self.range_end!r}, {self.state.value})"

    def matches(self, key: bytes) -> bool:
        if not self.range_end:
            return key == self.key
        return self.key <= key and (self._end is None or key < self._end)

    @property
    def pending(self) -> int:
        """Responses waiting in the buffer."""
        return len(self._buffer)

    def take(self) -> list[WatchResponse]:
        """Every buffered response, oldest first, emptying the buffer."""
        out = list(self._buffer)
        self._buffer.clear()
        if out and self.state is WatcherState.VICTIM:
            self._owner._wake()
        return out

    def _push(self, resp: WatchResponse) -> bool:
        if len(self._buffer) >= self.buffer_size:
            return False
        self._buffer.append(resp)
        if self.on_ready is not None:
            self.on_ready(self)
        return True


class _EventBatch:
    """A catching-up watcher's events, at most `max_revs` distinct revisions (etcd's eventBatch);
    `more_rev` is the first revision left out."""

    __slots__ = ("events", "more_rev", "revs")

    def __init__(self, first: Event) -> None:
        self.events = [first]
        self.revs = 1
        self.more_rev = 0

    def add(self, ev: Event, rev: int, max_revs: int) -> None:
        if self.more_rev:
            return
        if rev > self.events[-1].kv.mod_revision:
            if self.revs >= max_revs:
                self.more_rev = rev
                return
            self.revs += 1
        self.events.append(ev)


class _WatcherGroup:
    """Watchers by what they watch: single keys in a dict, ranges by distinct (key, range_end)."""

    __slots__ = ("keys", "ranges", "watchers")

    def __init__(self) -> None:
        self.watchers: dict[Watcher, None] = {}  # insertion-ordered set
        self.keys: dict[bytes, set[Watcher]] = {}
        self.ranges: dict[tuple[bytes, bytes], set[Watcher]] = {}

    def __len__(self) -> int:
        return len(self.watchers)

    def __contains__(self, w: Watcher) -> bool:
        return w in self.watchers

    def add(self, w: Watcher) -> None:
        self.watchers[w] = None
        if w.range_end:
            self.ranges.setdefault((w.key, w.range_end), set()).add(w)
        else:
            self.keys.setdefault(w.key, set()).add(w)

    def remove(self, w: Watcher) -> bool:
        if w not in self.watchers:
            return False
        del self.watchers[w]
        if w.range_end:
            rk = (w.key, w.range_end)
            s = self.ranges[rk]
            s.discard(w)
            if not s:
                del self.ranges[rk]
        else:
            s = self.keys[w.key]
            s.discard(w)
            if not s:
                del self.keys[w.key]
        return True

    def matching(self, key: bytes) -> Iterable[Watcher]:
        found = self.keys.get(key)
        if not self.ranges:
            return found or ()
        out: list[Watcher] = list(found) if found else []
        for (start, end), ws in self.ranges.items():
            if start <= key and (end == b"\0" or key < end):
                out += ws
        return out

    def contains_key(self, key: bytes) -> bool:
        if key in self.keys:
            return True
        return any(start <= key and (end == b"\0" or key < end) for start, end in self.ranges)


class WatchableStore:
    """Watchers over a `KVStore` (it registers itself as the store's observer)."""

    def __init__(
        self,
        kv: KVStore,
        *,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        max_watchers_per_sync: int = DEFAULT_MAX_WATCHERS_PER_SYNC,
        batch_max_revs: int = DEFAULT_BATCH_MAX_REVS,
        max_events_per_sync: int = DEFAULT_MAX_EVENTS_PER_SYNC,
        on_sync_needed: Callable[[], None] | None = None,
    ) -> None:
        self.kv = kv
        self.buffer_size = buffer_size
        self.max_watchers_per_sync = max_watchers_per_sync
        self.batch_max_revs = batch_max_revs
        self.max_events_per_sync = max_events_per_sync
        self.on_sync_needed = on_sync_needed
        self._synced = _WatcherGroup()
        self._unsynced = _WatcherGroup()
        self._victims: list[tuple[Watcher, list[Event], int]] = []
        self._ids = itertools.count(1)
        kv.observe(self)

    def close(self) -> None:
        """Stop watching the store; every watcher is canceled."""
        self.kv.unobserve(self)
        for w in [*self._synced.watchers, *self._unsynced.watchers, *(v[0] for v in self._victims)]:
            self.cancel(w)

    # ------------------------------------------------------------------------------ watchers

    def watch(
        self,
        key: bytes,
        range_end: bytes = b"",
        start_revision: int = 0,
        *,
        prev_kv: bool = False,
        filters: Iterable[WatchFilter] = (),
        watch_id: int | None = None,
        buffer_size: int | None = None,
        on_ready: Callable[[Watcher], None] | None = None,
    ) -> Watcher:
        """Watch `key` (or the range, etcd's range_end conventions) from `start_revision`
        (0: the next write). A past start revision replays history first (see `sync`).
        `watch_id` defaults to a store-wide counter; the server may pass its stream's ids."""
        cur = self.kv.current_revision
        w = Watcher(
            self,
            next(self._ids) if watch_id is None else watch_id,
            key,
            range_end,
            start_revision,
            prev_kv,
            filters,
            self.buffer_size if buffer_size is None else buffer_size,
            on_ready,
        )
        if start_revision == 0 or start_revision > cur:
            w.min_rev = max(cur + 1, start_revision)
            w.state = WatcherState.SYNCED
            self._synced.add(w)
        else:
            self._unsynced.add(w)
            self._wake()
        return w

    def cancel(self, w: Watcher) -> bool:
        """Stop `w`; its buffered responses are dropped. False if it had already ended."""
        if w.state is WatcherState.SYNCED:
            self._synced.remove(w)
        elif w.state is WatcherState.UNSYNCED:
            self._unsynced.remove(w)
        elif w.state is WatcherState.VICTIM:
            self._victims = [v for v in self._victims if v[0] is not w]
        else:
            return False
        w.state = WatcherState.CANCELED
        w._buffer.clear()
        return True

    def progress(self, w: Watcher) -> int | None:
        """The store's revision if `w` has seen everything up to it (etcd's progress
        notification: send it as an event-less response), else None."""
        return self.kv.current_revision if w.state is WatcherState.SYNCED else None

    def progress_all(self, watchers: Iterable[Watcher]) -> int | None:
        """The store's revision if every one of `watchers` is synced, else None."""
        if all(w.state is WatcherState.SYNCED for w in watchers):
            return self.kv.current_revision
        return None

    @property
    def synced_count(self) -> int:
        return len(self._synced)

    @property
    def unsynced_count(self) -> int:
        return len(self._unsynced)

    @property
    def victim_count(self) -> int:
        return len(self._victims)

    @property
    def needs_sync(self) -> bool:
        return bool(self._unsynced) or bool(self._victims)

    def _wake(self) -> None:
        if self.on_sync_needed is not None:
            self.on_sync_needed()

    # ------------------------------------------------------------------------------ delivery

    def _send(self, w: Watcher, events: list[Event], revision: int, prev_cache: dict[int, Event]) -> bool:
        """Filter and push one response; False if the buffer is full. Nothing left after the
        filters counts as sent."""
        if w.no_put or w.no_delete:
            skip = EventType.PUT if w.no_put else EventType.DELETE
            both = w.no_put and w.no_delete
            events = [] if both else [ev for ev in events if ev.type is not skip]
        if not events:
            return True
        if len(w._buffer) >= w.buffer_size:
            return False
        if w.prev_kv:
            events = [self._with_prev_kv(ev, prev_cache) for ev in events]
        return w._push(WatchResponse(w.id, events, revision))

    def _with_prev_kv(self, ev: Event, cache: dict[int, Event]) -> Event:
        """The event with the key's previous revision attached (etcd's watch server looks it up at
        mod_revision - 1; none for a creation, or when that revision was compacted)."""
        kv = ev.kv
        if ev.type is EventType.PUT and kv.version == 1:
            return ev
        got = cache.get(id(ev))
        if got is None:
            got = cache[id(ev)] = Event(ev.type, kv, self.kv.kv_at(kv.key, kv.mod_revision - 1))
        return got

    def on_write(self, revision: int, events: list[Event]) -> None:
        """StoreObserver: push the write transaction's events to the synced watchers."""
        group = self._synced
        if not group.watchers:
            return
        batches: dict[Watcher, list[Event]] = {}
        for ev in events:
            for w in group.matching(ev.kv.key):
                if revision < w.min_rev:
                    continue  # a watcher waiting for a future revision
                b = batches.get(w)
                if b is None:
                    batches[w] = [ev]
                else:
                    b.append(ev)
        if not batches:
            return
        cache: dict[int, Event] = {}
        for w, evs in batches.items():
            if not self._send(w, evs, revision, cache):
                group.remove(w)
                w.state = WatcherState.VICTIM
                self._victims.append((w, evs, revision))
                self._wake()
            w.min_rev = revision + 1

    def on_restore(self, previous_revision: int) -> None:
        """StoreObserver: the key space was replaced; synced watchers catch up from the new one."""
        for w in list(self._synced.watchers):
            self._synced.remove(w)
            w.min_rev = max(w.min_rev, previous_revision + 1)
            w.state = WatcherState.UNSYNCED
            self._unsynced.add(w)
        if self._unsynced:
            self._wake()

    # ------------------------------------------------------------------------------ catching up

    def sync(self) -> bool:
        """Deliver parked victim responses, then one round of catch-up. True if work remains."""
        self.sync_victims()
        self.sync_watchers()
        return self.needs_sync

    def sync_victims(self) -> int:
        """Retry the parked responses; returns how many were delivered."""
        if not self._victims:
            return 0
        victims, self._victims = self._victims, []
        cur = self.kv.current_revision
        cache: dict[int, Event] = {}
        moved = 0
        for w, evs, revision in victims:
            if not self._send(w, evs, revision, cache):
                self._victims.append((w, evs, revision))
                continue
            moved += 1
            if w.min_rev <= cur:
                w.state = WatcherState.UNSYNCED
                self._unsynced.add(w)
            else:
                w.state = WatcherState.SYNCED
                self._synced.add(w)
        return moved

    def sync_watchers(self) -> int:
        """One round of catch-up for unsynced watchers; returns how many remain unsynced."""
        unsynced = self._unsynced
        if not unsynced:
            return 0
        cur = self.kv.current_revision
        compact = self.kv.compact_revision
        group = _WatcherGroup()
        min_rev = cur + 1
        chosen = list(itertools.islice(unsynced.watchers, self.max_watchers_per_sync))
        for w in chosen:
            if w.min_rev > cur:  # nothing to catch up (e.g. moved here by a restore)
                unsynced.remove(w)
                w.state = WatcherState.SYNCED
                self._synced.add(w)
                continue
            if w.min_rev < compact:
                if w._push(WatchResponse(w.id, [], 0, compact)):
                    unsynced.remove(w)
                    w.state = WatcherState.COMPACTED
                continue  # buffer full: retry next round
            group.add(w)
            min_rev = min(min_rev, w.min_rev)
        if not group:
            self._rotate(chosen)
            return len(unsynced)

        events, upto = self.kv.revisions_since(min_rev, cur, self.max_events_per_sync, group.contains_key)
        batches: dict[Watcher, _EventBatch] = {}
        max_revs = self.batch_max_revs
        for ev in events:
            rev = ev.kv.mod_revision
            for w in group.matching(ev.kv.key):
                if rev < w.min_rev:
                    continue
                b = batches.get(w)
                if b is None:
                    batches[w] = _EventBatch(ev)
                else:
                    b.add(ev, rev, max_revs)

        cache: dict[int, Event] = {}
        for w in list(group.watchers):
            b = batches.get(w)
            evs = b.events if b is not None else []
            if b is not None and b.more_rev:
                w.min_rev = b.more_rev
            elif upto < cur:
                w.min_rev = max(w.min_rev, upto + 1)
            else:
                w.min_rev = cur + 1
            if evs and not self._send(w, evs, cur, cache):
                unsynced.remove(w)
                w.state = WatcherState.VICTIM
                self._victims.append((w, evs, cur))
                continue
            if w.min_rev > cur:
                unsynced.remove(w)
                w.state = WatcherState.SYNCED
                self._synced.add(w)
        self._rotate(chosen)
        return len(unsynced)

    def _rotate(self, chosen: list[Watcher]) -> None:
        """Send the watchers this round served to the back, so the next round serves others."""
        order = self._unsynced.watchers
        if len(order) <= len(chosen):
            return
        for w in chosen:
            if w in order:
                del order[w]
                order[w] = None
