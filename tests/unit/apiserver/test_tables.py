"""Server-side printing: each case is a realistic object and the cells kube-apiserver v1.32 prints
for it (pkg/printers/internalversion), so `kubectl get` looks as it does against a real cluster.
The case tables are laid out by hand (fmt: off) so each reads as object -> expected row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apiserver.tables import (
    DEFAULT_PRINTER,
    human_duration,
    include_object_option,
    parse_table_accept,
    printer_for,
    table,
    table_api_version,
)
from kubeapi.errors import StatusError
from kubeapi.resources import BUILTIN_REGISTRY

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
Obj = dict[str, Any]


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: float = 3600, **extra: Any) -> Obj:
    return {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "creationTimestamp": ago(created),
        **extra,
    }


def cells(resource: str, group: str, obj: Obj) -> list[Any]:
    return list(table(resource, group, [obj], now=NOW)["rows"][0]["cells"])


def column_names(resource: str, group: str) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in table(resource, group, [], now=NOW)["columnDefinitions"]]


def ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [case[0] for case in cases]


def args(cases: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [case[1:] for case in cases]


# --- human_duration -----------------------------------------------------------------------------

# fmt: off
DURATIONS = [
    ("now reads 0s", 0, "0s"),
    ("up to 2s in the future is clock skew", -1.9, "0s"),
    ("2s in the future is invalid", -2, "<invalid>"),
    ("seconds up to two minutes", 119, "119s"),
    ("two minutes exactly", 120, "2m"),
    ("minutes and seconds under ten minutes", 150, "2m30s"),
    ("just under ten minutes", 599, "9m59s"),
    ("minutes up to three hours", 179 * 60 + 59, "179m"),
    ("three hours exactly", 3 * 3600, "3h"),
    ("hours and minutes under eight hours", 3 * 3600 + 30 * 60, "3h30m"),
    ("hours up to two days", 47 * 3600 + 59 * 60, "47h"),
    ("two days", 48 * 3600, "2d"),
    ("days and hours under eight days", (3 * 24 + 4) * 3600, "3d4h"),
    ("days up to two years", 400 * 86400, "400d"),
    ("two years exactly", 730 * 86400, "2y"),
    ("years and days under eight years", (730 + 30) * 86400, "2y30d"),
    ("whole years from eight years", 9 * 365 * 86400 + 100 * 86400, "9y"),
]
# fmt: on


@pytest.mark.parametrize(("seconds", "expected"), args(DURATIONS), ids=ids(DURATIONS))
def test_human_duration_matches_apimachinery(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


# --- pods ---------------------------------------------------------------------------------------


def container(
    name: str = "app", *, ready: bool = True, restarts: int = 0, state: Obj | None = None, **extra: Any
) -> Obj:
    running = {"running": {"startedAt": ago(3000)}}
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state or running, **extra}


def waiting(reason: str) -> Obj:
    return {"waiting": {"reason": reason}}


def terminated(exit_code: int, reason: str = "", **extra: Any) -> Obj:
    return {"terminated": {"exitCode": exit_code, **({"reason": reason} if reason else {}), **extra}}


def pod(
    *,
    phase: str = "Running",
    containers: int = 1,
    statuses: list[Obj] | None = None,
    init: list[str] | None = None,
    sidecars: list[str] | None = None,
    init_statuses: list[Obj] | None = None,
    conditions: list[Obj] | None = None,
    deleting: bool = False,
    **status: Any,
) -> Obj:
    """A pod on node-1 created an hour ago; `init` and `sidecars` name its init containers."""
    metadata = meta("web-1", **({"deletionTimestamp": ago(10)} if deleting else {}))
    init_containers = [{"name": n} for n in init or []]
    init_containers += [{"name": n, "restartPolicy": "Always"} for n in sidecars or []]
    spec = {
        "containers": [
            {"name": "app" if i == 0 else f"c{i}", "image": "nginx:1.27"} for i in range(containers)
        ],
        "initContainers": init_containers,
        "nodeName": "node-1",
    }
    optional = {
        "containerStatuses": statuses,
        "initContainerStatuses": init_statuses,
        "conditions": conditions,
    }
    status = {"phase": phase, "podIP": "10.244.1.7", **status}
    status.update({k: v for k, v in optional.items() if v is not None})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}


def pod_conditions(ready: bool = True) -> list[Obj]:
    value = "True" if ready else "False"
    return [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": value}]


CRASH_LOOP = pod(
    statuses=[
        container(
            ready=False,
            restarts=5,
            state=waiting("CrashLoopBackOff"),
            lastState=terminated(1, "Error", finishedAt=ago(180)),
        )
    ],
    conditions=pod_conditions(ready=False),
)

# fmt: off
POD_CASES = [
    ("a running ready pod", pod(statuses=[container()]), ["1/1", "Running", "0"]),
    ("a pod in CrashLoopBackOff with 5 restarts", CRASH_LOOP, ["0/1", "CrashLoopBackOff", "5 (3m ago)"]),
    ("a pod whose second init container runs",
     pod(phase="Pending", init=["migrate", "warm-cache"],
         init_statuses=[container("migrate", state=terminated(0, "Completed")),
                        container("warm-cache", ready=False)],
         statuses=[container(ready=False, state=waiting("PodInitializing"))],
         conditions=[{"type": "Initialized", "status": "False"}]),
     ["0/1", "Init:1/2", "0"]),
    ("an init container that cannot pull its image",
     pod(phase="Pending", init=["migrate"],
         init_statuses=[container("migrate", ready=False, state=waiting("ErrImagePull"))]),
     ["0/1", "Init:ErrImagePull", "0"]),
    ("an init container that failed with a reason",
     pod(phase="Pending", init=["migrate"],
         init_statuses=[container("migrate", ready=False, restarts=2, state=terminated(1, "Error"))]),
     ["0/1", "Init:Error", "2"]),
    ("an init container killed by a signal without a reason",
     pod(phase="Pending", init=["migrate"],
         init_statuses=[container("migrate", ready=False, state=terminated(137, signal=9))]),
     ["0/1", "Init:Signal:9", "0"]),
    ("a container waiting to be created",
     pod(phase="Pending", statuses=[container(ready=False, state=waiting("ContainerCreating"))]),
     ["0/1", "ContainerCreating", "0"]),
    ("a container that cannot pull its image",
     pod(phase="Pending", statuses=[container(ready=False, state=waiting("ErrImagePull"))]),
     ["0/1", "ErrImagePull", "0"]),
    ("a container that exited without a reason",
     pod(statuses=[container(ready=False, state=terminated(3))]), ["0/1", "ExitCode:3", "0"]),
    ("a terminating pod", pod(statuses=[container()], deleting=True), ["1/1", "Terminating", "0"]),
    ("a deleted pod on an unreachable node",
     pod(statuses=[container()], deleting=True, reason="NodeLost"), ["1/1", "Unknown", "0"]),
    ("a completed pod",
     pod(phase="Succeeded", statuses=[container(ready=False, state=terminated(0, "Completed"))]),
     ["0/1", "Completed", "0"]),
    ("a completed container beside a running one in a ready pod",
     pod(containers=2, conditions=pod_conditions(),
         statuses=[container(ready=False, state=terminated(0, "Completed")), container("c1")]),
     ["1/2", "Running", "0"]),
    ("a completed container beside a running one in an unready pod",
     pod(containers=2, conditions=pod_conditions(ready=False),
         statuses=[container(ready=False, state=terminated(0, "Completed")), container("c1")]),
     ["1/2", "NotReady", "0"]),
    ("a pending pod with no status yet", pod(phase="Pending"), ["0/1", "Pending", "0"]),
    ("a pod held by a scheduling gate",
     pod(phase="Pending",
         conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
     ["0/1", "SchedulingGated", "0"]),
    ("a running sidecar counts as a container and its restarts count",
     pod(sidecars=["proxy"], init_statuses=[container("proxy", started=True, restarts=1)],
         statuses=[container()], conditions=pod_conditions()),
     ["2/2", "Running", "1"]),
    ("an evicted pod shows its reason",
     pod(phase="Failed", reason="Evicted", statuses=[]), ["0/1", "Evicted", "0"]),
]
# fmt: on


@pytest.mark.parametrize(("obj", "expected"), args(POD_CASES), ids=ids(POD_CASES))
def test_pod_ready_status_and_restarts(obj: Obj, expected: list[str]) -> None:
    assert cells("pods", "", obj)[1:4] == expected


def test_pod_row_has_name_age_and_the_wide_cells() -> None:
    obj = pod(statuses=[container()], conditions=[{"type": "example.com/lb", "status": "True"}])
    obj["spec"]["readinessGates"] = [
        {"conditionType": "example.com/lb"},
        {"conditionType": "example.com/dns"},
    ]
    expected = ["web-1", "1/1", "Running", "0", "60m", "10.244.1.7", "node-1", "<none>", "1/2"]
    assert cells("pods", "", obj) == expected


def test_unscheduled_pod_shows_none_for_ip_and_node() -> None:
    obj = {
        "metadata": meta("pending", 30),
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Pending"},
    }
    expected = ["pending", "0/1", "Pending", "0", "30s", "<none>", "<none>", "<none>", "<none>"]
    assert cells("pods", "", obj) == expected


def test_pod_columns_are_upstreams() -> None:
    assert column_names("pods", "") == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]


@pytest.mark.parametrize(
    ("phase", "reason", "message"),
    [
        ("Succeeded", "Succeeded", "The pod has completed successfully."),
        ("Failed", "Failed", "The pod failed."),
    ],
)
def test_finished_pods_carry_a_completed_row_condition(phase: str, reason: str, message: str) -> None:
    row = table("pods", "", [pod(phase=phase)], now=NOW)["rows"][0]
    assert row["conditions"] == [
        {"type": "Completed", "status": "True", "reason": reason, "message": message}
    ]
    assert "conditions" not in table("pods", "", [pod()], now=NOW)["rows"][0]


# --- nodes --------------------------------------------------------------------------------------


def node(name: str, labels: Obj, conditions: list[Obj], unschedulable: bool = False) -> Obj:
    info = {
        "kubeletVersion": "v1.32.0",
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "kernelVersion": "6.1.0-28-amd64",
        "containerRuntimeVersion": "containerd://1.7.24",
    }
    addresses = [{"type": "InternalIP", "address": "192.168.0.10"}, {"type": "Hostname", "address": name}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": ago(5 * 86400), "labels": labels},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"conditions": conditions, "addresses": addresses, "nodeInfo": info},
    }


def test_cordoned_control_plane_node() -> None:
    labels = {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp-1"}
    conditions = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]
    obj = node("cp-1", labels, conditions, unschedulable=True)
    assert cells("nodes", "", obj) == [
        "cp-1",
        "Ready,SchedulingDisabled",
        "control-plane",
        "5d",
        "v1.32.0",
        "192.168.0.10",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "6.1.0-28-amd64",
        "containerd://1.7.24",
    ]


# fmt: off
NODE_CASES = [
    ("an unreachable node", {}, [{"type": "Ready", "status": "Unknown"}], "NotReady", "<none>"),
    ("a node without conditions", {}, [], "Unknown", "<none>"),
    ("roles from both labels, sorted",
     {"kubernetes.io/role": "worker", "node-role.kubernetes.io/infra": "true"}, [],
     "Unknown", "infra,worker"),
    ("an empty role is ignored", {"node-role.kubernetes.io/": ""}, [], "Unknown", "<none>"),
]
# fmt: on


@pytest.mark.parametrize(("labels", "conditions", "status", "roles"), args(NODE_CASES), ids=ids(NODE_CASES))
def test_node_status_and_roles(labels: Obj, conditions: list[Obj], status: str, roles: str) -> None:
    assert cells("nodes", "", node("n", labels, conditions))[1:3] == [status, roles]


def test_node_without_node_info_shows_unknown_wide_cells() -> None:
    obj = {"metadata": {"name": "bare", "creationTimestamp": ago(60)}, "status": {}}
    expected = [
        "bare",
        "Unknown",
        "<none>",
        "60s",
        "",
        "<none>",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    assert cells("nodes", "", obj) == expected


# --- services, endpoints, endpoint slices -------------------------------------------------------


def service(spec: Obj, status: Obj | None = None) -> Obj:
    return {"metadata": meta("web", 2 * 86400), "spec": spec, "status": status or {}}


LB_STATUS = {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}

# fmt: off
SERVICE_CASES = [
    ("a ClusterIP service",
     service({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
              "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"app": "web"}}),
     ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "2d", "app=web"]),
    ("a NodePort service with two ports",
     service({"type": "NodePort", "clusterIP": "10.96.3.4", "selector": {"tier": "front", "app": "web"},
              "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                        {"port": 53, "nodePort": 30053, "protocol": "UDP"}]}),
     ["web", "NodePort", "10.96.3.4", "<none>", "80:30080/TCP,53:30053/UDP", "2d", "app=web,tier=front"]),
    ("a LoadBalancer still waiting for an address",
     service({"type": "LoadBalancer", "clusterIP": "10.96.5.5", "ports": [{"port": 443, "nodePort": 31443}]}),
     ["web", "LoadBalancer", "10.96.5.5", "<pending>", "443:31443/TCP", "2d", "<none>"]),
    ("a LoadBalancer with ingress addresses and external IPs",
     service({"type": "LoadBalancer", "clusterIP": "10.96.5.5", "externalIPs": ["198.51.100.9"]}, LB_STATUS),
     ["web", "LoadBalancer", "10.96.5.5", "203.0.113.7,lb.example.com,198.51.100.9", "<none>", "2d",
      "<none>"]),
    ("an ExternalName service",
     service({"type": "ExternalName", "externalName": "db.example.com"}),
     ["web", "ExternalName", "<none>", "db.example.com", "<none>", "2d", "<none>"]),
    ("a headless service",
     service({"clusterIP": "None", "ports": [{"port": 5432, "protocol": "TCP"}], "selector": {"app": "db"}}),
     ["web", "ClusterIP", "None", "<none>", "5432/TCP", "2d", "app=db"]),
]

ENDPOINTS_CASES = [
    ("no subsets", [], "<none>"),
    ("two addresses",
     [{"addresses": [{"ip": "10.244.1.7"}, {"ip": "10.244.2.3"}], "ports": [{"port": 8080}]}],
     "10.244.1.7:8080,10.244.2.3:8080"),
    ("more than three", [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 80}]}],
     "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more..."),
    ("IPv6 in brackets", [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
    ("headless without ports",
     [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}], "10.0.0.1,10.0.0.2"),
]
# fmt: on


@pytest.mark.parametrize(("obj", "expected"), args(SERVICE_CASES), ids=ids(SERVICE_CASES))
def test_service_cells(obj: Obj, expected: list[Any]) -> None:
    assert cells("services", "", obj) == expected


@pytest.mark.parametrize(("subsets", "expected"), args(ENDPOINTS_CASES), ids=ids(ENDPOINTS_CASES))
def test_endpoints_list_up_to_three_addresses(subsets: list[Obj], expected: str) -> None:
    assert cells("endpoints", "", {"metadata": meta("web"), "subsets": subsets}) == ["web", expected, "60m"]


def test_endpoint_slice_ports_and_addresses() -> None:
    obj = {
        "metadata": meta("web-abcde"),
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics"}],
        "endpoints": [{"addresses": ["10.244.1.7"]}, {"addresses": ["10.244.2.3"]}],
    }
    expected = ["web-abcde", "IPv4", "80,metrics", "10.244.1.7,10.244.2.3", "60m"]
    assert cells("endpointslices", "discovery.k8s.io", obj) == expected
    empty = {"metadata": meta("empty"), "addressType": "IPv4"}
    assert cells("endpointslices", "discovery.k8s.io", empty)[2:4] == ["<unset>", "<unset>"]


# --- workloads ----------------------------------------------------------------------------------

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {
        "containers": [{"name": "nginx", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit:3"}]
    },
}
WIDE_TEMPLATE = ["nginx,log", "nginx:1.27,fluent-bit:3"]


def deployment(desired: int, selector: Obj, created: float, **status: int) -> Obj:
    spec = {"replicas": desired, "selector": selector, "template": TEMPLATE}
    return {"metadata": meta("web", created), "spec": spec, "status": status}


def test_ready_deployment_three_of_three() -> None:
    obj = deployment(
        3,
        {"matchLabels": {"app": "web"}},
        7200,
        replicas=3,
        readyReplicas=3,
        updatedReplicas=3,
        availableReplicas=3,
    )
    assert cells("deployments", "apps", obj) == ["web", "3/3", 3, 3, "120m", *WIDE_TEMPLATE, "app=web"]
    assert [name for name, _ in column_names("deployments", "apps")] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]


def test_deployment_being_rolled_out_with_an_expression_selector() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    }
    obj = deployment(4, selector, 100, replicas=5, readyReplicas=2, updatedReplicas=1, availableReplicas=2)
    row = cells("deployments", "apps", obj)
    assert row[:5] == ["web", "2/4", 1, 2, "100s"]
    assert row[7] == "app=web,!canary,tier in (edge,front)"


def test_replica_set_counts_and_selector() -> None:
    selector = {"matchLabels": {"app": "web", "pod-template-hash": "5d8f9c7b6d"}}
    obj = {
        "metadata": meta("web-5d8f9c7b6d", 600),
        "spec": {"replicas": 3, "selector": selector, "template": TEMPLATE},
        "status": {"replicas": 3, "readyReplicas": 2},
    }
    expected = ["web-5d8f9c7b6d", 3, 3, 2, "10m", *WIDE_TEMPLATE, "app=web,pod-template-hash=5d8f9c7b6d"]
    assert cells("replicasets", "apps", obj) == expected


def test_stateful_set_ready_of_desired() -> None:
    obj = {
        "metadata": meta("db", 300),
        "spec": {"replicas": 3, "template": TEMPLATE},
        "status": {"readyReplicas": 2},
    }
    assert cells("statefulsets", "apps", obj) == ["db", "2/3", "5m", *WIDE_TEMPLATE]


def test_daemon_set_counts_and_node_selector() -> None:
    template = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "nodeSelector": {"kubernetes.io/os": "linux"}}}
    status = {
        "desiredNumberScheduled": 3,
        "currentNumberScheduled": 3,
        "numberReady": 2,
        "updatedNumberScheduled": 3,
        "numberAvailable": 2,
    }
    obj = {
        "metadata": meta("kube-proxy", 3 * 86400),
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}}, "template": template},
        "status": status,
    }
    expected = [
        "kube-proxy",
        3,
        3,
        2,
        3,
        2,
        "kubernetes.io/os=linux",
        "3d",
        *WIDE_TEMPLATE,
        "k8s-app=kube-proxy",
    ]
    assert cells("daemonsets", "apps", obj) == expected


def test_controller_revision_names_its_controller() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "u", "controller": True}
    obj = {"metadata": meta("db-7f9c", ownerReferences=[owner]), "revision": 2}
    assert cells("controllerrevisions", "apps", obj) == ["db-7f9c", "statefulset.apps/db", 2, "60m"]
    assert cells("controllerrevisions", "apps", {"metadata": meta("lost"), "revision": 1})[1] == "<none>"


def test_replication_controller_and_pod_template() -> None:
    rc = {
        "metadata": meta("legacy"),
        "spec": {"replicas": 2, "selector": {"app": "legacy"}, "template": TEMPLATE},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells("replicationcontrollers", "", rc) == ["legacy", 2, 2, 1, "60m", *WIDE_TEMPLATE, "app=legacy"]
    template = {"metadata": meta("tpl"), "template": TEMPLATE}
    assert cells("podtemplates", "", template) == ["tpl", *WIDE_TEMPLATE, "app=web"]


def job(spec: Obj, status: Obj, deleting: bool = False) -> Obj:
    metadata = meta("backup", 3600, **({"deletionTimestamp": ago(1)} if deleting else {}))
    return {"metadata": metadata, "spec": {"template": TEMPLATE, **spec}, "status": status}


def true(*types: str) -> list[Obj]:
    return [{"type": t, "status": "True"} for t in types]


# fmt: off
JOB_CASES = [
    ("a completed job",
     job({"completions": 1, "parallelism": 1},
         {"succeeded": 1, "startTime": ago(600), "completionTime": ago(575),
          "conditions": true("SuccessCriteriaMet", "Complete")}),
     ["Complete", "1/1", "25s"]),
    ("a running work queue without completions",
     job({"parallelism": 3}, {"active": 3, "startTime": ago(150)}), ["Running", "0/1 of 3", "2m30s"]),
    ("a failed job",
     job({"completions": 5, "parallelism": 2}, {"succeeded": 2, "failed": 4, "startTime": ago(4000),
                                                "completionTime": ago(3600),
                                                "conditions": true("FailureTarget", "Failed")}),
     ["Failed", "2/5", "6m40s"]),
    ("a suspended job that never started",
     job({"completions": 1, "suspend": True}, {"conditions": true("Suspended")}), ["Suspended", "0/1", ""]),
    ("a job being deleted",
     job({"completions": 2}, {"startTime": ago(30)}, deleting=True), ["Terminating", "0/2", "30s"]),
]
# fmt: on


@pytest.mark.parametrize(("obj", "expected"), args(JOB_CASES), ids=ids(JOB_CASES))
def test_job_status_completions_and_duration(obj: Obj, expected: list[str]) -> None:
    row = cells("jobs", "batch", obj)
    assert row[1:4] == expected
    assert [row[0], row[4], row[7]] == ["backup", "60m", "<none>"]


def test_cron_job_row() -> None:
    obj = {
        "metadata": meta("nightly", 10 * 86400),
        "spec": {"schedule": "0 3 * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"kind": "Job", "name": "nightly-29010240"}], "lastScheduleTime": ago(300)},
    }
    expected = ["nightly", "0 3 * * *", "<none>", "False", 1, "5m", "10d", *WIDE_TEMPLATE, "<none>"]
    assert cells("cronjobs", "batch", obj) == expected
    never = {"metadata": meta("new"), "spec": {"schedule": "@hourly", "timeZone": "Etc/UTC"}}
    assert cells("cronjobs", "batch", never)[1:6] == ["@hourly", "Etc/UTC", "False", 0, "<none>"]


# --- events -------------------------------------------------------------------------------------


def test_core_event_row() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": meta("web-1.17f5b2c3d4e5f6a7"),
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container app\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(900),
        "lastTimestamp": ago(45),
        "count": 5,
        "type": "Warning",
    }
    assert cells("events", "", obj) == [
        "45s",
        "Warning",
        "BackOff",
        "pod/web-1",
        "spec.containers{app}",
        "kubelet, node-1",
        "Back-off restarting failed container app",
        "15m",
        5,
        "web-1.17f5b2c3d4e5f6a7",
    ]
    assert column_names("events", "") == [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]


def test_new_style_event_uses_event_time_series_and_reporting_controller() -> None:
    obj = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("web-1.abc"),
        "regarding": {"kind": "Pod", "name": "web-1"},
        "reason": "Scheduled",
        "note": "Successfully assigned default/web-1 to node-1",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-cp-1",
        "eventTime": "2025-03-01T11:50:00.000000Z",
        "type": "Normal",
        "action": "Binding",
    }
    assert cells("events", "events.k8s.io", obj) == [
        "10m",
        "Normal",
        "Scheduled",
        "pod/web-1",
        "",
        "default-scheduler, default-scheduler-cp-1",
        "Successfully assigned default/web-1 to node-1",
        "10m",
        1,
        "web-1.abc",
    ]
    obj["series"] = {"count": 7, "lastObservedTime": "2025-03-01T11:59:30.000000Z"}
    row = cells("events", "events.k8s.io", obj)
    assert (row[0], row[8]) == ("30s", 7)


# --- configuration, identity, storage, cluster ---------------------------------------------------

CSR_SPEC = {
    "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
    "username": "system:bootstrap:abcdef",
    "expirationSeconds": 86400,
}
QUOTA_STATUS = {
    "hard": {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "pods": "10"},
    "used": {"requests.cpu": "500m", "limits.cpu": "1", "pods": "3"},
}
SUBJECTS = [
    {"kind": "User", "name": "jane"},
    {"kind": "Group", "name": "devs"},
    {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
    {"kind": "User", "name": "bob"},
]
DEFAULT_CLASS = {"storageclass.kubernetes.io/is-default-class": "true"}
RBAC = "rbac.authorization.k8s.io"
CSRS = "certificates.k8s.io"

# fmt: off
SIMPLE_CASES = [
    ("an active namespace", "namespaces", "",
     {"metadata": meta("prod", 30 * 86400), "status": {"phase": "Active"}}, ["prod", "Active", "30d"]),
    ("a terminating namespace", "namespaces", "",
     {"metadata": meta("old"), "status": {"phase": "Terminating"}}, ["old", "Terminating", "60m"]),
    ("a config map counts data and binary data", "configmaps", "",
     {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}, ["cfg", 3, "60m"]),
    ("a TLS secret", "secrets", "",
     {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     ["tls", "kubernetes.io/tls", 2, "60m"]),
    ("a service account with one secret", "serviceaccounts", "",
     {"metadata": meta("default"), "secrets": [{"name": "default-token"}]}, ["default", 1, "60m"]),
    ("a lease held by the scheduler", "leases", "coordination.k8s.io",
     {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_5a7e"}},
     ["kube-scheduler", "cp-1_5a7e", "60m"]),
    ("a lease with no holder", "leases", "coordination.k8s.io",
     {"metadata": meta("free"), "spec": {}}, ["free", "", "60m"]),
    ("a pod disruption budget with minAvailable", "poddisruptionbudgets", "policy",
     {"metadata": meta("web"), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}},
     ["web", "2", "N/A", 1, "60m"]),
    ("a pod disruption budget with a percentage", "poddisruptionbudgets", "policy",
     {"metadata": meta("web"), "spec": {"maxUnavailable": "25%"}}, ["web", "N/A", "25%", 0, "60m"]),
    ("a priority class", "priorityclasses", "scheduling.k8s.io",
     {"metadata": meta("system-node-critical", 86400), "value": 2000001000},
     ["system-node-critical", 2000001000, False, "24h", "PreemptLowerPriority"]),
    ("the default storage class", "storageclasses", "storage.k8s.io",
     {"metadata": meta("standard", annotations=DEFAULT_CLASS), "provisioner": "rancher.io/local-path",
      "volumeBindingMode": "WaitForFirstConsumer"},
     ["standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "60m"]),
    ("a role binding", "rolebindings", RBAC,
     {"metadata": meta("dev-edit"), "roleRef": {"kind": "ClusterRole", "name": "edit"}, "subjects": SUBJECTS},
     ["dev-edit", "ClusterRole/edit", "60m", "jane, bob", "devs", "tools/ci"]),
    ("a cluster role binding for a group", "clusterrolebindings", RBAC,
     {"metadata": meta("cluster-admin"), "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
      "subjects": [{"kind": "Group", "name": "system:masters"}]},
     ["cluster-admin", "ClusterRole/cluster-admin", "60m", "", "system:masters", ""]),
    ("an approved and issued CSR", "certificatesigningrequests", CSRS,
     {"metadata": meta("csr-abc", 120), "spec": CSR_SPEC,
      "status": {"conditions": true("Approved"), "certificate": "LS0t"}},
     ["csr-abc", "2m", CSR_SPEC["signerName"], "system:bootstrap:abcdef", "24h", "Approved,Issued"]),
    ("a pending CSR without a duration", "certificatesigningrequests", CSRS,
     {"metadata": meta("csr-new", 5), "spec": {"signerName": "example.com/signer", "username": "jane"}},
     ["csr-new", "5s", "example.com/signer", "jane", "<none>", "Pending"]),
    ("a denied and failed CSR", "certificatesigningrequests", CSRS,
     {"metadata": meta("csr-bad", 5), "spec": {"username": "x"},
      "status": {"conditions": [{"type": "Approved"}, {"type": "Denied"}, {"type": "Failed"}]}},
     ["csr-bad", "5s", "<none>", "x", "<none>", "Denied,Failed"]),
    ("a resource quota splits requests and limits", "resourcequotas", "",
     {"metadata": meta("compute"), "status": QUOTA_STATUS},
     ["compute", "pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi", "limits.cpu: 1/2", "60m"]),
]
# fmt: on


@pytest.mark.parametrize(("resource", "group", "obj", "expected"), args(SIMPLE_CASES), ids=ids(SIMPLE_CASES))
def test_simple_printers(resource: str, group: str, obj: Obj, expected: list[Any]) -> None:
    assert cells(resource, group, obj) == expected


def test_bound_and_pending_volume_claims_and_their_volume() -> None:
    bound = {
        "metadata": meta("data"),
        "spec": {"storageClassName": "standard", "volumeName": "pvc-1234", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}},
    }
    expected = ["data", "Bound", "pvc-1234", "1Gi", "RWO", "standard", "<unset>", "60m", "Filesystem"]
    assert cells("persistentvolumeclaims", "", bound) == expected
    pending = {
        "metadata": meta("wait"),
        "spec": {"storageClassName": "standard"},
        "status": {"phase": "Pending"},
    }
    assert cells("persistentvolumeclaims", "", pending)[1:5] == ["Pending", "", "", ""]

    spec = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "standard",
        "claimRef": {"namespace": "default", "name": "data"},
        "volumeMode": "Filesystem",
    }
    volume = {"metadata": meta("pvc-1234"), "spec": spec, "status": {"phase": "Bound"}}
    expected = ["pvc-1234", "1Gi", "RWO,RWX", "Delete", "Bound", "default/data", "standard", "<unset>", ""]
    assert cells("persistentvolumes", "", volume) == [*expected, "60m", "Filesystem"]
    volume["metadata"]["deletionTimestamp"] = ago(1)
    assert cells("persistentvolumes", "", volume)[4] == "Terminating"


@pytest.mark.parametrize(
    ("resource", "group"), [("roles", RBAC), ("clusterroles", RBAC), ("limitranges", "")]
)
def test_resources_without_a_printer_get_name_and_created_at(resource: str, group: str) -> None:
    obj = {"metadata": {"name": "view", "creationTimestamp": "2025-02-28T09:30:00Z"}}
    result = table(resource, group, [obj], now=NOW)
    created_at = result["columnDefinitions"][1]
    assert (created_at["name"], created_at["type"], created_at["format"], created_at["priority"]) == (
        "Created At",
        "date",
        "",
        0,
    )
    assert created_at["description"].startswith("CreationTimestamp is a timestamp")
    assert result["rows"][0]["cells"] == ["view", "2025-02-28T09:30:00Z"]
    assert printer_for(group, resource) is DEFAULT_PRINTER


# --- the Table envelope -------------------------------------------------------------------------


def test_table_envelope_with_partial_object_metadata() -> None:
    obj = pod(statuses=[container()])
    result = table("pods", "", [obj], now=NOW, list_meta={"resourceVersion": "812", "continue": ""})
    assert (result["kind"], result["apiVersion"], result["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "812"},
    )
    name_column = result["columnDefinitions"][0]
    assert set(name_column) == {"name", "type", "format", "description", "priority"}
    assert (name_column["name"], name_column["type"], name_column["format"]) == ("Name", "string", "name")
    assert name_column["description"].startswith("Name must be unique within a namespace.")
    partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
    assert result["rows"][0]["object"] == partial


@pytest.mark.parametrize(("include", "expected_kind"), [("Object", "Pod"), ("None", None)])
def test_include_object_object_and_none(include: str, expected_kind: str | None) -> None:
    row = table("pods", "", [pod()], now=NOW, include_object=include)["rows"][0]
    assert (row["object"] or {}).get("kind") == expected_kind


def test_v1beta1_table_and_watch_events_without_headers() -> None:
    result = table("pods", "", [pod()], now=NOW, api_version="meta.k8s.io/v1beta1", no_headers=True)
    assert result["apiVersion"] == "meta.k8s.io/v1beta1" and result["columnDefinitions"] is None
    assert result["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"


def test_empty_list_has_columns_and_no_rows() -> None:
    result = table("deployments", "apps", [], now=NOW, list_meta={"resourceVersion": "5"})
    assert result["rows"] == [] and len(result["columnDefinitions"]) == 8


@pytest.mark.parametrize(
    "resource", BUILTIN_REGISTRY.resources, ids=lambda r: f"{r.group or 'core'}/{r.name}"
)
def test_every_served_resource_prints_a_cell_per_column_even_for_a_bare_object(resource: Any) -> None:
    bare = {"apiVersion": resource.group_version, "kind": resource.kind, "metadata": {"name": "x"}}
    result = table(resource.name, resource.group, [bare], now=NOW)
    assert len(result["rows"][0]["cells"]) == len(result["columnDefinitions"])
    assert all(column["description"] for column in result["columnDefinitions"])


def test_naive_now_is_read_as_utc() -> None:
    obj = {"metadata": meta("x", 90)}
    assert table("configmaps", "", [obj], now=NOW.replace(tzinfo=None))["rows"][0]["cells"][2] == "90s"


# --- negotiation and options --------------------------------------------------------------------

KUBECTL_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"

# fmt: off
ACCEPT_CASES = [
    ("kubectl get asks for a v1 Table", KUBECTL_ACCEPT, "meta.k8s.io/v1"),
    ("a client that only knows v1beta1", "application/json;as=Table;v=v1beta1;g=meta.k8s.io, */*",
     "meta.k8s.io/v1beta1"),
    ("plain JSON", "application/json", None),
    ("no Accept header", "", None),
    ("anything", "*/*", None),
    ("a Table the client likes less than JSON", f"{TABLE_V1};q=0.5, application/json", None),
    ("an unknown Table version falls through",
     "application/json;as=Table;v=v2;g=meta.k8s.io,application/json", None),
    ("a protobuf Table is skipped for the JSON one",
     f"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,{TABLE_V1}", "meta.k8s.io/v1"),
    ("partial object metadata is not a Table",
     "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None),
]
# fmt: on


@pytest.mark.parametrize(("accept", "expected"), args(ACCEPT_CASES), ids=ids(ACCEPT_CASES))
def test_table_negotiation(accept: str, expected: str | None) -> None:
    assert table_api_version(accept) == expected
    assert parse_table_accept(accept) is (expected is not None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "Metadata"), ("", "Metadata"), ("Object", "Object"), ("None", "None"), ("Metadata", "Metadata")],
)
def test_include_object_option_defaults_to_metadata(value: str | None, expected: str) -> None:
    assert include_object_option(value) == expected


def test_unknown_include_object_is_a_bad_request_with_upstreams_message() -> None:
    with pytest.raises(StatusError) as caught:
        include_object_option("Everything")
    assert caught.value.code == 400
    assert caught.value.message == (
        'Unable to convert to Table as requested: includeObject: Unsupported value: "Everything": '
        'supported values: "", "Metadata", "None", "Object"'
    )
