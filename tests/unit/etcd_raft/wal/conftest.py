"""Fixtures for the WAL and snapshotter tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def wal_dir(tmp_path: Path) -> Path:
    return tmp_path / "member" / "wal"
