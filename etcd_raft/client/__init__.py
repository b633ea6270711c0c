"""An asyncio etcd v3 client (gRPC, mutual TLS, several endpoints with failover), for kplane's
apiserver against kplane's etcd_raft or a real etcd. See EtcdClient."""

from etcd_raft.client.client import EtcdClient
from etcd_raft.client.errors import (
    AuthError,
    CompactedError,
    DeadlineExceededError,
    DuplicateKeyError,
    EmptyKeyError,
    EtcdError,
    FutureRevisionError,
    LeaderChangedError,
    LeaseExistsError,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
    NoLeaderError,
    NoSpaceError,
    NotLeaderError,
    PermissionDeniedError,
    RequestTimeoutError,
    RequestTooLargeError,
    StoppedError,
    TooManyOpsError,
    TooManyRequestsError,
    UnavailableError,
    error_for,
)
from etcd_raft.client.lease import LeaseKeepAlive
from etcd_raft.client.ops import Compare, Op, prefix_range_end
from etcd_raft.client.watch import WatchBatch, Watcher

__all__ = [
    "AuthError",
    "CompactedError",
    "Compare",
    "DeadlineExceededError",
    "DuplicateKeyError",
    "EmptyKeyError",
    "EtcdClient",
    "EtcdError",
    "FutureRevisionError",
    "LeaderChangedError",
    "LeaseExistsError",
    "LeaseKeepAlive",
    "LeaseNotFoundError",
    "LeaseTTLTooLargeError",
    "NoLeaderError",
    "NoSpaceError",
    "NotLeaderError",
    "Op",
    "PermissionDeniedError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "StoppedError",
    "TooManyOpsError",
    "TooManyRequestsError",
    "UnavailableError",
    "WatchBatch",
    "Watcher",
    "error_for",
    "prefix_range_end",
]
