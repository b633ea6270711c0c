"""The errors of the etcd client: one class per error etcd's v3 API names (the texts of etcd's
api/v3rpc/rpctypes), raised with etcd's own message and gRPC status code.

    EtcdError                      every error; .message, .code (grpc.StatusCode), .endpoint
      CompactedError               .compact_revision (0 where etcd does not say, as for a Range)
      FutureRevisionError, LeaseNotFoundError, ...
      UnavailableError             code UNAVAILABLE: the store could not serve the request now
        NoLeaderError, RequestTimeoutError, LeaderChangedError, StoppedError, ...
      DeadlineExceededError        the client's own timeout ran out
      AuthError                    etcd's authentication and user/role errors
        PermissionDeniedError
"""

from __future__ import annotations

from typing import ClassVar

import grpc

Code = grpc.StatusCode


class EtcdError(Exception):
    """An error of an etcd request: etcd's message and gRPC status code, and the endpoint used."""

    MESSAGE: ClassVar[str] = "etcdserver: unknown error"
    CODE: ClassVar[grpc.StatusCode] = Code.UNKNOWN

    def __init__(
        self, message: str | None = None, code: grpc.StatusCode | None = None, *, endpoint: str = ""
    ):
        self.message = message if message is not None else self.MESSAGE
        self.code = code if code is not None else self.CODE
        self.endpoint = endpoint
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} (endpoint {self.endpoint})" if self.endpoint else self.message


# ---- keys, values, revisions ----


class EmptyKeyError(EtcdError):
    MESSAGE, CODE = "etcdserver: key is not provided", Code.INVALID_ARGUMENT


class KeyNotFoundError(EtcdError):
    MESSAGE, CODE = "etcdserver: key not found", Code.INVALID_ARGUMENT


class ValueProvidedError(EtcdError):
    MESSAGE, CODE = "etcdserver: value is provided", Code.INVALID_ARGUMENT


class LeaseProvidedError(EtcdError):
    MESSAGE, CODE = "etcdserver: lease is provided", Code.INVALID_ARGUMENT


class TooManyOpsError(EtcdError):
    MESSAGE, CODE = "etcdserver: too many operations in txn request", Code.INVALID_ARGUMENT


class DuplicateKeyError(EtcdError):
    MESSAGE, CODE = "etcdserver: duplicate key given in txn request", Code.INVALID_ARGUMENT


class CompactedError(EtcdError):
    """The revision asked for is below the store's compaction point."""

    MESSAGE, CODE = "etcdserver: mvcc: required revision has been compacted", Code.OUT_OF_RANGE

    def __init__(
        self,
        compact_revision: int = 0,
        message: str | None = None,
        code: grpc.StatusCode | None = None,
        *,
        endpoint: str = "",
    ):
        super().__init__(message, code, endpoint=endpoint)
        self.compact_revision = compact_revision
        """The oldest revision still available (a watch is told it; a Range is not: then 0)."""


class FutureRevisionError(EtcdError):
    MESSAGE, CODE = "etcdserver: mvcc: required revision is a future revision", Code.OUT_OF_RANGE


class NoSpaceError(EtcdError):
    MESSAGE, CODE = "etcdserver: mvcc: database space exceeded", Code.RESOURCE_EXHAUSTED


class RequestTooLargeError(EtcdError):
    MESSAGE, CODE = "etcdserver: request is too large", Code.INVALID_ARGUMENT


class TooManyRequestsError(EtcdError):
    MESSAGE, CODE = "etcdserver: too many requests", Code.RESOURCE_EXHAUSTED


# ---- leases ----


class TTLZeroError(EtcdError):
    MESSAGE, CODE = "etcdserver: ttl is 0", Code.INVALID_ARGUMENT


class LeaseNotFoundError(EtcdError):
    MESSAGE, CODE = "etcdserver: requested lease not found", Code.NOT_FOUND


class LeaseExistsError(EtcdError):
    MESSAGE, CODE = "etcdserver: lease already exists", Code.FAILED_PRECONDITION


class LeaseTTLTooLargeError(EtcdError):
    MESSAGE, CODE = "etcdserver: too large lease TTL", Code.OUT_OF_RANGE


# ---- membership ----


class MemberExistsError(EtcdError):
    MESSAGE, CODE = "etcdserver: member ID already exist", Code.FAILED_PRECONDITION


class PeerURLExistsError(EtcdError):
    MESSAGE, CODE = "etcdserver: Peer URLs already exists", Code.FAILED_PRECONDITION


class MemberNotEnoughStartedError(EtcdError):
    MESSAGE = "etcdserver: re-configuration failed due to not enough started members"
    CODE = Code.FAILED_PRECONDITION


class MemberBadURLsError(EtcdError):
    MESSAGE, CODE = "etcdserver: given member URLs are invalid", Code.INVALID_ARGUMENT


class MemberNotFoundError(EtcdError):
    MESSAGE, CODE = "etcdserver: member not found", Code.NOT_FOUND


class MemberNotLearnerError(EtcdError):
    MESSAGE, CODE = "etcdserver: can only promote a learner member", Code.FAILED_PRECONDITION


class LearnerNotReadyError(EtcdError):
    MESSAGE = "etcdserver: can only promote a learner member which is in sync with leader"
    CODE = Code.FAILED_PRECONDITION


class TooManyLearnersError(EtcdError):
    MESSAGE, CODE = "etcdserver: too many learner members in cluster", Code.FAILED_PRECONDITION


class NotLeaderError(EtcdError):
    MESSAGE, CODE = "etcdserver: not leader", Code.FAILED_PRECONDITION


class BadLeaderTransfereeError(EtcdError):
    MESSAGE, CODE = "etcdserver: bad leader transferee", Code.FAILED_PRECONDITION


class CorruptError(EtcdError):
    MESSAGE, CODE = "etcdserver: corrupt cluster", Code.DATA_LOSS


class DowngradeError(EtcdError):
    """One of etcd 3.5's cluster downgrade errors; .message says which."""

    MESSAGE, CODE = "etcdserver: invalid downgrade target version", Code.INVALID_ARGUMENT


# ---- availability ----


class UnavailableError(EtcdError):
    """The request could not be served now (gRPC UNAVAILABLE): no endpoint could be reached, or
    the member that answered has no leader, timed out, is stopping, ... A request that timed out
    may still have been applied."""

    MESSAGE, CODE = "etcdclient: no endpoint is available", Code.UNAVAILABLE


class NoLeaderError(UnavailableError):
    MESSAGE = "etcdserver: no leader"


class LeaderChangedError(UnavailableError):
    MESSAGE = "etcdserver: leader changed"


class NotCapableError(UnavailableError):
    MESSAGE = "etcdserver: not capable"


class StoppedError(UnavailableError):
    MESSAGE = "etcdserver: server stopped"


class RequestTimeoutError(UnavailableError):
    """etcd gave up waiting for the request to commit; it may still be applied later."""

    MESSAGE = "etcdserver: request timed out"


class UnhealthyError(UnavailableError):
    MESSAGE = "etcdserver: unhealthy cluster"


class NotSupportedForLearnerError(UnavailableError):
    MESSAGE = "etcdserver: rpc not supported for learner"


class DeadlineExceededError(EtcdError):
    """The client's timeout ran out before an answer came."""

    MESSAGE, CODE = "etcdclient: request deadline exceeded", Code.DEADLINE_EXCEEDED


# ---- authentication ----


class AuthError(EtcdError):
    """An error of etcd's authentication or its users and roles; .message says which."""

    MESSAGE, CODE = "etcdserver: authentication failed, invalid user ID or password", Code.INVALID_ARGUMENT


class PermissionDeniedError(AuthError):
    MESSAGE, CODE = "etcdserver: permission denied", Code.PERMISSION_DENIED


_ERRORS_BY_CLASS: list[type[EtcdError]] = [
    EmptyKeyError,
    KeyNotFoundError,
    ValueProvidedError,
    LeaseProvidedError,
    TooManyOpsError,
    DuplicateKeyError,
    CompactedError,
    FutureRevisionError,
    NoSpaceError,
    RequestTooLargeError,
    TooManyRequestsError,
    TTLZeroError,
    LeaseNotFoundError,
    LeaseExistsError,
    LeaseTTLTooLargeError,
    MemberExistsError,
    PeerURLExistsError,
    MemberNotEnoughStartedError,
    MemberBadURLsError,
    MemberNotFoundError,
    MemberNotLearnerError,
    LearnerNotReadyError,
    TooManyLearnersError,
    NotLeaderError,
    BadLeaderTransfereeError,
    CorruptError,
    NoLeaderError,
    LeaderChangedError,
    NotCapableError,
    StoppedError,
    RequestTimeoutError,
    UnhealthyError,
    NotSupportedForLearnerError,
    PermissionDeniedError,
]

# Messages that share a class with another (the class's MESSAGE is one of them).
_MORE_MESSAGES: dict[str, tuple[type[EtcdError], grpc.StatusCode]] = {
    "etcdserver: request timed out, possibly due to previous leader failure": (
        RequestTimeoutError,
        Code.UNAVAILABLE,
    ),
    "etcdserver: request timed out, possibly due to connection lost": (RequestTimeoutError, Code.UNAVAILABLE),
    "etcdserver: cluster version not found during downgrade": (DowngradeError, Code.UNAVAILABLE),
    "etcdserver: wrong downgrade target version format": (DowngradeError, Code.INVALID_ARGUMENT),
    "etcdserver: invalid downgrade target version": (DowngradeError, Code.INVALID_ARGUMENT),
    "etcdserver: cluster has a downgrade job in progress": (DowngradeError, Code.FAILED_PRECONDITION),
    "etcdserver: no inflight downgrade job": (DowngradeError, Code.FAILED_PRECONDITION),
    "etcdserver: root user does not exist": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: root user does not have root role": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: user name already exists": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: user name is empty": (AuthError, Code.INVALID_ARGUMENT),
    "etcdserver: user name not found": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: role name already exists": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: role name not found": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: role name is empty": (AuthError, Code.INVALID_ARGUMENT),
    "etcdserver: authentication failed, invalid user ID or password": (AuthError, Code.INVALID_ARGUMENT),
    "etcdserver: role is not granted to the user": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: permission is not granted to the role": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: authentication is not enabled": (AuthError, Code.FAILED_PRECONDITION),
    "etcdserver: invalid auth token": (AuthError, Code.UNAUTHENTICATED),
    "etcdserver: invalid auth management": (AuthError, Code.INVALID_ARGUMENT),
}

ERROR_CLASSES: dict[str, type[EtcdError]] = {
    **{cls.MESSAGE: cls for cls in _ERRORS_BY_CLASS},
    **{message: cls for message, (cls, _) in _MORE_MESSAGES.items()},
}
"""etcd's error messages and the class each is raised as."""

ERROR_CODES: dict[str, grpc.StatusCode] = {
    **{cls.MESSAGE: cls.CODE for cls in _ERRORS_BY_CLASS},
    **{message: code for message, (_, code) in _MORE_MESSAGES.items()},
}
"""etcd's error messages and the gRPC status code etcd sends each with (what a server should use)."""


def error_for(message: str, code: grpc.StatusCode, *, endpoint: str = "") -> EtcdError:
    """The exception for an error status with `message` and `code`, as the client raises it."""
    cls = ERROR_CLASSES.get(message)
    if cls is None:
        # etcd's watch cancel reasons and some older texts lack the "etcdserver: " prefix.
        cls = ERROR_CLASSES.get("etcdserver: " + message)
    if cls is not None:
        return cls(message=message, code=code, endpoint=endpoint)
    if code == Code.UNAVAILABLE:
        return UnavailableError(message, code, endpoint=endpoint)
    if code == Code.DEADLINE_EXCEEDED:
        return DeadlineExceededError(message, code, endpoint=endpoint)
    if code == Code.PERMISSION_DENIED:
        return PermissionDeniedError(message, code, endpoint=endpoint)
    return EtcdError(message, code, endpoint=endpoint)


def error_from_rpc(error: grpc.aio.AioRpcError, *, endpoint: str = "") -> EtcdError:
    """The exception for a failed gRPC call."""
    return error_for(error.details() or error.code().name.lower(), error.code(), endpoint=endpoint)
