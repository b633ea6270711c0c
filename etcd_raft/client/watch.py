"""Watches: many watches share one bidirectional Watch stream of the client, told apart by the
watch ids etcd assigns (in the order of the create requests, as etcd's Go client relies on).

When the stream breaks (its endpoint went away, or lost its leader: the stream asks etcd to
refuse it then), it is opened again on the next endpoint and every watch is created again from
the revision after the last one it delivered, so no event is lost or repeated. A watch whose
start has been compacted away ends with CompactedError(compact_revision); other errors that etcd
gives for a watch end it with that error. The stream is closed when the last watch is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import grpc
import grpc.aio

from etcd_raft.api.etcdserverpb import rpc_pb2
from etcd_raft.api.mvccpb import kv_pb2
from etcd_raft.client.errors import (
    CompactedError,
    DeadlineExceededError,
    EtcdError,
    error_for,
    error_from_rpc,
)
from etcd_raft.client.transport import REQUIRE_LEADER, RESUMABLE, Connection, Endpoint, log

WATCH = "/etcdserverpb.Watch/Watch"
_STREAM_WIDE = -1  # the watch id of a progress notification for the whole stream
_BACKOFF = (0.1, 2.0)


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """The events of one watch response (all of one revision or more, in order); no events: a
    progress notification, saying every later event will be above `revision`."""

    header: rpc_pb2.ResponseHeader
    events: tuple[kv_pb2.Event, ...]

    @property
    def revision(self) -> int:
        """The store's revision when the response was sent."""
        return self.header.revision

    @property
    def is_progress_notify(self) -> bool:
        return not self.events


class _Closed:
    pass


_CLOSED: Final = _Closed()


class Watcher:
    """One watch: an async iterator of WatchBatch, and an async context manager that waits until
    etcd has created the watch and cancels it on exit. Breaking out of `async for` does not cancel
    it by itself: use `async with` or call close()."""

    def __init__(self, hub: WatchHub, request: rpc_pb2.WatchCreateRequest):
        self._hub = hub
        self._request = request
        self._next_revision = request.start_revision  # 0: from "now", until created
        self._queue: asyncio.Queue[WatchBatch | BaseException | _Closed] = asyncio.Queue()
        self._created = asyncio.Event()
        self._created_revision = 0
        self._error: BaseException | None = None
        self._fragments: list[kv_pb2.Event] = []
        self.watch_id: int | None = None
        """The id etcd gave this watch on the current stream (None while not created)."""
        self.closed = False

    # ---- the caller's side ----

    async def wait_created(self) -> int:
        """Wait until etcd has created the watch; return the store's revision then (events above
        it, or from start_revision, follow). Raises the error that ended the watch, if any."""
        await self._created.wait()
        if not self._created_revision and self._error is not None:
            raise self._error
        return self._created_revision

    def close(self) -> None:
        """Cancel the watch (at etcd too); iteration then ends."""
        if not self.closed:
            self.closed = True
            self._hub.remove(self)
            self._created.set()
            self._queue.put_nowait(_CLOSED)

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> WatchBatch:
        if self._queue.empty() and self.closed:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Closed):
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item

    async def __aenter__(self) -> Watcher:
        """Wait (up to the client's timeout) until etcd has created the watch."""
        try:
            async with asyncio.timeout(self._hub.connection.timeout):
                await self.wait_created()
        except TimeoutError:
            self.close()
            raise self._hub.last_error or DeadlineExceededError(
                "etcdclient: watch not created in time"
            ) from None
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ---- the stream's side ----

    def create_request(self) -> rpc_pb2.WatchRequest:
        request = rpc_pb2.WatchCreateRequest()
        request.CopyFrom(self._request)
        request.start_revision = self._next_revision
        return rpc_pb2.WatchRequest(create_request=request)

    def on_created(self, watch_id: int, header: rpc_pb2.ResponseHeader) -> None:
        self.watch_id = watch_id
        if self._next_revision == 0:
            self._next_revision = header.revision + 1
        if not self._created.is_set():
            self._created_revision = header.revision
            self._created.set()

    def on_response(self, response: rpc_pb2.WatchResponse) -> None:
        if response.fragment:
            self._fragments.extend(response.events)
            return
        events = (*self._fragments, *response.events)
        self._fragments.clear()
        if events:
            self._next_revision = events[-1].kv.mod_revision + 1
        elif response.watch_id != _STREAM_WIDE:
            # A watch's own progress notification: all later events are above this revision.
            self._next_revision = max(self._next_revision, response.header.revision + 1)
        self._queue.put_nowait(WatchBatch(response.header, events))

    def on_stream_lost(self) -> None:
        self.watch_id = None
        self._fragments.clear()  # the rest of a split revision comes again, whole

    def fail(self, error: BaseException) -> None:
        """End the watch with `error` (raised by the iterator after the batches already queued)."""
        if self.closed:
            return
        self._error = error
        self.closed = True
        self._hub.remove(self)
        self._created.set()
        self._queue.put_nowait(_CLOSED)


def _watch_cancel_error(response: rpc_pb2.WatchResponse, endpoint: Endpoint) -> EtcdError:
    if response.compact_revision:
        return CompactedError(response.compact_revision, endpoint=endpoint.url)
    reason = response.cancel_reason or "etcdserver: watch canceled by the server"
    return error_for(reason, grpc.StatusCode.UNKNOWN, endpoint=endpoint.url)


class _Stream:
    """One open Watch call and the watches on it."""

    def __init__(self, call: grpc.aio.StreamStreamCall[rpc_pb2.WatchRequest, rpc_pb2.WatchResponse]):
        self.call = call
        self.outbox: asyncio.Queue[rpc_pb2.WatchRequest] = asyncio.Queue()
        self.pending: deque[Watcher] = deque()  # create requests sent, in order, not yet answered
        self.by_id: dict[int, Watcher] = {}
        self.closing = False
        self.answered = False

    def create(self, watcher: Watcher) -> None:
        self.pending.append(watcher)
        self.outbox.put_nowait(watcher.create_request())

    def cancel(self, watcher: Watcher) -> None:
        watch_id = watcher.watch_id
        if watch_id is not None and self.by_id.get(watch_id) is watcher:
            del self.by_id[watch_id]
            self.outbox.put_nowait(
                rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=watch_id))
            )
        # A watch still waiting for its id is cancelled when the id comes (see dispatch).

    def shut(self) -> None:
        self.closing = True
        self.call.cancel()

    async def send_loop(self) -> None:
        try:
            while True:
                await self.call.write(await self.outbox.get())
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            pass  # the call has ended: its reader sees why


class WatchHub:
    """The client's watches and their shared stream."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.last_error: EtcdError | None = None
        self._watchers: list[Watcher] = []
        self._stream: _Stream | None = None
        self._task: asyncio.Task[None] | None = None

    def watch(self, request: rpc_pb2.WatchCreateRequest) -> Watcher:
        if self.connection.closed:
            raise RuntimeError("the etcd client is closed")
        watcher = Watcher(self, request)
        self._watchers.append(watcher)
        if self._stream is not None and not self._stream.closing:
            self._stream.create(watcher)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="etcd-watch-stream")
        return watcher

    def remove(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
        stream = self._stream
        if stream is not None:
            stream.cancel(watcher)
            if not self._watchers and not stream.closing:
                stream.shut()

    def request_progress(self) -> None:
        """Ask etcd for a progress notification on the stream (delivered to every watch)."""
        if self._stream is not None and not self._stream.closing:
            self._stream.outbox.put_nowait(
                rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())
            )

    async def close(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        backoff, longest = _BACKOFF
        while self._watchers and not self.connection.closed:
            endpoint = self.connection.current()
            call = self.connection.stream(endpoint, WATCH, rpc_pb2.WatchResponse)(metadata=REQUIRE_LEADER)
            stream = _Stream(call)
            self._stream = stream
            for watcher in self._watchers:
                stream.create(watcher)
            try:
                await self._serve(stream, endpoint)
                if stream.closing:
                    continue  # the last watch went; a new one may have come meanwhile
                self.last_error = EtcdError(
                    "etcdclient: watch stream closed by the server", endpoint=endpoint.url
                )
            except grpc.aio.AioRpcError as err:
                if stream.closing:
                    continue
                error = error_from_rpc(err, endpoint=endpoint.url)
                self.last_error = error
                if err.code() not in RESUMABLE:
                    for watcher in list(self._watchers):
                        watcher.fail(error)
                    return
                log.info("etcd watch stream to %s broke (%s); resuming", endpoint.url, error)
            except Exception as exc:  # a bug: end the watches rather than leave them hanging
                log.exception("etcd watch stream failed")
                for watcher in list(self._watchers):
                    watcher.fail(exc)
                return
            finally:
                self._stream = None
                call.cancel()
                for watcher in self._watchers:
                    watcher.on_stream_lost()
            self.connection.failover(endpoint)
            if stream.answered:
                backoff = _BACKOFF[0]
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, longest)

    async def _serve(self, stream: _Stream, endpoint: Endpoint) -> None:
        sender = asyncio.get_running_loop().create_task(stream.send_loop())
        try:
            while True:
                try:
                    response = await stream.call.read()
                except asyncio.CancelledError:
                    current = asyncio.current_task()
                    if stream.closing and (current is None or not current.cancelling()):
                        return  # the call was cancelled because no watch is left
                    raise
                if response is grpc.aio.EOF:
                    return
                assert isinstance(response, rpc_pb2.WatchResponse)
                if not stream.answered:
                    stream.answered = True
                    self.last_error = None
                self._dispatch(stream, response, endpoint)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    def _dispatch(self, stream: _Stream, response: rpc_pb2.WatchResponse, endpoint: Endpoint) -> None:
        if response.created:
            if not stream.pending:
                log.warning("etcd sent an unexpected watch creation (id %d)", response.watch_id)
                return
            watcher = stream.pending.popleft()
            if response.canceled or response.watch_id == _STREAM_WIDE:
                watcher.fail(_watch_cancel_error(response, endpoint))
                return
            watcher.on_created(response.watch_id, response.header)
            stream.by_id[response.watch_id] = watcher
            if watcher.closed:  # closed while waiting for its id
                stream.cancel(watcher)
            return
        if response.watch_id == _STREAM_WIDE and not response.events:
            for watcher in stream.by_id.values():
                watcher.on_response(response)
            return
        watcher_or_none = stream.by_id.get(response.watch_id)
        if watcher_or_none is None:
            return  # a watch cancelled meanwhile
        if response.canceled:
            del stream.by_id[response.watch_id]
            watcher_or_none.fail(_watch_cancel_error(response, endpoint))
            return
        watcher_or_none.on_response(response)
