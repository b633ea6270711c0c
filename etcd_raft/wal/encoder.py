"""Frames records into a byte buffer and keeps the rolling CRC; no I/O.

The WAL encodes a whole save() batch into one bytearray and hands it to a single write, so the
cost per entry is a few struct packs and crc32 calls (all in C) and the syscall count per batch is
constant.
"""

from __future__ import annotations

from etcd_raft.raft.types import Entry, HardState
from etcd_raft.wal.records import (
    CRC_FIELD,
    ENTRY_HEAD,
    HEADER,
    HEADER_PREFIX,
    MAX_PAYLOAD,
    SNAPSHOT,
    STATE,
    RecordType,
    WalSnapshot,
    crc32,
)

_ENTRY = int(RecordType.ENTRY)


class Encoder:
    """Appends frames to `buf`; `crc` is the chain value after the last frame appended."""

    __slots__ = ("crc",)

    def __init__(self, prev_crc: int) -> None:
        self.crc = prev_crc

    def entry(self, buf: bytearray, entry: Entry) -> None:
        # Hot path: the header prefix, the entry's fixed fields and its data are checksummed as
        # three pieces, so the data is never copied into a temporary payload.
        data = entry.data
        length = ENTRY_HEAD.size + len(data)
        if length > MAX_PAYLOAD:
            raise ValueError(f"entry {entry.index} is {length} bytes, the limit is {MAX_PAYLOAD}")
        prefix = HEADER_PREFIX.pack(_ENTRY, length)
        head = ENTRY_HEAD.pack(entry.term, entry.index, entry.type)
        crc = crc32(data, crc32(head, crc32(prefix, self.crc)))
        self.crc = crc
        buf += prefix
        buf += CRC_FIELD.pack(crc)
        buf += head
        buf += data

    def state(self, buf: bytearray, state: HardState) -> None:
        self.record(buf, RecordType.STATE, STATE.pack(state.term, state.vote, state.commit))

    def snapshot(self, buf: bytearray, snapshot: WalSnapshot) -> None:
        self.record(buf, RecordType.SNAPSHOT, SNAPSHOT.pack(snapshot.index, snapshot.term))

    def metadata(self, buf: bytearray, metadata: bytes) -> None:
        self.record(buf, RecordType.METADATA, metadata)

    def crc_record(self, buf: bytearray, prev_crc: int) -> None:
        """The first record of a segment: carries the chain over instead of extending it."""
        self.crc = prev_crc
        buf += HEADER.pack(RecordType.CRC, 0, prev_crc)

    def record(self, buf: bytearray, record_type: RecordType, payload: bytes) -> None:
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"{record_type.name} record is {len(payload)} bytes, the limit is {MAX_PAYLOAD}")
        prefix = HEADER_PREFIX.pack(record_type, len(payload))
        crc = crc32(payload, crc32(prefix, self.crc))
        self.crc = crc
        buf += prefix
        buf += CRC_FIELD.pack(crc)
        buf += payload
