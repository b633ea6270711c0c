"""The etcd v3 gRPC services (grpc.aio) over an EtcdServer: request checks with etcd's errors,
writes through Raft, linearizable reads through ReadIndex, watch and keep-alive streams."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from etcd_raft import mvcc
from etcd_raft.api.etcdserverpb import raft_internal_pb2 as internal
from etcd_raft.api.etcdserverpb import rpc_pb2 as pb
from etcd_raft.api.etcdserverpb import rpc_pb2_grpc as rpc
from etcd_raft.client import EtcdClient, errors
from etcd_raft.server import convert
from etcd_raft.server.etcdserver import VERSION, EtcdServer, etcd_error
from etcd_raft.server.lessor import MAX_TTL_SECONDS, LeaseNotFoundError

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[..., Awaitable[T]]
SNAPSHOT_CHUNK = 32 * 1024  # etcd's snapshotSendBufferSize
GRPC_OVERHEAD_BYTES = 512 * 1024  # etcd's grpcOverheadBytes: room for framing above the request limit


def etcd_errors(handler: Handler[T]) -> Handler[T]:
    """Answer etcd's errors with etcd's status code and message, as etcd's gRPC layer does."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: Any, context: Context) -> T:
        try:
            return await handler(self, request, context)
        except errors.EtcdError as err:
            await context.abort(err.code, err.message)
        except mvcc.MVCCError as err:
            failure = etcd_error(err)
            await context.abort(failure.code, failure.message)
        raise AssertionError("abort raises")  # pragma: no cover

    return wrapped


def require_leader(server: EtcdServer, context: Context) -> None:
    """Clients send `hasleader: true` so a member cut off from the leader refuses at once."""
    metadata = dict(context.invocation_metadata() or ())
    if metadata.get("hasleader") == "true" and server.leader == 0:
        raise errors.NoLeaderError()


def _in_key_order_whole(query: mvcc.RangeRequest) -> bool:
    """Whether a Range returns the stored KeyValues as they are: in key order, unfiltered, with
    values (most do, among them every list the apiserver makes)."""
    key_order = query.sort_order == mvcc.SortOrder.NONE or (
        query.sort_order == mvcc.SortOrder.ASCEND and query.sort_target == mvcc.SortTarget.KEY
    )
    return key_order and not (query.keys_only or query.count_only or mvcc.has_revision_filters(query))


class KV(rpc.KVServicer):
    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    @etcd_errors
    async def Range(self, request: pb.RangeRequest, context: Context) -> pb.RangeResponse:
        require_leader(self.server, context)
        query = convert.range_request(request)
        mvcc.check_request(query)
        if not request.serializable:
            await self.server.linearizable_read()
        if _in_key_order_whole(query):
            _, encoded, more, count = self.server.store.range_encoded(
                query.key, query.range_end, revision=query.revision, limit=query.limit
            )
            return convert.encoded_range_response(encoded, more, count, self.server.header())
        found = self.server.store.range(
            query.key,
            query.range_end,
            revision=query.revision,
            limit=query.limit,
            keys_only=query.keys_only,
            count_only=query.count_only,
            sort_order=query.sort_order,
            sort_target=query.sort_target,
            min_mod_revision=query.min_mod_revision,
            max_mod_revision=query.max_mod_revision,
            min_create_revision=query.min_create_revision,
            max_create_revision=query.max_create_revision,
        )
        return convert.range_response(found, self.server.header())

    @etcd_errors
    async def Put(self, request: pb.PutRequest, context: Context) -> pb.PutResponse:
        mvcc.check_request(convert.put_request(request))
        await self.server.check_quota(request.ByteSize())
        response: pb.PutResponse = await self.server.propose(internal.InternalRaftRequest(put=request))
        return response

    @etcd_errors
    async def DeleteRange(self, request: pb.DeleteRangeRequest, context: Context) -> pb.DeleteRangeResponse:
        mvcc.check_request(convert.delete_request(request))
        response: pb.DeleteRangeResponse = await self.server.propose(
            internal.InternalRaftRequest(delete_range=request)
        )
        return response

    @etcd_errors
    async def Txn(self, request: pb.TxnRequest, context: Context) -> pb.TxnResponse:
        txn = convert.txn_request(request)
        mvcc.check_txn_request(txn, max_txn_ops=self.server.config.max_txn_ops)
        if mvcc.is_txn_read_only(txn):  # reads need no log entry, only a linearizable barrier
            require_leader(self.server, context)
            await self.server.linearizable_read()
            result = self.server.store.txn(txn.compare, txn.success, txn.failure)
            return convert.txn_response(result, self.server.header())
        await self.server.check_quota(request.ByteSize())
        response: pb.TxnResponse = await self.server.propose(internal.InternalRaftRequest(txn=request))
        return response

    @etcd_errors
    async def Compact(self, request: pb.CompactionRequest, context: Context) -> pb.CompactionResponse:
        response: pb.CompactionResponse = await self.server.propose(
            internal.InternalRaftRequest(compaction=request)
        )
        return response


class Watch(rpc.WatchServicer):
    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    async def Watch(
        self, request_iterator: AsyncIterator[pb.WatchRequest], context: Context
    ) -> AsyncIterator[pb.WatchResponse]:
        stream = WatchStream(self.server)
        reader = asyncio.get_running_loop().create_task(stream.read(request_iterator))
        notifier = asyncio.get_running_loop().create_task(stream.notify_progress())
        try:
            async for response in stream.responses():
                yield response
        finally:
            for task in (reader, notifier):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            stream.close()


class WatchStream:
    """One client stream: many watchers, their responses interleaved on one queue."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server
        self.watchers: dict[int, tuple[mvcc.Watcher, bool, bool]] = {}  # id -> watcher, prev_kv, fragment
        self.next_id = 0
        self.progress_wanted: set[int] = set()  # watch ids created with progress_notify
        self.out: asyncio.Queue[pb.WatchResponse | None] = asyncio.Queue()
        self.ready = asyncio.Event()

    async def read(self, requests: AsyncIterator[pb.WatchRequest]) -> None:
        try:
            async for request in requests:
                kind = request.WhichOneof("request_union")
                if kind == "create_request":
                    self.create(request.create_request)
                elif kind == "cancel_request":
                    self.cancel(request.cancel_request.watch_id)
                elif kind == "progress_request":
                    self.out.put_nowait(pb.WatchResponse(header=self.server.header(), watch_id=-1))
        finally:
            self.out.put_nowait(None)

    def create(self, create: pb.WatchCreateRequest) -> None:
        watch_id = create.watch_id or self._free_id()
        header = self.server.header()
        if watch_id in self.watchers or watch_id < 0:
            self.out.put_nowait(
                pb.WatchResponse(
                    header=header,
                    watch_id=watch_id,
                    created=True,
                    canceled=True,
                    cancel_reason="etcdserver: duplicate watch ID",
                )
            )
            return
        filters = [mvcc.WatchFilter(f) for f in create.filters]
        watcher = self.server.watchable.watch(
            create.key,
            create.range_end,
            create.start_revision,
            prev_kv=create.prev_kv,
            filters=filters,
            watch_id=watch_id,
            on_ready=lambda _w: self.ready.set(),
        )
        self.watchers[watch_id] = (watcher, create.prev_kv, create.fragment)
        if create.progress_notify:
            self.progress_wanted.add(watch_id)
        self.out.put_nowait(pb.WatchResponse(header=header, watch_id=watch_id, created=True))
        self.ready.set()

    async def notify_progress(self) -> None:
        """etcd's progress notifications: a synced watcher that asked for them hears the current
        revision every interval even when nothing it watches changes."""
        while True:
            await asyncio.sleep(self.server.config.watch_progress_notify_interval)
            for watch_id in sorted(self.progress_wanted):
                entry = self.watchers.get(watch_id)
                revision = self.server.watchable.progress(entry[0]) if entry is not None else None
                if revision is not None:
                    header = self.server.header()
                    header.revision = revision
                    self.out.put_nowait(pb.WatchResponse(header=header, watch_id=watch_id))

    def _free_id(self) -> int:
        while self.next_id in self.watchers or (self.next_id == 0 and 0 in self.watchers):
            self.next_id += 1
        chosen = self.next_id
        self.next_id += 1
        return chosen

    def cancel(self, watch_id: int) -> None:
        entry = self.watchers.pop(watch_id, None)
        self.progress_wanted.discard(watch_id)
        if entry is not None:
            self.server.watchable.cancel(entry[0])
        self.out.put_nowait(pb.WatchResponse(header=self.server.header(), watch_id=watch_id, canceled=True))

    async def responses(self) -> AsyncIterator[pb.WatchResponse]:
        getter = asyncio.get_running_loop().create_task(self.out.get())
        waker = asyncio.get_running_loop().create_task(self.ready.wait())
        try:
            while True:
                done, _ = await asyncio.wait({getter, waker}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    control = getter.result()
                    if control is None:
                        return
                    yield control
                    getter = asyncio.get_running_loop().create_task(self.out.get())
                if waker in done:
                    self.ready.clear()
                    for response in self.drain():
                        yield response
                    waker = asyncio.get_running_loop().create_task(self.ready.wait())
        finally:
            getter.cancel()
            waker.cancel()

    def drain(self) -> list[pb.WatchResponse]:
        responses = []
        for watch_id, (watcher, _prev_kv, fragment) in list(self.watchers.items()):
            for batch in watcher.take():
                header = self.server.header()
                header.revision = batch.revision or header.revision
                if batch.compact_revision:
                    self.watchers.pop(watch_id, None)
                    responses.append(
                        pb.WatchResponse(
                            header=header,
                            watch_id=watch_id,
                            canceled=True,
                            compact_revision=batch.compact_revision,
                            cancel_reason="etcdserver: mvcc: required revision has been compacted",
                        )
                    )
                    continue
                events = [convert.event(e) for e in batch.events]
                responses.extend(self._fragments(header, watch_id, events, fragment))
        return responses

    def _fragments(
        self, header: pb.ResponseHeader, watch_id: int, events: list[Any], fragment: bool
    ) -> list[pb.WatchResponse]:
        """etcd splits a response larger than the request limit (plus gRPC's overhead) only when
        the watcher asked for it."""
        limit = self.server.config.max_request_bytes + GRPC_OVERHEAD_BYTES
        whole = pb.WatchResponse(header=header, watch_id=watch_id, events=events)
        if not fragment or whole.ByteSize() <= limit:
            return [whole]
        pieces: list[pb.WatchResponse] = []
        current = pb.WatchResponse(header=header, watch_id=watch_id, fragment=True)
        for event in events:
            if current.events and current.ByteSize() + event.ByteSize() > limit:
                pieces.append(current)
                current = pb.WatchResponse(header=header, watch_id=watch_id, fragment=True)
            current.events.append(event)
        current.fragment = False
        pieces.append(current)
        return pieces

    def close(self) -> None:
        for watcher, _, _ in self.watchers.values():
            self.server.watchable.cancel(watcher)
        self.watchers.clear()


class Lease(rpc.LeaseServicer):
    """Grants and revocations go through Raft; keep-alives and TTL questions are the leader's
    (it alone runs lease clocks), so a follower forwards them to the leader like etcd does."""

    def __init__(self, server: EtcdServer) -> None:
        self.server = server
        self._leader_client: tuple[int, EtcdClient] | None = None

    async def _leader(self) -> EtcdClient:
        leader = self.server.members.get(self.server.leader)
        if leader is None or not leader.client_urls:
            raise errors.NoLeaderError()
        if self._leader_client is not None and self._leader_client[0] == leader.id:
            return self._leader_client[1]
        if self._leader_client is not None:
            await self._leader_client[1].close()
        config = self.server.config  # the member's own certificate also serves as a client one
        client = EtcdClient(
            leader.client_urls,
            ca_file=config.trusted_ca_file or None,
            cert_file=config.cert_file or None,
            key_file=config.key_file or None,
        )
        self._leader_client = (leader.id, client)
        return client

    async def _renew(self, lease_id: int) -> int:
        if self.server.leader == self.server.member_id:
            try:
                return self.server.lessor.renew(lease_id, self.server.clock())
            except LeaseNotFoundError:
                return 0  # etcd answers an unknown lease with TTL 0, and the client gives up
        try:
            return int((await (await self._leader()).lease_keep_alive_once(lease_id)).TTL)
        except errors.LeaseNotFoundError:
            return 0

    @etcd_errors
    async def LeaseGrant(self, request: pb.LeaseGrantRequest, context: Context) -> pb.LeaseGrantResponse:
        if request.TTL > MAX_TTL_SECONDS:
            raise errors.LeaseTTLTooLargeError()
        await self.server.check_quota(request.ByteSize())
        if request.ID == 0:
            request.ID = self.server.next_id() & 0x7FFF_FFFF_FFFF_FFFF
        response: pb.LeaseGrantResponse = await self.server.propose(
            internal.InternalRaftRequest(lease_grant=request)
        )
        return response

    @etcd_errors
    async def LeaseRevoke(self, request: pb.LeaseRevokeRequest, context: Context) -> pb.LeaseRevokeResponse:
        response: pb.LeaseRevokeResponse = await self.server.propose(
            internal.InternalRaftRequest(lease_revoke=request)
        )
        return response

    async def LeaseKeepAlive(
        self, request_iterator: AsyncIterator[pb.LeaseKeepAliveRequest], context: Context
    ) -> AsyncIterator[pb.LeaseKeepAliveResponse]:
        async for request in request_iterator:
            try:
                ttl = await self._renew(request.ID)
            except errors.EtcdError as err:
                await context.abort(err.code, err.message)
            yield pb.LeaseKeepAliveResponse(header=self.server.header(), ID=request.ID, TTL=ttl)

    @etcd_errors
    async def LeaseTimeToLive(
        self, request: pb.LeaseTimeToLiveRequest, context: Context
    ) -> pb.LeaseTimeToLiveResponse:
        if self.server.leader != self.server.member_id:
            answer = await (await self._leader()).lease_time_to_live(request.ID, keys=request.keys)
            return pb.LeaseTimeToLiveResponse(
                header=self.server.header(),
                ID=answer.ID,
                TTL=answer.TTL,
                grantedTTL=answer.grantedTTL,
                keys=answer.keys,
            )
        await self.server.linearizable_read()
        lease = self.server.lessor.leases.get(request.ID)
        if lease is None:
            return pb.LeaseTimeToLiveResponse(header=self.server.header(), ID=request.ID, TTL=-1)
        keys = self.server.store.keys_with_lease(request.ID) if request.keys else []
        return pb.LeaseTimeToLiveResponse(
            header=self.server.header(),
            ID=lease.id,
            TTL=lease.remaining(self.server.clock()),
            grantedTTL=lease.ttl,
            keys=keys,
        )

    @etcd_errors
    async def LeaseLeases(self, request: pb.LeaseLeasesRequest, context: Context) -> pb.LeaseLeasesResponse:
        await self.server.linearizable_read()
        leases = [pb.LeaseStatus(ID=lease_id) for lease_id in sorted(self.server.lessor.leases)]
        return pb.LeaseLeasesResponse(header=self.server.header(), leases=leases)


class Cluster(rpc.ClusterServicer):
    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    @etcd_errors
    async def MemberAdd(self, request: pb.MemberAddRequest, context: Context) -> pb.MemberAddResponse:
        if not request.peerURLs:
            raise errors.MemberBadURLsError()
        member = await self.server.add_member(list(request.peerURLs), request.isLearner)
        return pb.MemberAddResponse(
            header=self.server.header(), member=member.to_pb(), members=self.server.member_list()
        )

    @etcd_errors
    async def MemberRemove(
        self, request: pb.MemberRemoveRequest, context: Context
    ) -> pb.MemberRemoveResponse:
        await self.server.remove_member(request.ID)
        return pb.MemberRemoveResponse(header=self.server.header(), members=self.server.member_list())

    @etcd_errors
    async def MemberUpdate(
        self, request: pb.MemberUpdateRequest, context: Context
    ) -> pb.MemberUpdateResponse:
        await self.server.update_member(request.ID, list(request.peerURLs))
        return pb.MemberUpdateResponse(header=self.server.header(), members=self.server.member_list())

    @etcd_errors
    async def MemberList(self, request: pb.MemberListRequest, context: Context) -> pb.MemberListResponse:
        if request.linearizable:
            await self.server.linearizable_read()
        return pb.MemberListResponse(header=self.server.header(), members=self.server.member_list())

    @etcd_errors
    async def MemberPromote(
        self, request: pb.MemberPromoteRequest, context: Context
    ) -> pb.MemberPromoteResponse:
        raise errors.MemberNotLearnerError()


class Maintenance(rpc.MaintenanceServicer):
    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    @etcd_errors
    async def Status(self, request: pb.StatusRequest, context: Context) -> pb.StatusResponse:
        server = self.server
        return pb.StatusResponse(
            header=server.header(),
            version=VERSION,
            dbSize=server.store.db_size,
            leader=server.leader,
            raftIndex=server.committed_index,
            raftTerm=server.term,
            raftAppliedIndex=server.applied_index,
            dbSizeInUse=server.store.db_size_in_use,
            errors=[
                f"memberID:{m.memberID} alarm:{pb.AlarmType.Name(m.alarm)} " for m in server.alarm_members()
            ],
        )

    @etcd_errors
    async def Defragment(self, request: pb.DefragmentRequest, context: Context) -> pb.DefragmentResponse:
        self.server.store.defragment()
        return pb.DefragmentResponse(header=self.server.header())

    @etcd_errors
    async def Hash(self, request: pb.HashRequest, context: Context) -> pb.HashResponse:
        return pb.HashResponse(header=self.server.header(), hash=self.server.store.hash_backend())

    @etcd_errors
    async def HashKV(self, request: pb.HashKVRequest, context: Context) -> pb.HashKVResponse:
        result = self.server.store.hash_kv(request.revision)
        return pb.HashKVResponse(
            header=self.server.header(),
            hash=result.hash,
            compact_revision=result.compact_revision,
            hash_revision=result.hash_revision,
        )

    @etcd_errors
    async def Alarm(self, request: pb.AlarmRequest, context: Context) -> pb.AlarmResponse:
        if request.action == pb.AlarmRequest.GET:
            return pb.AlarmResponse(header=self.server.header(), alarms=self.server.alarm_members())
        response: pb.AlarmResponse = await self.server.propose(internal.InternalRaftRequest(alarm=request))
        return response

    async def Snapshot(
        self, request: pb.SnapshotRequest, context: Context
    ) -> AsyncIterator[pb.SnapshotResponse]:
        """The db, streamed, followed by its sha256 like etcd, so a copy can be checked."""
        self.server.store.commit()
        with tempfile.TemporaryFile() as copy:
            size = await asyncio.to_thread(self.server.store.snapshot, copy, commit=False)
            copy.seek(0)
            digest = hashlib.sha256()
            sent = 0
            while chunk := copy.read(SNAPSHOT_CHUNK):
                digest.update(chunk)
                sent += len(chunk)
                yield pb.SnapshotResponse(
                    header=self.server.header(), remaining_bytes=size - sent, blob=chunk
                )
            yield pb.SnapshotResponse(header=self.server.header(), remaining_bytes=0, blob=digest.digest())

    @etcd_errors
    async def MoveLeader(self, request: pb.MoveLeaderRequest, context: Context) -> pb.MoveLeaderResponse:
        server = self.server
        if server.leader != server.member_id:
            raise errors.NotLeaderError()
        if request.targetID not in server.members:
            raise errors.BadLeaderTransfereeError()
        server.call_node(lambda: server.node.transfer_leadership(request.targetID))
        deadline = asyncio.get_running_loop().time() + server.request_timeout
        while server.leader != request.targetID:
            if asyncio.get_running_loop().time() > deadline:
                raise errors.RequestTimeoutError()
            await asyncio.sleep(server.config.heartbeat_ms / 1000)
        return pb.MoveLeaderResponse(header=server.header())


AUTH_UNSUPPORTED = (
    "etcdserver: authentication is not supported: kplane-etcd authenticates clients by TLS certificate"
)


class Auth(rpc.AuthServicer):
    """Every Auth method answers UNIMPLEMENTED: kplane-etcd authenticates with mTLS."""


def _unimplemented(name: str) -> Callable[..., Awaitable[None]]:
    async def method(self: Auth, request: Any, context: Context) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, AUTH_UNSUPPORTED)

    method.__name__ = name
    return method


for _name in [n for n in dir(rpc.AuthServicer) if n[0].isupper()]:
    setattr(Auth, _name, _unimplemented(_name))


def add_services(grpc_server: grpc.aio.Server, server: EtcdServer) -> None:
    rpc.add_KVServicer_to_server(KV(server), grpc_server)
    rpc.add_WatchServicer_to_server(Watch(server), grpc_server)
    rpc.add_LeaseServicer_to_server(Lease(server), grpc_server)
    rpc.add_ClusterServicer_to_server(Cluster(server), grpc_server)
    rpc.add_MaintenanceServicer_to_server(Maintenance(server), grpc_server)
    rpc.add_AuthServicer_to_server(Auth(), grpc_server)
