"""The launcher supervises real component processes: start, health over mTLS, restart of a dead
one, SIGTERM on down. A stand-in component serves the health endpoint until the real ones land."""

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from componentbase.cli import CommandError
from deploy.components import Component
from deploy.hostnet import read_ip_forward, restore_ip_forward
from deploy.launcher import Launcher
from deploy.node import pod_cidr_route
from deploy.node_launcher import NodeLauncher
from deploy.node_runtime import NETNS_DIR, ensure_images, images_cache_dir, is_mount_point
from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec, Supervisor, probe_health, process_start_time
from kubelet.cri.api import api_pb2
from kubelet.cri.client import RuntimeClient

PROGRAM = Path(__file__).parent / "programs" / "health_only_component.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def health_only(port: int, serving_pki: Path | None = None) -> Component:
    def process(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
        pki = state.pki
        return ProcessSpec(
            name="health-only",
            argv=[sys.executable, str(PROGRAM), str(serving_pki or pki), str(port)],
            health_url=f"https://127.0.0.1:{port}/healthz",
            health_tls=(pki / "ca.crt", pki / "admin.crt", pki / "admin.key"),
            address=f"127.0.0.1:{port}",
        )

    return Component("health-only", str(port), issue=0, process=process)


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Launcher, list[str]]]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    lines: list[str] = []
    launcher = Launcher(
        StateDir(tmp_path / "state"), components=(health_only(free_port()),), out=lines.append
    )
    try:
        yield launcher, lines
    finally:
        if launcher.state.root.exists():
            launcher.down(purge=True)


def test_up_starts_restarts_and_down_stops_the_process(launcher: tuple[Launcher, list[str]]) -> None:
    cluster, lines = launcher
    assert cluster.up(ClusterSettings()) == 0
    pid = cluster.supervisor.running_pid("health-only")
    assert pid is not None
    assert (cluster.state.log_dir / "health-only.log").exists()

    lines.clear()
    assert cluster.status() == 0
    row = next(line for line in lines if line.startswith("health-only"))
    assert f" {pid} " in row and " ok " in row

    lines.clear()
    assert cluster.up(ClusterSettings()) == 0
    assert lines[0].startswith("kplane is already up")

    os.kill(pid, signal.SIGKILL)  # the component dies ...
    with contextlib.suppress(ChildProcessError):  # our child (started by this process): reap it
        os.waitpid(pid, 0)
    lines.clear()
    assert cluster.status() == 1
    assert "stopped" in next(line for line in lines if line.startswith("health-only"))

    assert cluster.up(ClusterSettings()) == 0  # ... and `up` brings it back
    new_pid = cluster.supervisor.running_pid("health-only")
    assert new_pid is not None and new_pid != pid

    assert cluster.down() == 0
    assert process_start_time(new_pid) is None
    assert not (cluster.state.run_dir / "health-only.pid").exists()


def test_a_component_that_exits_at_start_is_one_clear_error(launcher: tuple[Launcher, list[str]]) -> None:
    cluster, _ = launcher
    cluster.components = (health_only(free_port(), serving_pki=Path("/nonexistent-pki")),)
    with pytest.raises(CommandError, match=r"health-only exited during start-up; see .*health-only.log"):
        cluster.up(ClusterSettings())
    assert "nonexistent-pki" in (cluster.state.log_dir / "health-only.log").read_text()


def host_snapshot(state: StateDir, pod_netns: str = "") -> dict[str, object]:
    """What this cluster's nodes could leave on the host: links and namespaces named after the
    cluster, the pod's namespace, routes, mounts, cgroups, shims. (Other tests may be running: the
    host's own lists change under us, so only this cluster's objects are compared.)"""

    def run(*argv: str) -> str:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    cid = state.cluster_id
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "links": [line for line in run("ip", "-o", "link").splitlines() if cid in line],
        "netns": [name for name in run("ip", "netns", "list").split() if cid in name],
        "pod netns": bool(pod_netns) and Path(pod_netns).exists(),
        "routes": [
            line for line in run("ip", "route").splitlines() if "10.244.214." in line or "10.250." in line
        ],
        "mounts": [point for point in mounts if str(state.root) in point or point == "/run/netns"],
        "cgroups": sorted(str(path) for path in Path("/sys/fs/cgroup").glob(f"*/kplane-{cid}-*")),
        "shims": run("pgrep", "-f", f"-address {state.root}"),
    }


POD_CIDR_NODE2 = "10.244.214.0/24"


def run_web_pod(endpoint: str, cgroup_root: str) -> tuple[str, str]:
    """A busybox httpd pod serving "hello" on :8080; returns its IP and its network namespace."""

    async def run() -> tuple[str, str]:
        async with RuntimeClient(endpoint, timeout=30) as client:
            await client.update_runtime_config(POD_CIDR_NODE2)
            config = api_pb2.PodSandboxConfig(
                metadata=api_pb2.PodSandboxMetadata(name="web", uid="u2", namespace="default"),
                hostname="web",
                linux=api_pb2.LinuxPodSandboxConfig(cgroup_parent=f"{cgroup_root}/podu2"),
            )
            for _ in range(100):  # containerd loads the rendered CNI config asynchronously
                conditions = (await client.status()).status.conditions
                if any(c.type == "NetworkReady" and c.status for c in conditions):
                    break
                await asyncio.sleep(0.05)
            sandbox = await client.run_pod_sandbox(config)
            container = api_pb2.ContainerConfig(
                metadata=api_pb2.ContainerMetadata(name="web"),
                image=api_pb2.ImageSpec(image="busybox"),
                command=["sh", "-c", "echo hello > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"],
            )
            container_id = await client.create_container(sandbox, container, config)
            await client.start_container(container_id)
            status = await client.pod_sandbox_status(sandbox, verbose=True)
            namespaces = json.loads(status.info["info"])["runtimeSpec"]["linux"]["namespaces"]
            netns = next(n["path"] for n in namespaces if n["type"] == "network")
            return status.status.network.ip, netns

    return asyncio.run(run())


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("containerd", "ctr", "runc", "gcc", "nsenter")),
    reason="needs containerd, ctr, runc, gcc and nsenter",
)
def test_node_runtimes_run_pods_in_their_namespace_and_leave_nothing_behind() -> None:
    """Two nodes' containerds as `kplane up` runs them (node-2 in a namespace of its own), a pod
    on node-2 reached from the host through the node link, then `down`'s node clean-up."""
    root = Path(tempfile.mkdtemp(prefix="kpln-", dir="/tmp"))  # short: unix socket paths are limited
    state = StateDir(root)
    settings = ClusterSettings(nodes=["node-1", "node-2"])
    settings.original_ip_forward = read_ip_forward()
    settings.netns_dir_was_mounted = is_mount_point(NETNS_DIR)
    state.make_dirs()
    shutil.copytree(ensure_images(images_cache_dir()), state.images_dir)  # skip the build: same images
    before = host_snapshot(state)
    lines: list[str] = []
    nodes = NodeLauncher(state, settings, Supervisor(state.run_dir, state.log_dir), out=lines.append)
    _, node2 = nodes.plans
    pod_netns = ""
    try:
        assert nodes.start_runtimes() == ["registry", "containerd-node-1", "containerd-node-2"]
        runtimes = [spec for spec in nodes.specs() if spec.name.startswith("containerd-")]
        assert [probe_health(spec) for spec in runtimes] == ["ok", "ok"]
        assert nodes.start_runtimes() == [], "running containerds are kept"
        assert node2.link is not None
        netns_pid = subprocess.run(["ip", "netns", "pids", node2.link.netns], capture_output=True, text=True)
        assert str(nodes.supervisor.running_pid("containerd-node-2")) in netns_pid.stdout.split()

        pod_ip, pod_netns = run_web_pod(node2.endpoint, node2.cgroup_root)
        assert Path(pod_netns).exists()
        assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(POD_CIDR_NODE2)
        route = pod_cidr_route(node2, POD_CIDR_NODE2)
        assert route is not None
        subprocess.run(route, check=True)
        deadline = time.monotonic() + 10
        while True:  # httpd takes a moment to listen
            try:
                with urllib.request.urlopen(f"http://{pod_ip}:8080/index.html", timeout=2) as response:
                    assert response.read() == b"hello\n"
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        stopped = nodes.stop()
        restore_ip_forward(settings.original_ip_forward)
        shutil.rmtree(root, ignore_errors=True)
    assert stopped == ["containerd-node-2", "containerd-node-1", "registry"]
    assert host_snapshot(state, pod_netns) == before | {"pod netns": False}
    assert read_ip_forward() == settings.original_ip_forward
