"""Keeping a lease alive: a LeaseKeepAlive stream sends a renewal every third of the lease's TTL
(as etcd's Go client does) in the background, and hands the answers to whoever iterates."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Final

import grpc
import grpc.aio

from etcd_raft.api.etcdserverpb import rpc_pb2
from etcd_raft.client.errors import EtcdError, LeaseNotFoundError, UnavailableError, error_from_rpc
from etcd_raft.client.transport import REQUIRE_LEADER, RESUMABLE, Connection, Endpoint, log, stream_error

LEASE_KEEP_ALIVE = "/etcdserverpb.Lease/LeaseKeepAlive"
_MIN_INTERVAL = 0.2
_BACKOFF = (0.1, 1.0)
_QUEUE_SIZE = 16  # answers kept for a slow reader; older ones are dropped

KeepAliveCall = grpc.aio.StreamStreamCall[rpc_pb2.LeaseKeepAliveRequest, rpc_pb2.LeaseKeepAliveResponse]


class _Closed:
    pass


_CLOSED: Final = _Closed()


async def _renew(
    call: KeepAliveCall, lease_id: int, endpoint: Endpoint, within: float
) -> rpc_pb2.LeaseKeepAliveResponse:
    """Send one renewal on `call` and return the answer; EtcdError when the stream fails."""
    try:
        async with asyncio.timeout(within):
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
            response = await call.read()
    except grpc.aio.AioRpcError as err:
        raise error_from_rpc(err, endpoint=endpoint.url) from None
    except (asyncio.InvalidStateError, grpc.aio.UsageError):  # written to after it ended
        raise await stream_error(call, endpoint) from None
    except TimeoutError:
        raise UnavailableError(
            "etcdclient: lease keep-alive got no answer in time", endpoint=endpoint.url
        ) from None
    if not isinstance(response, rpc_pb2.LeaseKeepAliveResponse):
        raise await stream_error(call, endpoint)
    return response


def _open(connection: Connection, endpoint: Endpoint) -> KeepAliveCall:
    method = connection.stream(endpoint, LEASE_KEEP_ALIVE, rpc_pb2.LeaseKeepAliveResponse)
    return method(metadata=REQUIRE_LEADER)


async def keep_alive_once(connection: Connection, lease_id: int) -> rpc_pb2.LeaseKeepAliveResponse:
    """Renew the lease once; LeaseNotFoundError when it does not exist (any more)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connection.timeout
    while True:
        endpoint = connection.current()
        call = _open(connection, endpoint)
        try:
            response = await _renew(call, lease_id, endpoint, max(0.0, deadline - loop.time()))
        except EtcdError as error:
            if error.code not in RESUMABLE or loop.time() + _BACKOFF[0] >= deadline:
                raise
            connection.failover(endpoint)
            await asyncio.sleep(_BACKOFF[0])
            continue
        finally:
            call.cancel()
        if response.TTL <= 0:
            raise LeaseNotFoundError(endpoint=endpoint.url)
        return response


class LeaseKeepAlive:
    """Keeps one lease alive until closed (an async context manager), and is an async iterator of
    the LeaseKeepAliveResponse of each renewal. Iteration ends with LeaseNotFoundError once the
    lease is gone (revoked or expired), or with the error that kept it from being renewed before
    its TTL ran out. The stream moves to the next endpoint when one fails."""

    def __init__(
        self,
        connection: Connection,
        lease_id: int,
        *,
        on_done: Callable[[LeaseKeepAlive], object] | None = None,
    ):
        self.lease_id = lease_id
        self._connection = connection
        self._queue: asyncio.Queue[rpc_pb2.LeaseKeepAliveResponse | _Closed] = asyncio.Queue(_QUEUE_SIZE)
        self._error: BaseException | None = None
        self.closed = False
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"etcd-lease-keepalive-{lease_id}"
        )
        if on_done is not None:
            self._task.add_done_callback(lambda _: on_done(self))

    async def close(self) -> None:
        """Stop renewing (the lease itself stays until it expires or is revoked)."""
        self._finish(None)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    aclose = close

    def __aiter__(self) -> LeaseKeepAlive:
        return self

    async def __anext__(self) -> rpc_pb2.LeaseKeepAliveResponse:
        if self.closed and self._queue.empty():
            return self._end()
        item = await self._queue.get()
        if isinstance(item, _Closed):
            return self._end()
        return item

    def _end(self) -> rpc_pb2.LeaseKeepAliveResponse:
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    async def __aenter__(self) -> LeaseKeepAlive:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _deliver(self, item: rpc_pb2.LeaseKeepAliveResponse | _Closed) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def _finish(self, error: BaseException | None) -> None:
        if not self.closed:
            self.closed = True
            self._error = error
            self._deliver(_CLOSED)

    async def _run(self) -> None:
        try:
            await self._keep_alive()
        except Exception as exc:  # a bug, or the client closed under it: end the iteration with it
            self._finish(exc)

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        connection = self._connection
        expires: float | None = None  # when the lease runs out unless renewed (once known)
        backoff, longest = _BACKOFF
        while not self.closed:
            endpoint = connection.current()
            call = _open(connection, endpoint)
            try:
                while True:
                    response = await _renew(call, self.lease_id, endpoint, connection.timeout)
                    if response.TTL <= 0:
                        self._finish(LeaseNotFoundError(endpoint=endpoint.url))
                        return
                    expires = loop.time() + response.TTL
                    backoff = _BACKOFF[0]
                    self._deliver(response)
                    await asyncio.sleep(max(response.TTL / 3, _MIN_INTERVAL))
            except EtcdError as error:
                if error.code not in RESUMABLE or (expires is not None and loop.time() >= expires):
                    self._finish(error)
                    return
                log.info(
                    "etcd lease keep-alive for %x via %s failed (%s); retrying",
                    self.lease_id,
                    endpoint.url,
                    error,
                )
            finally:
                call.cancel()
            connection.failover(endpoint)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, longest)
