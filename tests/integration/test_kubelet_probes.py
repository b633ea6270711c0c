"""Probes and stats against a real busybox pod in a private containerd (helpers.containerd_node):
exec probes through CRI ExecSync (exit codes, timeouts), httpGet and tcpSocket to the pod IP over the
node's bridge, the ProbeManager's readiness and liveness answers on a real clock, and the
StatsProvider's summary of that pod. Everything is removed afterwards, even on failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.containerd_node import ContainerdNode

from kubelet.cri import labels
from kubelet.cri.api import api_pb2
from kubelet.cri.client import RuntimeClient
from kubelet.prober import ProbeManager, RunningContainer
from kubelet.prober.prober import Prober
from kubelet.prober.spec import ProbeSpec, ProbeType, Result
from kubelet.stats import StatsProvider

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("containerd", "runc")), reason="needs containerd and runc"
    ),
]

NODE = "node-probes"
POD_CIDR = "10.244.157.0/24"  # distinct from other integration tests' nodes
BUSYBOX = "docker.io/library/busybox:latest"
UID = "probe-uid-1"
SERVER = [
    "sh",
    "-c",
    "mkdir -p /www && echo ok > /www/healthz && touch /tmp/alive && exec httpd -f -p 8080 -h /www",
]


@pytest.fixture(scope="module")
def node() -> Iterator[ContainerdNode]:
    root = Path(tempfile.mkdtemp(prefix="kplpr-", dir="/tmp"))
    node = ContainerdNode(root / "n", NODE, POD_CIDR)
    try:
        node.start()
        yield node
    finally:
        node.close()
        leftovers = node.leftovers()
        node.remove_files()
        shutil.rmtree(root, ignore_errors=True)
        assert leftovers == []


@dataclass
class Pod:
    runtime: RuntimeClient
    sandbox_id: str
    container_id: str
    ip: str
    started_at: float
    obj: dict[str, Any]


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def pod(node: ContainerdNode) -> AsyncIterator[Pod]:
    runtime = RuntimeClient(node.endpoint, timeout=30)
    config = api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name="web", uid=UID, namespace="default", attempt=0),
        hostname="web",
        log_directory=str(labels.pod_log_dir(node.pod_logs, "default", "web", UID)),
        labels=labels.pod_labels("default", "web", UID),
        linux=api_pb2.LinuxPodSandboxConfig(cgroup_parent=f"{node.cgroup_root}/pod{UID}"),
    )
    sandbox_id = await runtime.run_pod_sandbox(config)
    try:
        container = api_pb2.ContainerConfig(
            metadata=api_pb2.ContainerMetadata(name="app", attempt=0),
            image=api_pb2.ImageSpec(image=BUSYBOX),
            command=SERVER,
            labels=labels.container_labels("default", "web", UID, "app"),
            log_path=labels.container_log_path("app", 0),
        )
        container_id = await runtime.create_container(sandbox_id, container, config)
        await runtime.start_container(container_id)
        status = await runtime.container_status(container_id)
        ip = (await runtime.pod_sandbox_status(sandbox_id)).status.network.ip
        spec = {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}
        obj = {
            "metadata": {"name": "web", "namespace": "default", "uid": UID},
            "spec": {"containers": [spec], "restartPolicy": "Always"},
            "status": {"phase": "Running"},
        }
        yield Pod(runtime, sandbox_id, container_id, ip, status.status.started_at / 1e9, obj)
    finally:
        try:
            await runtime.stop_pod_sandbox(sandbox_id)
            await runtime.remove_pod_sandbox(sandbox_id)
        finally:
            await runtime.close()


async def probe_once(pod: Pod, probe: dict[str, Any], events: list[str] | None = None) -> Result | None:
    recorder = (lambda _pod, _kind, _reason, message: events.append(message)) if events is not None else None
    prober = Prober(pod.runtime, recorder)
    try:
        spec = ProbeSpec.from_probe(ProbeType.READINESS, probe)
        return await prober.probe(ProbeType.READINESS, spec, pod.obj, pod.obj["spec"]["containers"][0],
                                  pod.container_id, pod.ip)  # fmt: skip
    finally:
        await prober.close()


async def test_probe_runners_against_a_busybox_pod(pod: Pod) -> None:
    events: list[str] = []
    assert await probe_once(pod, {"exec": {"command": ["cat", "/tmp/alive"]}}) is Result.SUCCESS
    assert await probe_once(pod, {"exec": {"command": ["cat", "/tmp/missing"]}}, events) is Result.FAILURE
    assert events[-1] == "Readiness probe failed: cat: can't open '/tmp/missing': No such file or directory\n"
    slow = {"exec": {"command": ["sleep", "5"]}, "timeoutSeconds": 1}
    assert await probe_once(pod, slow, events) is Result.FAILURE
    assert events[-1] == 'Readiness probe failed: command "sleep 5" timed out'

    # httpd needs a moment to listen; the first attempts may be refused.
    for _ in range(50):
        if await probe_once(pod, {"tcpSocket": {"port": 8080}}) is Result.SUCCESS:
            break
        await asyncio.sleep(0.1)
    assert await probe_once(pod, {"httpGet": {"path": "/healthz", "port": "http"}}) is Result.SUCCESS
    assert await probe_once(pod, {"httpGet": {"path": "/nope", "port": 8080}}, events) is Result.FAILURE
    assert events[-1] == "Readiness probe failed: HTTP probe failed with statuscode: 404"
    assert await probe_once(pod, {"tcpSocket": {"port": 9999}}, events) is Result.FAILURE
    assert events[-1] == f"Readiness probe failed: dial tcp {pod.ip}:9999: connect: connection refused"


async def test_probe_manager_on_a_real_clock(pod: Pod) -> None:
    events: list[str] = []
    changes: list[str] = []
    container = pod.obj["spec"]["containers"][0]
    container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1}
    container["livenessProbe"] = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1,
                                  "failureThreshold": 2}  # fmt: skip
    manager = ProbeManager(
        pod.runtime, recorder=lambda _p, _k, _r, m: events.append(m), on_change=changes.append
    )
    try:
        running = {"app": RunningContainer(pod.container_id, pod.started_at)}
        manager.sync_pod(pod.obj, running, pod.ip)
        await wait_until(lambda: manager.readiness(UID, "app"), "the readiness probe to pass")
        assert manager.liveness_failed(UID, "app") is None
        assert UID in changes
        await pod.runtime.exec_sync(pod.container_id, ["rm", "/tmp/alive"], 5)
        await wait_until(
            lambda: manager.liveness_failed(UID, "app") is not None, "the liveness probe to fail"
        )
        assert manager.liveness_failed(UID, "app") == "Container app failed liveness probe"
        assert (
            events.count("Liveness probe failed: cat: can't open '/tmp/alive': No such file or directory\n")
            == 2
        )
    finally:
        await manager.close()


async def test_stats_of_the_pod_from_cri_and_cgroups(pod: Pod, node: ContainerdNode) -> None:
    stats = StatsProvider(pod.runtime, node_name=NODE, root_dir=node.kubelet_dir, pod_logs_dir=node.pod_logs,
                          pod_cgroup=lambda uid: f"{node.cgroup_root}/pod{uid}")  # fmt: skip
    await stats.summary()
    await asyncio.sleep(0.5)
    summary = await stats.summary()
    (web,) = [p for p in summary["pods"] if p["podRef"]["uid"] == UID]
    assert web["podRef"] == {"name": "web", "namespace": "default", "uid": UID}
    (app,) = web["containers"]
    assert app["name"] == "app"
    assert app["memory"]["workingSetBytes"] > 0
    assert app["cpu"]["usageCoreNanoSeconds"] > 0
    assert "usageNanoCores" in app["cpu"], "the second scrape has a rate"
    assert app["rootfs"]["usedBytes"] >= 0 and app["logs"]["inodesUsed"] >= 1
    assert web["memory"]["workingSetBytes"] > 0
    assert web["process_stats"]["process_count"] >= 2, "pause and httpd at least"
    assert summary["node"]["runtime"]["imageFs"]["capacityBytes"] > 0
    text = await stats.resource_metrics()
    assert 'container_memory_working_set_bytes{container="app",namespace="default",pod="web"}' in text
    assert text.rstrip().endswith("scrape_error 0")
