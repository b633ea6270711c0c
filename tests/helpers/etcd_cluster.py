"""Several kplane-etcd members as separate processes with mTLS for clients and peers."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.etcd_member import free_port
from pki import PkiSpec, init_pki


@dataclass
class Node:
    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None


class Cluster:
    def __init__(self, root: Path, size: int, extra_flags: tuple[str, ...] = ()) -> None:
        self.root = root
        self.extra_flags = extra_flags
        self.pki = root / "pki"
        init_pki(self.pki, PkiSpec())
        self.nodes = [
            Node(
                f"m{i}",
                f"https://127.0.0.1:{free_port()}",
                f"https://127.0.0.1:{free_port()}",
                root / f"m{i}",
            )
            for i in range(1, size + 1)
        ]

    def add_node(self) -> Node:
        """A new member: `etcdctl member add`, then start it with --initial-cluster-state existing."""
        number = len(self.nodes) + 1
        node = Node(
            f"m{number}",
            f"https://127.0.0.1:{free_port()}",
            f"https://127.0.0.1:{free_port()}",
            self.root / f"m{number}",
        )
        self.etcdctl("member", "add", node.name, f"--peer-urls={node.peer_url}")
        self.nodes.append(node)
        self.start(node, state="existing")
        return node

    def start(self, node: Node, state: str = "new") -> None:
        pki = self.pki
        initial = ",".join(f"{n.name}={n.peer_url}" for n in self.nodes)
        argv = [
            sys.executable,
            "-m",
            "etcd_raft",
            f"--name={node.name}",
            f"--data-dir={node.data_dir}",
            f"--listen-client-urls={node.client_url}",
            f"--advertise-client-urls={node.client_url}",
            f"--listen-peer-urls={node.peer_url}",
            f"--initial-advertise-peer-urls={node.peer_url}",
            f"--initial-cluster={initial}",
            f"--initial-cluster-state={state}",
            "--heartbeat-interval=50",
            "--election-timeout=500",
            f"--cert-file={pki}/etcd/server.crt",
            f"--key-file={pki}/etcd/server.key",
            f"--trusted-ca-file={pki}/etcd/ca.crt",
            "--client-cert-auth",
            f"--peer-cert-file={pki}/etcd/peer.crt",
            f"--peer-key-file={pki}/etcd/peer.key",
            f"--peer-trusted-ca-file={pki}/etcd/ca.crt",
            "--peer-client-cert-auth",
            *self.extra_flags,
        ]
        log = (self.root / f"{node.name}.log").open("ab")
        node.process = subprocess.Popen(argv, stdout=log, stderr=log)

    def stop(self, node: Node, sig: int = signal.SIGTERM) -> None:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(sig)
            try:
                node.process.wait(timeout=15)
            finally:
                if node.process.poll() is None:
                    node.process.kill()
                    node.process.wait()

    def etcdctl(
        self, *args: str, endpoints: list[Node] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        chosen = endpoints or [n for n in self.nodes if n.process and n.process.poll() is None]
        command = [
            "etcdctl",
            "--endpoints=" + ",".join(n.client_url for n in chosen),
            f"--cacert={self.pki}/etcd/ca.crt",
            f"--cert={self.pki}/apiserver-etcd-client.crt",
            f"--key={self.pki}/apiserver-etcd-client.key",
            "--command-timeout=5s",
            "--dial-timeout=2s",
            *args,
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"}
        )
        if check:
            assert result.returncode == 0, result.stderr[-2000:]
        return result

    def statuses(self) -> list[dict]:  # type: ignore[type-arg]
        result = self.etcdctl("endpoint", "status", "-w", "json", check=False)
        return [entry["Status"] for entry in json.loads(result.stdout or "[]")]

    def wait_for_leader(self, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = {s.get("leader", 0) for s in self.statuses()}
            running = sum(1 for n in self.nodes if n.process and n.process.poll() is None)
            if len(leaders) == 1 and 0 not in leaders and len(self.statuses()) == running:
                return int(leaders.pop())
            time.sleep(0.2)
        raise AssertionError("no leader agreed on by every running member")

    def node_of(self, member_id: int) -> Node:
        for status, node in zip(
            self.statuses(), [n for n in self.nodes if n.process and n.process.poll() is None], strict=False
        ):
            if status["header"]["member_id"] == member_id:
                return node
        raise AssertionError(f"no running member {member_id:x}")
