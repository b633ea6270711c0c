"""Stores on a fresh LMDB directory under tmp_path, closed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from etcd_raft.mvcc import KVStore, WatchableStore

SMALL_MAP = 256 << 20  # tests write little; a small reservation keeps them cheap


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "member" / "snap" / "db"


@pytest.fixture
def store(store_path: Path) -> Iterator[KVStore]:
    s = KVStore(store_path, map_size=SMALL_MAP)
    yield s
    s.close()


@pytest.fixture
def watchable(store: KVStore) -> Iterator[WatchableStore]:
    ws = WatchableStore(store)
    yield ws
    ws.close()
