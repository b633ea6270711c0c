"""A message socket (one WebSocket, whichever library serves it) as the bridges see it, and a
SPDY transport over one (kubectl's port-forward tunnels SPDY in WebSocket binary messages)."""

from __future__ import annotations

import contextlib
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

Message = bytes | str


class MessageSocket(Protocol):
    async def receive(self) -> Message | None:
        """The next message, or None once the peer closed."""
        ...

    async def send(self, message: Message) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class StarletteSocket:
    """An accepted Starlette WebSocket as a MessageSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.closed = False

    async def receive(self) -> Message | None:
        if self.closed:
            return None
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True
            return None
        if message["type"] == "websocket.disconnect":
            self.closed = True
            return None
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return str(message.get("text") or "")

    async def send(self, message: Message) -> None:
        if self.closed:
            raise ConnectionError("the WebSocket is closed")
        try:
            if isinstance(message, bytes):
                await self.websocket.send_bytes(message)
            else:
                await self.websocket.send_text(message)
        except (WebSocketDisconnect, RuntimeError, OSError) as error:
            self.closed = True
            raise ConnectionError(f"WebSocket send failed: {error}") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await self.websocket.close(code, reason)


class SocketTransport:
    """Binary WebSocket messages as a byte transport (SPDY tunnelled in a WebSocket)."""

    def __init__(self, socket: MessageSocket) -> None:
        self.socket = socket

    async def read(self) -> bytes:
        while True:
            message = await self.socket.receive()
            if message is None:
                return b""
            if isinstance(message, bytes) and message:
                return message

    async def write(self, data: bytes) -> None:
        await self.socket.send(data)

    async def close(self) -> None:
        await self.socket.close()
