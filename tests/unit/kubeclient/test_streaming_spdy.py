"""SPDY/3.1 frames (every type round-trips through the header compression with the spec's
dictionary) and sessions between two in-memory peers: streams, half-close, reset, ping, and
flow control toward peers that keep windows."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from kubeclient.streaming import spdy_frames as f
from kubeclient.streaming.spdy import SpdyConnection, SpdyStream


def test_the_dictionary_is_the_specs() -> None:
    # Length and Adler-32 of SPDY/3's dictionary; containerd's spdystream accepted our header blocks.
    assert len(f.DICTIONARY) == 1423
    assert zlib.adler32(f.DICTIONARY) == 0xE3C6A7C2
    assert f.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert f.DICTIONARY.endswith(b",*,enq=0.")


def test_every_frame_round_trips_even_fed_byte_by_byte() -> None:
    frames: list[f.Frame] = [
        f.SynStream(1, f.headers_of({"streamType": "error", "Port": ["80", "81"]}), fin=True, priority=3),
        f.SynReply(1, f.headers_of({"x": "y"})),
        f.HeadersFrame(1, f.headers_of({"a": "b"}), fin=True),
        f.Data(1, b"payload", fin=True),
        f.RstStream(3, f.CANCEL),
        f.Settings([(0, f.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)]),
        f.Ping(7),
        f.GoAway(5, 0),
        f.WindowUpdate(1, 4096),
        f.SynStream(3, f.headers_of({"streamType": "data"}), unidirectional=True, associated_to=1),
    ]
    encoder, decoder = f.FrameEncoder(), f.FrameDecoder()
    wire = b"".join(encoder.encode(frame) for frame in frames)
    decoded = [frame for byte in wire for frame in decoder.feed(bytes([byte]))]
    assert decoded == frames
    assert frames[0].headers == {"streamtype": ["error"], "port": ["80", "81"]}  # type: ignore[union-attr]


def test_header_blocks_share_one_compression_context() -> None:
    encoder = f.FrameEncoder()
    first = encoder.encode(f.SynStream(1, f.headers_of({"streamtype": "stdout"})))
    second = encoder.encode(f.SynStream(3, f.headers_of({"streamtype": "stdout"})))
    assert len(second) < len(first), "the second block refers back to the first"
    fresh = f.FrameDecoder()
    with pytest.raises(f.SpdyError):
        fresh.feed(second)  # without the first block's context it cannot be read


def test_bad_input_is_a_spdy_error() -> None:
    with pytest.raises(f.SpdyError):
        f.FrameDecoder().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")  # version 2
    with pytest.raises(f.SpdyError):
        f.decode_header_block(b"\x00\x00\x00\x01\x00\x00\x00\x09ab")
    unknown = b"\x80\x03\x00\x0a\x00\x00\x00\x00"  # type 10: skipped
    assert f.FrameDecoder().feed(unknown + f.FrameEncoder().encode(f.Ping(1))) == [f.Ping(1)]


class Pipe:
    """One direction of an in-memory byte stream; `wire` records what was sent."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.wire = bytearray()


class PipeTransport:
    def __init__(self, incoming: Pipe, outgoing: Pipe) -> None:
        self.incoming, self.outgoing = incoming, outgoing

    async def read(self) -> bytes:
        return await self.incoming.queue.get()

    async def write(self, data: bytes) -> None:
        self.outgoing.wire += data
        self.outgoing.queue.put_nowait(data)

    async def close(self) -> None:
        self.outgoing.queue.put_nowait(b"")


async def session_pair() -> tuple[SpdyConnection, SpdyConnection, asyncio.Queue[SpdyStream], Pipe]:
    to_server, to_client = Pipe(), Pipe()
    accepted: asyncio.Queue[SpdyStream] = asyncio.Queue()
    server = SpdyConnection(PipeTransport(to_server, to_client), server=True, on_stream=accepted.put_nowait)
    client = SpdyConnection(PipeTransport(to_client, to_server), server=False)
    server.start()
    client.start()
    return client, server, accepted, to_server


async def test_streams_carry_data_both_ways_and_half_close() -> None:
    client, server, accepted, _ = await session_pair()
    stream = await client.open_stream(f.headers_of({"streamType": "stdin"}))
    peer = await accepted.get()
    assert peer.header("streamType") == "stdin" and peer.id == 1
    await peer.reply()
    assert await stream.wait_reply() == {}
    await stream.write(b"x" * 100_000)
    await stream.close_write()
    assert await peer.read_all() == b"x" * 100_000, "chunked into frames, ended by FIN"
    await peer.write(b"answer")
    await peer.close_write()
    assert await stream.read_all() == b"answer"
    assert stream.id not in client.streams, "both halves closed: forgotten"
    await client.close()
    await server.close()


async def test_reset_ping_and_connection_end() -> None:
    client, server, accepted, _ = await session_pair()
    first = await client.open_stream(f.headers_of({"streamType": "data"}))
    second = await client.open_stream(f.headers_of({"streamType": "error"}))
    peer = await accepted.get()
    await peer.reset()
    assert await first.read() == b"" and first.reset_status == f.CANCEL
    await asyncio.wait_for(client.ping(), 5)
    await server.close()
    await asyncio.wait_for(client.closed.wait(), 5)
    assert await second.read() == b"", "the connection's end is every stream's EOF"
    await client.close()


async def test_no_window_updates_to_a_peer_without_flow_control() -> None:
    client, server, accepted, to_server = await session_pair()
    stream = await client.open_stream(f.headers_of({}))
    peer = await accepted.get()
    await peer.reply()
    await peer.write(b"y" * 200_000)
    await peer.close_write()
    assert len(await stream.read_all()) == 200_000
    sent = f.FrameDecoder().feed(bytes(to_server.wire))
    assert not any(isinstance(frame, f.WindowUpdate) for frame in sent)
    await client.close()
    await server.close()


async def test_windows_are_kept_once_the_peer_shows_flow_control() -> None:
    client, server, accepted, _ = await session_pair()
    await server.send(f.Settings([(0, f.SETTINGS_INITIAL_WINDOW_SIZE, 10)]))
    await asyncio.wait_for(client.ping(), 5)  # the echo comes after the SETTINGS frame
    assert client.peer_flow_control
    stream = await client.open_stream(f.headers_of({}))
    peer = await accepted.get()
    writer = asyncio.create_task(stream.write(b"z" * 25))
    assert await peer.read() == b"z" * 10
    await asyncio.wait_for(client.ping(), 5)
    assert not writer.done(), "the window of 10 bytes is used up"
    await server.send(f.WindowUpdate(stream.id, 100))
    await asyncio.wait_for(writer, 5)
    assert await peer.read() == b"z" * 15
    await client.close()
    await server.close()
