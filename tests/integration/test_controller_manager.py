"""kplane-controller-manager as a real process with kplane-scheduler, a real apiserver and
kplane-etcd; hollow nodes (tests/helpers/hollow_nodes.py) renew their Leases and report pods
Running/Ready as a kubelet would. Deployments scale and roll, kubectl rollout works, deletion
cascades, namespaces empty, endpoints follow readiness, dead nodes are tainted and drained, and a
standby takes over without ever doubling a ReplicaSet's pods."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers.components import ControllerManagerProcess, SchedulerProcess
from helpers.control_plane import ControlPlane
from helpers.hollow_nodes import HollowNodes
from helpers.waiting import wait_for

pytestmark = pytest.mark.integration

FAST_NODE_MONITOR = (
    "--node-monitor-period=1s",
    "--node-monitor-grace-period=5s",
    "--node-startup-grace-period=5s",
)


def deployment(name: str, replicas: int, image: str = "busybox:1", **strategy: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "apps"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": image, "resources": {"requests": {"cpu": "10m"}}}]
                },
            },
        },
    }


class Cluster:
    def __init__(self, cp: ControlPlane, nodes: HollowNodes) -> None:
        self.cp = cp
        self.nodes = nodes

    def kubectl(self, *args: str, **kwargs: Any) -> str:
        return self.cp.kubectl(*args, **kwargs).stdout

    def apply(self, obj: dict[str, Any]) -> None:
        self.cp.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(obj))

    def items(self, kind: str, namespace: str = "apps", *selectors: str) -> list[dict[str, Any]]:
        out = self.cp.kubectl("get", kind, "-n", namespace, "-o", "json", *selectors).stdout
        return json.loads(out)["items"]

    def pods(self, app: str, namespace: str = "apps") -> list[dict[str, Any]]:
        return self.items("pods", namespace, "-l", f"app={app}")

    def ready_pods(self, app: str, namespace: str = "apps") -> list[dict[str, Any]]:
        return [
            p for p in self.pods(app, namespace) if is_ready(p) and not p["metadata"].get("deletionTimestamp")
        ]


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", [])
    )


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-cm"))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def cluster(cp: ControlPlane) -> Iterator[Cluster]:
    scheduler = SchedulerProcess(cp, "scheduler")
    manager = ControllerManagerProcess(cp, "controller-manager", args=FAST_NODE_MONITOR)
    nodes = HollowNodes(cp, ["hollow-1", "hollow-2", "hollow-3"])
    try:
        nodes.__enter__()
        scheduler.start()
        manager.start()
        cp.kubectl("create", "namespace", "apps")
        yield Cluster(cp, nodes)
        assert not nodes.errors, nodes.errors
    finally:
        nodes.__exit__()
        manager.stop()
        scheduler.stop()


def test_every_namespace_gets_the_default_service_account_and_the_root_ca(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "fresh")
    wait_for("the default service account", lambda: cluster.items("serviceaccounts", "fresh"))
    assert [sa["metadata"]["name"] for sa in cluster.items("serviceaccounts", "fresh")] == ["default"]
    root_ca = wait_for("kube-root-ca.crt", lambda: cluster.items("configmaps", "fresh"))
    assert root_ca[0]["metadata"]["name"] == "kube-root-ca.crt"
    assert root_ca[0]["data"]["ca.crt"] == (cluster.cp.pki / "ca.crt").read_text()


def test_a_deployment_scales_up_and_down(cluster: Cluster) -> None:
    cluster.apply(deployment("scaled", 3))
    wait_for("3 ready pods", lambda: len(cluster.ready_pods("scaled")) == 3)
    cluster.kubectl("scale", "deployment/scaled", "-n", "apps", "--replicas=5")
    wait_for("5 ready pods", lambda: len(cluster.ready_pods("scaled")) == 5)
    cluster.kubectl("scale", "deployment/scaled", "-n", "apps", "--replicas=3")
    wait_for("back to 3 pods", lambda: len(cluster.pods("scaled")) == 3)
    status = cluster.kubectl("rollout", "status", "deployment/scaled", "-n", "apps", "--timeout=30s")
    assert 'deployment "scaled" successfully rolled out' in status
    replicasets = cluster.items("replicasets")
    owned = [rs for rs in replicasets if rs["metadata"]["name"].startswith("scaled-")]
    assert len(owned) == 1 and owned[0]["status"]["readyReplicas"] == 3


class PodCounter:
    """Counts a Deployment's pods every few tenths of a second in the background: the most that
    existed at once and the fewest that were Ready."""

    def __init__(self, cluster: Cluster, app: str) -> None:
        self.cluster, self.app = cluster, app
        self.most, self.fewest_ready = 0, 10**6
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodCounter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            pods = [p for p in self.cluster.pods(self.app) if not p["metadata"].get("deletionTimestamp")]
            self.most = max(self.most, len(pods))
            self.fewest_ready = min(self.fewest_ready, sum(1 for p in pods if is_ready(p)))
            time.sleep(0.1)


def test_a_rolling_update_respects_surge_and_unavailability_and_undo_goes_back(cluster: Cluster) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    cluster.apply(deployment("rolling", 4, "busybox:1", **strategy))
    wait_for("4 ready pods", lambda: len(cluster.ready_pods("rolling")) == 4)
    with PodCounter(cluster, "rolling") as counter:
        cluster.kubectl("set", "image", "deployment/rolling", "-n", "apps", "app=busybox:2")
        cluster.kubectl("rollout", "status", "deployment/rolling", "-n", "apps", "--timeout=60s", timeout=90)
    assert counter.most <= 4 + 1  # maxSurge
    assert counter.fewest_ready >= 4 - 0  # maxUnavailable
    images = {p["spec"]["containers"][0]["image"] for p in cluster.ready_pods("rolling")}
    assert images == {"busybox:2"}
    history = cluster.kubectl("rollout", "history", "deployment/rolling", "-n", "apps")
    assert "1 " in history and "2 " in history
    cluster.kubectl("rollout", "undo", "deployment/rolling", "-n", "apps")
    cluster.kubectl("rollout", "status", "deployment/rolling", "-n", "apps", "--timeout=60s", timeout=90)
    wait_for(
        "the old image back",
        lambda: (
            {
                p["spec"]["containers"][0]["image"]
                for p in cluster.pods("rolling")
                if not p["metadata"].get("deletionTimestamp")
            }
            == {"busybox:1"}
        ),
    )


def test_rollout_pause_resume_and_restart(cluster: Cluster) -> None:
    cluster.apply(deployment("paused", 2))
    wait_for("2 ready pods", lambda: len(cluster.ready_pods("paused")) == 2)
    cluster.kubectl("rollout", "pause", "deployment/paused", "-n", "apps")
    cluster.kubectl("set", "image", "deployment/paused", "-n", "apps", "app=busybox:3")

    def seen_by_controller() -> bool:
        deploy = json.loads(cluster.kubectl("get", "deployment", "paused", "-n", "apps", "-o", "json"))
        return bool(deploy["status"].get("observedGeneration") == deploy["metadata"]["generation"])

    wait_for("the controller to see the paused template", seen_by_controller)
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("paused")} == {"busybox:1"}
    cluster.kubectl("rollout", "resume", "deployment/paused", "-n", "apps")
    cluster.kubectl("rollout", "status", "deployment/paused", "-n", "apps", "--timeout=60s", timeout=90)
    wait_for(
        "the new image",
        lambda: {p["spec"]["containers"][0]["image"] for p in cluster.ready_pods("paused")} == {"busybox:3"},
    )
    before = {p["metadata"]["name"] for p in cluster.pods("paused")}
    cluster.kubectl("rollout", "restart", "deployment/paused", "-n", "apps")
    cluster.kubectl("rollout", "status", "deployment/paused", "-n", "apps", "--timeout=60s", timeout=90)
    wait_for(
        "every pod replaced", lambda: not before & {p["metadata"]["name"] for p in cluster.pods("paused")}
    )


def test_deleting_a_deployment_deletes_its_replicasets_and_pods(cluster: Cluster) -> None:
    for name, cascade in (("background", "background"), ("foreground", "foreground")):
        cluster.apply(deployment(name, 2))
        wait_for("2 ready pods", lambda name=name: len(cluster.ready_pods(name)) == 2)
        cluster.kubectl(
            "delete", "deployment", name, "-n", "apps", f"--cascade={cascade}", "--timeout=60s", timeout=90
        )
        wait_for(f"{name}: pods gone", lambda name=name: not cluster.pods(name))
        wait_for(
            f"{name}: replicasets gone",
            lambda name=name: (
                not [
                    rs for rs in cluster.items("replicasets") if rs["metadata"]["name"].startswith(f"{name}-")
                ]
            ),
        )


def test_deleting_a_namespace_empties_it_first(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("create", "configmap", "settings", "-n", "doomed", "--from-literal=a=b")
    doomed = deployment("doomed-app", 1)
    doomed["metadata"]["namespace"] = "doomed"
    cluster.apply(doomed)
    wait_for("a ready pod", lambda: cluster.ready_pods("doomed-app", "doomed"))
    cluster.kubectl("delete", "namespace", "doomed", "--timeout=60s", timeout=90)
    gone = cluster.cp.kubectl("get", "namespace", "doomed", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_endpoints_and_endpointslices_follow_readiness(cluster: Cluster) -> None:
    cluster.apply(deployment("web", 2))
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }
    )
    pods = wait_for("2 ready pods", lambda: len(cluster.ready_pods("web")) == 2 and cluster.ready_pods("web"))

    def slice_endpoints() -> dict[str, bool]:
        slices = cluster.items("endpointslices", "apps", "-l", "kubernetes.io/service-name=web")
        return {e["addresses"][0]: e["conditions"]["ready"] for s in slices for e in s.get("endpoints") or []}

    ips = {p["status"]["podIP"] for p in pods}
    wait_for("both pods in the slice, ready", lambda: slice_endpoints() == dict.fromkeys(ips, True))
    one = pods[0]
    cluster.nodes.set_ready(f"apps/{one['metadata']['name']}", False)
    wait_for("the pod not ready in the slice", lambda: slice_endpoints().get(one["status"]["podIP"]) is False)
    endpoints = json.loads(cluster.kubectl("get", "endpoints", "web", "-n", "apps", "-o", "json"))
    subset = endpoints["subsets"][0]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == [one["status"]["podIP"]]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    cluster.nodes.set_ready(f"apps/{one['metadata']['name']}", True)
    wait_for("ready again", lambda: slice_endpoints() == dict.fromkeys(ips, True))


def test_a_node_that_stops_heartbeating_is_tainted_and_its_pods_evicted(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The kubelet of node-b dies: after the (shortened) grace period the node is Ready=Unknown with
    the unreachable NoExecute taint, and its pod leaves after its own tolerationSeconds."""
    plane = ControlPlane(tmp_path_factory.mktemp("cp-cm-nodes"))
    manager = ControllerManagerProcess(plane, "controller-manager", args=FAST_NODE_MONITOR)
    nodes = HollowNodes(plane, ["node-a", "node-b"])
    try:
        plane.start()
        nodes.__enter__()
        manager.start()
        cluster = Cluster(plane, nodes)
        tolerate = [
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 3,
            }
        ]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "victim", "namespace": "default", "labels": {"app": "v"}},
            "spec": {
                "nodeName": "node-b",
                "tolerations": tolerate,
                "containers": [{"name": "c", "image": "busybox"}],
            },
        }
        cluster.apply(pod)
        wait_for("the pod running", lambda: cluster.ready_pods("v", "default"))
        nodes.stop_heartbeat("node-b")
        stopped = time.monotonic()

        def node_b() -> dict[str, Any]:
            return json.loads(cluster.kubectl("get", "node", "node-b", "-o", "json"))

        def unreachable() -> bool:
            return any(
                t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
                for t in node_b()["spec"].get("taints", [])
            )

        wait_for("the unreachable taint", unreachable, timeout=30)
        ready = next(c for c in node_b()["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
        assert time.monotonic() - stopped >= 5  # not before the grace period
        wait_for("the pod evicted", lambda: not cluster.pods("v", "default"), timeout=30)
        assert not nodes.errors, nodes.errors
        node_a = json.loads(cluster.kubectl("get", "node", "node-a", "-o", "json"))
        assert not [t for t in node_a["spec"].get("taints", []) if t["effect"] == "NoExecute"]
    finally:
        nodes.__exit__()
        manager.stop()
        plane.stop()


def test_a_standby_takes_over_and_never_doubles_a_replicasets_pods(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-cm-ha"))
    managers = [ControllerManagerProcess(plane, f"cm-{i}") for i in range(2)]
    nodes = HollowNodes(plane, ["node-1"])
    try:
        plane.start()
        nodes.__enter__()
        for manager in managers:
            manager.start()
        cluster = Cluster(plane, nodes)
        plane.kubectl("create", "namespace", "apps")
        replicaset = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "steady", "namespace": "apps"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "steady"}},
                "template": {
                    "metadata": {"labels": {"app": "steady"}},
                    "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        }
        cluster.apply(replicaset)
        wait_for("3 pods", lambda: len(cluster.pods("steady")) == 3)

        def holder() -> str:
            lease = json.loads(
                cluster.kubectl("get", "lease", "kube-controller-manager", "-n", "kube-system", "-o", "json")
            )
            return str(lease["spec"].get("holderIdentity") or "")

        leader = next(m for m in managers if holder() in m.log())
        with PodCounter(cluster, "steady") as counter:
            leader.stop(signal.SIGKILL)
            first = cluster.pods("steady")[0]["metadata"]["name"]
            cluster.kubectl("delete", "pod", first, "-n", "apps", "--wait=false")
            wait_for("a new leader", lambda: holder() and holder() not in leader.log(), timeout=30)
            wait_for(
                "the pod replaced",
                lambda: (
                    first not in {p["metadata"]["name"] for p in cluster.pods("steady")}
                    and len(cluster.pods("steady")) == 3
                ),
                timeout=30,
            )
        assert counter.most == 3
    finally:
        nodes.__exit__()
        for manager in managers:
            manager.stop()
        plane.stop()
