"""Objects in the etcd v3 key space, as kube-apiserver keeps them (its storage/etcd3 store).

Each object is one key, `/registry/<storage prefix>/<namespace>/<name>` (cluster-scoped:
`/registry/<prefix>/<name>`), holding the object's JSON without `metadata.resourceVersion`; on the
way out resourceVersion is the key's mod_revision, so optimistic concurrency is a Txn comparing
mod_revision, and a create is a Txn on create_revision == 0. Deletes are Txns too, so a delete
with preconditions never removes a newer object.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from etcd_raft.client import CompactedError, Compare, EtcdClient, EtcdError, Op, prefix_range_end
from etcd_raft.client import errors as etcd_errors

Object = dict[str, Any]


class StorageError(Exception):
    """Base of what the store raises; the REST layer maps each to a Status."""


class KeyExists(StorageError):
    pass


class KeyNotFound(StorageError):
    pass


class Conflict(StorageError):
    """The object changed since the caller read it (resourceVersion mismatch)."""


class TooOld(StorageError):
    """The revision asked for was compacted away (410 Expired for clients)."""

    def __init__(self, revision: int, compacted: int) -> None:
        super().__init__(f"too old resource version: {revision} ({compacted})")
        self.revision, self.compacted = revision, compacted


class Unavailable(StorageError):
    """The store did not answer (no leader, timeout, unreachable): retrying may help."""


def encode(obj: Object) -> bytes:
    metadata = obj.get("metadata") or {}
    if "resourceVersion" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "resourceVersion"}}
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def decode(value: bytes, revision: int) -> Object:
    obj: Object = json.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(revision)
    return obj


@dataclass
class Page:
    items: list[Object]
    revision: int  # the store revision the list was read at
    next_key: str | None  # where the next page starts (more to come), else None
    remaining: int  # how many keys are left after this page


@dataclass
class Event:
    type: str  # ADDED, MODIFIED, DELETED
    key: str
    object: Object  # for DELETED: the last state, with the deletion's revision
    revision: int
    previous: Object | None = None


def _translate(error: EtcdError) -> StorageError:
    if isinstance(error, CompactedError):
        return TooOld(0, error.compact_revision)
    return Unavailable(str(error))


class Store:
    """Object CRUD and watches over an EtcdClient (a kplane-etcd or a real etcd)."""

    def __init__(self, client: EtcdClient, prefix: str = "/registry") -> None:
        self.client = client
        self.prefix = prefix.rstrip("/")

    def key(self, storage: str, namespace: str | None, name: str = "") -> str:
        """The key of an object, or with name "" the prefix of a collection (ending in "/")."""
        parts = [self.prefix, storage] + ([namespace] if namespace else [])
        return "/".join(parts) + "/" + name

    async def current_revision(self) -> int:
        try:
            response = await self.client.get(self.prefix + "/", count_only=True, prefix=True)
        except EtcdError as error:
            raise _translate(error) from error
        return int(response.header.revision)

    async def create(self, key: str, obj: Object) -> Object:
        data = encode(obj)
        try:
            response = await self.client.txn([Compare.create_revision(key) == 0], [Op.put(key, data)], [])
        except EtcdError as error:
            raise _translate(error) from error
        if not response.succeeded:
            raise KeyExists(key)
        return decode(data, response.header.revision)

    async def get(self, key: str, *, revision: int = 0) -> Object:
        try:
            response = await self.client.get(key, revision=revision)
        except CompactedError as error:
            raise TooOld(revision, error.compact_revision) from error
        except EtcdError as error:
            raise _translate(error) from error
        if not response.kvs:
            raise KeyNotFound(key)
        kv = response.kvs[0]
        return decode(kv.value, kv.mod_revision)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start: str | None = None) -> Page:
        """Objects under `prefix` in key order, from key `start` on, at `revision` (0: newest)."""
        end = prefix_range_end(prefix.encode())
        try:
            response = await self.client.get(
                start if start is not None else prefix, range_end=end, revision=revision, limit=limit
            )
        except CompactedError as error:
            raise TooOld(revision, error.compact_revision) from error
        except EtcdError as error:
            raise _translate(error) from error
        items = [decode(kv.value, kv.mod_revision) for kv in response.kvs]
        read_at = revision or int(response.header.revision)
        next_key = None
        remaining = 0
        if response.more and response.kvs:
            next_key = response.kvs[-1].key.decode() + "\x00"
            remaining = int(response.count) - len(response.kvs)
        return Page(items, read_at, next_key, remaining)

    async def update(self, key: str, obj: Object, expected_revision: int) -> Object:
        """Write `obj` if the key is still at `expected_revision` (its mod_revision); else
        Conflict, or KeyNotFound when it is gone."""
        data = encode(obj)
        try:
            response = await self.client.txn(
                [Compare.mod_revision(key) == expected_revision], [Op.put(key, data)], [Op.get(key)]
            )
        except EtcdError as error:
            raise _translate(error) from error
        if not response.succeeded:
            if not response.responses[0].response_range.kvs:
                raise KeyNotFound(key)
            raise Conflict(key)
        return decode(data, response.header.revision)

    async def delete(self, key: str, expected_revision: int = 0) -> Object:
        """Remove the key (only at `expected_revision` when given); returns the deleted object with
        the deletion's revision as its resourceVersion (as a DELETED watch event carries it)."""
        compares = [Compare.mod_revision(key) == expected_revision] if expected_revision else []
        try:
            response = await self.client.txn(compares, [Op.delete(key, prev_kv=True)], [Op.get(key)])
        except EtcdError as error:
            raise _translate(error) from error
        if not response.succeeded:
            if not response.responses[0].response_range.kvs:
                raise KeyNotFound(key)
            raise Conflict(key)
        deleted = response.responses[0].response_delete_range
        if not deleted.prev_kvs:
            raise KeyNotFound(key)
        return decode(deleted.prev_kvs[0].value, response.header.revision)

    async def watch(self, prefix: str, after: int) -> AsyncIterator[builtins.list[Event]]:
        """Batches of changes under `prefix` after revision `after`, in order, forever; TooOld
        when `after` was compacted away. An empty batch is a progress notification."""
        try:
            async with self.client.watch(
                prefix, prefix=True, start_revision=after + 1, prev_kv=True, progress_notify=True
            ) as watcher:
                async for batch in watcher:
                    yield [_event(e) for e in batch.events]
        except etcd_errors.CompactedError as error:
            raise TooOld(after, error.compact_revision) from error
        except EtcdError as error:
            raise _translate(error) from error


def _event(e: Any) -> Event:
    kv = e.kv
    key = kv.key.decode()
    previous = decode(e.prev_kv.value, e.prev_kv.mod_revision) if e.HasField("prev_kv") else None
    if e.type == 1:  # DELETE
        last = previous if previous is not None else {"metadata": {}}
        last = {**last, "metadata": {**last.get("metadata", {}), "resourceVersion": str(kv.mod_revision)}}
        return Event("DELETED", key, last, kv.mod_revision, previous)
    kind = "ADDED" if kv.create_revision == kv.mod_revision else "MODIFIED"
    return Event(kind, key, decode(kv.value, kv.mod_revision), kv.mod_revision, previous)
