"""Damage on disk: a torn tail (every truncation point of the last record, zeroed sectors, a bad
CRC) is refused by open(), fixed by repair() and then opens with every complete record; damage
anywhere else is a WalCorruptError naming file and offset, and repair() refuses to touch it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from etcd_raft.raft.types import Entry, HardState
from etcd_raft.wal import WAL, WalConfig, WalCorruptError, WalTornTailError, repair
from etcd_raft.wal.decoder import decode_segment
from etcd_raft.wal.records import HEADER, HEADER_SIZE, RecordType

SMALL = WalConfig(segment_size=1024)


def ents(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term, i, data=b"entry-%04d" % i) for i in range(first, last + 1)]


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


LAST = 95  # the tail segment then holds 15 entries (100 would end exactly at a cut)


def write_log(directory: Path) -> None:
    """Entries 1..LAST in batches of 5 over several segments; the final record is entry LAST."""
    with WAL.create(directory, b"m", SMALL) as wal:
        for first in range(1, LAST + 1, 5):
            # The hard state changes only once, so every later batch ends in an entry record.
            wal.save(HardState(1, 1, 0), ents(first, first + 4))
    assert len(segments(directory)) >= 3


def frames(path: Path) -> list[tuple[int, int, int, int]]:
    return decode_segment(path.read_bytes(), path, None, is_last=True).frames


def read_entries(directory: Path) -> list[Entry]:
    with WAL.open(directory, config=SMALL) as wal:
        return wal.read_all().entries


def test_truncation_at_every_byte_of_the_last_record_is_repaired(wal_dir: Path) -> None:
    write_log(wal_dir)
    tail = segments(wal_dir)[-1]
    original = tail.read_bytes()
    record_type, _start, end, offset = frames(tail)[-1]
    assert record_type == RecordType.ENTRY
    for cut in range(offset + 1, end):
        tail.write_bytes(original[:cut])
        with pytest.raises(WalTornTailError) as torn:
            WAL.open(wal_dir, config=SMALL)
        assert (torn.value.path, torn.value.offset) == (tail, offset)
        backup = repair(wal_dir)
        assert backup == tail.with_name(tail.name + ".broken") and backup.read_bytes() == original[:cut]
        assert tail.stat().st_size == offset
        assert read_entries(wal_dir) == ents(1, LAST - 1), cut
        assert repair(wal_dir) is None  # nothing left to repair
    tail.write_bytes(original[:offset])  # a cut exactly between records is just a shorter log
    assert read_entries(wal_dir) == ents(1, LAST - 1)


def test_a_partly_written_record_in_preallocated_space_is_repaired(wal_dir: Path) -> None:
    # The file keeps its size; the unwritten part of the last record reads as zeros.
    write_log(wal_dir)
    tail = segments(wal_dir)[-1]
    original = tail.read_bytes()
    _, _, end, offset = frames(tail)[-1]
    for written in range(1, end - offset):
        tail.write_bytes(original[: offset + written] + bytes(len(original) - offset - written))
        with pytest.raises(WalTornTailError):
            WAL.open(wal_dir, config=SMALL)
        WAL.repair(wal_dir)
        with WAL.open(wal_dir, config=SMALL) as wal:
            assert wal.read_all().entries == ents(1, LAST - 1)
            wal.save(HardState(2, 1, 0), ents(LAST, LAST + 1, term=2))  # and the log goes on from there
        assert read_entries(wal_dir) == ents(1, LAST - 1) + ents(LAST, LAST + 1, term=2)


def test_a_bad_crc_on_the_last_record_is_a_torn_tail(wal_dir: Path) -> None:
    write_log(wal_dir)
    tail = segments(wal_dir)[-1]
    damaged = bytearray(tail.read_bytes())
    _, _start, end, _ = frames(tail)[-1]
    damaged[end - 1] ^= 0x55
    tail.write_bytes(bytes(damaged))
    with pytest.raises(WalTornTailError, match="run repair"):
        WAL.open(wal_dir, config=SMALL)
    repair(wal_dir)
    assert read_entries(wal_dir) == ents(1, LAST - 1)


def test_a_bad_record_in_the_middle_of_the_last_segment_is_corruption(wal_dir: Path) -> None:
    write_log(wal_dir)
    tail = segments(wal_dir)[-1]
    damaged = bytearray(tail.read_bytes())
    middle = next(f for f in frames(tail) if f[0] == RecordType.ENTRY)
    damaged[middle[1] + 20] ^= 0x01
    tail.write_bytes(bytes(damaged))
    with pytest.raises(WalCorruptError, match="crc mismatch") as raised:
        WAL.open(wal_dir, config=SMALL)
    assert type(raised.value) is WalCorruptError
    assert (raised.value.path, raised.value.offset) == (tail, middle[3])
    assert str(tail) in str(raised.value) and f"offset {middle[3]}" in str(raised.value)
    with pytest.raises(WalCorruptError):
        repair(wal_dir)
    assert tail.read_bytes() == bytes(damaged)  # repair changed nothing


@pytest.mark.parametrize("damage", ["flip a byte of the last record", "truncate the last record"])
def test_damage_in_an_earlier_segment_is_never_a_torn_tail(wal_dir: Path, damage: str) -> None:
    write_log(wal_dir)
    first = segments(wal_dir)[0]
    data = bytearray(first.read_bytes())
    _, _, end, offset = frames(first)[-1]
    if damage.startswith("flip"):
        data[end - 1] ^= 0x01
    else:
        del data[end - 3 :]
    first.write_bytes(bytes(data))
    with pytest.raises(WalCorruptError) as raised:
        WAL.open(wal_dir, config=SMALL)
    assert (
        type(raised.value) is WalCorruptError and raised.value.path == first and raised.value.offset == offset
    )


def test_the_crc_chain_runs_across_segments(wal_dir: Path) -> None:
    write_log(wal_dir)
    first, second = segments(wal_dir)[:2]
    chain_end = decode_segment(first.read_bytes(), first, None, is_last=False).crc
    _, _, carried = HEADER.unpack_from(second.read_bytes(), 0)
    assert carried == chain_end  # the second segment starts where the first one's chain ended
    broken = bytearray(second.read_bytes())
    HEADER.pack_into(broken, 0, RecordType.CRC, 0, carried ^ 1)
    second.write_bytes(bytes(broken))
    with pytest.raises(WalCorruptError, match="crc chain broken") as raised:
        WAL.open(wal_dir, config=SMALL)
    assert (raised.value.path, raised.value.offset) == (second, 0)


def test_a_segment_swapped_in_from_another_log_breaks_the_chain(tmp_path: Path) -> None:
    write_log(tmp_path / "a")
    with WAL.create(tmp_path / "b", b"m", SMALL) as wal:  # same shape, different content
        for first in range(1, LAST + 1, 5):
            wal.save(HardState(2, 2, 0), ents(first, first + 4, term=2))
    a, b = segments(tmp_path / "a"), segments(tmp_path / "b")
    assert a[1].name == b[1].name
    a[1].write_bytes(b[1].read_bytes())
    with pytest.raises(WalCorruptError, match="crc chain broken"):
        WAL.open(tmp_path / "a", config=SMALL)


def test_a_missing_segment_is_corruption(wal_dir: Path) -> None:
    write_log(wal_dir)
    segments(wal_dir)[1].unlink()
    with pytest.raises(WalCorruptError, match="sequence jumps from 0 to 2"):
        WAL.open(wal_dir, config=SMALL)


def test_an_emptied_segment_is_corruption_not_a_torn_tail(wal_dir: Path) -> None:
    write_log(wal_dir)
    tail = segments(wal_dir)[-1]
    os.truncate(tail, 0)
    with pytest.raises(WalCorruptError, match="no records") as raised:
        WAL.open(wal_dir, config=SMALL)
    assert type(raised.value) is WalCorruptError
    assert HEADER_SIZE == 12
