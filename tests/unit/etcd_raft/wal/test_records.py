"""The frame format on its own: encoder and decoder round trip, the rolling CRC, and how the decoder
tells a torn tail (repairable) from corruption (an error), on in-memory buffers."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from etcd_raft.raft.types import Entry, EntryType, HardState
from etcd_raft.wal.decoder import SECTOR_SIZE, decode_segment
from etcd_raft.wal.encoder import Encoder
from etcd_raft.wal.errors import WalCorruptError
from etcd_raft.wal.reader import Replay, _apply
from etcd_raft.wal.records import HEADER, HEADER_SIZE, RecordType, WalSnapshot, decode_entry

PATH = Path("seg.wal")


def segment(prev_crc: int, entries: list[Entry], state: HardState | None = None) -> tuple[bytes, Encoder]:
    encoder = Encoder(prev_crc)
    buf = bytearray()
    encoder.crc_record(buf, prev_crc)
    encoder.metadata(buf, b"meta")
    for entry in entries:
        encoder.entry(buf, entry)
    if state is not None:
        encoder.state(buf, state)
    return bytes(buf), encoder


def test_frames_round_trip_and_end_where_zeros_start() -> None:
    entries = [Entry(1, i, EntryType.NORMAL, b"x" * i) for i in range(1, 20)]
    entries.append(Entry(2, 20, EntryType.CONF_CHANGE, b""))
    buf, encoder = segment(0, entries, HardState(2, 1, 20))
    decoded = decode_segment(buf + bytes(4096), PATH, None, is_last=True)
    assert not decoded.torn
    assert decoded.end == len(buf)
    assert decoded.crc == encoder.crc
    types = [frame[0] for frame in decoded.frames]
    assert types == [RecordType.CRC, RecordType.METADATA] + [RecordType.ENTRY] * 20 + [RecordType.STATE]
    view = memoryview(buf)
    assert [decode_entry(view[s:e]) for t, s, e, _ in decoded.frames if t == RecordType.ENTRY] == entries


def test_crc_is_rolling_over_header_and_payload() -> None:
    buf, encoder = segment(0x1234, [Entry(1, 1, data=b"a")])
    metadata_at, entry_at = HEADER_SIZE, 2 * HEADER_SIZE + len(b"meta")
    metadata_crc = zlib.crc32(b"meta", zlib.crc32(buf[metadata_at : metadata_at + 8], 0x1234))
    entry_crc = zlib.crc32(
        buf[entry_at + HEADER_SIZE :], zlib.crc32(buf[entry_at : entry_at + 8], metadata_crc)
    )
    assert HEADER.unpack_from(buf, entry_at) == (RecordType.ENTRY, 17 + 1, entry_crc)
    assert encoder.crc == entry_crc


def test_a_segment_must_carry_the_chain_value_of_the_one_before() -> None:
    buf, _ = segment(0xAAAA, [Entry(1, 1)])
    assert decode_segment(buf, PATH, 0xAAAA, is_last=True).frames
    with pytest.raises(WalCorruptError, match="crc chain broken"):
        decode_segment(buf, PATH, 0xBBBB, is_last=True)


def test_a_record_checksummed_against_another_chain_is_rejected() -> None:
    first, _ = segment(0, [Entry(1, 1, data=b"one")])
    other, _ = segment(7, [Entry(1, 2, data=b"two")])
    spliced = first + other[HEADER_SIZE:]  # drop other's crc record: its metadata follows first's chain
    with pytest.raises(WalCorruptError, match="crc mismatch"):
        decode_segment(spliced + b"\x01", PATH, None, is_last=True)


def test_a_segment_without_a_crc_record_first_is_corrupt() -> None:
    buf, _ = segment(0, [Entry(1, 1)])
    with pytest.raises(WalCorruptError, match="does not start with a crc record"):
        decode_segment(buf[HEADER_SIZE:], PATH, None, is_last=True)


@pytest.mark.parametrize("is_last", [True, False], ids=["last segment", "earlier segment"])
def test_truncation_inside_the_last_record(is_last: bool) -> None:
    buf, _ = segment(0, [Entry(1, 1, data=b"first"), Entry(1, 2, data=b"second")])
    last_start = len(buf) - (HEADER_SIZE + 17 + 6)
    for cut in range(last_start + 1, len(buf)):
        if is_last:
            decoded = decode_segment(buf[:cut], PATH, None, is_last=True)
            assert decoded.torn and decoded.end == last_start, cut
        else:
            with pytest.raises(WalCorruptError):
                decode_segment(buf[:cut], PATH, None, is_last=False)


def test_bad_crc_at_the_tail_is_torn_but_followed_by_data_is_corrupt() -> None:
    buf, _ = segment(0, [Entry(1, i, data=b"payload %d" % i) for i in range(1, 6)])
    flipped = bytearray(buf)
    flipped[-3] ^= 0xFF
    decoded = decode_segment(bytes(flipped) + bytes(100), PATH, None, is_last=True)
    assert decoded.torn
    middle = bytearray(buf)
    middle[HEADER_SIZE * 3 + 4 + 20] ^= 0xFF  # inside the first entry
    with pytest.raises(WalCorruptError, match="crc mismatch") as raised:
        decode_segment(bytes(middle), PATH, None, is_last=True)
    assert raised.value.offset == 2 * HEADER_SIZE + 4 and raised.value.path == PATH


def test_a_lost_sector_inside_the_tail_record_is_torn_even_with_data_after() -> None:
    # A power loss can persist a later sector of the last write and not an earlier one.
    big = Entry(1, 2, data=b"\x01" * (3 * SECTOR_SIZE))
    buf, _ = segment(0, [Entry(1, 1, data=b"a"), big, Entry(1, 3, data=b"after")])
    start = len(segment(0, [Entry(1, 1, data=b"a")])[0])
    lost = bytearray(buf)
    sector = (start // SECTOR_SIZE + 2) * SECTOR_SIZE
    lost[sector : sector + SECTOR_SIZE] = bytes(SECTOR_SIZE)
    decoded = decode_segment(bytes(lost), PATH, None, is_last=True)
    assert decoded.torn and decoded.end == start
    with pytest.raises(WalCorruptError):
        decode_segment(bytes(lost), PATH, None, is_last=False)


def test_zeroed_header_followed_by_data_in_the_same_sector_is_corrupt() -> None:
    buf, _ = segment(0, [Entry(1, 1, data=b"a"), Entry(1, 2, data=b"b"), Entry(1, 3, data=b"c")])
    second = len(segment(0, [Entry(1, 1, data=b"a")])[0])
    zeroed = bytearray(buf)
    zeroed[second : second + HEADER_SIZE] = bytes(HEADER_SIZE)
    with pytest.raises(WalCorruptError):
        decode_segment(bytes(zeroed), PATH, None, is_last=True)


def test_replay_overwrites_a_truncated_tail_and_rejects_gaps() -> None:
    out = Replay(start=WalSnapshot(2, 1))
    for entry in [Entry(1, 1), Entry(1, 2), Entry(1, 3), Entry(1, 4), Entry(1, 5), Entry(2, 4), Entry(2, 5)]:
        buf = bytearray()
        Encoder(0).entry(buf, entry)
        _apply(out, RecordType.ENTRY, memoryview(bytes(buf))[HEADER_SIZE:])
    assert [(e.term, e.index) for e in out.entries] == [(1, 3), (2, 4), (2, 5)]
    assert out.last_index == 5
    buf = bytearray()
    Encoder(0).entry(buf, Entry(2, 9))
    with pytest.raises(Exception, match="gap"):
        _apply(out, RecordType.ENTRY, memoryview(bytes(buf))[HEADER_SIZE:])
