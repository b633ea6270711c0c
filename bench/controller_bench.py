"""Controller-manager benchmark: a Deployment of 1000 replicas from create to every pod created,
bound (by kplane-scheduler) and Running on hollow Node objects, then scaled to 10,000, with a Service
whose EndpointSlices and Endpoints follow the pods. Everything real (kplane-etcd, kplane-apiserver,
kplane-scheduler, two kplane-controller-manager processes) except the kubelets: hollow nodes
(tests/helpers/hollow_nodes.py) report pods Running/Ready with an IP, one status write per pod.

The controllers run in two controller-manager processes, so each group's CPU is its own:
  workloads   --controllers=replicaset-controller,deployment-controller
  endpoints   --controllers=endpoints-controller,endpointslice-controller

    .venv/bin/python -m bench.controller_bench [--nodes 100] [--replicas 1000] [--scale-to 10000]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.etcd_bench import process_cpu_seconds

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from helpers.components import ControllerManagerProcess, SchedulerProcess
from helpers.control_plane import ControlPlane
from helpers.hollow_nodes import HollowNodes

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "bench"}},
        "template": {
            "metadata": {"labels": {"app": "bench"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "busybox:1",
                        "ports": [{"containerPort": 8080}],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    }
                ]
            },
        },
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "bench", "namespace": "default"},
    "spec": {"selector": {"app": "bench"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


def get_json(cp: ControlPlane, path: str) -> dict[str, Any]:
    status, body, _ = cp.request("GET", path)
    assert status == 200, body[:200]
    result: dict[str, Any] = json.loads(body)
    return result


def counts(cp: ControlPlane) -> dict[str, int]:
    """Pods created (the Deployment's status.replicas), bound (created less the unbound ones the
    apiserver filters out), Running and Ready (status.readyReplicas), and ready endpoints in the
    Service's slices. Cheap questions on purpose: listing 10k pods every second would make the
    benchmark the apiserver's heaviest client."""
    status = get_json(cp, "/apis/apps/v1/namespaces/default/deployments/bench").get("status", {})
    unbound = get_json(cp, "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D&resourceVersion=0")
    slices = get_json(
        cp,
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dbench",
    )["items"]
    created = int(status.get("replicas") or 0)
    return {
        "created": created,
        "bound": created - len(unbound["items"]),
        "running": int(status.get("readyReplicas") or 0),
        "endpoints": sum(1 for s in slices for e in s.get("endpoints") or [] if e["conditions"].get("ready")),
    }


def phase(
    cp: ControlPlane, target: int, processes: dict[str, int], start: Callable[[], None]
) -> dict[str, Any]:
    """Run `start()`, then time when `target` pods are created, bound, Running and ready endpoints,
    with each process's CPU seconds over the phase."""
    cpu_before = {name: process_cpu_seconds(pid) for name, pid in processes.items()}
    began = time.perf_counter()
    start()
    reached: dict[str, float] = {}
    while len(reached) < 4:
        seen = counts(cp)
        now = time.perf_counter() - began
        for name, value in seen.items():
            if value >= target and name not in reached:
                reached[name] = now
        if now > 1800:
            raise AssertionError(f"phase did not finish: {seen}")
        time.sleep(1.0)
    cpu = {name: process_cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    return {"seconds": reached, "cpu": cpu}


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on SIGTERM too
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--scale-to", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmp:
        cp = ControlPlane(Path(tmp))
        scheduler = SchedulerProcess(cp, "scheduler", leader_elect=False)
        workloads = ControllerManagerProcess(
            cp,
            "cm-workloads",
            leader_elect=False,
            args=("--controllers=replicaset-controller,deployment-controller",),
        )
        endpoints = ControllerManagerProcess(
            cp,
            "cm-endpoints",
            leader_elect=False,
            args=("--controllers=endpoints-controller,endpointslice-controller",),
        )
        names = [f"hollow-{i:03}" for i in range(args.nodes)]
        nodes = HollowNodes(cp, names, cpu="32", heartbeat=30.0, pods_per_node="250")
        for process in (scheduler, workloads, endpoints):
            process.argv.remove("--v=2")
        try:
            cp.start()
            nodes.__enter__()
            for process in (scheduler, workloads, endpoints):
                process.start()
            pids = {
                "apiserver": cp.apiserver.pid,
                "scheduler": scheduler.process.pid,  # type: ignore[union-attr]
                "cm workloads": workloads.process.pid,
                "cm endpoints": endpoints.process.pid,
            }  # type: ignore[union-attr]
            cp.kubectl("apply", "-f", "-", stdin=json.dumps(SERVICE))
            cp.kubectl("apply", "-f", "-", stdin=json.dumps(DEPLOYMENT))
            results = []
            for target in (args.replicas, args.scale_to):
                scale = ["scale", "deployment/bench", f"--replicas={target}"]
                results.append(
                    (target, phase(cp, target, pids, lambda scale=scale: cp.kubectl(*scale) and None))
                )
                print(target, results[-1], flush=True)
        finally:
            nodes.__exit__()
            for process in (endpoints, workloads, scheduler):
                process.stop()
            cp.stop()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    print(f"\n{date}, {args.nodes} hollow nodes")
    print(
        "| replicas | all created s | pods created/s | all bound s | all Running s | slices ready s | "
        + " | ".join(f"{name} CPU s" for name in pids)
        + " |"
    )
    print("|---:|---:|---:|---:|---:|---:|" + "---:|" * len(pids))
    previous = 0
    for target, result in results:
        seconds, cpu = result["seconds"], result["cpu"]
        created_rate = (target - previous) / seconds["created"]
        cells = [
            str(target),
            f"{seconds['created']:.1f}",
            f"{created_rate:.0f}",
            f"{seconds['bound']:.1f}",
            f"{seconds['running']:.1f}",
            f"{seconds['endpoints']:.1f}",
            *(f"{cpu[name]:.1f}" for name in pids),
        ]
        print("| " + " | ".join(cells) + " |")
        previous = target


if __name__ == "__main__":
    main()
