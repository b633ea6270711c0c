"""KVStore: revisions, ranges, compaction, persistence, copies."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from etcd_raft.mvcc import (
    CompactionRequest,
    DeleteRangeRequest,
    ErrCompacted,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrStoreClosed,
    KeyValue,
    KVStore,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    prefix_end,
)
from etcd_raft.mvcc.codec import decode_kv, rev_to_bytes

MAP = 256 << 20


def keys(kvs: list[KeyValue]) -> list[bytes]:
    return [kv.key for kv in kvs]


# ---------------------------------------------------------------------------- revisions


def test_an_empty_store_is_at_revision_1(store: KVStore) -> None:
    assert store.current_revision == 1
    assert store.compact_revision == -1
    assert store.range(b"a").kvs == [] and store.range(b"a").revision == 1


def test_put_delete_recreate_bookkeeping(store: KVStore) -> None:
    assert store.put(b"k", b"v1").revision == 2
    assert store.put(b"k", b"v2").revision == 3
    assert store.range(b"k").kvs == [KeyValue(b"k", 2, 3, 2, b"v2")]
    d = store.delete_range(b"k")
    assert (d.revision, d.deleted) == (4, 1)
    assert store.range(b"k").kvs == []
    assert store.put(b"k", b"v3").revision == 5
    assert store.range(b"k").kvs == [KeyValue(b"k", 5, 5, 1, b"v3")]  # a new generation
    assert store.current_revision == 5


def test_read_only_operations_do_not_bump_the_revision(store: KVStore) -> None:
    store.put(b"a", b"1")
    store.range(b"a", b"\0")
    assert store.delete_range(b"nothing").revision == 2
    assert store.txn((), (RangeRequest(b"a"),)).revision == 2
    assert store.txn((), (DeleteRangeRequest(b"zzz"),)).revision == 2
    assert store.current_revision == 2


def test_range_at_old_revisions(store: KVStore) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"b", b"1")  # 3
    store.put(b"a", b"2")  # 4
    store.delete_range(b"b")  # 5
    store.put(b"b", b"3")  # 6
    at = {
        rev: [(kv.key, kv.value) for kv in store.range(b"a", b"c", revision=rev).kvs] for rev in range(1, 7)
    }
    assert at == {
        1: [],
        2: [(b"a", b"1")],
        3: [(b"a", b"1"), (b"b", b"1")],
        4: [(b"a", b"2"), (b"b", b"1")],
        5: [(b"a", b"2")],
        6: [(b"a", b"2"), (b"b", b"3")],
    }
    assert store.range(b"a", revision=2).revision == 6  # the header is the current revision
    with pytest.raises(ErrFutureRev, match=r"^mvcc: required revision is a future revision$"):
        store.range(b"a", revision=7)


def test_a_multi_op_write_is_one_revision_with_sub_revisions(store: KVStore) -> None:
    with store.write() as w:
        assert w.put(b"a", b"1") == 2
        assert w.put(b"b", b"1") == 2
        assert w.range(b"a").kvs == [KeyValue(b"a", 2, 2, 1, b"1")]  # sees its own writes
        assert w.delete_range(b"a") == 1
        assert w.revision == 2
    assert store.current_revision == 2
    assert keys(store.range(b"", b"\0").kvs) == [b"b"]
    assert keys(store.range(b"", b"\0", revision=1).kvs) == []


def test_an_empty_write_block_changes_nothing(store: KVStore) -> None:
    with store.write(consistent_index=7) as w:
        assert w.revision == 1
    assert store.current_revision == 1 and store.consistent_index == 7


# ---------------------------------------------------------------------------- ranges


@pytest.fixture
def abc(store: KVStore) -> KVStore:
    for k in [b"a", b"ab", b"abc", b"b", b"c", b"\xff"]:
        store.put(k, b"v-" + k)
    return store


@pytest.mark.parametrize(
    ("key", "range_end", "want"),
    [
        (b"a", b"", [b"a"]),  # single key
        (b"a", b"\0", [b"a", b"ab", b"abc", b"b", b"c", b"\xff"]),  # every key >= key
        (b"\0", b"\0", [b"a", b"ab", b"abc", b"b", b"c", b"\xff"]),  # everything
        (b"ab", b"\0", [b"ab", b"abc", b"b", b"c", b"\xff"]),
        (b"a", prefix_end(b"a"), [b"a", b"ab", b"abc"]),  # prefix
        (b"ab", b"b", [b"ab", b"abc"]),
        (b"b", b"a", []),  # end before start
        (b"zz", b"", []),
        (b"\xff", prefix_end(b"\xff"), [b"\xff"]),
    ],
)
def test_range_end_conventions(abc: KVStore, key: bytes, range_end: bytes, want: list[bytes]) -> None:
    assert keys(abc.range(key, range_end).kvs) == want


def test_limit_count_and_more(abc: KVStore) -> None:
    r = abc.range(b"a", b"\0", limit=2)
    assert keys(r.kvs) == [b"a", b"ab"] and r.more and r.count == 6
    r = abc.range(b"a", b"\0", limit=6)
    assert len(r.kvs) == 6 and not r.more
    r = abc.range(b"a", b"\0", count_only=True)
    assert r.kvs == [] and r.count == 6 and not r.more
    r = abc.range(b"a", b"\0", keys_only=True, limit=1)
    assert r.kvs == [KeyValue(b"a", 2, 2, 1, b"")]


@pytest.mark.parametrize("limit", [0, 1, 2, 6, 7])
@pytest.mark.parametrize("revision", [0, 4])
def test_encoded_ranges_hold_the_stored_key_values(abc: KVStore, limit: int, revision: int) -> None:
    abc.delete_range(b"ab")  # a deleted key: absent now, present at revision 4
    plain = abc.range(b"a", b"\0", limit=limit, revision=revision)
    revision_read, encoded, more, count = abc.range_encoded(b"a", b"\0", limit=limit, revision=revision)
    assert [decode_kv(data) for data in encoded] == plain.kvs
    assert (revision_read, more, count) == (plain.revision, plain.more, plain.count)


def test_sort_orders_and_targets(store: KVStore) -> None:
    store.put(b"a", b"3")  # 2
    store.put(b"b", b"1")  # 3
    store.put(b"c", b"2")  # 4
    store.put(b"a", b"4")  # 5: a has version 2, mod 5
    every = (b"a", b"\0")
    assert keys(store.range(*every, sort_order=SortOrder.DESCEND).kvs) == [b"c", b"b", b"a"]
    assert keys(store.range(*every, sort_target=SortTarget.VALUE).kvs) == [b"b", b"c", b"a"]
    assert keys(store.range(*every, sort_target=SortTarget.MOD, sort_order=SortOrder.DESCEND).kvs) == [
        b"a",
        b"c",
        b"b",
    ]
    assert keys(store.range(*every, sort_target=SortTarget.CREATE).kvs) == [b"a", b"b", b"c"]
    assert (
        keys(store.range(*every, sort_target=SortTarget.VERSION, sort_order=SortOrder.DESCEND).kvs)[0] == b"a"
    )
    r = store.range(*every, sort_target=SortTarget.VALUE, sort_order=SortOrder.DESCEND, limit=1)
    assert keys(r.kvs) == [b"a"] and r.more  # sorted over everything, then cut


def test_min_max_revision_filters(store: KVStore) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"b", b"1")  # 3
    store.put(b"c", b"1")  # 4
    store.put(b"a", b"2")  # 5
    every = (b"a", b"\0")
    assert keys(store.range(*every, min_mod_revision=4).kvs) == [b"a", b"c"]
    assert keys(store.range(*every, max_mod_revision=3).kvs) == [b"b"]
    assert keys(store.range(*every, min_create_revision=3).kvs) == [b"b", b"c"]
    assert keys(store.range(*every, max_create_revision=2).kvs) == [b"a"]
    r = store.range(*every, min_mod_revision=3, max_mod_revision=4, limit=1)
    assert keys(r.kvs) == [b"b"] and r.more
    assert store.range(*every, min_mod_revision=4).count == 3  # count is before filtering, as etcd


# ---------------------------------------------------------------------------- put options


def test_put_options(store: KVStore) -> None:
    store.put(b"k", b"v", lease=7)
    r = store.put(b"k", b"w", prev_kv=True, ignore_lease=True)
    assert r.prev_kv == KeyValue(b"k", 2, 2, 1, b"v", 7)
    assert store.range(b"k").kvs[0].lease == 7
    store.put(b"k", ignore_value=True, lease=8)
    assert store.range(b"k").kvs[0] == KeyValue(b"k", 2, 4, 3, b"w", 8)
    with pytest.raises(ErrKeyNotFound, match=r"^etcdserver: key not found$"):
        store.put(b"missing", ignore_value=True)
    assert store.put(b"new", b"x", prev_kv=True).prev_kv is None


def test_lease_validation_and_lease_index(store: KVStore) -> None:
    known = {5, 6}
    store.lease_exists = known.__contains__
    with pytest.raises(ErrLeaseNotFound):
        store.put(b"k", b"v", lease=9)
    assert store.current_revision == 1
    store.put(b"a", b"v", lease=5)
    store.put(b"b", b"v", lease=5)
    store.put(b"c", b"v", lease=6)
    assert store.keys_with_lease(5) == [b"a", b"b"] and store.leases() == [5, 6]
    store.put(b"b", b"v", lease=6)  # moves to lease 6
    store.delete_range(b"c")
    assert store.keys_with_lease(5) == [b"a"] and store.keys_with_lease(6) == [b"b"]
    store.put(b"a", b"v")  # detached
    assert store.leases() == [6]


def test_revoking_a_lease_deletes_its_keys_at_one_revision(store: KVStore) -> None:
    for k in [b"a", b"b", b"c"]:
        store.put(k, b"v", lease=3)
    with store.write(consistent_index=10) as w:
        for k in store.keys_with_lease(3):
            w.delete_range(k)
    assert store.current_revision == 5 and store.range(b"a", b"\0").kvs == [] and store.leases() == []


def test_apply_dispatches_requests_and_records_the_index(store: KVStore) -> None:
    assert store.apply(PutRequest(b"a", b"1"), consistent_index=3, term=2).revision == 2
    assert keys(store.apply(RangeRequest(b"a"), consistent_index=4).kvs) == [b"a"]  # type: ignore[union-attr]
    with pytest.raises(ErrKeyNotFound):
        store.apply(PutRequest(b"zz", ignore_value=True), consistent_index=5)
    assert store.consistent_index == 5 and store.consistent_term == 2  # failed entries are applied too
    assert store.apply(DeleteRangeRequest(b"a"), consistent_index=6).deleted == 1  # type: ignore[union-attr]
    assert store.apply(CompactionRequest(3), consistent_index=7).revision == 3
    assert store.compact_revision == 3 and store.consistent_index == 7


# ---------------------------------------------------------------------------- compaction


def test_compaction_keeps_the_latest_revision_of_each_key(store: KVStore) -> None:
    store.put(b"a", b"1")  # 2
    store.put(b"a", b"2")  # 3
    store.put(b"b", b"1")  # 4
    store.put(b"a", b"3")  # 5
    assert store.compact(4).revision == 5
    assert store.compact_revision == 4
    assert [(kv.key, kv.value) for kv in store.range(b"a", b"\0", revision=4).kvs] == [
        (b"a", b"2"),
        (b"b", b"1"),
    ]
    with pytest.raises(ErrCompacted, match=r"^mvcc: required revision has been compacted$"):
        store.range(b"a", revision=3)
    with pytest.raises(ErrCompacted):
        store.compact(4)
    with pytest.raises(ErrFutureRev):
        store.compact(6)
    assert [kv.value for kv in store.range(b"a").kvs] == [b"3"]
    assert store.range(b"a").kvs[0].version == 3  # versions survive compaction


def test_compaction_removes_tombstones_and_deleted_keys(store: KVStore) -> None:
    store.put(b"a", b"1")  # 2
    store.delete_range(b"a")  # 3
    store.put(b"b", b"1")  # 4
    store.compact(3)  # the tombstone at 3 stays (like etcd, so watchers from 3 see it)
    assert _stored_revisions(store) == [(3, 0, True), (4, 0, False)]
    store.compact(4)
    assert _stored_revisions(store) == [(4, 0, False)]
    assert store.key_count == 1  # b"a" left the index
    store.put(b"a", b"again")
    assert store.range(b"a").kvs == [KeyValue(b"a", 5, 5, 1, b"again")]


def _stored_revisions(store: KVStore) -> list[tuple[int, int, bool]]:
    from etcd_raft.mvcc.codec import bytes_to_rev, is_tombstone

    store.commit()
    with store._env.begin() as txn:
        return [(*bytes_to_rev(k), is_tombstone(k)) for k, _ in txn.cursor(db=store._key_db)]


# ---------------------------------------------------------------------------- persistence


def test_restart_keeps_data_index_revisions_and_meta(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP)
    s.put(b"a", b"1", lease=4)  # 2
    s.put(b"b", b"1")  # 3
    s.delete_range(b"b")  # 4
    s.put(b"a", b"2", lease=4, consistent_index=11)  # 5
    s.put(b"c", b"1")  # 6
    s.compact(5, consistent_index=12)
    s.set_consistent_index(13, term=3)
    before = (s.range(b"", b"\0").kvs, s.hash_kv())
    s.close()

    s = KVStore(store_path, map_size=MAP)
    try:
        assert (s.current_revision, s.compact_revision) == (6, 5)
        assert (s.consistent_index, s.consistent_term) == (13, 3)
        assert (s.range(b"", b"\0").kvs, s.hash_kv()) == before
        assert s.range(b"a", revision=5).kvs[0].value == b"2"
        assert s.keys_with_lease(4) == [b"a"]
        assert s.put(b"a", b"3").revision == 7
        assert s.range(b"a").kvs == [KeyValue(b"a", 2, 7, 3, b"3")] and s.leases() == []
    finally:
        s.close()


def test_current_revision_survives_compacting_away_a_trailing_delete(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP)
    s.put(b"a", b"1")  # 2
    s.delete_range(b"a")  # 3
    s.put(b"b", b"1")  # 4
    s.delete_range(b"b")  # 5
    s.compact(5)
    s.put(b"c", b"1")  # 6
    s.delete_range(b"c")  # 7
    s.compact(7)  # everything is gone from disk now but the tombstone at 7
    s.close()
    s = KVStore(store_path, map_size=MAP)
    assert s.current_revision == 7 and s.put(b"d", b"1").revision == 8
    s.close()


def test_uncommitted_batch_is_lost_on_crash_with_its_consistent_index(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP)
    s.put(b"a", b"1", consistent_index=1)
    s.commit()
    s.put(b"b", b"1", consistent_index=2)
    assert s.pending_changes == 1
    assert keys(s.range(b"a", b"\0").kvs) == [b"a", b"b"]  # reads see the batch
    s._batch.abort()  # type: ignore[union-attr]  # the process dies before the next commit
    s._batch = None
    s._env.close()
    s._env_closed = True
    s = KVStore(store_path, map_size=MAP)
    try:
        assert s.consistent_index == 1 and keys(s.range(b"a", b"\0").kvs) == [b"a"]
    finally:
        s.close()


def test_batches_commit_at_the_batch_limit(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP, batch_limit=3)
    try:
        s.put(b"a", b"1")
        s.put(b"b", b"1")
        assert s.pending_changes == 2
        with s.write(consistent_index=9) as w:  # two more changes: 4 >= 3 commits
            w.put(b"c", b"1")
            w.put(b"d", b"1")
        assert s.pending_changes == 0 and s._batch is None
        with s._env.begin() as txn:
            assert txn.get(b"consistent_index", db=s._meta_db) == (9).to_bytes(8, "big")
            assert txn.stat(s._key_db)["entries"] == 4
    finally:
        s.close()


def test_commit_persists_a_consistent_index_without_changes(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP)
    s.set_consistent_index(42)
    s.force_commit()
    s.close()
    s = KVStore(store_path, map_size=MAP)
    assert s.consistent_index == 42
    s.close()


def test_a_failing_write_block_fails_the_store(store: KVStore) -> None:
    with pytest.raises(ValueError, match="boom"), store.write() as w:
        w.put(b"a", b"1")
        raise ValueError("boom")
    with pytest.raises(ErrStoreClosed):
        store.range(b"a")


def test_a_failing_write_block_without_changes_is_harmless(store: KVStore) -> None:
    with pytest.raises(ValueError), store.write():
        raise ValueError("nothing written")
    assert store.put(b"a", b"1").revision == 2


def test_temporary_store_removes_its_directory() -> None:
    s = KVStore(map_size=MAP)
    path = s.path
    s.put(b"a", b"1")
    assert path.exists()
    s.close()
    assert not path.exists()


# ---------------------------------------------------------------------------- hash, copies


def test_hash_kv(store: KVStore) -> None:
    store.put(b"a", b"1")
    store.put(b"b", b"2")
    h3 = store.hash_kv(3)
    store.put(b"c", b"3")
    assert store.hash_kv(3) == h3  # later revisions are not hashed
    assert store.hash_kv().hash_revision == 4 and store.hash_kv().compact_revision == -1
    with pytest.raises(ErrFutureRev):
        store.hash_kv(5)
    store.compact(3)
    with pytest.raises(ErrCompacted):
        store.hash_kv(3)


def test_the_backend_hash_covers_every_database(tmp_path: Path) -> None:
    a, b = KVStore(tmp_path / "a", map_size=MAP), KVStore(tmp_path / "b", map_size=MAP)
    try:
        for s in (a, b):
            s.put(b"k", b"v")
            s.commit()
        assert a.hash_backend() == b.hash_backend()
        a.put_record(b"members", b"1", b"m1")  # bookkeeping outside the key space counts too
        a.commit()
        assert a.hash_backend() != b.hash_backend() and a.hash_kv() == b.hash_kv()
    finally:
        a.close()
        b.close()


def test_hash_kv_equals_etcds_crc_for_a_known_history(store: KVStore) -> None:
    from etcd_raft.mvcc.codec import encode_kv, encode_tombstone
    from etcd_raft.mvcc.hash import crc32c

    store.put(b"foo", b"bar")
    store.delete_range(b"foo")
    data = b"key" + rev_to_bytes(2, 0) + encode_kv(b"foo", 2, 2, 1, b"bar", 0)
    data += rev_to_bytes(3, 0) + b"t" + encode_tombstone(b"foo")
    assert store.hash_kv().hash == crc32c(data)


def test_hash_kv_is_the_same_on_a_member_that_compacted_and_one_that_did_not(tmp_path: Path) -> None:
    a, b = KVStore(tmp_path / "a", map_size=MAP), KVStore(tmp_path / "b", map_size=MAP)
    try:
        for s in (a, b):
            for i in range(10):
                s.put(b"k%d" % (i % 3), b"v%d" % i)
            s.delete_range(b"k1")
            s.put(b"k4", b"x")
        a.compact(8)
        # b has not run the compaction yet, a did: hashes at and after 8 agree with b's view
        # of what compaction at 8 keeps, which is what etcd's corruption check compares
        assert a.hash_kv(13).hash != b.hash_kv(13).hash  # b still holds revisions < 8
        b.compact(8)
        assert a.hash_kv(13) == b.hash_kv(13)
    finally:
        a.close()
        b.close()


def test_snapshot_and_restore_round_trip(tmp_path: Path, store: KVStore) -> None:
    for i in range(50):
        store.put(b"k%02d" % i, b"v" * i, lease=i % 3)
    store.delete_range(b"k1", b"k2")
    store.compact(20, consistent_index=99)
    out = io.BytesIO()
    size = store.snapshot(out)
    assert size == len(out.getvalue()) > 0
    (tmp_path / "snap.db").write_bytes(out.getvalue())

    other = KVStore(tmp_path / "other", map_size=MAP)
    try:
        other.put(b"junk", b"to be replaced")
        other.restore(tmp_path / "snap.db")
        assert other.hash_kv() == store.hash_kv()
        assert (other.current_revision, other.compact_revision, other.consistent_index) == (
            store.current_revision,
            store.compact_revision,
            99,
        )
        assert other.range(b"", b"\0").kvs == store.range(b"", b"\0").kvs
        assert other.keys_with_lease(1) == store.keys_with_lease(1)
        assert other.put(b"new", b"1").revision == store.current_revision + 1
    finally:
        other.close()


def test_defragment_keeps_data_and_shrinks_the_file(store: KVStore) -> None:
    big = b"x" * 4096
    for i in range(400):
        store.put(b"k%03d" % i, big)
    store.put(b"z-keep", b"me")
    store.delete_range(b"k", b"l")
    store.compact(store.current_revision)
    store.commit()
    size, in_use = store.db_size, store.db_size_in_use
    assert in_use < size / 4  # the freed pages are still in the file
    before = store.hash_kv()
    store.defragment()
    assert store.db_size < size / 4
    assert store.hash_kv() == before
    assert store.range(b"z-keep").kvs[0].value == b"me"
    assert store.put(b"after", b"1").revision == store.current_revision


def test_writes_inside_a_write_block_go_through_its_txn(store: KVStore) -> None:
    with store.write() as w:
        with pytest.raises(RuntimeError):
            store.put(b"a", b"1")
        w.put(b"a", b"1")
        assert store.range(b"a", revision=1).kvs == []  # reads elsewhere stay at the old revision
    assert store.current_revision == 2 and store.put(b"b", b"1").revision == 3


def test_a_closed_store_refuses_use(store_path: Path) -> None:
    s = KVStore(store_path, map_size=MAP)
    s.close()
    s.close()  # idempotent
    with pytest.raises(ErrStoreClosed, match="closed"):
        s.put(b"a", b"1")


def test_server_records_persist_with_the_data_and_can_be_deleted(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.put_record(b"lease", b"\x00\x01", b"ttl=5")
    store.put_record(b"lease", b"\x00\x02", b"ttl=9")
    store.put_record(b"member", b"a", b"{}")
    store.set_consistent_index(7)
    store.put_record(b"lease", b"\x00\x01", None)
    assert store.records(b"lease") == [(b"\x00\x02", b"ttl=9")]
    store.close()
    reopened = KVStore(tmp_path / "db")
    assert reopened.records(b"lease") == [(b"\x00\x02", b"ttl=9")]
    assert reopened.records(b"member") == [(b"a", b"{}")]
    assert reopened.consistent_index == 7
    reopened.close()
