"""port-forward: kubectl's SPDY session (tunnelled in WebSocket binary messages, subprotocol
`SPDY/3.1+portforward.k8s.io`) served here, each forwarded connection bridged to the runtime's
port-forward URL (one channel.k8s.io v4 WebSocket per connection: data on channel 0, errors on 1).

kubectl opens two streams per connection, `streamType` error and data, paired by `requestID` and
naming the `port`; we answer both (spdystream drops data on unanswered streams), dial the runtime,
and copy. The runtime first sends each channel's port (2 bytes, little-endian): skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import websockets
from websockets.asyncio.client import ClientConnection, connect

from componentbase.klog import get_logger
from kubeclient.streaming import channels
from kubeclient.streaming.spdy import SpdyConnection, SpdyStream
from kubelet.server.sockets import MessageSocket, SocketTransport

log = get_logger(__name__)

PORT_PREFIX_BYTES = 2


@dataclass
class _Pair:
    error: SpdyStream | None = None
    data: SpdyStream | None = None
    started: bool = False


# One dialled runtime connection: messages in (channel, payload) and a sender.
@dataclass
class RuntimeTunnel:
    incoming: AsyncIterator[bytes | str]
    send: Callable[[bytes], Awaitable[None]]
    close: Callable[[], Awaitable[None]]


OpenTunnel = Callable[[int], Awaitable[RuntimeTunnel]]


def websocket_url(url: str) -> str:
    return "ws" + url.removeprefix("http") if url.startswith("http") else url


async def open_runtime_websocket(url: str) -> RuntimeTunnel:
    """The runtime's port-forward URL as a v4.channel.k8s.io WebSocket (containerd: one per
    connection; the URL works once)."""
    ws: ClientConnection = await connect(
        websocket_url(url),
        subprotocols=[websockets.Subprotocol(channels.V4)],
        max_size=None,
        ping_interval=None,
    )

    async def messages() -> AsyncIterator[bytes | str]:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                yield message

    return RuntimeTunnel(messages(), ws.send, ws.close)


@dataclass
class PortForwardSession:
    """One kubectl port-forward session over `socket`; `open_tunnel(port)` reaches the pod."""

    socket: MessageSocket
    open_tunnel: OpenTunnel
    pairs: dict[str, _Pair] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def serve(self) -> None:
        connection = SpdyConnection(SocketTransport(self.socket), server=True, on_stream=self._on_stream)
        try:
            await connection.run()
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.socket.close()

    def _on_stream(self, stream: SpdyStream) -> None:
        task = asyncio.get_running_loop().create_task(self._accept(stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _accept(self, stream: SpdyStream) -> None:
        await stream.reply()
        kind, request_id = stream.header("streamType"), stream.header("requestID")
        pair = self.pairs.setdefault(request_id, _Pair())
        if kind == "error":
            pair.error = stream
        elif kind == "data":
            pair.data = stream
        else:
            await stream.reset()
            return
        if pair.error is not None and pair.data is not None and not pair.started:
            pair.started = True
            del self.pairs[request_id]
            await self._forward(pair.error, pair.data)

    async def _forward(self, error: SpdyStream, data: SpdyStream) -> None:
        port_text = data.header("port")
        try:
            port = int(port_text)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            await _fail(error, data, f'invalid port "{port_text}"')
            return
        try:
            tunnel = await self.open_tunnel(port)
        except Exception as failure:  # any runtime failure goes to kubectl's error stream
            await _fail(error, data, f"error forwarding port {port}: {failure}")
            return
        upstream = asyncio.create_task(_client_to_pod(data, tunnel))
        try:
            await _pod_to_client(tunnel, error, data)
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await upstream
            await tunnel.close()
            for stream in (data, error):
                with contextlib.suppress(ConnectionError):
                    await stream.close_write()


async def _fail(error: SpdyStream, data: SpdyStream, message: str) -> None:
    with contextlib.suppress(ConnectionError):
        await error.write(message.encode())
        await error.close_write()
        await data.close_write()


async def _client_to_pod(data: SpdyStream, tunnel: RuntimeTunnel) -> None:
    """Until kubectl half-closes (the pod side still answers) or resets the stream."""
    with contextlib.suppress(ConnectionError, websockets.ConnectionClosed):
        while chunk := await data.read():
            await tunnel.send(bytes([0]) + chunk)
    if data.reset_status is not None:
        await tunnel.close()


async def _pod_to_client(tunnel: RuntimeTunnel, error: SpdyStream, data: SpdyStream) -> None:
    prefixed: set[int] = set()
    async for message in tunnel.incoming:
        if not isinstance(message, bytes) or not message:
            continue
        channel, payload = message[0], message[1:]
        if channel not in prefixed:  # each channel starts with its port number
            prefixed.add(channel)
            payload = payload[PORT_PREFIX_BYTES:]
        if not payload:
            continue
        try:
            await (data if channel % 2 == 0 else error).write(payload)
        except ConnectionError:
            return
