"""Splits one segment's bytes into verified frames and tells a torn tail from corruption; no I/O.

Where decoding stops matters more than how:

- an all-zero header followed only by zeros is the end of the data (the rest of the segment was
  preallocated and never written);
- a damaged frame in the LAST segment is a torn tail, i.e. the last write before a power loss, when
  the file ends inside it, or when what follows it is all zeros, or when one of the disk sectors
  its payload spans is all zeros (a sector that never reached the disk; etcd's isTornEntry rule);
  an all-zero header whose sector is zero up to its end counts as such a lost sector too;
- anything else is corruption: a bad frame followed by data, any damage in an earlier segment
  (segments are truncated, synced and renamed before the next one is used, so they cannot be torn),
  or a CRC record that breaks the chain.

Corruption raises WalCorruptError at once. A torn tail is reported in the result (`torn`), with
`end` at the start of the torn frame, so open() can refuse it and repair() can truncate there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from etcd_raft.wal.errors import WalCorruptError
from etcd_raft.wal.records import CHECKED_HEADER_SIZE, HEADER, HEADER_SIZE, RECORD_TYPES, RecordType, crc32

SECTOR_SIZE: Final = 512  # the smallest unit a disk writes atomically; etcd assumes the same
_ZEROS: Final = bytes(1 << 20)
_CRC: Final = int(RecordType.CRC)


@dataclass(slots=True)
class DecodedSegment:
    """The frames of one segment, as (type, payload start, payload end, frame offset) tuples."""

    frames: list[tuple[int, int, int, int]] = field(default_factory=list)
    end: int = 0  # offset just past the last good frame: where the next write goes
    crc: int = 0  # the chain value after the last good frame
    torn: bool = False  # the segment ends in a torn frame starting at `end`


def decode_segment(buf: bytes, path: Path, prev_crc: int | None, *, is_last: bool) -> DecodedSegment:
    """Decode `buf`, the whole content of segment `path`.

    `prev_crc` is the chain value the segment's CRC record must carry, or None when this is the
    first segment read (reading can start mid-log, at a snapshot).
    """
    view = memoryview(buf)
    size = len(buf)
    out = DecodedSegment()
    crc = prev_crc
    off = 0
    unpack_header = HEADER.unpack_from
    while True:
        if size - off < HEADER_SIZE:
            if _all_zero(buf, off, size):
                break
            _torn_or_raise(out, path, off, is_last, "file ends inside a record header")
            break
        record_type, length, record_crc = unpack_header(buf, off)
        start = off + HEADER_SIZE
        end = start + length
        if record_type == 0:
            if length == 0 and record_crc == 0 and _all_zero(buf, start, size):
                break
            if length == 0 and record_crc == 0 and _all_zero(buf, off, _sector_end(off, size)):
                _torn_or_raise(out, path, off, is_last, "zeroed header followed by data")
                break
            _bad_frame(out, path, buf, off, start, end, is_last, "record type 0")
            break
        if end > size:
            _torn_or_raise(out, path, off, is_last, f"record of {length} bytes runs past the end of the file")
            break
        if record_type == _CRC:
            if crc is not None and record_crc != crc:
                raise WalCorruptError(
                    path, off, f"crc chain broken: segment carries {record_crc:#010x}, log has {crc:#010x}"
                )
            if length != 0:
                raise WalCorruptError(path, off, f"crc record with a {length}-byte payload")
            crc = record_crc
        else:
            if crc is None:
                raise WalCorruptError(path, off, "segment does not start with a crc record")
            if record_type not in RECORD_TYPES:
                _bad_frame(out, path, buf, off, start, end, is_last, f"unknown record type {record_type}")
                break
            computed = crc32(view[start:end], crc32(view[off : off + CHECKED_HEADER_SIZE], crc))
            if computed != record_crc:
                _bad_frame(out, path, buf, off, start, end, is_last, "crc mismatch")
                break
            crc = computed
        out.frames.append((record_type, start, end, off))
        off = end
    if crc is None or not out.frames:
        # create() and cut() write a segment's header records before the name exists, so a
        # segment without them was damaged after the fact, never torn.
        raise WalCorruptError(path, 0, "segment holds no records")
    out.end = off
    out.crc = crc
    return out


def _bad_frame(
    out: DecodedSegment, path: Path, buf: bytes, off: int, start: int, end: int, is_last: bool, reason: str
) -> None:
    if is_last and (_all_zero(buf, end, len(buf)) or _has_zero_sector(buf, start, end)):
        out.torn = True
        return
    raise WalCorruptError(path, off, reason)


def _torn_or_raise(out: DecodedSegment, path: Path, off: int, is_last: bool, reason: str) -> None:
    if not is_last:
        raise WalCorruptError(path, off, reason)
    out.torn = True


def _sector_end(off: int, size: int) -> int:
    return min(size, (off // SECTOR_SIZE + 1) * SECTOR_SIZE)


def _has_zero_sector(buf: bytes, start: int, end: int) -> bool:
    """Whether a piece of [start, end) that lies in one disk sector is all zeros (etcd's isTornEntry)."""
    off = start
    while off < end:
        chunk_end = min(end, _sector_end(off, end))
        if buf[off:chunk_end] == _ZEROS[: chunk_end - off]:
            return True
        off = chunk_end
    return False


def _all_zero(buf: bytes, start: int, end: int) -> bool:
    # Chunked so a 64 MiB preallocated tail is compared with memcmp, not byte by byte.
    step = len(_ZEROS)
    for off in range(start, end, step):
        stop = min(end, off + step)
        if buf[off:stop] != _ZEROS[: stop - off]:
            return False
    return True
