"""VolumeBinding basics: upstream's volume_binding_test.go PreFilter/Filter cases for bound and
unbound claims (the dynamic binding of WaitForFirstConsumer claims is not done here), the errors of
its podHasPVCs, local volumes narrowing the nodes, and the args."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import SKIP, SUCCESS, Code, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.volume_binding import VolumeBinding, new

CONFLICT = Status.unresolvable("node(s) had volume node affinity conflict")
PV_MISSING = Status.unresolvable("node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)")
UNBOUND_IMMEDIATE = Status.unresolvable("pod has unbound immediate PersistentVolumeClaims")
HOSTNAME = "kubernetes.io/hostname"


class FakeListers:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {
            (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects
        }

    def get_pvc(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(("PersistentVolumeClaim", namespace, name))

    def get_pv(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(("PersistentVolume", "", name))

    def get_storage_class(self, name: str) -> dict[str, Any] | None:
        return self.objects.get(("StorageClass", "", name))


def pvc(name: str, volume: str = "", storage_class: str | None = None, **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if volume:
        spec["volumeName"] = volume
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    status = {"phase": meta.pop("phase", "Bound" if volume else "Pending")}
    metadata = {"name": name, "namespace": "default", **meta}
    return {"kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec, "status": status}


def pv(name: str, *terms: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": "1Gi"}}
    if terms:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": list(terms)}}
    return {"kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec}


def storage_class(name: str, mode: str | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"kind": "StorageClass", "metadata": {"name": name}, "provisioner": "example.com/p"}
    if mode is not None:
        obj["volumeBindingMode"] = mode
    return obj


def labels_in(key: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": "In", "values": list(values)}]}


def pod_with_claims(*claims: str, ephemeral: tuple[str, ...] = (), uid: str = "pod-uid") -> dict[str, Any]:
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": "cfg"}}]
    volumes += [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    volumes += [{"name": name, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}} for name in ephemeral]
    return make_pod("web", uid=uid, volumes=volumes)


def plugin(objects: list[dict[str, Any]]) -> VolumeBinding:
    return new({}, SimpleNamespace(volume_listers=FakeListers(objects)))


def run(
    objects: list[dict[str, Any]], pod: dict[str, Any], node: dict[str, Any]
) -> tuple[set[str] | None, Status]:
    """PreFilter's node names and either its failure or the Filter's status on `node`."""
    vb, state, pod_info, info = plugin(objects), CycleState(), PodInfo(pod), node_info(node)
    result, status = vb.pre_filter(state, pod_info, [info])
    names = result.node_names if result is not None else None
    if not status.is_success():
        return names, status
    return names, vb.filter(state, pod_info, info)


ZONE_A = make_node("n1", labels={"zone": "a"})
ZONE_B = make_node("n2", labels={"zone": "b"})


@pytest.mark.parametrize(
    ("objects", "pod", "node", "want"),
    [
        pytest.param([], make_pod("web"), ZONE_A, SKIP, id="pod without claims skips the plugin"),
        pytest.param(
            [pvc("data", "pv-a"), pv("pv-a")],
            pod_with_claims("data"),
            ZONE_A,
            SUCCESS,
            id="bound claim whose volume has no node affinity fits any node",
        ),
        pytest.param(
            [pvc("data", "pv-a"), pv("pv-a", labels_in("zone", "a"))],
            pod_with_claims("data"),
            ZONE_A,
            SUCCESS,
            id="bound claim fits a node its volume's affinity allows",
        ),
        pytest.param(
            [pvc("data", "pv-a"), pv("pv-a", labels_in("zone", "a"))],
            pod_with_claims("data"),
            ZONE_B,
            CONFLICT,
            id="bound claim does not fit a node its volume's affinity excludes",
        ),
        pytest.param(
            [
                pvc("a", "pv-a"),
                pv("pv-a", labels_in("zone", "a")),
                pvc("b", "pv-b"),
                pv("pv-b", labels_in("zone", "b")),
            ],
            pod_with_claims("a", "b"),
            ZONE_A,
            CONFLICT,
            id="every bound volume must reach the node",
        ),
        pytest.param(
            [
                pvc("data", "pv-a"),
                pv("pv-a", {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["x"]}]}),
            ],
            pod_with_claims("data"),
            ZONE_A,
            SUCCESS,
            id="a volume's matchFields are ignored as upstream checks node labels only",
        ),
        pytest.param(
            [pvc("data", "pv-gone")],
            pod_with_claims("data"),
            ZONE_A,
            PV_MISSING,
            id="claim bound to a missing volume fits no node",
        ),
        pytest.param(
            [pvc("data", storage_class="local"), storage_class("local", "WaitForFirstConsumer")],
            pod_with_claims("data"),
            ZONE_A,
            SUCCESS,
            id="unbound claim of a WaitForFirstConsumer class fits",
        ),
        pytest.param(
            [pvc("data", storage_class="fast"), storage_class("fast", "Immediate")],
            pod_with_claims("data"),
            ZONE_A,
            UNBOUND_IMMEDIATE,
            id="unbound claim of an Immediate class waits for the PV controller",
        ),
        pytest.param(
            [pvc("data")],
            pod_with_claims("data"),
            ZONE_A,
            UNBOUND_IMMEDIATE,
            id="unbound claim without a class binds immediately",
        ),
        pytest.param(
            [pvc("data", storage_class="missing")],
            pod_with_claims("data"),
            ZONE_A,
            UNBOUND_IMMEDIATE,
            id="unbound claim of a missing class binds immediately",
        ),
        pytest.param(
            [
                pvc(
                    "data",
                    storage_class="fast",
                    annotations={"volume.beta.kubernetes.io/storage-class": "local"},
                ),
                storage_class("local", "WaitForFirstConsumer"),
                storage_class("fast", "Immediate"),
            ],
            pod_with_claims("data"),
            ZONE_A,
            SUCCESS,
            id="the beta storage class annotation wins over storageClassName",
        ),
        pytest.param(
            [pvc("data", storage_class="odd"), storage_class("odd", None)],
            pod_with_claims("data"),
            ZONE_A,
            Status.error('VolumeBindingMode not set for StorageClass "odd"'),
            id="a class without a binding mode is an error",
        ),
        pytest.param(
            [],
            pod_with_claims("data"),
            ZONE_A,
            Status.unresolvable('persistentvolumeclaim "data" not found'),
            id="a missing claim makes the pod unschedulable",
        ),
        pytest.param(
            [],
            pod_with_claims(ephemeral=("scratch",)),
            ZONE_A,
            Status.unresolvable(
                'waiting for ephemeral volume controller to create the persistentvolumeclaim "web-scratch"'
            ),
            id="an ephemeral volume's claim not created yet makes the pod wait",
        ),
        pytest.param(
            [
                pvc("web-scratch", "pv-a", ownerReferences=[{"uid": "pod-uid", "controller": True}]),
                pv("pv-a"),
            ],
            pod_with_claims(ephemeral=("scratch",)),
            ZONE_A,
            SUCCESS,
            id="an ephemeral volume's claim owned by the pod fits",
        ),
        pytest.param(
            [pvc("web-scratch", "pv-a", ownerReferences=[{"uid": "other", "controller": True}]), pv("pv-a")],
            pod_with_claims(ephemeral=("scratch",)),
            ZONE_A,
            Status.unresolvable(
                "PVC default/web-scratch was not created for pod default/web (pod is not owner)"
            ),
            id="an ephemeral volume's claim owned by another pod does not fit",
        ),
        pytest.param(
            [pvc("data", "pv-a", deletionTimestamp="2024-05-01T10:00:00Z"), pv("pv-a")],
            pod_with_claims("data"),
            ZONE_A,
            Status.unresolvable('persistentvolumeclaim "data" is being deleted'),
            id="a claim being deleted makes the pod unschedulable",
        ),
        pytest.param(
            [pvc("data", "pv-gone", phase="Lost")],
            pod_with_claims("data"),
            ZONE_A,
            Status.unresolvable(
                'persistentvolumeclaim "data" bound to non-existent persistentvolume "pv-gone"'
            ),
            id="a lost claim makes the pod unschedulable",
        ),
    ],
)
def test_pre_filter_and_filter(
    objects: list[dict[str, Any]], pod: dict[str, Any], node: dict[str, Any], want: Status
) -> None:
    assert run(objects, pod, node)[1] == want


def test_rejections_are_unresolvable() -> None:
    _, status = run(
        [pvc("data", "pv-a"), pv("pv-a", labels_in("zone", "a"))], pod_with_claims("data"), ZONE_B
    )
    assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE


@pytest.mark.parametrize(
    ("objects", "want"),
    [
        pytest.param(
            [pvc("a", "pv-a"), pv("pv-a", labels_in(HOSTNAME, "n1"))],
            {"n1"},
            id="a local volume pins its node",
        ),
        pytest.param(
            [
                pvc("a", "pv-a"),
                pv("pv-a", labels_in(HOSTNAME, "n1", "n2")),
                pvc("b", "pv-b"),
                pv("pv-b", labels_in(HOSTNAME, "n2")),
            ],
            {"n2"},
            id="local volumes narrow to the nodes they share",
        ),
        pytest.param(
            [
                pvc("a", "pv-a"),
                pv("pv-a", labels_in(HOSTNAME, "n1")),
                pvc("b", "pv-b"),
                pv("pv-b", labels_in(HOSTNAME, "n2")),
            ],
            set(),
            id="local volumes on different nodes leave no node",
        ),
        pytest.param(
            [pvc("a", "pv-a"), pv("pv-a", labels_in(HOSTNAME, "n1"), labels_in(HOSTNAME, "n3"))],
            {"n1", "n3"},
            id="hostname terms of one volume add up",
        ),
        pytest.param(
            [pvc("a", "pv-a"), pv("pv-a", labels_in("zone", "a"))], None, id="a zonal volume does not narrow"
        ),
        pytest.param(
            [pvc("a", "pv-a"), pv("pv-a", labels_in(HOSTNAME, "n1")), pvc("b", "pv-gone")],
            None,
            id="a missing volume does not narrow",
        ),
    ],
)
def test_pre_filter_narrows_to_the_nodes_of_local_volumes(
    objects: list[dict[str, Any]], want: set[str] | None
) -> None:
    claims = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert run(objects, pod_with_claims(*claims), make_node("n1"))[0] == want


def test_without_listers_every_claim_is_missing() -> None:
    vb = new({}, SimpleNamespace())
    _, status = vb.pre_filter(CycleState(), PodInfo(pod_with_claims("data")), [])
    assert status == Status.unresolvable('persistentvolumeclaim "data" not found')


def test_cycle_state_copies_share_the_claims() -> None:
    vb, state = plugin([pvc("data", "pv-a"), pv("pv-a")]), CycleState()
    vb.pre_filter(state, PodInfo(pod_with_claims("data")), [])
    assert state.clone().read("VolumeBinding") is state.read("VolumeBinding")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            {"bindTimeoutSeconds": -1},
            "should not be a negative value",
            id="a negative bind timeout is refused",
        ),
        pytest.param(
            {"bindTimeoutSeconds": "10"}, "must be an integer", id="a bind timeout must be an integer"
        ),
        pytest.param(
            {"shape": [{"utilization": 0, "score": 0}]},
            "VolumeCapacityPriority",
            id="shape needs the alpha feature",
        ),
        pytest.param({"other": 1}, "unknown field", id="an unknown arg is refused"),
        pytest.param(
            {"kind": "NodeAffinityArgs"}, "VolumeBindingArgs", id="args of another kind are refused"
        ),
    ],
)
def test_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        new(args, SimpleNamespace())


def test_args_default_and_set_the_bind_timeout() -> None:
    assert new({}, SimpleNamespace()).bind_timeout_seconds == 600
    args = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "VolumeBindingArgs",
        "bindTimeoutSeconds": 30,
    }
    assert new(args, SimpleNamespace()).bind_timeout_seconds == 30


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            ClusterEvent("PersistentVolumeClaim", ActionType.UPDATE), True, id="a claim update requeues"
        ),
        pytest.param(ClusterEvent("PersistentVolume", ActionType.ADD), True, id="a new volume requeues"),
        pytest.param(ClusterEvent("StorageClass", ActionType.ADD), True, id="a new storage class requeues"),
        pytest.param(
            ClusterEvent("Node", ActionType.UPDATE_NODE_LABEL), True, id="a node label change requeues"
        ),
        pytest.param(ClusterEvent("Pod", ActionType.DELETE), False, id="a deleted pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin([]).events_to_register()) is want
