"""etcd_raft.mvcc: the multi-version key space the Raft log drives (etcd's server/storage/mvcc).

`KVStore` keeps every revision of every key in LMDB (etcd's on-disk layout: revision -> mvccpb
KeyValue bytes) with an in-memory index of key -> revisions; it applies committed requests
(`apply`), serves ranges at any uncompacted revision, compacts, hashes, snapshots and restores.
`WatchableStore` turns its writes into watch responses, replaying history for watchers that
start in the past. Requests and responses are dataclasses mirroring etcd's protobuf messages
(`types`), errors carry etcd's messages (`errors`). Plain synchronous code: the server's asyncio
shell calls in and is called back; nothing here blocks on anything but LMDB.
"""

from etcd_raft.mvcc.errors import (
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrStoreClosed,
    ErrTooManyOps,
    ErrValueProvided,
    MVCCError,
)
from etcd_raft.mvcc.kvstore import DEFAULT_BATCH_LIMIT, DEFAULT_MAP_SIZE, KVStore, StoreObserver, WriteTxn
from etcd_raft.mvcc.txn import (
    DEFAULT_MAX_TXN_OPS,
    check_request,
    check_txn_request,
    has_revision_filters,
    is_txn_read_only,
)
from etcd_raft.mvcc.types import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    HashKV,
    KeyValue,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    Request,
    RequestOp,
    Response,
    ResponseOp,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
    WatchFilter,
    prefix_end,
)
from etcd_raft.mvcc.watchable_store import WatchableStore, Watcher, WatcherState, WatchResponse

__all__ = [
    "DEFAULT_BATCH_LIMIT",
    "DEFAULT_MAP_SIZE",
    "DEFAULT_MAX_TXN_OPS",
    "CompactionRequest",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "ErrCompacted",
    "ErrDuplicateKey",
    "ErrEmptyKey",
    "ErrFutureRev",
    "ErrKeyNotFound",
    "ErrLeaseNotFound",
    "ErrLeaseProvided",
    "ErrStoreClosed",
    "ErrTooManyOps",
    "ErrValueProvided",
    "Event",
    "EventType",
    "HashKV",
    "KVStore",
    "KeyValue",
    "MVCCError",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "Request",
    "RequestOp",
    "Response",
    "ResponseOp",
    "SortOrder",
    "SortTarget",
    "StoreObserver",
    "TxnRequest",
    "TxnResponse",
    "WatchFilter",
    "WatchResponse",
    "WatchableStore",
    "Watcher",
    "WatcherState",
    "WriteTxn",
    "check_request",
    "check_txn_request",
    "has_revision_filters",
    "is_txn_read_only",
    "prefix_end",
]
