"""RaftPeerServicer on its own: what it hands the member from batches and snapshot chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn, TypeVar

import grpc
import pytest

from etcd_raft.api.peerpb import peer_pb2
from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft import ConfState, Message, MessageType, Snapshot, SnapshotMetadata
from etcd_raft.transport import RaftPeerServicer
from etcd_raft.transport.codec import message_to_pb
from etcd_raft.transport.peer import SNAPSHOT_CHUNK_BYTES, snapshot_chunks

T = TypeVar("T")


class Aborted(Exception):
    pass


class Context:
    """What the handlers use of grpc.aio.ServicerContext."""

    async def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise Aborted(code, details)


async def _stream(items: Iterable[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


def _context() -> Any:
    return Context()


def _heartbeat(to: int, commit: int) -> raft_pb2.Message:
    return message_to_pb(Message(MessageType.MsgHeartbeat, to=to, from_=2, term=1, commit=commit))


async def test_send_delivers_in_order_and_drops_what_is_not_for_this_member() -> None:
    received: list[Message] = []
    servicer = RaftPeerServicer(1, received.append)
    unknown = raft_pb2.Message(type=raft_pb2.MsgForgetLeader, to=1)  # newer than this member
    batches = [
        peer_pb2.MessageBatch(messages=[_heartbeat(1, 1), _heartbeat(3, 2), unknown, _heartbeat(1, 3)]),
        peer_pb2.MessageBatch(messages=[_heartbeat(1, 4)]),
    ]
    assert await servicer.Send(_stream(batches), _context()) == peer_pb2.SendResponse()
    assert [m.commit for m in received] == [1, 3, 4]


SNAP = Message(
    MessageType.MsgSnap,
    to=1,
    from_=2,
    term=4,
    snapshot=Snapshot(
        SnapshotMetadata(30, 4, ConfState((1, 2))), b"0123456789" * (SNAPSHOT_CHUNK_BYTES // 4)
    ),
)


async def test_snapshot_chunks_are_reassembled() -> None:
    received: list[Message] = []
    await RaftPeerServicer(1, received.append).Snapshot(_stream(snapshot_chunks(SNAP)), _context())
    assert received == [SNAP]


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        (list(snapshot_chunks(SNAP))[:-1], "before its last chunk"),
        (list(snapshot_chunks(SNAP))[1:], "no header"),
        (list(snapshot_chunks(Message(MessageType.MsgSnap, to=7, snapshot=Snapshot()))), "not a MsgSnap for"),
    ],
    ids=["truncated", "headless", "another-member"],
)
async def test_broken_snapshot_streams_are_refused(chunks: list[peer_pb2.SnapshotChunk], error: str) -> None:
    received: list[Message] = []
    with pytest.raises(Aborted, match=error):
        await RaftPeerServicer(1, received.append).Snapshot(_stream(chunks), _context())
    assert received == []
