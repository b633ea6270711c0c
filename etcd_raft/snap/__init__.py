"""etcd_raft.snap: Raft snapshot files and db copies on disk, like etcd's etcdserver/api/snap.

    from etcd_raft.snap import Snapshotter
    from etcd_raft.wal import valid_snapshot_entries

    snapshotter = Snapshotter(snap_dir)
    snapshot = snapshotter.load_newest_available(valid_snapshot_entries(wal_dir))
    ref = snapshotter.save_db_from(index, db_stream)       # big state: `<index>.snap.db`
    snapshotter.save(Snapshot(metadata, ref.to_bytes()))   # `<term>-<index>.snap` carries the reference

Modules: snapfile.py (the `.snap` format and DbSnapshotRef), snapshotter.py, errors.py.
"""

from etcd_raft.snap.errors import NoDbSnapshotError, NoSnapshotError, SnapError, SnapshotCorruptError
from etcd_raft.snap.snapfile import DbSnapshotRef
from etcd_raft.snap.snapshotter import Snapshotter, db_name, read_snapshot, snap_name

__all__ = [
    "DbSnapshotRef",
    "NoDbSnapshotError",
    "NoSnapshotError",
    "SnapError",
    "SnapshotCorruptError",
    "Snapshotter",
    "db_name",
    "read_snapshot",
    "snap_name",
]
