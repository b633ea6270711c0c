"""EtcdClient: an asyncio etcd v3 client on grpc.aio, for real etcd and kplane's etcd_raft alike."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from google.protobuf.message import Message

from etcd_raft.api.etcdserverpb import rpc_pb2
from etcd_raft.client.errors import EtcdError
from etcd_raft.client.lease import LeaseKeepAlive, keep_alive_once
from etcd_raft.client.ops import (
    Bytesish,
    delete_request,
    is_read_only,
    key_range,
    put_request,
    range_request,
    txn_request,
)
from etcd_raft.client.transport import Connection, Resp
from etcd_raft.client.watch import Watcher, WatchHub

_KV = "/etcdserverpb.KV/"
_LEASE = "/etcdserverpb.Lease/"
_CLUSTER = "/etcdserverpb.Cluster/"
_MAINTENANCE = "/etcdserverpb.Maintenance/"


class EtcdClient:
    """An etcd v3 client, used like go.etcd.io/etcd/client/v3.

        async with EtcdClient(["https://127.0.0.1:2379"], ca_file=..., cert_file=..., key_file=...) as etcd:
            await etcd.put("/registry/x", b"...")
            response = await etcd.get("/registry/", prefix=True)   # etcdserverpb.RangeResponse

    Requests and answers are etcd's protobuf messages (etcd_raft.api.etcdserverpb.rpc_pb2), as in
    the Go client whose GetResponse is etcdserverpb.RangeResponse: `response.header.revision`,
    `response.kvs[0].mod_revision`, ... Keys and values may be given as bytes or str (UTF-8);
    they come back as bytes. Watches yield WatchBatch (header + events).

    `endpoints` are "https://host:port" (mutual TLS with ca_file, cert_file, key_file), or
    "http://host:port", or "host:port" (TLS when ca_file is given). Each request has `timeout`
    seconds, failing over between endpoints (see etcd_raft.client.transport). Errors are
    EtcdError subclasses carrying etcd's message (see etcd_raft.client.errors).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        timeout: float = 5.0,
    ):
        self._connection = Connection(
            endpoints, ca_file=ca_file, cert_file=cert_file, key_file=key_file, timeout=timeout
        )
        self._watches: WatchHub | None = None
        self._keep_alives: set[LeaseKeepAlive] = set()

    @property
    def endpoints(self) -> list[str]:
        return [endpoint.url for endpoint in self._connection.endpoints]

    @property
    def timeout(self) -> float:
        return self._connection.timeout

    async def __aenter__(self) -> EtcdClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """End every watch and keep-alive and close the connections."""
        if self._watches is not None:
            await self._watches.close()
        for keep_alive in list(self._keep_alives):
            await keep_alive.close()
        self._keep_alives.clear()
        await self._connection.close()

    async def _call(
        self,
        path: str,
        request: Message,
        response_type: type[Resp],
        *,
        read_only: bool,
        require_leader: bool = True,
        endpoint: str | None = None,
    ) -> Resp:
        pinned = self._connection.endpoint(endpoint) if endpoint is not None else None
        return await self._connection.call(
            path, request, response_type, read_only=read_only, require_leader=require_leader, endpoint=pinned
        )

    # ---- KV ----

    async def get(
        self,
        key: Bytesish,
        *,
        prefix: bool = False,
        range_end: Bytesish | None = None,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        serializable: bool = False,
    ) -> rpc_pb2.RangeResponse:
        """Read a key, every key with the prefix `key` (prefix=True), or [key, range_end) (range_end
        b"\\0": every key from `key` on), at `revision` (0: the newest). `serializable` reads the
        member's local state without a quorum read (and works without a leader)."""
        request = range_request(
            key,
            prefix=prefix,
            range_end=range_end,
            revision=revision,
            limit=limit,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
        )
        return await self._call(
            _KV + "Range", request, rpc_pb2.RangeResponse, read_only=True, require_leader=not serializable
        )

    async def put(
        self, key: Bytesish, value: Bytesish, *, lease: int = 0, prev_kv: bool = False
    ) -> rpc_pb2.PutResponse:
        request = put_request(key, value, lease=lease, prev_kv=prev_kv)
        return await self._call(_KV + "Put", request, rpc_pb2.PutResponse, read_only=False)

    async def delete(
        self, key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None, prev_kv: bool = False
    ) -> rpc_pb2.DeleteRangeResponse:
        request = delete_request(key, prefix=prefix, range_end=range_end, prev_kv=prev_kv)
        return await self._call(_KV + "DeleteRange", request, rpc_pb2.DeleteRangeResponse, read_only=False)

    async def txn(
        self,
        compare: Iterable[rpc_pb2.Compare] = (),
        success: Iterable[rpc_pb2.RequestOp] = (),
        failure: Iterable[rpc_pb2.RequestOp] = (),
    ) -> rpc_pb2.TxnResponse:
        """If every `compare` (see ops.Compare) holds, apply `success` (ops.Op), else `failure`;
        `response.succeeded` says which, `response.responses` has their answers."""
        request = txn_request(compare, success, failure)
        return await self._call(_KV + "Txn", request, rpc_pb2.TxnResponse, read_only=is_read_only(request))

    async def compact(self, revision: int, *, physical: bool = False) -> rpc_pb2.CompactionResponse:
        """Drop the history below `revision`; `physical` waits until it is gone from the backend."""
        request = rpc_pb2.CompactionRequest(revision=revision, physical=physical)
        return await self._call(_KV + "Compact", request, rpc_pb2.CompactionResponse, read_only=False)

    # ---- Watch ----

    def watch(
        self,
        key: Bytesish,
        *,
        prefix: bool = False,
        range_end: Bytesish | None = None,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
        filters: Sequence[rpc_pb2.WatchCreateRequest.FilterType] = (),
        fragment: bool = False,
    ) -> Watcher:
        """Watch a key (or prefix, or range) from `start_revision` (0: changes after now).

            async with etcd.watch("/registry/pods/", prefix=True, start_revision=rev) as watcher:
                async for batch in watcher:        # WatchBatch: .events, .revision, .header
                    ...

        `async with` waits until etcd has created the watch (so no later change is missed) and
        cancels it on exit. All watches of a client share one gRPC stream. A start revision that
        is (or gets) compacted ends the iteration with CompactedError(compact_revision).
        `fragment` lets etcd split a revision's events larger than its request limit over several
        responses; they are joined again here, so each batch still holds whole revisions."""
        start, end = key_range(key, prefix=prefix, range_end=range_end)
        request = rpc_pb2.WatchCreateRequest(
            key=start,
            range_end=end,
            start_revision=start_revision,
            prev_kv=prev_kv,
            progress_notify=progress_notify,
            filters=list(filters),
            fragment=fragment,
        )
        if self._watches is None:
            self._watches = WatchHub(self._connection)
        return self._watches.watch(request)

    def request_watch_progress(self) -> None:
        """Ask etcd to send every watch of this client a progress notification (etcd 3.4+)."""
        if self._watches is not None:
            self._watches.request_progress()

    # ---- Lease ----

    async def lease_grant(self, ttl: int, *, lease_id: int = 0) -> rpc_pb2.LeaseGrantResponse:
        """Create a lease of `ttl` seconds (`lease_id` 0: etcd picks the ID); `.ID` is its ID."""
        request = rpc_pb2.LeaseGrantRequest(TTL=ttl, ID=lease_id)
        response = await self._call(
            _LEASE + "LeaseGrant", request, rpc_pb2.LeaseGrantResponse, read_only=False
        )
        if response.error:
            raise EtcdError(response.error)
        return response

    async def lease_revoke(self, lease_id: int) -> rpc_pb2.LeaseRevokeResponse:
        """Revoke a lease, deleting its keys; LeaseNotFoundError if there is no such lease."""
        request = rpc_pb2.LeaseRevokeRequest(ID=lease_id)
        return await self._call(_LEASE + "LeaseRevoke", request, rpc_pb2.LeaseRevokeResponse, read_only=False)

    async def lease_time_to_live(
        self, lease_id: int, *, keys: bool = True
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        """The lease's remaining `.TTL` (-1: no such lease, as etcd answers), `.grantedTTL`, `.keys`."""
        request = rpc_pb2.LeaseTimeToLiveRequest(ID=lease_id, keys=keys)
        return await self._call(
            _LEASE + "LeaseTimeToLive", request, rpc_pb2.LeaseTimeToLiveResponse, read_only=True
        )

    async def lease_leases(self) -> rpc_pb2.LeaseLeasesResponse:
        """Every lease's ID (etcd 3.3+)."""
        return await self._call(
            _LEASE + "LeaseLeases", rpc_pb2.LeaseLeasesRequest(), rpc_pb2.LeaseLeasesResponse, read_only=True
        )

    def lease_keep_alive(self, lease_id: int) -> LeaseKeepAlive:
        """Keep the lease alive in the background until the returned LeaseKeepAlive is closed (or
        its `async with` ends); iterate it for each renewal's LeaseKeepAliveResponse."""
        keep_alive = LeaseKeepAlive(self._connection, lease_id, on_done=self._keep_alives.discard)
        self._keep_alives.add(keep_alive)  # also keeps its task from being garbage-collected
        return keep_alive

    async def lease_keep_alive_once(self, lease_id: int) -> rpc_pb2.LeaseKeepAliveResponse:
        """Renew the lease once; LeaseNotFoundError when it does not exist (any more)."""
        return await keep_alive_once(self._connection, lease_id)

    # ---- Cluster and Maintenance ----

    async def status(self, endpoint: str | None = None) -> rpc_pb2.StatusResponse:
        """The status of the member at `endpoint` (one of this client's; default: the one in use)."""
        return await self._call(
            _MAINTENANCE + "Status",
            rpc_pb2.StatusRequest(),
            rpc_pb2.StatusResponse,
            read_only=True,
            require_leader=False,
            endpoint=endpoint,
        )

    async def member_list(self, *, linearizable: bool = False) -> rpc_pb2.MemberListResponse:
        request = rpc_pb2.MemberListRequest(linearizable=linearizable)
        return await self._call(
            _CLUSTER + "MemberList", request, rpc_pb2.MemberListResponse, read_only=True, require_leader=False
        )

    async def alarm_list(self) -> rpc_pb2.AlarmResponse:
        """The alarms raised on any member (e.g. NOSPACE)."""
        request = rpc_pb2.AlarmRequest(action=rpc_pb2.AlarmRequest.GET)
        return await self._call(
            _MAINTENANCE + "Alarm", request, rpc_pb2.AlarmResponse, read_only=True, require_leader=False
        )
