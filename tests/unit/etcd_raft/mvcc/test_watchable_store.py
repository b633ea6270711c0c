"""WatchableStore: synced delivery, catch-up from history, compaction, slow watchers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from etcd_raft.mvcc import (
    Event,
    EventType,
    KeyValue,
    KVStore,
    PutRequest,
    TxnRequest,
    WatchableStore,
    Watcher,
    WatcherState,
    WatchFilter,
    WatchResponse,
    prefix_end,
)

PUT, DELETE = EventType.PUT, EventType.DELETE


def summary(responses: list[WatchResponse]) -> list[tuple[int, list[tuple[str, bytes, int]]]]:
    """(response revision, [(type, key, mod_revision)]) per response."""
    return [(r.revision, [(e.type.name, e.kv.key, e.kv.mod_revision) for e in r.events]) for r in responses]


def state(w: Watcher) -> WatcherState:
    return w.state  # through a call, so mypy does not narrow it across operations


def events(w: Watcher) -> list[tuple[str, bytes, int]]:
    return [(e.type.name, e.kv.key, e.kv.mod_revision) for r in w.take() for e in r.events]


def test_synced_watcher_gets_each_write_as_it_is_applied(store: KVStore, watchable: WatchableStore) -> None:
    ready: list[Watcher] = []
    w = watchable.watch(b"a", on_ready=ready.append)
    assert state(w) is WatcherState.SYNCED
    store.put(b"a", b"1")
    store.put(b"b", b"1")  # not watched
    with store.write() as t:
        t.put(b"a", b"2")
        t.delete_range(b"a")
    assert ready == [w, w]
    got = w.take()
    assert summary(got) == [(2, [("PUT", b"a", 2)]), (4, [("PUT", b"a", 4), ("DELETE", b"a", 4)])]
    assert got[0].events[0].kv == KeyValue(b"a", 2, 2, 1, b"1")
    assert got[1].events[1].kv == KeyValue(b"a", 0, 4, 0, b"")
    assert w.take() == []


def test_range_and_prefix_watchers(store: KVStore, watchable: WatchableStore) -> None:
    prefix = watchable.watch(b"/pods/", prefix_end(b"/pods/"))
    from_b = watchable.watch(b"b", b"\0")
    store.put(b"/pods/x", b"1")
    store.put(b"/podsx", b"1")
    store.put(b"a", b"1")
    store.put(b"zz", b"1")
    assert events(prefix) == [("PUT", b"/pods/x", 2)]
    assert events(from_b) == [("PUT", b"zz", 5)]


def test_unsynced_watcher_catches_up_from_history_then_follows(
    store: KVStore, watchable: WatchableStore
) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"b", b"1")  # 3
    store.delete_range(b"a")  # 4
    w = watchable.watch(b"a", b"c", start_revision=3)
    assert state(w) is WatcherState.UNSYNCED and watchable.needs_sync
    store.put(b"a", b"again")  # 5: not pushed, the watcher is behind
    assert w.take() == []
    assert not watchable.sync()
    assert state(w) is WatcherState.SYNCED
    got = w.take()
    assert summary(got) == [(5, [("PUT", b"b", 3), ("DELETE", b"a", 4), ("PUT", b"a", 5)])]
    store.put(b"b", b"2")
    assert events(w) == [("PUT", b"b", 6)]


def test_future_start_revision_waits_for_it(store: KVStore, watchable: WatchableStore) -> None:
    w = watchable.watch(b"a", start_revision=4)
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    store.put(b"a", b"3")  # 4
    assert events(w) == [("PUT", b"a", 4)]


def test_catch_up_is_batched(store: KVStore) -> None:
    ws = WatchableStore(store, batch_max_revs=3, max_events_per_sync=5)
    for i in range(12):
        store.put(b"k", b"%d" % i)  # revisions 2..13
    w = ws.watch(b"k", start_revision=2)
    other = ws.watch(b"k", start_revision=12)
    rounds = 0
    while ws.sync():
        rounds += 1
    seen = [[e.kv.mod_revision for e in r.events] for r in w.take()]
    assert seen == [[2, 3, 4], [5, 6, 7], [8, 9, 10], [11, 12, 13]]  # at most 3 revisions each
    assert [e.kv.mod_revision for r in other.take() for e in r.events] == [12, 13]
    assert rounds >= 2
    assert state(w) is WatcherState.SYNCED and state(other) is WatcherState.SYNCED


def test_prev_kv(store: KVStore, watchable: WatchableStore) -> None:
    store.put(b"a", b"1")  # 2
    w = watchable.watch(b"a", prev_kv=True)
    old = watchable.watch(b"a", start_revision=2, prev_kv=True)
    store.put(b"a", b"2")  # 3
    store.delete_range(b"a")  # 4
    store.put(b"a", b"3")  # 5: a creation has no prev_kv
    evs = [e for r in w.take() for e in r.events]
    assert [(e.prev_kv.value if e.prev_kv else None) for e in evs] == [b"1", b"2", None]
    watchable.sync()
    evs = [e for r in old.take() for e in r.events]
    assert [(e.prev_kv.value if e.prev_kv else None) for e in evs] == [None, b"1", b"2", None]


def test_filters(store: KVStore, watchable: WatchableStore) -> None:
    no_put = watchable.watch(b"a", filters=[WatchFilter.NOPUT])
    no_delete = watchable.watch(b"a", filters=[WatchFilter.NODELETE])
    store.put(b"a", b"1")
    store.delete_range(b"a")
    assert events(no_put) == [("DELETE", b"a", 3)]
    assert events(no_delete) == [("PUT", b"a", 2)]
    assert no_put.pending == 0  # an all-filtered revision sends nothing


def test_compacted_start_revision_gets_a_compacted_response(
    store: KVStore, watchable: WatchableStore
) -> None:
    for i in range(5):
        store.put(b"a", b"%d" % i)  # 2..6
    store.compact(5)
    w = watchable.watch(b"a", start_revision=3)
    at = watchable.watch(b"a", start_revision=5)  # the compaction revision itself is still there
    watchable.sync()
    assert w.take() == [WatchResponse(w.id, [], 0, 5)]
    assert state(w) is WatcherState.COMPACTED and not watchable.cancel(w)
    assert events(at) == [("PUT", b"a", 5), ("PUT", b"a", 6)]


def test_slow_watcher_becomes_a_victim_without_blocking_others(store: KVStore) -> None:
    ws = WatchableStore(store, buffer_size=2)
    slow = ws.watch(b"k")
    fast = ws.watch(b"k")
    for i in range(6):
        store.put(b"k", b"%d" % i)  # 2..7
        fast.take()
    assert state(slow) is WatcherState.VICTIM and slow.pending == 2
    assert state(fast) is WatcherState.SYNCED and ws.victim_count == 1
    # the consumer catches up: the parked response, then history, then live again
    seen = [r.events[0].kv.mod_revision for r in slow.take()]
    while ws.sync() or slow.pending:
        seen += [e.kv.mod_revision for r in slow.take() for e in r.events]
    assert seen == [2, 3, 4, 5, 6, 7]
    assert state(slow) is WatcherState.SYNCED
    store.put(b"k", b"live")
    assert events(slow) == [("PUT", b"k", 8)]


def test_victim_that_made_room_wakes_the_sync_loop(store: KVStore) -> None:
    wakeups: list[int] = []
    ws = WatchableStore(store, buffer_size=1, on_sync_needed=lambda: wakeups.append(1))
    w = ws.watch(b"k")
    store.put(b"k", b"1")
    store.put(b"k", b"2")  # no room: victim
    assert len(wakeups) == 1
    w.take()
    assert len(wakeups) == 2


def test_cancel(store: KVStore, watchable: WatchableStore) -> None:
    synced = watchable.watch(b"a")
    store.put(b"a", b"1")
    unsynced = watchable.watch(b"a", start_revision=1)
    assert watchable.cancel(synced) and watchable.cancel(unsynced)
    assert not watchable.cancel(synced)
    store.put(b"a", b"2")
    watchable.sync()
    assert synced.take() == [] and unsynced.take() == []
    assert (watchable.synced_count, watchable.unsynced_count) == (0, 0)


def test_cancel_a_victim(store: KVStore) -> None:
    ws = WatchableStore(store, buffer_size=1)
    w = ws.watch(b"a")
    store.put(b"a", b"1")
    store.put(b"a", b"2")
    assert ws.victim_count == 1 and ws.cancel(w) and ws.victim_count == 0


def test_progress(store: KVStore, watchable: WatchableStore) -> None:
    store.put(b"a", b"1")
    synced = watchable.watch(b"a")
    behind = watchable.watch(b"a", start_revision=1)
    assert watchable.progress(synced) == 2 and watchable.progress(behind) is None
    assert watchable.progress_all([synced, behind]) is None
    watchable.sync()
    assert watchable.progress_all([synced, behind]) == 2


def test_a_txn_is_one_response(store: KVStore, watchable: WatchableStore) -> None:
    w = watchable.watch(b"", b"\0")
    store.apply(TxnRequest((), [PutRequest(b"x", b"1"), PutRequest(b"y", b"1")]), consistent_index=1)
    assert summary(w.take()) == [(2, [("PUT", b"x", 2), ("PUT", b"y", 2)])]


def test_restore_moves_watchers_to_catch_up_from_the_new_key_space(tmp_path: Path, store: KVStore) -> None:
    leader = KVStore(tmp_path / "leader", map_size=256 << 20)
    try:
        ws = WatchableStore(store)
        w = ws.watch(b"k", prev_kv=True)
        store.put(b"k", b"mine")  # 2
        assert events(w) == [("PUT", b"k", 2)]
        leader.put(b"k", b"1")  # 2
        leader.put(b"k", b"2")  # 3
        leader.put(b"k", b"3")  # 4
        snap = tmp_path / "snap.db"
        with open(snap, "wb") as f:
            leader.snapshot(f)
        store.restore(snap)
        assert state(w) is WatcherState.UNSYNCED
        ws.sync()
        assert events(w) == [("PUT", b"k", 3), ("PUT", b"k", 4)]
        assert state(w) is WatcherState.SYNCED
    finally:
        leader.close()


async def test_an_async_consumer_awaits_responses(store: KVStore, watchable: WatchableStore) -> None:
    ready = asyncio.Event()
    w = watchable.watch(b"a", on_ready=lambda _: ready.set())
    got: list[Event] = []

    async def consume() -> None:
        while len(got) < 3:
            await ready.wait()
            ready.clear()
            got.extend(e for r in w.take() for e in r.events)

    task = asyncio.create_task(consume())
    for i in range(3):
        store.put(b"a", b"%d" % i)
        await asyncio.sleep(0)
    await asyncio.wait_for(task, 5)
    assert [e.kv.value for e in got] == [b"0", b"1", b"2"] and all(e.type is PUT for e in got)
    assert DELETE not in {e.type for e in got}


def test_sync_rounds_take_turns_among_many_unsynced_watchers(store: KVStore) -> None:
    ws = WatchableStore(store, max_watchers_per_sync=2, buffer_size=1)
    for i in range(3):
        store.put(b"k", b"%d" % i)  # 2..4
    store.compact(3)
    stuck = [ws.watch(b"k", start_revision=2) for _ in range(2)]  # compacted, but buffers will be full
    for w in stuck:
        w._push(WatchResponse(w.id))
    behind = ws.watch(b"k", start_revision=3)
    ws.sync()  # serves the two stuck ones, which cannot take their compacted response yet
    assert state(behind) is WatcherState.UNSYNCED
    ws.sync()
    assert state(behind) is WatcherState.SYNCED
    assert [e.kv.mod_revision for r in behind.take() for e in r.events] == [3, 4]
