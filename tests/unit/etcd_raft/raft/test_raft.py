"""Scenarios, table style: elections, commit, replication, snapshots, reads, transfer, membership.

Each runs on the simulated network (raft_sim.Cluster) with every safety claim checked after every
step (strict: a violation fails the test at once).
"""

from __future__ import annotations

from typing import Any

import pytest
from raft_sim import Cluster

from etcd_raft.raft import (
    ConfChange,
    ConfChangeType,
    Message,
    MessageType,
    ProgressState,
    ProposalDroppedError,
    Role,
)

MT = MessageType


def elect(c: Cluster, node_id: int, attempts: int = 5) -> None:
    """Campaign until `node_id` leads (each failed attempt raises its term)."""
    for _ in range(attempts):
        c.campaign(node_id)
        if c.raft(node_id).state == Role.LEADER:
            return
    raise AssertionError(f"node {node_id} could not win an election")


def leader_cluster(ids: tuple[int, ...] = (1, 2, 3), **config: Any) -> Cluster:
    c = Cluster(ids, **config)
    elect(c, ids[0])
    return c


# -- elections ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pre_vote", "check_quorum", "writes_while_partitioned", "disrupted"),
    [
        pytest.param(
            True, False, True, False, id="pre-vote: an isolated node that fell behind cannot raise the term"
        ),
        pytest.param(
            True, True, False, False, id="pre-vote and check-quorum: not even with an up-to-date log"
        ),
        pytest.param(
            False, False, True, True, id="without pre-vote the isolated node's higher term deposes the leader"
        ),
    ],
)
def test_pre_vote_prevents_a_partitioned_node_from_disrupting_the_term(
    pre_vote: bool, check_quorum: bool, writes_while_partitioned: bool, disrupted: bool
) -> None:
    c = leader_cluster(pre_vote=pre_vote, check_quorum=check_quorum)
    term = c.raft(1).term
    c.isolate(3)
    if writes_while_partitioned:
        assert c.propose(1, b"written while 3 is away")
    c.tick(100)  # ten election timeouts: node 3 campaigns again and again
    assert (c.raft(3).term > term) is disrupted
    c.heal()
    c.tick(200)  # without pre-vote the stale node keeps calling elections it cannot win for a while
    assert (c.raft(1).term > term) is disrupted
    assert c.stable_leader() == (None if disrupted else 1) or disrupted
    assert c.stable_leader() is not None


@pytest.mark.parametrize(
    ("check_quorum", "steps_down"),
    [
        pytest.param(True, True, id="with check-quorum an isolated leader steps down"),
        pytest.param(False, False, id="without check-quorum an isolated leader keeps believing it leads"),
    ],
)
def test_check_quorum_leader_steps_down_without_a_quorum_of_recent_contact(
    check_quorum: bool, steps_down: bool
) -> None:
    c = leader_cluster(check_quorum=check_quorum, pre_vote=True)
    c.isolate(1)
    c.tick(2 * 10)  # two election timeouts: at least one full check-quorum round
    assert (c.raft(1).state != Role.LEADER) is steps_down
    if steps_down:
        with pytest.raises(ProposalDroppedError):
            c.raw(1).propose(b"x")
    c.tick(20)
    assert c.raft(2).lead == c.raft(3).lead in (2, 3)  # the majority side elected its own leader


@pytest.mark.parametrize(
    ("ticks_since_leader", "granted"),
    [
        pytest.param(0, False, id="a follower that just heard from its leader ignores a higher-term vote"),
        pytest.param(9, False, id="it still ignores it just before its election timeout"),
        pytest.param(10, True, id="after an election timeout without the leader it grants the vote"),
    ],
)
def test_followers_with_a_known_leader_ignore_votes_within_the_lease(
    ticks_since_leader: int, granted: bool
) -> None:
    c = leader_cluster(check_quorum=True, pre_vote=False)
    follower = c.raft(2)
    follower.election_elapsed = ticks_since_leader
    term = follower.term
    follower.msgs.clear()
    last = follower.log.last_index()
    vote = Message(MT.MsgVote, 2, 3, term + 1, log_term=follower.log.last_term(), index=last)
    c.raw(2).step(vote)
    responses = [m for m in follower.msgs if m.type == MT.MsgVoteResp]
    assert (follower.term == term + 1) is granted
    assert [not m.reject for m in responses] == ([True] if granted else [])


@pytest.mark.parametrize(
    ("candidate_log", "granted"),
    [
        pytest.param("longer", True, id="a candidate with a longer log of the same last term gets the vote"),
        pytest.param("equal", True, id="a candidate with an identical log gets the vote"),
        pytest.param("shorter", False, id="a candidate missing our last entry is refused"),
        pytest.param("older term", False, id="a candidate whose last entry has an older term is refused"),
    ],
)
def test_votes_go_only_to_candidates_whose_log_is_at_least_as_up_to_date(
    candidate_log: str, granted: bool
) -> None:
    c = leader_cluster(check_quorum=False, pre_vote=False)
    r = c.raft(2)
    last, last_term = r.log.last_index(), r.log.last_term()
    index, log_term = {
        "longer": (last + 5, last_term),
        "equal": (last, last_term),
        "shorter": (last - 1, last_term),
        "older term": (last + 5, last_term - 1),
    }[candidate_log]
    r.msgs.clear()
    c.raw(2).step(Message(MT.MsgVote, 2, 3, r.term + 1, log_term=log_term, index=index))
    (response,) = [m for m in r.msgs if m.type == MT.MsgVoteResp]
    assert response.reject is not granted
    assert (r.vote == 3) is granted


def test_a_node_votes_at_most_once_per_term() -> None:
    c = leader_cluster(check_quorum=False, pre_vote=False)
    r = c.raft(2)
    term = r.term + 1
    r.msgs.clear()
    for candidate in (3, 1, 3):
        c.raw(2).step(
            Message(MT.MsgVote, 2, candidate, term, log_term=r.log.last_term(), index=r.log.last_index())
        )
    assert [(m.to, m.reject) for m in r.msgs] == [(3, False), (1, True), (3, False)]


def test_a_single_node_cluster_elects_itself_and_commits_alone() -> None:
    c = Cluster([1])
    c.campaign(1)
    assert c.raft(1).state == Role.LEADER
    assert c.propose(1, b"solo")
    c.stabilize()
    assert c.nodes[1].sm.values == [b"solo"]


def test_randomized_election_timeouts_stay_within_one_to_two_election_timeouts() -> None:
    c = Cluster([1, 2, 3])
    timeouts = set()
    for _ in range(200):
        r = c.raft(1)
        r.become_follower(r.term + 1, 0)
        timeouts.add(r.randomized_election_timeout)
    assert min(timeouts) == 10 and max(timeouts) == 19


def test_a_leader_is_elected_by_ticking_alone() -> None:
    c = Cluster([1, 2, 3, 4, 5], seed=7)
    c.tick(40)
    assert c.stable_leader() is not None


# -- commit ---------------------------------------------------------------------------------------------


def test_figure_8_an_entry_of_an_older_term_is_not_committed_by_counting_replicas() -> None:
    """Raft paper Figure 8: S1 replicates its term-2 entry to a majority while leading term 4. Counting
    replicas must not commit it, because S5 (whose log ends in term 3) can still be elected and
    overwrite it."""
    c = Cluster([1, 2, 3, 4, 5], pre_vote=False, check_quorum=False, max_size_per_msg=1)
    elect(c, 1)
    base = c.raft(1).log.last_index()
    old, new = base + 1, base + 2

    # (a) S1 leads term 2 and replicates `old` to S2 only, then crashes.
    c.partition([1, 2], [3, 4, 5])
    assert c.propose(1, b"term-2 entry")
    c.stabilize()
    assert c.raft(2).log.last_index() == old
    c.crash(1)

    # (b) S5 wins term 3 with S3 and S4, appends entries at `old` that never leave it.
    c.filters.append(lambda m: m.from_ == 5 and m.type == MT.MsgApp)
    elect(c, 5)
    assert c.propose(5, b"term-3 entry")
    c.stabilize()
    assert c.raft(5).log.term(old) == c.raft(5).term

    # (c) S5 crashes; S1 restarts, wins term 4 and copies `old` (term 2) to S3 and S4, but not its own
    # entry at `new`.
    c.heal()
    c.crash(5)
    c.restart(1)
    # A follower that has `old` never receives `new`; one that lacks `old` still gets the probe it rejects.
    c.filters.append(
        lambda m: (
            m.type == MT.MsgApp
            and any(e.index == new for e in m.entries)
            and c.raft(m.to).log.last_index() >= old
        )
    )
    elect(c, 1)
    leader = c.raft(1)
    assert leader.term == 4
    for node_id in (2, 3, 4):
        assert c.raft(node_id).log.match_term(old, 2)  # on a majority: S1, S2, S3, S4
    assert leader.log.committed == base  # ... yet not committed

    # (d) S1 crashes; S5 restarts and is elected (its last term, 3, beats theirs, 2): it overwrites
    # `old`, which is why counting replicas must not have committed it.
    c.heal()
    c.crash(1)
    c.restart(5)
    elect(c, 5)
    c.tick(5)
    for node_id in (2, 3, 4, 5):
        assert c.raft(node_id).log.term(old) == 3
        assert c.nodes[node_id].sm.values == [b"term-3 entry"]


def test_an_older_term_entry_commits_once_an_entry_of_the_current_term_does() -> None:
    c = Cluster([1, 2, 3], pre_vote=False, check_quorum=False, max_size_per_msg=1)
    elect(c, 1)
    c.isolate(1)
    c.raw(1).propose(b"stranded")  # term 2, persisted on S1 only
    c.stabilize()
    stranded = c.raft(1).log.last_index()
    c.crash(1)
    c.heal()
    c.restart(1)
    c.filters.append(  # followers get the probe they reject, then `stranded`, but nothing after it
        lambda m: (
            m.type == MT.MsgApp
            and any(e.index > stranded for e in m.entries)
            and c.raft(m.to).log.last_index() >= stranded
        )
    )
    elect(c, 1)  # term 3: its longer log wins
    assert all(c.raft(i).log.match_term(stranded, 2) for i in (1, 2, 3))  # on every node ...
    assert c.raft(1).log.committed < stranded  # ... but not committed by counting
    c.filters.clear()
    c.tick(2)  # the new leader's own entry commits, and the stranded one with it
    assert c.raft(1).log.committed > stranded
    assert all(c.nodes[i].sm.values == [b"stranded"] for i in (1, 2, 3))


# -- replication ----------------------------------------------------------------------------------------


def test_a_lagging_follower_catches_up_by_probing_then_replicating() -> None:
    c = leader_cluster()
    c.isolate(3)
    for i in range(20):
        assert c.propose(1, b"entry %d" % i)
    c.stabilize()
    c.tick(1)  # sends to 3 fail: the leader falls back to probing it
    assert c.raw(1).status().progress[3].state == ProgressState.PROBE
    c.raw(1).transfer_leadership(2)  # a new leader does not even know where 3's log ends
    c.stabilize()
    assert c.raw(2).status().progress[3].state == ProgressState.PROBE
    c.heal()
    c.trace.clear()
    c.tick(2)
    to_3 = [m for m in c.trace if m.to == 3 and m.type == MT.MsgApp]
    from_3 = [m for m in c.trace if m.from_ == 3 and m.type == MT.MsgAppResp]
    assert from_3[0].reject  # the first probe missed: 3 lacks the entries before it
    assert any(not m.reject for m in from_3)
    assert len(to_3) <= 3  # the rejection hint skips the whole gap at once
    progress = c.raw(2).status().progress[3]
    assert progress.state == ProgressState.REPLICATE
    assert progress.match == c.raft(2).log.last_index()
    assert c.nodes[3].sm.values[-20:] == [b"entry %d" % i for i in range(20)]


def test_replication_streams_up_to_the_inflight_window_then_waits() -> None:
    c = leader_cluster(max_inflight_msgs=3, max_size_per_msg=1)
    c.filters.append(lambda m: m.type == MT.MsgAppResp and m.from_ == 2)  # 2 never acknowledges
    c.trace.clear()
    for i in range(10):
        c.raw(1).propose(b"%d" % i)
    c.stabilize()
    to_2 = [m for m in c.trace if m.type == MT.MsgApp and m.to == 2 and m.entries]
    assert len(to_2) == 3
    assert c.raw(1).status().progress[2].paused
    c.heal()
    c.tick(3)
    assert c.nodes[2].sm.values[-10:] == [b"%d" % i for i in range(10)]


def test_a_burst_of_heartbeat_responses_sends_one_probe_per_heartbeat_interval() -> None:
    """A link that held a follower's responses through a partition delivers hundreds at once:
    each must not send a full MsgApp (the leader would build them all in one Ready)."""
    c = leader_cluster()
    c.isolate(2)
    for i in range(5):
        c.raw(1).propose(b"%d" % i)
    c.stabilize()
    leader = c.raw(1)
    leader.report_unreachable(2)
    assert leader.status().progress[2].state == ProgressState.PROBE
    c.tick(c.raft(1).heartbeat_timeout)  # the heartbeat interval unpauses 2 for one probe
    c.stabilize()
    term = c.raft(1).term
    for _ in range(100):
        leader.step(Message(MT.MsgHeartbeatResp, to=1, from_=2, term=term))
    sent = [m for m in leader.ready().messages if m.type == MT.MsgApp and m.to == 2]
    assert len(sent) <= 1


def test_a_new_leader_overwrites_a_follower_s_uncommitted_conflicting_entries() -> None:
    c = leader_cluster(pre_vote=False, check_quorum=False)
    c.isolate(1)
    for i in range(3):
        c.raw(1).propose(b"lost %d" % i)
    c.stabilize()
    elect(c, 2)
    assert c.propose(2, b"kept")
    c.stabilize()
    c.heal()
    c.tick(3)
    assert c.raft(1).state == Role.FOLLOWER
    for node_id in (1, 2, 3):
        assert b"kept" in c.nodes[node_id].sm.values
        assert not any(v.startswith(b"lost") for v in c.nodes[node_id].sm.values)
    c.invariants.check_logs_match(c.nodes.values())


# -- snapshots ------------------------------------------------------------------------------------------


def test_a_snapshot_is_sent_to_a_follower_whose_entries_were_compacted() -> None:
    c = leader_cluster()
    c.isolate(3)
    for i in range(30):
        assert c.propose(1, b"v%d" % i)
    c.stabilize()
    for node_id in (1, 2):
        node = c.nodes[node_id]
        node.storage.create_snapshot(node.sm.index, node.conf_state, node.sm.snapshot_data())
        node.storage.compact(node.sm.index)
    snapshot_index = c.nodes[1].sm.index
    c.heal()
    c.trace.clear()
    c.tick(3)
    snaps = [m for m in c.trace if m.type == MT.MsgSnap]
    assert [m.to for m in snaps] == [3]
    assert snaps[0].snapshot is not None and snaps[0].snapshot.metadata.index == snapshot_index
    follower = c.nodes[3]
    assert follower.storage.snapshot().metadata.index == snapshot_index
    assert follower.sm.digest == c.nodes[1].sm.digest
    assert follower.conf_state.voters == (1, 2, 3)
    assert c.raw(1).status().progress[3].state == ProgressState.REPLICATE
    assert c.propose(1, b"after the snapshot")
    c.stabilize()
    assert follower.sm.values == [b"after the snapshot"]  # restored from the snapshot, then applied


def test_a_failed_snapshot_is_retried_after_the_leader_hears_from_the_follower_again() -> None:
    c = leader_cluster()
    c.isolate(3)
    for i in range(5):
        assert c.propose(1, b"v%d" % i)
    c.stabilize()
    node = c.nodes[1]
    node.storage.create_snapshot(node.sm.index, node.conf_state, node.sm.snapshot_data())
    node.storage.compact(node.sm.index)
    c.heal()
    c.filters.append(lambda m: m.type == MT.MsgSnap)  # lost: the transport reports the failure
    c.tick(2)
    assert c.raw(1).status().progress[3].state == ProgressState.PROBE
    c.filters.clear()
    c.tick(3)
    assert c.nodes[3].sm.digest == node.sm.digest


# -- reads ----------------------------------------------------------------------------------------------


def test_read_index_is_answered_only_after_a_heartbeat_quorum_acknowledges_the_leader() -> None:
    c = leader_cluster()
    assert c.propose(1, b"before the read")
    c.stabilize()
    committed = c.raft(1).log.committed
    c.filters.append(lambda m: m.type == MT.MsgHeartbeatResp)
    context = c.read_index(1)
    c.tick(3)
    assert c.nodes[1].read_states == []  # no quorum has confirmed the leadership yet
    c.filters.clear()
    c.tick(1)
    (state,) = c.nodes[1].read_states
    assert state.request_ctx == context
    assert state.index >= committed


def test_a_follower_s_read_is_forwarded_and_answered_with_the_leader_s_commit_index() -> None:
    c = leader_cluster()
    assert c.propose(2, b"x")
    c.stabilize()
    context = c.read_index(3)
    c.stabilize()
    (state,) = c.nodes[3].read_states
    assert (state.request_ctx, state.index) == (context, c.raft(1).log.committed)


def test_a_new_leader_answers_reads_only_once_an_entry_of_its_term_is_committed() -> None:
    c = Cluster([1, 2, 3])
    c.filters.append(lambda m: m.type == MT.MsgAppResp)  # the new leader's empty entry cannot commit
    elect(c, 1)
    leader = c.raft(1)
    assert leader.log.term(leader.log.committed) < leader.term
    c.read_index(1)
    c.tick(3)
    assert c.nodes[1].read_states == []
    c.filters.clear()
    c.tick(2)
    (state,) = c.nodes[1].read_states
    assert leader.log.term(state.index) == leader.term  # covers the empty entry of its term


def test_a_single_voter_answers_reads_at_once() -> None:
    c = Cluster([1])
    c.campaign(1)
    c.read_index(1, b"ctx")
    c.stabilize()
    assert [(s.index, s.request_ctx) for s in c.nodes[1].read_states] == [(c.raft(1).log.committed, b"ctx")]


def test_reads_are_refused_without_a_leader() -> None:
    c = Cluster([1, 2, 3])
    for node_id in (1, 2, 3):
        with pytest.raises(ProposalDroppedError):
            c.raw(node_id).read_index(b"ctx")


# -- leader transfer ------------------------------------------------------------------------------------


def test_leadership_transfers_to_an_up_to_date_follower() -> None:
    c = leader_cluster()
    term = c.raft(1).term
    c.raw(1).transfer_leadership(2)
    c.stabilize()
    assert c.stable_leader() == 2
    assert c.raft(2).term == term + 1


def test_leadership_transfer_asked_on_a_follower_is_forwarded_to_the_leader() -> None:
    c = leader_cluster()
    c.raw(3).transfer_leadership(3)
    c.stabilize()
    assert c.stable_leader() == 3


def test_leadership_transfer_catches_a_lagging_transferee_up_first() -> None:
    c = leader_cluster()
    c.filters.append(lambda m: m.to == 3 and m.type == MT.MsgApp)
    for i in range(5):
        assert c.propose(1, b"%d" % i)
    c.stabilize()
    c.filters.clear()
    c.raw(1).transfer_leadership(3)
    c.stabilize()
    assert c.stable_leader() == 3
    assert c.nodes[3].sm.values[-5:] == [b"%d" % i for i in range(5)]


def test_proposals_are_dropped_during_a_transfer_which_is_abandoned_after_an_election_timeout() -> None:
    c = leader_cluster()
    c.isolate(3)
    c.raw(1).transfer_leadership(3)
    c.stabilize()
    with pytest.raises(ProposalDroppedError):
        c.raw(1).propose(b"during the transfer")
    c.heal()
    c.filters.append(lambda m: m.type == MT.MsgTimeoutNow)
    c.tick(10)
    assert c.stable_leader() == 1
    assert c.raw(1).basic_status().lead_transferee == 0
    assert c.propose(1, b"after the transfer was abandoned")


def test_a_transfer_to_a_learner_is_ignored() -> None:
    c = leader_cluster()
    c.add_node(4)
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    c.tick(2)
    c.raw(1).transfer_leadership(4)
    c.stabilize()
    assert c.stable_leader() == 1
    assert c.raw(1).basic_status().lead_transferee == 0


# -- membership -----------------------------------------------------------------------------------------


def test_a_member_is_added_then_removed() -> None:
    c = leader_cluster()
    c.add_node(4)
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_NODE, 4, b"http://node-4"))
    c.tick(3)
    assert {c.nodes[i].conf_state.voters for i in (1, 2, 3, 4)} == {(1, 2, 3, 4)}
    assert c.nodes[4].sm.digest == c.nodes[1].sm.digest  # the newcomer got the whole log
    c.isolate(2)
    c.isolate(3)
    assert c.propose(1, b"needs 3 of 4")
    c.tick(3)
    assert b"needs 3 of 4" not in c.nodes[1].sm.values
    c.heal()
    c.tick(2)
    assert b"needs 3 of 4" in c.nodes[1].sm.values

    assert c.propose_conf_change(1, ConfChange(ConfChangeType.REMOVE_NODE, 2))
    c.tick(2)
    assert {c.nodes[i].conf_state.voters for i in (1, 3, 4)} == {(1, 3, 4)}
    c.crash(2)
    c.isolate(3)
    assert c.propose(1, b"2 of 3 suffice")
    c.tick(2)
    assert b"2 of 3 suffice" in c.nodes[4].sm.values


def test_removing_the_leader_hands_leadership_to_a_remaining_voter() -> None:
    c = leader_cluster()
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.REMOVE_NODE, 1))
    c.stabilize()
    c.tick(2)
    assert c.raft(1).state == Role.FOLLOWER
    new_leader = c.stable_leader()
    assert new_leader in (2, 3)
    assert c.nodes[new_leader].conf_state.voters == (2, 3)
    with pytest.raises(ProposalDroppedError):
        c.raw(1).propose(b"from the removed node")  # it knows no leader any more
    c.tick(30)
    assert c.raft(1).term < c.raft(new_leader).term + 1  # it never campaigns
    assert c.propose(new_leader, b"without 1")
    c.tick(2)
    assert all(b"without 1" in c.nodes[i].sm.values for i in (2, 3))


def test_only_one_configuration_change_may_be_pending() -> None:
    c = leader_cluster()
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    with pytest.raises(ProposalDroppedError, match="pending"):
        c.raw(1).propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 5))
    c.stabilize()  # applied: the next one may go
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 5))


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        pytest.param(
            ConfChange(ConfChangeType.REMOVE_NODE, 1), True, id="removing the last voter is refused"
        ),
        pytest.param(
            ConfChange(ConfChangeType.ADD_LEARNER_NODE, 1), True, id="demoting the last voter is refused"
        ),
        pytest.param(ConfChange(ConfChangeType.ADD_NODE, 0), True, id="node id 0 is refused"),
        pytest.param(ConfChange(ConfChangeType.ADD_NODE, 2), False, id="adding a second voter is accepted"),
    ],
)
def test_configuration_changes_that_would_break_the_cluster_are_refused(
    change: ConfChange, refused: bool
) -> None:
    c = Cluster([1])
    c.campaign(1)
    if refused:
        with pytest.raises(ProposalDroppedError, match="refused"):
            c.raw(1).propose_conf_change(change)
    else:
        c.raw(1).propose_conf_change(change)


def test_a_learner_receives_the_log_but_neither_votes_nor_campaigns() -> None:
    c = leader_cluster()
    c.add_node(4)
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4))
    c.tick(2)
    assert c.nodes[4].conf_state.learners == (4,)
    assert c.nodes[4].sm.digest == c.nodes[1].sm.digest
    assert c.raft(4).is_learner
    c.isolate(4)
    c.tick(50)
    assert c.raft(4).state == Role.FOLLOWER
    assert c.raft(4).term == c.raft(1).term
    c.heal()
    assert c.propose_conf_change(1, ConfChange(ConfChangeType.ADD_NODE, 4))  # promote it
    c.tick(2)
    assert c.nodes[4].conf_state.voters == (1, 2, 3, 4)
    assert not c.raft(4).is_learner


# -- proposals ------------------------------------------------------------------------------------------


def test_proposals_are_dropped_without_a_leader() -> None:
    c = Cluster([1, 2, 3])
    for node_id in (1, 2, 3):
        with pytest.raises(ProposalDroppedError, match="no leader"):
            c.raw(node_id).propose(b"x")


def test_proposals_are_dropped_by_a_candidate() -> None:
    c = Cluster([1, 2, 3], pre_vote=True)
    c.isolate(1)
    c.campaign(1)
    assert c.raft(1).state == Role.PRE_CANDIDATE
    with pytest.raises(ProposalDroppedError):
        c.raw(1).propose(b"x")


def test_followers_forward_proposals_to_the_leader() -> None:
    c = leader_cluster()
    c.trace.clear()
    assert c.propose(3, b"via a follower")
    c.stabilize()
    assert [m.type for m in c.trace][:1] == [MT.MsgProp]
    assert all(b"via a follower" in c.nodes[i].sm.values for i in (1, 2, 3))


def test_followers_drop_proposals_when_forwarding_is_disabled() -> None:
    c = leader_cluster(disable_proposal_forwarding=True)
    with pytest.raises(ProposalDroppedError, match="forwarding"):
        c.raw(2).propose(b"x")


def test_the_leader_drops_proposals_beyond_the_uncommitted_size_limit() -> None:
    c = leader_cluster(max_uncommitted_entries_size=100)
    c.isolate(1)
    c.raw(1).propose(b"x" * 60)
    c.raw(1).propose(b"x" * 30)
    with pytest.raises(ProposalDroppedError, match="uncommitted"):
        c.raw(1).propose(b"x" * 30)
    c.heal()
    c.tick(2)
    c.raw(1).propose(b"x" * 30)  # committed and applied: room again


def test_a_batch_of_proposals_is_appended_and_replicated_together() -> None:
    c = leader_cluster()
    c.trace.clear()
    c.raw(1).propose_batch([b"a", b"b", b"c"])
    c.stabilize()
    apps = [m for m in c.trace if m.type == MT.MsgApp and m.to == 2 and m.entries]
    assert [[e.data for e in m.entries] for m in apps] == [[b"a", b"b", b"c"]]
    assert c.nodes[3].sm.values == [b"a", b"b", b"c"]
