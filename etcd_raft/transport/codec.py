"""Conversions between the Raft core's values and etcd-io/raft's raftpb messages (pure, no I/O).

Encoding follows etcd-io/raft's gogoproto layout, so the bytes match what a Go member writes: the
fields marked non-nullable there (every scalar of Entry, Message, HardState, SnapshotMetadata) are
always written, even when zero; the nullable ones (Entry.Data, Message.context, Message.snapshot)
only when set. Decoding refuses what the core cannot represent (a message or entry type it does
not know, a joint configuration) with `CodecError` rather than silently dropping part of it.
"""

from __future__ import annotations

from typing import TypeVar, cast

from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft.messages import Message, MessageType
from etcd_raft.raft.types import ConfState, Entry, EntryType, HardState, Snapshot, SnapshotMetadata

_E = TypeVar("_E", MessageType, EntryType)


class CodecError(ValueError):
    """A raftpb message this member cannot turn into the core's values."""


# ---- entries ----


def entry_to_pb(entry: Entry) -> raft_pb2.Entry:
    pb = raft_pb2.Entry(Term=entry.term, Index=entry.index, Type=cast(raft_pb2.EntryType, entry.type.value))
    if entry.data:
        pb.Data = entry.data
    return pb


def entry_from_pb(pb: raft_pb2.Entry) -> Entry:
    return Entry(term=pb.Term, index=pb.Index, type=_enum(EntryType, pb.Type, "entry type"), data=pb.Data)


# ---- snapshots ----


def conf_state_to_pb(conf_state: ConfState) -> raft_pb2.ConfState:
    pb = raft_pb2.ConfState(voters=conf_state.voters, learners=conf_state.learners)
    pb.auto_leave = False  # non-nullable in raftpb: always on the wire
    return pb


def conf_state_from_pb(pb: raft_pb2.ConfState) -> ConfState:
    if pb.voters_outgoing or pb.learners_next or pb.auto_leave:
        raise CodecError("joint configurations (ConfChangeV2) are not supported")
    return ConfState(voters=tuple(pb.voters), learners=tuple(pb.learners))


def snapshot_metadata_to_pb(metadata: SnapshotMetadata) -> raft_pb2.SnapshotMetadata:
    return raft_pb2.SnapshotMetadata(
        conf_state=conf_state_to_pb(metadata.conf_state), index=metadata.index, term=metadata.term
    )


def snapshot_metadata_from_pb(pb: raft_pb2.SnapshotMetadata) -> SnapshotMetadata:
    return SnapshotMetadata(index=pb.index, term=pb.term, conf_state=conf_state_from_pb(pb.conf_state))


def snapshot_to_pb(snapshot: Snapshot) -> raft_pb2.Snapshot:
    pb = raft_pb2.Snapshot(metadata=snapshot_metadata_to_pb(snapshot.metadata))
    if snapshot.data:
        pb.data = snapshot.data
    return pb


def snapshot_from_pb(pb: raft_pb2.Snapshot) -> Snapshot:
    return Snapshot(metadata=snapshot_metadata_from_pb(pb.metadata), data=pb.data)


# ---- hard state ----


def hard_state_to_pb(state: HardState) -> raft_pb2.HardState:
    return raft_pb2.HardState(term=state.term, vote=state.vote, commit=state.commit)


def hard_state_from_pb(pb: raft_pb2.HardState) -> HardState:
    return HardState(term=pb.term, vote=pb.vote, commit=pb.commit)


# ---- messages ----


def message_to_pb(message: Message) -> raft_pb2.Message:
    pb = raft_pb2.Message(
        type=cast(raft_pb2.MessageType, message.type.value),
        to=message.to,
        term=message.term,
        logTerm=message.log_term,
        index=message.index,
        entries=[entry_to_pb(entry) for entry in message.entries],
        commit=message.commit,
        vote=0,  # the core carries no vote in messages; written because raftpb's is non-nullable
        reject=message.reject,
        rejectHint=message.reject_hint,
    )
    setattr(pb, "from", message.from_)  # `from` is a Python keyword
    if message.snapshot is not None:
        pb.snapshot.CopyFrom(snapshot_to_pb(message.snapshot))
    if message.context:
        pb.context = message.context
    return pb


def message_from_pb(pb: raft_pb2.Message) -> Message:
    return Message(
        type=_enum(MessageType, pb.type, "message type"),
        to=pb.to,
        from_=getattr(pb, "from"),
        term=pb.term,
        log_term=pb.logTerm,
        index=pb.index,
        entries=tuple(entry_from_pb(entry) for entry in pb.entries),
        commit=pb.commit,
        snapshot=snapshot_from_pb(pb.snapshot) if pb.HasField("snapshot") else None,
        reject=pb.reject,
        reject_hint=pb.rejectHint,
        context=pb.context,
    )


def _enum(kind: type[_E], value: int, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise CodecError(f"unsupported {what} {value}") from None
