"""A SPDY/3.1 session over any byte transport: streams opened by either side, data with FIN
(half-close), resets, pings, GOAWAY, and flow control.

Flow control is spoken only with a peer that shows it keeps windows (sends a WINDOW_UPDATE or a
SETTINGS initial window): then we honour its windows and send WINDOW_UPDATEs as the application
reads. Kubernetes' spdystream does neither: waiting for updates it never sends would stall every
stream after 64 KiB, and updates it never reads make its final close() reset the TCP connection
(unread input), which throws away the output and exit status still in flight to us.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from kubeclient.streaming.spdy_frames import (
    CANCEL,
    DEFAULT_WINDOW,
    SETTINGS_INITIAL_WINDOW_SIZE,
    Data,
    Frame,
    FrameDecoder,
    FrameEncoder,
    GoAway,
    Headers,
    HeadersFrame,
    Ping,
    RstStream,
    Settings,
    SpdyError,
    SynReply,
    SynStream,
    WindowUpdate,
)

MAX_CHUNK = 32 * 1024  # bytes per DATA frame we send


class Transport(Protocol):
    """Bytes both ways: `read` returns b"" at end of input."""

    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class StreamTransport:
    """An asyncio (reader, writer) pair as a Transport (TCP, TLS, a unix socket)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self) -> bytes:
        try:
            return await self.reader.read(64 * 1024)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await self.writer.wait_closed()


class StreamReset(ConnectionError):
    """The stream was reset (RST_STREAM) or its connection ended before it was answered."""


class SpdyStream:
    def __init__(
        self, connection: SpdyConnection, stream_id: int, headers: Headers, send_window: int
    ) -> None:
        self.connection = connection
        self.id = stream_id
        self.headers = headers  # of the SYN_STREAM
        self.reply_headers: Headers | None = None
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._replied = asyncio.Event()
        self._eof = False
        self.remote_closed = False  # the peer sent FIN (or reset)
        self.local_closed = False  # we sent FIN (or reset)
        self.reset_status: int | None = None
        self.send_window = send_window
        self._window_open = asyncio.Event()
        self._window_open.set()
        self._unacknowledged = 0  # bytes read and not yet given back in a WINDOW_UPDATE

    def header(self, name: str) -> str:
        return (self.headers.get(name.lower()) or [""])[0]

    # ---- reading ----

    async def read(self) -> bytes:
        """The next chunk, or b"" once the peer finished the stream (FIN, reset, connection end)."""
        if self._eof:
            return b""
        chunk = await self._chunks.get()
        if chunk is None:
            self._eof = True
            return b""
        self._unacknowledged += len(chunk)
        if (
            self.connection.peer_flow_control
            and self._unacknowledged >= DEFAULT_WINDOW // 2
            and not self.remote_closed
        ):
            delta, self._unacknowledged = self._unacknowledged, 0
            with contextlib.suppress(ConnectionError):
                await self.connection.send(WindowUpdate(self.id, delta))
        return chunk

    async def read_all(self) -> bytes:
        chunks = []
        while chunk := await self.read():
            chunks.append(chunk)
        return b"".join(chunks)

    # ---- writing ----

    async def write(self, data: bytes) -> None:
        if self.local_closed:
            raise StreamReset(f"stream {self.id} is closed for writing")
        view = memoryview(data)
        while view:
            size = min(len(view), MAX_CHUNK)
            if self.connection.peer_flow_control:
                while self.send_window <= 0:
                    self._window_open.clear()
                    await self._window_open.wait()
                    if self.reset_status is not None:
                        raise StreamReset(f"stream {self.id} was reset")
                size = min(size, self.send_window)
                self.send_window -= size
            await self.connection.send(Data(self.id, bytes(view[:size])))
            view = view[size:]

    async def close_write(self) -> None:
        """Half-close: an empty DATA frame with FIN (the peer reads EOF)."""
        if not self.local_closed:
            self.local_closed = True
            await self.connection.send(Data(self.id, b"", fin=True))
            self.connection.forget_if_done(self)

    async def reset(self, status: int = CANCEL) -> None:
        if self.reset_status is None:
            self._on_reset(status)
            with contextlib.suppress(ConnectionError):
                await self.connection.send(RstStream(self.id, status))

    # ---- replies ----

    async def reply(self, headers: Headers | None = None, *, fin: bool = False) -> None:
        """Accept a stream the peer opened (spdystream drops data for unanswered streams)."""
        await self.connection.send(SynReply(self.id, headers or {}, fin))
        if fin:
            self.local_closed = True

    async def wait_reply(self) -> Headers:
        await self._replied.wait()
        if self.reply_headers is None:
            raise StreamReset(f"stream {self.id} was reset before it was answered")
        return self.reply_headers

    # ---- called by the connection's reader ----

    def _on_data(self, data: bytes, fin: bool) -> None:
        if self.remote_closed:
            return
        if data:
            self._chunks.put_nowait(data)
        if fin:
            self._on_remote_close()

    def _on_remote_close(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._chunks.put_nowait(None)

    def _on_reply(self, headers: Headers) -> None:
        self.reply_headers = headers
        self._replied.set()

    def _on_reset(self, status: int) -> None:
        self.reset_status = status
        self.local_closed = True
        self._on_remote_close()
        self._replied.set()
        self._window_open.set()

    def _on_window_update(self, delta: int) -> None:
        self.send_window += delta
        if self.send_window > 0:
            self._window_open.set()


class SpdyConnection:
    """One SPDY session. Run `run()` (the frame reader) in a task; `on_stream` is called with each
    stream the peer opens (it must not block: start a task for the work)."""

    def __init__(
        self,
        transport: Transport,
        *,
        server: bool,
        on_stream: Callable[[SpdyStream], None] | None = None,
    ) -> None:
        self.transport = transport
        self.server = server
        self.on_stream = on_stream
        self.streams: dict[int, SpdyStream] = {}
        self._next_stream_id = 2 if server else 1
        self._next_ping_id = 2 if server else 1
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._write_lock = asyncio.Lock()
        self.peer_flow_control = False
        self._initial_send_window = DEFAULT_WINDOW
        self.closed = asyncio.Event()
        self.went_away = False  # the peer sent GOAWAY
        self._last_peer_stream = 0
        self._reader: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the frame reader in a task of our own (stopped by `close`)."""
        self._reader = asyncio.get_running_loop().create_task(self.run())

    async def send(self, frame: Frame) -> None:
        if self.closed.is_set():
            raise ConnectionError("the SPDY connection is closed")
        async with self._write_lock:  # header compression state follows the wire order
            try:
                await self.transport.write(self._encoder.encode(frame))
            except (ConnectionError, OSError) as error:
                self._finish()
                raise ConnectionError(f"SPDY write failed: {error}") from None

    async def open_stream(self, headers: Headers, *, fin: bool = False) -> SpdyStream:
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        stream = SpdyStream(self, stream_id, headers, self._initial_send_window)
        self.streams[stream_id] = stream
        await self.send(SynStream(stream_id, headers, fin=fin))
        if fin:
            stream.local_closed = True
        return stream

    async def ping(self) -> None:
        """Round trip a PING (callers bound the wait with asyncio.timeout)."""
        ping_id = self._next_ping_id
        self._next_ping_id += 2
        waiter = self._pings[ping_id] = asyncio.get_running_loop().create_future()
        try:
            await self.send(Ping(ping_id))
            await waiter
        finally:
            self._pings.pop(ping_id, None)

    async def close(self) -> None:
        """GOAWAY, then close the transport."""
        if not self.closed.is_set():
            with contextlib.suppress(ConnectionError):
                await self.send(GoAway(self._last_peer_stream))
        self._finish()
        await self.transport.close()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def forget_if_done(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self.streams.pop(stream.id, None)

    async def run(self) -> None:
        """Read frames until the transport ends or breaks; then every stream reads EOF."""
        try:
            while data := await self.transport.read():
                for frame in self._decoder.feed(data):
                    await self._dispatch(frame)
        except SpdyError:
            with contextlib.suppress(ConnectionError):
                await self.send(GoAway(self._last_peer_stream, 1))  # PROTOCOL_ERROR
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in list(self.streams.values()):
            stream._on_remote_close()
            stream._replied.set()
            stream._window_open.set()
        for waiter in self._pings.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("the SPDY connection closed"))

    async def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, Data):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._on_data(frame.data, frame.fin)
                self.forget_if_done(stream)
            return
        if isinstance(frame, SynStream):
            await self._on_syn_stream(frame)
        elif isinstance(frame, SynReply):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._on_reply(frame.headers)
                if frame.fin:
                    stream._on_remote_close()
                    self.forget_if_done(stream)
        elif isinstance(frame, HeadersFrame):
            stream = self.streams.get(frame.stream_id)
            if stream is not None and frame.fin:
                stream._on_remote_close()
                self.forget_if_done(stream)
        elif isinstance(frame, RstStream):
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._on_reset(frame.status)
        elif isinstance(frame, Ping):
            if frame.ping_id % 2 != self._next_ping_id % 2:
                await self.send(frame)  # the peer's ping: echo it
            elif (waiter := self._pings.get(frame.ping_id)) is not None and not waiter.done():
                waiter.set_result(None)
        elif isinstance(frame, GoAway):
            self.went_away = True
        elif isinstance(frame, Settings):
            for _, setting, value in frame.entries:
                if setting == SETTINGS_INITIAL_WINDOW_SIZE:
                    self.peer_flow_control = True
                    change, self._initial_send_window = value - self._initial_send_window, value
                    for stream in self.streams.values():
                        stream._on_window_update(change)
        elif isinstance(frame, WindowUpdate):
            self.peer_flow_control = True
            if frame.stream_id != 0 and (stream := self.streams.get(frame.stream_id)) is not None:
                stream._on_window_update(frame.delta)

    async def _on_syn_stream(self, frame: SynStream) -> None:
        stream_id = frame.stream_id
        peer_parity = 1 if self.server else 0
        if stream_id % 2 != peer_parity or stream_id <= self._last_peer_stream or self.on_stream is None:
            await self.send(RstStream(stream_id, 1 if self.on_stream is not None else 3))
            return
        self._last_peer_stream = stream_id
        stream = SpdyStream(self, stream_id, frame.headers, self._initial_send_window)
        stream.local_closed = frame.unidirectional
        self.streams[stream_id] = stream
        if frame.fin:
            stream._on_remote_close()
        self.on_stream(stream)
