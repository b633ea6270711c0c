"""The member: drives the Raft core on the event loop, persists through the WAL, applies committed
entries to the MVCC store and the lessor, and answers the proposals and reads that wait on them.

One event loop owns everything here. The Ready cycle follows etcd-io/raft's contract: persist
(snapshot, entries, hard state; one fsync in a worker thread when needed), then send, then apply,
then advance. Proposals and reads that arrive while the fsync runs join the next Ready, which is
where batching comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import itertools
import json
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from componentbase.klog import get_logger
from etcd_raft import mvcc
from etcd_raft.api.etcdserverpb import raft_internal_pb2 as internal
from etcd_raft.api.etcdserverpb import rpc_pb2 as pb
from etcd_raft.client import errors
from etcd_raft.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    Peer,
    ProposalDroppedError,
    RawNode,
    Ready,
    Role,
    Snapshot,
    SoftState,
    decode_conf_change,
)
from etcd_raft.server import convert, metrics
from etcd_raft.server.compactor import AutoCompactor
from etcd_raft.server.config import ServerConfig
from etcd_raft.server.config import member_id as derive_member_id
from etcd_raft.server.lessor import LeaseExistsError, LeaseNotFoundError, Lessor
from etcd_raft.snap import Snapshotter
from etcd_raft.wal import WAL, WalConfig, WalSnapshot, exists, valid_snapshot_entries

log = get_logger(__name__)

VERSION = "3.4.99"  # what Status reports: etcdctl and clients check the API level (>= 3.4)
COMMIT_INTERVAL = 0.1  # seconds between LMDB commits (etcd's backend batch interval)
MEMBER_BUCKET = b"member"
LEASE_BUCKET = b"lease"
ALARM_BUCKET = b"alarm"
READ_INDEX_RETRY = 0.5  # etcd's readIndexRetryTime
_U64 = struct.Struct(">Q")
WAL_CONFIG = WalConfig(on_fsync=metrics.WAL_FSYNC.observe)


@dataclass
class MemberInfo:
    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "peerURLs": self.peer_urls,
                "clientURLs": self.client_urls,
                "isLearner": self.is_learner,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> MemberInfo:
        raw = json.loads(data)
        return cls(
            raw["id"],
            raw.get("name", ""),
            raw.get("peerURLs", []),
            raw.get("clientURLs", []),
            raw.get("isLearner", False),
        )

    def to_pb(self) -> pb.Member:
        return pb.Member(
            ID=self.id,
            name=self.name,
            peerURLs=self.peer_urls,
            clientURLs=self.client_urls,
            isLearner=self.is_learner,
        )


class EtcdServer:
    def __init__(self, config: ServerConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.member_id = config.member_id
        self.cluster_id = config.cluster_id
        self.lessor = Lessor(min_ttl=max(1, -(-3 * config.election_ms // 2 // 1000)))
        self.members: dict[int, MemberInfo] = {}
        self.alarms: set[tuple[int, int]] = set()  # (member id, AlarmType)
        self.leader = 0
        self.term = 0
        self.applied_index = 0
        self.committed_index = 0
        self.transport: Any = None  # etcd_raft.transport.Transport for multi-member clusters
        self._wake = asyncio.Event()
        # Calls into the Raft core wait while a Ready is being persisted (between ready() and
        # advance()), so the core never sees its log change under a Ready in flight.
        self._in_ready = False
        self._deferred: list[Callable[[], None]] = []
        # Proposals made in one turn of the event loop (or during a Ready) go to Raft as one
        # message: one append, one MsgApp per follower and one acknowledgement for all of them.
        self._proposals: list[tuple[bytes, asyncio.Future[Any]]] = []
        self._waits: dict[int, asyncio.Future[Any]] = {}
        self._applied_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._read_waiters: list[asyncio.Future[None]] = []
        self._read_wake = asyncio.Event()
        self._read_states: dict[bytes, asyncio.Future[int]] = {}
        self._ids = itertools.count(1)
        self._id_prefix = ((self.member_id & 0xFFFF) << 48) | ((int(time.time() * 1000) & 0xFFFFFFFFFF) << 8)
        self._revoking: set[int] = set()
        self._db_size_in_use = 0  # refreshed every COMMIT_INTERVAL: reading it costs LMDB stat calls
        self.compactor = AutoCompactor(config.auto_compaction_mode, config.auto_compaction_retention)
        self._snapshot_index = 0
        self._conf_state_voters: tuple[int, ...] = ()
        self._open_storage()
        self._db_size_in_use = self.store.db_size_in_use

    # ------------------------------------------------------------------ start-up

    @property
    def member_dir(self) -> Path:
        return self.config.data_dir / "member"

    def _open_storage(self) -> None:
        member_dir = self.member_dir
        wal_dir, snap_dir = member_dir / "wal", member_dir / "snap"
        snap_dir.mkdir(parents=True, exist_ok=True)
        self.snapshotter = Snapshotter(snap_dir)
        self.store = mvcc.KVStore(member_dir / "db", lease_exists=lambda lease: lease in self.lessor.leases)
        self.watchable = mvcc.WatchableStore(self.store)
        self.storage = MemoryStorage()
        self._load_records()
        restarting = exists(wal_dir)
        if restarting:
            snapshot = self._newest_snapshot(wal_dir)
            walsnap = (
                WalSnapshot(snapshot.metadata.index, snapshot.metadata.term) if snapshot else WalSnapshot()
            )
            self.wal = WAL.open(wal_dir, walsnap, WAL_CONFIG)
            metadata, hard_state, entries = self.wal.read_all()
            ids = json.loads(metadata)
            self.member_id, self.cluster_id = ids["member_id"], ids["cluster_id"]
            if snapshot is not None:
                self.storage.apply_snapshot(snapshot)
                self._snapshot_index = snapshot.metadata.index
            self.storage.set_hard_state(hard_state)
            self.storage.append(entries)
            applied = min(self.store.consistent_index, hard_state.commit)
            self.node = RawNode(self._raft_config(applied), self.storage)
            self.applied_index = max(applied, self._snapshot_index)
        else:
            metadata = json.dumps({"member_id": self.member_id, "cluster_id": self.cluster_id}).encode()
            self.wal = WAL.create(wal_dir, metadata, WAL_CONFIG)
            self.node = RawNode(self._raft_config(0), self.storage)
            if self.config.initial_cluster_state == "new":
                peers = [
                    Peer(m.id, MemberInfo(m.id, m.name, list(m.peer_urls)).to_json())
                    for m in self.config.initial_cluster
                ]
                self.node.bootstrap(peers)
        self._hard_state = self.storage.initial_state()[0]
        log.info(
            "Member starting",
            member=f"{self.member_id:x}",
            cluster=f"{self.cluster_id:x}",
            restarting=restarting,
            applied=self.applied_index,
        )

    def _newest_snapshot(self, wal_dir: Path) -> Snapshot | None:
        with contextlib.suppress(Exception):  # no snapshot yet: replay the WAL from its start
            return self.snapshotter.load_newest_available(valid_snapshot_entries(wal_dir))
        return None

    def _raft_config(self, applied: int) -> Config:
        return Config(
            id=self.member_id,
            election_tick=self.config.election_ticks,
            heartbeat_tick=1,
            applied=applied,
            max_size_per_msg=1024 * 1024,
            max_inflight_msgs=512,
        )

    def _load_records(self) -> None:
        now = self.clock()
        for _, data in self.store.records(MEMBER_BUCKET):
            member = MemberInfo.from_json(data)
            self.members[member.id] = member
        for name, data in self.store.records(LEASE_BUCKET):
            self.lessor.grant(_U64.unpack(name)[0], _U64.unpack(data)[0], now)
        for name, _ in self.store.records(ALARM_BUCKET):
            member, alarm = struct.unpack(">QQ", name)
            self.alarms.add((member, alarm))

    # ------------------------------------------------------------------ the loops

    async def run(self) -> None:
        """Run until cancelled; then persist what was applied and close the files."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._raft_loop())
                tasks.create_task(self._ticker())
                tasks.create_task(self._read_loop())
                tasks.create_task(self._housekeeping())
                tasks.create_task(self._publish())
        finally:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.store.force_commit()
        self.watchable.close()
        self.store.close()
        self.wal.close()

    async def _publish(self) -> None:
        """Like etcd's publish: once a leader exists, record this member's name and client URLs in
        the log (retrying until it is applied), so MemberList shows them on every member."""
        attributes = internal.Attributes(
            name=self.config.name, client_urls=list(self.config.advertise_client_urls)
        )
        request = internal.ClusterMemberAttrSetRequest(member_ID=self.member_id, member_attributes=attributes)
        while True:
            own = self.members.get(self.member_id)
            if own is not None and (own.name, own.client_urls) == (
                attributes.name,
                list(attributes.client_urls),
            ):
                return
            if self.leader:
                with contextlib.suppress(errors.EtcdError):
                    await self.propose(internal.InternalRaftRequest(cluster_member_attr_set=request))
            await asyncio.sleep(self.config.heartbeat_ms / 1000)

    async def _ticker(self) -> None:
        interval = self.config.heartbeat_ms / 1000
        while True:
            await asyncio.sleep(interval)
            self.call_node(self.node.tick)

    async def _housekeeping(self) -> None:
        """Commit the store's batch, sync slow watchers and expire leases (leader only)."""
        while True:
            await asyncio.sleep(COMMIT_INTERVAL)
            self.store.commit()
            self._db_size_in_use = self.store.db_size_in_use
            for _ in range(100):  # bounded: let client requests in between sync rounds
                if not (self.watchable.needs_sync and self.watchable.sync()):
                    break
                await asyncio.sleep(0)
            if self.leader == self.member_id:
                target = self.compactor.observe(self.clock(), self.store.current_revision)
                if target is not None and target > self.store.compact_revision:
                    asyncio.get_running_loop().create_task(self._auto_compact(target))
            for lease_id in self.lessor.expired(self.clock()):
                if lease_id not in self._revoking:
                    self._revoking.add(lease_id)
                    asyncio.get_running_loop().create_task(self._revoke_expired(lease_id))

    async def _revoke_expired(self, lease_id: int) -> None:
        try:
            await self.propose(internal.InternalRaftRequest(lease_revoke=pb.LeaseRevokeRequest(ID=lease_id)))
        except errors.EtcdError as err:
            log.v(2).info("Lease revocation did not go through; retrying later", lease=lease_id, err=str(err))
        finally:
            self._revoking.discard(lease_id)

    async def _auto_compact(self, revision: int) -> None:
        compaction = pb.CompactionRequest(revision=revision)
        try:
            await self.propose(internal.InternalRaftRequest(compaction=compaction))
            log.info("Compacted automatically", revision=revision)
        except errors.EtcdError as err:
            log.v(2).info("Automatic compaction did not go through", revision=revision, err=str(err))

    async def _raft_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.node.has_ready():
                rd = self.node.ready()
                if rd.soft_state is not None:
                    self._on_soft_state(rd.soft_state)
                if rd.snapshot is not None:
                    self._install_snapshot(rd.snapshot)
                # A leader replicates while it writes its own disk (etcd does, Raft thesis 10.2.1):
                # what it sends cannot commit anything before the save below is done, because the
                # acknowledgements are stepped only after this Ready.
                leading = self.leader == self.member_id
                if leading and rd.messages:
                    self._send(rd.messages)
                applied_early = 0
                if rd.entries or rd.hard_state is not None:
                    hard_state = rd.hard_state or self._hard_state
                    if rd.must_sync:
                        self._in_ready = True
                        try:
                            saving = asyncio.get_running_loop().run_in_executor(
                                None, self.wal.save, hard_state, rd.entries
                            )
                            # Committed entries already on disk here are applied (and their
                            # clients answered) while the new ones are written, as etcd does.
                            try:
                                applied_early = self._persisted_prefix(rd)
                                for entry in rd.committed_entries[:applied_early]:
                                    self._apply_entry(entry)
                            finally:
                                await saving
                        finally:
                            self._in_ready = False
                    else:
                        self.wal.save(hard_state, rd.entries)
                    self.storage.append(rd.entries)
                    if rd.hard_state is not None:
                        self.storage.set_hard_state(rd.hard_state)
                        self._hard_state = rd.hard_state
                        self.term = rd.hard_state.term
                        self.committed_index = rd.hard_state.commit
                if rd.messages and not leading:
                    self._send(rd.messages)  # a follower's acknowledgement promises what it saved
                for read_state in rd.read_states:
                    waiter = self._read_states.pop(read_state.request_ctx, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(read_state.index)
                for entry in rd.committed_entries[applied_early:]:
                    self._apply_entry(entry)
                self.node.advance(rd)
                self._run_deferred()
                self._release_applied_waiters()
                self._campaign_if_alone()
                self._maybe_snapshot()

    def _persisted_prefix(self, rd: Ready) -> int:
        """How many of `rd`'s committed entries can be applied before its entries are saved: those
        already in the log on disk and not being replaced, up to the first configuration change
        (applying one calls into the Raft core, which must wait for the Ready to finish)."""
        if rd.snapshot is not None:
            return 0
        on_disk = self.storage.last_index()
        if rd.entries:
            on_disk = min(on_disk, rd.entries[0].index - 1)
        count = 0
        for entry in rd.committed_entries:
            if entry.index > on_disk or entry.type == EntryType.CONF_CHANGE:
                break
            count += 1
        return count

    def _campaign_if_alone(self) -> None:
        """A one-member cluster elects itself once its membership is applied, instead of waiting
        an election timeout."""
        alone = list(self.members) == [self.member_id]
        if alone and self.leader == 0 and self.node.basic_status().soft_state.role != Role.CANDIDATE:
            self.node.campaign()

    def _on_soft_state(self, soft: SoftState) -> None:
        was_leader = self.leader == self.member_id
        if soft.lead != self.leader and soft.lead:
            metrics.LEADER_CHANGES.inc()
        self.leader = soft.lead
        is_leader = soft.role == Role.LEADER
        if is_leader and not was_leader:
            self.lessor.promote(self.clock(), extend=self.config.election_ms / 1000)
        elif was_leader and not is_leader:
            self.lessor.demote()
        log.info("Raft role changed", role=soft.role.name, leader=f"{soft.lead:x}")

    def _send(self, messages: list[Message]) -> None:
        if self.transport is None:
            return
        outgoing = []
        for message in messages:
            if message.type == MessageType.MsgSnap and message.snapshot is not None:
                message = self._with_db(message)  # the snapshot carries the whole key space
            outgoing.append(message)
        self.transport.send(outgoing)

    def _with_db(self, message: Message) -> Message:
        assert message.snapshot is not None
        self.store.commit()
        buffer = io.BytesIO()
        self.store.snapshot(buffer)
        snapshot = Snapshot(message.snapshot.metadata, buffer.getvalue())
        log.info(
            "Sending snapshot", to=f"{message.to:x}", index=snapshot.metadata.index, bytes=len(snapshot.data)
        )
        return dataclasses.replace(message, snapshot=snapshot)

    def attach_transport(self, transport: Any) -> None:
        """Talk to the other members through `transport` (etcd_raft.transport.Transport)."""
        self.transport = transport
        # Known members, else (a member joining an existing cluster) the --initial-cluster list,
        # so it can answer the leader before it has applied the membership from the log.
        known = {m.id: list(m.peer_urls) for m in self.config.initial_cluster}
        known.update({m.id: m.peer_urls for m in self.members.values()})
        for member_id, urls in known.items():
            if member_id != self.member_id:
                transport.add_peer(member_id, urls)

    def report_unreachable(self, member_id: int) -> None:
        self.call_node(lambda: self.node.report_unreachable(member_id))

    def report_snapshot(self, member_id: int, ok: bool) -> None:
        self.call_node(lambda: self.node.report_snapshot(member_id, ok))

    def wake(self) -> None:
        """Something was fed to the Raft core: let the loop collect the Ready."""
        self._wake.set()

    def call_node(self, action: Callable[[], None]) -> None:
        """Run `action` (which feeds the Raft core) now, or right after the Ready in flight."""
        if self._in_ready:
            self._deferred.append(action)
        else:
            action()
        self._wake.set()

    def _run_deferred(self) -> None:
        actions, self._deferred = self._deferred, []
        for action in actions:
            action()

    def step(self, message: Message) -> None:
        """A message from a peer (called by the transport)."""
        self.call_node(lambda: self._step(message))

    def _step(self, message: Message) -> None:
        try:
            self.node.step(message)
        except Exception:  # a bad message must not stop this member; say what it was
            log.exception("Raft refused a message", type=message.type.name, sender=f"{message.from_:x}")

    # ------------------------------------------------------------------ snapshots

    def _install_snapshot(self, snapshot: Snapshot) -> None:
        """A snapshot from the leader: replace the key space with its db, then the log."""
        log.info("Installing snapshot", index=snapshot.metadata.index, bytes=len(snapshot.data))
        self.snapshotter.save(Snapshot(snapshot.metadata, b""))
        self.wal.save_snapshot(WalSnapshot(snapshot.metadata.index, snapshot.metadata.term))
        if snapshot.data:
            db_file = self.member_dir / "snapshot-restore.mdb"
            db_file.write_bytes(snapshot.data)
            self.store.restore(db_file)
            db_file.unlink(missing_ok=True)
            self.store.set_consistent_index(snapshot.metadata.index, snapshot.metadata.term)
            self.members.clear()
            self.lessor.leases.clear()
            self._load_records()
        self.storage.apply_snapshot(Snapshot(snapshot.metadata, b""))
        self._snapshot_index = self.applied_index = snapshot.metadata.index

    def _maybe_snapshot(self) -> None:
        """Every --snapshot-count applied entries: make the store durable, record a snapshot and let
        the WAL and the in-memory log drop what it covers (keeping some for slow followers)."""
        if self.applied_index - self._snapshot_index < self.config.snapshot_count:
            return
        index = self.applied_index
        self.store.force_commit()
        snapshot = self.storage.create_snapshot(index, self.node.status().conf_state, b"")
        self.snapshotter.save(snapshot)
        self.wal.save_snapshot(WalSnapshot(index, snapshot.metadata.term))
        self.wal.release_lock_to(index)
        self.wal.purge()
        self.snapshotter.purge()
        compact_to = index - self.config.snapshot_catchup_entries  # kept for slow followers
        if compact_to > self.storage.first_index():
            self.storage.compact(compact_to)
        self._snapshot_index = index
        log.info("Saved snapshot", index=index)

    # ------------------------------------------------------------------ apply

    def _apply_entry(self, entry: Entry) -> None:
        if entry.index <= self.store.consistent_index and entry.index <= self.applied_index:
            return  # applied before a restart: the store already has it
        if entry.type == EntryType.CONF_CHANGE:
            self._apply_conf_change(entry)
        elif entry.data:
            request = internal.InternalRaftRequest.FromString(entry.data)
            try:
                result: Any = self._apply_request(request, entry)
            except errors.EtcdError as err:
                result = err
            waiter = self._waits.pop(request.ID, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(result)
        else:
            self.store.set_consistent_index(entry.index, entry.term)  # a new leader's empty entry
        self.applied_index = entry.index

    def _apply_conf_change(self, entry: Entry) -> None:
        cc = decode_conf_change(entry.data)
        self.node.apply_conf_change(cc)
        if cc.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE, ConfChangeType.UPDATE_NODE):
            member = MemberInfo.from_json(cc.context)
            member.is_learner = cc.type == ConfChangeType.ADD_LEARNER_NODE
            self.members[member.id] = member
            self.store.put_record(MEMBER_BUCKET, _U64.pack(member.id), member.to_json())
            if self.transport is not None and member.id != self.member_id:
                self.transport.add_peer(member.id, member.peer_urls)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            self.members.pop(cc.node_id, None)
            self.store.put_record(MEMBER_BUCKET, _U64.pack(cc.node_id), None)
            if self.transport is not None and cc.node_id != self.member_id:
                self.transport.remove_peer(cc.node_id)
        self.store.set_consistent_index(entry.index, entry.term)
        waiter = self._waits.pop(cc.node_id ^ (1 << 63), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def header(self) -> pb.ResponseHeader:
        return pb.ResponseHeader(
            cluster_id=self.cluster_id,
            member_id=self.member_id,
            revision=self.store.current_revision,
            raft_term=self.term,
        )

    def _apply_request(self, request: internal.InternalRaftRequest, entry: Entry) -> Any:
        index, term = entry.index, entry.term
        kind = _request_kind(request)
        if kind in ("put", "txn", "delete_range", "range", "compaction"):
            if self.alarms and kind in ("put", "txn") and _writes(request):
                self.store.set_consistent_index(index, term)
                raise errors.NoSpaceError()
            try:
                return self._apply_kv(kind, request, index, term)
            except mvcc.MVCCError as err:
                raise etcd_error(err) from None
        if kind == "lease_grant":
            self.store.set_consistent_index(index, term)
            grant = request.lease_grant
            try:
                lease = self.lessor.grant(grant.ID, grant.TTL, self.clock())
            except LeaseExistsError:
                raise errors.LeaseExistsError() from None
            self.store.put_record(LEASE_BUCKET, _U64.pack(lease.id), _U64.pack(lease.ttl))
            return pb.LeaseGrantResponse(header=self.header(), ID=lease.id, TTL=lease.ttl)
        if kind == "lease_revoke":
            lease_id = request.lease_revoke.ID
            if lease_id not in self.lessor.leases:
                self.store.set_consistent_index(index, term)
                raise errors.LeaseNotFoundError()
            keys = self.store.keys_with_lease(lease_id)
            with self.store.write(consistent_index=index, term=term) as txn:
                for key in keys:
                    txn.delete_range(key)
            with contextlib.suppress(LeaseNotFoundError):
                self.lessor.revoke(lease_id)
            self.store.put_record(LEASE_BUCKET, _U64.pack(lease_id), None)
            return pb.LeaseRevokeResponse(header=self.header())
        if kind == "alarm":
            self.store.set_consistent_index(index, term)
            return self._apply_alarm(request.alarm)
        if kind == "cluster_member_attr_set":
            self.store.set_consistent_index(index, term)
            attrs = request.cluster_member_attr_set
            member = self.members.get(attrs.member_ID)
            if member is not None:
                member.name = attrs.member_attributes.name
                member.client_urls = list(attrs.member_attributes.client_urls)
                self.store.put_record(MEMBER_BUCKET, _U64.pack(member.id), member.to_json())
            return None
        self.store.set_consistent_index(index, term)
        return None

    def _apply_kv(self, kind: str, request: internal.InternalRaftRequest, index: int, term: int) -> Any:
        apply = self.store.apply
        if kind == "put":
            put = apply(convert.put_request(request.put), consistent_index=index, term=term)
            return convert.put_response(put, self.header())  # type: ignore[arg-type]
        if kind == "txn":
            txn = apply(convert.txn_request(request.txn), consistent_index=index, term=term)
            return convert.txn_response(txn, self.header())  # type: ignore[arg-type]
        if kind == "delete_range":
            deleted = apply(convert.delete_request(request.delete_range), consistent_index=index, term=term)
            return convert.delete_response(deleted, self.header())  # type: ignore[arg-type]
        if kind == "range":
            found = apply(convert.range_request(request.range), consistent_index=index, term=term)
            return convert.range_response(found, self.header())  # type: ignore[arg-type]
        compaction = request.compaction
        apply(
            mvcc.CompactionRequest(compaction.revision, compaction.physical),
            consistent_index=index,
            term=term,
        )
        return pb.CompactionResponse(header=self.header())

    def _apply_alarm(self, request: pb.AlarmRequest) -> pb.AlarmResponse:
        key = (request.memberID, int(request.alarm))
        name = struct.pack(">QQ", *key)
        if request.action == pb.AlarmRequest.ACTIVATE and request.alarm != pb.NONE:
            self.alarms.add(key)
            self.store.put_record(ALARM_BUCKET, name, b"1")
        elif request.action == pb.AlarmRequest.DEACTIVATE:
            self.alarms.discard(key)
            self.store.put_record(ALARM_BUCKET, name, None)
        return pb.AlarmResponse(header=self.header(), alarms=self.alarm_members())

    def alarm_members(self) -> list[pb.AlarmMember]:
        return [pb.AlarmMember(memberID=member, alarm=alarm) for member, alarm in sorted(self.alarms)]  # type: ignore[arg-type]

    # ------------------------------------------------------------------ proposing and reading

    @property
    def request_timeout(self) -> float:
        return 5.0 + 2 * self.config.election_ms / 1000  # etcd's ReqTimeout

    def next_id(self) -> int:
        return self._id_prefix + next(self._ids)

    async def propose(self, request: internal.InternalRaftRequest) -> Any:
        """Put a request through Raft and wait until it is applied here; returns its response or
        raises its etcd error."""
        request.ID = self.next_id()
        data = request.SerializeToString()
        if len(data) > self.config.max_request_bytes + 1024:
            raise errors.RequestTooLargeError()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waits[request.ID] = future
        if not self._proposals:
            loop.call_soon(self.call_node, self._propose_pending)
        self._proposals.append((data, future))
        try:
            result = await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            raise errors.RequestTimeoutError() from None
        finally:
            self._waits.pop(request.ID, None)
        if isinstance(result, errors.EtcdError):
            metrics.PROPOSALS_FAILED.inc()
            raise result
        return result

    def _propose_pending(self) -> None:
        batch, self._proposals = self._proposals, []
        try:
            self.node.propose_batch([data for data, _ in batch])
        except ProposalDroppedError:  # no leader, a transfer or conf change pending
            for _, future in batch:
                if not future.done():
                    future.set_exception(errors.NoLeaderError())

    async def check_quota(self, request_bytes: int) -> None:
        """etcd's quota: a write that would grow the db past --quota-backend-bytes raises the
        NOSPACE alarm (through Raft, so every member refuses writes) and fails with NoSpaceError;
        reads, deletes and compaction still work, and `etcdctl alarm disarm` clears it."""
        if any(alarm == pb.NOSPACE for _, alarm in self.alarms):
            raise errors.NoSpaceError()
        if self._db_size_in_use + request_bytes <= self.config.quota_bytes:
            return
        alarm = pb.AlarmRequest(action=pb.AlarmRequest.ACTIVATE, memberID=self.member_id, alarm=pb.NOSPACE)
        with contextlib.suppress(errors.EtcdError):
            await self.propose(internal.InternalRaftRequest(alarm=alarm))
        raise errors.NoSpaceError()

    async def propose_conf_change(self, cc: ConfChange) -> None:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        key = cc.node_id ^ (1 << 63)
        self._waits[key] = future
        self.call_node(lambda: _or_fail(future, lambda: self.node.propose_conf_change(cc)))
        try:
            await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            raise errors.RequestTimeoutError() from None
        finally:
            self._waits.pop(key, None)

    async def linearizable_read(self) -> None:
        """Return once this member has applied everything committed before the call (ReadIndex)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._read_waiters.append(future)
        self._read_wake.set()
        await asyncio.wait_for(future, self.request_timeout)

    async def _read_loop(self) -> None:
        """One ReadIndex round serves every read that queued up while the previous round ran."""
        while True:
            await self._read_wake.wait()
            self._read_wake.clear()
            waiters, self._read_waiters = self._read_waiters, []
            if not waiters:
                continue
            try:
                index = await self._read_index()
                await self.wait_applied(index)
            except errors.EtcdError as err:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(err)
                continue
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def _read_index(self) -> int:
        """The commit index a quorum confirms now. A request or answer lost to a partition or a
        leader change is sent again every READ_INDEX_RETRY seconds (as etcd does), to whichever
        member leads by then, instead of holding every read until the request timeout."""
        context = _U64.pack(self.next_id())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._read_states[context] = future
        deadline = loop.time() + self.request_timeout
        try:
            while True:
                self.call_node(lambda: _or_fail(future, lambda: self.node.read_index(context)))
                try:
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(READ_INDEX_RETRY, deadline - loop.time())
                    )
                except TimeoutError:
                    if loop.time() >= deadline:
                        raise errors.RequestTimeoutError() from None
        finally:
            self._read_states.pop(context, None)
            future.cancel()

    async def wait_applied(self, index: int) -> None:
        if self.applied_index >= index:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._applied_waiters.append((index, future))
        await future

    def _release_applied_waiters(self) -> None:
        if not self._applied_waiters:
            return
        waiting = []
        for index, future in self._applied_waiters:
            if index <= self.applied_index:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((index, future))
        self._applied_waiters = waiting

    # ------------------------------------------------------------------ membership

    async def add_member(self, peer_urls: list[str], is_learner: bool) -> MemberInfo:
        for member in self.members.values():
            if set(member.peer_urls) & set(peer_urls):
                raise errors.PeerURLExistsError()
        # etcd salts added members' IDs with the time and tells the new member through the peers;
        # the deterministic ID lets the new member derive its own from its URLs and the token.
        member_id = derive_member_id(peer_urls, self.config.cluster_token)
        if member_id in self.members:
            raise errors.MemberExistsError()
        member = MemberInfo(member_id, "", peer_urls, is_learner=is_learner)
        kind = ConfChangeType.ADD_LEARNER_NODE if is_learner else ConfChangeType.ADD_NODE
        await self.propose_conf_change(ConfChange(kind, member_id, member.to_json()))
        return self.members.get(member_id, member)

    async def remove_member(self, member_id: int) -> None:
        if member_id not in self.members:
            raise errors.MemberNotFoundError()
        await self.propose_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, member_id))

    async def update_member(self, member_id: int, peer_urls: list[str]) -> None:
        member = self.members.get(member_id)
        if member is None:
            raise errors.MemberNotFoundError()
        updated = MemberInfo(member_id, member.name, peer_urls, member.client_urls, member.is_learner)
        await self.propose_conf_change(ConfChange(ConfChangeType.UPDATE_NODE, member_id, updated.to_json()))

    def member_list(self) -> list[pb.Member]:
        return [member.to_pb() for member in sorted(self.members.values(), key=lambda m: m.id)]


def _or_fail(future: asyncio.Future[Any], action: Callable[[], None]) -> None:
    """Feed the core; a proposal it drops (no leader, a transfer or conf change pending) fails
    the waiting request with etcd's "no leader"."""
    try:
        action()
    except ProposalDroppedError:
        if not future.done():
            future.set_exception(errors.NoLeaderError())


def _request_kind(request: internal.InternalRaftRequest) -> str:
    for kind in (
        "put",
        "txn",
        "range",
        "delete_range",
        "compaction",
        "lease_grant",
        "lease_revoke",
        "alarm",
        "cluster_member_attr_set",
    ):
        if request.HasField(kind):
            return kind
    return ""


def _writes(request: internal.InternalRaftRequest) -> bool:
    return request.HasField("put") or not mvcc.is_txn_read_only(convert.txn_request(request.txn))


def etcd_error(err: mvcc.MVCCError) -> errors.EtcdError:
    """The store's error as the client-facing etcd error with the same message."""
    message = err.grpc_text()
    return errors.error_for(message, errors.ERROR_CODES.get(message, grpc.StatusCode[err.grpc_code]))
