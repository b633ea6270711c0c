"""Txn: compares, branches, nesting, overlap rules and all-or-nothing errors."""

from __future__ import annotations

import pytest

from etcd_raft.mvcc import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    ErrCompacted,
    ErrDuplicateKey,
    ErrEmptyKey,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrLeaseProvided,
    ErrTooManyOps,
    ErrValueProvided,
    KVStore,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    TxnRequest,
    TxnResponse,
    check_request,
    check_txn_request,
    is_txn_read_only,
    prefix_end,
)

EQ, GT, LT, NE = CompareResult.EQUAL, CompareResult.GREATER, CompareResult.LESS, CompareResult.NOT_EQUAL
VERSION, CREATE, MOD, VALUE, LEASE = (
    CompareTarget.VERSION,
    CompareTarget.CREATE,
    CompareTarget.MOD,
    CompareTarget.VALUE,
    CompareTarget.LEASE,
)


@pytest.fixture
def k(store: KVStore) -> KVStore:
    """k: created at 2, modified at 3, version 2, value b"m", lease 5."""
    store.put(b"k", b"a", lease=5)
    store.put(b"k", b"m", lease=5)
    return store


def cmp(target: CompareTarget, result: CompareResult, operand: int | bytes, key: bytes = b"k") -> Compare:
    field = {
        VERSION: "version",
        CREATE: "create_revision",
        MOD: "mod_revision",
        VALUE: "value",
        LEASE: "lease",
    }
    return Compare(result, target, key, **{field[target]: operand})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "operands"),  # operand below, equal to, above the key's field
    [
        (VERSION, (1, 2, 3)),
        (CREATE, (1, 2, 3)),
        (MOD, (2, 3, 4)),
        (VALUE, (b"a", b"m", b"z")),
        (LEASE, (4, 5, 6)),
    ],
)
@pytest.mark.parametrize(
    ("result", "holds"),  # whether it holds against (below, equal, above)
    [
        (EQ, (False, True, False)),
        (NE, (True, False, True)),
        (GT, (True, False, False)),
        (LT, (False, False, True)),
    ],
)
def test_compare_targets_and_results(
    k: KVStore,
    target: CompareTarget,
    operands: tuple[int | bytes, ...],
    result: CompareResult,
    holds: tuple[bool, ...],
) -> None:
    got = tuple(k.txn([cmp(target, result, op)]).succeeded for op in operands)
    assert got == holds


def test_compare_on_a_missing_key(store: KVStore) -> None:
    """A missing key compares as a zero KeyValue, except VALUE which always fails."""
    assert store.txn([cmp(VERSION, EQ, 0, b"nope")]).succeeded
    assert store.txn([cmp(CREATE, EQ, 0, b"nope")]).succeeded
    assert store.txn([cmp(MOD, LT, 1, b"nope")]).succeeded
    assert store.txn([cmp(LEASE, EQ, 0, b"nope")]).succeeded
    assert not store.txn([cmp(VALUE, EQ, b"", b"nope")]).succeeded
    assert not store.txn([cmp(VALUE, NE, b"x", b"nope")]).succeeded


def test_range_compares_hold_for_every_key_in_range(store: KVStore) -> None:
    store.put(b"p/a", b"1")
    store.put(b"p/b", b"1")
    store.put(b"p/c", b"2")
    store.delete_range(b"p/c")  # deleted keys do not count
    end = prefix_end(b"p/")
    assert store.txn([Compare(EQ, VALUE, b"p/", value=b"1", range_end=end)]).succeeded
    assert store.txn([Compare(LT, MOD, b"p/", mod_revision=4, range_end=end)]).succeeded
    assert not store.txn([Compare(EQ, MOD, b"p/", mod_revision=2, range_end=end)]).succeeded
    assert store.txn([Compare(GT, VERSION, b"p/", version=0, range_end=b"\0")]).succeeded
    assert store.txn([Compare(EQ, VERSION, b"q/", version=0, range_end=prefix_end(b"q/"))]).succeeded


def test_branches_and_responses(k: KVStore) -> None:
    ok = k.txn(
        [cmp(MOD, EQ, 3)], [PutRequest(b"k", b"new", prev_kv=True), RangeRequest(b"k")], [RangeRequest(b"k")]
    )
    assert ok.succeeded and ok.revision == 4
    put, rng = ok.responses
    assert isinstance(put, PutResponse) and put.revision == 4 and put.prev_kv is not None
    assert put.prev_kv.value == b"m"
    assert isinstance(rng, RangeResponse) and rng.kvs[0].value == b"new" and rng.revision == 4
    bad = k.txn([cmp(MOD, EQ, 3)], [PutRequest(b"k", b"newer")], [RangeRequest(b"k")])
    assert not bad.succeeded and bad.revision == 4  # the failure branch only read
    assert isinstance(bad.responses[0], RangeResponse) and bad.responses[0].kvs[0].mod_revision == 4


def test_k8s_guarded_create_and_update(store: KVStore) -> None:
    """The apiserver's create: put only if the key does not exist (mod_revision == 0)."""
    create = [Compare(EQ, MOD, b"/registry/pods/x", mod_revision=0)]
    assert store.txn(create, [PutRequest(b"/registry/pods/x", b"v1")]).succeeded
    again = store.txn(create, [PutRequest(b"/registry/pods/x", b"v1")], [RangeRequest(b"/registry/pods/x")])
    assert not again.succeeded


def test_all_ops_of_a_txn_share_one_revision(store: KVStore) -> None:
    store.put(b"old", b"1")
    r = store.txn(
        (),
        [
            PutRequest(b"a", b"1"),
            PutRequest(b"b", b"1"),
            DeleteRangeRequest(b"old"),
            RangeRequest(b"a", b"\0"),
        ],
    )
    assert r.revision == 3 and store.current_revision == 3
    assert [kv.mod_revision for kv in store.range(b"a", b"c").kvs] == [3, 3]
    rng = r.responses[3]
    assert isinstance(rng, RangeResponse) and [kv.key for kv in rng.kvs] == [b"a", b"b"]


def test_nested_txns_evaluate_every_compare_before_writing(store: KVStore) -> None:
    store.put(b"x", b"1")  # 2
    inner = TxnRequest(
        [cmp(VALUE, EQ, b"1", b"x")], [PutRequest(b"y", b"inner-saw-old")], [PutRequest(b"y", b"no")]
    )
    r = store.txn((), [PutRequest(b"x", b"2"), inner])
    assert r.succeeded and r.revision == 3
    nested = r.responses[1]
    assert isinstance(nested, TxnResponse) and nested.succeeded and nested.revision == 0  # etcd: no header
    assert store.range(b"y").kvs[0].value == b"inner-saw-old"  # the compare saw x before the put
    assert store.range(b"y").kvs[0].mod_revision == 3


def test_nested_failure_branch(store: KVStore) -> None:
    inner = TxnRequest(
        [cmp(VERSION, GT, 0, b"absent")], [PutRequest(b"r", b"then")], [PutRequest(b"r", b"else")]
    )
    r = store.txn([cmp(VERSION, EQ, 0, b"absent")], [inner])
    assert r.succeeded
    nested = r.responses[0]
    assert isinstance(nested, TxnResponse) and not nested.succeeded
    assert store.range(b"r").kvs[0].value == b"else"


@pytest.mark.parametrize(
    "ops",
    [
        [PutRequest(b"a"), PutRequest(b"a")],
        [PutRequest(b"a"), DeleteRangeRequest(b"a")],
        [DeleteRangeRequest(b"a", b"c"), PutRequest(b"b")],
        [DeleteRangeRequest(b"a", b"\0"), PutRequest(b"zzz")],
        [PutRequest(b"a"), TxnRequest((), [PutRequest(b"a")])],
        [DeleteRangeRequest(b"a"), TxnRequest((), (), [PutRequest(b"a")])],
        [TxnRequest((), [DeleteRangeRequest(b"a", b"b")]), PutRequest(b"a")],
        [TxnRequest((), [PutRequest(b"a")]), TxnRequest((), [PutRequest(b"a")])],
    ],
)
def test_overlapping_puts_and_deletes_are_duplicate_keys(store: KVStore, ops: list[RequestOp]) -> None:
    with pytest.raises(ErrDuplicateKey, match=r"^etcdserver: duplicate key given in txn request$"):
        store.txn((), ops)
    with pytest.raises(ErrDuplicateKey):
        store.txn((), (), ops)
    assert store.current_revision == 1


@pytest.mark.parametrize(
    "ops",
    [
        [PutRequest(b"a"), PutRequest(b"b"), DeleteRangeRequest(b"c", b"d")],
        [TxnRequest((), [PutRequest(b"a")], [PutRequest(b"a")])],  # exclusive branches
        [DeleteRangeRequest(b"a"), DeleteRangeRequest(b"a")],
        [PutRequest(b"a"), RangeRequest(b"a")],
        [DeleteRangeRequest(b"a", b"b"), PutRequest(b"b")],  # the range end is excluded
    ],
)
def test_non_overlapping_ops_are_fine(store: KVStore, ops: list[RequestOp]) -> None:
    store.txn((), ops)


def test_txn_errors_leave_the_store_unchanged(store: KVStore) -> None:
    store.put(b"a", b"1")
    store.put(b"a", b"2")
    store.compact(3)
    before = store.current_revision
    store.lease_exists = {1}.__contains__
    failing: list[tuple[list[RequestOp], type[Exception]]] = [
        ([PutRequest(b"b", b"x"), PutRequest(b"missing", ignore_value=True)], ErrKeyNotFound),
        ([PutRequest(b"b", b"x"), PutRequest(b"c", b"x", lease=2)], ErrLeaseNotFound),
        ([PutRequest(b"b", b"x"), RangeRequest(b"a", revision=2)], ErrCompacted),
        ([PutRequest(b"b", b"x"), RangeRequest(b"a", revision=99)], ErrFutureRev),
        ([PutRequest(b"b", b"x"), TxnRequest((), [PutRequest(b"m", ignore_lease=True)])], ErrKeyNotFound),
    ]
    for ops, err in failing:
        with pytest.raises(err):
            store.txn((), ops)
    assert store.current_revision == before and store.range(b"b").kvs == []
    # the failing op is on the branch not taken: fine
    assert not store.txn([cmp(VERSION, EQ, 9, b"a")], [PutRequest(b"missing", ignore_value=True)]).succeeded


def test_ignore_value_and_lease_inside_a_txn(store: KVStore) -> None:
    store.lease_exists = lambda lease: True
    store.put(b"a", b"keep", lease=3)
    store.txn((), [PutRequest(b"a", ignore_value=True, lease=4, prev_kv=True)])
    assert store.range(b"a").kvs[0].value == b"keep" and store.range(b"a").kvs[0].lease == 4
    store.txn((), [PutRequest(b"a", b"new", ignore_lease=True)])
    assert store.range(b"a").kvs[0].value == b"new" and store.range(b"a").kvs[0].lease == 4


def test_request_checks() -> None:
    with pytest.raises(ErrEmptyKey, match=r"^etcdserver: key is not provided$"):
        check_request(PutRequest(b""))
    with pytest.raises(ErrEmptyKey):
        check_request(RangeRequest())
    with pytest.raises(ErrValueProvided):
        check_request(PutRequest(b"k", b"v", ignore_value=True))
    with pytest.raises(ErrLeaseProvided):
        check_request(PutRequest(b"k", lease=1, ignore_lease=True))
    with pytest.raises(ErrTooManyOps):
        check_txn_request(TxnRequest((), [PutRequest(b"k%d" % i) for i in range(129)]))
    with pytest.raises(ErrEmptyKey):
        check_txn_request(TxnRequest((), [TxnRequest((), (), [DeleteRangeRequest(b"")])]))
    with pytest.raises(ErrDuplicateKey):
        check_txn_request(TxnRequest((), (), [PutRequest(b"k"), PutRequest(b"k")]))
    check_txn_request(TxnRequest((), [PutRequest(b"k")], [PutRequest(b"k")]))
    assert is_txn_read_only(TxnRequest((), [RangeRequest(b"a"), TxnRequest((), [RangeRequest(b"b")])]))
    assert not is_txn_read_only(TxnRequest((), [TxnRequest((), (), [DeleteRangeRequest(b"b")])]))
