"""kplane-etcd's Prometheus metrics, under etcd's names so etcd dashboards and alerts work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from etcd_raft.server.etcdserver import EtcdServer

HAS_LEADER = Gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.")
IS_LEADER = Gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.")
LEADER_CHANGES = Counter("etcd_server_leader_changes_seen", "The number of leader changes seen.")
PROPOSALS_COMMITTED = Gauge(
    "etcd_server_proposals_committed_total", "The total number of consensus proposals committed."
)
PROPOSALS_APPLIED = Gauge(
    "etcd_server_proposals_applied_total", "The total number of consensus proposals applied."
)
PROPOSALS_FAILED = Counter("etcd_server_proposals_failed", "The total number of failed proposals seen.")
DB_SIZE = Gauge(
    "etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes."
)
DB_SIZE_IN_USE = Gauge(
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "Total size of the underlying database logically in use in bytes.",
)
WAL_FSYNC = Histogram(
    "etcd_disk_wal_fsync_duration_seconds",
    "The latency distributions of fsync called by WAL.",
    buckets=[0.001 * 2**i for i in range(14)],  # etcd's: 1 ms doubling to about 8 s
)


def watch(server: EtcdServer) -> None:
    """Read the gauges off the member at scrape time."""
    HAS_LEADER.set_function(lambda: 1 if server.leader else 0)
    IS_LEADER.set_function(lambda: 1 if server.leader == server.member_id else 0)
    PROPOSALS_COMMITTED.set_function(lambda: server.committed_index)
    PROPOSALS_APPLIED.set_function(lambda: server.applied_index)
    DB_SIZE.set_function(lambda: server.store.db_size)
    DB_SIZE_IN_USE.set_function(lambda: server.store.db_size_in_use)
