"""The on-disk encoding, byte for byte etcd's (server/storage/mvcc/revision.go and mvccpb.KeyValue).

A revision key is 17 bytes: the main revision as a big-endian uint64, b"_", the sub revision as a
big-endian uint64; a tombstone (deletion) appends b"t" (18 bytes). Big-endian makes LMDB's byte
order the revision order, so new revisions are appended at the end of the tree.

A value is the protobuf wire encoding of mvccpb.KeyValue (fields 1 key, 2 create_revision,
3 mod_revision, 4 version, 5 value, 6 lease; zero fields omitted, in field order, as gogoproto
writes them). A tombstone's value holds the key alone. Keeping etcd's bytes makes `hash_kv` agree
with etcd's for the same history, and lets a server copy stored values into responses verbatim.

In memory a revision is one int, `main << 32 | sub`, which orders like the bytes.
"""

from __future__ import annotations

import struct

from etcd_raft.mvcc.types import KeyValue

SUB_BITS = 32
SUB_MASK = (1 << SUB_BITS) - 1
REV_BYTES_LEN = 17
TOMBSTONE_MARK = b"t"

_REV = struct.Struct(">QcQ")
_rev_pack = _REV.pack
_rev_unpack_from = _REV.unpack_from


def rev_to_bytes(main: int, sub: int = 0) -> bytes:
    return _rev_pack(main, b"_", sub)


def tombstone_rev_bytes(main: int, sub: int) -> bytes:
    return _rev_pack(main, b"_", sub) + TOMBSTONE_MARK


def bytes_to_rev(b: bytes) -> tuple[int, int]:
    """(main, sub) of a revision key, marked or not."""
    main, _, sub = _rev_unpack_from(b)
    return main, sub


def is_tombstone(b: bytes) -> bool:
    return len(b) == REV_BYTES_LEN + 1 and b[REV_BYTES_LEN] == 0x74


def rev_key(rev: int, tombstone: bool = False) -> bytes:
    """The LMDB key of the in-memory revision `main << 32 | sub`."""
    b = _rev_pack(rev >> SUB_BITS, b"_", rev & SUB_MASK)
    return b + TOMBSTONE_MARK if tombstone else b


_SMALL = [bytes((i,)) for i in range(0x80)]


def uvarint(n: int) -> bytes:
    if n < 0x80:
        if n >= 0:
            return _SMALL[n]
        n += 1 << 64  # int64 < 0: ten bytes of two's complement, as protobuf does
    elif n < 0x4000:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    elif n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_kv(
    key: bytes, create_revision: int, mod_revision: int, version: int, value: bytes, lease: int
) -> bytes:
    parts = [b"\x0a", uvarint(len(key)), key] if key else []
    if create_revision:
        parts += (b"\x10", uvarint(create_revision))
    if mod_revision:
        parts += (b"\x18", uvarint(mod_revision))
    if version:
        parts += (b"\x20", uvarint(version))
    if value:
        parts += (b"\x2a", uvarint(len(value)), value)
    if lease:
        parts += (b"\x30", uvarint(lease))
    return b"".join(parts)


def encode_tombstone(key: bytes) -> bytes:
    return b"\x0a" + uvarint(len(key)) + key if key else b""


class CorruptValueError(ValueError):
    """A stored value is not an mvccpb.KeyValue: the database is damaged."""


def decode_kv(data: bytes) -> KeyValue:
    key = value = b""
    create = mod = ver = lease = 0
    pos = 0
    n = len(data)
    try:
        while pos < n:
            tag = data[pos]
            x = data[pos + 1]
            pos += 2
            if x >= 0x80:
                x &= 0x7F
                shift = 7
                while True:
                    y = data[pos]
                    pos += 1
                    x |= (y & 0x7F) << shift
                    if y < 0x80:
                        break
                    shift += 7
            if tag == 0x0A:
                key = data[pos : pos + x]
                pos += x
            elif tag == 0x2A:
                value = data[pos : pos + x]
                pos += x
            elif tag == 0x10:
                create = x
            elif tag == 0x18:
                mod = x
            elif tag == 0x20:
                ver = x
            elif tag == 0x30:
                lease = x - (1 << 64) if x >= 1 << 63 else x
            else:
                raise CorruptValueError(f"unexpected protobuf tag {tag:#x} in a stored KeyValue")
    except IndexError:
        raise CorruptValueError("truncated KeyValue") from None
    if pos != n:
        raise CorruptValueError("truncated KeyValue")
    return KeyValue(key, create, mod, ver, value, lease)


def decode_key(data: bytes) -> bytes:
    """Only the key of an encoded KeyValue (field 1 comes first when present)."""
    if not data or data[0] != 0x0A:
        return b""
    x = data[1]
    pos = 2
    if x >= 0x80:
        x &= 0x7F
        shift = 7
        while True:
            y = data[pos]
            pos += 1
            x |= (y & 0x7F) << shift
            if y < 0x80:
                break
            shift += 7
    return data[pos : pos + x]
