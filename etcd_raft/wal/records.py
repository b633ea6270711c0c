"""The WAL's record format: frame header, record types and the payload of each type.

A segment is a sequence of frames, each

    offset  size  field
    0       1     type     (RecordType; 0 never occurs, so an all-zero header is preallocated space)
    1       3     reserved (zero)
    4       4     length   of the payload, little-endian u32
    8       4     crc      little-endian u32, see below
    12      len   payload

There is no alignment padding: a torn header is caught like any torn record (see decoder.py).

The CRC is rolling, as in etcd: a record's crc is crc32(header[0:8] + payload) seeded with the
crc of the record before it, across segment boundaries, so a record cannot be dropped, reordered or
spliced in from another log without breaking the chain. Every segment starts with a CRC record
whose crc field is the chain value at the end of the previous segment (0 for the first) and whose
payload is empty; it resets the chain instead of extending it. Unlike etcd the type and length are
covered too, so a flipped type byte cannot make an entry decode as a hard state.

The checksum is zlib's crc32 (the IEEE polynomial), not etcd's CRC-32C (Castagnoli): the standard
library has no CRC-32C and a pure-Python one would cost more than the fsync it guards; zlib's runs
at memory speed in C. The choice is part of the format (it is not negotiated per file).

Payloads are fixed little-endian structs; an entry's data and the metadata are raw bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from etcd_raft.raft.types import Entry, EntryType, HardState


class RecordType(IntEnum):
    METADATA = 1  # payload: the bytes given to create(); repeated at the start of every segment
    ENTRY = 2  # payload: term u64, index u64, type u8, data
    STATE = 3  # payload: term u64, vote u64, commit u64
    CRC = 4  # payload: empty; crc field: the chain value carried over from the previous segment
    SNAPSHOT = 5  # payload: index u64, term u64


RECORD_TYPES: Final = frozenset(int(t) for t in RecordType)

HEADER: Final = struct.Struct("<BxxxII")  # type, reserved, length, crc
HEADER_PREFIX: Final = struct.Struct("<BxxxI")  # the part of the header the crc covers
CRC_FIELD: Final = struct.Struct("<I")
HEADER_SIZE: Final = HEADER.size
CHECKED_HEADER_SIZE: Final = HEADER_PREFIX.size

ENTRY_HEAD: Final = struct.Struct("<QQB")
STATE: Final = struct.Struct("<QQQ")
SNAPSHOT: Final = struct.Struct("<QQ")

MAX_PAYLOAD: Final = 0xFFFF_FFFF

crc32 = zlib.crc32
CRC_ALGORITHM: Final = "crc32 (zlib, IEEE 802.3 polynomial)"


@dataclass(frozen=True, slots=True)
class WalSnapshot:
    """A snapshot marker in the WAL (etcd's walpb.Snapshot): the log is complete after `index`."""

    index: int = 0
    term: int = 0


_ENTRY_TYPES: Final = {int(t): t for t in EntryType}  # a dict lookup is cheaper than EntryType(n)


def decode_entry(payload: memoryview) -> Entry:
    """Raises ValueError on a malformed payload (the caller names file and offset)."""
    term, index, entry_type = ENTRY_HEAD.unpack_from(payload)
    try:
        kind = _ENTRY_TYPES[entry_type]
    except KeyError:
        raise ValueError(f"unknown entry type {entry_type}") from None
    return Entry(term, index, kind, bytes(payload[ENTRY_HEAD.size :]))


def decode_state(payload: memoryview) -> HardState:
    if len(payload) != STATE.size:
        raise ValueError(f"hard state payload is {len(payload)} bytes, want {STATE.size}")
    term, vote, commit = STATE.unpack(payload)
    return HardState(term, vote, commit)


def decode_snapshot(payload: memoryview) -> WalSnapshot:
    if len(payload) != SNAPSHOT.size:
        raise ValueError(f"snapshot payload is {len(payload)} bytes, want {SNAPSHOT.size}")
    index, term = SNAPSHOT.unpack(payload)
    return WalSnapshot(index, term)
