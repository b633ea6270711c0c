"""SPDY/3 framing (draft-mbelshe-httpbis-spdy-00, the framing SPDY/3.1 keeps): frames as plain
records, their wire encoding, and the zlib header-block compression with the spec's dictionary.

Kubernetes speaks this (via moby/spdystream) on `Upgrade: SPDY/3.1` connections: the CRI streaming
server for exec/attach/port-forward, and kubectl's port-forward inside a WebSocket tunnel. Header
compression is stateful per direction, so one `FrameEncoder` and one `FrameDecoder` serve a
whole connection, in frame order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_LENGTH = 0xFFFFFF  # the 24-bit length field
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 64 * 1024

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
FLOW_CONTROL_ERROR, STREAM_IN_USE, STREAM_ALREADY_CLOSED = 7, 8, 9


def _dictionary() -> bytes:
    """The header dictionary of SPDY/3 section 2.6.10.1: each listed word with a 4-byte big-endian
    length prefix, then a tail of common values without prefixes (1423 bytes). A zlib stream
    names its dictionary by Adler-32, so a wrong byte fails loudly against a real peer."""
    spaced = (
        "options head post put delete trace accept accept-charset accept-encoding accept-language "
        "accept-ranges age allow authorization cache-control connection content-base content-encoding "
        "content-language content-length content-location content-md5 content-range content-type date "
        "etag expect expires from host if-match if-modified-since if-none-match if-range "
        "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
        "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    )
    words = [*spaced.split(" "), "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie"]
    words += ["keep-alive", "origin"]
    prefixed = b"".join(struct.pack(">I", len(word)) + word.encode() for word in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
        "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
        "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, "
        "Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
        "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
        "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return prefixed + tail.encode()


DICTIONARY = _dictionary()

Headers = dict[str, list[str]]  # lower-case names; a name may carry several values


class SpdyError(Exception):
    """A frame that cannot be read (bad version, truncated, undecodable header block)."""


@dataclass
class SynStream:
    stream_id: int
    headers: Headers
    fin: bool = False
    unidirectional: bool = False
    associated_to: int = 0
    priority: int = 0  # 0 (highest) .. 7


@dataclass
class SynReply:
    stream_id: int
    headers: Headers = field(default_factory=dict)
    fin: bool = False


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    entries: list[tuple[int, int, int]]  # (flags, id, value)


@dataclass
class Ping:
    ping_id: int


@dataclass
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass
class HeadersFrame:
    stream_id: int
    headers: Headers
    fin: bool = False


@dataclass
class WindowUpdate:
    stream_id: int  # 0: the whole connection (SPDY/3.1)
    delta: int


@dataclass
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


Frame = SynStream | SynReply | RstStream | Settings | Ping | GoAway | HeadersFrame | WindowUpdate | Data


def headers_of(pairs: Mapping[str, str | Iterable[str]]) -> Headers:
    """Headers from a mapping whose values are one string or several."""
    return {name.lower(): [value] if isinstance(value, str) else list(value) for name, value in pairs.items()}


def encode_header_block(headers: Headers) -> bytes:
    """The uncompressed block: a pair count, then each name and its NUL-joined values, each with a
    4-byte length."""
    out = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name = name.lower().encode()
        raw_value = b"\x00".join(value.encode() for value in values)
        out += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset = 4
        headers: Headers = {}
        for _ in range(count):
            (name_length,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4 : offset + 4 + name_length]
            offset += 4 + name_length
            (value_length,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4 : offset + 4 + value_length]
            offset += 4 + value_length
            if len(name) != name_length or len(value) != value_length:
                raise SpdyError("truncated header block")
            headers.setdefault(name.decode().lower(), []).extend(value.decode().split("\x00"))
        return headers
    except (struct.error, UnicodeDecodeError) as error:
        raise SpdyError(f"bad header block: {error}") from None


class FrameEncoder:
    """Frames to bytes; owns the connection's outgoing header compression context."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zdict=DICTIONARY)

    def _compress(self, headers: Headers) -> bytes:
        block = encode_header_block(headers)
        return self._compressor.compress(block) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, Data):
            if len(frame.data) > MAX_LENGTH:
                raise ValueError("a data frame holds at most 16 MiB")
            flags = FLAG_FIN if frame.fin else 0
            head = struct.pack(">II", frame.stream_id & 0x7FFFFFFF, flags << 24 | len(frame.data))
            return head + frame.data
        flags = 0
        if isinstance(frame, SynStream):
            flags = (FLAG_FIN if frame.fin else 0) | (FLAG_UNIDIRECTIONAL if frame.unidirectional else 0)
            payload = struct.pack(
                ">IIBB", frame.stream_id & 0x7FFFFFFF, frame.associated_to & 0x7FFFFFFF,
                (frame.priority & 7) << 5, 0,
            ) + self._compress(frame.headers)  # fmt: skip
            kind = SYN_STREAM
        elif isinstance(frame, SynReply | HeadersFrame):
            flags = FLAG_FIN if frame.fin else 0
            payload = struct.pack(">I", frame.stream_id & 0x7FFFFFFF) + self._compress(frame.headers)
            kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
        elif isinstance(frame, RstStream):
            payload, kind = struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.status), RST_STREAM
        elif isinstance(frame, Settings):
            entries = [struct.pack(">II", f << 24 | i, v) for f, i, v in frame.entries]
            payload, kind = struct.pack(">I", len(frame.entries)) + b"".join(entries), SETTINGS
        elif isinstance(frame, Ping):
            payload, kind = struct.pack(">I", frame.ping_id), PING
        elif isinstance(frame, GoAway):
            payload, kind = struct.pack(">II", frame.last_good_stream_id & 0x7FFFFFFF, frame.status), GOAWAY
        else:
            payload = struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.delta & 0x7FFFFFFF)
            kind = WINDOW_UPDATE
        return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


class FrameDecoder:
    """Bytes to frames, fed incrementally; owns the incoming header decompression context.
    Control frames of unknown types are skipped, as the spec asks."""

    def __init__(self) -> None:
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, flags_length = struct.unpack_from(">II", self._buffer, 0)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = flags_length >> 24
            if first & 0x80000000:
                frame = self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Data(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN)))
        return frames

    def _headers(self, block: bytes) -> Headers:
        try:
            return decode_header_block(self._decompressor.decompress(block))
        except zlib.error as error:
            raise SpdyError(f"cannot decompress a header block: {error}") from None

    def _control(self, version: int, kind: int, flags: int, payload: bytes) -> Frame | None:
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                stream_id, associated, priority, _ = struct.unpack_from(">IIBB", payload, 0)
                return SynStream(
                    stream_id & 0x7FFFFFFF,
                    self._headers(payload[10:]),
                    fin=bool(flags & FLAG_FIN),
                    unidirectional=bool(flags & FLAG_UNIDIRECTIONAL),
                    associated_to=associated & 0x7FFFFFFF,
                    priority=priority >> 5,
                )
            if kind in (SYN_REPLY, HEADERS):
                (stream_id,) = struct.unpack_from(">I", payload, 0)
                headers = self._headers(payload[4:])
                cls = SynReply if kind == SYN_REPLY else HeadersFrame
                return cls(stream_id & 0x7FFFFFFF, headers, bool(flags & FLAG_FIN))
            if kind == RST_STREAM:
                stream_id, status = struct.unpack_from(">II", payload, 0)
                return RstStream(stream_id & 0x7FFFFFFF, status)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", payload, 0)
                entries = []
                for index in range(count):
                    flags_id, value = struct.unpack_from(">II", payload, 4 + 8 * index)
                    entries.append((flags_id >> 24, flags_id & 0xFFFFFF, value))
                return Settings(entries)
            if kind == PING:
                return Ping(struct.unpack_from(">I", payload, 0)[0])
            if kind == GOAWAY:
                last_good, status = struct.unpack_from(">II", payload, 0) if len(payload) >= 8 else (
                    struct.unpack_from(">I", payload, 0)[0], 0)  # fmt: skip
                return GoAway(last_good & 0x7FFFFFFF, status)
            if kind == WINDOW_UPDATE:
                stream_id, delta = struct.unpack_from(">II", payload, 0)
                return WindowUpdate(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error:
            raise SpdyError(f"truncated control frame of type {kind}") from None
        return None
