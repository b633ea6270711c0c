"""The errors the MVCC store raises, and whether retrying helps.

Each carries etcd's message text (`str(err)`), the gRPC status code the server answers with
(`grpc_code`, a `grpc.StatusCode` member name) and, where etcd's gRPC layer words it differently,
the text it sends (`grpc_message`).

    MVCCError
    ├── ErrCompacted       the revision was compacted away; retrying will not help, read a newer
    │                      revision (watchers: re-list, then watch from the list's revision)
    ├── ErrFutureRev       the revision is newer than the store's; retry after the store caught up
    ├── ErrDuplicateKey    a txn puts a key twice or puts a key it also deletes; retrying will not help
    ├── ErrEmptyKey        a request without a key; retrying will not help
    ├── ErrTooManyOps      a txn with more operations than allowed; retrying will not help
    ├── ErrValueProvided   put with ignore_value and a value; retrying will not help
    ├── ErrLeaseProvided   put with ignore_lease and a lease; retrying will not help
    ├── ErrKeyNotFound     put with ignore_value/ignore_lease on a missing key; retrying will not help
    │                      unless someone creates the key
    ├── ErrLeaseNotFound   put with a lease the lessor does not know; retrying will not help
    └── ErrStoreClosed     the store was closed, or failed mid-write and must be reopened (the apply
                           layer then replays the Raft log from `consistent_index`); fatal for this
                           instance
"""

from __future__ import annotations

from typing import ClassVar


class MVCCError(Exception):
    """Base class of the MVCC store's errors."""

    message: ClassVar[str] = "mvcc: error"
    grpc_code: ClassVar[str] = "UNKNOWN"
    grpc_message: ClassVar[str] = ""
    retryable: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @classmethod
    def grpc_text(cls) -> str:
        """The text etcd's gRPC layer answers with."""
        return cls.grpc_message or cls.message


class ErrCompacted(MVCCError):
    """The requested revision is older than the last compaction."""

    message = "mvcc: required revision has been compacted"
    grpc_code = "OUT_OF_RANGE"
    grpc_message = "etcdserver: mvcc: required revision has been compacted"


class ErrFutureRev(MVCCError):
    """The requested revision is newer than the store's current revision."""

    message = "mvcc: required revision is a future revision"
    grpc_code = "OUT_OF_RANGE"
    grpc_message = "etcdserver: mvcc: required revision is a future revision"
    retryable = True


class ErrDuplicateKey(MVCCError):
    """A txn's operations put the same key twice, or put a key that they also delete."""

    message = "etcdserver: duplicate key given in txn request"
    grpc_code = "INVALID_ARGUMENT"


class ErrEmptyKey(MVCCError):
    message = "etcdserver: key is not provided"
    grpc_code = "INVALID_ARGUMENT"


class ErrTooManyOps(MVCCError):
    message = "etcdserver: too many operations in txn request"
    grpc_code = "INVALID_ARGUMENT"


class ErrValueProvided(MVCCError):
    message = "etcdserver: value is provided"
    grpc_code = "INVALID_ARGUMENT"


class ErrLeaseProvided(MVCCError):
    message = "etcdserver: lease is provided"
    grpc_code = "INVALID_ARGUMENT"


class ErrKeyNotFound(MVCCError):
    """A put with ignore_value or ignore_lease needs the key to exist."""

    message = "etcdserver: key not found"
    grpc_code = "INVALID_ARGUMENT"


class ErrLeaseNotFound(MVCCError):
    message = "lease not found"
    grpc_code = "NOT_FOUND"
    grpc_message = "etcdserver: requested lease not found"


class ErrStoreClosed(MVCCError):
    message = "mvcc: store is closed"
    grpc_code = "UNAVAILABLE"
