"""Progress and Inflights: the leader's per-peer flow control; the tracker's quorum arithmetic."""

from __future__ import annotations

import pytest

from etcd_raft.raft import ConfState
from etcd_raft.raft.progress import Inflights, Progress, ProgressState
from etcd_raft.raft.tracker import ProgressTracker, VoteResult


def progress(state: ProgressState, match: int, next_index: int) -> Progress:
    pr = Progress(next_index, max_inflight=4)
    pr.match = match
    pr.state = state
    return pr


def test_inflights_fill_up_and_are_freed_in_order() -> None:
    inflights = Inflights(3)
    for index in (5, 10, 15):
        inflights.add(index)
    assert inflights.full()
    inflights.free_le(10)
    assert (len(inflights), inflights.full()) == (1, False)
    inflights.free_first_one()
    assert len(inflights) == 0


@pytest.mark.parametrize(
    ("state", "match", "next_index", "rejected", "hint", "decreased", "expected_next"),
    [
        pytest.param(ProgressState.REPLICATE, 5, 10, 5, 0, False, 10, id="replicate: a stale rejection"),
        pytest.param(ProgressState.REPLICATE, 5, 10, 9, 0, True, 6, id="replicate: back to match + 1"),
        pytest.param(ProgressState.PROBE, 0, 10, 5, 0, False, 10, id="probe: a rejection of an older probe"),
        pytest.param(ProgressState.PROBE, 0, 10, 9, 4, True, 5, id="probe: jump to the hint + 1"),
        pytest.param(ProgressState.PROBE, 0, 10, 9, 20, True, 9, id="probe: never forward of the rejection"),
        pytest.param(ProgressState.PROBE, 0, 2, 1, 0, True, 1, id="probe: never below 1"),
    ],
)
def test_maybe_decr_to_moves_next_back_on_a_fresh_rejection(
    state: ProgressState,
    match: int,
    next_index: int,
    rejected: int,
    hint: int,
    decreased: bool,
    expected_next: int,
) -> None:
    pr = progress(state, match, next_index)
    assert pr.maybe_decr_to(rejected, hint) is decreased
    assert pr.next == expected_next


def test_maybe_update_advances_match_and_next_and_unpauses_a_probe() -> None:
    pr = progress(ProgressState.PROBE, 3, 4)
    pr.probe_sent = True
    assert pr.maybe_update(7)
    assert (pr.match, pr.next, pr.probe_sent) == (7, 8, False)
    assert not pr.maybe_update(6)  # old news
    assert (pr.match, pr.next) == (7, 8)


@pytest.mark.parametrize(
    ("state", "probe_sent", "inflight", "paused"),
    [
        pytest.param(ProgressState.PROBE, False, 0, False, id="probe: may send"),
        pytest.param(ProgressState.PROBE, True, 0, True, id="probe: waits for an answer"),
        pytest.param(ProgressState.REPLICATE, False, 3, False, id="replicate: room in the window"),
        pytest.param(ProgressState.REPLICATE, False, 4, True, id="replicate: window full"),
        pytest.param(ProgressState.SNAPSHOT, False, 0, True, id="snapshot: waits for the snapshot"),
    ],
)
def test_is_paused_by_state(state: ProgressState, probe_sent: bool, inflight: int, paused: bool) -> None:
    pr = progress(state, 0, 1)
    pr.probe_sent = probe_sent
    for i in range(inflight):
        pr.inflights.add(i)
    assert pr.is_paused() is paused


def test_after_a_snapshot_probing_resumes_right_after_it() -> None:
    pr = progress(ProgressState.PROBE, 2, 3)
    pr.become_snapshot(50)
    assert pr.is_paused()
    pr.become_probe()
    assert (pr.state, pr.next) == (ProgressState.PROBE, 51)


@pytest.mark.parametrize(
    ("matches", "committed"),
    [
        pytest.param([5], 5, id="one voter"),
        pytest.param([5, 3, 9], 5, id="three voters: the median"),
        pytest.param([5, 3, 9, 7], 5, id="four voters need three"),
        pytest.param([1, 2, 3, 4, 5], 3, id="five voters need three"),
    ],
)
def test_committed_is_the_largest_index_a_majority_of_voters_has(matches: list[int], committed: int) -> None:
    tracker = ProgressTracker.from_conf_state(
        ConfState(voters=tuple(range(1, len(matches) + 1)), learners=(99,)), max_inflight=4, last_index=10
    )
    for node_id, match in enumerate(matches, start=1):
        tracker.progress[node_id].match = match
    tracker.progress[99].match = 100  # learners do not count
    assert tracker.committed() == committed


@pytest.mark.parametrize(
    ("votes", "result"),
    [
        pytest.param({1: True}, VoteResult.PENDING, id="one of five"),
        pytest.param({1: True, 2: True, 3: True}, VoteResult.WON, id="three of five"),
        pytest.param({1: True, 2: False, 3: False}, VoteResult.PENDING, id="two rejections, two missing"),
        pytest.param({1: True, 2: False, 3: False, 4: False}, VoteResult.LOST, id="three rejections"),
        pytest.param({1: True, 2: True, 99: True}, VoteResult.PENDING, id="a learner's vote is not counted"),
    ],
)
def test_votes_are_tallied_over_voters_only(votes: dict[int, bool], result: VoteResult) -> None:
    tracker = ProgressTracker.from_conf_state(
        ConfState(voters=(1, 2, 3, 4, 5), learners=(99,)), max_inflight=4, last_index=0
    )
    for node_id, granted in votes.items():
        tracker.record_vote(node_id, granted)
    assert tracker.tally_votes()[2] == result
