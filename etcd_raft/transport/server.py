"""The receiving side: the `kplane.peer.Raft` service, handing each Raft message to the member, and
the gRPC server it runs in on the listen peer URLs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

import grpc
import grpc.aio

from etcd_raft.api.peerpb import peer_pb2
from etcd_raft.api.raftpb import raft_pb2
from etcd_raft.raft.messages import Message, MessageType
from etcd_raft.raft.types import Snapshot
from etcd_raft.transport.codec import CodecError, message_from_pb
from etcd_raft.transport.peer import MAX_MESSAGE_BYTES
from etcd_raft.transport.urls import PeerTLS, parse_peer_urls

log = logging.getLogger("etcd_raft.transport")

SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Peers ping every 5 s (peer.CHANNEL_OPTIONS); gRPC's default would answer that with GOAWAY.
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Two members must not share a port unnoticed (gRPC sets SO_REUSEPORT by default on Linux).
    ("grpc.so_reuseport", 0),
]


class RaftPeerServicer:
    """Decodes what peers send and calls `on_message` for each Raft message addressed to
    `member_id` (a member dialing the wrong URL is not someone to obey)."""

    def __init__(self, member_id: int, on_message: Callable[[Message], None]) -> None:
        self.member_id = member_id
        self._on_message = on_message

    async def Send(  # named as the rpc, not as PEP 8 would
        self, requests: AsyncIterator[peer_pb2.MessageBatch], context: grpc.aio.ServicerContext[Any, Any]
    ) -> peer_pb2.SendResponse:
        async for batch in requests:
            for pb in batch.messages:
                message = self._decode(pb)
                if message is not None:
                    self._on_message(message)
        return peer_pb2.SendResponse()

    async def Snapshot(  # named as the rpc, not as PEP 8 would
        self, requests: AsyncIterator[peer_pb2.SnapshotChunk], context: grpc.aio.ServicerContext[Any, Any]
    ) -> peer_pb2.SendResponse:
        header: raft_pb2.Message | None = None
        parts: list[bytes] = []
        async for chunk in requests:
            if header is None:
                if not chunk.HasField("header"):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first chunk has no header")
                header = chunk.header
            parts.append(chunk.data)
            if chunk.last:
                break
        else:
            # The sender went away mid-snapshot; it reports the failure itself.
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the snapshot ended before its last chunk")
        assert header is not None
        message = self._decode(header)
        if message is None or message.type != MessageType.MsgSnap or message.snapshot is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "the header is not a MsgSnap for this member"
            )
        assert message is not None and message.snapshot is not None
        self._on_message(replace(message, snapshot=Snapshot(message.snapshot.metadata, b"".join(parts))))
        return peer_pb2.SendResponse()

    def _decode(self, pb: raft_pb2.Message) -> Message | None:
        try:
            message = message_from_pb(pb)
        except CodecError as error:
            log.warning("dropping a Raft message from peer %x: %s", getattr(pb, "from"), error)
            return None
        if message.to != self.member_id:
            log.warning("dropping a Raft message for member %x from peer %x", message.to, message.from_)
            return None
        return message

    def handlers(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "kplane.peer.Raft",
            {
                "Send": grpc.stream_unary_rpc_method_handler(
                    self.Send,
                    request_deserializer=peer_pb2.MessageBatch.FromString,
                    response_serializer=peer_pb2.SendResponse.SerializeToString,
                ),
                "Snapshot": grpc.stream_unary_rpc_method_handler(
                    self.Snapshot,
                    request_deserializer=peer_pb2.SnapshotChunk.FromString,
                    response_serializer=peer_pb2.SendResponse.SerializeToString,
                ),
            },
        )


async def start_server(
    servicer: RaftPeerServicer, listen_urls: Sequence[str], tls: PeerTLS | None
) -> tuple[grpc.aio.Server, tuple[str, ...]]:
    """A started server on `listen_urls`; also returns the URLs with the ports bound (port 0 in a
    URL binds a free port)."""
    urls = parse_peer_urls(listen_urls)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((servicer.handlers(),))
    bound: list[str] = []
    try:
        for url in urls:
            if url.secure and tls is None:
                raise ValueError(f"listen peer URL {url.url} needs peer TLS")
            try:
                if url.secure and tls is not None:
                    port = server.add_secure_port(url.target, tls.server_credentials())
                else:
                    port = server.add_insecure_port(url.target)
            except RuntimeError as error:  # gRPC's "Failed to bind to address ..."
                raise OSError(f"cannot listen on peer URL {url.url}: {error}") from None
            if port == 0:  # older gRPC reports a failed bind this way instead of raising
                raise OSError(f"cannot listen on peer URL {url.url}")
            host = url.target.rsplit(":", 1)[0]
            bound.append(f"{'https' if url.secure else 'http'}://{host}:{port}")
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    return server, tuple(bound)
