"""A simulated network of RawNodes in one process, and the Raft paper's safety properties as checks.

Everything is seeded: the same seed replays the same run, drop for drop. Time is `Cluster.tick()`.
The network drops (randomly, or because of a partition or a crashed peer), delays messages by whole
ticks and reorders them. A node persists what each `Ready` hands out into its `MemoryStorage` before
sending, like the server will; a crash throws the `RawNode` away, so only what was persisted survives
a restart. `Invariants` checks Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
State Machine Safety and read linearizability after every step.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from etcd_raft.raft import (
    CompactedError,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    Peer,
    ProposalDroppedError,
    RawNode,
    ReadState,
    Ready,
    Role,
    Snapshot,
    UnavailableError,
    decode_conf_change,
)
from etcd_raft.raft.raft import Raft


class Violation(AssertionError):
    """A safety property of Raft does not hold."""


class StateMachine:
    """A hash chain over the applied entries: equal digests at an index mean equal histories."""

    __slots__ = ("digest", "index", "values")

    def __init__(self, index: int = 0, digest: bytes = b"") -> None:
        self.index = index
        self.digest = digest
        self.values: list[bytes] = []  # NORMAL, non-empty data applied since the last (re)start

    def apply(self, e: Entry) -> None:
        self.index = e.index
        self.digest = hashlib.blake2b(self.digest + e.data, digest_size=8).digest()
        if e.type == EntryType.NORMAL and e.data:
            self.values.append(e.data)

    def snapshot_data(self) -> bytes:
        return struct.pack(">Q", self.index) + self.digest

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> StateMachine:
        if snapshot.is_empty():
            return cls()
        (index,) = struct.unpack_from(">Q", snapshot.data)
        return cls(index, snapshot.data[8:])


@dataclass(eq=False)
class SimNode:
    id: int
    storage: MemoryStorage
    raw: RawNode | None = None
    sm: StateMachine = field(default_factory=StateMachine)
    conf_state: ConfState = field(default_factory=ConfState)
    read_states: list[ReadState] = field(default_factory=list)
    incarnation: int = 0

    @property
    def alive(self) -> bool:
        return self.raw is not None

    @property
    def raft(self) -> Raft:
        assert self.raw is not None, f"node {self.id} is down"
        return self.raw._raft


ELECTION_SAFETY = "election safety"
LEADER_APPEND_ONLY = "leader append-only"
LOG_MATCHING = "log matching"
LEADER_COMPLETENESS = "leader completeness"
STATE_MACHINE_SAFETY = "state machine safety"
COMMIT_RULE = "commit rule"
LINEARIZABLE_READS = "linearizable reads"
CLAIMS = (
    ELECTION_SAFETY,
    LEADER_APPEND_ONLY,
    LOG_MATCHING,
    LEADER_COMPLETENESS,
    STATE_MACHINE_SAFETY,
    COMMIT_RULE,
    LINEARIZABLE_READS,
)


class Invariants:
    """The Raft paper's claims (Figure 3), checked incrementally as the cluster runs.

    `strict` raises `Violation` at once; otherwise violations are recorded per claim (with the tick),
    so a randomized run can report every claim separately.
    """

    def __init__(self, strict: bool = True) -> None:
        self.strict = strict
        self.now = 0
        self.violations: dict[str, list[str]] = {claim: [] for claim in CLAIMS}
        self.checks: dict[str, int] = dict.fromkeys(CLAIMS, 0)
        self.leader_of_term: dict[int, int] = {}
        self.leader_log: dict[int, tuple[int, int, int, int]] = {}  # node -> (term, last, its term, commit)
        self.entry_at: dict[tuple[int, int], tuple[bytes, int, int | None]] = {}  # (index, term) ->
        self.applied: dict[int, tuple[int, bytes]] = {}  # index -> (term, data)
        self.digest_at: dict[int, bytes] = {}
        self.index_of: dict[bytes, int] = {}
        self.commit_seen: dict[int, tuple[int, int]] = {}  # observer's term -> (index, entry term)
        self.reads: dict[bytes, int] = {}  # read context -> commit index when it was issued
        self.steps = 0

    def fail(self, claim: str, message: str) -> None:
        if self.strict:
            raise Violation(f"{claim}: {message}")
        self.violations[claim].append(f"tick {self.now}: {message}")

    def after_step(self, node: SimNode) -> None:
        """Election Safety, Leader Append-Only, Leader Completeness and the commit rule, for the node
        that just moved."""
        self.steps += 1
        r = node.raft
        if r.state != Role.LEADER:
            return
        term = r.term
        self.checks[ELECTION_SAFETY] += 1
        leader = self.leader_of_term.setdefault(term, node.id)
        if leader != node.id:
            self.fail(ELECTION_SAFETY, f"nodes {leader} and {node.id} both lead term {term}")
        log = r.log
        last = log.last_index()
        seen = self.leader_log.get(node.id)
        if seen is not None and seen[0] == term:
            _, seen_last, seen_last_term, seen_commit = seen
            self.checks[LEADER_APPEND_ONLY] += 1
            if log.committed > seen_commit:
                # §5.4.2: a leader commits by counting replicas only entries of its own term.
                self.checks[COMMIT_RULE] += 1
                if log.term(log.committed) != term:
                    self.fail(
                        COMMIT_RULE,
                        f"leader {node.id} of term {term} committed {log.committed} "
                        f"of term {log.term(log.committed)} by counting",
                    )
            if last < seen_last:
                self.fail(LEADER_APPEND_ONLY, f"leader {node.id} log shrank from {seen_last} to {last}")
            elif seen_last >= log.first_index() - 1 and log.term(seen_last) != seen_last_term:
                self.fail(LEADER_APPEND_ONLY, f"leader {node.id} overwrote entry {seen_last}")
        else:
            self._check_leader_completeness(node.id, r)
        self.leader_log[node.id] = (term, last, log.term(last), log.committed)

    def _check_leader_completeness(self, node_id: int, r: Raft) -> None:
        self.checks[LEADER_COMPLETENESS] += 1
        log = r.log
        for observed_term, (index, entry_term) in self.commit_seen.items():
            if observed_term >= r.term:
                continue  # committed in a term not before this leader's: no claim
            if index < log.first_index() - 1:
                continue  # in this leader's snapshot, so committed there too
            if index > log.last_index() or log.term(index) != entry_term:
                self.fail(
                    LEADER_COMPLETENESS,
                    f"leader {node_id} of term {r.term} lacks entry {index} "
                    f"(term {entry_term}) committed by term {observed_term}",
                )

    def on_persist(self, node: SimNode, entries: list[Entry]) -> None:
        """Log Matching: entries with the same index and term hold the same data and follow an entry of
        the same term, so (by induction) the logs are identical up to there."""
        storage = node.storage
        self.checks[LOG_MATCHING] += len(entries)
        for e in entries:
            try:
                prev_term: int | None = storage.term(e.index - 1)
            except (CompactedError, UnavailableError):
                prev_term = None
            key = (e.index, e.term)
            known = self.entry_at.get(key)
            if known is None:
                self.entry_at[key] = (e.data, e.type, prev_term)
                continue
            data, etype, known_prev = known
            if data != e.data or etype != e.type:
                self.fail(LOG_MATCHING, f"two different entries at index {e.index} term {e.term}")
            if prev_term is not None and known_prev is not None and prev_term != known_prev:
                self.fail(
                    LOG_MATCHING,
                    f"entry {e.index} term {e.term} follows term {prev_term} on node "
                    f"{node.id} but term {known_prev} elsewhere",
                )
            if known_prev is None and prev_term is not None:
                self.entry_at[key] = (data, etype, prev_term)

    def on_apply(self, node: SimNode, e: Entry, observer_term: int) -> None:
        """State Machine Safety: no two nodes apply different entries at the same index."""
        self.checks[STATE_MACHINE_SAFETY] += 1
        if e.index != node.sm.index + 1:
            self.fail(STATE_MACHINE_SAFETY, f"node {node.id} applied {e.index} after {node.sm.index}")
        known = self.applied.setdefault(e.index, (e.term, e.data))
        if known != (e.term, e.data):
            self.fail(STATE_MACHINE_SAFETY, f"two different entries applied at index {e.index}")
        node.sm.apply(e)
        digest = self.digest_at.setdefault(e.index, node.sm.digest)
        if digest != node.sm.digest:
            self.fail(STATE_MACHINE_SAFETY, f"node {node.id} diverged at index {e.index}")
        if e.data:
            self.index_of.setdefault(e.data, e.index)
        self._saw_commit(observer_term, e.index, e.term)

    def on_restore(self, node: SimNode, snapshot: Snapshot, observer_term: int) -> None:
        meta = snapshot.metadata
        digest = self.digest_at.setdefault(meta.index, node.sm.digest)
        if digest != node.sm.digest:
            self.fail(STATE_MACHINE_SAFETY, f"snapshot at {meta.index} on node {node.id} diverges")
        self._saw_commit(observer_term, meta.index, meta.term)

    def _saw_commit(self, observer_term: int, index: int, term: int) -> None:
        seen = self.commit_seen.get(observer_term)
        if seen is None or seen[0] < index:
            self.commit_seen[observer_term] = (index, term)

    def on_read_issued(self, context: bytes, committed: int) -> None:
        self.reads[context] = committed

    def on_read_state(self, node: SimNode, rs: ReadState) -> None:
        """A read point must include everything committed before the read was asked for."""
        issued_at = self.reads.get(rs.request_ctx)
        self.checks[LINEARIZABLE_READS] += issued_at is not None
        if issued_at is not None and rs.index < issued_at:
            self.fail(
                LINEARIZABLE_READS,
                f"read {rs.request_ctx!r} on node {node.id} got index {rs.index}, "
                f"but {issued_at} was committed before it was issued",
            )

    def check_logs_match(self, nodes: Iterable[SimNode]) -> None:
        """Log Matching, the whole way: if two logs share an entry, they agree on everything before."""
        logs = []
        for n in nodes:
            if n.alive:
                log = n.raft.log
                lo = log.first_index()
                logs.append((n.id, lo, log.slice(lo, log.last_index() + 1)))
        for (a, lo_a, ents_a), (b, lo_b, ents_b) in itertools.combinations(logs, 2):
            lo = max(lo_a, lo_b)
            hi = min(lo_a + len(ents_a), lo_b + len(ents_b)) - 1
            matched = False
            for i in range(hi, lo - 1, -1):
                ea, eb = ents_a[i - lo_a], ents_b[i - lo_b]
                if matched and ea != eb:
                    self.fail(LOG_MATCHING, f"nodes {a} and {b} share a later entry but differ at {i}")
                    break
                if ea.term == eb.term:
                    matched = True
                    if ea != eb:
                        self.fail(LOG_MATCHING, f"nodes {a} and {b} differ at {i} in term {ea.term}")
                        break


class Cluster:
    """N nodes on a simulated network. Messages sent with delay 0 arrive within the same tick."""

    def __init__(
        self,
        ids: Iterable[int] = (1, 2, 3),
        *,
        seed: int = 0,
        drop_rate: float = 0.0,
        max_delay: int = 0,
        reorder: bool = False,
        crash_rate: float = 0.0,
        compact_every: int = 0,
        bootstrap: bool = True,
        strict: bool = True,
        **config: Any,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.drop_rate = drop_rate
        self.max_delay = max_delay
        self.reorder = reorder
        self.crash_rate = 0.0  # bootstrapping is done (and persisted) before the cluster starts
        self.compact_every = compact_every  # snapshot and compact after this many applied entries
        self.config = config
        self.now = 0
        self.nodes: dict[int, SimNode] = {}
        self.queue: list[tuple[int, float, Message]] = []
        self._seq = itertools.count()
        self.blocked: set[tuple[int, int]] = set()
        self.filters: list[Callable[[Message], bool]] = []
        self.trace: list[Message] = []  # every message delivered
        self.invariants = Invariants(strict)
        self._reads = itertools.count(1)
        ids = list(ids)
        for node_id in ids:
            node = SimNode(node_id, MemoryStorage())
            self.nodes[node_id] = node
            self._start(node)
            if bootstrap:
                assert node.raw is not None
                node.raw.bootstrap([Peer(i) for i in ids])
                self._process(node)
        self.crash_rate = crash_rate  # per Ready: crash before persisting it, or before sending it

    # -- nodes ----------------------------------------------------------------------------------------

    def _start(self, node: SimNode) -> None:
        node.incarnation += 1
        seed = self.seed * 1000 + node.id * 10 + node.incarnation
        snapshot = node.storage.snapshot()
        # The state machine restarts from the snapshot, so entries up to it must not be applied again.
        config = Config(id=node.id, seed=seed, applied=snapshot.metadata.index, **self.config)
        node.raw = RawNode(config, node.storage)
        node.sm = StateMachine.from_snapshot(snapshot)
        node.conf_state = snapshot.metadata.conf_state
        node.read_states = []

    def add_node(self, node_id: int) -> SimNode:
        """A new, empty node (to be added with a conf change): it learns everything from the leader."""
        node = SimNode(node_id, MemoryStorage())
        self.nodes[node_id] = node
        self._start(node)
        return node

    def crash(self, node_id: int) -> None:
        self.nodes[node_id].raw = None

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if not node.alive:
            self._start(node)
            self._process(node)

    def raw(self, node_id: int) -> RawNode:
        raw = self.nodes[node_id].raw
        assert raw is not None, f"node {node_id} is down"
        return raw

    def raft(self, node_id: int) -> Raft:
        return self.nodes[node_id].raft

    def alive(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if n.alive]

    def leader(self) -> int | None:
        """The alive leader of the highest term, if any."""
        leaders = [n.raft for n in self.alive() if n.raft.state == Role.LEADER]
        return max(leaders, key=lambda r: r.term).id if leaders else None

    def stable_leader(self) -> int | None:
        """The leader, if every alive voter of its configuration follows it in its term."""
        lead = self.leader()
        if lead is None:
            return None
        leader = self.raft(lead)
        for node_id in leader.trk.voters:
            node = self.nodes.get(node_id)
            if node is None or not node.alive or node.raft.lead != lead or node.raft.term != leader.term:
                return None
        return lead

    def settled_leader(self) -> int | None:
        """The stable leader, once it committed an entry of its term and applied every configuration
        change it inherited: from then on nothing but a fault can depose it."""
        lead = self.stable_leader()
        if lead is None:
            return None
        r = self.raft(lead)
        if r.log.term(r.log.committed) != r.term or r.log.applied < r.pending_conf_index:
            return None
        return lead

    def members(self) -> list[SimNode]:
        """The alive nodes in the leader's configuration (all alive nodes when there is no leader)."""
        lead = self.leader()
        if lead is None:
            return self.alive()
        progress = self.raft(lead).trk.progress
        return [n for n in self.alive() if n.id in progress]

    # -- the network ----------------------------------------------------------------------------------

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.blocked.add((node_id, other))
                self.blocked.add((other, node_id))

    def partition(self, *groups: Iterable[int]) -> None:
        """Cut every link between different groups (nodes in no group are cut from all)."""
        group_of = {n: i for i, g in enumerate(groups) for n in g}
        for a, b in itertools.permutations(self.nodes, 2):
            if group_of.get(a, -1 - a) != group_of.get(b, -1 - b):
                self.blocked.add((a, b))

    def cut(self, a: int, b: int) -> None:
        self.blocked.add((a, b))
        self.blocked.add((b, a))

    def heal(self) -> None:
        self.blocked.clear()
        self.filters.clear()

    def _send(self, messages: list[Message]) -> None:
        rng = self.rng
        for m in messages:
            if self.drop_rate and rng.random() < self.drop_rate:
                self._report_lost(m, unreachable=False)
                continue
            due = self.now + (rng.randint(0, self.max_delay) if self.max_delay else 0)
            order = rng.random() if self.reorder else next(self._seq)
            heapq.heappush(self.queue, (due, order, m))

    def _report_lost(self, m: Message, unreachable: bool) -> None:
        """What a transport tells its node about a message it could not deliver."""
        sender = self.nodes.get(m.from_)
        if sender is None or sender.raw is None:
            return
        if m.type == MessageType.MsgSnap:
            sender.raw.report_snapshot(m.to, ok=False)
        elif unreachable:
            sender.raw.report_unreachable(m.to)

    def _deliver_due(self) -> bool:
        """Deliver every message due by now; returns whether any was."""
        batch = []
        while self.queue and self.queue[0][0] <= self.now:
            batch.append(heapq.heappop(self.queue)[2])
        for m in batch:
            node = self.nodes.get(m.to)
            if node is None or node.raw is None or (m.from_, m.to) in self.blocked:
                self._report_lost(m, unreachable=True)
                continue
            if any(f(m) for f in self.filters):
                self._report_lost(m, unreachable=False)
                continue
            self.trace.append(m)
            node.raw.step(m)
            self.invariants.after_step(node)
            if m.type == MessageType.MsgSnap:
                sender = self.nodes.get(m.from_)
                if sender is not None and sender.raw is not None:
                    sender.raw.report_snapshot(m.to, ok=True)
        return bool(batch)

    # -- driving --------------------------------------------------------------------------------------

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += 1
            self.invariants.now = self.now
            for node in self.alive():
                assert node.raw is not None
                node.raw.tick()
                self.invariants.after_step(node)
            self.stabilize(max_rounds=50)

    def stabilize(self, max_rounds: int = 1000) -> None:
        """Process Readies and deliver messages due by now until nothing moves (or max_rounds)."""
        for _ in range(max_rounds):
            for node in self.alive():
                self._process(node)
            if not self._deliver_due():
                return
        for node in self.alive():
            self._process(node)

    def _process(self, node: SimNode) -> None:
        raw = node.raw
        while raw is not None and raw.has_ready():
            rd = raw.ready()
            if self.crash_rate and self.rng.random() < self.crash_rate:
                self.crash(node.id)  # before persisting: this Ready is lost
                return
            self._persist(node, rd)
            if self.crash_rate and self.rng.random() < self.crash_rate:
                self.crash(node.id)  # persisted, but nothing sent or applied
                return
            self._send(rd.messages)
            self._apply(node, raw, rd)
            raw.advance(rd)
            self._maybe_compact(node)

    def _persist(self, node: SimNode, rd: Ready) -> None:
        storage = node.storage
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
        if rd.entries:
            storage.append(rd.entries)
            self.invariants.on_persist(node, rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)

    def _apply(self, node: SimNode, raw: RawNode, rd: Ready) -> None:
        term = node.raft.term
        if rd.snapshot is not None:
            node.sm = StateMachine.from_snapshot(rd.snapshot)
            node.conf_state = rd.snapshot.metadata.conf_state
            self.invariants.on_restore(node, rd.snapshot, term)
        for e in rd.committed_entries:
            self.invariants.on_apply(node, e, term)
            if e.type == EntryType.CONF_CHANGE:
                node.conf_state = raw.apply_conf_change(decode_conf_change(e.data))
        for rs in rd.read_states:
            self.invariants.on_read_state(node, rs)
        node.read_states.extend(rd.read_states)

    def _maybe_compact(self, node: SimNode) -> None:
        if not self.compact_every:
            return
        storage = node.storage
        applied = node.sm.index
        if applied - storage.first_index() < self.compact_every or applied > storage.last_index():
            return
        storage.create_snapshot(applied, node.conf_state, node.sm.snapshot_data())
        # Keep a short tail, so slightly lagging followers still catch up from the log.
        keep = self.rng.randint(0, 3)
        if applied - keep > storage.first_index() - 1:
            storage.compact(applied - keep)

    # -- client operations ----------------------------------------------------------------------------

    def propose(self, node_id: int, data: bytes) -> bool:
        """Propose on `node_id`; False if it dropped the proposal."""
        try:
            self.raw(node_id).propose(data)
        except ProposalDroppedError:
            return False
        finally:
            self.invariants.after_step(self.nodes[node_id])
        return True

    def propose_conf_change(self, node_id: int, cc: ConfChange) -> bool:
        try:
            self.raw(node_id).propose_conf_change(cc)
        except ProposalDroppedError:
            return False
        return True

    def read_index(self, node_id: int, context: bytes | None = None) -> bytes | None:
        """Ask `node_id` for a read point; returns the request's context, or None if dropped."""
        context = context if context is not None else b"read-%d-%d" % (node_id, next(self._reads))
        committed = max(n.raft.log.committed for n in self.alive())
        self.invariants.on_read_issued(context, committed)
        try:
            self.raw(node_id).read_index(context)
        except ProposalDroppedError:
            return None
        return context

    def campaign(self, node_id: int) -> None:
        self.raw(node_id).campaign()
        self.invariants.after_step(self.nodes[node_id])
        self.stabilize()

    def applied_everywhere(self, data: bytes) -> bool:
        index = self.invariants.index_of.get(data)
        return index is not None and all(n.sm.index >= index for n in self.members())


# -- randomized runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """How hostile a randomized run is."""

    nodes: int
    ticks: int
    drop_rate: float
    max_delay: int
    crash_rate: float  # per Ready
    fault_rate: float  # per tick: a new partition, an isolated node, a heal or a crash
    compact_every: int = 16
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    churn: float = 0.0  # per tick: propose adding, promoting or removing a member
    proposal_rate: float = 0.4
    read_rate: float = 0.05
    check_quorum: bool = True
    pre_vote: bool = True


@dataclass
class ChaosResult:
    seed: int
    violations: dict[str, list[str]]
    checks: dict[str, int]
    terms: int
    applied: int
    snapshots_sent: int
    conf_changes: int
    delivered: int
    ticks_to_leader: int | None  # after healing; None: no settled leader within the bound
    lost_after_heal: list[bytes]  # accepted after healing, but not applied everywhere within the bound


def run_chaos(profile: Profile, seed: int, heal_bound: int = 200, apply_bound: int = 100) -> ChaosResult:
    """A seeded run: random partitions, crashes, drops, delays, proposals, reads (and membership
    changes), every claim checked after every step; then the network heals and the run checks that a
    leader emerges and that what it accepts is applied everywhere. The same (profile, seed) replays
    exactly."""
    rng = random.Random(seed)
    c = Cluster(
        range(1, profile.nodes + 1),
        seed=seed,
        drop_rate=profile.drop_rate,
        max_delay=profile.max_delay,
        reorder=True,
        crash_rate=profile.crash_rate,
        compact_every=profile.compact_every,
        strict=False,
        max_size_per_msg=profile.max_size_per_msg,
        max_inflight_msgs=profile.max_inflight_msgs,
        check_quorum=profile.check_quorum,
        pre_vote=profile.pre_vote,
    )
    conf_changes = 0
    for t in range(profile.ticks):
        ids = sorted(c.nodes)
        if rng.random() < profile.fault_rate:
            fault = rng.randrange(4)
            if fault == 0:
                rng.shuffle(ids)
                k = rng.randint(1, len(ids) - 1)
                c.heal()
                c.partition(ids[:k], ids[k:])
            elif fault == 1:
                c.heal()
                c.isolate(rng.choice(ids))
            elif fault == 2:
                c.heal()
            elif c.alive():
                c.crash(rng.choice(c.alive()).id)
        for node in list(c.nodes.values()):
            if not node.alive and rng.random() < 0.03:
                c.restart(node.id)
        alive = c.alive()
        if alive and rng.random() < profile.proposal_rate:
            c.propose(rng.choice(alive).id, b"s%d-t%d" % (seed, t))
        if alive and rng.random() < profile.read_rate:
            c.read_index(rng.choice(alive).id)
        if profile.churn and rng.random() < profile.churn:
            conf_changes += _change_membership(c, rng)
        c.tick()
    c.invariants.check_logs_match(c.nodes.values())

    c.heal()
    c.drop_rate = c.crash_rate = 0.0
    c.max_delay = min(c.max_delay, 1)
    for node_id in list(c.nodes):
        c.restart(node_id)
    # A leader elected just before healing may still have to apply a change that removes it (and with
    # it, its uncommitted proposals): wait until the configuration has settled.
    ticks_to_leader: int | None = None
    for t in range(1, heal_bound + 1):
        c.tick()
        if c.settled_leader() is not None:
            ticks_to_leader = t
            break
    lost: list[bytes] = []
    lead = c.settled_leader()
    if lead is not None:
        accepted = [d for d in (b"s%d-final-%d" % (seed, i) for i in range(10)) if c.propose(lead, d)]
        for _ in range(apply_bound):
            c.tick()
            if all(c.applied_everywhere(d) for d in accepted):
                break
        lost = [d for d in accepted if not c.applied_everywhere(d)]
        if len(accepted) < 10:
            lost.append(b"(the stable leader dropped a proposal)")
    c.invariants.check_logs_match(c.nodes.values())
    inv = c.invariants
    return ChaosResult(
        seed=seed,
        violations=inv.violations,
        checks=inv.checks,
        terms=len(inv.leader_of_term),
        applied=max((n.sm.index for n in c.alive()), default=0),
        snapshots_sent=sum(1 for m in c.trace if m.type == MessageType.MsgSnap),
        conf_changes=conf_changes,
        delivered=len(c.trace),
        ticks_to_leader=ticks_to_leader,
        lost_after_heal=lost,
    )


def _change_membership(c: Cluster, rng: random.Random) -> int:
    """Propose one membership change on the leader; returns 1 if it was accepted."""
    lead = c.leader()
    if lead is None:
        return 0
    trk = c.raft(lead).trk
    roll = rng.random()
    if trk.learners and roll < 0.3:
        cc = ConfChange(ConfChangeType.ADD_NODE, rng.choice(sorted(trk.learners)))  # promote
    elif len(trk.voters) > 3 and roll < 0.65:
        cc = ConfChange(ConfChangeType.REMOVE_NODE, rng.choice(sorted(trk.voters)))  # maybe the leader
    else:
        new_id = max(c.nodes) + 1
        kind = ConfChangeType.ADD_LEARNER_NODE if rng.random() < 0.4 else ConfChangeType.ADD_NODE
        cc = ConfChange(kind, new_id)
    if not c.propose_conf_change(lead, cc):
        return 0
    if cc.node_id not in c.nodes:
        c.add_node(cc.node_id)
    return 1
