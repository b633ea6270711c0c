"""How send() cuts one destination's messages into MessageBatches (no network involved)."""

from __future__ import annotations

import pytest

from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft import Entry, Message, MessageType
from etcd_raft.transport import transport
from etcd_raft.transport.codec import message_from_pb, message_to_pb


def _sized(count: int, payload: int) -> list[tuple[raft_pb2.Message, int]]:
    pbs = [
        message_to_pb(
            Message(
                MessageType.MsgApp, to=2, from_=1, index=i, entries=(Entry(1, i + 1, data=b"x" * payload),)
            )
        )
        for i in range(count)
    ]
    return [(pb, pb.ByteSize()) for pb in pbs]


def test_one_batch_when_it_fits() -> None:
    sized = _sized(1000, 10)
    batches = list(transport._split(sized))
    assert len(batches) == 1
    assert [message_from_pb(pb).index for pb in batches[0].messages] == list(range(1000))


def test_split_near_the_size_limit_keeps_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    sized = _sized(10, 100)
    one = sized[0][1]
    monkeypatch.setattr(transport, "BATCH_BYTES", 3 * one)
    batches = list(transport._split(sized))
    assert [len(batch.messages) for batch in batches] == [3, 3, 3, 1]
    assert all(batch.ByteSize() <= 3 * one + 3 * 5 for batch in batches)  # + each message's tag and length
    indexes = [message_from_pb(pb).index for batch in batches for pb in batch.messages]
    assert indexes == list(range(10))
