"""The MVCC key space: etcd's server/storage/mvcc store on LMDB, the state machine Raft drives.

Storage (one LMDB environment, a directory holding data.mdb and lock.mdb):

    db "key":  revision key (17 bytes main/sub, + b"t" for a tombstone) -> mvccpb.KeyValue bytes
    db "meta": b"consistent_index" -> uint64 BE, b"term" -> uint64 BE,
               b"scheduledCompactRev" / b"finishedCompactRev" -> revision key of the compaction

The key index (`index.TreeIndex`) lives in memory and is rebuilt by scanning "key" on open.

Applying. The apply layer hands each committed Raft entry to the store with its index:

    resp = store.apply(request, consistent_index=entry.index)   # Put/Range/DeleteRange/Txn/Compaction
    store.set_consistent_index(entry.index)                     # an entry that touches no key
    with store.write(consistent_index=entry.index) as w:        # several changes at one revision,
        for key in store.keys_with_lease(lease_id):             # e.g. a lease revocation
            w.delete_range(key)

One request (a txn with all its nested ops too) is one write transaction: one main revision if
it changes anything, none otherwise. Errors that etcd reports for a request (ErrCompacted,
ErrKeyNotFound, ...) are raised before anything changes; the entry still counts as applied
(`consistent_index` advances). Do not await inside a `write()` block: reads elsewhere would see
half a transaction.

Durability. The Raft WAL is the durable record, so LMDB runs without fsync and applied entries
collect in one LMDB write transaction (etcd's batch tx): reads in this process see them at once;
`commit()` makes them one LMDB commit (the server calls it every ~100 ms; the store commits by
itself after `batch_limit` changes) together with `consistent_index`, so after a crash the store
is exactly the state as of its `consistent_index` and the server replays the WAL after it.
`force_commit()` also fsyncs: call it before releasing WAL entries (snapshot, WAL purge).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, NoReturn, Protocol

import lmdb

from etcd_raft.mvcc.codec import (
    REV_BYTES_LEN,
    SUB_BITS,
    SUB_MASK,
    CorruptValueError,
    decode_key,
    decode_kv,
    encode_kv,
    encode_tombstone,
    rev_key,
    rev_to_bytes,
)
from etcd_raft.mvcc.errors import (
    ErrCompacted,
    ErrFutureRev,
    ErrKeyNotFound,
    ErrLeaseNotFound,
    ErrStoreClosed,
)
from etcd_raft.mvcc.hash import Crc32c
from etcd_raft.mvcc.index import KeyIndex, TreeIndex
from etcd_raft.mvcc.txn import check_intervals, compare_holds, filter_and_sort, has_revision_filters
from etcd_raft.mvcc.types import (
    CompactionRequest,
    CompactionResponse,
    Compare,
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
)

DEFAULT_MAP_SIZE = 8 << 30  # LMDB's address-space reservation, not disk use; must exceed the quota
DEFAULT_BATCH_LIMIT = 10_000  # etcd's --backend-batch-limit

META_CONSISTENT_INDEX = b"consistent_index"
META_TERM = b"term"
META_SCHEDULED_COMPACT = b"scheduledCompactRev"
META_FINISHED_COMPACT = b"finishedCompactRev"
RECORD_PREFIX = b"record/"  # server records (leases, members): put_record / records
DATA_FILE = "data.mdb"

_U64 = struct.Struct(">Q")
_REV = struct.Struct(">QcQ")
_rev_pack = _REV.pack
_PUT = EventType.PUT
_DELETE = EventType.DELETE


class StoreObserver(Protocol):
    """Told about every write transaction that changed something, and about restores."""

    def on_write(self, revision: int, events: list[Event]) -> None:
        """`events` in sub-revision order, without prev_kv; the kvs are shared, do not change them."""

    def on_restore(self, previous_revision: int) -> None:
        """The whole key space was replaced by `restore`."""


class WriteTxn:
    """The changes of one main revision (etcd's storeTxnWrite). Get one from `KVStore.write()`.

    Reads through it see its own earlier changes (etcd 3.5's behaviour)."""

    __slots__ = ("_main", "_store", "begin_revision", "changes")

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self.begin_revision = store._rev
        self._main = store._rev + 1
        self.changes: list[KeyValue] = []  # tombstones have create_revision 0

    @property
    def revision(self) -> int:
        """The revision reads in this txn see: begin_revision, +1 once something changed."""
        return self._main if self.changes else self.begin_revision

    def range(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        count_only: bool = False,
    ) -> RangeResponse:
        kvs, count = self._store._range(key, range_end, revision, limit, count_only, self.revision)
        return RangeResponse(self.revision, kvs, 0 < limit < count, count)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write `key`; returns the revision written at."""
        s = self._store
        main = self._main
        sub = len(self.changes)
        ki = s._index.map.get(key)
        if ki is None:
            ki = s._index.insert(key)
        g = ki.generations[-1]
        revs = g.revs
        if revs:
            created = g.created
            ver = g.ver + 1
            old_lease = ki.lease
        else:
            created = g.created = main
            ver = 1
            old_lease = 0
        txn = s._batch or s._begin_write()
        if not txn.put(
            _rev_pack(main, b"_", sub),
            encode_kv(key, created, main, ver, value, lease),
            append=True,
            db=s._key_db,
        ):
            s._fail("revision key out of order")
        revs.append((main << SUB_BITS) | sub)
        g.ver = ver
        s._index_rev = main
        if lease != old_lease:
            s._move_lease(key, old_lease, lease)
            ki.lease = lease
        self.changes.append(KeyValue(key, created, main, ver, value, lease))
        return main

    def delete_range(self, key: bytes, range_end: bytes = b"") -> int:
        """Delete the live keys in range; returns how many."""
        n = 0
        for ki in self._store._index.key_indexes(key, range_end):
            if ki.generations[-1].revs:
                self._delete(ki)
                n += 1
        return n

    def _delete(self, ki: KeyIndex) -> None:
        s = self._store
        main = self._main
        sub = len(self.changes)
        txn = s._batch or s._begin_write()
        if not txn.put(
            _rev_pack(main, b"_", sub) + b"t", encode_tombstone(ki.key), append=True, db=s._key_db
        ):
            s._fail("revision key out of order")
        ki.tombstone((main << SUB_BITS) | sub)
        s._index_rev = main
        if ki.lease:
            s._move_lease(ki.key, ki.lease, 0)
            ki.lease = 0
        self.changes.append(KeyValue(ki.key, 0, main))


class _Path:
    """Which branch each txn takes (etcd's txnPath), computed before anything is written."""

    __slots__ = ("children", "succeeded")

    def __init__(self, succeeded: bool, children: list[_Path]) -> None:
        self.succeeded = succeeded
        self.children = children


def _cmp(a: int | bytes, b: int | bytes) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


class KVStore:
    """The MVCC key space on LMDB. Not thread-safe: use it from one thread (the event loop);
    `snapshot(out, commit=False)` alone may run in a worker thread."""

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        lease_exists: Callable[[int], bool] | None = None,
    ) -> None:
        """`path` is the LMDB directory (created if missing); None makes a temporary one that
        `close()` removes. `lease_exists` lets puts with an unknown lease fail with
        ErrLeaseNotFound (etcd asks the lessor); None accepts every lease."""
        self._tmpdir = path is None
        self.path = Path(tempfile.mkdtemp(prefix="kplane-mvcc-")) if path is None else Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._map_size = map_size
        self._batch_limit = batch_limit
        self.lease_exists = lease_exists
        self._observers: list[StoreObserver] = []
        self._batch: lmdb.Transaction[bytes] | None = None
        self._pending = 0
        self._closed = False
        self._in_write = False
        self._env_closed = False
        self._failure = ""
        self._env = self._open_env()
        self._load()

    # ----------------------------------------------------------------- lifecycle and durability

    def _open_env(self) -> lmdb.Environment:
        env = lmdb.open(
            str(self.path),
            map_size=self._map_size,
            subdir=True,
            max_dbs=2,
            sync=False,
            metasync=False,
            readahead=False,
            meminit=False,
            max_spare_txns=1,
            lock=True,
        )
        self._key_db = env.open_db(b"key")
        self._meta_db = env.open_db(b"meta")
        return env

    def _load(self) -> None:
        """Read the meta db and rebuild the key index and lease map from the key db."""
        index = TreeIndex()
        m = index.map
        leases: dict[int, set[bytes]] = {}
        self._leases = leases
        rev = 1
        with self._env.begin() as txn:
            ci = txn.get(META_CONSISTENT_INDEX, db=self._meta_db)
            term = txn.get(META_TERM, db=self._meta_db)
            compact = txn.get(META_FINISHED_COMPACT, db=self._meta_db)
            self._ci = self._committed_ci = _U64.unpack(ci)[0] if ci else 0
            self._term = self._committed_term = _U64.unpack(term)[0] if term else 0
            self._compact_rev = _U64.unpack_from(compact)[0] if compact else -1
            for k, v in txn.cursor(db=self._key_db).iternext():
                main, _, sub = _REV.unpack_from(k)
                r = (main << SUB_BITS) | sub
                rev = main
                if len(k) > REV_BYTES_LEN:  # tombstone
                    key = decode_key(v)
                    ki = m.get(key)
                    if ki is None:  # its puts were compacted away: keep it so compaction drops it
                        ki = m[key] = KeyIndex(key)
                    elif ki.lease:
                        self._move_lease(key, ki.lease, 0)
                        ki.lease = 0
                    ki.tombstone(r)
                    continue
                kv = decode_kv(v)
                ki = m.get(kv.key)
                if ki is None:
                    ki = m[kv.key] = KeyIndex(kv.key)
                g = ki.generations[-1]
                if not g.revs:
                    g.created = kv.create_revision
                g.revs.append(r)
                g.ver = kv.version
                if kv.lease != ki.lease:
                    self._move_lease(kv.key, ki.lease, kv.lease)
                    ki.lease = kv.lease
        index.rebuild_sorted()
        self._index = index
        # Compaction may have removed every revision up to it (the last ones being tombstones).
        self._rev = max(rev, self._compact_rev)
        self._index_rev = self._rev

    def _begin_write(self) -> lmdb.Transaction[bytes]:
        self._check_open()
        txn = self._batch = self._env.begin(write=True)
        return txn

    def _check_open(self) -> None:
        if self._closed:
            raise ErrStoreClosed(self._failure or None)

    def _check_writable(self) -> None:
        if self._closed:
            raise ErrStoreClosed(self._failure or None)
        if self._in_write:
            raise RuntimeError("a write() block is open: write through its WriteTxn")

    def _fail(self, why: str) -> NoReturn:
        """A write failed half-way: the in-memory index no longer matches LMDB. Drop the batch and
        refuse further use; reopening the store and replaying the WAL recovers."""
        self._failure = f"mvcc: store failed mid-write ({why}); reopen it"
        if self._batch is not None:
            self._batch.abort()
            self._batch = None
        self._closed = True
        raise ErrStoreClosed(self._failure)

    def commit(self) -> None:
        """Commit the batch of applied changes and the consistent index to LMDB (no fsync)."""
        self._check_open()
        txn = self._batch
        if txn is None:
            if self._ci == self._committed_ci and self._term == self._committed_term:
                return
            txn = self._env.begin(write=True)
        if self._ci != self._committed_ci or self._term != self._committed_term:
            txn.put(META_CONSISTENT_INDEX, _U64.pack(self._ci), db=self._meta_db)
            txn.put(META_TERM, _U64.pack(self._term), db=self._meta_db)
        txn.commit()
        self._batch = None
        self._pending = 0
        self._committed_ci = self._ci
        self._committed_term = self._term

    def force_commit(self) -> None:
        """Commit and fsync: everything applied so far survives a machine crash."""
        self.commit()
        self._env.sync(True)

    def close(self) -> None:
        """Commit what was applied and release the database (a failed store just releases it)."""
        if self._env_closed:
            return
        if not self._closed:
            self.commit()
        self._closed = True
        self._env_closed = True
        self._env.close()
        if self._tmpdir:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> KVStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending_changes(self) -> int:
        """Changes applied since the last LMDB commit."""
        return self._pending

    # ------------------------------------------------------------------------------ state

    @property
    def current_revision(self) -> int:
        """The revision of the last write transaction (1 for an empty store, as etcd)."""
        return self._rev

    @property
    def compact_revision(self) -> int:
        """The revision of the last compaction (-1 if none, as etcd)."""
        return self._compact_rev

    @property
    def consistent_index(self) -> int:
        """The index of the last Raft entry applied (persisted with the data by `commit`)."""
        return self._ci

    @property
    def consistent_term(self) -> int:
        return self._term

    def set_consistent_index(self, index: int, term: int | None = None) -> None:
        """Record an applied entry that changes no key (lease grant, conf change, ...)."""
        self._ci = index
        if term is not None:
            self._term = term

    @property
    def db_size(self) -> int:
        """Bytes of the database file (etcd's dbSize)."""
        return os.stat(self.path / DATA_FILE).st_size

    @property
    def db_size_in_use(self) -> int:
        """Bytes of the pages holding data (etcd's dbSizeInUse): db_size minus free pages."""
        env_stat = self._env.stat()
        pages = 2  # the two meta pages
        with self._env.begin() as txn:
            for st in (env_stat, txn.stat(self._key_db), txn.stat(self._meta_db)):
                pages += st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]
        return pages * env_stat["psize"]

    @property
    def key_count(self) -> int:
        """Keys in the index, deleted ones not yet compacted included."""
        return len(self._index)

    def observe(self, observer: StoreObserver) -> None:
        self._observers.append(observer)

    def unobserve(self, observer: StoreObserver) -> None:
        self._observers.remove(observer)

    # ------------------------------------------------------------------------------ records

    def put_record(self, bucket: bytes, name: bytes, value: bytes | None) -> None:
        """Store (or with None, delete) a server record, e.g. a lease or a member, in the meta db.
        It is committed in the same LMDB transaction as the applied data and the consistent
        index, so records and keys never disagree after a crash."""
        self._check_writable()
        txn = self._batch or self._begin_write()
        record = RECORD_PREFIX + bucket + b"/" + name
        if value is None:
            txn.delete(record, db=self._meta_db)
        else:
            txn.put(record, value, db=self._meta_db)
        self._pending += 1

    def records(self, bucket: bytes) -> list[tuple[bytes, bytes]]:
        """Every (name, value) stored in `bucket`, sorted by name."""
        self._check_open()
        prefix = RECORD_PREFIX + bucket + b"/"
        own = self._batch is None
        txn = self._env.begin() if own else self._batch
        assert txn is not None
        try:
            cursor = txn.cursor(db=self._meta_db)
            found = []
            if cursor.set_range(prefix):
                for name, value in cursor.iternext():
                    if not name.startswith(prefix):
                        break
                    found.append((name[len(prefix) :], bytes(value)))
            return found
        finally:
            if own:
                txn.abort()

    # ------------------------------------------------------------------------------ leases

    def _move_lease(self, key: bytes, old: int, new: int) -> None:
        leases = self._leases
        if old:
            keys = leases.get(old)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del leases[old]
        if new:
            keys = leases.get(new)
            if keys is None:
                leases[new] = {key}
            else:
                keys.add(key)

    def keys_with_lease(self, lease: int) -> list[bytes]:
        """The live keys attached to `lease`, sorted (what a revocation deletes)."""
        return sorted(self._leases.get(lease, ()))

    def leases(self) -> list[int]:
        """Every lease some live key is attached to (for the lessor to re-attach after a restart)."""
        return sorted(self._leases)

    # ------------------------------------------------------------------------------ reads

    def _fetch(self, revs: Sequence[int]) -> list[KeyValue]:
        return [decode_kv(data) for data in self._fetch_encoded(revs)]

    def _fetch_encoded(self, revs: Sequence[int]) -> list[bytes]:
        txn = self._batch
        if txn is None:
            with self._env.begin() as rtxn:
                return self._fetch_in(rtxn, revs)
        return self._fetch_in(txn, revs)

    def _fetch_in(self, txn: lmdb.Transaction[bytes], revs: Sequence[int]) -> list[bytes]:
        get = txn.get
        db = self._key_db
        values = [get(_rev_pack(r >> SUB_BITS, b"_", r & SUB_MASK), db=db) for r in revs]
        if None in values:
            raise CorruptValueError("the index names a revision the key db does not hold")
        return values  # type: ignore[return-value]

    def _range(
        self, key: bytes, range_end: bytes, revision: int, limit: int, count_only: bool, cur_rev: int
    ) -> tuple[list[KeyValue], int]:
        """etcd's rangeKeys: (kvs in key order, count of keys in range at the revision)."""
        revs, total = self._range_revs(key, range_end, revision, limit, count_only, cur_rev)
        return self._fetch(revs), total

    def _range_revs(
        self, key: bytes, range_end: bytes, revision: int, limit: int, count_only: bool, cur_rev: int
    ) -> tuple[list[int], int]:
        """The revisions holding the keys in range at `revision`, in key order (none when
        `count_only`, at most `limit`), and how many keys there are."""
        self._check_open()
        if revision > cur_rev:
            raise ErrFutureRev()
        rev = cur_rev if revision <= 0 else revision
        if rev < self._compact_rev:
            raise ErrCompacted()
        kis = self._index.key_indexes(key, range_end)
        revs = []
        if rev >= self._index_rev:  # the latest revision of each key
            for ki in kis:
                rs = ki.generations[-1].revs
                if rs:
                    revs.append(rs[-1])
        else:
            for ki in kis:
                got = ki.get(rev)
                if got is not None:
                    revs.append(got[0])
        total = len(revs)
        if count_only:
            return [], total
        if 0 < limit < total:
            del revs[limit:]
        return revs, total

    def range_encoded(
        self, key: bytes, range_end: bytes = b"", *, revision: int = 0, limit: int = 0
    ) -> tuple[int, list[bytes], bool, int]:
        """A Range in key order with no sorting, filters or keys_only, each KeyValue as stored
        (etcd's mvccpb.KeyValue bytes) for a server to copy into its response without decoding:
        (revision read at, encoded kvs, more, count)."""
        cur_rev = self._rev
        revs, count = self._range_revs(
            key, range_end, revision, limit + 1 if limit > 0 else 0, False, cur_rev
        )
        more = 0 < limit < len(revs)
        if more:
            del revs[limit:]
        return cur_rev, self._fetch_encoded(revs), more, count

    def get(self, key: bytes, *, revision: int = 0) -> KeyValue | None:
        """The key's KeyValue at `revision` (0: now), or None."""
        kvs, _ = self._range(key, b"", revision, 0, False, self._rev)
        return kvs[0] if kvs else None

    def range(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        sort_order: SortOrder = SortOrder.NONE,
        sort_target: SortTarget = SortTarget.KEY,
        min_mod_revision: int = 0,
        max_mod_revision: int = 0,
        min_create_revision: int = 0,
        max_create_revision: int = 0,
    ) -> RangeResponse:
        """etcd's Range. Raises ErrFutureRev / ErrCompacted for a revision out of reach."""
        return self._exec_range(
            RangeRequest(
                key,
                range_end,
                limit,
                revision,
                sort_order,
                sort_target,
                False,
                keys_only,
                count_only,
                min_mod_revision,
                max_mod_revision,
                min_create_revision,
                max_create_revision,
            ),
            self._rev,
        )

    def _exec_range(self, req: RangeRequest, cur_rev: int) -> RangeResponse:
        limit = req.limit
        filtered = has_revision_filters(req)
        if req.sort_order != SortOrder.NONE or filtered:
            limit = 0  # sort or filter everything, then cut
        elif limit > 0:
            limit += 1  # one more to tell `more`
        kvs, count = self._range(req.key, req.range_end, req.revision, limit, req.count_only, cur_rev)
        if kvs and (filtered or req.sort_order != SortOrder.NONE or req.sort_target != SortTarget.KEY):
            kvs = filter_and_sort(kvs, req)
        more = False
        if req.limit > 0 and len(kvs) > req.limit:
            del kvs[req.limit :]
            more = True
        if req.keys_only:
            for kv in kvs:
                kv.value = b""
        return RangeResponse(cur_rev, kvs, more, count)

    # ------------------------------------------------------------------------------ writes

    @contextmanager
    def write(self, *, consistent_index: int | None = None, term: int | None = None) -> Iterator[WriteTxn]:
        """A write transaction: every change inside is one main revision. An exception leaving
        the block after something changed fails the store (ErrStoreClosed, reopen and replay)."""
        self._check_writable()
        if consistent_index is not None:
            self.set_consistent_index(consistent_index, term)
        tw = WriteTxn(self)
        self._in_write = True
        try:
            yield tw
        except BaseException as e:
            if tw.changes or isinstance(e, lmdb.Error):
                with suppress(ErrStoreClosed):
                    self._fail(f"{type(e).__name__} inside write()")
            raise
        finally:
            self._in_write = False
        self._end(tw)

    def _end(self, tw: WriteTxn) -> None:
        changes = tw.changes
        if not changes:
            return
        rev = self._rev = tw._main
        self._pending += len(changes)
        if self._observers:
            events = [Event(_PUT if kv.create_revision else _DELETE, kv) for kv in changes]
            for o in self._observers:
                o.on_write(rev, events)
        if self._pending >= self._batch_limit:
            self.commit()

    def apply(
        self, request: Request, *, consistent_index: int | None = None, term: int | None = None
    ) -> Response:
        """Apply one committed request. The consistent index advances even if it raises."""
        self._check_writable()
        if consistent_index is not None:
            self._ci = consistent_index
            if term is not None:
                self._term = term
        t = type(request)
        if t is PutRequest:
            r: PutRequest = request  # type: ignore[assignment]
            return self._put(r.key, r.value, r.lease, r.prev_kv, r.ignore_value, r.ignore_lease)
        if t is TxnRequest:
            return self._txn(request)  # type: ignore[arg-type]
        if t is RangeRequest:
            return self._exec_range(request, self._rev)  # type: ignore[arg-type]
        if t is DeleteRangeRequest:
            d: DeleteRangeRequest = request  # type: ignore[assignment]
            return self._delete_range(d.key, d.range_end, d.prev_kv)
        if t is CompactionRequest:
            return self.compact(request.revision)  # type: ignore[union-attr]
        raise TypeError(f"not an MVCC request: {t.__name__}")

    def put(
        self,
        key: bytes,
        value: bytes = b"",
        lease: int = 0,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
        *,
        consistent_index: int | None = None,
    ) -> PutResponse:
        """etcd's Put. Raises ErrLeaseNotFound, or ErrKeyNotFound for ignore_* on a missing key."""
        self._check_writable()
        if consistent_index is not None:
            self._ci = consistent_index
        return self._put(key, value, lease, prev_kv, ignore_value, ignore_lease)

    def _put(
        self, key: bytes, value: bytes, lease: int, prev_kv: bool, ignore_value: bool, ignore_lease: bool
    ) -> PutResponse:
        if lease and self.lease_exists is not None and not self.lease_exists(lease):
            raise ErrLeaseNotFound()
        prev = None
        if prev_kv or ignore_value or ignore_lease:
            prev = self._latest(key)
            if prev is None:
                if ignore_value or ignore_lease:
                    raise ErrKeyNotFound()
            else:
                if ignore_value:
                    value = prev.value
                if ignore_lease:
                    lease = prev.lease
        tw = WriteTxn(self)
        try:
            rev = tw.put(key, value, lease)
        except ErrStoreClosed:
            raise
        except BaseException as e:
            self._fail(f"{type(e).__name__}: {e}")
        self._end(tw)
        return PutResponse(rev, prev if prev_kv else None)

    def _latest(self, key: bytes) -> KeyValue | None:
        ki = self._index.map.get(key)
        if ki is None:
            return None
        revs = ki.generations[-1].revs
        return self._fetch((revs[-1],))[0] if revs else None

    def delete_range(
        self,
        key: bytes,
        range_end: bytes = b"",
        prev_kv: bool = False,
        *,
        consistent_index: int | None = None,
    ) -> DeleteRangeResponse:
        """etcd's DeleteRange."""
        self._check_writable()
        if consistent_index is not None:
            self._ci = consistent_index
        return self._delete_range(key, range_end, prev_kv)

    def _delete_range(self, key: bytes, range_end: bytes, prev_kv: bool) -> DeleteRangeResponse:
        tw = WriteTxn(self)
        try:
            resp = self._exec_delete(tw, key, range_end, prev_kv)
        except ErrStoreClosed:
            raise
        except BaseException as e:
            self._fail(f"{type(e).__name__}: {e}")
        self._end(tw)
        return resp

    def _exec_delete(self, tw: WriteTxn, key: bytes, range_end: bytes, prev_kv: bool) -> DeleteRangeResponse:
        prev_kvs = self._range(key, range_end, 0, 0, False, tw.revision)[0] if prev_kv else []
        n = tw.delete_range(key, range_end)
        return DeleteRangeResponse(tw._main if n or tw.changes else tw.begin_revision, n, prev_kvs)

    def txn(
        self,
        compare: Sequence[Compare] = (),
        success: Sequence[RequestOp] = (),
        failure: Sequence[RequestOp] = (),
        *,
        consistent_index: int | None = None,
    ) -> TxnResponse:
        """etcd's Txn: every compare (nested txns' too) is evaluated against the state before the
        txn, then the chosen branch runs as one write transaction. Raises ErrDuplicateKey for
        overlapping puts/deletes, and the errors of its puts and ranges before changing anything."""
        self._check_writable()
        if consistent_index is not None:
            self._ci = consistent_index
        return self._txn(TxnRequest(compare, success, failure))

    def _txn(self, req: TxnRequest) -> TxnResponse:
        check_intervals(req.success)
        check_intervals(req.failure)
        path = self._compare_to_path(req)
        self._check_txn(req, path)
        tw = WriteTxn(self)
        try:
            resp = self._exec_txn(tw, req, path)
        except ErrStoreClosed:
            raise
        except BaseException as e:  # everything that can fail was checked before: LMDB broke
            self._fail(f"{type(e).__name__}: {e}")
        self._end(tw)
        resp.revision = tw.revision
        return resp

    def _compare_to_path(self, req: TxnRequest) -> _Path:
        ok = all(self._compare(c) for c in req.compare)
        ops = req.success if ok else req.failure
        return _Path(ok, [self._compare_to_path(op) for op in ops if isinstance(op, TxnRequest)])

    def _compare(self, c: Compare) -> bool:
        """etcd's applyCompare against the latest state: true if it holds for every live key in
        range; with no key in range, VALUE fails and other targets compare a zero KeyValue."""
        target = c.target
        found = False
        for ki in self._index.key_indexes(c.key, c.range_end):
            g = ki.generations[-1]
            revs = g.revs
            if not revs:
                continue
            found = True
            if target == CompareTarget.MOD:
                order = _cmp(revs[-1] >> SUB_BITS, c.mod_revision)
            elif target == CompareTarget.VERSION:
                order = _cmp(g.ver, c.version)
            elif target == CompareTarget.CREATE:
                order = _cmp(g.created, c.create_revision)
            elif target == CompareTarget.LEASE:
                order = _cmp(ki.lease, c.lease)
            else:
                order = _cmp(self._fetch((revs[-1],))[0].value, c.value)
            if not compare_holds(order, c.result):
                return False
        if found:
            return True
        if target == CompareTarget.VALUE:
            return False
        operand = {
            CompareTarget.VERSION: c.version,
            CompareTarget.CREATE: c.create_revision,
            CompareTarget.MOD: c.mod_revision,
            CompareTarget.LEASE: c.lease,
        }[target]
        return compare_holds(_cmp(0, operand), c.result)

    def _check_txn(self, req: TxnRequest, path: _Path) -> None:
        """etcd's checkTxn: the chosen branch's puts and ranges must be able to succeed."""
        children = iter(path.children)
        for op in req.success if path.succeeded else req.failure:
            t = type(op)
            if t is RangeRequest:
                rev = op.revision  # type: ignore[union-attr]
                if rev > 0:
                    if rev > self._rev:
                        raise ErrFutureRev()
                    if rev < self._compact_rev:
                        raise ErrCompacted()
            elif t is PutRequest:
                p: PutRequest = op  # type: ignore[assignment]
                if (p.ignore_value or p.ignore_lease) and not self._live(p.key):
                    raise ErrKeyNotFound()
                if p.lease and self.lease_exists is not None and not self.lease_exists(p.lease):
                    raise ErrLeaseNotFound()
            elif t is TxnRequest:
                self._check_txn(op, next(children))  # type: ignore[arg-type]

    def _live(self, key: bytes) -> bool:
        ki = self._index.map.get(key)
        return ki is not None and bool(ki.generations[-1].revs)

    def _exec_txn(self, tw: WriteTxn, req: TxnRequest, path: _Path) -> TxnResponse:
        responses: list[ResponseOp] = []
        children = iter(path.children)
        for op in req.success if path.succeeded else req.failure:
            t = type(op)
            if t is PutRequest:
                p: PutRequest = op  # type: ignore[assignment]
                value, lease, prev = p.value, p.lease, None
                if p.prev_kv or p.ignore_value or p.ignore_lease:
                    got = self._range(p.key, b"", 0, 0, False, tw.revision)[0]
                    prev = got[0] if got else None
                    if prev is not None:
                        if p.ignore_value:
                            value = prev.value
                        if p.ignore_lease:
                            lease = prev.lease
                responses.append(PutResponse(tw.put(p.key, value, lease), prev if p.prev_kv else None))
            elif t is RangeRequest:
                responses.append(self._exec_range(op, tw.revision))  # type: ignore[arg-type]
            elif t is DeleteRangeRequest:
                d: DeleteRangeRequest = op  # type: ignore[assignment]
                responses.append(self._exec_delete(tw, d.key, d.range_end, d.prev_kv))
            elif t is TxnRequest:
                responses.append(self._exec_txn(tw, op, next(children)))  # type: ignore[arg-type]
        return TxnResponse(0, path.succeeded, responses)

    # ------------------------------------------------------------------------------ compaction

    def compact(self, revision: int, *, consistent_index: int | None = None) -> CompactionResponse:
        """Forget every revision older than `revision` except each key's latest one at or before
        it; tombstones older than it go too. Done (and in the same LMDB batch) when it returns.
        Raises ErrCompacted if `revision` <= compact_revision, ErrFutureRev if > current."""
        self._check_writable()
        if consistent_index is not None:
            self._ci = consistent_index
        if revision <= self._compact_rev:
            raise ErrCompacted()
        if revision > self._rev:
            raise ErrFutureRev()
        dropped = self._index.compact(revision)
        txn = self._batch or self._begin_write()
        try:
            delete = txn.delete
            db = self._key_db
            for r, tomb in dropped:
                delete(rev_key(r, tomb), db=db)
            mark = rev_to_bytes(revision)
            txn.put(META_SCHEDULED_COMPACT, mark, db=self._meta_db)
            txn.put(META_FINISHED_COMPACT, mark, db=self._meta_db)
        except BaseException as e:
            self._fail(f"{type(e).__name__} during compaction: {e}")
        self._compact_rev = revision
        self._pending += len(dropped) + 1
        if self._pending >= self._batch_limit:
            self.commit()
        return CompactionResponse(self._rev)

    # ------------------------------------------------------------------------------ hash, copies

    def hash_kv(self, revision: int = 0) -> HashKV:
        """etcd's HashKV: crc32c (Castagnoli) of b"key" then every (revision key, value) up to
        `revision` (0: current), skipping revisions a compaction at `revision` would drop."""
        self._check_open()
        compact, cur = self._compact_rev, self._rev
        if revision > 0 and revision <= compact:
            raise ErrCompacted()
        if revision > cur:
            raise ErrFutureRev()
        rev = revision or cur
        keep = self._index.keep(rev)
        h = Crc32c(b"key")
        buf = bytearray()
        own = self._batch is None
        txn = self._env.begin() if own else self._batch
        assert txn is not None
        try:
            for k, v in txn.cursor(db=self._key_db).iternext():
                main, _, sub = _REV.unpack_from(k)
                if main > rev:
                    break
                if main <= compact and keep and ((main << SUB_BITS) | sub) not in keep:
                    continue
                buf += k
                buf += v
                if len(buf) >= 1 << 20:
                    h.update(bytes(buf))
                    buf.clear()
        finally:
            if own:
                txn.abort()
        h.update(bytes(buf))
        return HashKV(h.value, compact, rev)

    def hash_backend(self) -> int:
        """etcd's Hash (meant for tests): crc32c of every database of the backend in name order,
        each its name then every (key, value), the bookkeeping (consistent index, members, leases)
        included, so members agree only at the same applied index."""
        self._check_open()
        h = Crc32c()
        own = self._batch is None
        txn = self._env.begin() if own else self._batch
        assert txn is not None
        try:
            buf = bytearray()
            for name, db in sorted([(b"key", self._key_db), (b"meta", self._meta_db)]):
                buf += name
                for k, v in txn.cursor(db=db).iternext():
                    buf += k
                    buf += v
                    if len(buf) >= 1 << 20:
                        h.update(bytes(buf))
                        buf.clear()
            h.update(bytes(buf))
        finally:
            if own:
                txn.abort()
        return h.value

    def snapshot(self, out: BinaryIO, *, commit: bool = True) -> int:
        """Write a consistent copy of the database (an LMDB data.mdb, compacted) to `out`; returns
        its size. It holds everything committed, consistent_index included. With commit=False
        (after a `commit()` on the owning thread) it may run in a worker thread while writes go on."""
        if commit:
            self.commit()
        self._check_open()
        with tempfile.TemporaryDirectory(dir=self.path, prefix="snapshot-") as tmp:
            self._env.copy(tmp, compact=True)
            with open(Path(tmp) / DATA_FILE, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
                return f.tell()

    def restore(self, from_path: Path | str) -> None:
        """Replace the whole key space with a database written by `snapshot` (a member catching up
        from a Raft snapshot). Uncommitted changes are dropped: the snapshot supersedes them."""
        self._check_open()
        if self._batch is not None:
            self._batch.abort()
            self._batch = None
        previous = self._rev
        tmp = self.path / (DATA_FILE + ".restore")
        shutil.copyfile(from_path, tmp)
        _fsync_file(tmp)
        self._env.close()
        os.replace(tmp, self.path / DATA_FILE)
        self._env = self._open_env()
        self._pending = 0
        self._load()
        for o in list(self._observers):
            o.on_restore(previous)

    def defragment(self) -> None:
        """Rewrite the database without its free pages (LMDB compacting copy): db_size shrinks to
        about db_size_in_use. The index stays valid."""
        self.commit()
        with tempfile.TemporaryDirectory(dir=self.path, prefix="defrag-") as tmp:
            self._env.copy(tmp, compact=True)
            _fsync_file(Path(tmp) / DATA_FILE)
            self._env.close()
            os.replace(Path(tmp) / DATA_FILE, self.path / DATA_FILE)
        self._env = self._open_env()

    # ------------------------------------------------------------------------------ watch support

    def revisions_since(
        self, min_rev: int, max_rev: int, max_entries: int, keys: Callable[[bytes], bool]
    ) -> tuple[list[Event], int]:
        """The events of main revisions min_rev..max_rev whose key `keys` accepts, read from the
        key db in revision order (watch catch-up). Reads at least one whole revision and stops at
        a revision boundary once `max_entries` were read; returns the events and the last main
        revision fully read."""
        self._check_open()
        events: list[Event] = []
        last = min_rev - 1
        txn = self._batch
        own = txn is None
        if txn is None:
            txn = self._env.begin()
        try:
            cur = txn.cursor(db=self._key_db)
            if not cur.set_range(rev_to_bytes(min_rev)):
                return events, max_rev
            n = 0
            for k, v in cur.iternext():
                main = _U64.unpack_from(k)[0]
                if main > max_rev:
                    break
                if main != last:
                    if n >= max_entries:
                        return events, last
                    last = main
                n += 1
                key = decode_key(v)
                if not keys(key):
                    continue
                if len(k) > REV_BYTES_LEN:
                    events.append(Event(_DELETE, KeyValue(key, 0, main)))
                else:
                    events.append(Event(_PUT, decode_kv(v)))
        finally:
            if own:
                txn.abort()
        return events, max_rev

    def kv_at(self, key: bytes, revision: int) -> KeyValue | None:
        """The key's KeyValue at `revision`, or None if absent or compacted away (watch prev_kv)."""
        if revision < self._compact_rev or revision < 1:
            return None
        ki = self._index.map.get(key)
        if ki is None:
            return None
        got = ki.get(revision)
        return self._fetch((got[0],))[0] if got is not None else None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
