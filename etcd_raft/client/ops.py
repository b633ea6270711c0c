"""Builders for etcd requests: key ranges, transaction guards (`Compare`) and operations (`Op`).

    Compare.mod_revision(key) == 5        -> etcdserverpb.Compare (also !=, <, >)
    Compare.version(key) > 0, Compare.create_revision(key) == 0, Compare.value(key) != b"x",
    Compare.lease(key) == lease_id        (each also takes prefix=True or range_end=...)
    Op.get(key, ...), Op.put(key, value, ...), Op.delete(key, ...), Op.txn(compare, success, failure)
                                          -> etcdserverpb.RequestOp

Keys and values are bytes; a str is encoded as UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable

from etcd_raft.api.etcdserverpb import rpc_pb2

Bytesish = bytes | str

_NO_KEY = b"\x00"  # a range end of "\0": every key from the start key on


def to_bytes(value: Bytesish) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def prefix_range_end(prefix: bytes) -> bytes:
    """The end of the range of keys starting with `prefix`: the shortest key above all of them
    (b"\\0", every key, when there is none, e.g. for b"" or b"\\xff\\xff")."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return _NO_KEY
    end[-1] += 1
    return bytes(end)


def key_range(
    key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None
) -> tuple[bytes, bytes]:
    """(key, range_end) as etcd takes them: one key, every key with the prefix `key`, or [key, range_end)."""
    start = to_bytes(key)
    if prefix and range_end is not None:
        raise ValueError("give prefix or range_end, not both")
    if prefix:
        if not start:
            return _NO_KEY, _NO_KEY  # the empty prefix: every key
        return start, prefix_range_end(start)
    return start, to_bytes(range_end) if range_end is not None else b""


def range_request(
    key: Bytesish,
    *,
    prefix: bool = False,
    range_end: Bytesish | None = None,
    revision: int = 0,
    limit: int = 0,
    keys_only: bool = False,
    count_only: bool = False,
    serializable: bool = False,
) -> rpc_pb2.RangeRequest:
    start, end = key_range(key, prefix=prefix, range_end=range_end)
    return rpc_pb2.RangeRequest(
        key=start,
        range_end=end,
        revision=revision,
        limit=limit,
        keys_only=keys_only,
        count_only=count_only,
        serializable=serializable,
    )


def put_request(
    key: Bytesish, value: Bytesish, *, lease: int = 0, prev_kv: bool = False
) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(key=to_bytes(key), value=to_bytes(value), lease=lease, prev_kv=prev_kv)


def delete_request(
    key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None, prev_kv: bool = False
) -> rpc_pb2.DeleteRangeRequest:
    start, end = key_range(key, prefix=prefix, range_end=range_end)
    return rpc_pb2.DeleteRangeRequest(key=start, range_end=end, prev_kv=prev_kv)


def txn_request(
    compare: Iterable[rpc_pb2.Compare] = (),
    success: Iterable[rpc_pb2.RequestOp] = (),
    failure: Iterable[rpc_pb2.RequestOp] = (),
) -> rpc_pb2.TxnRequest:
    return rpc_pb2.TxnRequest(compare=list(compare), success=list(success), failure=list(failure))


def is_read_only(txn: rpc_pb2.TxnRequest) -> bool:
    """Whether a transaction only reads (and so may be retried on another member)."""
    for op in (*txn.success, *txn.failure):
        kind = op.WhichOneof("request")
        if kind == "request_txn":
            if not is_read_only(op.request_txn):
                return False
        elif kind != "request_range":
            return False
    return True


class CompareOperand:
    """One side of a transaction guard, `target` of a key (range); compare it with ==, !=, < or >."""

    __slots__ = ("_key", "_range_end", "_target")

    def __init__(self, target: rpc_pb2.Compare.CompareTarget, key: bytes, range_end: bytes):
        self._target = target
        self._key = key
        self._range_end = range_end

    def _compare(self, result: rpc_pb2.Compare.CompareResult, other: object) -> rpc_pb2.Compare:
        compare = rpc_pb2.Compare(
            result=result, target=self._target, key=self._key, range_end=self._range_end
        )
        if self._target == rpc_pb2.Compare.VALUE:
            if not isinstance(other, bytes | str):
                raise TypeError(f"a value compares with bytes or str, not {type(other).__name__}")
            compare.value = to_bytes(other)
        else:
            if not isinstance(other, int) or isinstance(other, bool):
                raise TypeError(
                    f"a revision, version or lease compares with an int, not {type(other).__name__}"
                )
            field = _INT_FIELDS[self._target]
            setattr(compare, field, other)
        return compare

    def __eq__(self, other: object) -> rpc_pb2.Compare:  # type: ignore[override]
        return self._compare(rpc_pb2.Compare.EQUAL, other)

    def __ne__(self, other: object) -> rpc_pb2.Compare:  # type: ignore[override]
        return self._compare(rpc_pb2.Compare.NOT_EQUAL, other)

    def __lt__(self, other: object) -> rpc_pb2.Compare:
        return self._compare(rpc_pb2.Compare.LESS, other)

    def __gt__(self, other: object) -> rpc_pb2.Compare:
        return self._compare(rpc_pb2.Compare.GREATER, other)

    __hash__ = None  # type: ignore[assignment]


_INT_FIELDS = {
    rpc_pb2.Compare.VERSION: "version",
    rpc_pb2.Compare.CREATE: "create_revision",
    rpc_pb2.Compare.MOD: "mod_revision",
    rpc_pb2.Compare.LEASE: "lease",
}


class Compare:
    """Transaction guards: `Compare.mod_revision(key) == 5`. A missing key has version,
    create_revision and mod_revision 0, so `Compare.create_revision(key) == 0` means "absent"."""

    @staticmethod
    def _operand(
        target: rpc_pb2.Compare.CompareTarget,
        key: Bytesish,
        prefix: bool,
        range_end: Bytesish | None,
    ) -> CompareOperand:
        start, end = key_range(key, prefix=prefix, range_end=range_end)
        return CompareOperand(target, start, end)

    @staticmethod
    def version(key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None) -> CompareOperand:
        return Compare._operand(rpc_pb2.Compare.VERSION, key, prefix, range_end)

    @staticmethod
    def create_revision(
        key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None
    ) -> CompareOperand:
        return Compare._operand(rpc_pb2.Compare.CREATE, key, prefix, range_end)

    @staticmethod
    def mod_revision(
        key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None
    ) -> CompareOperand:
        return Compare._operand(rpc_pb2.Compare.MOD, key, prefix, range_end)

    @staticmethod
    def value(key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None) -> CompareOperand:
        return Compare._operand(rpc_pb2.Compare.VALUE, key, prefix, range_end)

    @staticmethod
    def lease(key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None) -> CompareOperand:
        return Compare._operand(rpc_pb2.Compare.LEASE, key, prefix, range_end)


class Op:
    """Operations of a transaction's success or failure branch."""

    @staticmethod
    def get(
        key: Bytesish,
        *,
        prefix: bool = False,
        range_end: Bytesish | None = None,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> rpc_pb2.RequestOp:
        request = range_request(
            key,
            prefix=prefix,
            range_end=range_end,
            revision=revision,
            limit=limit,
            keys_only=keys_only,
            count_only=count_only,
        )
        return rpc_pb2.RequestOp(request_range=request)

    @staticmethod
    def put(key: Bytesish, value: Bytesish, *, lease: int = 0, prev_kv: bool = False) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_put=put_request(key, value, lease=lease, prev_kv=prev_kv))

    @staticmethod
    def delete(
        key: Bytesish, *, prefix: bool = False, range_end: Bytesish | None = None, prev_kv: bool = False
    ) -> rpc_pb2.RequestOp:
        request = delete_request(key, prefix=prefix, range_end=range_end, prev_kv=prev_kv)
        return rpc_pb2.RequestOp(request_delete_range=request)

    @staticmethod
    def txn(
        compare: Iterable[rpc_pb2.Compare] = (),
        success: Iterable[rpc_pb2.RequestOp] = (),
        failure: Iterable[rpc_pb2.RequestOp] = (),
    ) -> rpc_pb2.RequestOp:
        return rpc_pb2.RequestOp(request_txn=txn_request(compare, success, failure))
