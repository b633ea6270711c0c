"""The sending side for one remote member: a bounded queue of message batches, the long-lived `Send`
stream one task feeds from it, and the snapshots in flight on their own `Snapshot` calls.

Nothing here retries a message: when the stream breaks, what was queued is dropped and the member
reported unreachable, and Raft sends again what still matters (etcd's rafthttp does the same).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message as ProtoMessage

from etcd_raft.api.peerpb import peer_pb2
from etcd_raft.raft.messages import Message
from etcd_raft.raft.types import Snapshot
from etcd_raft.transport.codec import message_to_pb
from etcd_raft.transport.urls import PeerURL

log = logging.getLogger("etcd_raft.transport")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
SNAPSHOT_CHUNK_BYTES = 1024 * 1024
MERGE_BYTES = 4 * 1024 * 1024

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # A peer that vanishes without closing its connections (power loss, partition) is noticed by
    # the pings within seconds, instead of by TCP's timeouts minutes later; and a connection that
    # lived through a partition is not left to TCP's retransmission backoff, which after a few
    # seconds of loss waits seconds more before it tries again.
    ("grpc.keepalive_time_ms", 5_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    # gRPC's own reconnect backoff starts at 1 s and grows to 2 min; a member restarting must be
    # reachable again within an election timeout or two.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    # The connect timeout (gRPC names it the minimum reconnect backoff; default 20 s): a dial made
    # while the peer was unreachable must not hang on for long after it is back (etcd: 1 s).
    ("grpc.min_reconnect_backoff_ms", 1_000),
]

_STREAM_METHOD = "/kplane.peer.Raft/Send"
_SNAPSHOT_METHOD = "/kplane.peer.Raft/Snapshot"
_SendCall = grpc.aio.StreamUnaryCall[peer_pb2.MessageBatch, peer_pb2.SendResponse]
_SnapshotCall = grpc.aio.StreamUnaryCall[peer_pb2.SnapshotChunk, peer_pb2.SendResponse]
_Request = TypeVar("_Request", bound=ProtoMessage)


class PeerSender:
    """Sends to member `peer_id` at `urls`, trying the next URL after each failed stream."""

    def __init__(
        self,
        peer_id: int,
        urls: tuple[PeerURL, ...],
        *,
        credentials: grpc.ChannelCredentials | None,
        queue_size: int,
        backoff: tuple[float, float],
        on_unreachable: Callable[[int], None],
        on_snapshot_status: Callable[[int, bool], None],
    ) -> None:
        self.id = peer_id
        self.urls = urls
        self._credentials = credentials
        self._queue_size = queue_size
        self._backoff = backoff
        self._on_unreachable = on_unreachable
        self._on_snapshot_status = on_snapshot_status
        self._url_index = 0
        self._channels: dict[PeerURL, grpc.aio.Channel] = {}
        self._pending: deque[peer_pb2.MessageBatch] = deque()
        self._wakeup = asyncio.Event()  # set by enqueue() and by a stream ending
        self._generation = 0  # bumped by set_urls(), so the stream it cuts is not a failure
        self._call: _SendCall | None = None
        self._active = True  # for logging the transitions only
        self._snapshots: set[asyncio.Task[None]] = set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"raft-send-{peer_id:x}")

    # ---- called from Transport ----

    def enqueue(self, batch: peer_pb2.MessageBatch) -> bool:
        """Queue `batch` for the stream; False (and nothing queued) when the queue is full."""
        if len(self._pending) >= self._queue_size:
            return False
        self._pending.append(batch)
        self._wakeup.set()
        return True

    def send_snapshot(self, message: Message) -> None:
        task = asyncio.get_running_loop().create_task(
            self._send_snapshot(message), name=f"raft-snapshot-{self.id:x}"
        )
        self._snapshots.add(task)
        task.add_done_callback(self._snapshots.discard)

    def set_urls(self, urls: tuple[PeerURL, ...]) -> list[grpc.aio.Channel]:
        """Dial `urls` from now on; returns the channels no longer needed, for the caller to close
        (snapshots still sending on them fail and are reported failed; Raft sends them again)."""
        if urls == self.urls:
            return []
        self.urls, self._url_index = urls, 0
        self._generation += 1
        if self._call is not None:
            self._call.cancel()  # the stream reopens on the new URLs
        stale = [url for url in self._channels if url not in urls]
        return [self._channels.pop(url) for url in stale]

    async def close(self) -> None:
        """Cancel the stream and the snapshots in flight and close the channels; nothing is
        reported, the member is gone or this one is stopping."""
        tasks = [self._task, *self._snapshots]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        channels = list(self._channels.values())
        self._channels.clear()
        for channel in channels:
            await channel.close()

    # ---- the stream ----

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        shortest, longest = self._backoff
        backoff = shortest
        while True:
            while not self._pending:  # dial only when there is something to send
                self._wakeup.clear()
                await self._wakeup.wait()
            generation, url = self._generation, self.urls[self._url_index]
            call: _SendCall = self._channel(url).stream_unary(
                _STREAM_METHOD,
                request_serializer=_serialize,
                response_deserializer=peer_pb2.SendResponse.FromString,
            )(wait_for_ready=False)
            call.add_done_callback(lambda _: self._wakeup.set())
            self._call, opened = call, loop.time()
            try:
                await self._pump(call)
            finally:
                self._call = None
                call.cancel()  # a no-op once the call has ended; ends it when we are cancelled
            if generation != self._generation:
                backoff = shortest  # set_urls() cut the stream: reopen at once
                continue
            if loop.time() - opened >= longest:
                backoff = shortest  # it had been working: this is a new outage
            self._stream_failed(url, await call.code(), await call.details())
            await asyncio.sleep(backoff)
            backoff = min(2 * backoff, longest)

    async def _pump(self, call: _SendCall) -> None:
        """Write queued batches to `call` until it ends (the peer went away or refused us)."""
        while True:
            while not self._pending and not call.done():
                self._wakeup.clear()
                await self._wakeup.wait()
            if call.done():
                return  # leave the queue alone: a dead stream would lose the batch
            try:
                await call.write(self._next_write())
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                return
            if not self._active:
                self._active = True
                log.info("peer %x is active again (%s)", self.id, self.urls[self._url_index].url)

    def _next_write(self) -> peer_pb2.MessageBatch:
        """The next queued batch, with the ones queued behind it while the last write was in flight
        (up to MERGE_BYTES): one stream write costs about as much as a small batch is worth."""
        batch = self._pending.popleft()
        if not self._pending:
            return batch
        size = batch.ByteSize()
        while self._pending and size + (following := self._pending[0].ByteSize()) <= MERGE_BYTES:
            batch.messages.extend(self._pending.popleft().messages)
            size += following
        return batch

    def _stream_failed(self, url: PeerURL, code: grpc.StatusCode, details: str | None) -> None:
        if self._active:
            self._active = False
            log.warning("peer %x is unreachable at %s: %s %s", self.id, url.url, code.name, details or "")
        self._pending.clear()
        self._url_index = (self._url_index + 1) % len(self.urls)
        self._on_unreachable(self.id)

    # ---- snapshots ----

    async def _send_snapshot(self, message: Message) -> None:
        assert message.snapshot is not None
        url = self.urls[self._url_index]
        ok = False
        try:
            call: _SnapshotCall = self._channel(url).stream_unary(
                _SNAPSHOT_METHOD,
                request_serializer=_serialize,
                response_deserializer=peer_pb2.SendResponse.FromString,
            )(wait_for_ready=False)
            try:
                for chunk in snapshot_chunks(message):
                    await call.write(chunk)
                await call.done_writing()
                await call
                ok = True
            finally:
                call.cancel()
        except asyncio.CancelledError:
            raise  # close(): nobody to tell
        except Exception as error:  # any failure is reported, or Raft would wait for it forever
            log.warning(
                "sending snapshot %d to peer %x failed: %s", message.snapshot.metadata.index, self.id, error
            )
        if not ok:
            self._on_unreachable(self.id)
        self._on_snapshot_status(self.id, ok)

    def _channel(self, url: PeerURL) -> grpc.aio.Channel:
        channel = self._channels.get(url)
        if channel is None:
            if url.secure:
                assert self._credentials is not None  # Transport refuses https URLs without TLS
                channel = grpc.aio.secure_channel(url.target, self._credentials, CHANNEL_OPTIONS)
            else:
                channel = grpc.aio.insecure_channel(url.target, CHANNEL_OPTIONS)
            self._channels[url] = channel
        return channel


def _serialize(message: _Request) -> bytes:
    return message.SerializeToString()


def snapshot_chunks(message: Message) -> Iterator[peer_pb2.SnapshotChunk]:
    """A MsgSnap as `Snapshot` stream chunks: the first carries the message with the snapshot's data
    emptied, each at most SNAPSHOT_CHUNK_BYTES of the data; the last one says so."""
    assert message.snapshot is not None
    data = message.snapshot.data
    header = message_to_pb(replace(message, snapshot=Snapshot(message.snapshot.metadata, b"")))
    offsets = range(0, len(data), SNAPSHOT_CHUNK_BYTES) or range(1)  # an empty snapshot: one chunk
    for offset in offsets:
        end = offset + SNAPSHOT_CHUNK_BYTES
        chunk = peer_pb2.SnapshotChunk(data=data[offset:end], last=end >= len(data))
        if offset == 0:
            chunk.header.CopyFrom(header)
        yield chunk
