"""etcd_raft.transport.codec: every field of the core's values survives raftpb and back, and the
bytes are those of raftpb messages set field by field (etcd-io/raft's gogoproto layout)."""

from __future__ import annotations

import pytest

from etcd_raft.api.peerpb import peer_pb2
from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft import (
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)
from etcd_raft.transport.codec import (
    CodecError,
    entry_from_pb,
    entry_to_pb,
    hard_state_from_pb,
    hard_state_to_pb,
    message_from_pb,
    message_to_pb,
    snapshot_from_pb,
    snapshot_to_pb,
)
from etcd_raft.transport.peer import SNAPSHOT_CHUNK_BYTES, snapshot_chunks

SNAPSHOT = Snapshot(
    SnapshotMetadata(index=1000, term=7, conf_state=ConfState(voters=(1, 2, 3), learners=(9,))),
    data=bytes(range(256)) * 10,
)


def _wire(message: Message) -> raft_pb2.Message:
    """The message after a trip over the wire."""
    return raft_pb2.Message.FromString(message_to_pb(message).SerializeToString())


@pytest.mark.parametrize(
    "message",
    [
        Message(MessageType.MsgHeartbeat, to=2, from_=1, term=5, commit=17, context=b"read-ctx"),
        Message(
            MessageType.MsgApp,
            to=3,
            from_=1,
            term=(1 << 64) - 1,  # uint64 at its limit
            log_term=4,
            index=99,
            commit=98,
            entries=(
                Entry(term=4, index=100, data=b"put"),
                Entry(term=5, index=101, type=EntryType.CONF_CHANGE, data=b"\x00\x01"),
                Entry(term=5, index=102),  # a new leader's empty entry
            ),
        ),
        Message(MessageType.MsgAppResp, to=1, from_=2, term=5, index=50, reject=True, reject_hint=42),
        Message(MessageType.MsgSnap, to=2, from_=1, term=7, snapshot=SNAPSHOT),
        Message(MessageType.MsgReadIndex, to=1, from_=3, entries=(Entry(0, 0, data=b"ctx"),)),
        Message(
            MessageType.MsgReadIndexResp, to=3, from_=1, term=5, index=77, entries=(Entry(0, 0, data=b"c"),)
        ),
        Message(MessageType.MsgPreVote, to=2, from_=1, term=6, log_term=5, index=10),
        Message(MessageType.MsgTimeoutNow, to=2, from_=1, term=6),
    ],
    ids=lambda message: message.type.name,
)
def test_message_round_trips(message: Message) -> None:
    assert message_from_pb(_wire(message)) == message


def test_every_message_type_round_trips() -> None:
    for kind in MessageType:
        message = Message(kind, to=1, from_=2, term=3)
        assert message_from_pb(_wire(message)) == message


@pytest.mark.parametrize(
    "entry",
    [Entry(1, 2), Entry(3, 4, EntryType.NORMAL, b"x" * 1000), Entry(5, 6, EntryType.CONF_CHANGE, b"cc")],
)
def test_entry_round_trips(entry: Entry) -> None:
    assert entry_from_pb(raft_pb2.Entry.FromString(entry_to_pb(entry).SerializeToString())) == entry


@pytest.mark.parametrize(
    "snapshot", [SNAPSHOT, Snapshot(), Snapshot(SnapshotMetadata(5, 2, ConfState((1,))))]
)
def test_snapshot_round_trips(snapshot: Snapshot) -> None:
    assert (
        snapshot_from_pb(raft_pb2.Snapshot.FromString(snapshot_to_pb(snapshot).SerializeToString()))
        == snapshot
    )


def test_hard_state_round_trips() -> None:
    state = HardState(term=9, vote=3, commit=120)
    assert (
        hard_state_from_pb(raft_pb2.HardState.FromString(hard_state_to_pb(state).SerializeToString()))
        == state
    )
    assert (
        hard_state_to_pb(state).SerializeToString()
        == raft_pb2.HardState(term=9, vote=3, commit=120).SerializeToString()
    )


def test_wire_bytes_match_hand_set_raftpb_fields() -> None:
    message = Message(
        MessageType.MsgApp,
        to=2,
        from_=1,
        term=3,
        log_term=2,
        index=10,
        commit=9,
        entries=(Entry(term=3, index=11, data=b"a"),),
        context=b"c",
    )
    expected = raft_pb2.Message(
        type=raft_pb2.MsgApp,
        to=2,
        term=3,
        logTerm=2,
        index=10,
        entries=[raft_pb2.Entry(Type=raft_pb2.EntryNormal, Term=3, Index=11, Data=b"a")],
        commit=9,
        vote=0,
        reject=False,
        rejectHint=0,
        context=b"c",
    )
    setattr(expected, "from", 1)  # `from` is a Python keyword
    assert message_to_pb(message).SerializeToString() == expected.SerializeToString()
    # And by hand, as etcd-io/raft writes it: (field << 3 | wire type) then the value. Every
    # non-nullable field is present even when zero (reject, rejectHint, vote).
    entry = bytes([0x08, 0, 0x10, 3, 0x18, 11, 0x22, 1]) + b"a"
    assert message_to_pb(message).SerializeToString() == (
        bytes([0x08, 3, 0x10, 2, 0x18, 1, 0x20, 3, 0x28, 2, 0x30, 10])
        + bytes([0x3A, len(entry)])
        + entry
        + bytes([0x40, 9, 0x50, 0, 0x58, 0, 0x62, 1])
        + b"c"
        + bytes([0x68, 0])
    )


def test_unset_nullable_fields_stay_off_the_wire() -> None:
    pb = message_to_pb(Message(MessageType.MsgHeartbeat, to=2, from_=1))
    assert not pb.HasField("snapshot")
    assert not pb.HasField("context")
    assert not entry_to_pb(Entry(1, 1)).HasField("Data")


def test_what_the_core_cannot_represent_is_refused() -> None:
    with pytest.raises(CodecError, match="message type 23"):
        message_from_pb(raft_pb2.Message(type=raft_pb2.MsgForgetLeader))
    with pytest.raises(CodecError, match="entry type 2"):
        entry_from_pb(raft_pb2.Entry(Type=raft_pb2.EntryConfChangeV2))
    joint = raft_pb2.Snapshot(
        metadata=raft_pb2.SnapshotMetadata(conf_state=raft_pb2.ConfState(voters_outgoing=[1]))
    )
    with pytest.raises(CodecError, match="joint"):
        snapshot_from_pb(joint)


def test_snapshot_chunks_carry_the_header_once_and_the_data_in_order() -> None:
    data = bytes(range(256)) * (SNAPSHOT_CHUNK_BYTES // 256) * 2 + b"tail"
    message = Message(MessageType.MsgSnap, to=2, from_=1, term=7, snapshot=Snapshot(SNAPSHOT.metadata, data))
    chunks = list(snapshot_chunks(message))
    assert len(chunks) == 3
    assert all(len(chunk.data) <= SNAPSHOT_CHUNK_BYTES for chunk in chunks)
    assert [chunk.HasField("header") for chunk in chunks] == [True, False, False]
    assert [chunk.last for chunk in chunks] == [False, False, True]
    assert b"".join(chunk.data for chunk in chunks) == data
    header = message_from_pb(chunks[0].header)
    assert header.snapshot == Snapshot(SNAPSHOT.metadata, b"")
    assert header.term == 7 and header.to == 2


def test_an_empty_snapshot_is_one_chunk() -> None:
    message = Message(MessageType.MsgSnap, to=2, from_=1, snapshot=Snapshot(SNAPSHOT.metadata))
    chunks = list(snapshot_chunks(message))
    assert len(chunks) == 1 and chunks[0].last and chunks[0].data == b""
    assert peer_pb2.SnapshotChunk.FromString(chunks[0].SerializeToString()) == chunks[0]
