"""Kubelet benchmark: pod startup latency on one real node, like upstream's density test (the SLO:
pod startup p99 <= 5 s, kplane's target <= 2 s at 30 pods per node).

Everything real: kplane-etcd, kplane-apiserver, kplane-scheduler, a private containerd with CNI and the
busybox/pause images, and kplane-kubelet. For each batch size (1, 10, 30) the benchmark creates that many
busybox pods at once and watches them through the API, timing per pod:
  created -> Running and Ready     (client-side create time to the watch event showing Ready=True)
  scheduled -> Running and Ready   (the watch event with spec.nodeName set to the Ready one)
then deletes them and waits until the node is empty. Last, with 30 pods running, the kubelet's CPU
over 60 s and its resident memory.

    .venv/bin/python -m bench.kubelet_bench [--batches 1,10,30,30@5] [--idle-seconds 60]
    .venv/bin/python -m bench.kubelet_bench --runtime-floor 30    # containerd alone, for comparison
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.etcd_bench import process_cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.components import SchedulerProcess
from helpers.containerd_node import ContainerdNode
from helpers.control_plane import ControlPlane
from helpers.kubelet_process import KubeletProcess

from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import RuntimeClient

POD_CIDR = "10.244.99.0/24"


def pod_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"bench": "startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:latest",
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
                }
            ],
        },
    }


class PodWatch:
    """A watch on the pods in the background, recording when each pod was first seen scheduled and
    first seen Ready (perf_counter seconds)."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.scheduled: dict[str, float] = {}
        self.ready: dict[str, float] = {}
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = f"{self.cp.url}/api/v1/namespaces/default/pods?watch=true&labelSelector=bench%3Dstartup"
        with urllib.request.urlopen(url, context=self.cp.ssl_context(), timeout=3600) as stream:
            for line in stream:
                if self.stop:
                    return
                pod = json.loads(line)["object"]
                name, now = pod["metadata"]["name"], time.perf_counter()
                if pod["spec"].get("nodeName"):
                    self.scheduled.setdefault(name, now)
                conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
                if conditions.get("Ready") == "True":
                    self.ready.setdefault(name, now)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def batch(cp: ControlPlane, watch: PodWatch, size: int, round_no: int, rate: float = 0.0) -> dict[str, Any]:
    """`size` pods created back to back (rate 0), or `rate` pods per second."""
    names = [f"b{round_no}-{i:03}" for i in range(size)]
    created: dict[str, float] = {}
    for name in names:
        body = json.dumps(pod_manifest(name)).encode()
        created[name] = time.perf_counter()
        status, answer, _ = cp.request(
            "POST", "/api/v1/namespaces/default/pods", body, headers={"Content-Type": "application/json"}
        )
        assert status == 201, answer[:300]
        if rate:
            time.sleep(1 / rate)
    deadline = time.monotonic() + 300
    while not all(name in watch.ready for name in names):
        assert time.monotonic() < deadline, f"not all Ready: {sorted(set(names) - set(watch.ready))[:5]}"
        time.sleep(0.05)
    e2e = [watch.ready[n] - created[n] for n in names]
    from_scheduled = [watch.ready[n] - watch.scheduled[n] for n in names]
    return {
        "pods": size,
        "created_to_ready_p50": statistics.median(e2e),
        "created_to_ready_p99": percentile(e2e, 0.99),
        "scheduled_to_ready_p50": statistics.median(from_scheduled),
        "scheduled_to_ready_p99": percentile(from_scheduled, 0.99),
        "names": names,
    }


def runtime_pods(node: ContainerdNode) -> int:
    async def count() -> int:
        async with RuntimeClient(node.endpoint) as runtime:
            return len(await runtime.list_pod_sandbox())

    return asyncio.run(count())


def delete_all(cp: ControlPlane, node: ContainerdNode, names: list[str]) -> None:
    """Delete the batch and wait until the API and the runtime are both empty again."""
    for name in names:
        cp.request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    deadline = time.monotonic() + 300
    while True:
        status, body, _ = cp.request("GET", "/api/v1/namespaces/default/pods?labelSelector=bench%3Dstartup")
        if status == 200 and not json.loads(body)["items"] and runtime_pods(node) == 0:
            return
        assert time.monotonic() < deadline, "pods not deleted"
        time.sleep(0.2)


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def raw_cri_start(node: ContainerdNode, size: int, concurrency: int, log_dir: Path) -> float:
    """The runtime's own floor: `size` sandboxes + busybox containers started straight through CRI (no
    kubelet, apiserver or scheduler), at most `concurrency` at a time; seconds until the last runs."""
    slots = asyncio.Semaphore(concurrency)

    async def one(runtime: RuntimeClient, index: int) -> None:
        async with slots:
            sandbox = cri.PodSandboxConfig(
                metadata=cri.PodSandboxMetadata(name=f"raw{index}", uid=f"raw-{index}", namespace="bench"),
                hostname=f"raw{index}", log_directory=str(log_dir / f"raw{index}"),
                labels={"bench": "raw"},
                linux=cri.LinuxPodSandboxConfig(cgroup_parent=f"{node.cgroup_root}/raw{index}"),
            )  # fmt: skip
            sandbox_id = await runtime.run_pod_sandbox(sandbox)
            container = cri.ContainerConfig(
                metadata=cri.ContainerMetadata(name="app"), image=cri.ImageSpec(image="busybox"),
                command=["sleep", "3600"], log_path="app/0.log",
            )  # fmt: skip
            await runtime.start_container(await runtime.create_container(sandbox_id, container, sandbox))

    async with RuntimeClient(node.endpoint) as runtime:
        began = time.perf_counter()
        await asyncio.gather(*(one(runtime, i) for i in range(size)))
        return time.perf_counter() - began


def runtime_floor(root: Path, size: int) -> None:
    for concurrency in (2, 4, 8, size):
        node = ContainerdNode(root / f"raw{concurrency}", "node-1", POD_CIDR)
        try:
            node.start()
            took = asyncio.run(raw_cri_start(node, size, concurrency, root / "raw-logs"))
            print(
                f"runtime alone: {size} pods, {concurrency} at a time, all running after {took:.2f}s",
                flush=True,
            )
        finally:
            node.close()


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on SIGTERM too
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", default="1,10,30,30@5", help="sizes; SIZE@RATE creates RATE pods/s")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument(
        "--runtime-floor", type=int, default=0, help="only start N pods straight through CRI (no kubelet)"
    )
    args = parser.parse_args()
    batches = [
        (int(b.split("@")[0]), float(b.split("@")[1]) if "@" in b else 0.0) for b in args.batches.split(",")
    ]
    with tempfile.TemporaryDirectory(prefix="kb-", dir="/tmp") as tmp:
        root = Path(tmp)
        if args.runtime_floor:
            runtime_floor(root, args.runtime_floor)
            return
        cp = ControlPlane(root / "cp", nodes=("node-1",))
        node = ContainerdNode(root / "n", "node-1", POD_CIDR)
        scheduler = SchedulerProcess(cp, "scheduler", leader_elect=False)
        kubelet = KubeletProcess(cp, node, config={"maxPods": 250})
        kubelet.argv.remove("--v=4")
        try:
            cp.start()
            node.start()
            scheduler.start()
            kubelet.start()
            assert kubelet.process is not None
            watch = PodWatch(cp)
            watch.thread.start()
            results = []
            assert cp.apiserver is not None
            processes = {"kubelet": kubelet.process.pid, "apiserver": cp.apiserver.pid}
            assert node.process is not None
            processes["containerd"] = node.process.pid
            for round_no, (size, rate) in enumerate(batches):
                cpu_before = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
                result = batch(cp, watch, size, round_no, rate)
                cpu = {name: process_cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
                paced = f" at {rate:g}/s" if rate else ""
                print(
                    f"{size:3} pods{paced}: created->ready p50 {result['created_to_ready_p50']:.2f}s "
                    f"p99 {result['created_to_ready_p99']:.2f}s; scheduled->ready p50 "
                    f"{result['scheduled_to_ready_p50']:.2f}s p99 {result['scheduled_to_ready_p99']:.2f}s; "
                    "CPU s " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items()),
                    flush=True,
                )
                results.append(result)
                if round_no < len(batches) - 1:
                    delete_all(cp, node, result["names"])
            running = len(results[-1]["names"])
            before = process_cpu_seconds(kubelet.process.pid)
            time.sleep(args.idle_seconds)
            share = 100 * (process_cpu_seconds(kubelet.process.pid) - before) / args.idle_seconds
            print(
                f"kubelet with {running} running pods: {share:.1f}% of a core over "
                f"{args.idle_seconds:.0f}s, RSS {resident_bytes(kubelet.process.pid) / 2**20:.0f} MiB",
                flush=True,
            )
            watch.stop = True
            delete_all(cp, node, results[-1]["names"])
        finally:
            kubelet.stop()
            scheduler.stop()
            node.close()
            cp.stop()


if __name__ == "__main__":
    ssl.create_default_context()  # fail early if the interpreter has no ssl
    main()
