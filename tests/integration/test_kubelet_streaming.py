"""The kubelet's :10250 server and the apiserver's proxies to it, driven by the real kubectl:
logs (tail, timestamps, -f, --previous), exec (exit codes, stdin to EOF, a tty), cp both ways,
port-forward, and nodes/proxy.

A private containerd (helpers.containerd_node) runs busybox pods created straight through CRI
with upstream's labels; a KubeletServer serves them; a real apiserver has a Node whose address is
that server and Pod objects bound to it. Everything is removed afterwards, even on failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.containerd_node import ContainerdNode
from helpers.control_plane import ControlPlane
from helpers.etcd_member import free_port
from helpers.waiting import wait_for

from kubelet.cri import labels
from kubelet.cri.api import api_pb2
from kubelet.cri.client import RuntimeClient
from kubelet.server import KubeletServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("containerd", "runc", "kubectl", "script")),
        reason="needs containerd, runc, kubectl and script",
    ),
]

NODE = "node-1"
POD_CIDR = "10.244.93.0/24"
BUSYBOX = "docker.io/library/busybox:latest"
JSON = "application/json"


class Cluster(ControlPlane):
    """The control plane (it has the kubelet client flags) with a serving certificate for node-1."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, nodes=(NODE,))


class ServerThread:
    """A KubeletServer on its own event loop in a thread (kubectl runs as subprocesses)."""

    def __init__(self, node: ContainerdNode, pki: Path, port: int) -> None:
        self.node, self.pki, self.port = node, pki, port
        self.loop = asyncio.new_event_loop()
        self.task: asyncio.Task[None] | None = None
        self.server: KubeletServer | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self._serve())
        with contextlib.suppress(asyncio.CancelledError, Exception):  # stop() cancels it
            self.loop.run_until_complete(self.task)

    async def _serve(self) -> None:
        async with RuntimeClient(self.node.endpoint) as runtime:

            async def summary() -> dict[str, Any]:
                return {"node": {"nodeName": NODE}, "pods": []}

            async def resource() -> str:
                return "# resource metrics\n"

            from prometheus_client import CollectorRegistry

            self.server = KubeletServer(
                "127.0.0.1", self.port, str(self.pki / f"kubelet-{NODE}.crt"),
                str(self.pki / f"kubelet-{NODE}.key"), str(self.pki / "ca.crt"), runtime,
                self.node.pod_logs, lambda: [], summary, resource, CollectorRegistry(),
                log_poll_interval=0.05,
            )  # fmt: skip
            await self.server.serve()

    def start(self) -> None:
        self.thread.start()
        wait_for("the kubelet server to listen", self._listening, timeout=15)

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.server is not None:
            self.loop.call_soon_threadsafe(self.server.shutdown)
        self.thread.join(timeout=15)
        if self.thread.is_alive() and self.task is not None:
            self.loop.call_soon_threadsafe(self.task.cancel)
            self.thread.join(timeout=15)


class Env:
    def __init__(self, node: ContainerdNode, cluster: Cluster) -> None:
        self.node, self.cluster = node, cluster

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, **kw)

    def create_pod(self, name: str, command: list[str], *, node: str | None = NODE) -> dict[str, Any]:
        pod = {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": BUSYBOX, "command": command}]},
        }  # fmt: skip
        if node:
            pod["spec"]["nodeName"] = node  # type: ignore[index]
        status, body, _ = self.cluster.request(
            "POST", "/api/v1/namespaces/default/pods", json.dumps(pod).encode(),
            headers={"Content-Type": JSON},
        )  # fmt: skip
        assert status == 201, body
        created: dict[str, Any] = json.loads(body)
        return created

    def run_pod(self, name: str, command: list[str], *, attempts: int = 1) -> str:
        """The API pod and its CRI sandbox; returns the sandbox id."""
        pod = self.create_pod(name, command)
        uid = pod["metadata"]["uid"]
        sandbox = asyncio.run(self._run_sandbox(name, uid, command))
        running = {"status": {"phase": "Running"}}  # what the kubelet would report (kubectl checks it)
        status, body, _ = self.cluster.request(
            "PATCH", f"/api/v1/namespaces/default/pods/{name}/status", json.dumps(running).encode(),
            headers={"Content-Type": "application/merge-patch+json"},
        )  # fmt: skip
        assert status == 200, body
        return sandbox

    async def _run_sandbox(self, name: str, uid: str, command: list[str]) -> str:
        async with RuntimeClient(self.node.endpoint) as runtime:
            config = sandbox_config(self.node, name, uid)
            sandbox = await runtime.run_pod_sandbox(config)
            await start_container(runtime, sandbox, config, name, uid, command, 0)
            return sandbox


def sandbox_config(node: ContainerdNode, name: str, uid: str) -> api_pb2.PodSandboxConfig:
    return api_pb2.PodSandboxConfig(
        metadata=api_pb2.PodSandboxMetadata(name=name, uid=uid, namespace="default", attempt=0),
        hostname=name,
        log_directory=str(labels.pod_log_dir(node.pod_logs, "default", name, uid)),
        labels=labels.pod_labels("default", name, uid),
        linux=api_pb2.LinuxPodSandboxConfig(cgroup_parent=f"{node.cgroup_root}/pod{uid}"),
    )


async def start_container(
    runtime: RuntimeClient,
    sandbox: str,
    config: api_pb2.PodSandboxConfig,
    name: str,
    uid: str,
    command: list[str],
    attempt: int,
) -> str:
    container = api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name="c", attempt=attempt),
        image=api_pb2.ImageSpec(image=BUSYBOX),
        command=command,
        labels=labels.container_labels("default", name, uid, "c"),
        annotations={labels.CONTAINER_RESTART_COUNT: str(attempt)},
        log_path=labels.container_log_path("c", attempt),
    )
    container_id = await runtime.create_container(sandbox, container, config)
    await runtime.start_container(container_id)
    return container_id


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    root = Path(tempfile.mkdtemp(prefix="kplks-", dir="/tmp"))
    node = ContainerdNode(root / "n", NODE, POD_CIDR)
    cluster = Cluster(root / "cp")
    server: ServerThread | None = None
    try:
        node.start()
        cluster.start()
        port = free_port()
        server = ServerThread(node, cluster.pki, port)
        server.start()
        node_object = {
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            },
        }  # fmt: skip
        status, body, _ = cluster.request(
            "POST",
            "/api/v1/nodes",
            json.dumps(node_object).encode(),
            headers={"Content-Type": JSON},
        )
        assert status == 201, body
        if not json.loads(body).get("status", {}).get("addresses"):
            status, body, _ = cluster.request(
                "PATCH", f"/api/v1/nodes/{NODE}/status",
                json.dumps({"status": node_object["status"]}).encode(),
                headers={"Content-Type": "application/merge-patch+json"},
            )  # fmt: skip
            assert status == 200, body
        yield Env(node, cluster)
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            try:
                cluster.stop()
            finally:
                node.close()
                leftovers = node.leftovers()
                node.remove_files()
                shutil.rmtree(root, ignore_errors=True)
                assert leftovers == []


COUNTER = ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]


def test_logs_tail_timestamps_and_errors(env: Env) -> None:
    env.run_pod("counter", COUNTER)
    wait_for("five log lines", lambda: "line 4" in env.kubectl("logs", "counter").stdout, timeout=20)
    tail = env.kubectl("logs", "counter", "--tail=2").stdout.splitlines()
    assert len(tail) == 2 and all(line.startswith("line ") for line in tail)
    stamped = env.kubectl("logs", "counter", "--timestamps", "--tail=1").stdout.split(" ", 1)
    assert stamped[0].endswith("Z") and stamped[1].startswith("line ")
    limited = env.kubectl("logs", "counter", "--limit-bytes=3").stdout
    assert limited == "lin"

    missing = env.kubectl("logs", "nosuch", check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    env.create_pod("unscheduled", ["true"], node=None)
    unscheduled = env.kubectl("logs", "unscheduled", check=False)
    assert "does not have a host assigned" in unscheduled.stderr
    wrong = env.kubectl("logs", "counter", "-c", "nope", check=False)
    assert "container nope is not valid for pod counter" in wrong.stderr


def test_logs_follow_ends_with_the_container_and_previous(env: Env) -> None:
    short = ["sh", "-c", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done"]
    sandbox = env.run_pod("short", short)
    followed = env.kubectl("logs", "-f", "short", timeout=30)
    assert followed.stdout.splitlines() == [f"tick {i}" for i in range(1, 7)]

    async def restart() -> None:
        async with RuntimeClient(env.node.endpoint) as runtime:
            pod = (await runtime.pod_sandbox_status(sandbox)).status.metadata
            config = sandbox_config(env.node, "short", pod.uid)
            await start_container(runtime, sandbox, config, "short", pod.uid, ["echo", "second run"], 1)

    asyncio.run(restart())
    wait_for("the second attempt's log", lambda: env.kubectl("logs", "short").stdout == "second run\n")
    assert env.kubectl("logs", "short", "--previous").stdout.splitlines()[-1] == "tick 6"


def test_exec_exit_code_stdin_and_tty(env: Env, tmp_path: Path) -> None:
    env.run_pod("shell", ["sleep", "3600"])
    failed = env.kubectl("exec", "shell", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3, failed.stderr
    assert failed.stdout == "hi\n" and "oops" in failed.stderr

    data = "".join(f"{i:07d} the quick brown fox\n" for i in range(20000))  # about 580 KB
    echoed = env.kubectl("exec", "-i", "shell", "--", "cat", stdin=data, timeout=60)
    assert echoed.stdout == data

    command = "kubectl exec -it shell -- sh -c 'tty; stty size; exit 0'"
    environment = {**os.environ, "KUBECONFIG": str(env.cluster.kubeconfig), "HOME": str(env.cluster.home)}
    terminal = subprocess.run(
        ["script", "-qec", command, "/dev/null"], capture_output=True, text=True, timeout=60,
        env=environment, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert "/dev/pts/" in terminal.stdout, terminal.stdout + terminal.stderr


def test_cp_both_ways(env: Env, tmp_path: Path) -> None:
    env.run_pod("files", ["sleep", "3600"])
    source = tmp_path / "payload.bin"
    source.write_bytes(os.urandom(300_000))
    env.kubectl("cp", str(source), "files:/tmp/payload.bin", timeout=60)
    size = env.kubectl("exec", "files", "--", "wc", "-c", "/tmp/payload.bin").stdout.split()[0]
    assert int(size) == 300_000
    back = tmp_path / "back.bin"
    env.kubectl("cp", "files:/tmp/payload.bin", str(back), timeout=60)
    assert back.read_bytes() == source.read_bytes()


def test_port_forward_to_httpd(env: Env) -> None:
    serve = [
        "sh",
        "-c",
        "mkdir -p /www && echo hello from the pod > /www/index.html && httpd -f -p 8080 -h /www",
    ]
    env.run_pod("web", serve)
    local = free_port()
    environment = {**os.environ, "KUBECONFIG": str(env.cluster.kubeconfig), "HOME": str(env.cluster.home)}
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "pod/web", f"{local}:8080"], env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def fetch() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5) as answer:
                    return str(answer.read().decode())
            except OSError:
                return ""

        assert wait_for("a page through port-forward", fetch, timeout=30) == "hello from the pod\n"
        assert fetch() == "hello from the pod\n", "a second connection works too"
    finally:
        forward.terminate()
        try:
            forward.wait(timeout=10)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.wait()


def test_nodes_proxy(env: Env) -> None:
    assert env.kubectl("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/healthz").stdout == "ok"
    summary = env.kubectl("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary").stdout
    assert '"nodeName": "node-1"' in summary or '"nodeName":"node-1"' in summary
