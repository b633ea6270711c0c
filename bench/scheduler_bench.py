"""Scheduler benchmark, shaped like upstream's scheduler_perf: nodes and pods as API objects, pods
bound by the real kplane-scheduler process through a real kplane-apiserver on kplane-etcd; and the
scheduler's own throughput in-process, with the binding call replaced by a no-op ("fake client").

    .venv/bin/python -m bench.scheduler_bench                      # every workload, both modes
    .venv/bin/python -m bench.scheduler_bench --mode inprocess --workload basic-5000

Workloads (nodes / pods measured):
  basic-500       500 / 1000    SchedulingBasic: pods with cpu and memory requests
  basic-5000     5000 / 10000   the same at 5000 nodes (upstream's threshold: >= 680 pods/s)
  anti-affinity   500 / 400     SchedulingPodAntiAffinity: required anti-affinity on hostname
  spread          500 / 1000    SchedulingPodTopologySpread: maxSkew 1 over 5 zones, DoNotSchedule

Reported: pods/s over the measured pods (first bind to last bind), the scheduling algorithm's latency
p50/p99 per pod (in-process: measured per attempt; real: scheduler_scheduling_algorithm_duration_seconds
interpolated in the histogram's buckets; the attempt duration would add the wait for a binding slot),
and the scheduler's CPU milliseconds per pod.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.etcd_bench import percentile, process_cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.components import SchedulerProcess
from helpers.control_plane import ControlPlane
from helpers.scheduling import make_node

from kubeclient.config import load_kubeconfig
from kubeclient.rest import Client
from scheduler.cache import SchedulerCache
from scheduler.config import KubeSchedulerConfiguration
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.runtime import Framework
from scheduler.framework.types import PodInfo
from scheduler.queue import SchedulingQueue
from scheduler.schedule_one import Algorithm

ZONES = 5


def node(index: int) -> dict[str, Any]:
    return make_node(
        f"node-{index:05}", cpu="32", memory="128Gi", pods="110",
        labels={"topology.kubernetes.io/zone": f"zone-{index % ZONES}"},
    )  # fmt: skip


def basic_pod(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"pod-{index:05}", "namespace": "bench", "uid": f"uid-{index}", "labels": {"app": "basic"}
        },
        "spec": {
            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}],
            "schedulerName": "default-scheduler", "priority": 0,
        },
        "status": {"phase": "Pending"},
    }  # fmt: skip


def anti_affinity_pod(index: int) -> dict[str, Any]:
    pod = basic_pod(index)
    pod["metadata"]["labels"] = {"color": "green"}
    pod["spec"]["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"color": "green"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    return pod


def spread_pod(index: int) -> dict[str, Any]:
    pod = basic_pod(index)
    pod["metadata"]["labels"] = {"app": "spread"}
    pod["spec"]["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
         "labelSelector": {"matchLabels": {"app": "spread"}}}
    ]  # fmt: skip
    return pod


@dataclass(frozen=True)
class Workload:
    name: str
    nodes: int
    pods: int
    make_pod: Callable[[int], dict[str, Any]]


WORKLOADS = {
    w.name: w
    for w in (
        Workload("basic-500", 500, 1000, basic_pod),
        Workload("basic-5000", 5000, 10000, basic_pod),
        Workload("anti-affinity", 500, 400, anti_affinity_pod),
        Workload("spread", 500, 1000, spread_pod),
    )
}


@dataclass
class Result:
    pods_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms_per_pod: float


class NoServices:
    """The scheduler's side of the framework's Handle, for the in-process run."""

    def __init__(self, cache: SchedulerCache) -> None:
        self.cache = cache
        self.client = None
        self.pdbs: list[Any] = []

    @property
    def snapshot(self) -> Any:
        return self.cache.snapshot

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return []

    def has_nominated_pods(self) -> bool:
        return False


def run_in_process(workload: Workload) -> Result:
    """The scheduling cycle alone: queue, snapshot, filter, score, assume; binding is a no-op."""
    cache = SchedulerCache(time.monotonic)
    for index in range(workload.nodes):
        cache.add_node(node(index))
    profile = KubeSchedulerConfiguration().profiles[0]
    framework = Framework(profile, NoServices(cache))  # type: ignore[arg-type]
    queue = SchedulingQueue(framework.less, clock=time.monotonic, pre_enqueue=framework.run_pre_enqueue)
    algorithm = Algorithm(random.Random(1))
    for index in range(workload.pods):
        queue.add(workload.make_pod(index))
    latencies = []
    cpu_start, start = time.process_time(), time.perf_counter()
    while (qpi := queue.pop_nowait()) is not None:
        began = time.perf_counter()
        result = algorithm.schedule_pod(framework, CycleState(), qpi.pod_info, cache.refresh_snapshot({}))
        cache.assume_pod(qpi.pod_info, result.node_name)
        queue.done(qpi.pod_info.uid)
        latencies.append(time.perf_counter() - began)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    latencies.sort()
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return Result(workload.pods / elapsed, p50, p99, cpu / workload.pods * 1000)


async def create_all(
    client: Client, resource: str, objects: list[dict[str, Any]], namespace: str | None
) -> None:
    pending = iter(objects)

    async def worker() -> None:
        for obj in pending:
            body = {k: v for k, v in obj.items() if k != "status" or resource == "nodes"}
            body["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "uid"}
            await client.create(resource, body, namespace=namespace)

    await asyncio.gather(*(worker() for _ in range(32)))


async def count_bound(client: Client) -> int:
    page = await client.list(
        "pods", namespace="bench", field_selector="spec.nodeName!=", resource_version="0"
    )
    return len(page["items"])


def histogram_quantile(metrics: str, name: str, quantile: float) -> float:
    """Prometheus' histogram_quantile over the scheduled attempts' buckets, in seconds."""
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if bound == "+Inf" else float(bound), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1]
    rank, previous_bound, previous_count = quantile * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / max(
                count - previous_count, 1
            )
        previous_bound, previous_count = bound, count
    return previous_bound


async def run_against_apiserver(workload: Workload, root: Path) -> Result:
    cp = ControlPlane(root)
    cp.start()
    scheduler: SchedulerProcess | None = None
    try:
        cp.kubectl("create", "namespace", "bench")
        async with Client(load_kubeconfig(cp.kubeconfig), max_connections=32) as client:
            await create_all(client, "nodes", [node(i) for i in range(workload.nodes)], None)
            await create_all(client, "pods", [workload.make_pod(i) for i in range(workload.pods)], "bench")
            scheduler = SchedulerProcess(cp, "scheduler", leader_elect=False)
            scheduler.argv.remove("--v=2")
            scheduler.start()
            assert scheduler.process is not None
            cpu_before = process_cpu_seconds(scheduler.process.pid)
            first = last = None
            bound = 0
            while bound < workload.pods:
                await asyncio.sleep(0.2)
                bound = await count_bound(client)
                now = time.perf_counter()
                if bound and first is None:
                    first = now
                last = now
            cpu = process_cpu_seconds(scheduler.process.pid) - cpu_before
            metrics = scheduler.metrics()
        assert first is not None and last is not None
        name = "scheduler_scheduling_algorithm_duration_seconds"
        return Result(workload.pods / max(last - first, 0.2), histogram_quantile(metrics, name, 0.5) * 1000,
                      histogram_quantile(metrics, name, 0.99) * 1000, cpu / workload.pods * 1000)  # fmt: skip
    finally:
        if scheduler is not None:
            scheduler.stop(signal.SIGTERM)
        cp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=("inprocess", "apiserver", "both"), default="both")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), action="append")
    args = parser.parse_args()
    rows = []
    for name in args.workload or list(WORKLOADS):
        workload = WORKLOADS[name]
        if args.mode in ("inprocess", "both"):
            rows.append((name, "in-process (fake client)", run_in_process(workload)))
            print(rows[-1], flush=True)
        if args.mode in ("apiserver", "both"):
            import tempfile

            with tempfile.TemporaryDirectory(prefix="sched-bench-") as tmp:
                rows.append(
                    (
                        name,
                        "real apiserver + kplane-etcd",
                        asyncio.run(run_against_apiserver(workload, Path(tmp))),
                    )
                )
            print(rows[-1], flush=True)
    print(f"\n{subprocess.run(['date', '-u'], capture_output=True, text=True).stdout.strip()}")
    print("| workload | nodes / pods | mode | pods/s | algorithm p50 ms | algorithm p99 ms | CPU ms/pod |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, mode, result in rows:
        w = WORKLOADS[name]
        cells = [f"{w.nodes} / {w.pods}", mode, f"{result.pods_per_second:.0f}", f"{result.p50_ms:.2f}",
                 f"{result.p99_ms:.2f}", f"{result.cpu_ms_per_pod:.2f}"]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
