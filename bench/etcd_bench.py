"""Store benchmark: kplane-etcd (python -m etcd_raft) against real etcd 3.4, same machine, same run.

    .venv/bin/python -m bench.etcd_bench --members 1 --seconds 5

For each store it starts a fresh cluster (TLS for clients and peers, fsync on, heartbeat 100 ms,
election timeout 1000 ms, data dirs in one temp dir), points one asyncio load generator (our
EtcdClient, one client per 16 concurrent workers) at the leader and measures:

  memory      VmRSS of each member, idle and after loading --load-keys keys x 1 KiB
  latency     sequential Put p50/p99 (one client, one request in flight)
  throughput  Put/s at 64 and 256 requests in flight, --seconds each, with the servers' CPU
              seconds per Put (utime + stime from /proc/<pid>/stat, all members summed)
  range       linearizable and serializable Range/s of one key at 64 in flight
  list        a linearizable prefix Range of the --load-keys keys (10k x 1 KiB), one at a time
  watch       --watchers watchers of one key on 10 connections; each Put's delay until every
              watcher has its event (sequential Puts), p50/p99 over all (Put, watcher) pairs
  big         VmRSS and data-dir size after growing to --big-keys keys x 1 KiB, then the time
              from starting every member again (SIGTERM first) to the first linearizable Get

and prints one markdown table with kplane/etcd ratios. The load generator's own CPU use is
reported too: near 100 % of a core means the client, not the server, set the pace; and so is the
CPU used by any other process on the machine meanwhile, which should be near 0 for clean numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from etcd_raft.client.client import EtcdClient
from etcd_raft.client.errors import EtcdError
from etcd_raft.client.watch import Watcher
from pki import PkiSpec, init_pki

VALUE = os.urandom(1024)
WORKERS_PER_CLIENT = 16
WATCH_CONNECTIONS = 10
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ETCD_BINARY = "/usr/bin/etcd"
LEADER_WAIT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants, in seconds (0 once it is gone)."""
    total = 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of proc(5)
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += process_cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def disk_mib(path: Path) -> float:
    """Bytes allocated on disk under `path` (what `du -s` counts: preallocated WAL space too)."""
    total = 0
    for file in path.rglob("*"):
        if file.is_file():
            total += file.stat().st_blocks * 512
    return total / 2**20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine_cpu_seconds() -> tuple[float, float]:
    """CPU seconds (all cores) the machine spent in processes (user + nice + system) and in
    interrupts (irq + softirq: loopback networking, disk completions), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[0:3]) / CLOCK_TICKS, (fields[5] + fields[6]) / CLOCK_TICKS


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class Node:
    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


class Cluster:
    """`members` processes of one store (`kind` "kplane" or "etcd") with mTLS everywhere."""

    def __init__(self, kind: str, members: int, root: Path, pki: Path) -> None:
        self.kind = kind
        self.root = root
        self.pki = pki
        self.nodes = [
            Node(
                f"m{i}",
                f"https://127.0.0.1:{free_port()}",
                f"https://127.0.0.1:{free_port()}",
                root / f"m{i}",
            )
            for i in range(1, members + 1)
        ]

    def argv(self, node: Node) -> list[str]:
        pki = self.pki
        program = [ETCD_BINARY] if self.kind == "etcd" else [sys.executable, "-m", "etcd_raft"]
        return [
            *program,
            f"--name={node.name}",
            f"--data-dir={node.data_dir}",
            f"--listen-client-urls={node.client_url}",
            f"--advertise-client-urls={node.client_url}",
            f"--listen-peer-urls={node.peer_url}",
            f"--initial-advertise-peer-urls={node.peer_url}",
            "--initial-cluster=" + ",".join(f"{n.name}={n.peer_url}" for n in self.nodes),
            "--initial-cluster-state=new",
            "--initial-cluster-token=bench",
            "--heartbeat-interval=100",
            "--election-timeout=1000",
            f"--cert-file={pki}/etcd/server.crt",
            f"--key-file={pki}/etcd/server.key",
            f"--trusted-ca-file={pki}/etcd/ca.crt",
            "--client-cert-auth",
            f"--peer-cert-file={pki}/etcd/peer.crt",
            f"--peer-key-file={pki}/etcd/peer.key",
            f"--peer-trusted-ca-file={pki}/etcd/ca.crt",
            "--peer-client-cert-auth",
        ]

    def start(self) -> None:
        for node in self.nodes:
            log = (self.root / f"{node.name}.log").open("ab")
            node.process = subprocess.Popen(self.argv(node), stdout=log, stderr=log)
            log.close()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def client(self, endpoint: str) -> EtcdClient:
        return EtcdClient(
            [endpoint],
            ca_file=self.pki / "etcd/ca.crt",
            cert_file=self.pki / "apiserver-etcd-client.crt",
            key_file=self.pki / "apiserver-etcd-client.key",
            timeout=10.0,
        )

    async def wait_for_leader(self) -> Node:
        """The member every member agrees leads, once all of them answer (within LEADER_WAIT s)."""
        deadline = time.monotonic() + LEADER_WAIT
        while time.monotonic() < deadline:
            for node in self.nodes:
                assert node.process is not None and node.process.poll() is None, f"{node.name} exited"
            leaders: set[int] = set()
            ids: dict[int, Node] = {}
            try:
                for node in self.nodes:
                    client = self.client(node.client_url)
                    try:
                        status = await asyncio.wait_for(client.status(), 2)
                    finally:
                        await client.close()
                    leaders.add(status.leader)
                    ids[status.header.member_id] = node
            except (EtcdError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            if len(leaders) == 1 and 0 not in leaders and (leader := leaders.pop()) in ids:
                return ids[leader]
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.kind}: no leader within {LEADER_WAIT} s")

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(node.pid) for node in self.nodes)

    def rss(self) -> list[float]:
        return [rss_mib(node.pid) for node in self.nodes]


@dataclass
class Load:
    ops: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    other_cpu: float = 0.0  # by processes that are neither the servers nor this load generator
    irq_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_load(
    cluster: Cluster,
    clients: list[EtcdClient],
    concurrency: int,
    operation: Callable[[EtcdClient, int, int], Awaitable[object]],
    *,
    seconds: float | None = None,
    total: int | None = None,
) -> Load:
    """`concurrency` workers each looping `operation(client, worker, n)` until `seconds` pass or
    `total` operations are started; worker w uses clients[w // WORKERS_PER_CLIENT]."""
    load = Load()
    started = 0
    deadline = time.monotonic() + seconds if seconds is not None else float("inf")

    async def worker(index: int) -> None:
        nonlocal started
        client = clients[index // WORKERS_PER_CLIENT]
        n = 0
        while time.monotonic() < deadline and (total is None or started < total):
            started += 1
            begin = time.perf_counter()
            try:
                await operation(client, index, n)
            except EtcdError:
                load.errors += 1
            else:
                load.ops += 1
                load.latencies.append(time.perf_counter() - begin)
            n += 1

    cpu_before, self_before = cluster.cpu_seconds(), self_cpu_seconds()
    processes_before, irq_before = machine_cpu_seconds()
    begin = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    load.seconds = time.perf_counter() - begin
    load.server_cpu = cluster.cpu_seconds() - cpu_before
    load.client_cpu = self_cpu_seconds() - self_before
    processes, irq = machine_cpu_seconds()
    load.other_cpu = max(0.0, processes - processes_before - load.server_cpu - load.client_cpu)
    load.irq_cpu = irq - irq_before
    return load


async def put_key(client: EtcdClient, worker: int, n: int, prefix: str) -> None:
    await client.put(f"/bench/{prefix}/{worker}/{n}", VALUE)


async def measure(cluster: Cluster, args: argparse.Namespace) -> dict[str, float]:
    """Every metric for one running cluster."""
    results: dict[str, float] = {}
    leader = await cluster.wait_for_leader()
    count = max(1, 256 // WORKERS_PER_CLIENT)
    clients = [cluster.client(leader.client_url) for _ in range(count)]
    try:
        for client in clients:  # connect every channel before anything is timed
            await client.get("/bench/warmup")

        rss = cluster.rss()
        results["rss_idle"] = max(rss)

        async def load_put(client: EtcdClient, worker: int, n: int) -> None:
            await put_key(client, worker, n, "load")

        loaded = await run_load(cluster, clients, 64, load_put, total=args.load_keys)
        rss = cluster.rss()
        results["rss_loaded"] = max(rss)
        results["rss_loaded_sum"] = sum(rss)
        results["load_rate"] = loaded.rate

        async def seq_put(client: EtcdClient, worker: int, n: int) -> None:
            await put_key(client, worker, n, "seq")

        seq = await run_load(cluster, clients, 1, seq_put, total=args.seq_ops)
        results["seq_p50_ms"] = percentile(seq.latencies, 0.50) * 1000
        results["seq_p99_ms"] = percentile(seq.latencies, 0.99) * 1000

        for concurrency in (64, 256):

            async def tp_put(client: EtcdClient, worker: int, n: int, c: int = concurrency) -> None:
                await client.put(f"/bench/tp{c}/{worker}/{n % 100}", VALUE)

            tp = await run_load(cluster, clients, concurrency, tp_put, seconds=args.seconds)
            results[f"put{concurrency}_rate"] = tp.rate
            results[f"put{concurrency}_p99_ms"] = percentile(tp.latencies, 0.99) * 1000
            results[f"put{concurrency}_cpu_ms"] = tp.server_cpu / max(tp.ops, 1) * 1000
            results[f"put{concurrency}_client_cpu"] = tp.client_cpu / tp.seconds * 100
            results[f"put{concurrency}_errors"] = tp.errors
            results[f"put{concurrency}_other_cpu"] = tp.other_cpu / tp.seconds * 100
            results[f"put{concurrency}_irq_cpu"] = tp.irq_cpu / tp.seconds * 100

        await clients[0].put("/bench/range", VALUE)
        for serializable in (False, True):

            async def get(client: EtcdClient, worker: int, n: int, s: bool = serializable) -> None:
                await client.get("/bench/range", serializable=s)

            reads = await run_load(cluster, clients, 64, get, seconds=args.seconds)
            name = "range_ser" if serializable else "range_lin"
            results[f"{name}_rate"] = reads.rate
            results[f"{name}_cpu_ms"] = reads.server_cpu / max(reads.ops, 1) * 1000
            results[f"{name}_client_cpu"] = reads.client_cpu / reads.seconds * 100

        async def list_loaded(client: EtcdClient, worker: int, n: int) -> None:
            found = await client.get("/bench/load/", prefix=True)
            assert len(found.kvs) == args.load_keys, f"listed {len(found.kvs)} keys"

        lists = await run_load(cluster, clients, 1, list_loaded, total=args.list_ops)
        results["list_p50_ms"] = percentile(lists.latencies, 0.50) * 1000
        results["list_cpu_ms"] = lists.server_cpu / max(lists.ops, 1) * 1000

        results.update(await watch_fan_out(cluster, leader, clients[0], args))

        async def grow(client: EtcdClient, worker: int, n: int) -> None:
            await put_key(client, worker, n, "big")

        await run_load(cluster, clients, 64, grow, total=max(0, args.big_keys - args.load_keys))
        rss = cluster.rss()
        results["rss_big"], results["rss_big_sum"] = max(rss), sum(rss)
        sizes = [disk_mib(node.data_dir) for node in cluster.nodes]
        results["disk_big"], results["disk_big_sum"] = max(sizes), sum(sizes)
    finally:
        for client in clients:
            await client.close()
    results["restart_s"] = await restart_to_serving(cluster)
    return results


async def watch_fan_out(
    cluster: Cluster, leader: Node, writer: EtcdClient, args: argparse.Namespace
) -> dict[str, float]:
    """Delay from a Put's call to each watcher's receipt of its event, over --watch-puts Puts."""
    connections = [cluster.client(leader.client_url) for _ in range(WATCH_CONNECTIONS)]
    delays: list[float] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            watchers = [
                await stack.enter_async_context(connections[i % WATCH_CONNECTIONS].watch("/bench/watch"))
                for i in range(args.watchers)
            ]
            cpu_before = cluster.cpu_seconds()
            for n in range(args.watch_puts):
                sent = time.perf_counter()

                async def receive(watcher: Watcher, value: bytes = b"%d" % n, sent: float = sent) -> float:
                    async for batch in watcher:
                        if any(event.kv.value == value for event in batch.events):
                            return time.perf_counter() - sent
                    raise RuntimeError("the watch ended")

                receipts = [asyncio.ensure_future(receive(w)) for w in watchers]
                await writer.put("/bench/watch", b"%d" % n)
                delays.extend(await asyncio.wait_for(asyncio.gather(*receipts), 10))
            cpu = cluster.cpu_seconds() - cpu_before
    finally:
        for connection in connections:
            await connection.close()
    return {
        "watch_p50_ms": percentile(delays, 0.50) * 1000,
        "watch_p99_ms": percentile(delays, 0.99) * 1000,
        "watch_cpu_ms": cpu / args.watch_puts * 1000,
    }


async def restart_to_serving(cluster: Cluster) -> float:
    """Seconds from starting every member again (after a SIGTERM) to the first linearizable Get."""
    cluster.stop()
    began = time.monotonic()
    cluster.start()
    leader = await cluster.wait_for_leader()
    client = cluster.client(leader.client_url)
    try:
        while True:
            try:
                await client.get("/bench/range")
                return time.monotonic() - began
            except EtcdError:
                await asyncio.sleep(0.05)
    finally:
        await client.close()


ROWS: list[tuple[str, str, str]] = [
    # key, label, format
    ("seq_p50_ms", "(a) sequential Put p50, ms (lower is better)", "{:.2f}"),
    ("seq_p99_ms", "(a) sequential Put p99, ms", "{:.2f}"),
    ("put64_rate", "(b) Put/s, 64 in flight (higher is better)", "{:.0f}"),
    ("put64_p99_ms", "(b) Put p99 at 64 in flight, ms", "{:.1f}"),
    ("put256_rate", "(b) Put/s, 256 in flight", "{:.0f}"),
    ("put256_p99_ms", "(b) Put p99 at 256 in flight, ms", "{:.1f}"),
    ("range_lin_rate", "(c) linearizable Range/s, 64 in flight", "{:.0f}"),
    ("range_ser_rate", "(c) serializable Range/s, 64 in flight", "{:.0f}"),
    ("put64_cpu_ms", "(d) server CPU ms per Put, 64 in flight (all members)", "{:.3f}"),
    ("put256_cpu_ms", "(d) server CPU ms per Put, 256 in flight (all members)", "{:.3f}"),
    ("range_lin_cpu_ms", "(d) server CPU ms per linearizable Range", "{:.3f}"),
    ("rss_idle", "(e) VmRSS idle, MiB (largest member)", "{:.0f}"),
    ("rss_loaded", "(e) VmRSS after 10k x 1 KiB, MiB (largest member)", "{:.0f}"),
    ("rss_loaded_sum", "(e) VmRSS after 10k x 1 KiB, MiB (all members)", "{:.0f}"),
    ("list_p50_ms", "(f) list of 10k x 1 KiB keys p50, ms", "{:.0f}"),
    ("list_cpu_ms", "(f) server CPU ms per 10k-key list", "{:.0f}"),
    ("watch_p50_ms", "(g) watch fan-out to 100 watchers: Put -> event p50, ms", "{:.2f}"),
    ("watch_p99_ms", "(g) watch fan-out to 100 watchers: Put -> event p99, ms", "{:.2f}"),
    ("watch_cpu_ms", "(g) server CPU ms per Put delivered to 100 watchers", "{:.2f}"),
    ("rss_big", "(h) VmRSS with 100k x 1 KiB, MiB (largest member)", "{:.0f}"),
    ("rss_big_sum", "(h) VmRSS with 100k x 1 KiB, MiB (all members)", "{:.0f}"),
    ("disk_big", "(h) data dir with 100k x 1 KiB, MiB (largest member)", "{:.0f}"),
    ("disk_big_sum", "(h) data dirs with 100k x 1 KiB, MiB (all members)", "{:.0f}"),
    ("restart_s", "(h) restart to first linearizable Get with 100k keys, s", "{:.2f}"),
    ("put64_client_cpu", "load generator CPU %, Put 64", "{:.0f}"),
    ("put256_client_cpu", "load generator CPU %, Put 256", "{:.0f}"),
    ("range_ser_client_cpu", "load generator CPU %, serializable Range", "{:.0f}"),
    ("put256_irq_cpu", "irq + softirq CPU %, Put 256", "{:.0f}"),
    ("put256_other_cpu", "other processes' CPU %, Put 256 (noise check)", "{:.0f}"),
    ("put256_errors", "failed Puts at 256 in flight", "{:.0f}"),
]


def table(members: int, kplane: dict[str, float], etcd: dict[str, float]) -> str:
    lines = [
        f"| {members} member{'s' if members > 1 else ''} | kplane-etcd | etcd 3.4 | kplane/etcd |",
        "|---|---:|---:|---:|",
    ]
    for key, label, fmt in ROWS:
        ours, theirs = kplane.get(key, float("nan")), etcd.get(key, float("nan"))
        ratio = f"{ours / theirs:.2f}x" if theirs else "-"
        lines.append(f"| {label} | {fmt.format(ours)} | {fmt.format(theirs)} | {ratio} |")
    return "\n".join(lines)


def verdict(kplane: dict[str, float], etcd: dict[str, float]) -> str:
    throughput = min(kplane[f"put{c}_rate"] / etcd[f"put{c}_rate"] for c in (64, 256))
    cpu = max(kplane[f"put{c}_cpu_ms"] / etcd[f"put{c}_cpu_ms"] for c in (64, 256))
    met = {True: "met", False: "NOT met"}
    return (
        f"Put throughput >= 0.5x etcd: {met[throughput >= 0.5]} (worst {throughput:.2f}x); "
        f"server CPU per Put <= 3x etcd: {met[cpu <= 3]} (worst {cpu:.2f}x)"
    )


async def bench_store(kind: str, args: argparse.Namespace, root: Path, pki: Path) -> dict[str, float]:
    directory = root / kind
    directory.mkdir()
    cluster = Cluster(kind, args.members, directory, pki)
    try:
        cluster.start()
        return await measure(cluster, args)
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1, help="members per cluster (1 or 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each time-bounded phase")
    parser.add_argument("--seq-ops", type=int, default=500, help="sequential Puts for the latency phase")
    parser.add_argument("--load-keys", type=int, default=10_000, help="1 KiB keys loaded before VmRSS")
    parser.add_argument("--list-ops", type=int, default=20, help="sequential lists of the loaded keys")
    parser.add_argument("--watchers", type=int, default=100, help="watchers for the fan-out phase")
    parser.add_argument("--watch-puts", type=int, default=200, help="Puts watched in the fan-out phase")
    parser.add_argument("--big-keys", type=int, default=100_000, help="1 KiB keys for (h)")
    parser.add_argument("--stores", default="kplane,etcd", help="which stores, comma separated")
    parser.add_argument("--workdir", default=None, help="parent of the temp dir (default: the system's)")
    args = parser.parse_args(argv)
    if not Path(ETCD_BINARY).exists():
        parser.error(f"{ETCD_BINARY} not found")

    root = Path(tempfile.mkdtemp(prefix="kplane-bench-", dir=args.workdir))
    try:
        pki = root / "pki"
        init_pki(pki, PkiSpec())
        results: dict[str, dict[str, float]] = {}
        for kind in args.stores.split(","):
            began = time.monotonic()
            results[kind] = asyncio.run(bench_store(kind, args, root, pki))
            took = time.monotonic() - began
            print(f"# {kind}: {args.members} member(s) measured in {took:.0f} s", flush=True)
        kplane, etcd = results.get("kplane", {}), results.get("etcd", {})
        print()
        print(table(args.members, kplane, etcd))
        if kplane and etcd:
            print()
            print(verdict(kplane, etcd))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
