"""The key index: generations of revisions per key (etcd's keyIndex) and the sorted key set."""

from __future__ import annotations

import random

import pytest

from etcd_raft.mvcc.index import KeyIndex, SortedKeys, TreeIndex


def r(main: int, sub: int = 0) -> int:
    return (main << 32) | sub


def history() -> KeyIndex:
    """put 2, put 4, delete 6 | put 8, put 10, delete 12 | put 14.0, put 14.1, put 16"""
    ki = KeyIndex(b"foo")
    ki.put(r(2), 2, 1)
    ki.put(r(4), 2, 2)
    ki.tombstone(r(6))
    ki.put(r(8), 8, 1)
    ki.put(r(10), 8, 2)
    ki.tombstone(r(12))
    ki.put(r(14), 14, 1)
    ki.put(r(14, 1), 14, 2)
    ki.put(r(16), 14, 3)
    return ki


@pytest.mark.parametrize(
    ("at", "want"),
    [
        *[(1, None), (2, r(2)), (5, r(4)), (6, None), (7, None), (8, r(8)), (11, r(10)), (12, None)],
        *[(13, None), (14, r(14, 1)), (15, r(14, 1)), (16, r(16)), (100, r(16))],
    ],
)
def test_get_at_revision(at: int, want: int | None) -> None:
    got = history().get(at)
    assert (got[0] if got else None) == want


@pytest.mark.parametrize(
    ("at", "generations", "dropped"),
    [
        (1, [[2, 4, 6], [8, 10, 12], [14, 14.1, 16]], []),
        (3, [[2, 4, 6], [8, 10, 12], [14, 14.1, 16]], []),
        (4, [[4, 6], [8, 10, 12], [14, 14.1, 16]], [2]),
        (6, [[6], [8, 10, 12], [14, 14.1, 16]], [2, 4]),  # a tombstone at `at` stays
        (7, [[8, 10, 12], [14, 14.1, 16]], [2, 4, "6t"]),
        (12, [[12], [14, 14.1, 16]], [2, 4, "6t", 8, 10]),
        (13, [[14, 14.1, 16]], [2, 4, "6t", 8, 10, "12t"]),
        (14, [[14.1, 16]], [2, 4, "6t", 8, 10, "12t", 14]),
        (20, [[16]], [2, 4, "6t", 8, 10, "12t", 14, 14.1]),
    ],
)
def test_compact(at: int, generations: list[list[float]], dropped: list[object]) -> None:
    """Like etcd: keep each generation's latest revision <= at, drop older generations whole."""

    def rev(x: float) -> int:
        main = int(x)
        return r(main, round((x - main) * 10))

    def label(d: tuple[int, bool]) -> object:
        main, sub = d[0] >> 32, d[0] & 0xFFFFFFFF
        x: object = main + sub / 10 if sub else main
        return f"{main}t" if d[1] else x

    ki = history()
    got: list[tuple[int, bool]] = []
    ki.compact(at, got)
    assert [label(d) for d in got] == dropped
    assert [g.revs for g in ki.generations] == [[rev(x) for x in g] for g in generations]


def test_compacting_a_deleted_key_empties_it() -> None:
    ki = KeyIndex(b"k")
    ki.put(r(2), 2, 1)
    ki.tombstone(r(3))
    got: list[tuple[int, bool]] = []
    ki.compact(3, got)
    assert not ki.is_empty() and got == [(r(2), False)]
    ki.compact(4, got)
    assert ki.is_empty() and got[-1] == (r(3), True)


def test_keep_leaves_out_a_tombstone_at_the_revision() -> None:
    ki = history()
    for at, want in [(6, set()), (5, {r(4)}), (12, set()), (15, {r(14, 1)}), (1, set())]:
        available: set[int] = set()
        ki.keep(at, available)
        assert available == want, at


def test_tree_index_compaction_forgets_emptied_keys() -> None:
    t = TreeIndex()
    for i, key in enumerate([b"a", b"b", b"c"]):
        ki = t.insert(key)
        ki.put(r(i + 2), i + 2, 1)
    t.map[b"b"].tombstone(r(5))
    dropped = t.compact(6)
    assert dropped == [(r(3), False), (r(5), True)]
    assert sorted(t.map) == [b"a", b"c"] and list(t.keys) == [b"a", b"c"]
    assert [ki.key for ki in t.key_indexes(b"a", b"\0")] == [b"a", b"c"]


def test_sorted_keys_matches_a_sorted_list() -> None:
    rng = random.Random(7)
    SortedKeys.LOAD, load = 8, SortedKeys.LOAD  # small chunks: exercise splits
    try:
        sk = SortedKeys()
        model: list[bytes] = []
        for _ in range(2000):
            k = bytes(rng.randrange(97, 102) for _ in range(rng.randrange(1, 5)))
            if k not in model:
                sk.add(k)
                model.append(k)
        model.sort()
        assert list(sk) == model and len(sk) == len(model)
        for _ in range(300):
            a = bytes(rng.randrange(96, 103) for _ in range(rng.randrange(0, 4)))
            b = bytes(rng.randrange(96, 103) for _ in range(rng.randrange(0, 4)))
            assert sk.range(a, b) == [k for k in model if a <= k < b], (a, b)
            assert sk.range(a, None) == [k for k in model if a <= k]
        assert SortedKeys(model).range(b"b", b"c") == [k for k in model if b"b" <= k < b"c"]
    finally:
        SortedKeys.LOAD = load
