"""A kplane-etcd cluster whose members each run in their own network namespace on a private bridge,
so that partitions are real: iptables rules inside a member's namespace drop its traffic to and
from chosen peers, while the test process (the host, on the bridge) still reaches every member.

Nothing can leave the machine: the bridge has a random private /24 that no interface or route on
the host uses yet, the namespaces have no default route, and the host does not forward.

    with NetnsCluster(tmp_path, 3) as cluster:      # bridge, namespaces, PKI, members started
        cluster.cut(cluster.nodes[0], cluster.nodes[1])
        cluster.heal()
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pki import PkiSpec, init_pki

CLIENT_PORT = 2379
PEER_PORT = 2380


def run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def unused_subnet() -> ipaddress.IPv4Network:
    """A random 10.200-250.x.0/24 that overlaps no address or route of the host."""
    taken = [
        ipaddress.ip_network(word, strict=False)
        for word in (run("ip", "-4", "addr") + run("ip", "-4", "route")).split()
        if word[:1].isdigit() and "." in word
    ]
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{200 + secrets.randbelow(51)}.{secrets.randbelow(256)}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise RuntimeError("no free 10.200-250.x.0/24 subnet")


@dataclass
class NetnsNode:
    name: str  # m1, m2, ...
    netns: str
    ip: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"https://{self.ip}:{CLIENT_PORT}"

    @property
    def peer_url(self) -> str:
        return f"https://{self.ip}:{PEER_PORT}"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NetnsCluster:
    """`size` members on their own bridge; use as a context manager, which tears everything down."""

    def __init__(self, root: Path, size: int) -> None:
        self.root = root
        self.tag = f"kpt-{secrets.token_hex(3)}"  # the bridge's name; <= 15 characters with suffixes
        self.subnet = unused_subnet()
        hosts = list(self.subnet.hosts())
        self.host_ip = str(hosts[0])
        self.nodes = [
            NetnsNode(f"m{i}", f"{self.tag}-m{i}", str(hosts[10 + i]), root / f"m{i}")
            for i in range(1, size + 1)
        ]
        self.pki = root / "pki"
        init_pki(self.pki, PkiSpec(etcd_sans=tuple(node.ip for node in self.nodes)))

    # ---- lifetime ----

    def __enter__(self) -> NetnsCluster:
        try:
            self._create_network()
            for node in self.nodes:
                self.start(node)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _create_network(self) -> None:
        prefix = self.subnet.prefixlen
        run("ip", "link", "add", self.tag, "type", "bridge")
        run("ip", "addr", "add", f"{self.host_ip}/{prefix}", "dev", self.tag)
        run("ip", "link", "set", self.tag, "up")
        for number, node in enumerate(self.nodes, 1):
            veth = f"{self.tag}-v{number}"
            run("ip", "netns", "add", node.netns)
            run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
            run("ip", "link", "set", veth, "master", self.tag, "up")
            run("ip", "-n", node.netns, "addr", "add", f"{node.ip}/{prefix}", "dev", "eth0")
            run("ip", "-n", node.netns, "link", "set", "eth0", "up")
            run("ip", "-n", node.netns, "link", "set", "lo", "up")

    def close(self) -> None:
        """Stop every member, then delete the veths (at once; a namespace's deletion takes its veth
        only about a second later), the namespaces and the bridge. Each step is attempted even
        when an earlier one failed; what did not exist is skipped silently."""
        for node in self.nodes:
            self.stop(node)
        for number, node in enumerate(self.nodes, 1):
            subprocess.run(["ip", "link", "del", f"{self.tag}-v{number}"], capture_output=True, timeout=30)
            subprocess.run(["ip", "netns", "del", node.netns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.tag], capture_output=True, timeout=30)

    def leftovers(self) -> list[str]:
        """Links and namespaces of this cluster that still exist."""
        names = run("ip", "-o", "link").split() + run("ip", "netns", "list").split()
        return sorted({name.split("@")[0].rstrip(":") for name in names if name.startswith(self.tag)})

    # ---- members ----

    def start(self, node: NetnsNode) -> None:
        pki = self.pki
        initial = ",".join(f"{n.name}={n.peer_url}" for n in self.nodes)
        argv = [
            "ip",
            "netns",
            "exec",
            node.netns,  # `ip netns exec` execs, so the Popen PID is the member's own
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
            "--initial-cluster-state=new",
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
        ]
        log = (self.root / f"{node.name}.log").open("ab")
        node.process = subprocess.Popen(argv, stdout=log, stderr=log, cwd=self.root)

    def stop(self, node: NetnsNode) -> None:
        """SIGTERM, and SIGKILL if it has not exited after a grace period."""
        if not node.running():
            return
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()

    def log(self, node: NetnsNode) -> str:
        path = self.root / f"{node.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ---- partitions ----

    def cut(self, a: NetnsNode, b: NetnsNode) -> None:
        """Drop all traffic between `a` and `b`, in both directions and in both namespaces; their
        traffic with the host (the clients) and with other members is untouched."""
        for node, other in ((a, b), (b, a)):
            run("ip", "netns", "exec", node.netns, "iptables", "-I", "INPUT", "-s", other.ip, "-j", "DROP")
            run("ip", "netns", "exec", node.netns, "iptables", "-I", "OUTPUT", "-d", other.ip, "-j", "DROP")

    def isolate(self, node: NetnsNode) -> None:
        for other in self.nodes:
            if other is not node:
                self.cut(node, other)

    def heal(self) -> None:
        for node in self.nodes:
            run("ip", "netns", "exec", node.netns, "iptables", "-F", "INPUT")
            run("ip", "netns", "exec", node.netns, "iptables", "-F", "OUTPUT")

    # ---- etcdctl from the host ----

    def etcdctl(self, *args: str, nodes: list[NetnsNode] | None = None) -> subprocess.CompletedProcess[str]:
        command = [
            "etcdctl",
            "--endpoints=" + ",".join(n.client_url for n in nodes or self.nodes),
            f"--cacert={self.pki}/etcd/ca.crt",
            f"--cert={self.pki}/apiserver-etcd-client.crt",
            f"--key={self.pki}/apiserver-etcd-client.key",
            "--command-timeout=2s",
            "--dial-timeout=1s",
            *args,
        ]
        env = {**os.environ, "ETCDCTL_API": "3"}
        return subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)

    def statuses(self, nodes: list[NetnsNode] | None = None) -> dict[str, dict[str, Any]]:
        """`etcdctl endpoint status` of the members that answered, by member name."""
        result = self.etcdctl("endpoint", "status", "-w", "json", nodes=nodes)
        by_url = {entry["Endpoint"]: entry["Status"] for entry in json.loads(result.stdout or "[]")}
        return {n.name: by_url[n.client_url] for n in nodes or self.nodes if n.client_url in by_url}

    def hashes(self, revision: int) -> dict[str, int]:
        """`etcdctl endpoint hashkv --rev` of every member that answered, by member name."""
        result = self.etcdctl("endpoint", "hashkv", f"--rev={revision}", "-w", "json")
        by_url = {entry["Endpoint"]: entry["HashKV"]["hash"] for entry in json.loads(result.stdout or "[]")}
        return {n.name: by_url[n.client_url] for n in self.nodes if n.client_url in by_url}

    def wait_for_leader(
        self,
        nodes: list[NetnsNode] | None = None,
        *,
        other_than: NetnsNode | None = None,
        timeout: float = 20,
    ) -> NetnsNode:
        """The member that every one of `nodes` (default: all) names as leader, once they agree on
        one (that is not `other_than`)."""
        nodes = nodes or self.nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses(nodes)
            leaders = {status.get("leader", 0) for status in statuses.values()}
            if len(statuses) == len(nodes) and len(leaders) == 1 and 0 not in leaders:
                leader = self.node_of(leaders.pop())
                if leader is not other_than:
                    return leader
            time.sleep(0.1)
        raise AssertionError(f"{[n.name for n in nodes]} agreed on no new leader within {timeout} s")

    def wait_leaderless(self, node: NetnsNode, timeout: float = 10) -> None:
        """Until `node` says it has no leader (e.g. once it is cut off from the quorum)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.statuses([node]).get(node.name, {}).get("leader", 0) == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"{node.name} still follows a leader after {timeout} s")

    def node_of(self, member_id: int) -> NetnsNode:
        for name, status in self.statuses().items():
            if status["header"]["member_id"] == member_id:
                return next(n for n in self.nodes if n.name == name)
        raise AssertionError(f"no member answers as {member_id:x}")

    def wait_converged(self, timeout: float = 10) -> tuple[int, int]:
        """(revision, hash) once every member has the same revision and the same HashKV at it."""
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            statuses = self.statuses()
            revisions = {s["header"]["revision"] for s in statuses.values()}
            seen = {name: s["header"]["revision"] for name, s in statuses.items()}
            if len(statuses) == len(self.nodes) and len(revisions) == 1:
                revision = revisions.pop()
                hashes = self.hashes(revision)
                seen = (revision, hashes)
                if len(hashes) == len(self.nodes) and len(set(hashes.values())) == 1:
                    return revision, next(iter(hashes.values()))
            time.sleep(0.1)
        raise AssertionError(f"members did not converge within {timeout} s: {seen}")
