"""RaftLog: storage plus the unstable tail; appending, conflicts, commit and the cursors."""

from __future__ import annotations

import pytest

from etcd_raft.raft import CompactedError, ConfState, Entry, MemoryStorage, Snapshot, SnapshotMetadata
from etcd_raft.raft.log import RaftLog


def entries(*terms: int, start: int = 1) -> list[Entry]:
    return [Entry(term=t, index=i) for i, t in enumerate(terms, start=start)]


def log_with(*terms: int, stable: int = 0, committed: int = 0) -> RaftLog:
    """A log with entries of `terms` from index 1; the first `stable` of them in storage."""
    storage = MemoryStorage()
    storage.append(entries(*terms)[:stable])
    log = RaftLog(storage)
    log.append(entries(*terms)[stable:] if stable < len(terms) else [])
    if stable < len(terms):
        log.unstable.offset = stable + 1
    log.committed = committed
    return log


@pytest.mark.parametrize(
    ("index", "log_term", "new_terms", "expected_last", "expected_terms"),
    [
        pytest.param(3, 3, [], 3, [1, 2, 3], id="a heartbeat-like append that matches"),
        pytest.param(3, 3, [4, 4], 5, [1, 2, 3, 4, 4], id="new entries after the last"),
        pytest.param(2, 2, [3], 3, [1, 2, 3], id="entries we already have are not rewritten"),
        pytest.param(1, 1, [4, 4], 3, [1, 4, 4], id="a conflicting entry truncates our tail"),
        pytest.param(3, 2, [4], None, [1, 2, 3], id="a previous entry with another term is refused"),
        pytest.param(5, 3, [4], None, [1, 2, 3], id="a previous index we do not have is refused"),
    ],
)
def test_maybe_append_accepts_only_entries_that_follow_a_matching_entry(
    index: int, log_term: int, new_terms: list[int], expected_last: int | None, expected_terms: list[int]
) -> None:
    log = log_with(1, 2, 3, stable=3, committed=1)
    last = log.maybe_append(index, log_term, 3, entries(*new_terms, start=index + 1))
    assert last == expected_last
    assert [log.term(i) for i in range(1, log.last_index() + 1)] == expected_terms


def test_maybe_append_commits_no_further_than_the_new_entries() -> None:
    log = log_with(1, 1, 1, 2, 2, stable=5)
    log.maybe_append(2, 1, 10, entries(1, start=3))  # the leader's commit is 10; we only know to 3
    assert log.committed == 3


def test_a_conflict_with_a_committed_entry_is_a_bug() -> None:
    log = log_with(1, 2, 3, stable=3, committed=3)
    with pytest.raises(AssertionError):
        log.maybe_append(1, 1, 3, entries(4, 4, start=2))


@pytest.mark.parametrize(
    ("index", "term", "expected"),
    [
        pytest.param(8, 5, 8, id="past our end: the hint stays"),
        pytest.param(7, 5, 7, id="our entry's term is not later: it may match"),
        pytest.param(7, 3, 5, id="skips back over every entry of a later term"),
        pytest.param(7, 1, 2, id="skips back over several terms"),
        pytest.param(7, 0, 0, id="down to nothing"),
    ],
)
def test_find_conflict_by_term_skips_whole_terms(index: int, term: int, expected: int) -> None:
    log = log_with(1, 1, 2, 3, 3, 5, 5, stable=7)
    assert log.find_conflict_by_term(index, term) == expected


@pytest.mark.parametrize(
    ("last_index", "term", "up_to_date"),
    [
        pytest.param(1, 4, True, id="a later last term wins however short"),
        pytest.param(3, 3, True, id="same last term and length"),
        pytest.param(5, 3, True, id="same last term, longer"),
        pytest.param(2, 3, False, id="same last term, shorter"),
        pytest.param(9, 2, False, id="an earlier last term loses however long"),
    ],
)
def test_is_up_to_date_compares_last_term_then_length(last_index: int, term: int, up_to_date: bool) -> None:
    assert log_with(1, 2, 3, stable=3).is_up_to_date(last_index, term) is up_to_date


@pytest.mark.parametrize(
    ("index", "term", "committed"),
    [
        pytest.param(3, 3, 3, id="an entry of the given term commits with everything before it"),
        pytest.param(2, 3, 0, id="an entry of another term does not commit"),
        pytest.param(0, 0, 0, id="nothing is not progress"),
    ],
)
def test_maybe_commit_commits_only_entries_of_the_given_term(index: int, term: int, committed: int) -> None:
    log = log_with(1, 2, 3, stable=3)
    log.maybe_commit(index, term)
    assert log.committed == committed


def test_unstable_entries_become_stable_only_if_their_term_still_matches() -> None:
    log = log_with(1, 2, 3, 3, stable=2)
    assert [e.index for e in log.unstable_entries()] == [3, 4]
    log.maybe_append(2, 2, 0, entries(4, start=3))  # 3 and 4 replaced before they were persisted
    log.stable_to(4, 3)  # the caller persisted the old ones: stale news
    assert [e.index for e in log.unstable_entries()] == [3]
    log.stable_to(3, 4)
    assert log.unstable_entries() == []


def test_slice_spans_storage_and_the_unstable_tail_within_a_size_limit() -> None:
    storage = MemoryStorage()
    storage.append([Entry(1, i, data=b"x" * 10) for i in range(1, 4)])
    log = RaftLog(storage)
    log.append([Entry(1, i, data=b"x" * 10) for i in range(4, 7)])
    assert [e.index for e in log.slice(2, 7)] == [2, 3, 4, 5, 6]
    assert [e.index for e in log.slice(2, 7, max_size=3 * 26)] == [2, 3, 4]
    assert [e.index for e in log.slice(5, 7, max_size=1)] == [5]
    with pytest.raises(CompactedError):
        log.slice(0, 2)


def test_committed_entries_are_handed_out_once_up_to_the_commit_index() -> None:
    log = log_with(1, 1, 1, 1, stable=4)
    log.commit_to(3)
    assert [e.index for e in log.next_committed_entries()] == [1, 2, 3]
    log.applied_to(3)
    assert not log.has_next_committed_entries()
    log.commit_to(4)
    assert [e.index for e in log.next_committed_entries()] == [4]


def test_restore_replaces_the_log_with_a_pending_snapshot() -> None:
    log = log_with(1, 1, 1, stable=3, committed=2)
    snap = Snapshot(SnapshotMetadata(index=10, term=3, conf_state=ConfState(voters=(1,))))
    log.restore(snap)
    assert (log.first_index(), log.last_index(), log.term(10), log.committed) == (11, 10, 3, 10)
    assert log.has_pending_snapshot() and log.snapshot() == snap
    assert log.next_committed_entries() == []
    log.stable_snap_to(10)
    assert not log.has_pending_snapshot()
