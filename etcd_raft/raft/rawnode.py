"""`RawNode`: the Raft core's whole interface. Feed it ticks and messages, take `Ready` batches.

The caller's loop, one node, one thread (or event loop):

    node.tick()                       # every tick interval
    node.step(message)                # for every message from a peer
    node.propose(data)                # for every client write
    if node.has_ready():
        rd = node.ready()
        # 1. Persist, durably: rd.snapshot (if any), then rd.entries, then rd.hard_state (if any).
        #    rd.entries may start before the end of the stored log: they replace the stored tail.
        # 2. Only now send rd.messages: a vote or an acknowledgement must never be sent before the
        #    state it promises is on disk (etcd-io/raft's rule when storage writes are synchronous).
        # 3. Apply rd.committed_entries to the state machine, in order; for CONF_CHANGE entries call
        #    apply_conf_change(decode_conf_change(entry.data)). If rd.snapshot is set, restore the
        #    state machine from it first.
        # 4. node.advance(rd)

Restarting: build the MemoryStorage from what was persisted (snapshot, entries, hard state) and pass
`Config(applied=...)` the index the state machine restarts from; committed entries after it are handed
out again. Proposals and reads can be lost without an error (a leader change): the caller matches
applied entries and read states to its requests and retries on a timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from etcd_raft.raft.confchange import encode_conf_change
from etcd_raft.raft.config import Config
from etcd_raft.raft.errors import ProposalDroppedError, RaftError
from etcd_raft.raft.messages import (
    LOCAL_MESSAGES,
    NONE,
    RESPONSE_MESSAGES,
    Message,
    ReadState,
    Role,
    SoftState,
)
from etcd_raft.raft.messages import MessageType as MT
from etcd_raft.raft.progress import ProgressState
from etcd_raft.raft.raft import Raft
from etcd_raft.raft.storage import Storage
from etcd_raft.raft.types import (
    EMPTY_HARD_STATE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Snapshot,
)


@dataclass(slots=True)
class Ready:
    """Everything the caller must do, in the order of the module docstring."""

    soft_state: SoftState | None = None
    """The leader or this node's role changed (not persisted)."""
    hard_state: HardState | None = None
    """Term, vote or commit changed: persist before sending `messages`."""
    read_states: list[ReadState] = field(default_factory=list)
    """Answers to `read_index()`: serve each read once `index` is applied."""
    entries: list[Entry] = field(default_factory=list)
    """Entries to persist before sending `messages`."""
    snapshot: Snapshot | None = None
    """A snapshot from the leader to persist (and restore the state machine from)."""
    committed_entries: list[Entry] = field(default_factory=list)
    """Entries to apply, in order (after persisting: some may be in `entries`)."""
    messages: list[Message] = field(default_factory=list)
    """Messages to send once the above is persisted."""
    must_sync: bool = False
    """Whether persisting needs an fsync (the term, vote or entries changed; commit alone does not)."""

    def applied_cursor(self) -> int:
        """The index the state machine has reached once this Ready is applied (0: unchanged)."""
        if self.committed_entries:
            return self.committed_entries[-1].index
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return 0


@dataclass(frozen=True, slots=True)
class Peer:
    """A founding member: its id, and the context (its URLs) carried in its ADD_NODE entry."""

    id: int
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class ProgressStatus:
    """The leader's view of one peer, copied out."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool
    paused: bool
    is_learner: bool
    pending_snapshot: int
    inflight: int


@dataclass(frozen=True, slots=True)
class BasicStatus:
    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    lead_transferee: int


@dataclass(frozen=True, slots=True)
class Status:
    """BasicStatus, plus the membership and (on the leader) every peer's progress."""

    basic: BasicStatus
    conf_state: ConfState
    progress: dict[int, ProgressStatus]


class RawNode:
    """A Raft node without I/O. Not thread-safe: drive it from one thread or event loop."""

    __slots__ = ("_prev_hard", "_prev_soft", "_raft", "_unadvanced")

    def __init__(self, config: Config, storage: Storage) -> None:
        """Start a node from what `storage` holds: empty for a node that will join an existing cluster
        (the leader sends it the log), or what a previous incarnation persisted. A new cluster's
        founding members call `bootstrap()` next."""
        self._raft = Raft(config, storage)
        self._prev_soft = self._raft.soft_state()
        self._prev_hard = self._raft.hard_state()
        self._unadvanced = False

    def bootstrap(self, peers: Sequence[Peer]) -> None:
        """Found a new cluster: the log starts with one committed ADD_NODE entry per peer (term 1), so
        every member learns the membership, and its URLs, from the log itself. The first Ready hands
        them out to persist and apply like any entry. Only for empty storage."""
        r = self._raft
        if not peers:
            raise RaftError("bootstrap needs at least one peer")
        if r.log.last_index() != 0:
            raise RaftError("bootstrap needs empty storage")
        self._prev_hard = EMPTY_HARD_STATE  # nothing is persisted yet: the first Ready must say so
        r.become_follower(1, NONE)
        entries = [
            Entry(
                term=1,
                index=i,
                type=EntryType.CONF_CHANGE,
                data=encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, peer.id, peer.context)),
            )
            for i, peer in enumerate(peers, start=1)
        ]
        r.log.append(entries)
        r.log.committed = len(entries)
        # Apply them now, so the node can campaign at once; the caller's apply_conf_change calls for
        # the same entries are no-ops. `applied` stays 0 so the caller still sees every entry.
        for peer in peers:
            r.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, peer.id))

    # -- inputs ---------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance logical time by one tick (election and heartbeat timeouts count ticks)."""
        self._raft.tick()

    def campaign(self) -> None:
        """Start an election now (with pre-vote if configured)."""
        self._raft.step(Message(MT.MsgHup, from_=self._raft.id))

    def propose(self, data: bytes) -> None:
        """Propose `data` for the log. Raises ProposalDroppedError if it is refused here; an accepted
        proposal can still be lost (leader change), so the caller matches applied entries to its
        requests and retries on timeout."""
        self._raft.step(Message(MT.MsgProp, from_=self._raft.id, entries=(Entry(0, 0, data=data),)))

    def propose_batch(self, data: Sequence[bytes]) -> None:
        """Propose several entries in one message (one append and one broadcast for all)."""
        if data:
            entries = tuple([Entry(0, 0, data=d) for d in data])
            self._raft.step(Message(MT.MsgProp, from_=self._raft.id, entries=entries))

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Propose a membership change. Raises ProposalDroppedError while another one is pending (not
        yet applied) on the leader; once committed, it takes effect when the caller applies it."""
        entry = Entry(0, 0, EntryType.CONF_CHANGE, encode_conf_change(cc))
        self._raft.step(Message(MT.MsgProp, from_=self._raft.id, entries=(entry,)))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed membership change (from a CONF_CHANGE entry of a Ready); returns the new
        membership, for the caller's snapshots."""
        return self._raft.apply_conf_change(cc)

    def read_index(self, context: bytes) -> None:
        """Ask for a linearizable read point. The answer is a ReadState(index, context) in a later Ready,
        once the leader confirmed its leadership with a quorum: serve the read after applying up to
        `index`. `context` must be unique across the cluster (it keys the request). Raises
        ProposalDroppedError without a leader; an accepted request may still go unanswered (leader
        change), so the caller retries on timeout."""
        self._raft.step(Message(MT.MsgReadIndex, from_=self._raft.id, context=context))

    def transfer_leadership(self, to: int) -> None:
        """Ask the leader to hand leadership to `to` (it catches `to` up, then sends MsgTimeoutNow);
        proposals are dropped meanwhile, and the attempt is abandoned after an election timeout."""
        self._raft.step(Message(MT.MsgTransferLeader, from_=to))

    def step(self, m: Message) -> None:
        """Deliver a message from a peer. Local message types raise ValueError. Responses from nodes
        not in the membership, and forwarded proposals this node cannot take, are dropped (their
        origin times out and retries)."""
        if m.type in LOCAL_MESSAGES:
            raise ValueError(f"{m.type.name} is a local message and cannot come from a peer")
        r = self._raft
        if m.type in RESPONSE_MESSAGES and m.from_ not in r.trk.progress:
            return
        with contextlib.suppress(ProposalDroppedError):
            r.step(m)

    def report_unreachable(self, node_id: int) -> None:
        """The transport failed to send to `node_id`: stop optimistic replication to it."""
        self._step_local(Message(MT.MsgUnreachable, from_=node_id))

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        """The transport finished sending a MsgSnap to `node_id` (ok) or gave up (not ok): the leader
        resumes probing it; after a failure it retries on a later heartbeat."""
        self._step_local(Message(MT.MsgSnapStatus, from_=node_id, reject=not ok))

    def _step_local(self, m: Message) -> None:
        if m.from_ in self._raft.trk.progress:
            self._raft.step(m)

    # -- outputs --------------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        r = self._raft
        if r.msgs or r.log.unstable.entries or r.read_states or r.log.has_pending_snapshot():
            return True
        if r.log.has_next_committed_entries():
            return True
        if r.lead != self._prev_soft.lead or r.state != self._prev_soft.role:
            return True
        hs = self._prev_hard
        return r.term != hs.term or r.vote != hs.vote or r.log.committed != hs.commit

    def ready(self) -> Ready:
        """What to persist, send and apply now. Call `advance()` with it before the next `ready()`."""
        if self._unadvanced:
            raise RaftError("ready() called again before advance()")
        r = self._raft
        rd = Ready(
            entries=r.log.unstable_entries(),
            committed_entries=r.log.next_committed_entries(),
            messages=r.msgs,
            snapshot=r.log.unstable.snapshot,
        )
        r.msgs = []
        if r.read_states:
            rd.read_states, r.read_states = r.read_states, []
        soft = r.soft_state()
        if soft != self._prev_soft:
            rd.soft_state = soft
            self._prev_soft = soft
        hard = r.hard_state()
        if hard != self._prev_hard and not hard.is_empty():
            rd.hard_state = hard
            rd.must_sync = hard.term != self._prev_hard.term or hard.vote != self._prev_hard.vote
        rd.must_sync = rd.must_sync or bool(rd.entries)
        self._unadvanced = True
        return rd

    def advance(self, rd: Ready) -> None:
        """`rd` was persisted, sent and applied."""
        r = self._raft
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        r.reduce_uncommitted_size(rd.committed_entries)
        if rd.entries:
            last = rd.entries[-1]
            r.log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            r.log.stable_snap_to(rd.snapshot.metadata.index)
        applied = rd.applied_cursor()
        if applied:
            r.applied_to(applied)  # last: it may start a campaign deferred until a conf change applied
        self._unadvanced = False

    # -- introspection --------------------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._raft.id

    def basic_status(self) -> BasicStatus:
        r = self._raft
        return BasicStatus(r.id, r.hard_state(), r.soft_state(), r.log.applied, r.lead_transferee)

    def status(self) -> Status:
        r = self._raft
        progress: dict[int, ProgressStatus] = {}
        if r.state == Role.LEADER:
            progress = {
                node_id: ProgressStatus(
                    match=pr.match,
                    next=pr.next,
                    state=pr.state,
                    recent_active=pr.recent_active,
                    paused=pr.is_paused(),
                    is_learner=pr.is_learner,
                    pending_snapshot=pr.pending_snapshot,
                    inflight=len(pr.inflights),
                )
                for node_id, pr in r.trk.progress.items()
            }
        return Status(self.basic_status(), r.trk.conf_state(), progress)
