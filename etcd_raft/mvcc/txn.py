"""Pure helpers of request handling: request validation (etcd's v3rpc checks), txn key overlap
(checkIntervals), compare outcomes and the range response's filters and sort.

`check_txn_request` and `check_request` are what etcd's gRPC layer checks before proposing; a
server may call them before proposing too (cheaper than a round through Raft). The store runs the
overlap check again when applying, which is deterministic, so every member rejects the same txns.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from etcd_raft.mvcc.errors import (
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrLeaseProvided,
    ErrTooManyOps,
    ErrValueProvided,
)
from etcd_raft.mvcc.types import (
    CompareResult,
    DeleteRangeRequest,
    KeyValue,
    PutRequest,
    RangeRequest,
    Request,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)

DEFAULT_MAX_TXN_OPS = 128  # etcd's --max-txn-ops

# An interval [start, end); end None: unbounded.
_Interval = tuple[bytes, bytes | None]


def _delete_interval(req: DeleteRangeRequest) -> _Interval:
    if not req.range_end:
        return (req.key, req.key + b"\0")  # the single key
    if req.range_end == b"\0":
        return (req.key, None)
    return (req.key, req.range_end)


def _intersects(dels: list[_Interval], key: bytes) -> bool:
    return any(start <= key and (end is None or key < end) for start, end in dels)


def check_intervals(ops: Sequence[RequestOp]) -> tuple[set[bytes], list[_Interval]]:
    """etcd's checkIntervals: no key may be put twice, nor put and deleted, by one list of ops and
    the txns nested in it; the success and failure branches of a nested txn may put the same key
    (only one of them runs). Returns the keys put and the ranges deleted, for the caller's level.

    One deliberate difference: a delete with range_end b"\\0" counts as every key >= key (etcd's
    interval code reads that end literally, so such a delete overlaps nothing)."""
    dels = [_delete_interval(op) for op in ops if type(op) is DeleteRangeRequest]
    puts: set[bytes] = set()
    for op in ops:
        if type(op) is not TxnRequest:
            continue
        puts_then, dels_then = check_intervals(op.success)
        puts_else, dels_else = check_intervals(op.failure)
        for k in puts_then:
            if k in puts or _intersects(dels, k):
                raise ErrDuplicateKey()
            puts.add(k)
        for k in puts_else:
            if (k in puts and k not in puts_then) or _intersects(dels, k):
                raise ErrDuplicateKey()
            puts.add(k)
        dels += dels_then
        dels += dels_else
    for op in ops:
        if type(op) is not PutRequest:
            continue
        if op.key in puts or _intersects(dels, op.key):
            raise ErrDuplicateKey()
        puts.add(op.key)
    return puts, dels


def check_request(req: Request, *, max_txn_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
    """What etcd's gRPC layer rejects before proposing: empty keys, a value or lease given with
    ignore_value or ignore_lease, oversized or overlapping txns."""
    t = type(req)
    if t is RangeRequest or t is DeleteRangeRequest:
        if not req.key:  # type: ignore[union-attr]
            raise ErrEmptyKey()
    elif t is PutRequest:
        p: PutRequest = req  # type: ignore[assignment]
        if not p.key:
            raise ErrEmptyKey()
        if p.ignore_value and p.value:
            raise ErrValueProvided()
        if p.ignore_lease and p.lease:
            raise ErrLeaseProvided()
    elif t is TxnRequest:
        check_txn_request(req, max_txn_ops=max_txn_ops)  # type: ignore[arg-type]


def check_txn_request(req: TxnRequest, *, max_txn_ops: int = DEFAULT_MAX_TXN_OPS) -> None:
    if len(req.compare) > max_txn_ops or len(req.success) > max_txn_ops or len(req.failure) > max_txn_ops:
        raise ErrTooManyOps()
    for op in (*req.success, *req.failure):
        check_request(op, max_txn_ops=max_txn_ops)
    check_intervals(req.success)
    check_intervals(req.failure)


def is_txn_read_only(req: TxnRequest) -> bool:
    """Whether no branch of the txn (nested ones included) writes."""
    for op in (*req.success, *req.failure):
        t = type(op)
        if t is PutRequest or t is DeleteRangeRequest:
            return False
        if t is TxnRequest and not is_txn_read_only(op):  # type: ignore[arg-type]
            return False
    return True


def compare_holds(order: int, result: CompareResult) -> bool:
    """`order` is <0, 0 or >0 as the key's field compares to the Compare's operand."""
    if result == CompareResult.EQUAL:
        return order == 0
    if result == CompareResult.NOT_EQUAL:
        return order != 0
    if result == CompareResult.GREATER:
        return order > 0
    return order < 0  # LESS


_SORT_FIELD = {
    SortTarget.KEY: attrgetter("key"),
    SortTarget.VERSION: attrgetter("version"),
    SortTarget.CREATE: attrgetter("create_revision"),
    SortTarget.MOD: attrgetter("mod_revision"),
    SortTarget.VALUE: attrgetter("value"),
}


def has_revision_filters(req: RangeRequest) -> bool:
    return bool(
        req.min_mod_revision or req.max_mod_revision or req.min_create_revision or req.max_create_revision
    )


def filter_and_sort(kvs: list[KeyValue], req: RangeRequest) -> list[KeyValue]:
    """The range response's min/max revision filters, then its sort (etcd's applier Range).

    The store returns keys in ascending key order, so KEY/ASCEND needs no sort and any other
    target without an order sorts ascending."""
    if req.max_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision <= req.max_mod_revision]
    if req.min_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision >= req.min_mod_revision]
    if req.max_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision <= req.max_create_revision]
    if req.min_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision >= req.min_create_revision]
    order = req.sort_order
    if req.sort_target != SortTarget.KEY and order == SortOrder.NONE:
        order = SortOrder.ASCEND
    elif req.sort_target == SortTarget.KEY and order == SortOrder.ASCEND:
        order = SortOrder.NONE
    if order != SortOrder.NONE:
        kvs.sort(key=_SORT_FIELD[req.sort_target], reverse=order == SortOrder.DESCEND)
    return kvs
