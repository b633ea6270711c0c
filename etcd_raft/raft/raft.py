"""The Raft state machine: roles, elections, replication, commit, reads, membership, transfer.

A faithful port of the behaviour of etcd-io/raft's raft.go (not its code). Pure: `step()` and
`tick()` change state and queue messages in `msgs`; `RawNode` hands those out in a `Ready`. Section
numbers refer to the Raft paper ("In Search of an Understandable Consensus Algorithm") and Ongaro's
thesis.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import Enum
from typing import Final

from etcd_raft.raft.confchange import apply_change, decode_conf_change, refusal
from etcd_raft.raft.config import Config
from etcd_raft.raft.errors import (
    CompactedError,
    ConfigError,
    ProposalDroppedError,
    SnapshotTemporarilyUnavailable,
)
from etcd_raft.raft.log import RaftLog
from etcd_raft.raft.messages import NONE, Message, ReadState, Role, SoftState, vote_response_type
from etcd_raft.raft.messages import MessageType as MT
from etcd_raft.raft.progress import Progress, ProgressState
from etcd_raft.raft.read_only import ReadOnly
from etcd_raft.raft.storage import NO_LIMIT, Storage
from etcd_raft.raft.tracker import ProgressTracker, VoteResult
from etcd_raft.raft.types import ConfChange, ConfState, Entry, EntryType, HardState, Snapshot

# Enum attribute lookups cost ~60ns each on CPython 3.11; the hot paths compare against these.
MsgApp: Final = MT.MsgApp
MsgAppResp: Final = MT.MsgAppResp
MsgBeat: Final = MT.MsgBeat
MsgCheckQuorum: Final = MT.MsgCheckQuorum
MsgHeartbeat: Final = MT.MsgHeartbeat
MsgHeartbeatResp: Final = MT.MsgHeartbeatResp
MsgHup: Final = MT.MsgHup
MsgPreVote: Final = MT.MsgPreVote
MsgPreVoteResp: Final = MT.MsgPreVoteResp
MsgProp: Final = MT.MsgProp
MsgReadIndex: Final = MT.MsgReadIndex
MsgReadIndexResp: Final = MT.MsgReadIndexResp
MsgSnap: Final = MT.MsgSnap
MsgSnapStatus: Final = MT.MsgSnapStatus
MsgTimeoutNow: Final = MT.MsgTimeoutNow
MsgTransferLeader: Final = MT.MsgTransferLeader
MsgUnreachable: Final = MT.MsgUnreachable
MsgVote: Final = MT.MsgVote
MsgVoteResp: Final = MT.MsgVoteResp
CANDIDATE: Final = Role.CANDIDATE
FOLLOWER: Final = Role.FOLLOWER
LEADER: Final = Role.LEADER
PRE_CANDIDATE: Final = Role.PRE_CANDIDATE
PROBE: Final = ProgressState.PROBE
REPLICATE: Final = ProgressState.REPLICATE
SNAPSHOT: Final = ProgressState.SNAPSHOT

CAMPAIGN_TRANSFER: Final = b"CampaignTransfer"
"""The context of a vote request sent on the leader's behalf: it bypasses the leader lease."""


class _Campaign(Enum):
    PRE_ELECTION = "pre"
    ELECTION = "election"
    TRANSFER = "transfer"


class Raft:
    """One node's Raft state. Use it through `RawNode`."""

    def __init__(self, config: Config, storage: Storage) -> None:
        config.validate()
        self.id = config.id
        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.state = FOLLOWER
        self.is_learner = False
        self.log = RaftLog(storage, config.max_committed_size_per_ready)
        self.max_msg_size = config.max_size_per_msg
        self.max_uncommitted_size = config.max_uncommitted_entries_size
        self.uncommitted_size = 0
        self.max_inflight = config.max_inflight_msgs
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.read_only = ReadOnly()
        self.pending_read_index: list[Message] = []  # reads waiting for the leader's first commit
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = config.election_tick
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.disable_proposal_forwarding = config.disable_proposal_forwarding
        self.lead_transferee = NONE
        self.pending_conf_index = 0  # a conf change at an index above `applied` is still pending
        self.campaign_after_apply = False  # a MsgTimeoutNow arrived before a conf change was applied
        self.rng = random.Random(config.id if config.seed is None else config.seed)
        self._step: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election

        hard_state, conf_state = storage.initial_state()
        self.trk = ProgressTracker.from_conf_state(conf_state, self.max_inflight, self.log.last_index())
        self._update_is_learner()
        if not hard_state.is_empty():
            self._load_state(hard_state)
        if config.applied:
            if config.applied > self.log.committed:
                raise ConfigError(f"applied {config.applied} is after the commit index {self.log.committed}")
            self._replay_conf_changes(storage.snapshot().metadata.index, config.applied)
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    def _replay_conf_changes(self, snapshot_index: int, applied: int) -> None:
        """Storage knows the membership as of its snapshot; the changes applied after it will not be
        handed out again, so take them from the log."""
        lo = max(snapshot_index, self.log.first_index() - 1) + 1
        if lo > applied:
            return
        last = self.log.last_index()
        for e in self.log.slice(lo, applied + 1):
            if e.type == EntryType.CONF_CHANGE:
                apply_change(self.trk, decode_conf_change(e.data), last)
        self._update_is_learner()

    def __repr__(self) -> str:
        return f"Raft(id={self.id} {self.state.name} term={self.term} lead={self.lead} {self.log!r})"

    # -- state reported to the caller -----------------------------------------------------------------

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.state)

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _load_state(self, hs: HardState) -> None:
        if hs.commit < self.log.committed or hs.commit > self.log.last_index():
            raise ConfigError(
                f"hard state commit {hs.commit} is outside [{self.log.committed}, {self.log.last_index()}]"
            )
        self.log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    # -- sending --------------------------------------------------------------------------------------

    def _send_append(self, to: int, send_if_empty: bool = True) -> bool:
        """Send `to` the entries it lacks (or a snapshot if they were compacted). Returns whether a
        message was sent."""
        pr = self.trk.progress[to]
        if pr.is_paused():
            return False
        log = self.log
        prev = pr.next - 1
        try:
            prev_term = log.term(prev)
            entries = log.entries(pr.next, self.max_msg_size)
        except CompactedError:
            return self._send_snapshot(to)
        if not entries and not send_if_empty:
            return False
        if entries:
            if pr.state == REPLICATE:
                last = entries[-1].index
                pr.optimistic_update(last)
                pr.inflights.add(last)
            elif pr.state == PROBE:
                pr.probe_sent = True
        self.msgs.append(
            Message(
                MsgApp,
                to,
                self.id,
                self.term,
                log_term=prev_term,
                index=prev,
                entries=tuple(entries),
                commit=log.committed,
            )
        )
        return True

    def _send_snapshot(self, to: int) -> bool:
        pr = self.trk.progress[to]
        if not pr.recent_active:
            return False  # do not ship a snapshot to a peer that may be down
        try:
            snapshot = self.log.snapshot()
        except SnapshotTemporarilyUnavailable:
            return False
        if snapshot.is_empty():
            raise AssertionError("entries are compacted but there is no snapshot")
        pr.become_snapshot(snapshot.metadata.index)
        self.msgs.append(Message(MsgSnap, to, self.id, self.term, snapshot=snapshot))
        return True

    def _send_heartbeat(self, to: int, context: bytes) -> None:
        # Never tell a follower to commit past what it is known to have: it may not have those entries.
        commit = min(self.trk.progress[to].match, self.log.committed)
        self.msgs.append(Message(MsgHeartbeat, to, self.id, self.term, commit=commit, context=context))

    def _bcast_append(self) -> None:
        for peer in self.trk.progress:
            if peer != self.id:
                self._send_append(peer)

    def _bcast_heartbeat(self, context: bytes | None = None) -> None:
        if context is None:
            context = self.read_only.last_pending_context()
        for peer in self.trk.progress:
            if peer != self.id:
                self._send_heartbeat(peer, context)

    def _send_timeout_now(self, to: int) -> None:
        self.msgs.append(Message(MsgTimeoutNow, to, self.id, self.term))

    # -- commit and append ----------------------------------------------------------------------------

    def maybe_commit(self) -> bool:
        return self.log.maybe_commit(self.trk.committed(), self.term)

    def _append_entries(self, proposed: Sequence[Entry]) -> bool:
        last = self.log.last_index()
        term = self.term
        entries = [Entry(term, last + i, e.type, e.data) for i, e in enumerate(proposed, start=1)]
        if not self._increase_uncommitted_size(entries):
            return False
        last = self.log.append(entries)
        self.trk.progress[self.id].maybe_update(last)
        # A single voter commits on its own; with peers this is a no-op until they acknowledge.
        self.maybe_commit()
        return True

    def _increase_uncommitted_size(self, entries: Sequence[Entry]) -> bool:
        if self.max_uncommitted_size >= NO_LIMIT:
            return True
        size = sum(len(e.data) for e in entries)
        # Always accept something when nothing is uncommitted, so a large entry cannot be stuck.
        if (
            self.uncommitted_size > 0
            and size > 0
            and self.uncommitted_size + size > self.max_uncommitted_size
        ):
            return False
        self.uncommitted_size += size
        return True

    def reduce_uncommitted_size(self, entries: Sequence[Entry]) -> None:
        if self.uncommitted_size == 0:
            return  # followers, and leaders without a limit, do not track it
        size = sum(len(e.data) for e in entries)
        self.uncommitted_size = max(0, self.uncommitted_size - size)

    # -- roles ----------------------------------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(self.election_timeout)
        self.lead_transferee = NONE
        self.trk.reset_votes()
        last = self.log.last_index()
        progress = self.trk.progress
        for node_id, pr in progress.items():
            fresh = Progress(last + 1, self.max_inflight, is_learner=pr.is_learner)
            if node_id == self.id:
                fresh.match = last
            progress[node_id] = fresh
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index = []
        self.campaign_after_apply = False

    def become_follower(self, term: int, lead: int) -> None:
        self._step = self._step_follower
        self._reset(term)
        self._tick = self._tick_election
        self.lead = lead
        self.state = FOLLOWER

    def _become_candidate(self) -> None:
        if self.state == LEADER:
            raise AssertionError("a leader cannot become a candidate")
        self._step = self._step_candidate
        self._reset(self.term + 1)
        self._tick = self._tick_election
        self.vote = self.id
        self.state = CANDIDATE

    def _become_pre_candidate(self) -> None:
        if self.state == LEADER:
            raise AssertionError("a leader cannot become a pre-candidate")
        # Neither the term nor the vote change: a pre-candidate only asks whether it could win.
        self._step = self._step_candidate
        self.trk.reset_votes()
        self._tick = self._tick_election
        self.lead = NONE
        self.state = PRE_CANDIDATE

    def _become_leader(self) -> None:
        if self.state == FOLLOWER:
            raise AssertionError("a follower cannot become the leader without an election")
        self._step = self._step_leader
        self._reset(self.term)
        self._tick = self._tick_heartbeat
        self.lead = self.id
        self.state = LEADER
        pr = self.trk.progress[self.id]
        pr.become_replicate()
        pr.recent_active = True
        # Conf changes in the log we inherited may not be applied yet: no new one until they are.
        self.pending_conf_index = self.log.last_index()
        # An entry of our own term lets us commit everything before it (§5.4.2) and serve reads (§8).
        if not self._append_entries([Entry(0, 0)]):
            raise AssertionError("the empty entry of a new leader was refused")

    # -- ticks ----------------------------------------------------------------------------------------

    def tick(self) -> None:
        self._tick()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout and self._promotable():
            self.election_elapsed = 0
            self.step(Message(MsgHup, from_=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(MsgCheckQuorum, from_=self.id))
            # A transfer that did not finish within an election timeout is abandoned.
            if self.state == LEADER and self.lead_transferee != NONE:
                self.lead_transferee = NONE
        if self.state != LEADER:
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(MsgBeat, from_=self.id))

    # -- elections ------------------------------------------------------------------------------------

    def _promotable(self) -> bool:
        pr = self.trk.progress.get(self.id)
        return pr is not None and not pr.is_learner and not self.log.has_pending_snapshot()

    def _hup(self, kind: _Campaign) -> None:
        if self.state == LEADER or not self._promotable():
            return
        # A committed but unapplied conf change could change who votes: wait until it is applied.
        lo = max(self.log.applied + 1, self.log.first_index())
        if self.log.committed >= lo:
            pending = self.log.slice(lo, self.log.committed + 1)
            if any(e.type == EntryType.CONF_CHANGE for e in pending):
                # A leader removing itself sends MsgTimeoutNow together with the commit of that very
                # change: take over once it is applied rather than ignore the hand-off.
                if kind == _Campaign.TRANSFER:
                    self.campaign_after_apply = True
                return
        self._campaign(kind)

    def applied_to(self, index: int) -> None:
        self.log.applied_to(index)
        if self.campaign_after_apply:
            self.campaign_after_apply = False
            if self.state == FOLLOWER:
                self._hup(_Campaign.TRANSFER)

    def _campaign(self, kind: _Campaign) -> None:
        if kind == _Campaign.PRE_ELECTION:
            self._become_pre_candidate()
            vote_type = MsgPreVote
            term = self.term + 1  # the term we would campaign in; ours stays until we win the pre-vote
        else:
            self._become_candidate()
            vote_type = MsgVote
            term = self.term
        if self._poll(self.id, True) == VoteResult.WON:
            # A single voter wins at once.
            if kind == _Campaign.PRE_ELECTION:
                self._campaign(_Campaign.ELECTION)
            else:
                self._become_leader()
            return
        context = CAMPAIGN_TRANSFER if kind == _Campaign.TRANSFER else b""
        last_index, last_term = self.log.last_index(), self.log.last_term()
        for voter in sorted(self.trk.voters):
            if voter != self.id:
                self.msgs.append(
                    Message(
                        vote_type, voter, self.id, term, log_term=last_term, index=last_index, context=context
                    )
                )

    def _poll(self, node_id: int, granted: bool) -> VoteResult:
        self.trk.record_vote(node_id, granted)
        return self.trk.tally_votes()[2]

    # -- step -----------------------------------------------------------------------------------------

    def step(self, m: Message) -> None:
        """Process one message. Raises ProposalDroppedError for a proposal or read this node cannot
        take; every other outcome is a state change and queued messages."""
        if m.term == 0:
            pass  # local message, or a proposal/read in transit
        elif m.term > self.term:
            if m.type in (MsgVote, MsgPreVote):
                forced = m.context == CAMPAIGN_TRANSFER
                in_lease = (
                    self.check_quorum and self.lead != NONE and self.election_elapsed < self.election_timeout
                )
                if in_lease and not forced:
                    # We heard from a leader within the minimum election timeout: this candidate is
                    # probably partitioned or removed and must not disrupt us (thesis §4.2.3).
                    return
            if m.type == MsgPreVote:
                pass  # never change our term for a pre-vote
            elif m.type == MsgPreVoteResp and not m.reject:
                pass  # the term is the one we would campaign in; it is raised when we win
            elif m.type in (MsgApp, MsgHeartbeat, MsgSnap):
                self.become_follower(m.term, m.from_)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (MsgHeartbeat, MsgApp):
                # A stale leader: with check-quorum or pre-vote this node may never raise its term past
                # ours by itself, so tell it ours (any response with a higher term deposes it).
                self.msgs.append(Message(MsgAppResp, m.from_, self.id, self.term))
            elif m.type == MsgPreVote:
                # Reject with our term so the pre-candidate learns it is behind.
                self.msgs.append(Message(MsgPreVoteResp, m.from_, self.id, self.term, reject=True))
            return

        if m.type == MsgHup:
            self._hup(_Campaign.PRE_ELECTION if self.pre_vote else _Campaign.ELECTION)
        elif m.type in (MsgVote, MsgPreVote):
            can_vote = (
                self.vote == m.from_  # a repeated request
                or (self.vote == NONE and self.lead == NONE)  # not voted and no leader in this term
                or (m.type == MsgPreVote and m.term > self.term)  # a pre-vote for a future term
            )
            if can_vote and self.log.is_up_to_date(m.index, m.log_term):
                # Answer in the candidate's term: a pre-candidate must be able to count it.
                self.msgs.append(Message(vote_response_type(m.type), m.from_, self.id, m.term))
                if m.type == MsgVote:
                    self.election_elapsed = 0
                    self.vote = m.from_
            else:
                self.msgs.append(
                    Message(vote_response_type(m.type), m.from_, self.id, self.term, reject=True)
                )
        else:
            self._step(m)

    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MsgBeat:
            # Once per heartbeat interval a peer that stopped answering may be sent one more MsgApp
            # (a probe, or a slot of a full window). Doing it per heartbeat *response* instead lets
            # a burst of responses (a link that held them through a partition) each send a full
            # MsgApp, hundreds of megabytes in one Ready (newer etcd-io/raft paces probes this way).
            for peer_id, peer_progress in self.trk.progress.items():
                if peer_id != self.id:
                    peer_progress.probe_sent = False
                    if peer_progress.state == REPLICATE and peer_progress.inflights.full():
                        peer_progress.inflights.free_first_one()
            self._bcast_heartbeat()
            return
        if t == MsgCheckQuorum:
            me = self.trk.progress.get(self.id)
            if me is not None:
                me.recent_active = True
            if not self.trk.quorum_active():
                self.become_follower(self.term, NONE)  # §6.2: a leader cut off from a quorum steps down
            for node_id, peer in self.trk.progress.items():
                if node_id != self.id:
                    peer.recent_active = False
            return
        if t == MsgProp:
            self._propose(m)
            return
        if t == MsgReadIndex:
            if self.trk.is_singleton() and self.id in self.trk.voters:
                self._answer_read(m, self.log.committed)
            elif not self._committed_entry_in_current_term():
                # Our commit index may lag the true one until our own first entry commits (§8).
                self.pending_read_index.append(m)
            else:
                self._start_read(m)
            return

        pr = self.trk.progress.get(m.from_)
        if pr is None:
            return
        if t == MsgAppResp:
            pr.recent_active = True
            if m.reject:
                self._handle_append_rejection(m)
            else:
                self._handle_append_success(m)
        elif t == MsgHeartbeatResp:
            pr.recent_active = True
            if pr.match < self.log.last_index():  # sends only if MsgBeat unpaused the peer
                self._send_append(m.from_)
            if not m.context:
                return
            acks = self.read_only.recv_ack(m.from_, m.context)
            if acks is None or not self.trk.has_quorum(acks):
                return
            for status in self.read_only.advance(m.context):
                self._answer_read(status.request, status.index)
        elif t == MsgSnapStatus:
            if pr.state != SNAPSHOT:
                return
            if m.reject:
                pr.pending_snapshot = 0
            pr.become_probe()
            # Success: wait for the peer's MsgAppResp; failure: retry after the next heartbeat.
            pr.probe_sent = True
        elif t == MsgUnreachable:
            # An optimistic MsgApp was probably lost: fall back to probing.
            if pr.state == REPLICATE:
                pr.become_probe()
        elif t == MsgTransferLeader:
            self._handle_transfer_leader(m, pr.is_learner, pr.match)

    def _propose(self, m: Message) -> None:
        if not m.entries:
            raise AssertionError("a proposal without entries")
        if self.id not in self.trk.progress:
            raise ProposalDroppedError("this node was removed from the cluster")
        if self.lead_transferee != NONE:
            raise ProposalDroppedError(f"leadership is being transferred to {self.lead_transferee}")
        entries = m.entries
        for i, e in enumerate(entries):
            if e.type != EntryType.CONF_CHANGE:
                continue
            reason: str | None
            if self.pending_conf_index > self.log.applied:
                reason = "a configuration change is pending"
            else:
                try:
                    reason = refusal(self.trk, decode_conf_change(e.data))
                except ValueError as err:
                    reason = str(err)
            if reason is None:
                self.pending_conf_index = self.log.last_index() + i + 1
            elif m.from_ == self.id:
                raise ProposalDroppedError(f"configuration change refused: {reason}")
            else:
                # Forwarded in a batch: keep the other entries, neutralize this one.
                entries = (*entries[:i], Entry(0, 0), *entries[i + 1 :])
        if not self._append_entries(entries):
            raise ProposalDroppedError("too many uncommitted entries")
        self._bcast_append()

    def _handle_append_rejection(self, m: Message) -> None:
        pr = self.trk.progress[m.from_]
        # The follower's hint is its last index at or below m.index; with its term we can skip past
        # all our entries of later terms at once (the "fast backtracking" of §5.3).
        next_probe = m.reject_hint
        if m.log_term > 0:
            next_probe = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, next_probe):
            if pr.state == REPLICATE:
                pr.become_probe()
            self._send_append(m.from_)

    def _handle_append_success(self, m: Message) -> None:
        peer = m.from_
        pr = self.trk.progress[peer]
        was_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT and pr.match + 1 >= self.log.first_index():
            # The snapshot (or any later append) made the peer reachable by MsgApp again.
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == REPLICATE:
            pr.inflights.free_le(m.index)
        if self.maybe_commit():
            self._release_pending_reads()
            self._bcast_append()
        elif was_paused:
            self._send_append(peer)  # it may be missing the latest commit index
        # Flow control may have opened up: send as much as the window allows, without empty messages.
        while self._send_append(peer, send_if_empty=False):
            pass
        if peer == self.lead_transferee and pr.match == self.log.last_index():
            self._send_timeout_now(peer)

    def _handle_transfer_leader(self, m: Message, is_learner: bool, match: int) -> None:
        transferee = m.from_
        if is_learner or transferee == self.id:
            return
        if self.lead_transferee != NONE:
            if self.lead_transferee == transferee:
                return  # already in progress
            self.lead_transferee = NONE  # abort the previous one, start this
        # The transfer must finish within an election timeout (see _tick_heartbeat).
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if match == self.log.last_index():
            self._send_timeout_now(transferee)
        else:
            self._send_append(transferee)  # catch it up first; its MsgAppResp sends MsgTimeoutNow

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        if t in (MsgProp, MsgReadIndex):
            raise ProposalDroppedError("no leader: an election is in progress")
        if t == MsgApp:
            self.become_follower(m.term, m.from_)  # m.term == our term: someone else won
            self._handle_append_entries(m)
        elif t == MsgHeartbeat:
            self.become_follower(m.term, m.from_)
            self._handle_heartbeat(m)
        elif t == MsgSnap:
            self.become_follower(m.term, m.from_)
            self._handle_snapshot(m)
        elif t == (MsgPreVoteResp if self.state == PRE_CANDIDATE else MsgVoteResp):
            result = self._poll(m.from_, not m.reject)
            if result == VoteResult.WON:
                if self.state == PRE_CANDIDATE:
                    self._campaign(_Campaign.ELECTION)
                else:
                    self._become_leader()
                    self._bcast_append()
            elif result == VoteResult.LOST:
                # A pre-vote answer carries the future term; ours is still the current one.
                self.become_follower(self.term, NONE)

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MsgProp:
            if self.lead == NONE:
                raise ProposalDroppedError("no leader")
            if self.disable_proposal_forwarding:
                raise ProposalDroppedError("proposal forwarding is disabled")
            self.msgs.append(replace(m, to=self.lead))
        elif t == MsgApp:
            self.election_elapsed = 0
            self.lead = m.from_
            self._handle_append_entries(m)
        elif t == MsgHeartbeat:
            self.election_elapsed = 0
            self.lead = m.from_
            self._handle_heartbeat(m)
        elif t == MsgSnap:
            self.election_elapsed = 0
            self.lead = m.from_
            self._handle_snapshot(m)
        elif t == MsgTransferLeader:
            if self.lead != NONE:
                self.msgs.append(replace(m, to=self.lead, term=self.term))
        elif t == MsgTimeoutNow:
            # The leader asks us to take over: campaign at once, without pre-vote, past the lease.
            self._hup(_Campaign.TRANSFER)
        elif t == MsgReadIndex:
            if self.lead == NONE:
                raise ProposalDroppedError("no leader to serve the read")
            self.msgs.append(replace(m, to=self.lead))
        elif t == MsgReadIndexResp:
            self.read_states.append(ReadState(m.index, m.context))

    # -- follower handlers ----------------------------------------------------------------------------

    def _handle_append_entries(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            # Already committed here: tell the leader how far we are.
            self.msgs.append(Message(MsgAppResp, m.from_, self.id, self.term, index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.msgs.append(Message(MsgAppResp, m.from_, self.id, self.term, index=last_new))
            return
        # Our log does not have (m.index, m.log_term). Hint at the largest index where the logs could
        # agree: not past our end, and not in a term later than the leader's entry there.
        hint = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
        self.msgs.append(
            Message(
                MsgAppResp,
                m.from_,
                self.id,
                self.term,
                index=m.index,
                reject=True,
                reject_hint=hint,
                log_term=log.term_or_zero(hint),
            )
        )

    def _handle_heartbeat(self, m: Message) -> None:
        self.log.commit_to(m.commit)
        self.msgs.append(Message(MsgHeartbeatResp, m.from_, self.id, self.term, context=m.context))

    def _handle_snapshot(self, m: Message) -> None:
        if m.snapshot is not None and self._restore(m.snapshot):
            index = self.log.last_index()
        else:
            index = self.log.committed
        self.msgs.append(Message(MsgAppResp, m.from_, self.id, self.term, index=index))

    def _restore(self, snapshot: Snapshot) -> bool:
        """Replace our log with `snapshot` if it is ahead of our commit index."""
        meta = snapshot.metadata
        if meta.index <= self.log.committed:
            return False
        if self.state != FOLLOWER:
            # Defense in depth: only a follower may take a snapshot. Never expected to happen; moving
            # to a new term keeps a confused leader from doing harm.
            self.become_follower(self.term + 1, NONE)
            return False
        if self.log.match_term(meta.index, meta.term):
            # We have the snapshot's last entry, hence the whole prefix: just commit it.
            self.log.commit_to(meta.index)
            return False
        self.log.restore(snapshot)
        # Unlike etcd-io/raft we accept a snapshot whose membership lacks us (a new member may be sent a
        # snapshot taken before the change that added it): the log after it adds us.
        self.trk = ProgressTracker.from_conf_state(meta.conf_state, self.max_inflight, self.log.last_index())
        self._update_is_learner()
        pr = self.trk.progress.get(self.id)
        if pr is not None:
            pr.maybe_update(pr.next - 1)
        return True

    # -- reads ----------------------------------------------------------------------------------------

    def _committed_entry_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    def _start_read(self, m: Message) -> None:
        self.read_only.add_request(self.log.committed, m)
        self.read_only.recv_ack(self.id, m.context)  # the leader acknowledges itself
        self._bcast_heartbeat(m.context)

    def _release_pending_reads(self) -> None:
        if not self.pending_read_index or not self._committed_entry_in_current_term():
            return
        pending, self.pending_read_index = self.pending_read_index, []
        for m in pending:
            self._start_read(m)

    def _answer_read(self, request: Message, index: int) -> None:
        if request.from_ in (NONE, self.id):
            self.read_states.append(ReadState(index, request.context))
        else:
            self.msgs.append(
                Message(
                    MsgReadIndexResp,
                    request.from_,
                    self.id,
                    self.term,
                    index=index,
                    context=request.context,
                )
            )

    # -- membership -----------------------------------------------------------------------------------

    def _update_is_learner(self) -> None:
        pr = self.trk.progress.get(self.id)
        self.is_learner = pr is not None and pr.is_learner

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        apply_change(self.trk, cc, self.log.last_index())
        self._update_is_learner()
        conf_state = self.trk.conf_state()
        if self.state != LEADER:
            return conf_state
        if self.id not in self.trk.voters:
            # Removed or demoted: hand over to the most up-to-date voter so the cluster need not wait
            # out an election timeout, then step down (etcd's StepDownOnRemoval).
            best = max(self.trk.voters, key=lambda v: (self.trk.progress[v].match, -v), default=NONE)
            if best != NONE:
                self._send_timeout_now(best)
            self.become_follower(self.term, NONE)
            return conf_state
        if not self.trk.voters:
            return conf_state
        if self.maybe_commit():
            # Fewer voters can mean a smaller quorum, hence more committed.
            self._release_pending_reads()
            self._bcast_append()
        else:
            for peer in self.trk.progress:
                if peer != self.id:
                    self._send_append(peer, send_if_empty=False)  # probe newcomers right away
        if self.lead_transferee != NONE and self.lead_transferee not in self.trk.voters:
            self.lead_transferee = NONE
        return conf_state
