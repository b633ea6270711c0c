"""`kplane up`, `status`, `down` as a user runs them: real processes, PKI, kubeconfig, host network."""

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from deploy.state import StateDir

Kplane = Callable[..., subprocess.CompletedProcess[str]]


def host_has(command: list[str], needle: str) -> bool:
    return needle in subprocess.run(command, capture_output=True, text=True).stdout


def test_up_status_down_leaves_nothing_behind(kplane: Kplane, kplane_env: dict[str, str]) -> None:
    state = Path(kplane_env["KPLANE_STATE_DIR"])
    state_id = StateDir(state.resolve()).cluster_id
    up = kplane("up")
    assert up.returncode == 0, up.stderr
    assert f"admin kubeconfig: {state / 'admin.conf'}" in up.stdout

    for name in (
        "pki/ca.crt",
        "pki/etcd/ca.crt",
        "pki/apiserver-etcd-client.crt",
        "pki/sa.pub",
        "admin.conf",
        "scheduler.conf",
        "controller-manager.conf",
        "kube-proxy.conf",
        "kubelet-node-1.conf",
    ):
        assert (state / name).is_file(), name
    assert (state / "pki/ca.key").stat().st_mode & 0o077 == 0
    assert json.loads((state / "cluster.json").read_text())["nodes"] == ["node-1"]

    contexts = subprocess.run(
        ["kubectl", "config", "get-contexts", "-o", "name"],
        env=kplane_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "kplane-state" in contexts
    current = subprocess.run(
        ["kubectl", "config", "current-context"], env=kplane_env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert current == "kplane-state"

    route = subprocess.run(["ip", "route", "get", "10.96.0.10"], capture_output=True, text=True).stdout
    assert "dev kplsvc-" in route
    assert host_has(["iptables", "-S", "FORWARD"], "KPLANE-FWD-")

    check = kplane("pki", "check", "--dir", str(state / "pki"))  # finds the kubeconfigs beside pki/
    assert check.returncode == 0, check.stdout + check.stderr
    assert "certificates valid" in check.stdout

    status = kplane("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "host-network" in status.stdout and "not built yet" not in status.stdout
    assert any(line.startswith("kube-proxy-node-1 ") for line in status.stdout.splitlines()), status.stdout
    assert any(line.split()[:3:2] == ["scheduler", "ok"] for line in status.stdout.splitlines()), (
        status.stdout
    )

    def scheduler_lease_holder() -> str:
        """The seed's `kubectl get leases -n kube-system`: the kube-scheduler lease and its holder."""
        columns = "custom-columns=NAME:.metadata.name,HOLDER:.spec.holderIdentity"
        leases = subprocess.run(
            ["kubectl", "get", "leases", "-n", "kube-system", "-o", columns, "--no-headers"],
            env=kplane_env, capture_output=True, text=True,
        ).stdout  # fmt: skip
        holders = dict(line.split()[:2] for line in leases.splitlines() if len(line.split()) >= 2)
        return "" if holders.get("kube-scheduler", "<none>") == "<none>" else holders["kube-scheduler"]

    deadline = time.monotonic() + 20
    while not scheduler_lease_holder() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scheduler_lease_holder()

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=kplane_env, capture_output=True, text=True, timeout=60)

    # The node: its own containerd and kubelet; `image: busybox` (pull policy Always) pulls from
    # kplane's loopback registry, so a pod runs at once.
    assert kubectl("wait", "--for=condition=Ready", "node/node-1", "--timeout=60s").returncode == 0
    assert kubectl("run", "hello", "--image=busybox", "--", "sleep", "3600").returncode == 0
    ready = kubectl("wait", "--for=condition=Ready", "pod/hello", "--timeout=60s")
    assert ready.returncode == 0, ready.stderr + kubectl("describe", "pod", "hello").stdout
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=hello").stdout
    assert "Successfully pulled image" in events and "Started container hello" in events

    again = kplane("up")
    assert again.returncode == 0
    assert "already up" in again.stdout

    kubeconfig = kplane("kubeconfig")
    assert kubeconfig.stdout.strip() == str(state / "admin.conf")

    down = kplane("down")
    assert down.returncode == 0, down.stderr
    assert "kplane is down" in down.stdout
    assert (
        "dev kplsvc-"
        not in subprocess.run(["ip", "route", "get", "10.96.0.10"], capture_output=True, text=True).stdout
    )
    assert not host_has(["iptables", "-S"], "KPLANE-FWD-")
    assert not host_has(["ip", "link"], "kplsvc-")
    assert not host_has(["ip", "link"], f"kpl{state_id}")
    assert not host_has(["cat", "/proc/mounts"], str(state))
    assert not any(Path("/sys/fs/cgroup/memory").glob(f"kplane-{state_id}-*"))

    status_down = kplane("status")
    assert status_down.returncode == 1

    second_down = kplane("down", "--purge")
    assert second_down.returncode == 0
    assert "nothing was running" in second_down.stdout
    assert not state.exists()
    contexts = subprocess.run(
        ["kubectl", "config", "get-contexts", "-o", "name"], env=kplane_env, capture_output=True, text=True
    ).stdout.split()
    assert "kplane-state" not in contexts


def test_commands_without_a_cluster_say_so_in_one_line(kplane: Kplane) -> None:
    for command in (["down"], ["status"], ["kubeconfig"]):
        result = kplane(*command)
        assert result.returncode == 1, command
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("kplane: error: "), result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_flag_is_one_line_and_exit_2(kplane: Kplane) -> None:
    result = kplane("up", "--nodez", "2")
    assert result.returncode == 2
    assert result.stderr == "kplane: error: unknown flag: --nodez\n"


def test_up_refuses_a_pki_dir_signed_by_another_ca(
    kplane: Kplane, kplane_env: dict[str, str], tmp_path: Path
) -> None:
    state = Path(kplane_env["KPLANE_STATE_DIR"])
    assert kplane("pki", "init", "--dir", str(state / "pki")).returncode == 0
    assert kplane("pki", "init", "--dir", str(tmp_path / "other")).returncode == 0
    (state / "pki" / "ca.crt").write_bytes((tmp_path / "other" / "ca.crt").read_bytes())
    (state / "pki" / "ca.key").write_bytes((tmp_path / "other" / "ca.key").read_bytes())

    result = kplane("up")
    assert result.returncode == 1
    assert result.stderr.startswith("kplane: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "apiserver.crt" in result.stderr, result.stderr
    assert not (state / "cluster.json").exists()  # refused before anything else was set up


def test_two_nodes_run_pods_that_reach_each_other(kplane: Kplane, kplane_env: dict[str, str]) -> None:
    """`kplane up --nodes 2`: node-2 lives in a network namespace of its own; a pod on each node,
    the pods reach each other, and kubectl exec and logs work on both through the apiserver."""
    up = kplane("up", "--nodes", "2")
    assert up.returncode == 0, up.stderr

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", *args], env=kplane_env, capture_output=True, text=True, timeout=90)

    assert (
        kubectl("wait", "--for=condition=Ready", "node/node-1", "node/node-2", "--timeout=60s").returncode
        == 0
    )
    for node in ("node-1", "node-2"):
        overrides = json.dumps({"spec": {"nodeName": node}})
        command = "mkdir -p /www && hostname > /www/index.html && httpd -f -p 8080 -h /www"
        ran = kubectl(
            "run", f"web-{node}", "--image=busybox", f"--overrides={overrides}", "--", "sh", "-c", command
        )
        assert ran.returncode == 0, ran.stderr
    for node in ("node-1", "node-2"):
        ready = kubectl("wait", "--for=condition=Ready", f"pod/web-{node}", "--timeout=60s")
        assert ready.returncode == 0, ready.stderr + kubectl("describe", "pod", f"web-{node}").stdout
    ips = {
        node: kubectl("get", "pod", f"web-{node}", "-o", "jsonpath={.status.podIP}").stdout
        for node in ("node-1", "node-2")
    }
    assert ips["node-1"] != ips["node-2"]
    # pod on node-1 -> pod on node-2 and back, through the host and node-2's link
    for source, target in (("node-1", "node-2"), ("node-2", "node-1")):
        got = kubectl("exec", f"web-{source}", "--", "wget", "-q", "-O", "-", f"http://{ips[target]}:8080/")
        assert got.returncode == 0 and got.stdout.strip() == f"web-{target}", got.stderr
    assert kubectl("logs", "web-node-2").returncode == 0
    # A Service over both pods (kplane-proxy on each node): its ClusterIP from a pod, by the
    # <SVC>_SERVICE_HOST variable the kubelet injects, reaches both backends.
    for node in ("node-1", "node-2"):
        assert kubectl("label", "pod", f"web-{node}", "app=web").returncode == 0
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }  # fmt: skip
    created = subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=json.dumps(service),
        env=kplane_env,
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    overrides = json.dumps({"spec": {"nodeName": "node-2"}})
    ran = kubectl("run", "client", "--image=busybox", f"--overrides={overrides}", "--", "sleep", "3600")
    assert ran.returncode == 0, ran.stderr
    assert kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=60s").returncode == 0
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while seen != {"web-node-1", "web-node-2"}:
        assert time.monotonic() < deadline, f"the Service's backends reached: {seen}"
        got = kubectl("exec", "client", "--", "sh", "-c", "wget -q -O - http://$WEB_SERVICE_HOST/")
        if got.returncode == 0:
            seen.add(got.stdout.strip())
    down = kplane("down", "--purge")
    assert down.returncode == 0, down.stderr
    assert not host_has(["ip", "netns"], "kpl-")
    assert not host_has(["nft", "list", "tables"], "kube-proxy")
    assert not host_has(["iptables-save"], "KUBE-")
