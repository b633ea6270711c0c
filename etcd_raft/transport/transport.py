"""`Transport`: how a member exchanges Raft messages with the others (etcd's rafthttp, over gRPC).

Sending never blocks the Raft loop: `send()` groups the Ready's messages per destination into one
MessageBatch and queues it for that peer's stream (peer.PeerSender); MsgSnap goes on its own
`Snapshot` call in chunks. Receiving is `RaftPeerServicer` in a gRPC server on the listen peer URLs.
Failures come back through the callbacks, as etcd's raft.Node expects them: `on_unreachable(id)`
(-> ReportUnreachable) and `on_snapshot_status(id, ok)` (-> ReportSnapshot).

All methods are called from the event loop; add_peer() and send() need it running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

import grpc
import grpc.aio

from etcd_raft.api.peerpb import peer_pb2
from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft.messages import Message, MessageType
from etcd_raft.transport.codec import message_to_pb
from etcd_raft.transport.peer import MAX_MESSAGE_BYTES, PeerSender
from etcd_raft.transport.server import RaftPeerServicer, start_server
from etcd_raft.transport.urls import PeerTLS, PeerURL, parse_peer_urls

log = logging.getLogger("etcd_raft.transport")

QUEUE_SIZE = 1024
"""Batches queued per peer (about one per Ready). Raft's own flow control bounds what is in flight;
this only absorbs bursts and a peer's reconnect backoff."""

BATCH_BYTES = MAX_MESSAGE_BYTES // 2
"""A batch is split before it grows past this, to stay clear of gRPC's message limit."""


class Transport:
    def __init__(
        self,
        member_id: int,
        *,
        tls: PeerTLS | None,
        on_message: Callable[[Message], None],
        on_unreachable: Callable[[int], None],
        on_snapshot_status: Callable[[int, bool], None],
        queue_size: int = QUEUE_SIZE,
        backoff: tuple[float, float] = (0.05, 0.5),
    ) -> None:
        """`backoff`: the first and the longest pause before redialing a peer whose stream failed."""
        if tls is not None:
            tls.check()
        self.member_id = member_id
        self.tls = tls
        self._on_unreachable = on_unreachable
        self._on_snapshot_status = on_snapshot_status
        self._queue_size = queue_size
        self._backoff = backoff
        self._credentials: grpc.ChannelCredentials | None = tls.channel_credentials() if tls else None
        self._servicer = RaftPeerServicer(member_id, on_message)
        self._server: grpc.aio.Server | None = None
        self._peers: dict[int, PeerSender] = {}
        self._retiring: set[asyncio.Task[None]] = set()  # closing removed peers and stale channels
        self.listen_urls: tuple[str, ...] = ()

    # ---- serving ----

    async def start(self, listen_urls: Sequence[str]) -> None:
        """Serve peers on `listen_urls`; `listen_urls` then holds them with the bound ports."""
        if self._server is not None:
            raise RuntimeError("the peer transport is already serving")
        self._server, self.listen_urls = await start_server(self._servicer, listen_urls, self.tls)

    async def stop(self) -> None:
        """Stop serving and sending; in-flight messages are dropped. The transport can start again."""
        server, self._server = self._server, None
        self.listen_urls = ()
        if server is not None:
            await server.stop(None)  # cancels the peers' streams into us
        peers = list(self._peers.values())
        self._peers.clear()
        await asyncio.gather(*(peer.close() for peer in peers), *self._retiring, return_exceptions=True)

    # ---- peers ----

    def add_peer(self, peer_id: int, urls: Iterable[str]) -> None:
        """Start sending to `peer_id` at `urls`; for a known peer, the same as update_peer()."""
        if peer_id in self._peers:
            self.update_peer(peer_id, urls)
            return
        if peer_id == self.member_id:
            raise ValueError(f"member {peer_id:x} cannot be its own peer")
        self._peers[peer_id] = PeerSender(
            peer_id,
            self._check_urls(urls),
            credentials=self._credentials,
            queue_size=self._queue_size,
            backoff=self._backoff,
            on_unreachable=self._on_unreachable,
            on_snapshot_status=self._on_snapshot_status,
        )

    def update_peer(self, peer_id: int, urls: Iterable[str]) -> None:
        """Send to `peer_id` at `urls` from now on (KeyError for an unknown peer)."""
        stale = self._peers[peer_id].set_urls(self._check_urls(urls))
        if stale:
            self._retire(*(channel.close() for channel in stale))

    def remove_peer(self, peer_id: int) -> None:
        """Stop sending to `peer_id` (unknown ids are ignored: removal may be applied twice)."""
        peer = self._peers.pop(peer_id, None)
        if peer is not None:
            self._retire(peer.close())

    def peers(self) -> dict[int, tuple[str, ...]]:
        return {peer_id: tuple(url.url for url in peer.urls) for peer_id, peer in self._peers.items()}

    # ---- sending ----

    def send(self, messages: Sequence[Message]) -> None:
        """Queue the messages of one Ready; never blocks. Messages to unknown peers are dropped."""
        batches: dict[int, list[tuple[raft_pb2.Message, int]]] = {}
        for message in messages:
            peer = self._peers.get(message.to)
            if peer is None:
                log.debug("dropping %s to unknown peer %x", message.type.name, message.to)
                continue
            if message.type == MessageType.MsgSnap and message.snapshot is not None:
                peer.send_snapshot(message)
                continue
            pb = message_to_pb(message)
            size = pb.ByteSize()
            if size > BATCH_BYTES:
                # Sending it would break the stream each time Raft retries; the entry size limit
                # (--max-request-bytes) keeps this from happening.
                log.error("dropping a %d-byte %s to peer %x: too large", size, message.type.name, message.to)
                self._on_unreachable(message.to)
                continue
            batches.setdefault(message.to, []).append((pb, size))
        for peer_id, sized in batches.items():
            for batch in _split(sized):
                if not self._peers[peer_id].enqueue(batch):
                    # The stream is not keeping up or the peer is down; Raft sends it again.
                    log.debug("peer %x's queue is full; dropping %d messages", peer_id, len(batch.messages))
                    self._on_unreachable(peer_id)

    # ---- helpers ----

    def _check_urls(self, urls: Iterable[str]) -> tuple[PeerURL, ...]:
        parsed = parse_peer_urls(urls)
        if self._credentials is None and any(url.secure for url in parsed):
            raise ValueError(f"https peer URLs {', '.join(u.url for u in parsed)} need peer TLS")
        return parsed

    def _retire(self, *closing: Coroutine[Any, Any, None]) -> None:
        for coroutine in closing:
            task = asyncio.get_running_loop().create_task(coroutine, name="raft-peer-close")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)


def _split(sized: list[tuple[raft_pb2.Message, int]]) -> Iterable[peer_pb2.MessageBatch]:
    """One batch, unless the messages together would come near gRPC's message size limit."""
    start = total = 0
    for index, (_, size) in enumerate(sized):
        if total + size > BATCH_BYTES:
            yield peer_pb2.MessageBatch(messages=[pb for pb, _ in sized[start:index]])
            start, total = index, 0
        total += size
    yield peer_pb2.MessageBatch(messages=[pb for pb, _ in sized[start:]])
