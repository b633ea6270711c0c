"""The WAL through its public API: round trips, overwrite on truncation, segments, snapshots,
purge, the directory lock, fsync accounting and the errors for missing or misused logs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from typing_extensions import Buffer

from etcd_raft.raft.types import Entry, EntryType, HardState
from etcd_raft.wal import (
    WAL,
    SnapshotMismatchError,
    SnapshotNotFoundError,
    WalConfig,
    WalExistsError,
    WalLockedError,
    WalNotFoundError,
    WalSnapshot,
    WalStateError,
    exists,
    parse_segment_name,
    valid_snapshot_entries,
)

SMALL = WalConfig(segment_size=1024)


def ents(first: int, last: int, term: int = 1, size: int = 10) -> list[Entry]:
    return [Entry(term, i, data=f"{term}:{i}:".encode().ljust(size, b"z")) for i in range(first, last + 1)]


def reopen(directory: Path, snapshot: WalSnapshot | None = None, config: WalConfig = SMALL) -> WAL:
    return WAL.open(directory, snapshot, config)


def read(directory: Path, snapshot: WalSnapshot | None = None) -> tuple[bytes, HardState, list[Entry]]:
    with reopen(directory, snapshot) as wal:
        metadata, state, entries = wal.read_all()
        return metadata, state, entries


def segment_files(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".wal"))


def test_entries_and_hard_state_round_trip(wal_dir: Path) -> None:
    batch = [*ents(1, 3), Entry(1, 4, EntryType.CONF_CHANGE, b"\x00member"), Entry(1, 5, data=b"")]
    with WAL.create(wal_dir, b"cluster-id=7") as wal:
        wal.save(HardState(1, 1, 0), batch[:2])
        wal.save(HardState(1, 1, 2), batch[2:])
    metadata, state, entries = read(wal_dir)
    assert (metadata, state, entries) == (b"cluster-id=7", HardState(1, 1, 2), batch)


def test_reopened_wal_appends_after_what_it_read(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        wal.save(HardState(1, 0, 0), ents(1, 5))
    with reopen(wal_dir) as wal:
        assert wal.read_all().entries == ents(1, 5)
        wal.save(HardState(2, 2, 5), ents(6, 8, term=2))
    assert read(wal_dir)[1:] == (HardState(2, 2, 5), ents(1, 5) + ents(6, 8, term=2))


def test_a_new_leaders_entries_overwrite_the_uncommitted_tail(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        wal.save(HardState(1, 1, 2), ents(1, 40))  # several segments
        wal.save(HardState(2, 2, 2), ents(3, 4, term=2))  # entries 5..40 of term 1 are gone
        wal.save(HardState(2, 2, 2), ents(5, 5, term=2))
    _, state, entries = read(wal_dir)
    assert entries == ents(1, 2) + ents(3, 5, term=2)
    assert state == HardState(2, 2, 2)
    assert len(segment_files(wal_dir)) > 1


def test_segments_are_cut_named_and_read_across(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        for first in range(1, 200, 10):
            wal.save(HardState(1, 1, first), ents(first, first + 9))
        paths = wal.segment_paths()
        assert not [n for n in os.listdir(wal_dir) if n.endswith(".tmp") and not n[0].isdigit()]
    names = segment_files(wal_dir)
    assert [p.name for p in paths] == names and len(names) >= 5
    parsed = [parse_segment_name(n) for n in names]
    assert [p[0] for p in parsed if p] == list(range(len(names)))
    assert parsed[0] == (0, 0)
    # Each cut names the next segment after the last index written: batches of 10 end at 10k.
    assert all(p is not None and (p[1] - 1) % 10 == 0 for p in parsed[1:])
    for name in names[:-1]:  # finished segments lose their preallocated tail
        assert 1024 <= (wal_dir / name).stat().st_size < 2048
    assert (wal_dir / names[-1]).stat().st_size >= 1024
    assert read(wal_dir)[2] == ents(1, 200)
    assert not [n for n in os.listdir(wal_dir) if n.endswith(".tmp")]  # the pipeline cleaned up


def test_a_batch_bigger_than_a_segment_is_written_whole(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        wal.save(HardState(1, 1, 0), ents(1, 3, size=5000))
        wal.save(HardState(1, 1, 0), ents(4, 4))
    assert read(wal_dir)[2] == ents(1, 3, size=5000) + ents(4, 4)


def test_open_from_a_snapshot_marker_returns_only_later_entries(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        for first in range(1, 60, 10):
            wal.save(HardState(1, 1, first + 9), ents(first, first + 9))
        wal.save_snapshot(WalSnapshot(50, 1))
        wal.save(HardState(2, 1, 90), ents(61, 90, term=2))
    with reopen(wal_dir, WalSnapshot(50, 1)) as wal:
        first_segment = parse_segment_name(wal.segment_paths()[0].name)
        assert first_segment is not None and 0 < first_segment[1] <= 50  # older segments not read
        _, state, entries = wal.read_all()
    assert entries == ents(51, 60) + ents(61, 90, term=2)
    assert state == HardState(2, 1, 90)
    with pytest.raises(SnapshotMismatchError):
        reopen(wal_dir, WalSnapshot(50, 2))
    with pytest.raises(SnapshotNotFoundError):
        reopen(wal_dir, WalSnapshot(55, 1))
    reopen(wal_dir, WalSnapshot(50, 1)).close()  # a failed open releases the lock


def test_valid_snapshot_entries_are_the_committed_markers(wal_dir: Path) -> None:
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        wal.save(HardState(1, 1, 10), ents(1, 30))
        wal.save_snapshot(WalSnapshot(10, 1))
        wal.save(HardState(1, 1, 20), [])
        wal.save_snapshot(WalSnapshot(20, 1))
        wal.save_snapshot(WalSnapshot(30, 1))  # past the commit index: not a safe starting point
    assert valid_snapshot_entries(wal_dir) == [WalSnapshot(0, 0), WalSnapshot(10, 1), WalSnapshot(20, 1)]


def test_purge_keeps_the_newest_and_everything_still_needed(wal_dir: Path) -> None:
    config = WalConfig(segment_size=1024, max_segments=2)
    with WAL.create(wal_dir, b"m", config) as wal:
        for first in range(1, 300, 10):
            wal.save(HardState(1, 1, first + 9), ents(first, first + 9))
        total = len(segment_files(wal_dir))
        assert total > 6
        assert wal.purge() == []  # nothing released yet: every segment may still be needed
        wal.save_snapshot(WalSnapshot(150, 1))
        wal.release_lock_to(150)
        needed = [p.name for p in wal.segment_paths()]
        removed = wal.purge()
        assert removed and len(removed) + len(needed) == total
        assert segment_files(wal_dir) == needed  # more than max_segments, all of them needed
        wal.release_lock_to(10_000)
        assert len(wal.purge()) == len(needed) - 2
        assert len(segment_files(wal_dir)) == 2
    with pytest.raises(SnapshotNotFoundError):
        reopen(wal_dir, WalSnapshot(150, 1))  # released and purged on purpose


def test_purge_after_release_keeps_the_log_readable_from_the_snapshot(wal_dir: Path) -> None:
    config = WalConfig(segment_size=1024, max_segments=1)
    with WAL.create(wal_dir, b"m", config) as wal:
        for first in range(1, 100, 10):
            wal.save(HardState(1, 1, first + 9), ents(first, first + 9))
        wal.save_snapshot(WalSnapshot(80, 1))
        wal.release_lock_to(80)
        assert wal.purge()
        wal.save(HardState(1, 1, 110), ents(101, 110))
    assert read(wal_dir, WalSnapshot(80, 1))[2] == ents(81, 110)
    with pytest.raises(SnapshotNotFoundError):
        reopen(wal_dir)


@dataclass
class DiskCalls:
    """fsync/fdatasync and pwrite calls made since the fixture started (or since reset())."""

    syncs: int = 0
    writes: int = 0

    def reset(self) -> None:
        self.syncs = self.writes = 0


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> DiskCalls:
    calls = DiskCalls()
    real_fsync, real_fdatasync, real_pwrite = os.fsync, os.fdatasync, os.pwrite

    def fsync(fd: int) -> None:
        calls.syncs += 1
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        calls.syncs += 1
        real_fdatasync(fd)

    def pwrite(fd: int, data: Buffer, offset: int) -> int:
        calls.writes += 1
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(os, "pwrite", pwrite)
    return calls


def test_one_fsync_per_save_and_none_when_nothing_must_be_durable(wal_dir: Path, disk: DiskCalls) -> None:
    with WAL.create(wal_dir, b"m") as wal:
        disk.reset()
        wal.save(HardState(1, 1, 0), ents(1, 100))
        assert (disk.syncs, disk.writes) == (1, 1)  # a batch is one write and one fsync
        wal.save(HardState(1, 1, 0), ents(101, 101))
        assert (disk.syncs, disk.writes) == (2, 2)
        wal.save(HardState(1, 1, 0), [])  # nothing new: not even written
        assert (disk.syncs, disk.writes) == (2, 2)
        wal.save(HardState(1, 1, 50), [])  # commit only: written, not synced (etcd's MustSync)
        assert (disk.syncs, disk.writes) == (2, 3)
        wal.save(HardState(1, 2, 50), [])  # a vote must be durable before it is sent
        assert (disk.syncs, disk.writes) == (3, 4)
        wal.save(HardState(), ents(102, 103))  # no hard state in this Ready: entries only
        assert (disk.syncs, disk.writes) == (4, 5)
        wal.save_snapshot(WalSnapshot(50, 1))
        assert (disk.syncs, disk.writes) == (5, 6)
    assert read(wal_dir)[1:] == (HardState(1, 2, 50), ents(1, 103))


def test_on_fsync_reports_every_sync_with_its_duration(wal_dir: Path, disk: DiskCalls) -> None:
    durations: list[float] = []
    config = WalConfig(segment_size=1024, on_fsync=durations.append)
    with WAL.create(wal_dir, b"m", config) as wal:
        for first in range(1, 100, 10):
            wal.save(HardState(1, 1, 0), ents(first, first + 9))
    assert len(durations) == disk.syncs > 10  # cuts sync the old segment, the new one and the dir
    assert all(d >= 0 for d in durations)


def test_the_directory_lock_keeps_out_a_second_writer(wal_dir: Path) -> None:
    WAL.create(wal_dir, b"m").close()
    wal = WAL.open(wal_dir)
    try:
        with pytest.raises(WalLockedError):
            WAL.open(wal_dir)  # a second open file description, same process
        with pytest.raises(WalLockedError):
            WAL.repair(wal_dir)
        other = subprocess.run(
            [sys.executable, "-c", OPEN_IN_ANOTHER_PROCESS, str(wal_dir)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert other.stdout.strip() == "locked", other.stderr
    finally:
        wal.close()
    WAL.open(wal_dir).close()  # closing released it


OPEN_IN_ANOTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from etcd_raft.wal import WAL, WalLockedError
    try:
        WAL.open(sys.argv[1])
    except WalLockedError:
        print("locked")
    """
)


def test_missing_empty_and_existing_directories_give_clear_errors(wal_dir: Path) -> None:
    with pytest.raises(WalNotFoundError, match="no WAL directory"):
        WAL.open(wal_dir)
    wal_dir.mkdir(parents=True)
    with pytest.raises(WalNotFoundError, match="no WAL segments"):
        WAL.open(wal_dir)
    assert not exists(wal_dir)
    WAL.create(wal_dir, b"m").close()  # an empty directory is fine to create in
    assert exists(wal_dir)
    with pytest.raises(WalExistsError):
        WAL.create(wal_dir, b"m")
    (wal_dir.parent / "junk").mkdir()
    (wal_dir.parent / "junk" / "file").write_text("x")
    with pytest.raises(WalExistsError, match="not an empty directory"):
        WAL.create(wal_dir.parent / "junk", b"m")


def test_read_all_comes_first_and_only_once(wal_dir: Path) -> None:
    WAL.create(wal_dir, b"m").close()
    with WAL.open(wal_dir) as wal:
        with pytest.raises(WalStateError, match="read_all"):
            wal.save(HardState(1, 0, 0), ents(1, 1))
        wal.read_all()
        with pytest.raises(WalStateError, match="already"):
            wal.read_all()
        wal.save(HardState(1, 0, 0), ents(1, 1))
    with pytest.raises(WalStateError, match="closed"):
        wal.save(HardState(1, 0, 0), ents(2, 2))


def test_a_rejected_batch_leaves_the_log_and_its_crc_chain_untouched(
    wal_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("etcd_raft.wal.encoder.MAX_PAYLOAD", 1000)
    with WAL.create(wal_dir, b"m", SMALL) as wal:
        wal.save(HardState(1, 1, 0), ents(1, 2))
        with pytest.raises(ValueError, match="limit"):
            wal.save(HardState(1, 1, 0), [*ents(3, 4), Entry(1, 5, data=bytes(2000))])
        wal.save(HardState(1, 1, 0), ents(3, 4))
    assert read(wal_dir)[2] == ents(1, 4)
