"""`Config`: how one Raft node behaves (timeouts in ticks, flow control, election options)."""

from __future__ import annotations

from dataclasses import dataclass

from etcd_raft.raft.errors import ConfigError
from etcd_raft.raft.messages import NONE
from etcd_raft.raft.storage import NO_LIMIT


@dataclass(slots=True)
class Config:
    """How one Raft node behaves. Times are in ticks: the caller decides how long a tick is."""

    id: int
    """This node's id; never 0."""
    election_tick: int = 10
    """A follower that hears from no leader for a randomized [election_tick, 2*election_tick) ticks
    campaigns. Should be about ten heartbeats."""
    heartbeat_tick: int = 1
    """The leader sends heartbeats every `heartbeat_tick` ticks."""
    applied: int = 0
    """When restarting: the last index the state machine has applied. Committed entries up to it are
    not handed out again (the membership changes among them are replayed from the log); 0 hands out
    everything after the storage's first index."""
    max_size_per_msg: int = 1024 * 1024
    """Bytes of entries in one MsgApp (at least one entry is always sent)."""
    max_committed_size_per_ready: int = NO_LIMIT
    """Bytes of committed entries in one Ready."""
    max_uncommitted_entries_size: int = NO_LIMIT
    """Bytes of entry data the leader lets be uncommitted before dropping proposals (back-pressure)."""
    max_inflight_msgs: int = 256
    """MsgApps in flight to one follower during optimistic replication."""
    check_quorum: bool = True
    """The leader steps down when it has not heard from a quorum for an election timeout, and a
    follower that has a leader ignores vote requests until its election timeout passes (leader lease).
    etcd enables it; so do we."""
    pre_vote: bool = True
    """Campaign in two phases (thesis §9.6): ask whether we could win before raising the term, so a
    node rejoining after a partition does not disrupt the cluster."""
    disable_proposal_forwarding: bool = False
    """Followers drop proposals instead of forwarding them to the leader."""
    seed: int | None = None
    """Seeds the randomized election timeout; defaults to `id`. No global randomness is used."""

    def validate(self) -> None:
        if self.id == NONE:
            raise ConfigError("id must not be 0")
        if self.heartbeat_tick <= 0:
            raise ConfigError("heartbeat_tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ConfigError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ConfigError("max_inflight_msgs must be greater than 0")
        if self.applied < 0:
            raise ConfigError("applied must not be negative")
