"""Concurrent clients against a 3-member kplane-etcd while real network partitions (iptables in each
member's network namespace, tests/helpers/netns_cluster.py) cut members off from each other but
not from the clients. Clients keep talking to both sides, so a member in the minority must neither
acknowledge a write nor serve a stale linearizable read: every key's history of Put, Get and Txn
(compare-and-swap) must be linearizable (tests/helpers/linearizability.py), the majority must keep
making progress, and after healing every member must converge on the same revision and hash."""

import asyncio
import math
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers.linearizability import Op, linearizable
from helpers.netns_cluster import NetnsCluster, NetnsNode

from etcd_raft.api.mvccpb.kv_pb2 import KeyValue
from etcd_raft.client import Compare, EtcdClient, EtcdError, NoLeaderError
from etcd_raft.client import Op as TxnOp

pytestmark = pytest.mark.integration

KEYS = ["part/a", "part/b", "part/c"]
PROBE = "part/probe"  # written only through the minority: it must never be applied
WORKERS = 6  # the first three each pinned to one member, the others failing over between all
# bench/etcd_linearizability.py stretches the phases for longer histories.
SCALE = float(os.environ.get("KPLANE_LINEARIZABILITY_SCALE", "1"))
WARMUP = 1.5 * SCALE  # seconds of traffic before the partition
PARTITION = 2.5 * SCALE  # at least this long, and until the scenario's checks during it are done
AFTER = 1.5 * SCALE  # seconds of traffic after healing


@dataclass
class Run:
    """What the workers recorded, and when the partition was made and healed (monotonic time)."""

    history: dict[str, list[Op]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    cut_at: float = math.inf
    healed_at: float = math.inf

    def writes_during_partition(self) -> int:
        """Writes acknowledged while the partition was in place (from call to return)."""
        return sum(
            1
            for ops in self.history.values()
            for op in ops
            if (op.kind == "put" or op.succeeded) and self.cut_at <= op.call and op.ret <= self.healed_at
        )


def client(cluster: NetnsCluster, nodes: list[NetnsNode], timeout: float = 1.0) -> EtcdClient:
    pki = cluster.pki
    return EtcdClient(
        [n.client_url for n in nodes],
        ca_file=pki / "etcd/ca.crt",
        cert_file=pki / "apiserver-etcd-client.crt",
        key_file=pki / "apiserver-etcd-client.key",
        timeout=timeout,
    )


def held_value(kvs: Sequence[KeyValue]) -> str | None:
    return kvs[0].value.decode() if kvs else None


async def attempt(
    etcd: EtcdClient, call: float, kind: str, key: str, value: str, expected: str | None
) -> tuple[Op, str | None]:
    """One operation: the Op the checker gets for it, and the value it saw the key holding."""
    if kind == "put":
        await etcd.put(key, value)
        return Op(call, time.monotonic(), "put", value), value
    if kind == "get":
        read = held_value((await etcd.get(key)).kvs)
        return Op(call, time.monotonic(), "get", read), read
    held = Compare.value(key) == expected if expected is not None else Compare.create_revision(key) == 0
    answer = await etcd.txn([held], [TxnOp.put(key, value)], [TxnOp.get(key)])
    if answer.succeeded:
        return Op(call, time.monotonic(), "cas", value, expected=expected, succeeded=True), value
    observed = held_value(answer.responses[0].response_range.kvs)
    ret = time.monotonic()
    return Op(call, ret, "cas", value, expected=expected, succeeded=False, observed=observed), observed


async def worker(cluster: NetnsCluster, number: int, stop: asyncio.Event, run: Run) -> None:
    """Random Put, Get and compare-and-swap Txn on KEYS until `stop`. A worker pinned to one
    member keeps asking it even when it is cut off (the point: the minority must not answer
    wrongly); the others start on different members and fail over from there. A swap expects the
    value this worker last saw, so that some succeed and some fail."""
    rng = random.Random(number)
    nodes = cluster.nodes
    first = number % len(nodes)
    pinned = number < len(nodes)
    last_seen: dict[str, str | None] = {}
    async with client(cluster, [nodes[first]] if pinned else nodes[first:] + nodes[:first]) as etcd:
        sequence = 0
        while not stop.is_set():
            key = rng.choice(KEYS)
            kind = rng.choices(("put", "get", "cas"), weights=(35, 35, 30))[0]
            sequence += 1
            value = f"w{number}-{sequence}"
            expected = last_seen.get(key) if kind == "cas" else None
            call = time.monotonic()
            try:
                op, last_seen[key] = await attempt(etcd, call, kind, key, value, expected)
            except EtcdError as err:
                run.errors[type(err).__name__] += 1
                if kind != "get":  # a write may still take effect; a failed read changes nothing
                    run.history[key].append(Op(call, math.inf, kind, value, expected=expected))
                continue
            run.history[key].append(op)


Partition = Callable[[NetnsCluster, Run], Awaitable[None]]


def run_with_partition(cluster: NetnsCluster, partition: Partition) -> None:
    """WARMUP of traffic, then `partition` (which cuts, checks what it likes and heals), then AFTER
    more; then every member must converge and every key's history be linearizable."""
    leader = cluster.wait_for_leader()
    term = cluster.statuses()[leader.name]["raftTerm"]
    run = Run()

    async def main() -> None:
        stop = asyncio.Event()
        workers = [asyncio.create_task(worker(cluster, w, stop, run)) for w in range(WORKERS)]
        await asyncio.sleep(WARMUP)
        await partition(cluster, run)
        assert run.healed_at < math.inf, "the scenario must heal the partition"
        await asyncio.sleep(AFTER)
        stop.set()
        await asyncio.gather(*workers)

    asyncio.run(main())
    revision, _ = cluster.wait_converged(timeout=5)
    after = cluster.wait_for_leader()
    after_term = cluster.statuses()[after.name]["raftTerm"]
    completed = sum(1 for ops in run.history.values() for op in ops if not op.unknown)
    print(
        f"leader {leader.name} (term {term}) -> {after.name} (term {after_term}),"
        f" revision {revision}, {completed} ops completed, {run.writes_during_partition()} writes"
        f" during the partition, client errors {dict(run.errors)}"
    )
    assert completed > 100, "too few operations completed to say anything"
    # check_minority_refuses asserts that the majority takes a write; this, that the history holds
    # some too, so that its check spans the partition (how many varies a lot from run to run).
    assert run.writes_during_partition() > 0, "no worker's write was acknowledged during the partition"
    for key, ops in run.history.items():
        if not linearizable(ops):
            dump = cluster.root / f"history-{key.replace('/', '-')}.txt"
            dump.write_text("\n".join(map(repr, sorted(ops, key=lambda op: op.call))))
            pytest.fail(f"{key}: history of {len(ops)} operations is not linearizable (see {dump})")


async def cut_off(cluster: NetnsCluster, run: Run, node: NetnsNode) -> None:
    await asyncio.to_thread(cluster.isolate, node)
    run.cut_at = time.monotonic()


async def heal(cluster: NetnsCluster, run: Run) -> None:
    await asyncio.sleep(max(0.0, run.cut_at + PARTITION - time.monotonic()))
    run.healed_at = time.monotonic()
    await asyncio.to_thread(cluster.heal)


async def check_minority_refuses(
    cluster: NetnsCluster, minority: NetnsNode, majority: list[NetnsNode]
) -> None:
    """The cut-off member notices that it has no leader; from then on it refuses writes and
    linearizable reads up front ("no leader", so PROBE can never be applied), while the majority
    accepts a write that the minority has not seen (so the partition is real)."""
    await asyncio.to_thread(cluster.wait_leaderless, minority, timeout=5)
    async with client(cluster, [minority], timeout=0.5) as cut, client(cluster, majority, timeout=5) as rest:
        with pytest.raises(NoLeaderError):
            await cut.put(PROBE, "minority")
        with pytest.raises(NoLeaderError):
            await cut.get(KEYS[0])
        accepted = await rest.put("part/majority", "yes")
        stale = await cut.get(KEYS[0], serializable=True)  # its own, possibly old, state
        assert stale.header.revision < accepted.header.revision


async def check_every_member_reads_soon(cluster: NetnsCluster, within: float) -> None:
    """Right after healing, each member serves a linearizable read within `within` seconds: a
    ReadIndex lost to the partition is sent again instead of holding reads until it times out."""
    for node in cluster.nodes:
        deadline = time.monotonic() + within
        async with client(cluster, [node], timeout=within) as pinned:
            while True:
                try:
                    await pinned.get(KEYS[0])
                    break
                except EtcdError:
                    assert time.monotonic() < deadline, f"{node.name} served no linearizable read"
                    await asyncio.sleep(0.05)


async def check_probe_never_applied(cluster: NetnsCluster) -> None:
    async with client(cluster, cluster.nodes, timeout=5) as etcd:
        assert not (await etcd.get(PROBE)).kvs, "a write sent only to the minority was applied"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetnsCluster]:
    with NetnsCluster(tmp_path, 3) as made:
        yield made
    assert not made.leftovers(), "links or namespaces left behind"


def test_an_isolated_leader_is_replaced_and_serves_nothing_stale(cluster: NetnsCluster) -> None:
    """The leader is cut off from both followers: they elect a new leader, the old one steps down
    (check quorum) and refuses writes and linearizable reads; after healing it catches up."""
    old = cluster.wait_for_leader()
    majority = [n for n in cluster.nodes if n is not old]

    async def partition(cluster: NetnsCluster, run: Run) -> None:
        await cut_off(cluster, run, old)
        new = await asyncio.to_thread(cluster.wait_for_leader, majority, other_than=old, timeout=8)
        print(f"{new.name} elected {time.monotonic() - run.cut_at:.2f} s after the cut")
        await check_minority_refuses(cluster, old, majority)
        await heal(cluster, run)
        await check_every_member_reads_soon(cluster, within=2.0)

    run_with_partition(cluster, partition)
    asyncio.run(check_probe_never_applied(cluster))


def test_an_isolated_follower_catches_up(cluster: NetnsCluster) -> None:
    """A follower is cut off from both others: the leader and the other follower carry on; the
    isolated one refuses writes and linearizable reads, and after healing it catches up."""
    leader = cluster.wait_for_leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    majority = [n for n in cluster.nodes if n is not follower]

    async def partition(cluster: NetnsCluster, run: Run) -> None:
        await cut_off(cluster, run, follower)
        await check_minority_refuses(cluster, follower, majority)
        await heal(cluster, run)

    run_with_partition(cluster, partition)
    asyncio.run(check_probe_never_applied(cluster))


def test_a_bridge_partition_keeps_the_cluster_going(cluster: NetnsCluster) -> None:
    """The leader loses only one follower, which still reaches the other follower (m1 - m2 - m3
    with m1-m3 cut, m1 the leader). The cut-off follower ends up without a leader (the middle one
    still hears from the leader, so it does not vote for a new one) and refuses what it cannot
    serve, while the cluster keeps serving throughout."""
    leader = cluster.wait_for_leader()
    middle, far = [n for n in cluster.nodes if n is not leader]

    async def partition(cluster: NetnsCluster, run: Run) -> None:
        await asyncio.to_thread(cluster.cut, leader, far)
        run.cut_at = time.monotonic()
        await check_minority_refuses(cluster, far, [leader, middle])
        await heal(cluster, run)

    run_with_partition(cluster, partition)
    asyncio.run(check_probe_never_applied(cluster))
