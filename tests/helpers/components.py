"""kplane-scheduler and kplane-controller-manager as real processes against a ControlPlane, each
with its own kubeconfig identity (system:kube-scheduler, system:kube-controller-manager), optional
config file or extra flags, and lease timings short enough for tests."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from helpers.control_plane import ControlPlane
from helpers.etcd_member import free_port


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 20
) -> None:
    """Signal a process this test started and wait for it; SIGKILL if it outlives `timeout`."""
    if process is not None and process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ComponentProcess:
    module = ""
    kubeconfig = ""

    def __init__(
        self,
        cp: ControlPlane,
        name: str,
        *,
        config: str | None = None,
        leader_elect: bool = True,
        args: tuple[str, ...] = (),
    ) -> None:
        self.cp = cp
        self.name = name
        self.port = free_port()
        self.log_path = cp.root / f"{name}.log"
        self.config_path: Path | None = None
        self.argv = [
            sys.executable, "-m", self.module, *args,
            f"--secure-port={self.port}", "--bind-address=127.0.0.1",
            f"--leader-elect={'true' if leader_elect else 'false'}",
            "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s",
            "--leader-elect-retry-period=0.5s",
            "--v=2",
        ]  # fmt: skip
        if config is not None:
            self.config_path = cp.root / f"{name}.yaml"
            self.config_path.write_text(config.replace("KUBECONFIG", str(cp.root / "kube" / self.kubeconfig)))
            self.argv.append(f"--config={self.config_path}")
        else:
            self.argv.append(f"--kubeconfig={cp.root / 'kube' / self.kubeconfig}")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ComponentProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=log)
        self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 20) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()[-3000:]
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{self.port}/healthz", context=context, timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not healthy:\n{self.log()[-3000:]}")

    def metrics(self) -> str:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with urllib.request.urlopen(
            f"https://127.0.0.1:{self.port}/metrics", context=context, timeout=5
        ) as r:
            return r.read().decode()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class SchedulerProcess(ComponentProcess):
    module, kubeconfig = "scheduler", "scheduler.conf"


class ControllerManagerProcess(ComponentProcess):
    module, kubeconfig = "controller_manager", "controller-manager.conf"

    def __init__(self, cp: ControlPlane, name: str, *, args: tuple[str, ...] = (), **options: Any) -> None:
        pki = (
            f"--root-ca-file={cp.pki / 'ca.crt'}",
            f"--service-account-private-key-file={cp.pki / 'sa.key'}",
        )
        super().__init__(cp, name, args=(*pki, *args), **options)
