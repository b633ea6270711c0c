"""The messages Raft nodes exchange, and the small values the core reports (roles, read states).

`Message` mirrors raftpb.Message field for field (`from_` is raftpb's `From`) so the peer transport
can map it onto the protobuf layout one to one; it is plain data, the core never serializes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from etcd_raft.raft.types import Entry, Snapshot

NONE: Final = 0
"""The node id meaning "nobody": no leader known, no vote cast."""


class MessageType(IntEnum):
    """raftpb.MessageType, with raftpb's names and numbers."""

    MsgHup = 0  # local: start an election
    MsgBeat = 1  # local: the leader should send heartbeats
    MsgProp = 2  # a proposal (local, or forwarded by a follower)
    MsgApp = 3
    MsgAppResp = 4
    MsgVote = 5
    MsgVoteResp = 6
    MsgSnap = 7
    MsgHeartbeat = 8
    MsgHeartbeatResp = 9
    MsgUnreachable = 10  # local: the transport could not reach a peer
    MsgSnapStatus = 11  # local: the transport finished (or failed) sending a snapshot
    MsgCheckQuorum = 12  # local: the leader checks it still has a quorum of recent contact
    MsgTransferLeader = 13
    MsgTimeoutNow = 14
    MsgReadIndex = 15
    MsgReadIndexResp = 16
    MsgPreVote = 17
    MsgPreVoteResp = 18


LOCAL_MESSAGES: Final = frozenset(
    {
        MessageType.MsgHup,
        MessageType.MsgBeat,
        MessageType.MsgUnreachable,
        MessageType.MsgSnapStatus,
        MessageType.MsgCheckQuorum,
    }
)
RESPONSE_MESSAGES: Final = frozenset(
    {
        MessageType.MsgAppResp,
        MessageType.MsgVoteResp,
        MessageType.MsgHeartbeatResp,
        MessageType.MsgUnreachable,
        MessageType.MsgPreVoteResp,
    }
)


def vote_response_type(vote: MessageType) -> MessageType:
    return MessageType.MsgVoteResp if vote == MessageType.MsgVote else MessageType.MsgPreVoteResp


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message. `term` is 0 for local messages and for proposals and reads in transit."""

    type: MessageType
    to: int = NONE
    from_: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


class Role(IntEnum):
    """raft.StateType: the role a node plays in its current term."""

    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting (not persisted): who leads, and this node's role."""

    lead: int = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ReadState:
    """The answer to `read_index(context)`: reads are linearizable once `index` has been applied."""

    index: int
    request_ctx: bytes
