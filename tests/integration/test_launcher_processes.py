"""The launcher supervises real component processes: start, health over mTLS, restart of a dead
one, SIGTERM on down. A stand-in component serves the health endpoint until the real ones land."""

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from componentbase.cli import CommandError
from deploy.components import Component
from deploy.launcher import Launcher
from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec, process_start_time

PROGRAM = Path(__file__).parent / "programs" / "health_only_component.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health_only(port: int, serving_pki: Path | None = None) -> Component:
    def process(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
        pki = state.pki
        return ProcessSpec(
            name="health-only",
            argv=[sys.executable, str(PROGRAM), str(serving_pki or pki), str(port)],
            health_url=f"https://127.0.0.1:{port}/healthz",
            health_tls=(pki / "ca.crt", pki / "admin.crt", pki / "admin.key"),
            address=f"127.0.0.1:{port}",
        )

    return Component("health-only", str(port), issue=0, process=process)


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Launcher, list[str]]]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    lines: list[str] = []
    launcher = Launcher(
        StateDir(tmp_path / "state"), components=(health_only(free_port()),), out=lines.append
    )
    try:
        yield launcher, lines
    finally:
        if launcher.state.root.exists():
            launcher.down(purge=True)


def test_up_starts_restarts_and_down_stops_the_process(launcher: tuple[Launcher, list[str]]) -> None:
    cluster, lines = launcher
    assert cluster.up(ClusterSettings()) == 0
    pid = cluster.supervisor.running_pid("health-only")
    assert pid is not None
    assert (cluster.state.log_dir / "health-only.log").exists()

    lines.clear()
    assert cluster.status() == 0
    row = next(line for line in lines if line.startswith("health-only"))
    assert f" {pid} " in row and " ok " in row

    lines.clear()
    assert cluster.up(ClusterSettings()) == 0
    assert lines[0].startswith("kplane is already up")

    os.kill(pid, signal.SIGKILL)  # the component dies ...
    with contextlib.suppress(ChildProcessError):  # our child (started by this process): reap it
        os.waitpid(pid, 0)
    lines.clear()
    assert cluster.status() == 1
    assert "stopped" in next(line for line in lines if line.startswith("health-only"))

    assert cluster.up(ClusterSettings()) == 0  # ... and `up` brings it back
    new_pid = cluster.supervisor.running_pid("health-only")
    assert new_pid is not None and new_pid != pid

    assert cluster.down() == 0
    assert process_start_time(new_pid) is None
    assert not (cluster.state.run_dir / "health-only.pid").exists()


def test_a_component_that_exits_at_start_is_one_clear_error(launcher: tuple[Launcher, list[str]]) -> None:
    cluster, _ = launcher
    cluster.components = (health_only(free_port(), serving_pki=Path("/nonexistent-pki")),)
    with pytest.raises(CommandError, match=r"health-only exited during start-up; see .*health-only.log"):
        cluster.up(ClusterSettings())
    assert "nonexistent-pki" in (cluster.state.log_dir / "health-only.log").read_text()
