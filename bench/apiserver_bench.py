"""API server benchmark: kplane-apiserver on a one-member kplane-etcd (or on etcd 3.4 with
--store etcd), both as real processes with mTLS, driven by one asyncio load generator (httpx).

    .venv/bin/python -m bench.apiserver_bench                 # kplane-etcd underneath
    .venv/bin/python -m bench.apiserver_bench --store etcd    # Debian's etcd 3.4 underneath

Measures, in order:
  create      pod creates/s and p50/p99 latency at 8 and 64 concurrent clients (--seconds each),
              with the apiserver's CPU per request (utime + stime from /proc)
  list        LIST of --pods pods: from the watch cache (resourceVersion=0) and from the store
  watch       --watchers watches on one namespace's pods; each create's delay until every
              watcher has its ADDED event (sequential creates), p50/p99
  memory      the apiserver's VmRSS with --pods pods in its watch cache
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.etcd_bench import percentile, process_cpu_seconds, rss_mib

# The processes are started the way the integration tests start them (tests/helpers).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.control_plane import ControlPlane


def pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "load"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "ports": [{"containerPort": 8080, "name": "http"}],
                }
            ]
        },
    }


class Connection:
    """One keep-alive HTTPS connection speaking just enough HTTP/1.1 for the load phases: a
    general client (httpx) costs the load generator more CPU per request than the apiserver."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, cp: ControlPlane) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", cp.port, ssl=tls_context(cp))
        return cls(reader, writer, f"127.0.0.1:{cp.port}")

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()


def tls_context(cp: ControlPlane) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cp.pki / "ca.crt"))
    context.load_cert_chain(str(cp.pki / "admin.crt"), str(cp.pki / "admin.key"))
    return context


def client(cp: ControlPlane, connections: int) -> httpx.AsyncClient:
    context = tls_context(cp)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=cp.url, verify=context, limits=limits, timeout=30.0)


async def create_load(cp: ControlPlane, namespace: str, concurrency: int, seconds: float) -> dict[str, float]:
    """`concurrency` clients, each on its own connection, creating pods for `seconds`."""
    latencies: list[float] = []
    errors = 0
    connections = [await Connection.open(cp) for _ in range(concurrency)]
    deadline = time.monotonic() + seconds
    pid = cp.apiserver.pid if cp.apiserver else 0

    async def worker(w: int) -> None:
        nonlocal errors
        n = 0
        while time.monotonic() < deadline:
            body = json.dumps(pod(f"p-{concurrency}-{w}-{n}")).encode()
            began = time.perf_counter()
            status, _ = await connections[w].request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
            if status == 201:
                latencies.append(time.perf_counter() - began)
            else:
                errors += 1
            n += 1

    cpu_before, self_before = process_cpu_seconds(pid), os.times()
    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    finally:
        for connection in connections:
            await connection.close()
    elapsed = time.perf_counter() - began
    cpu = process_cpu_seconds(pid) - cpu_before
    self_after = os.times()
    client_cpu = (self_after.user + self_after.system) - (self_before.user + self_before.system)
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_ms": cpu / max(len(latencies), 1) * 1000,
        "client_cpu": client_cpu / elapsed * 100,
        "errors": errors,
    }


async def fill(http: httpx.AsyncClient, namespace: str, count: int) -> None:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            response = await http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod(f"fill-{n}"))
            assert response.status_code == 201, response.text

    await asyncio.gather(*(worker() for _ in range(32)))


async def timed_list(http: httpx.AsyncClient, path: str, expected: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        response = await http.get(path)
        times.append(time.perf_counter() - began)
        assert len(response.json()["items"]) == expected
    return percentile(times, 0.5) * 1000


async def watch_fan_out(cp: ControlPlane, namespace: str, watchers: int, creates: int) -> tuple[float, float]:
    delays: list[float] = []
    sent: dict[str, float] = {}
    waiting: dict[str, int] = {}
    done: dict[str, asyncio.Event] = {}
    async with client(cp, watchers + 4) as http:
        ready = asyncio.Semaphore(0)

        async def watch() -> None:
            async with http.stream(
                "GET", f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion=0"
            ) as response:
                ready.release()
                async for line in response.aiter_lines():
                    event = json.loads(line)
                    name = event["object"]["metadata"]["name"]
                    if event["type"] == "ADDED" and name in sent:
                        delays.append(time.perf_counter() - sent[name])
                        waiting[name] -= 1
                        if waiting[name] == 0:
                            done[name].set()

        tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
        for _ in range(watchers):
            await ready.acquire()
        await asyncio.sleep(0.5)
        for n in range(creates):
            name = f"w-{n}"
            waiting[name], done[name] = watchers, asyncio.Event()
            sent[name] = time.perf_counter()
            response = await http.post(f"/api/v1/namespaces/{namespace}/pods", json=pod(name))
            assert response.status_code == 201, response.text
            await asyncio.wait_for(done[name].wait(), 10)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return percentile(delays, 0.5) * 1000, percentile(delays, 0.99) * 1000


async def measure(cp: ControlPlane, args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    async with client(cp, 64) as http:
        for namespace in ("c8", "c64", "big", "watch"):
            response = await http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
            assert response.status_code == 201, response.text
        for concurrency in (8, 64):
            load = await create_load(cp, f"c{concurrency}", concurrency, args.seconds)
            for key, value in load.items():
                results[f"create{concurrency}_{key}"] = value
        await fill(http, "big", args.pods)
        pid = cp.apiserver.pid if cp.apiserver else 0
        results["rss_mib"] = rss_mib(pid)
        results["list_cache_ms"] = await timed_list(
            http, "/api/v1/namespaces/big/pods?resourceVersion=0", args.pods, 5
        )
        results["list_store_ms"] = await timed_list(http, "/api/v1/namespaces/big/pods", args.pods, 5)
    p50, p99 = await watch_fan_out(cp, "watch", args.watchers, args.watch_creates)
    results["watch_p50_ms"], results["watch_p99_ms"] = p50, p99
    return results


ROWS = [
    ("create8_rate", "pod creates/s, 8 clients", "{:.0f}"),
    ("create8_p50_ms", "create p50 ms, 8 clients", "{:.1f}"),
    ("create8_p99_ms", "create p99 ms, 8 clients", "{:.1f}"),
    ("create8_cpu_ms", "apiserver CPU ms per create, 8 clients", "{:.2f}"),
    ("create64_rate", "pod creates/s, 64 clients", "{:.0f}"),
    ("create64_p50_ms", "create p50 ms, 64 clients", "{:.1f}"),
    ("create64_p99_ms", "create p99 ms, 64 clients", "{:.1f}"),
    ("create64_cpu_ms", "apiserver CPU ms per create, 64 clients", "{:.2f}"),
    ("create64_errors", "failed creates, 64 clients", "{:.0f}"),
    ("create64_client_cpu", "load generator CPU %, 64 clients", "{:.0f}"),
    ("list_cache_ms", "LIST of all pods from the watch cache (rv=0), p50 ms", "{:.0f}"),
    ("list_store_ms", "LIST of all pods from the store, p50 ms", "{:.0f}"),
    ("watch_p50_ms", "watch fan-out: create -> all watchers, p50 ms", "{:.1f}"),
    ("watch_p99_ms", "watch fan-out: create -> all watchers, p99 ms", "{:.1f}"),
    ("rss_mib", "apiserver VmRSS with the pods cached, MiB", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=["kplane", "etcd"], default="kplane")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each create phase")
    parser.add_argument("--pods", type=int, default=10_000, help="pods for the LIST and memory phases")
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--watch-creates", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kplane-apibench-"))
    cp = ControlPlane(root, args.store)
    try:
        cp.start()
        results = asyncio.run(measure(cp, args))
    finally:
        cp.stop()
    print(f"| {args.store} store, {args.pods} pods | kplane-apiserver |")
    print("|---|---:|")
    for key, label, fmt in ROWS:
        print(f"| {label} | {fmt.format(results.get(key, float('nan')))} |")
    target = results["create64_rate"] >= 500 and results["create64_p99_ms"] <= 1000
    print(f"\ntarget >= 500 creates/s with p99 <= 1 s at 64 clients: {'met' if target else 'NOT met'}")
    if os.environ.get("KPLANE_BENCH_KEEP"):
        print(f"kept {root}")


if __name__ == "__main__":
    main()
