"""Three kplane-etcd members as separate processes with mTLS between them and for clients: replication,
a leader killed with SIGKILL during writes, and restart from disk. Real etcdctl as the client."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pki import PkiSpec, init_pki

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    running = Cluster(tmp_path, 3, getattr(request, "param", ()))
    try:
        for node in running.nodes:
            running.start(node)
        running.wait_for_leader()
        yield running
    finally:
        for node in running.nodes:
            running.stop(node, signal.SIGKILL)


def test_writes_replicate_and_every_member_lists_the_others(cluster: Cluster) -> None:
    _, second, third = cluster.nodes
    cluster.etcdctl("put", "replicated", "yes", endpoints=[second])
    for node in cluster.nodes:
        got = cluster.etcdctl("get", "replicated", "--print-value-only", endpoints=[node])
        assert got.stdout.strip() == "yes"
    deadline = time.monotonic() + 10
    while True:
        members = json.loads(cluster.etcdctl("member", "list", "-w", "json", endpoints=[third]).stdout)[
            "members"
        ]
        if all(m.get("clientURLs") for m in members) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(m["name"] for m in members) == ["m1", "m2", "m3"]
    assert sorted(u for m in members for u in m["clientURLs"]) == sorted(n.client_url for n in cluster.nodes)


def test_killing_the_leader_loses_no_acknowledged_write(cluster: Cluster) -> None:
    leader = cluster.node_of(cluster.wait_for_leader())
    acknowledged = []
    for i in range(20):
        if i == 10:
            cluster.stop(leader, signal.SIGKILL)
        result = cluster.etcdctl("put", f"load/{i:03d}", str(i), check=False)
        if result.returncode == 0:
            acknowledged.append(f"load/{i:03d}")
    new_leader = cluster.wait_for_leader()
    assert new_leader != 0
    keys = cluster.etcdctl("get", "load/", "--prefix", "--keys-only").stdout.split()
    assert set(acknowledged) <= set(keys)
    assert len(acknowledged) >= 15  # the two survivors keep serving after a new election

    cluster.start(leader)  # the old leader comes back from its disk and catches up
    cluster.wait_for_leader()
    deadline = time.monotonic() + 15
    while True:
        keys = cluster.etcdctl(
            "get", "load/", "--prefix", "--keys-only", "--consistency=s", endpoints=[leader], check=False
        ).stdout.split()
        if set(acknowledged) <= set(keys) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(acknowledged) <= set(keys)


def test_members_stop_cleanly_on_sigterm(cluster: Cluster) -> None:
    for node in cluster.nodes:
        assert node.process is not None
        node.process.send_signal(signal.SIGTERM)
    for node in cluster.nodes:
        assert node.process is not None
        assert node.process.wait(timeout=15) == 0


def test_members_are_added_to_five_and_removed_back_to_three(cluster: Cluster) -> None:
    cluster.etcdctl("put", "before", "growth")
    added = [cluster.add_node(), cluster.add_node()]
    cluster.wait_for_leader()
    for node in added:  # each new member catches up with the log, then serves reads
        deadline = time.monotonic() + 20
        while (
            cluster.etcdctl(
                "get", "before", "--print-value-only", endpoints=[node], check=False
            ).stdout.strip()
            != "growth"
        ):
            assert time.monotonic() < deadline, f"{node.name} did not catch up"
            time.sleep(0.2)
    members = json.loads(cluster.etcdctl("member", "list", "-w", "json").stdout)["members"]
    assert len(members) == 5
    cluster.etcdctl("put", "with", "five")

    for node in added:
        member_id = next(m["ID"] for m in members if node.peer_url in m["peerURLs"])
        cluster.etcdctl("member", "remove", f"{member_id:x}", endpoints=cluster.nodes[:3])
        cluster.stop(node)
    members = json.loads(cluster.etcdctl("member", "list", "-w", "json", endpoints=cluster.nodes[:3]).stdout)
    assert len(members["members"]) == 3
    cluster.etcdctl("put", "after", "shrink", endpoints=cluster.nodes[:3])
    assert (
        cluster.etcdctl("get", "with", "--print-value-only", endpoints=cluster.nodes[:1]).stdout.strip()
        == "five"
    )


def test_a_follower_forwards_keep_alives_and_ttl_questions_to_the_leader(cluster: Cluster) -> None:
    leader_id = cluster.wait_for_leader()
    follower = next(n for n in cluster.nodes if n is not cluster.node_of(leader_id))
    lease = cluster.etcdctl("lease", "grant", "30", endpoints=[follower]).stdout.split()[1]
    cluster.etcdctl("put", "held", "v", f"--lease={lease}", endpoints=[follower])
    kept = cluster.etcdctl("lease", "keep-alive", "--once", lease, endpoints=[follower]).stdout
    assert kept.strip().endswith("keepalived with TTL(30)")
    ttl = cluster.etcdctl("lease", "timetolive", lease, "--keys", endpoints=[follower]).stdout
    assert "granted with TTL(30s)" in ttl and "attached keys([held])" in ttl
    cluster.etcdctl("lease", "revoke", lease, endpoints=[follower])
    assert cluster.etcdctl("get", "held", endpoints=[follower]).stdout == ""


@pytest.mark.parametrize(
    "cluster", [("--snapshot-count=40", "--experimental-snapshot-catchup-entries=5")], indirect=True
)
def test_a_member_down_past_the_snapshot_count_catches_up_by_snapshot(cluster: Cluster) -> None:
    leader = cluster.node_of(cluster.wait_for_leader())
    lagging = next(n for n in cluster.nodes if n is not leader)
    cluster.stop(lagging)
    for i in range(120):  # several snapshots; the leader's log no longer reaches back
        cluster.etcdctl("put", f"snap/{i:03d}", str(i))
    assert list((leader.data_dir / "member" / "snap").glob("*.snap"))
    cluster.start(lagging)
    deadline = time.monotonic() + 30
    while True:
        got = cluster.etcdctl(
            "get",
            "snap/",
            "--prefix",
            "--keys-only",
            "-w",
            "json",
            "--consistency=s",
            endpoints=[lagging],
            check=False,
        )
        if got.returncode == 0 and json.loads(got.stdout).get("count") == 120:
            break
        assert time.monotonic() < deadline, "the lagging member did not catch up"
        time.sleep(0.3)
    assert (
        cluster.etcdctl("get", "snap/119", "--print-value-only", endpoints=[lagging]).stdout.strip() == "119"
    )
