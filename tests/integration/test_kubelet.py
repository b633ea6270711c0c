"""The kubelet for real: a kplane-apiserver, a private containerd with CNI, the busybox and pause images,
and a kplane-kubelet process with its own node identity. Pods are created with the real kubectl (bound
to the node directly: no scheduler runs here) and checked through the API and inside the containers
with CRI ExecSync.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.containerd_node import ContainerdNode
from helpers.control_plane import ControlPlane
from helpers.kubelet_process import KubeletProcess

from kubelet.cri.client import RuntimeClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run containerd"),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("containerd", "runc", "kubectl")),
        reason="needs containerd and kubectl",
    ),
]

POD_CIDR = "10.244.41.0/24"


class ManifestServer:
    """A plain-HTTP server on loopback for the kubelet's staticPodURL: it serves `manifest.yaml`."""

    def __init__(self, directory: Path) -> None:
        import functools
        import http.server
        import threading

        directory.mkdir(parents=True)
        self.path = directory / "manifest.yaml"
        self.path.write_text("")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *args: None  # type: ignore[assignment,method-assign]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/manifest.yaml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    def __init__(
        self, cp: ControlPlane, node: ContainerdNode, kubelet: KubeletProcess, served: ManifestServer
    ) -> None:
        self.cp, self.node, self.kubelet, self.served = cp, node, kubelet, served

    def apply(self, manifest: dict[str, Any] | str) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.cp.kubectl("apply", "-f", "-", stdin=text)

    def pod(self, name: str) -> dict[str, Any]:
        status, body, _ = self.cp.request("GET", f"/api/v1/namespaces/default/pods/{name}")
        return json.loads(body) if status == 200 else {}

    def wait_pod(
        self, name: str, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pod: dict[str, Any] = {}
        while time.monotonic() < deadline:
            pod = self.pod(name)
            if pod and condition(pod):
                return pod
            time.sleep(0.2)
        raise AssertionError(
            f"pod {name}: {what} not within {timeout} s; last status:\n"
            f"{json.dumps(pod.get('status'), indent=1)}\n{self.kubelet.log()[-3000:]}"
        )

    def wait_gone(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.pod(name):
            assert time.monotonic() < deadline, f"pod {name} still exists after {timeout} s"
            time.sleep(0.2)

    def events(self, name: str) -> list[tuple[str, str]]:
        _, body, _ = self.cp.request(
            "GET", f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{name}"
        )
        return [(e["reason"], e["message"]) for e in json.loads(body)["items"]]

    def exec(self, pod: dict[str, Any], container: str, *cmd: str) -> tuple[int, str]:
        statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
        container_id = statuses[container]["containerID"].removeprefix("containerd://")

        async def run() -> tuple[int, str]:
            async with RuntimeClient(self.node.endpoint) as runtime:
                answer = await runtime.exec_sync(container_id, list(cmd), 10)
                return answer.exit_code, answer.stdout.decode()

        return asyncio.run(run())

    def delete(self, name: str, grace: int = 1) -> None:
        self.cp.kubectl("delete", "pod", name, f"--grace-period={grace}", "--wait=false")


def running_and_ready(pod: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
    return pod["status"].get("phase") == "Running" and conditions.get("Ready") == "True"


def container_status(pod: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    statuses = pod["status"].get("containerStatuses") or [{}]
    return next((s for s in statuses if name is None or s.get("name") == name), {})


def busybox_pod(name: str, command: str, **extra: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "busybox",
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", command],
    }
    container.update(extra.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": "node-1",
            "terminationGracePeriodSeconds": 2,
            "containers": [container],
            **extra,
        },
    }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="kl-", dir="/tmp"))
    cp = ControlPlane(root / "cp", nodes=("node-1",))
    node = ContainerdNode(root / "n", "node-1", POD_CIDR)
    manifests = ManifestServer(root / "served")
    kubelet: KubeletProcess | None = None
    try:
        cp.start()
        node.start()
        config = {
            "staticPodURL": manifests.url,
            "httpCheckFrequency": "1s",
            "containerLogMaxSize": "16Ki",
            "containerLogMaxFiles": 2,
            "containerLogMonitorInterval": "1s",
        }
        args = ("--node-labels=tier=edge,disk=ssd", "--register-with-taints=dedicated=tests:NoSchedule")
        kubelet = KubeletProcess(cp, node, config=config, args=args).start()
        yield Cluster(cp, node, kubelet, manifests)
    finally:
        if kubelet is not None:
            kubelet.stop()
        manifests.close()
        node.close()
        cp.stop()
        leftovers = node.leftovers()
        shutil.rmtree(root, ignore_errors=True)
        assert leftovers == [], leftovers


def test_the_node_registers_with_capacity_labels_and_a_lease(cluster: Cluster) -> None:
    node = json.loads(cluster.cp.request("GET", "/api/v1/nodes/node-1")[1])
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-1" and labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] in ("amd64", "arm64")
    status = node["status"]
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.32")
    assert int(status["capacity"]["cpu"]) == os.cpu_count()
    assert {"InternalIP", "Hostname"} <= {a["type"] for a in status["addresses"]}
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1"
    deadline = time.monotonic() + 15  # the first renewal follows the pod informer's sync
    while (lease := cluster.cp.request("GET", lease_path))[0] != 200:
        assert time.monotonic() < deadline, "no node Lease"
        time.sleep(0.2)
    assert json.loads(lease[1])["spec"]["holderIdentity"] == "node-1"
    table = cluster.cp.kubectl("get", "nodes").stdout
    assert "node-1" in table and "Ready" in table


def test_a_pod_runs_gets_an_ip_that_answers_and_is_deleted_gracefully(cluster: Cluster) -> None:
    cluster.apply(
        busybox_pod("web", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www")
    )
    pod = cluster.wait_pod("web", running_and_ready, "Running and Ready")
    assert pod["status"]["podIP"].startswith("10.244.41.")
    with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=5) as answer:
        assert answer.read() == b"hello\n"
    reasons = [reason for reason, _ in cluster.events("web")]
    assert {"Pulled", "Created", "Started"} <= set(reasons)
    started = time.monotonic()
    cluster.delete("web", grace=2)
    cluster.wait_gone("web")
    assert time.monotonic() - started >= 1.5  # httpd as PID 1 ignores SIGTERM: killed after the grace period
    assert ("Killing", "Stopping container main") in cluster.events("web")


def test_env_and_volumes_are_visible_inside(cluster: Cluster) -> None:
    cluster.apply({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"color": "blue"},
    })  # fmt: skip
    cluster.apply(busybox_pod(
        "envy", "sleep 3600",
        container={
            "env": [
                {"name": "GREETING", "value": "hi"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "color"}}},
            ],
            "workingDir": "/tmp",
            "volumeMounts": [
                {"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "scratch", "mountPath": "/scratch"},
            ],
        },
        volumes=[{"name": "cfg", "configMap": {"name": "settings"}}, {"name": "scratch", "emptyDir": {}}],
    ))  # fmt: skip
    pod = cluster.wait_pod("envy", running_and_ready, "Running")
    code, out = cluster.exec(
        pod, "main", "sh", "-c", "echo $GREETING $POD_NAME $POD_IP $COLOR; pwd; cat /etc/cfg/color"
    )
    assert code == 0
    assert out.split() == ["hi", "envy", pod["status"]["podIP"], "blue", "/tmp", "blue"]
    code, out = cluster.exec(pod, "main", "sh", "-c", "echo x > /scratch/f && cat /scratch/f && hostname")
    assert out.split() == ["x", "envy"]
    cluster.delete("envy")
    cluster.wait_gone("envy")


def test_a_crashing_container_backs_off_with_restart_count(cluster: Cluster) -> None:
    cluster.apply(busybox_pod("crash", "echo dying; exit 3"))

    def crash_looping(pod: dict[str, Any]) -> bool:
        status = container_status(pod)
        waiting = status.get("state", {}).get("waiting", {})
        return waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 1

    pod = cluster.wait_pod("crash", crash_looping, "CrashLoopBackOff", timeout=40)
    status = container_status(pod)
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off 10s restarting failed container=main" in status["state"]["waiting"]["message"]
    table = cluster.cp.kubectl("get", "pod", "crash").stdout
    assert "CrashLoopBackOff" in table
    assert any(reason == "BackOff" for reason, _ in cluster.events("crash")) or status["restartCount"] >= 1
    cluster.delete("crash")
    cluster.wait_gone("crash")


def test_restart_policy_never_and_on_failure_finish_the_pod(cluster: Cluster) -> None:
    cluster.apply(busybox_pod("done", "exit 0", restartPolicy="Never"))
    cluster.apply(busybox_pod("failed", "exit 7", restartPolicy="Never"))
    done = cluster.wait_pod("done", lambda p: p["status"].get("phase") == "Succeeded", "Succeeded")
    failed = cluster.wait_pod("failed", lambda p: p["status"].get("phase") == "Failed", "Failed")
    assert container_status(done)["state"]["terminated"]["reason"] == "Completed"
    assert container_status(failed)["state"]["terminated"]["exitCode"] == 7
    for name in ("done", "failed"):
        cluster.delete(name)
        cluster.wait_gone(name)


def test_a_missing_image_waits_with_err_image_never_pull(cluster: Cluster) -> None:
    pod = busybox_pod(
        "noimage", "true", container={"image": "example.com/nothing:1", "imagePullPolicy": "Never"}
    )
    cluster.apply(pod)
    pod = cluster.wait_pod(
        "noimage",
        lambda p: (
            container_status(p).get("state", {}).get("waiting", {}).get("reason") == "ErrImageNeverPull"
        ),
        "ErrImageNeverPull",
    )
    assert "is not present with pull policy of Never" in container_status(pod)["state"]["waiting"]["message"]
    cluster.delete("noimage")
    cluster.wait_gone("noimage")


def test_a_bad_command_fails_to_start_with_a_clear_reason(cluster: Cluster) -> None:
    cluster.apply(busybox_pod("badcmd", "", container={"command": ["/no/such/binary"]}))

    def failed_start(pod: dict[str, Any]) -> bool:
        state = container_status(pod).get("state", {})
        return bool(
            state.get("waiting", {}).get("reason") in ("RunContainerError", "CrashLoopBackOff")
            or state.get("terminated", {}).get("reason") == "StartError"
        )

    pod = cluster.wait_pod("badcmd", failed_start, "a start failure")
    assert any("no such file or directory" in message for _, message in cluster.events("badcmd")) or pod
    cluster.delete("badcmd")
    cluster.wait_gone("badcmd")


def test_a_missing_config_map_holds_the_pod_until_it_appears(cluster: Cluster) -> None:
    cluster.apply(busybox_pod(
        "waits", "sleep 3600",
        container={"volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]},
        volumes=[{"name": "cfg", "configMap": {"name": "later"}}],
    ))  # fmt: skip
    cluster.wait_pod("waits", lambda p: bool(cluster.events("waits")), "an event")
    time.sleep(1)
    assert cluster.pod("waits")["status"]["phase"] == "Pending"
    assert any(
        reason == "FailedMount" and 'configmap "later" not found' in message
        for reason, message in cluster.events("waits")
    )
    cluster.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"k": "v"}}
    )
    cluster.wait_pod("waits", running_and_ready, "Running once the configMap exists")
    cluster.delete("waits")
    cluster.wait_gone("waits")


def test_a_static_pod_runs_and_appears_as_a_mirror_pod(cluster: Cluster) -> None:
    manifest = busybox_pod("static-web", "sleep 3600")
    del manifest["spec"]["nodeName"]
    path = cluster.kubelet.static_pod_file("static-web")
    path.write_text(yaml.safe_dump(manifest))
    pod = cluster.wait_pod("static-web-node-1", running_and_ready, "mirror pod Running", timeout=30)
    assert "kubernetes.io/config.mirror" in pod["metadata"]["annotations"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Node"
    # Deleting the mirror pod does not stop the static pod: the mirror comes back.
    cluster.cp.kubectl("delete", "pod", "static-web-node-1", "--wait=false")
    cluster.wait_pod(
        "static-web-node-1", lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"], "a new mirror pod"
    )
    path.unlink()
    cluster.wait_gone("static-web-node-1")


def test_a_kubelet_restart_adopts_running_containers(cluster: Cluster) -> None:
    cluster.apply(busybox_pod("survivor", "sleep 3600"))
    before = cluster.wait_pod("survivor", running_and_ready, "Running")
    cluster.kubelet.stop()
    cluster.kubelet.start()
    time.sleep(3)
    after = cluster.wait_pod("survivor", running_and_ready, "Running after the restart")
    assert container_status(after)["containerID"] == container_status(before)["containerID"]
    assert container_status(after)["restartCount"] == 0
    cluster.delete("survivor")
    cluster.wait_gone("survivor")


def test_a_liveness_failure_restarts_the_container(cluster: Cluster) -> None:
    probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 2}
    cluster.apply(
        busybox_pod(
            "liveness",
            "touch /tmp/alive; sleep 3; rm /tmp/alive; sleep 3600",
            container={"livenessProbe": probe},
        )
    )
    pod = cluster.wait_pod(
        "liveness", lambda p: container_status(p).get("restartCount", 0) >= 1, "a restart", timeout=40
    )
    messages = cluster.events("liveness")
    assert any(
        reason == "Unhealthy" and message.startswith("Liveness probe failed:") for reason, message in messages
    )
    assert any(
        reason == "Killing" and "failed liveness probe, will be restarted" in message
        for reason, message in messages
    )
    assert container_status(pod)["lastState"]["terminated"]["exitCode"] in (137, 143)
    cluster.delete("liveness")
    cluster.wait_gone("liveness")


def test_a_readiness_failure_keeps_the_pod_not_ready(cluster: Cluster) -> None:
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
    cluster.apply(busybox_pod("unready", "sleep 3600", container={"readinessProbe": probe}))
    pod = cluster.wait_pod("unready", lambda p: p["status"].get("phase") == "Running", "Running")
    time.sleep(3)
    pod = cluster.pod("unready")
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False" and conditions["Ready"]["reason"] == "ContainersNotReady"
    assert container_status(pod)["ready"] is False and container_status(pod)["restartCount"] == 0
    assert any(
        reason == "Unhealthy" and message.startswith("Readiness probe failed:")
        for reason, message in cluster.events("unready")
    )
    cluster.delete("unready")
    cluster.wait_gone("unready")


def test_a_memory_limit_kills_with_oom_killed(cluster: Cluster) -> None:
    hog = "head -c 200m /dev/zero | tail"  # tail keeps the whole input in memory
    cluster.apply(busybox_pod(
        "hog", hog, restartPolicy="Never",
        container={"resources": {"limits": {"memory": "32Mi", "cpu": "500m"}}},
    ))  # fmt: skip
    pod = cluster.wait_pod("hog", lambda p: p["status"].get("phase") == "Failed", "Failed", timeout=40)
    terminated = container_status(pod)["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled" and terminated["exitCode"] == 137
    assert pod["status"]["qosClass"] == "Guaranteed"
    cluster.delete("hog")
    cluster.wait_gone("hog")


def test_init_containers_run_first_in_order(cluster: Cluster) -> None:
    pod = busybox_pod(
        "inits", "cat /work/log; sleep 3600",
        initContainers=[
            {"name": step, "image": "busybox", "imagePullPolicy": "IfNotPresent",
             "command": ["sh", "-c", f"echo {step} >> /work/log"],
             "volumeMounts": [{"name": "work", "mountPath": "/work"}]}
            for step in ("one", "two")
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "work", "mountPath": "/work"}]},
    )  # fmt: skip
    cluster.apply(pod)
    running = cluster.wait_pod("inits", running_and_ready, "Running after its init containers")
    assert [s["state"]["terminated"]["reason"] for s in running["status"]["initContainerStatuses"]] == [
        "Completed"
    ] * 2
    assert cluster.exec(running, "main", "cat", "/work/log")[1].split() == ["one", "two"]
    cluster.delete("inits")
    cluster.wait_gone("inits")


def test_an_invalid_kubelet_configuration_is_one_line_naming_the_field(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        "imageGCHighThresholdPercent: 140\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "kubelet", f"--config={config}", "--kubeconfig=/nonexistent"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"kplane-kubelet: error: {config}: invalid configuration: "
        "imageGCHighThresholdPercent: must be between 0 and 100 (got 140)"
    ]


def node_condition(cluster: Cluster, condition: str) -> dict[str, Any]:
    node = json.loads(cluster.cp.request("GET", "/api/v1/nodes/node-1")[1])
    return next(c for c in node["status"]["conditions"] if c["type"] == condition)


def test_containerd_down_makes_the_node_not_ready_until_it_returns(cluster: Cluster) -> None:
    cluster.apply(busybox_pod("steady", "sleep 3600"))
    before = cluster.wait_pod("steady", running_and_ready, "Running")
    cluster.node.stop_runtime()
    try:
        deadline = time.monotonic() + 20
        while node_condition(cluster, "Ready")["status"] == "True":
            assert time.monotonic() < deadline, "node still Ready with containerd down"
            time.sleep(0.5)
        ready = node_condition(cluster, "Ready")
        assert ready["reason"] == "KubeletNotReady" and "container runtime" in ready["message"]
    finally:
        cluster.node.start_runtime()
    deadline = time.monotonic() + 30
    while node_condition(cluster, "Ready")["status"] != "True":
        assert time.monotonic() < deadline, "node not Ready again after containerd came back"
        time.sleep(0.5)
    after = cluster.wait_pod("steady", running_and_ready, "Running after containerd's restart")
    assert container_status(after)["containerID"] == container_status(before)["containerID"]
    cluster.delete("steady")
    cluster.wait_gone("steady")


def test_extended_resources_on_the_node_are_honoured_at_admission(cluster: Cluster) -> None:
    patch = json.dumps({"status": {"capacity": {"example.com/dongle": "1"}}}).encode()
    status, body, _ = cluster.cp.request(
        "PATCH",
        "/api/v1/nodes/node-1/status",
        patch,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200, body
    deadline = time.monotonic() + 20
    while True:
        node = json.loads(cluster.cp.request("GET", "/api/v1/nodes/node-1")[1])
        if node["status"]["allocatable"].get("example.com/dongle") == "1":
            break
        assert time.monotonic() < deadline, node["status"]["allocatable"]
        time.sleep(0.5)
    dongle = {"resources": {"requests": {"example.com/dongle": "1"}, "limits": {"example.com/dongle": "1"}}}
    cluster.apply(busybox_pod("one-dongle", "sleep 3600", container=dongle))
    cluster.wait_pod("one-dongle", running_and_ready, "Running with the one dongle")
    cluster.apply(busybox_pod("two-dongles", "sleep 3600", container=dongle))
    rejected = cluster.wait_pod("two-dongles", lambda p: p["status"].get("phase") == "Failed", "rejected")
    assert rejected["status"]["reason"] == "OutOfexample.com/dongle"
    assert "Node didn't have enough resource: example.com/dongle" in rejected["status"]["message"]
    for name in ("one-dongle", "two-dongles"):
        cluster.delete(name)
        cluster.wait_gone(name)


def test_lifecycle_hooks_and_security_context(cluster: Cluster) -> None:
    cluster.apply(
        busybox_pod(
            "hooks",
            "sleep 3600",
            container={
                "lifecycle": {
                    "postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/poststart"]}}
                },
                "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
            },
            volumes=[{"name": "ro", "emptyDir": {}}],
        )
    )
    pod = cluster.wait_pod("hooks", running_and_ready, "Running")
    assert cluster.exec(pod, "main", "cat", "/tmp/poststart")[1] == "started\n"
    assert cluster.exec(pod, "main", "id", "-u")[1].strip() == "1000"
    assert cluster.exec(pod, "main", "id", "-g")[1].strip() == "3000"
    cluster.delete("hooks")
    cluster.wait_gone("hooks")
    cluster.apply(
        busybox_pod("readonly", "sleep 3600", container={"securityContext": {"readOnlyRootFilesystem": True}})
    )
    pod = cluster.wait_pod("readonly", running_and_ready, "Running")
    code, _ = cluster.exec(pod, "main", "touch", "/newfile")
    assert code != 0
    cluster.delete("readonly")
    cluster.wait_gone("readonly")


def test_the_pod_cgroup_carries_the_pods_limits(cluster: Cluster) -> None:
    limits = {"resources": {"limits": {"memory": "48Mi", "cpu": "250m"}}}
    cluster.apply(busybox_pod("limited", "sleep 3600", container=limits))
    pod = cluster.wait_pod("limited", running_and_ready, "Running")
    pod_cgroup = f"{cluster.node.cgroup_root.strip('/')}/kubepods/pod{pod['metadata']['uid']}"
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # cgroup v2 (the VM test hosts)
        memory = cpu = Path("/sys/fs/cgroup") / pod_cgroup
        assert (memory / "memory.max").read_text().strip() == str(48 * 2**20)
        assert (cpu / "cpu.max").read_text().split() == ["25000", "100000"]
    else:
        memory, cpu = Path("/sys/fs/cgroup/memory") / pod_cgroup, Path("/sys/fs/cgroup/cpu") / pod_cgroup
        assert int((memory / "memory.limit_in_bytes").read_text()) == 48 * 2**20
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 25_000
        assert int((cpu / "cpu.shares").read_text()) == 256
    cluster.delete("limited")
    cluster.wait_gone("limited")
    deadline = time.monotonic() + 10
    while memory.exists():
        assert time.monotonic() < deadline, "the pod's cgroup is still there after its deletion"
        time.sleep(0.5)


def test_logs_exec_port_forward_and_node_proxy_through_the_apiserver(
    cluster: Cluster, tmp_path: Path
) -> None:
    import socket
    import subprocess

    cluster.apply(
        busybox_pod(
            "talker",
            "mkdir -p /www && echo page > /www/index.html && httpd -p 8080 -h /www; "
            "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
        )
    )
    cluster.wait_pod("talker", running_and_ready, "Running")
    kubectl = cluster.cp.kubectl
    # logs, and logs -f that sees new lines
    time.sleep(1)
    assert kubectl("logs", "talker", "--tail=1").stdout.startswith("line ")
    env = {"KUBECONFIG": str(cluster.cp.kubeconfig), "HOME": str(cluster.cp.home), "PATH": os.environ["PATH"]}
    follow = subprocess.Popen(["kubectl", "logs", "-f", "talker"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert follow.stdout is not None
        seen = [follow.stdout.readline() for _ in range(12)]
        assert all(line.startswith("line ") for line in seen)
    finally:
        follow.kill()
        follow.wait()
    # exec: exit codes, stdin that ends
    result = kubectl("exec", "talker", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert result.returncode == 3 and result.stdout == "hi\n"
    data = "".join(f"{i}\n" for i in range(20000))
    assert kubectl("exec", "-i", "talker", "--", "wc", "-l", stdin=data).stdout.strip() == "20000"
    # cp into the pod and back
    source = tmp_path / "data.txt"
    source.write_text(data)
    kubectl("cp", str(source), "talker:/tmp/data.txt")
    kubectl("cp", "talker:/tmp/data.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == data
    # port-forward to the pod's httpd
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    forward = subprocess.Popen(
        ["kubectl", "port-forward", "pod/talker", f"{local_port}:8080"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert forward.stdout is not None and "Forwarding from" in forward.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{local_port}/", timeout=10) as answer:
            assert answer.read() == b"page\n"
    finally:
        forward.kill()
        forward.wait()
    # the kubelet's own endpoints through nodes/proxy
    summary = json.loads(kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/stats/summary").stdout)
    assert summary["node"]["nodeName"] == "node-1"
    assert any(p["podRef"]["name"] == "talker" for p in summary["pods"])
    assert kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/healthz").stdout == "ok"
    exposed = kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/metrics").stdout
    assert "kubelet_running_pods " in exposed and 'kubelet_node_name{node="node-1"} 1.0' in exposed
    assert "kubelet_pod_worker_duration_seconds_bucket" in exposed
    pods = json.loads(kubectl("get", "--raw", "/api/v1/nodes/node-1/proxy/pods").stdout)
    assert "talker" in {p["metadata"]["name"] for p in pods["items"]}
    cluster.delete("talker")
    cluster.wait_gone("talker")


def test_exec_interactive_with_a_terminal(cluster: Cluster) -> None:
    import subprocess

    cluster.apply(busybox_pod("tty", "sleep 3600"))
    cluster.wait_pod("tty", running_and_ready, "Running")
    env = {"KUBECONFIG": str(cluster.cp.kubeconfig), "HOME": str(cluster.cp.home), "PATH": os.environ["PATH"]}
    # `script` gives kubectl a pseudo-terminal, as a user's shell would.
    session = subprocess.run(
        ["script", "-qec", "kubectl exec -it tty -- sh -c 'tty; echo done'", "/dev/null"],
        capture_output=True, text=True, env=env, timeout=60, input="",
    )  # fmt: skip
    assert "/dev/pts/" in session.stdout and "done" in session.stdout, session.stdout + session.stderr
    cluster.delete("tty")
    cluster.wait_gone("tty")


def test_node_labels_and_taints_from_the_flags(cluster: Cluster) -> None:
    node = json.loads(cluster.cp.request("GET", "/api/v1/nodes/node-1")[1])
    assert node["metadata"]["labels"]["tier"] == "edge" and node["metadata"]["labels"]["disk"] == "ssd"
    assert {"key": "dedicated", "value": "tests", "effect": "NoSchedule"} in node["spec"]["taints"]


def test_a_static_pod_from_the_static_pod_url(cluster: Cluster) -> None:
    manifest = busybox_pod("from-url", "sleep 3600")
    del manifest["spec"]["nodeName"]
    cluster.served.path.write_text(yaml.safe_dump(manifest))
    pod = cluster.wait_pod("from-url-node-1", running_and_ready, "the URL's pod Running")
    assert pod["metadata"]["annotations"]["kubernetes.io/config.source"] == "http"
    cluster.served.path.write_text("")
    cluster.wait_gone("from-url-node-1")


def test_container_logs_rotate_by_size(cluster: Cluster) -> None:
    cluster.apply(
        busybox_pod("chatty", "while true; do head -c 2000 /dev/zero | tr '\\0' x; echo; sleep 0.02; done")
    )
    pod = cluster.wait_pod("chatty", running_and_ready, "Running")
    uid = pod["metadata"]["uid"]
    directory = cluster.kubelet.pod_logs / f"default_chatty_{uid}" / "main"
    deadline = time.monotonic() + 30
    while not any(p.name.startswith("0.log.") for p in directory.iterdir()):
        assert time.monotonic() < deadline, sorted(p.name for p in directory.iterdir())
        time.sleep(0.5)
    time.sleep(3)  # a few more rotations: still at most containerLogMaxFiles files, none much past the size
    files = sorted(directory.iterdir())
    assert len(files) <= 2, [p.name for p in files]
    assert all(p.stat().st_size < 256 * 1024 for p in files)
    assert cluster.cp.kubectl("logs", "chatty", "--tail=1").stdout.startswith("xxxx")
    cluster.delete("chatty")
    cluster.wait_gone("chatty")


def test_privileged_containers_need_the_apiservers_allow_privileged(cluster: Cluster) -> None:
    # The test control plane runs without --allow-privileged (upstream's default).
    privileged = busybox_pod("priv", "sleep 1", container={"securityContext": {"privileged": True}})
    result = cluster.cp.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(privileged), check=False)
    assert result.returncode != 0
    assert (
        "spec.containers[0].securityContext.privileged: Forbidden: disallowed by cluster policy"
        in result.stderr
    )


def test_an_image_that_cannot_be_pulled_backs_off(cluster: Cluster) -> None:
    # Pulls go to kplane's loopback registry only (not running here): refused on 127.0.0.1 at once.
    cluster.apply(
        busybox_pod(
            "nopull", "true", container={"image": "example.com/nothing:1", "imagePullPolicy": "Always"}
        )
    )

    def waiting_reason(pod: dict[str, Any]) -> str:
        return str(container_status(pod).get("state", {}).get("waiting", {}).get("reason", ""))

    cluster.wait_pod(
        "nopull", lambda p: waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff"), "ErrImagePull"
    )
    pod = cluster.wait_pod("nopull", lambda p: waiting_reason(p) == "ImagePullBackOff", "ImagePullBackOff")
    assert (
        'Back-off pulling image "example.com/nothing:1"'
        in container_status(pod)["state"]["waiting"]["message"]
    )
    failures = [
        m for r, m in cluster.events("nopull") if r == "Failed" and m.startswith("Failed to pull image")
    ]
    assert failures and "example.com/nothing:1" in failures[0]
    cluster.delete("nopull")
    cluster.wait_gone("nopull")


def test_the_official_python_client_reads_logs_and_execs(cluster: Cluster) -> None:
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config
    from kubernetes.stream import stream

    cluster.apply(busybox_pod("pyclient", "echo from-the-pod; sleep 3600"))
    cluster.wait_pod("pyclient", running_and_ready, "Running")
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(cluster.cp.kubeconfig), client_configuration=configuration)
    api = k8s.CoreV1Api(k8s.ApiClient(configuration))
    deadline = time.monotonic() + 10
    while "from-the-pod" not in api.read_namespaced_pod_log("pyclient", "default"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    output = stream(
        api.connect_get_namespaced_pod_exec, "pyclient", "default",
        command=["sh", "-c", "echo out; echo err >&2"], stderr=True, stdin=False, stdout=True, tty=False,
    )  # fmt: skip
    assert "out" in output
    cluster.delete("pyclient")
    cluster.wait_gone("pyclient")


def test_config_map_updates_reach_a_running_pod(cluster: Cluster) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "live"}, "data": {"mode": "one"}}
    cluster.apply(config)
    cluster.apply(
        busybox_pod(
            "watcher",
            "sleep 3600",
            container={"volumeMounts": [{"name": "cfg", "mountPath": "/etc/live"}]},
            volumes=[{"name": "cfg", "configMap": {"name": "live"}}],
        )
    )
    pod = cluster.wait_pod("watcher", running_and_ready, "Running")
    assert cluster.exec(pod, "main", "cat", "/etc/live/mode")[1] == "one"
    cluster.apply({**config, "data": {"mode": "two"}})
    deadline = time.monotonic() + 25  # the pod's resync period (syncFrequency 10 s here) and then some
    while cluster.exec(pod, "main", "cat", "/etc/live/mode")[1] != "two":
        assert time.monotonic() < deadline, "the configMap update did not reach the volume"
        time.sleep(0.5)
    cluster.delete("watcher")
    cluster.wait_gone("watcher")
