"""Starts, finds and stops a cluster's component processes, by the PIDs it recorded.

Each process runs detached (its own session) so it outlives `kplane up`; its PID file holds
"<pid> <start-time>", the start time read from /proc/<pid>/stat. A PID whose start time differs
is a different process that reused the number, and is never signalled: we end only what we started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: Sequence[str]
    health_url: str | None = None  # polled until it answers 200
    health_tls: tuple[Path, Path, Path] | None = None  # CA, client cert, client key for the probe
    health_insecure: bool = False  # HTTPS without verifying the server, as the kubelet probes kube-scheduler
    health_socket: Path | None = None  # a unix socket that must accept connections (containerd's)
    address: str = ""  # shown by `kplane status`


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot); None when there is no such process
    or it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces and parentheses
    state, start_time = fields[0], fields[19]
    return None if state in ("Z", "X") else start_time


class Supervisor:
    def __init__(self, run_dir: Path, log_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.clock = clock

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def running_pid(self, name: str) -> int | None:
        """The recorded PID if that very process still runs; a stale PID file is removed."""
        try:
            pid_text, start_time = self.pid_file(name).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        if process_start_time(pid) == start_time:
            return pid
        self.pid_file(name).unlink(missing_ok=True)
        return None

    def recorded(self) -> list[str]:
        return sorted(path.stem for path in self.run_dir.glob("*.pid"))

    def start(self, spec: ProcessSpec) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(spec.name).open("ab") as log:
            process = subprocess.Popen(
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        start_time = process_start_time(process.pid)
        self.pid_file(spec.name).write_text(f"{process.pid} {start_time}\n")
        return process.pid

    def stop(self, name: str, grace_seconds: float = 10.0) -> bool:
        """SIGTERM, wait up to the grace period, then SIGKILL. False if it was not running."""
        pid = self.running_pid(name)
        if pid is None:
            self.pid_file(name).unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, grace_seconds):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)
        self.pid_file(name).unlink(missing_ok=True)
        return True

    def _wait_gone(self, pid: int, seconds: float) -> bool:
        deadline = self.clock() + seconds
        while self.clock() < deadline:
            self._reap(pid)
            if process_start_time(pid) is None:
                return True
            time.sleep(0.05)
        return process_start_time(pid) is None

    @staticmethod
    def _reap(pid: int) -> None:
        """Collect the exit status if the process is our own child (started by this very run)."""
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def probe_health(spec: ProcessSpec, timeout: float = 2.0) -> str:
    """'ok', or a short reason why not."""
    if spec.health_socket is not None:
        return probe_socket(spec.health_socket, timeout)
    if spec.health_url is None:
        return "ok"
    context = None
    if spec.health_tls is not None:
        ca, cert, key = spec.health_tls
        context = ssl.create_default_context(cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
    elif spec.health_insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(spec.health_url, timeout=timeout, context=context) as response:
            return "ok" if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (OSError, ssl.SSLError) as err:
        reason = getattr(err, "reason", err)
        return f"unreachable ({reason})"


def probe_socket(path: Path, timeout: float = 2.0) -> str:
    """'ok' if something accepts connections on the unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(str(path))
        except FileNotFoundError:
            return "no socket yet"
        except OSError as err:
            return f"unreachable ({err.strerror or err})"
    return "ok"
