"""The values the MVCC store takes and gives: etcd's mvccpb and etcdserverpb messages as dataclasses.

Field names and enum values are those of etcd's `api/mvccpb/kv.proto` and
`api/etcdserverpb/rpc.proto`, so converting from and to protobuf is a field-by-field copy. Two
differences: a response's `header` is reduced to its `revision` (the server fills in cluster_id,
member_id and raft_term), and a oneof (`RequestOp`, `ResponseOp`, `Compare.target_union`) is a
union of types or, for `Compare`, all the target fields with `target` saying which one counts.

Requests are frozen. `KeyValue`, `Event` and responses are plain (unfrozen, for speed: a range
builds thousands of them) but are the caller's to keep: the store never changes one it handed out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum


@dataclass(slots=True)
class KeyValue:
    """mvccpb.KeyValue: one revision of a key."""

    key: bytes
    create_revision: int = 0  # main revision of the put that created the key (this generation)
    mod_revision: int = 0  # main revision of the last change to the key
    version: int = 0  # 1 on create, +1 per put; a deletion resets it to 0
    value: bytes = b""
    lease: int = 0  # 0: no lease


class EventType(IntEnum):
    PUT = 0
    DELETE = 1


@dataclass(slots=True)
class Event:
    """mvccpb.Event. For a DELETE, `kv` carries only the key and `mod_revision` (the deletion's)."""

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None


class SortOrder(IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class WatchFilter(IntEnum):
    """WatchCreateRequest.FilterType."""

    NOPUT = 0
    NODELETE = 1


# Range ends follow etcd: b"" = the single key `key`; b"\0" = every key >= `key`; otherwise the
# half-open interval [key, range_end). A prefix p is range_end = prefix_end(p).


@dataclass(frozen=True, slots=True)
class RangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    limit: int = 0  # 0: no limit
    revision: int = 0  # <= 0: the current revision
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False  # read-path concern of the server; the store ignores it
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@dataclass(frozen=True, slots=True)
class PutRequest:
    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    """One txn guard. `target` picks which of version/create_revision/mod_revision/value/lease
    is compared (etcd's `target_union` oneof); `range_end` makes it hold for every key in range."""

    result: CompareResult = CompareResult.EQUAL
    target: CompareTarget = CompareTarget.VERSION
    key: bytes = b""
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class TxnRequest:
    compare: Sequence[Compare] = ()
    success: Sequence[RequestOp] = ()
    failure: Sequence[RequestOp] = ()


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    revision: int = 0
    physical: bool = False  # compaction is always finished when `compact` returns


RequestOp = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest
Request = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | CompactionRequest


@dataclass(slots=True)
class RangeResponse:
    revision: int  # header.revision: the store's revision the read was served at
    kvs: list[KeyValue] = field(default_factory=list)
    more: bool = False
    count: int = 0


@dataclass(slots=True)
class PutResponse:
    revision: int
    prev_kv: KeyValue | None = None


@dataclass(slots=True)
class DeleteRangeResponse:
    revision: int
    deleted: int = 0
    prev_kvs: list[KeyValue] = field(default_factory=list)


@dataclass(slots=True)
class TxnResponse:
    revision: int  # as etcd: 0 for a txn nested in another one
    succeeded: bool = False
    responses: list[ResponseOp] = field(default_factory=list)


@dataclass(slots=True)
class CompactionResponse:
    revision: int


ResponseOp = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse
Response = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse | CompactionResponse


@dataclass(frozen=True, slots=True)
class HashKV:
    """HashKVResponse without the header: crc32c over the key space up to `hash_revision`."""

    hash: int
    compact_revision: int
    hash_revision: int


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with `prefix` (clientv3.GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"  # all bytes 0xff (or empty): every key >= prefix
