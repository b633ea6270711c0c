"""One kplane-etcd (or real etcd) member as a process with mTLS for clients and peers, driven by etcdctl."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Member:
    pki: Path
    data_dir: Path
    name: str = "m1"
    token: str = "etcd-cluster"
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    extra_flags: tuple[str, ...] = ()
    command: tuple[str, ...] = (sys.executable, "-m", "etcd_raft")  # ("/usr/bin/etcd",): the real one
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def peer(self) -> str:
        return f"https://127.0.0.1:{self.peer_port}"

    def start(self) -> None:
        pki = self.pki
        argv = [
            *self.command,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.endpoint}",
            f"--advertise-client-urls={self.endpoint}",
            f"--listen-peer-urls={self.peer}",
            f"--initial-advertise-peer-urls={self.peer}",
            f"--initial-cluster={self.name}={self.peer}",
            f"--initial-cluster-token={self.token}",
            f"--cert-file={pki}/etcd/server.crt",
            f"--key-file={pki}/etcd/server.key",
            f"--trusted-ca-file={pki}/etcd/ca.crt",
            "--client-cert-auth",
            f"--peer-cert-file={pki}/etcd/peer.crt",
            f"--peer-key-file={pki}/etcd/peer.key",
            f"--peer-trusted-ca-file={pki}/etcd/ca.crt",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            *self.extra_flags,
        ]
        log = (self.data_dir.parent / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=log)
        deadline = time.monotonic() + 20
        while self.etcdctl("endpoint", "health", check=False).returncode != 0:
            assert self.process.poll() is None, "kplane-etcd exited at start"
            assert time.monotonic() < deadline, "kplane-etcd did not become healthy"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=10)
                # kplane-etcd exits 0 on SIGTERM; Go's etcd re-raises the signal after its clean-up
                assert code == (0 if self.command[0] == sys.executable else -signal.SIGTERM)
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()

    def etcdctl(
        self, *args: str, check: bool = True, stdin: str | None = None, cert: bool = True, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        credentials = (
            [f"--cert={self.pki}/apiserver-etcd-client.crt", f"--key={self.pki}/apiserver-etcd-client.key"]
            if cert
            else []
        )
        command = [
            "etcdctl",
            f"--endpoints={self.endpoint}",
            f"--cacert={self.pki}/etcd/ca.crt",
            "--command-timeout=5s",
            "--dial-timeout=2s",
            *credentials,
            *args,
        ]
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "ETCDCTL_API": "3"},
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.etcdctl(*args, "-w", "json").stdout)
