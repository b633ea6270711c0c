"""Three kplane-etcd members as separate processes with mTLS between them and for clients: replication,
a leader killed with SIGKILL during writes, and restart from disk. Real etcdctl as the client."""

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.etcd_cluster import Cluster

pytestmark = pytest.mark.integration


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


def test_every_member_killed_and_restarted_comes_back_from_disk(cluster: Cluster) -> None:
    for i in range(20):
        cluster.etcdctl("put", f"durable/{i:02d}", str(i))
    revision = cluster.statuses()[0]["header"]["revision"]
    for node in cluster.nodes:  # no clean shutdown: what was acknowledged was on disk
        cluster.stop(node, signal.SIGKILL)
    for node in cluster.nodes:
        cluster.start(node)
    cluster.wait_for_leader()
    cluster.etcdctl("put", "after", "restart")
    for node in cluster.nodes:
        values = cluster.etcdctl("get", "durable/", "--prefix", "--print-value-only", endpoints=[node])
        assert values.stdout.split() == [str(i) for i in range(20)]
    deadline = time.monotonic() + 10
    while {s["header"]["revision"] for s in cluster.statuses()} != {revision + 1}:
        assert time.monotonic() < deadline, "the members did not converge on one revision"
        time.sleep(0.1)


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


def test_move_leader_hands_leadership_to_the_chosen_member(cluster: Cluster) -> None:
    leader_id = cluster.wait_for_leader()
    leader = cluster.node_of(leader_id)
    target = next(
        s["header"]["member_id"] for s in cluster.statuses() if s["header"]["member_id"] != leader_id
    )
    moved = cluster.etcdctl("move-leader", f"{target:x}", endpoints=[leader])
    assert "Leadership transferred" in moved.stdout
    assert cluster.wait_for_leader() == target
