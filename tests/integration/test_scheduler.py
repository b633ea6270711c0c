"""kplane-scheduler as a real process on a real apiserver and kplane-etcd, with Node objects only
(no kubelets): the seed's scheduling examples land where they must, unschedulable pods are told why
and placed when room appears, preemption, profiles and a second scheduler, and leader fail-over."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helpers.components import SchedulerProcess
from helpers.control_plane import ControlPlane
from helpers.scheduling import make_node
from helpers.waiting import wait_for

pytestmark = pytest.mark.integration

SEED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: seed-constraints, namespace: sched}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: kubernetes.io/arch
            operator: In
            values: ["amd64"]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions:
            - key: app
              operator: In
              values: ["web"]
          topologyKey: kubernetes.io/hostname
  tolerations:
  - key: "dedicated"
    operator: "Equal"
    value: "web"
    effect: "NoSchedule"
  containers:
  - {name: app, image: busybox}
"""

GPU_SCHEDULER_CONFIG = """
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: KUBECONFIG}
leaderElection: {leaderElect: true, resourceName: gpu-scheduler, resourceNamespace: kube-system}
profiles:
- schedulerName: gpu-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: nvidia.com/gpu, weight: 5}, {name: cpu, weight: 1}]
- schedulerName: bin-packing-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
"""


class Cluster:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    def apply(self, *objects: dict[str, Any] | str) -> None:
        docs = [obj if isinstance(obj, str) else yaml.safe_dump(obj) for obj in objects]
        self.cp.kubectl("apply", "-f", "-", stdin="\n---\n".join(docs))

    def get(self, kind: str, name: str, namespace: str = "sched") -> dict[str, Any]:
        result = self.cp.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def node_of(self, pod: str) -> str:
        return str(self.get("pod", pod).get("spec", {}).get("nodeName") or "")

    def events(self, pod: str) -> list[dict[str, Any]]:
        out = self.cp.kubectl(
            "get", "events", "-n", "sched", "--field-selector", f"involvedObject.name={pod}", "-o", "json"
        ).stdout
        return json.loads(out)["items"]

    def pod(self, name: str, **spec: Any) -> dict[str, Any]:
        labels = spec.pop("labels", None)
        cpu = spec.pop("cpu", None)
        container: dict[str, Any] = {"name": "app", "image": "busybox"}
        if cpu:
            container["resources"] = {"requests": {"cpu": cpu}}
        meta: dict[str, Any] = {"name": name, "namespace": "sched"}
        if labels:
            meta["labels"] = labels
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"containers": [container], **spec},
        }


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-sched"))
    try:
        plane.start()
        plane.kubectl("create", "namespace", "sched")
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def scheduler(cp: ControlPlane) -> Iterator[SchedulerProcess]:
    process = SchedulerProcess(cp, "scheduler").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def cluster(cp: ControlPlane, scheduler: SchedulerProcess) -> Cluster:
    nodes = Cluster(cp)
    nodes.apply(
        make_node("amd-1", cpu="4", labels={"kubernetes.io/arch": "amd64", "zone": "a"}),
        make_node("arm-1", cpu="4", labels={"kubernetes.io/arch": "arm64", "zone": "a"}),
        make_node(
            "amd-web",
            cpu="4",
            labels={"kubernetes.io/arch": "amd64", "zone": "b"},
            taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
        ),
    )
    return nodes


def test_the_seed_constraints_pod_avoids_the_web_pod_and_uses_its_toleration(cluster: Cluster) -> None:
    cluster.apply(cluster.pod("web-1", labels={"app": "web"}, nodeName="amd-1"))
    cluster.apply(SEED_POD)
    assert (
        wait_for("the seed pod to be bound", lambda: cluster.node_of("seed-constraints"), timeout=20)
        == "amd-web"
    )
    scheduled = wait_for(
        "the Scheduled event",
        lambda: [e for e in cluster.events("seed-constraints") if e["reason"] == "Scheduled"],
    )
    assert scheduled[0]["message"] == "Successfully assigned sched/seed-constraints to amd-web"
    assert scheduled[0]["source"]["component"] == "default-scheduler"


def test_required_anti_affinity_and_node_selector_decide_the_node(cluster: Cluster) -> None:
    cluster.apply(cluster.pod("db-1", labels={"app": "db"}, nodeName="amd-1"))
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}
            ]
        }
    }
    tolerate_all = [{"key": "dedicated", "operator": "Exists"}]
    amd64 = {"kubernetes.io/arch": "amd64"}
    cluster.apply(
        cluster.pod("db-2", labels={"app": "db"}, affinity=anti, nodeSelector=amd64, tolerations=tolerate_all)
    )
    assert (
        wait_for("db-2 to be bound", lambda: cluster.node_of("db-2")) == "amd-web"
    )  # zone b: the only one without db


def test_an_unschedulable_pod_is_told_why_and_placed_when_a_node_appears(cluster: Cluster) -> None:
    cluster.apply(cluster.pod("big", cpu="6"))
    failed = wait_for(
        "FailedScheduling", lambda: [e for e in cluster.events("big") if e["reason"] == "FailedScheduling"]
    )
    message = failed[0]["message"]
    assert message.startswith("0/3 nodes are available: ")
    assert "1 node(s) had untolerated taint {dedicated: web}" in message
    assert "2 Insufficient cpu" in message
    assert "preemption: " in message

    def pod_scheduled() -> list[dict[str, Any]]:
        conditions = cluster.get("pod", "big").get("status", {}).get("conditions", [])
        return [c for c in conditions if c["type"] == "PodScheduled"]

    condition = wait_for("the PodScheduled condition", pod_scheduled)
    assert (condition[0]["status"], condition[0]["reason"]) == ("False", "Unschedulable")

    cluster.apply(make_node("big-1", cpu="8"))
    assert wait_for("big to be bound once a node has room", lambda: cluster.node_of("big")) == "big-1"


def test_a_pod_for_a_scheduler_nobody_runs_stays_pending_and_untouched(cluster: Cluster) -> None:
    cluster.apply(cluster.pod("orphan", schedulerName="nobody"))
    cluster.apply(cluster.pod("marker"))
    wait_for("a later pod to be bound", lambda: cluster.node_of("marker"))
    pod = cluster.get("pod", "orphan")
    assert not pod["spec"].get("nodeName")
    assert "conditions" not in pod.get("status", {})
    assert cluster.events("orphan") == []


def test_a_higher_priority_pod_preempts_a_lower_one(cluster: Cluster, cp: ControlPlane) -> None:
    cluster.apply(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
        },
        make_node("small", cpu="1", labels={"pool": "small"}),
    )
    on_small = {"nodeSelector": {"pool": "small"}}
    cluster.apply(cluster.pod("victim", cpu="800m", **on_small))
    assert wait_for("the victim to be bound", lambda: cluster.node_of("victim")) == "small"
    cluster.apply(cluster.pod("preemptor", cpu="800m", priorityClassName="high", **on_small))
    victim = wait_for(
        "the victim to be deleted",
        lambda: cluster.get("pod", "victim").get("metadata", {}).get("deletionTimestamp"),
    )
    assert victim
    assert (
        wait_for(
            "the nomination",
            lambda: cluster.get("pod", "preemptor").get("status", {}).get("nominatedNodeName"),
        )
        == "small"
    )
    # no kubelet confirms the graceful deletion here: finish it as a kubelet would
    cp.kubectl("delete", "pod", "victim", "-n", "sched", "--grace-period=0", "--force")
    assert wait_for("the preemptor to be bound", lambda: cluster.node_of("preemptor")) == "small"


def test_a_second_scheduler_with_two_profiles_serves_its_own_pods(cluster: Cluster, cp: ControlPlane) -> None:
    cluster.apply(
        make_node("gpu-1", cpu="8", extra={"nvidia.com/gpu": "2"}, labels={"pool": "gpu"}),
        make_node("gpu-2", cpu="8", extra={"nvidia.com/gpu": "2"}, labels={"pool": "gpu"}),
    )
    one_gpu = {"limits": {"nvidia.com/gpu": "1"}}
    first = {"name": "t", "image": "busybox", "resources": {"requests": {"nvidia.com/gpu": "1"}, **one_gpu}}
    cluster.apply(cluster.pod("gpu-first", nodeName="gpu-2", containers=[first]))
    gpu = SchedulerProcess(cp, "gpu-scheduler", config=GPU_SCHEDULER_CONFIG).start()
    try:
        container = {"name": "training", "image": "tensorflow/tensorflow:latest-gpu", "resources": one_gpu}
        training = cluster.pod("training", schedulerName="gpu-scheduler", containers=[container])
        cluster.apply(training)
        # MostAllocated on nvidia.com/gpu packs the second GPU pod next to the first
        assert wait_for("the training pod to be bound", lambda: cluster.node_of("training")) == "gpu-2"
        event = wait_for(
            "its event", lambda: [e for e in cluster.events("training") if e["reason"] == "Scheduled"]
        )
        assert event[0]["source"]["component"] == "gpu-scheduler"  # events are reported per profile
        leases = cp.kubectl("get", "leases", "-n", "kube-system").stdout
        assert "gpu-scheduler" in leases and "kube-scheduler" in leases
    finally:
        gpu.stop()


def test_metrics_count_attempts_and_pending_pods(scheduler: SchedulerProcess, cluster: Cluster) -> None:
    text = scheduler.metrics()
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}' in text
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="unschedulable"}' in text
    assert "scheduler_scheduling_attempt_duration_seconds_bucket" in text
    assert 'scheduler_pending_pods{queue="active"}' in text
    assert "scheduler_preemption_attempts_total" in text


def test_a_standby_takes_over_when_the_leader_is_killed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    plane = ControlPlane(tmp_path_factory.mktemp("cp-sched-ha"))
    schedulers: list[SchedulerProcess] = []
    try:
        plane.start()
        plane.kubectl("create", "namespace", "sched")
        cluster = Cluster(plane)
        cluster.apply(make_node("n1"))
        schedulers = [SchedulerProcess(plane, f"sched-{i}").start() for i in range(2)]

        def holder() -> str:
            lease = cluster.get("lease", "kube-scheduler", "kube-system")
            return str(lease.get("spec", {}).get("holderIdentity") or "")

        leader_identity = wait_for("a leader", holder)
        leader = next(s for s in schedulers if leader_identity in s.log())
        standby = next(s for s in schedulers if s is not leader)
        cluster.apply(cluster.pod("before"))
        wait_for("a pod bound by the leader", lambda: cluster.node_of("before"))

        killed_at = time.monotonic()
        leader.stop(signal.SIGKILL)
        cluster.apply(cluster.pod("after"))
        wait_for("the standby to bind a pod", lambda: cluster.node_of("after"), timeout=15)
        assert time.monotonic() - killed_at < 4 + 5  # the lease duration plus a retry and the bind
        assert holder() != leader_identity and holder() in standby.log()
        scheduled = [e for e in cluster.events("after") if e["reason"] == "Scheduled"]
        assert len(scheduled) == 1 and scheduled[0]["count"] == 1  # bound once
    finally:
        for process in schedulers:
            process.stop()
        plane.stop()
