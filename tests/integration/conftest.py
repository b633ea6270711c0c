"""Integration tests run real processes and change this host (bridges, routes, iptables), so they
need root; each test cleans up what it made, even when it fails."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

KPLANE = [sys.executable, "-m", "deploy"]


@pytest.fixture(autouse=True, scope="session")
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("integration tests need root (they manage iptables, bridges and containerd)")


@pytest.fixture
def kplane_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `kplane` runs that keeps the user's kubeconfig and state untouched."""
    return {
        **os.environ,
        "KUBECONFIG": str(tmp_path / "kube" / "config"),
        "KPLANE_STATE_DIR": str(tmp_path / "state"),
    }


Kplane = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def kplane(kplane_env: dict[str, str]) -> Iterator[Kplane]:
    """Runs the `kplane` tool in `kplane_env`; whatever cluster it made is brought down afterwards."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KPLANE, *args], env=kplane_env, capture_output=True, text=True, timeout=120)

    try:
        yield run
    finally:
        if Path(kplane_env["KPLANE_STATE_DIR"]).exists():
            run("down", "--purge")
