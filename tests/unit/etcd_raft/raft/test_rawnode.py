"""RawNode: the Ready contract (persist, then send, then apply, then advance), restarts, the API edges."""

from __future__ import annotations

import pytest

from etcd_raft.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfigError,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    Peer,
    RaftError,
    RawNode,
    Ready,
    Role,
    SoftState,
    decode_conf_change,
)

MT = MessageType


def persist(storage: MemoryStorage, rd: Ready) -> None:
    if rd.snapshot is not None:
        storage.apply_snapshot(rd.snapshot)
    storage.append(rd.entries)
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)


def handle(node: RawNode, storage: MemoryStorage) -> list[Ready]:
    """Run the caller's loop until nothing is ready; returns the Readies seen."""
    readies = []
    while node.has_ready():
        rd = node.ready()
        persist(storage, rd)
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                node.apply_conf_change(decode_conf_change(e.data))
        node.advance(rd)
        readies.append(rd)
    return readies


def single_leader() -> tuple[RawNode, MemoryStorage]:
    storage = MemoryStorage()
    node = RawNode(Config(id=1), storage)
    node.bootstrap([Peer(1, b"http://one")])
    handle(node, storage)
    node.campaign()
    handle(node, storage)
    return node, storage


def test_the_first_ready_after_bootstrap_persists_and_applies_the_founding_membership() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=1), storage)
    node.bootstrap([Peer(1, b"http://one"), Peer(2), Peer(3)])
    rd = node.ready()
    assert [decode_conf_change(e.data) for e in rd.entries] == [
        ConfChange(ConfChangeType.ADD_NODE, 1, b"http://one"),
        ConfChange(ConfChangeType.ADD_NODE, 2),
        ConfChange(ConfChangeType.ADD_NODE, 3),
    ]
    assert rd.committed_entries == rd.entries
    assert rd.hard_state == HardState(term=1, vote=0, commit=3)
    assert rd.must_sync
    assert rd.messages == []


def test_bootstrap_needs_peers_and_empty_storage() -> None:
    node, _ = single_leader()
    with pytest.raises(RaftError, match="empty storage"):
        node.bootstrap([Peer(1)])
    with pytest.raises(RaftError, match="at least one peer"):
        RawNode(Config(id=1), MemoryStorage()).bootstrap([])


def test_a_vote_is_in_the_same_ready_as_the_hard_state_that_records_it() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=2, pre_vote=False), storage)
    node.bootstrap([Peer(1), Peer(2), Peer(3)])
    handle(node, storage)
    node.step(Message(MT.MsgVote, 2, 1, term=2, log_term=1, index=3))
    rd = node.ready()
    assert [(m.type, m.reject) for m in rd.messages] == [(MT.MsgVoteResp, False)]
    assert rd.hard_state == HardState(term=2, vote=1, commit=3)  # persist it before sending the vote
    assert rd.must_sync


def test_entries_are_in_the_ready_that_carries_their_acknowledgement() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=2), storage)
    node.bootstrap([Peer(1), Peer(2)])
    handle(node, storage)
    node.step(Message(MT.MsgHeartbeat, 2, 1, term=2, commit=2))
    handle(node, storage)
    entry = Entry(term=2, index=3, data=b"x")
    node.step(Message(MT.MsgApp, 2, 1, term=2, log_term=1, index=2, commit=2, entries=(entry,)))
    rd = node.ready()
    assert rd.entries == [entry]
    assert [(m.type, m.index) for m in rd.messages] == [(MT.MsgAppResp, 3)]  # sent once persisted


def test_ready_twice_without_advance_is_refused() -> None:
    node, _ = single_leader()
    node.propose(b"x")
    node.ready()
    with pytest.raises(RaftError, match="advance"):
        node.ready()


def test_committed_entries_are_handed_out_once_and_nothing_is_ready_after_advance() -> None:
    node, storage = single_leader()
    node.propose(b"x")
    readies = handle(node, storage)
    applied = [e.data for rd in readies for e in rd.committed_entries]
    assert applied == [b"x"]
    assert not node.has_ready()
    assert node.basic_status().applied == storage.last_index()


def test_soft_and_hard_state_are_reported_only_when_they_change() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=1), storage)
    node.bootstrap([Peer(1)])
    handle(node, storage)
    node.campaign()
    rd = node.ready()
    assert rd.soft_state == SoftState(lead=1, role=Role.LEADER)
    assert rd.hard_state is not None and rd.hard_state.term == 2
    persist(storage, rd)
    node.advance(rd)
    node.tick()  # a heartbeat tick of a lone leader changes nothing
    assert not node.has_ready()
    node.propose(b"x")
    rd = node.ready()
    assert rd.soft_state is None
    assert rd.hard_state is not None and rd.hard_state.commit == 3
    assert rd.must_sync  # new entries


def test_a_restart_keeps_term_vote_and_log_but_loses_what_was_not_persisted() -> None:
    node, storage = single_leader()
    node.propose(b"persisted")
    handle(node, storage)
    node.propose(b"lost in the crash")
    node.ready()  # taken, never persisted

    restarted = RawNode(Config(id=1, applied=storage.last_index()), storage)
    status = restarted.basic_status()
    assert status.hard_state == storage.hard_state()
    assert status.soft_state == SoftState(lead=0, role=Role.FOLLOWER)
    assert storage.entries(3, storage.last_index() + 1) == [Entry(term=2, index=3, data=b"persisted")]
    assert not restarted.has_ready()  # its hard state is already on disk
    assert restarted.status().conf_state.voters == (1,)  # replayed from the applied part of the log
    restarted.campaign()
    handle(restarted, storage)
    assert restarted.basic_status().soft_state.role == Role.LEADER
    assert restarted.basic_status().hard_state.term == status.hard_state.term + 1


def test_a_restart_redelivers_committed_entries_after_applied() -> None:
    node, storage = single_leader()
    for data in (b"a", b"b", b"c"):
        node.propose(data)
    handle(node, storage)
    restarted = RawNode(Config(id=1, applied=3), storage)  # `a` was applied before the crash
    rd = restarted.ready()
    assert [e.data for e in rd.committed_entries] == [b"b", b"c"]


@pytest.mark.parametrize(
    "message_type",
    [MT.MsgHup, MT.MsgBeat, MT.MsgUnreachable, MT.MsgSnapStatus, MT.MsgCheckQuorum],
    ids=lambda t: f"{t.name} cannot come from a peer",
)
def test_local_messages_cannot_be_stepped(message_type: MessageType) -> None:
    node, _ = single_leader()
    with pytest.raises(ValueError, match="local"):
        node.step(Message(message_type, 1, 2, term=2))


def test_responses_from_unknown_nodes_are_ignored() -> None:
    node, storage = single_leader()
    handle(node, storage)
    node.step(Message(MT.MsgAppResp, 1, 42, term=2, index=100))
    node.step(Message(MT.MsgHeartbeatResp, 1, 42, term=2))
    assert not node.has_ready()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(Config(id=0), "id", id="id 0 is reserved"),
        pytest.param(Config(id=1, heartbeat_tick=0), "heartbeat_tick", id="heartbeats need ticks"),
        pytest.param(Config(id=1, election_tick=1), "election_tick", id="elections slower than heartbeats"),
        pytest.param(
            Config(id=1, max_inflight_msgs=0), "max_inflight_msgs", id="at least one message in flight"
        ),
        pytest.param(Config(id=1, applied=5), "applied 5", id="applied beyond the commit index"),
    ],
)
def test_invalid_configurations_are_refused(config: Config, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RawNode(config, MemoryStorage())


def test_status_reports_membership_and_the_leader_s_view_of_each_peer() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=1), storage)
    node.bootstrap([Peer(1), Peer(2), Peer(3)])
    handle(node, storage)
    node.campaign()
    handle(node, storage)
    for peer in (2, 3):
        node.step(Message(MT.MsgPreVoteResp, 1, peer, term=2))
    handle(node, storage)
    for peer in (2, 3):
        node.step(Message(MT.MsgVoteResp, 1, peer, term=2))
    handle(node, storage)
    node.step(Message(MT.MsgAppResp, 1, 2, term=2, index=4))
    status = node.status()
    assert status.basic.soft_state == SoftState(lead=1, role=Role.LEADER)
    assert status.conf_state.voters == (1, 2, 3)
    assert {i: (p.match, p.state.name) for i, p in status.progress.items()} == {
        1: (4, "REPLICATE"),
        2: (4, "REPLICATE"),
        3: (0, "PROBE"),
    }


def test_report_unreachable_sends_a_replicating_peer_back_to_probing() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=1, pre_vote=False), storage)
    node.bootstrap([Peer(1), Peer(2)])
    handle(node, storage)
    node.campaign()
    node.step(Message(MT.MsgVoteResp, 1, 2, term=2))
    node.step(Message(MT.MsgAppResp, 1, 2, term=2, index=3))
    assert node.status().progress[2].state.name == "REPLICATE"
    node.report_unreachable(2)
    assert node.status().progress[2].state.name == "PROBE"
    node.report_unreachable(42)  # unknown: ignored
