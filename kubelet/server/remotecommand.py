"""exec and attach: a client's channel.k8s.io WebSocket bridged to the runtime's streaming server
over SPDY/3.1 (remotecommand v4), as upstream's kubelet proxies to the CRI streaming server.

SPDY is what gives stdin its end: the v5 close message (channel 255) becomes a FIN on the stdin
stream, so `kubectl exec -i POD -- cat < file` and `kubectl cp` finish. The runtime's status
(exit code as NonZeroExitCode) goes to the client on channel 3 after all output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from componentbase.klog import get_logger
from kubeclient.streaming import channels
from kubeclient.streaming.spdy import SpdyConnection, SpdyStream
from kubeclient.streaming.spdy_frames import headers_of
from kubeclient.streaming.upgrade import UpgradeError, dial_spdy
from kubelet.server.errors import bad_request
from kubelet.server.sockets import MessageSocket

log = get_logger(__name__)

STREAM_SETUP_TIMEOUT = 30.0  # upstream's streamCreationTimeout
OUTPUT_DRAIN_TIMEOUT = 10.0  # after the status: output still in flight


@dataclass(frozen=True)
class StreamOptions:
    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "t", "yes")


def stream_options(query: Mapping[str, Sequence[str]], *, command_required: bool) -> StreamOptions:
    """Options from the query: upstream's kubelet names input/output/error/tty, the apiserver's
    API stdin/stdout/stderr/tty; both are accepted."""

    def flag(*names: str) -> bool:
        return any(_truthy(value) for name in names for value in query.get(name, ()))

    command = tuple(query.get("command", ()))
    if command_required and not command:
        raise bad_request("you must specify at least 1 command")
    options = StreamOptions(
        command=command,
        stdin=flag("input", "stdin"),
        stdout=flag("output", "stdout"),
        stderr=flag("error", "stderr"),
        tty=flag("tty"),
    )
    if not (options.stdin or options.stdout or options.stderr):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    if options.tty and options.stderr:  # a terminal merges stderr into stdout (upstream drops it)
        options = StreamOptions(command, options.stdin, options.stdout, False, True)
    return options


Dial = Callable[[str], Awaitable[SpdyConnection]]


async def dial_runtime(url: str) -> SpdyConnection:
    """Upgrade the runtime's streaming URL to SPDY (remotecommand v4) and start reading frames."""
    transport, _ = await dial_spdy(url, [channels.V4])
    connection = SpdyConnection(transport, server=False)
    connection.start()
    return connection


async def bridge(
    socket: MessageSocket,
    framing: channels.Framing,
    url: str,
    options: StreamOptions,
    *,
    dial: Dial = dial_runtime,
) -> None:
    """Relay until the command ends (status on channel 3, then close) or the client goes away."""
    try:
        async with asyncio.timeout(STREAM_SETUP_TIMEOUT):
            connection = await dial(url)
            streams = await _open_streams(connection, options)
    except (UpgradeError, ConnectionError, TimeoutError) as error:
        await _finish(socket, framing, channels.failure_status(f"error connecting to the runtime: {error}"))
        return
    try:
        await _relay(socket, framing, connection, streams)
    finally:
        await connection.close()


async def _open_streams(connection: SpdyConnection, options: StreamOptions) -> dict[str, SpdyStream]:
    wanted = ["error"]
    wanted += ["stdin"] if options.stdin else []
    wanted += ["stdout"] if options.stdout else []
    wanted += ["stderr"] if options.stderr else []
    wanted += ["resize"] if options.tty else []
    streams = {}
    for kind in wanted:
        streams[kind] = await connection.open_stream(headers_of({"streamType": kind}))
    for stream in streams.values():
        await stream.wait_reply()
    return streams


async def _relay(
    socket: MessageSocket,
    framing: channels.Framing,
    connection: SpdyConnection,
    streams: dict[str, SpdyStream],
) -> None:
    outputs = [
        (streams[k], c) for k, c in (("stdout", channels.STDOUT), ("stderr", channels.STDERR)) if k in streams
    ]
    if outputs:  # upstream's "connection ready" signal: an empty message on the first output channel
        await socket.send(framing.encode(outputs[0][1], b""))
    pumps = [asyncio.create_task(_pump_out(stream, socket, framing, channel)) for stream, channel in outputs]
    client = asyncio.create_task(_pump_in(socket, framing, streams))
    status_task = asyncio.create_task(streams["error"].read_all())
    try:
        done, _ = await asyncio.wait([client, status_task], return_when=asyncio.FIRST_COMPLETED)
        if status_task not in done:  # the client went away first: end the runtime side too
            return
        raw_status = status_task.result()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OUTPUT_DRAIN_TIMEOUT):
                await asyncio.gather(*pumps, return_exceptions=True)
        await _finish(socket, framing, _status(raw_status))
    finally:
        for task in [*pumps, client, status_task]:
            task.cancel()
        await asyncio.gather(*pumps, client, status_task, return_exceptions=True)


def _status(raw: bytes) -> dict[str, object]:
    """The runtime's v4 status (JSON), or success when it wrote none."""
    if not raw.strip():
        return channels.success_status()
    try:
        parsed = json.loads(raw)
    except ValueError:
        return channels.failure_status(raw.decode(errors="replace").strip())
    return parsed if isinstance(parsed, dict) else channels.failure_status(str(parsed))


async def _finish(socket: MessageSocket, framing: channels.Framing, status: dict[str, object]) -> None:
    """The status in the client's protocol version, then a normal close."""
    with contextlib.suppress(ConnectionError):
        if framing.version >= 4:
            await socket.send(framing.encode(channels.ERROR, channels.status_bytes(status)))
        elif status.get("status") != "Success":  # older protocols carry only the message text
            await socket.send(framing.encode(channels.ERROR, str(status.get("message", "")).encode()))
    await socket.close(1000)


async def _pump_out(
    stream: SpdyStream, socket: MessageSocket, framing: channels.Framing, channel: int
) -> None:
    while data := await stream.read():
        await socket.send(framing.encode(channel, data))


async def _pump_in(socket: MessageSocket, framing: channels.Framing, streams: dict[str, SpdyStream]) -> None:
    """Client messages to the runtime until the client closes. stdin EOF: v5's close message."""
    stdin, resize = streams.get("stdin"), streams.get("resize")
    close_stdin = bytes([channels.STDIN])
    while (message := await socket.receive()) is not None:
        try:
            channel, payload = framing.decode(message)
        except channels.ProtocolError as error:
            log.v(2).info("Ignoring a bad stream message", err=str(error))
            continue
        try:
            if channel == channels.STDIN and stdin is not None and payload:
                await stdin.write(payload)
            elif channel == channels.RESIZE and resize is not None and payload:
                await resize.write(payload)
            elif channel == channels.CLOSE and framing.has_close and payload[:1] == close_stdin and stdin:
                await stdin.close_write()
        except ConnectionError:
            return
