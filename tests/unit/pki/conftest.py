"""One PKI for the whole pki test package (issuing is the slow part): tests that change files
work on a copy (`pki_copy`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pki import PkiSpec, init_pki

SPEC = PkiSpec(
    nodes=("node1", "node2"),
    apiserver_sans=("10.0.0.10", "API.example.com"),
    etcd_sans=("192.168.1.5",),
    server_url="https://10.0.0.10:6443",
    hostname="cp-1",
)


@dataclass(frozen=True)
class Pki:
    directory: Path
    kubeconfig_dir: Path
    spec: PkiSpec
    now: datetime


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A PKI issued now (real clock: the TLS tests check validity against it), kubeconfigs apart."""
    root = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    init_pki(root / "pki", SPEC, now, kubeconfig_dir=root / "kubeconfigs")
    return Pki(root / "pki", root / "kubeconfigs", SPEC, now)


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A second, unrelated PKI: same layout, different CAs."""
    root = tmp_path_factory.mktemp("other-pki")
    now = datetime.now(UTC)
    init_pki(root / "pki", SPEC, now, kubeconfig_dir=root / "kubeconfigs")
    return Pki(root / "pki", root / "kubeconfigs", SPEC, now)


@pytest.fixture
def pki_copy(pki: Pki, tmp_path: Path) -> Pki:
    """A private copy of `pki`, modes and bytes preserved, to change freely."""
    shutil.copytree(pki.directory, tmp_path / "pki")
    shutil.copytree(pki.kubeconfig_dir, tmp_path / "kubeconfigs")
    return Pki(tmp_path / "pki", tmp_path / "kubeconfigs", pki.spec, pki.now)
