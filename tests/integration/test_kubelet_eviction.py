"""The eviction manager for real: a kplane-kubelet whose evictionHard threshold for memory.available is
above this machine's memory, so the node is always under memory pressure. The node reports it, a
BestEffort pod is refused at admission, and a running Burstable pod is evicted like upstream does it."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.containerd_node import ContainerdNode
from helpers.control_plane import ControlPlane
from helpers.kubelet_process import KubeletProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(not shutil.which("containerd"), reason="needs containerd"),
]


@pytest.fixture(scope="module")
def pressured() -> Iterator[tuple[ControlPlane, KubeletProcess]]:
    root = Path(tempfile.mkdtemp(prefix="ke-", dir="/tmp"))
    cp = ControlPlane(root / "cp", nodes=("node-1",))
    node = ContainerdNode(root / "n", "node-1", "10.244.42.0/24")
    kubelet: KubeletProcess | None = None
    try:
        cp.start()
        node.start()
        config = {"evictionHard": {"memory.available": "100Ti"}, "evictionPressureTransitionPeriod": "5s"}
        kubelet = KubeletProcess(cp, node, config=config).start()
        yield cp, kubelet
    finally:
        if kubelet is not None:
            kubelet.stop()
        node.close()
        cp.stop()
        leftovers = node.leftovers()
        shutil.rmtree(root, ignore_errors=True)
        assert leftovers == [], leftovers


def get(cp: ControlPlane, path: str) -> dict[str, Any]:
    status, body, _ = cp.request("GET", path)
    return json.loads(body) if status == 200 else {}


def wait(what: str, check: Any, kubelet: KubeletProcess, timeout: float = 40) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not within {timeout} s\n{kubelet.log()[-3000:]}"
        time.sleep(0.5)
    return result


def pod(name: str, resources: dict[str, Any]) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "main", "image": "busybox", "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3600"], "resources": resources,
        }]},
    })  # fmt: skip


def test_memory_pressure_is_reported_refuses_best_effort_and_evicts(
    pressured: tuple[ControlPlane, KubeletProcess],
) -> None:
    cp, kubelet = pressured

    def memory_pressure() -> bool:
        conditions = get(cp, "/api/v1/nodes/node-1").get("status", {}).get("conditions", [])
        return any(c["type"] == "MemoryPressure" and c["status"] == "True" for c in conditions)

    wait("MemoryPressure on the node", memory_pressure, kubelet)
    cp.kubectl("apply", "-f", "-", stdin=pod("besteffort", {}))
    refused = wait(
        "the BestEffort pod refused",
        lambda: (
            (p := get(cp, "/api/v1/namespaces/default/pods/besteffort")).get("status", {}).get("phase")
            == "Failed"
            and p
        ),
        kubelet,
    )
    assert refused["status"]["reason"] == "Evicted"
    assert "MemoryPressure" in refused["status"]["message"]

    cp.kubectl("apply", "-f", "-", stdin=pod("burstable", {"requests": {"cpu": "10m"}}))
    evicted = wait(
        "the Burstable pod evicted",
        lambda: (
            (p := get(cp, "/api/v1/namespaces/default/pods/burstable")).get("status", {}).get("reason")
            == "Evicted"
            and p
        ),
        kubelet,
    )
    assert evicted["status"]["phase"] == "Failed"
    disruption = next(c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert disruption["status"] == "True" and disruption["reason"] == "TerminationByKubelet"
    assert evicted["status"]["message"].startswith("The node was low on resource: memory.")
    events = get(cp, "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dburstable")[
        "items"
    ]
    assert any(e["reason"] == "Evicted" for e in events)
