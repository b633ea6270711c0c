"""Snapshot files: atomic save and load, skipping (and renaming) corrupt files, matching the WAL's
markers, purge, and db copies streamed to `<index>.snap.db` with a reference in the snapshot."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from etcd_raft.raft.types import ConfState, Snapshot, SnapshotMetadata
from etcd_raft.snap import (
    DbSnapshotRef,
    NoDbSnapshotError,
    NoSnapshotError,
    SnapshotCorruptError,
    Snapshotter,
    db_name,
    read_snapshot,
    snap_name,
)
from etcd_raft.wal import WalSnapshot


def snap(index: int, term: int = 1, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMetadata(index, term, ConfState((1, 2, 3), (4,))), data + b"@%d" % index)


@pytest.fixture
def snapshotter(tmp_path: Path) -> Snapshotter:
    return Snapshotter(tmp_path / "member" / "snap")


def test_save_and_load_round_trip(snapshotter: Snapshotter) -> None:
    path = snapshotter.save(snap(10, term=2))
    assert path is not None and path.name == snap_name(2, 10) == "0000000000000002-000000000000000a.snap"
    assert snapshotter.load_newest() == snap(10, term=2)
    assert read_snapshot(path) == snap(10, term=2)
    assert sorted(os.listdir(snapshotter.directory)) == [path.name]  # no .tmp left behind
    assert snapshotter.save(Snapshot()) is None  # an empty snapshot is not written


def test_load_newest_picks_the_highest_term_then_index(snapshotter: Snapshotter) -> None:
    for index, term in [(5, 1), (30, 1), (20, 2)]:
        snapshotter.save(snap(index, term))
    assert snapshotter.snap_names() == [snap_name(2, 20), snap_name(1, 30), snap_name(1, 5)]
    assert snapshotter.load_newest() == snap(20, 2)


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "empty the file", "garbage"])
def test_a_corrupt_newest_snapshot_is_renamed_broken_and_the_next_one_loaded(
    snapshotter: Snapshotter, damage: str
) -> None:
    snapshotter.save(snap(5))
    newest = snapshotter.save(snap(9))
    assert newest is not None
    data = bytearray(newest.read_bytes())
    if damage == "flip a byte":
        data[-2] ^= 0x10
    elif damage == "truncate":
        del data[-1:]
    elif damage == "empty the file":
        data.clear()
    else:
        data[:4] = b"XXXX"
    newest.write_bytes(bytes(data))
    with pytest.raises(SnapshotCorruptError):
        read_snapshot(newest)
    assert snapshotter.load_newest() == snap(5)
    assert not newest.exists() and newest.with_name(newest.name + ".broken").exists()
    assert snapshotter.snap_names() == [snap_name(1, 5)]


def test_load_newest_available_needs_a_matching_wal_marker(snapshotter: Snapshotter) -> None:
    for index in (10, 20, 30):
        snapshotter.save(snap(index))
    # Snapshot 30 was saved but the crash came before its WAL marker; 20 exists at another term.
    markers = [WalSnapshot(0, 0), WalSnapshot(10, 1), WalSnapshot(20, 7)]
    assert snapshotter.load_newest_available(markers) == snap(10)
    with pytest.raises(NoSnapshotError):
        snapshotter.load_newest_available([WalSnapshot(0, 0)])


def test_no_snapshot_in_an_empty_directory(snapshotter: Snapshotter) -> None:
    assert snapshotter.snap_names() == []
    with pytest.raises(NoSnapshotError):
        snapshotter.load_newest()


def test_purge_keeps_the_newest_snapshots_and_the_db_copies_they_need(snapshotter: Snapshotter) -> None:
    for index in range(1, 8):
        snapshotter.save_db_from(index * 10, io.BytesIO(b"db%d" % index))
        snapshotter.save(snap(index * 10))
    removed = snapshotter.purge(keep=3)
    assert sorted(p.name for p in removed) == sorted(
        [snap_name(1, i * 10) for i in range(1, 5)] + [db_name(i * 10) for i in range(1, 5)]
    )
    assert snapshotter.snap_names() == [snap_name(1, i) for i in (70, 60, 50)]
    assert [snapshotter.db_path(i).read_bytes() for i in (50, 60, 70)] == [b"db5", b"db6", b"db7"]
    assert snapshotter.purge(keep=3) == []
    assert Snapshotter(snapshotter.directory, max_snapshots=1).purge()  # the default keep: the constructor's


def test_db_copy_is_streamed_and_referenced_from_the_snapshot(
    snapshotter: Snapshotter, tmp_path: Path
) -> None:
    source = tmp_path / "backend.db"
    source.write_bytes(os.urandom(3 * (1 << 20) + 123))  # several streaming chunks
    with source.open("rb") as stream:
        ref = snapshotter.save_db_from(42, stream)
    assert ref.index == 42 and ref.size == source.stat().st_size
    assert snapshotter.db_path(42).name == "000000000000002a.snap.db"
    assert snapshotter.db_path(42).read_bytes() == source.read_bytes()
    snapshotter.save(Snapshot(SnapshotMetadata(42, 3), ref.to_bytes()))
    loaded = snapshotter.load_newest()
    assert DbSnapshotRef.from_bytes(loaded.data) == ref
    assert DbSnapshotRef.from_bytes(b"inline state") is None
    assert snapshotter.verify_db(ref)
    with snapshotter.open_db(42) as f:
        assert f.read(10) == source.read_bytes()[:10]
    damaged = bytearray(snapshotter.db_path(42).read_bytes())
    damaged[1000] ^= 1
    snapshotter.db_path(42).write_bytes(bytes(damaged))
    assert not snapshotter.verify_db(ref)


def test_db_copy_written_by_a_callback_is_installed_atomically(snapshotter: Snapshotter) -> None:
    def backup(path: Path) -> None:
        assert path.name.endswith(".tmp") and not snapshotter.directory.joinpath(db_name(7)).exists()
        path.write_bytes(b"sqlite backup")

    ref = snapshotter.save_db_with(7, backup)
    assert snapshotter.db_path(7).read_bytes() == b"sqlite backup" and ref.size == 13

    def failing(path: Path) -> None:
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        snapshotter.save_db_with(8, failing)
    with pytest.raises(NoDbSnapshotError):
        snapshotter.db_path(8)
    assert not list(snapshotter.directory.glob("*.tmp"))
    assert not snapshotter.verify_db(DbSnapshotRef(8, 4, 0))


def test_a_new_snapshotter_removes_crash_leftovers(snapshotter: Snapshotter) -> None:
    directory = snapshotter.directory
    (directory / (snap_name(1, 5) + ".tmp")).write_bytes(b"half written")
    (directory / (db_name(5) + ".tmp")).write_bytes(b"half written")
    for index in (1, 2, 3):
        (directory / (snap_name(1, index) + ".broken")).write_bytes(b"x")
    Snapshotter(directory)
    assert sorted(os.listdir(directory)) == [snap_name(1, 3) + ".broken"]
