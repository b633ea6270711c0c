"""Seeded random histories against a plain model: every revision's full state kept in a dict."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from etcd_raft.mvcc import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrCompacted,
    KeyValue,
    KVStore,
    PutRequest,
    RequestOp,
    WatchableStore,
)

KEYS = [b"a", b"ab", b"abc", b"b", b"ba", b"c", b"d", b"\xfe"]
ENDS = [b"", b"", b"\0", b"b", b"c", b"bb", b"z", b"a"]


class Model:
    """states[rev]: key -> KeyValue at that revision; log[rev]: the (type, key) events of rev."""

    def __init__(self) -> None:
        self.states: dict[int, dict[bytes, KeyValue]] = {1: {}}
        self.log: dict[int, list[tuple[str, bytes]]] = {}
        self.rev = 1
        self.compacted = -1

    def apply(self, ops: list[tuple[str, bytes, bytes, int]]) -> None:
        """ops: ("put", key, value, lease) or ("del", key, range_end, 0), all at one revision."""
        state = dict(self.states[self.rev])
        rev = self.rev + 1
        events: list[tuple[str, bytes]] = []
        for op, key, arg, lease in ops:
            if op == "put":
                old = state.get(key)
                create, version = (old.create_revision, old.version + 1) if old else (rev, 1)
                state[key] = KeyValue(key, create, rev, version, arg, lease)
                events.append(("PUT", key))
            else:
                for k in [k for k in sorted(state) if in_range(k, key, arg)]:
                    del state[k]
                    events.append(("DELETE", k))
        if events:
            self.rev = rev
            self.states[rev] = state
            self.log[rev] = events

    def range(self, key: bytes, end: bytes, rev: int) -> list[KeyValue]:
        return [kv for k, kv in sorted(self.states[rev].items()) if in_range(k, key, end)]


def in_range(k: bytes, key: bytes, end: bytes) -> bool:
    if not end:
        return k == key
    return key <= k and (end == b"\0" or k < end)


def random_ops(rng: random.Random) -> list[tuple[str, bytes, bytes, int]]:
    """A txn's ops without overlaps: distinct put keys, deletes of single keys not put."""
    keys = rng.sample(KEYS, rng.randrange(1, 4))
    ops = []
    for k in keys:
        if rng.random() < 0.7:
            ops.append(("put", k, b"v%d" % rng.randrange(1000), rng.choice([0, 0, 7])))
        else:
            ops.append(("del", k, b"", 0))
    return ops


def to_request(op: tuple[str, bytes, bytes, int]) -> RequestOp:
    kind, key, arg, lease = op
    return PutRequest(key, arg, lease) if kind == "put" else DeleteRangeRequest(key, arg)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_history_matches_the_model(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "db"
    store = KVStore(path, map_size=256 << 20, batch_limit=rng.randrange(5, 50))
    model = Model()
    index = 0
    try:
        for _step in range(1000):
            index += 1
            roll = rng.random()
            if roll < 0.35:
                k = rng.choice(KEYS)
                v = b"v%d" % rng.randrange(1000)
                store.put(k, v, consistent_index=index)
                model.apply([("put", k, v, 0)])
            elif roll < 0.45:
                k, end = rng.choice(KEYS), rng.choice(ENDS)
                d = store.delete_range(k, end, consistent_index=index)
                assert d.deleted == len(model.range(k, end, model.rev))
                model.apply([("del", k, end, 0)])
            elif roll < 0.65:
                k = rng.choice(KEYS)
                cur = model.states[model.rev].get(k)
                mod = cur.mod_revision if cur else 0
                guess = mod if rng.random() < 0.6 else mod + 1
                then, other = random_ops(rng), random_ops(rng)
                r = store.txn(
                    [Compare(CompareResult.EQUAL, CompareTarget.MOD, k, mod_revision=guess)],
                    [to_request(op) for op in then],
                    [to_request(op) for op in other],
                    consistent_index=index,
                )
                assert r.succeeded == (guess == mod)
                model.apply(then if r.succeeded else other)
                assert r.revision == model.rev
            elif roll < 0.7 and model.rev > model.compacted + 1:
                at = rng.randrange(max(model.compacted + 1, 1), model.rev + 1)
                store.compact(at, consistent_index=index)
                model.compacted = at
            elif roll < 0.73:
                store.close()
                store = KVStore(path, map_size=256 << 20, batch_limit=rng.randrange(5, 50))
                assert store.consistent_index == index - 1
                store.set_consistent_index(index)
            else:
                store.set_consistent_index(index)
            assert store.current_revision == model.rev

            # read at a random reachable revision, and below the compaction
            rev = rng.randrange(max(model.compacted, 1), model.rev + 1)
            k, end = rng.choice(KEYS), rng.choice(ENDS)
            got = store.range(k, end, revision=rev)
            want = model.range(k, end, rev)
            assert got.kvs == want, (rev, k, end)
            assert got.count == len(want)
            if model.compacted > 1:
                with pytest.raises(ErrCompacted):
                    store.range(k, end, revision=rng.randrange(1, model.compacted))

        # a watcher from the compaction revision replays everything still in history
        ws = WatchableStore(store, batch_max_revs=7, max_events_per_sync=20)
        start = max(model.compacted, 1)
        w = ws.watch(b"\0", b"\0", start_revision=start)
        while ws.sync():
            pass
        seen = [(e.kv.mod_revision, e.type.name, e.kv.key) for r in w.take() for e in r.events]
        want_events = [(rev, t, k) for rev in sorted(model.log) if rev >= start for t, k in model.log[rev]]
        assert seen == want_events
    finally:
        store.close()
