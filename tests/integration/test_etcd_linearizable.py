"""Concurrent clients against a 3-member kplane-etcd while its leader is killed and restarted; every
key's history must be linearizable (tests/helpers/linearizability.py). Short histories in CI; the
same test with more clients and time makes a longer run."""

import asyncio
import math
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
from helpers.etcd_cluster import Cluster
from helpers.linearizability import Op, linearizable

from etcd_raft.client import EtcdClient, EtcdError

pytestmark = pytest.mark.integration

KEYS = ["lin/a", "lin/b", "lin/c"]
SCALE = float(os.environ.get("KPLANE_LINEARIZABILITY_SCALE", "1"))  # bench/etcd_linearizability.py


async def client_loop(cluster: Cluster, worker: int, stop_at: float, history: dict[str, list[Op]]) -> None:
    rng = random.Random(worker)
    pki = cluster.pki
    endpoints = [n.client_url for n in cluster.nodes]
    async with EtcdClient(
        endpoints,
        ca_file=pki / "etcd/ca.crt",
        cert_file=pki / "apiserver-etcd-client.crt",
        key_file=pki / "apiserver-etcd-client.key",
        timeout=3.0,
    ) as client:
        sequence = 0
        while time.monotonic() < stop_at:
            key = rng.choice(KEYS)
            call = time.monotonic()
            if rng.random() < 0.5:
                sequence += 1
                value = f"w{worker}-{sequence}"
                try:
                    await client.put(key.encode(), value.encode())
                    history[key].append(Op(call, time.monotonic(), "put", value))
                except EtcdError:
                    history[key].append(Op(call, math.inf, "put", value))  # it may still happen
            else:
                try:
                    found = await client.get(key.encode())
                except EtcdError:
                    continue  # a failed read changes nothing
                read = found.kvs[0].value.decode() if found.kvs else None
                history[key].append(Op(call, time.monotonic(), "get", read))


def test_histories_stay_linearizable_while_the_leader_dies(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, 3)
    try:
        for node in cluster.nodes:
            cluster.start(node)
        leader = cluster.node_of(cluster.wait_for_leader())
        history: dict[str, list[Op]] = defaultdict(list)

        async def run() -> None:
            stop_at = time.monotonic() + 6.0 * SCALE
            workers = [asyncio.create_task(client_loop(cluster, w, stop_at, history)) for w in range(4)]
            await asyncio.sleep(2.0 * SCALE)
            cluster.stop(leader, signal.SIGKILL)
            await asyncio.sleep(2.0 * SCALE)
            cluster.start(leader)
            await asyncio.gather(*workers)

        asyncio.run(run())
        completed = sum(1 for ops in history.values() for op in ops if not op.unknown)
        assert completed > 50, "too few operations completed to say anything"
        for key, ops in history.items():
            assert linearizable(ops), f"{key}: history of {len(ops)} operations is not linearizable"
    finally:
        for node in cluster.nodes:
            cluster.stop(node, signal.SIGKILL)
