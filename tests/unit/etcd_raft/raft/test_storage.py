"""MemoryStorage: the Storage protocol's ranges and named errors, and the caller's writes."""

from __future__ import annotations

import pytest

from etcd_raft.raft import (
    CompactedError,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    SnapOutOfDateError,
    Snapshot,
    SnapshotMetadata,
    UnavailableError,
)
from etcd_raft.raft.storage import ENTRY_OVERHEAD


def storage_with(first: int, last: int, data: bytes = b"") -> MemoryStorage:
    """Entries first..last (term == index), compacted before `first`."""
    s = MemoryStorage()
    s.append([Entry(term=i, index=i, data=data) for i in range(1, last + 1)])
    if first > 1:
        s.create_snapshot(first - 1, ConfState(voters=(1,)), b"")
        s.compact(first - 1)
    return s


def test_an_empty_storage_starts_at_index_one() -> None:
    s = MemoryStorage()
    assert (s.first_index(), s.last_index(), s.term(0)) == (1, 0, 0)
    assert s.initial_state() == (HardState(), ConfState())
    assert s.snapshot().is_empty()


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        pytest.param(4, 6, [4, 5], id="a range inside the log"),
        pytest.param(4, 8, [4, 5, 6, 7], id="up to the last index"),
        pytest.param(5, 5, [], id="an empty range"),
        pytest.param(3, 5, CompactedError, id="the snapshot's own index is compacted"),
        pytest.param(1, 5, CompactedError, id="an index before the snapshot is compacted"),
        pytest.param(4, 9, UnavailableError, id="past the last index is unavailable"),
    ],
)
def test_entries_returns_the_range_or_a_named_error(lo: int, hi: int, expected: list[int] | type) -> None:
    s = storage_with(first=4, last=7)
    if isinstance(expected, type):
        with pytest.raises(expected):
            s.entries(lo, hi)
    else:
        assert [e.index for e in s.entries(lo, hi)] == expected


@pytest.mark.parametrize(
    ("max_size", "count"),
    [
        pytest.param(0, 1, id="a zero limit still returns one entry"),
        pytest.param(10 + ENTRY_OVERHEAD, 1, id="exactly one entry's size"),
        pytest.param(2 * (10 + ENTRY_OVERHEAD), 2, id="exactly two entries' size"),
        pytest.param(2 * (10 + ENTRY_OVERHEAD) + 1, 2, id="a little more than two"),
        pytest.param(10_000, 4, id="more than everything"),
    ],
)
def test_entries_are_cut_to_max_size_but_never_to_nothing(max_size: int, count: int) -> None:
    s = storage_with(first=1, last=4, data=b"0123456789")
    assert len(s.entries(1, 5, max_size)) == count


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        pytest.param(3, 3, id="the snapshot's index keeps its term"),
        pytest.param(5, 5, id="an index inside the log"),
        pytest.param(2, CompactedError, id="before the snapshot is compacted"),
        pytest.param(8, UnavailableError, id="after the last index is unavailable"),
    ],
)
def test_term_answers_from_the_snapshot_index_to_the_last_index(index: int, expected: int | type) -> None:
    s = storage_with(first=4, last=7)
    if isinstance(expected, type):
        with pytest.raises(expected):
            s.term(index)
    else:
        assert s.term(index) == expected


@pytest.mark.parametrize(
    ("appended", "expected_terms"),
    [
        pytest.param([(8, 8), (9, 9)], [4, 5, 6, 7, 8, 9], id="entries after the last are appended"),
        pytest.param([(6, 9), (7, 9), (8, 9)], [4, 5, 9, 9, 9], id="a conflicting tail is replaced"),
        pytest.param([(5, 9)], [4, 9], id="everything after the first new entry is dropped"),
        pytest.param([(2, 2), (3, 3), (4, 9)], [9], id="entries before the first index are skipped"),
        pytest.param([(1, 1), (2, 2)], [4, 5, 6, 7], id="entries that are all compacted change nothing"),
    ],
)
def test_append_replaces_the_stored_tail_from_the_first_new_entry_on(
    appended: list[tuple[int, int]], expected_terms: list[int]
) -> None:
    s = storage_with(first=4, last=7)
    s.append([Entry(term=t, index=i) for i, t in appended])
    assert [s.term(i) for i in range(s.first_index(), s.last_index() + 1)] == expected_terms


def test_append_refuses_to_leave_a_gap() -> None:
    s = storage_with(first=1, last=3)
    with pytest.raises(UnavailableError):
        s.append([Entry(term=5, index=5)])


def test_a_snapshot_then_compaction_keeps_the_snapshot_index_as_the_dummy_entry() -> None:
    s = storage_with(first=1, last=10)
    snap = s.create_snapshot(6, ConfState(voters=(1, 2, 3)), b"state")
    assert snap.metadata == SnapshotMetadata(index=6, term=6, conf_state=ConfState(voters=(1, 2, 3)))
    s.compact(6)
    assert (s.first_index(), s.last_index(), s.term(6)) == (7, 10, 6)
    assert s.initial_state()[1] == ConfState(voters=(1, 2, 3))
    with pytest.raises(CompactedError):
        s.compact(6)
    with pytest.raises(SnapOutOfDateError):
        s.create_snapshot(5, None, b"")
    with pytest.raises(UnavailableError):
        s.compact(11)


def test_applying_a_snapshot_replaces_the_log() -> None:
    s = storage_with(first=1, last=5)
    snap = Snapshot(SnapshotMetadata(index=20, term=4, conf_state=ConfState(voters=(1,))), b"data")
    s.apply_snapshot(snap)
    assert (s.first_index(), s.last_index(), s.term(20), s.snapshot()) == (21, 20, 4, snap)
    with pytest.raises(SnapOutOfDateError):
        s.apply_snapshot(Snapshot(SnapshotMetadata(index=20, term=4)))
    s.append([Entry(term=4, index=21)])
    assert s.last_index() == 21


def test_the_hard_state_is_kept_as_set() -> None:
    s = MemoryStorage()
    s.set_hard_state(HardState(term=3, vote=2, commit=1))
    assert s.initial_state()[0] == HardState(term=3, vote=2, commit=1)
