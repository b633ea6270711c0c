"""The EndpointSlice controller: pure endpoint and slice computation (conditions, ports, packing
into slices of at most 100, stability) and reconcile against the recording fake client."""

from __future__ import annotations

import contextlib
import copy
import random
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.endpointslice import (
    ANNOTATION_TRIGGER_TIME,
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    EndpointSliceController,
    PodsSkipped,
    StaleInformerCache,
    TriggerTimeTracker,
    address_types_for_service,
    find_port,
    pod_to_endpoint,
    ready_transition_time,
    reconcile_desired,
    reconcile_slices,
    services_to_update_on_pod_change,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError
from kubeclient.informer import object_key
from kubeclient.rest import resolve

Obj = dict[str, Any]
NODES = {"n1": {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}},
         "n2": {"metadata": {"name": "n2"}}}  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_service(
    name: str = "web",
    *,
    selector: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    cluster_ip: str = "10.96.0.10",
    families: list[str] | None = None,
    labels: dict[str, str] | None = None,
    uid: str = "svc-uid",
    **spec: Any,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": "default",
        "uid": uid,
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    if labels:
        meta["labels"] = labels
    body: Obj = {
        "clusterIP": cluster_ip,
        "ipFamilies": families if families is not None else ["IPv4"],
        "ports": ports
        if ports is not None
        else [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        **spec,
    }
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": body}


def make_pod(
    name: str,
    ip: str | None = "10.0.0.1",
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    node: str = "n1",
    ports: list[Obj] | None = None,
    deleting: bool = False,
    ips: list[str] | None = None,
) -> Obj:
    meta: Obj = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": labels or {"app": "web"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:05:00Z"
    status: Obj = {
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": "2026-01-01T00:01:00Z",
            }
        ],
    }
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": i} for i in (ips or [ip])]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx", "ports": ports or []}]},
        "status": status,
    }


def make_node(name: str, zone: str | None = None) -> Obj:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def many_pods(count: int) -> list[Obj]:
    return [make_pod(f"p{i:03d}", f"10.1.{i // 200}.{i % 200 + 1}") for i in range(count)]


def controller_for(client: FakeClient, clock: FakeClock | None = None) -> tuple[EndpointSliceController, Any]:
    informers = informers_from(client, "services", "pods", "nodes", "endpointslices")
    ctx = ControllerContext(
        client=client,
        informers=informers,
        recorder=FakeRecorder(),
        options=Options(),
        clock=clock or FakeClock(),
    )
    return EndpointSliceController(ctx), informers


def slice_sizes(changes_or_slices: list[Obj]) -> list[int]:
    return sorted((len(s["endpoints"]) for s in changes_or_slices), reverse=True)


def named(slices: list[Obj], prefix: str = "web-") -> list[Obj]:
    """Give created slices names, as the apiserver would, so they can be fed back as existing."""
    for index, endpoint_slice in enumerate(slices):
        endpoint_slice["metadata"].pop("generateName", None)
        endpoint_slice["metadata"]["name"] = f"{prefix}{index}"
    return slices


# --- pure functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "deleting", "publish", "conditions"),
    [
        (True, False, False, {"ready": True, "serving": True, "terminating": False}),
        (False, False, False, {"ready": False, "serving": False, "terminating": False}),
        (True, True, False, {"ready": False, "serving": True, "terminating": True}),
        (False, False, True, {"ready": True, "serving": False, "terminating": False}),
        (True, True, True, {"ready": True, "serving": True, "terminating": True}),
    ],
    ids=["ready", "not-ready", "terminating", "not-ready-published", "terminating-published"],
)
def test_endpoint_conditions_follow_readiness_and_termination(
    ready: bool, deleting: bool, publish: bool, conditions: Obj
) -> None:
    service = make_service(selector={"app": "web"}, publishNotReadyAddresses=publish)
    endpoint = pod_to_endpoint(make_pod("a", ready=ready, deleting=deleting), NODES["n1"], service, "IPv4")
    assert endpoint == {
        "addresses": ["10.0.0.1"],
        "conditions": conditions,
        "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"},
        "nodeName": "n1",
        "zone": "zone-a",
    }


def test_an_endpoint_takes_only_the_addresses_of_its_slices_family() -> None:
    pod = make_pod("a", "10.0.0.1", ips=["10.0.0.1", "fd00::0001"])
    service = make_service(selector={"app": "web"}, families=["IPv4", "IPv6"])
    assert pod_to_endpoint(pod, None, service, "IPv6")["addresses"] == ["fd00::1"]
    assert pod_to_endpoint(pod, None, service, "IPv4")["addresses"] == ["10.0.0.1"]


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        ({"ipFamilies": ["IPv4"], "clusterIP": "10.96.0.1"}, ["IPv4"]),
        ({"ipFamilies": ["IPv6", "IPv4"], "clusterIP": "fd00::1"}, ["IPv6", "IPv4"]),
        ({"clusterIP": "fd00::1"}, ["IPv6"]),
        ({"clusterIP": "10.96.0.1"}, ["IPv4"]),
        ({"clusterIP": "None"}, ["IPv4", "IPv6"]),
    ],
)
def test_address_types_come_from_ip_families_or_the_cluster_ip(spec: Obj, types: list[str]) -> None:
    assert address_types_for_service({"metadata": {"name": "s"}, "spec": spec}) == types


@pytest.mark.parametrize(
    ("service_port", "found"),
    [
        ({"port": 80, "targetPort": 8080}, 8080),
        ({"port": 80}, 80),
        ({"port": 80, "targetPort": "http"}, 8000),
        ({"port": 80, "targetPort": "http", "protocol": "UDP"}, None),
        ({"port": 53, "targetPort": "dns", "protocol": "UDP"}, 5353),
        ({"port": 80, "targetPort": "proxy"}, 15001),
        ({"port": 80, "targetPort": "missing"}, None),
    ],
    ids=["number", "default", "named", "named-wrong-protocol", "named-udp", "sidecar", "missing"],
)
def test_find_port_resolves_numbers_and_names(service_port: Obj, found: int | None) -> None:
    pod = make_pod("a", ports=[{"name": "http", "containerPort": 8000}, {"name": "dns", "containerPort": 5353,
                                                                        "protocol": "UDP"}])  # fmt: skip
    pod["spec"]["initContainers"] = [
        {"name": "proxy", "restartPolicy": "Always", "ports": [{"name": "proxy", "containerPort": 15001}]},
        {"name": "init", "ports": [{"name": "missing", "containerPort": 1}]},
    ]
    assert find_port(pod, service_port) == found


def test_250_pods_make_three_slices_of_at_most_100() -> None:
    service = make_service(selector={"app": "web"})
    changes, skipped = reconcile_slices(service, many_pods(250), [], NODES.get)
    assert skipped == []
    assert (changes.update, changes.delete) == ([], [])
    assert slice_sizes(changes.create) == [100, 100, 50]
    first = changes.create[0]
    assert first["metadata"]["generateName"] == "web-"
    assert first["metadata"]["labels"] == {LABEL_SERVICE_NAME: "web", LABEL_MANAGED_BY: CONTROLLER_NAME}
    assert first["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": True,
         "blockOwnerDeletion": True}
    ]  # fmt: skip
    assert first["addressType"] == "IPv4"
    assert first["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_unchanged_slices_are_left_as_they_are() -> None:
    service = make_service(selector={"app": "web"})
    pods = many_pods(250)
    changes, _ = reconcile_slices(service, pods, [], NODES.get)
    again, _ = reconcile_slices(service, pods, named(changes.create), NODES.get)
    assert not again


def test_a_new_endpoint_goes_into_the_slice_being_updated_and_nothing_else_moves() -> None:
    service = make_service(selector={"app": "web"})
    pods = many_pods(250)
    existing = named(reconcile_slices(service, pods, [], NODES.get)[0].create)
    gone = existing[0]["endpoints"][0]["targetRef"]["name"]
    pods = [p for p in pods if p["metadata"]["name"] != gone] + [make_pod("new", "10.9.0.1")]
    changes, _ = reconcile_slices(service, pods, existing, NODES.get)
    assert (changes.create, changes.delete) == ([], [])
    assert [s["metadata"]["name"] for s in changes.update] == ["web-0"]
    names = [e["targetRef"]["name"] for e in changes.update[0]["endpoints"]]
    assert gone not in names and "new" in names and len(names) == 100


def test_a_pod_resource_version_in_a_target_ref_is_no_change() -> None:
    service = make_service(selector={"app": "web"})
    pods = many_pods(3)
    existing = named(reconcile_slices(service, pods, [], NODES.get)[0].create)
    existing[0]["endpoints"][1]["targetRef"]["resourceVersion"] = "42"
    assert not reconcile_slices(service, pods, existing, NODES.get)[0]
    existing[0]["endpoints"][1]["targetRef"]["uid"] = "another"
    assert len(reconcile_slices(service, pods, existing, NODES.get)[0].update) == 1


def test_leftover_endpoints_fill_the_unchanged_slice_they_fit_best() -> None:
    service = make_service(selector={"app": "web"})
    pods = many_pods(250)
    existing = named(reconcile_slices(service, pods, [], NODES.get)[0].create)
    extra = [make_pod(f"x{i}", f"10.8.0.{i + 1}") for i in range(30)]
    changes, _ = reconcile_slices(service, pods + extra, existing, NODES.get)
    assert (changes.create, changes.delete) == ([], [])
    assert [len(s["endpoints"]) for s in changes.update] == [80]


def test_reconciling_never_changes_the_cached_slices_or_pods_it_is_given() -> None:
    service = make_service(selector={"app": "web"})
    pods = many_pods(250)
    existing = named(reconcile_slices(service, pods, [], NODES.get)[0].create)
    changed_pods = pods[1:] + [make_pod(f"y{i}", f"10.7.0.{i + 1}", ready=i % 2 == 0) for i in range(120)]
    changed_pods[5] = make_pod(
        changed_pods[5]["metadata"]["name"], changed_pods[5]["status"]["podIP"], ready=False
    )
    before = copy.deepcopy((existing, changed_pods))
    changes, _ = reconcile_slices(service, changed_pods, existing, NODES.get)
    assert changes
    assert (existing, changed_pods) == before


def test_a_readiness_change_updates_the_endpoint_in_place() -> None:
    service = make_service(selector={"app": "web"})
    existing = named(reconcile_slices(service, [make_pod("a", ready=False)], [], NODES.get)[0].create)
    changes, _ = reconcile_slices(service, [make_pod("a", ready=True)], existing, NODES.get)
    assert (changes.create, changes.delete) == ([], [])
    assert changes.update[0]["metadata"]["name"] == "web-0"
    assert changes.update[0]["endpoints"][0]["conditions"]["ready"] is True


def test_a_slice_with_other_ports_is_replaced_by_an_update_not_a_create_and_delete() -> None:
    service = make_service(selector={"app": "web"})
    existing = named(reconcile_slices(service, [make_pod("a")], [], NODES.get)[0].create)
    existing[0]["metadata"]["resourceVersion"] = "7"
    moved = make_service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": 9090}])
    changes, _ = reconcile_slices(moved, [make_pod("a")], existing, NODES.get)
    assert (changes.create, changes.delete) == ([], [])
    assert changes.update[0]["metadata"]["name"] == "web-0"
    assert changes.update[0]["metadata"]["resourceVersion"] == "7"
    assert changes.update[0]["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]


def test_a_service_without_endpoints_gets_one_placeholder_slice_and_keeps_it() -> None:
    service = make_service(selector={"app": "web"})
    changes, _ = reconcile_slices(service, [], [], NODES.get)
    assert [(s["endpoints"], s["ports"]) for s in changes.create] == [([], [])]
    again, _ = reconcile_slices(service, [], named(changes.create), NODES.get)
    assert not again


def test_the_placeholder_becomes_the_first_real_slice() -> None:
    service = make_service(selector={"app": "web"})
    placeholder = named(reconcile_slices(service, [], [], NODES.get)[0].create)
    changes, _ = reconcile_slices(service, [make_pod("a")], placeholder, NODES.get)
    assert (changes.create, changes.delete) == ([], [])
    assert changes.update[0]["metadata"]["name"] == "web-0"
    assert len(changes.update[0]["endpoints"]) == 1


def test_slices_of_another_service_with_the_same_name_are_deleted() -> None:
    service = make_service(selector={"app": "web"})
    old = named(
        reconcile_slices(make_service(selector={"app": "web"}, uid="old"), [make_pod("a")], [], NODES.get)[
            0
        ].create
    )
    changes, _ = reconcile_slices(service, [make_pod("a")], old, NODES.get)
    assert [s["metadata"]["name"] for s in changes.delete] == ["web-0"]
    assert len(changes.create) == 1


def test_a_dual_stack_service_gets_a_slice_per_family() -> None:
    service = make_service(selector={"app": "web"}, families=["IPv4", "IPv6"])
    pod = make_pod("a", "10.0.0.1", ips=["10.0.0.1", "fd00::1"])
    changes, _ = reconcile_slices(service, [pod], [], NODES.get)
    assert sorted((s["addressType"], s["endpoints"][0]["addresses"][0]) for s in changes.create) == [
        ("IPv4", "10.0.0.1"),
        ("IPv6", "fd00::1"),
    ]


def test_pods_on_unknown_nodes_are_skipped_unless_not_ready_addresses_are_published() -> None:
    service = make_service(selector={"app": "web"})
    changes, skipped = reconcile_slices(
        service, [make_pod("a", node="gone"), make_pod("b", "10.0.0.2")], [], NODES.get
    )
    assert [e["targetRef"]["name"] for e in changes.create[0]["endpoints"]] == ["b"]
    assert skipped == ["a (node 'gone' not found)"]
    published = make_service(selector={"app": "web"}, publishNotReadyAddresses=True)
    changes, skipped = reconcile_slices(published, [make_pod("a", node="gone")], [], NODES.get)
    assert skipped == [] and len(changes.create[0]["endpoints"]) == 1


def test_pods_whose_ports_differ_get_separate_slices() -> None:
    service = make_service(selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "web"}])
    a = make_pod("a", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080}])
    b = make_pod("b", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}])
    changes, _ = reconcile_slices(service, [a, b], [], NODES.get)
    assert sorted(s["ports"][0]["port"] for s in changes.create) == [8080, 9090]


def test_service_label_changes_are_copied_to_slices() -> None:
    service = make_service(selector={"app": "web"})
    existing = named(reconcile_slices(service, [make_pod("a")], [], NODES.get)[0].create)
    relabelled = make_service(selector={"app": "web"}, labels={"team": "a"}, cluster_ip="None")
    changes, _ = reconcile_slices(relabelled, [make_pod("a")], existing, NODES.get)
    assert changes.update[0]["metadata"]["labels"] == {
        "team": "a",
        "service.kubernetes.io/headless": "",
        LABEL_SERVICE_NAME: "web",
        LABEL_MANAGED_BY: CONTROLLER_NAME,
    }


@pytest.mark.parametrize(
    ("old", "new", "services"),
    [
        ({"ready": False}, {"ready": True}, {"default/web"}),
        ({}, {"ip": "10.0.0.9"}, {"default/web"}),
        ({}, {"deleting": True}, {"default/web"}),
        ({}, {"labels": {"app": "db"}}, {"default/web", "default/db"}),
        ({}, {"labels": {"app": "web", "extra": "x"}}, set()),
        ({}, {"labels": {"app": "db"}, "ready": False}, {"default/web", "default/db"}),
        ({}, {}, set()),
    ],
    ids=[
        "readiness",
        "ip",
        "terminating",
        "moved",
        "label-no-membership-change",
        "moved-and-changed",
        "same",
    ],
)
def test_pod_changes_concern_the_services_they_enter_or_leave(old: Obj, new: Obj, services: set[str]) -> None:
    all_services = [make_service("web", selector={"app": "web"}), make_service("db", selector={"app": "db"}),
                    make_service("plain")]  # fmt: skip
    before, after = make_pod("a", **old), make_pod("a", **new)
    before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"] = "1", "2"
    assert services_to_update_on_pod_change(all_services, before, after) == services


# --- the controller ---------------------------------------------------------------------------


def world(*objects: Obj) -> FakeClient:
    return FakeClient([make_node("n1", "zone-a"), make_node("n2"), *objects])


async def test_a_service_gets_a_slice_of_its_pods() -> None:
    client = world(
        make_service(selector={"app": "web"}, labels={"team": "a"}),
        make_pod("a", "10.0.0.1"),
        make_pod("b", "10.0.0.2", ready=False, node="n2"),
        make_pod("c", "10.0.0.3", labels={"app": "db"}),
    )
    controller, _ = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == [("create", "endpointslices")]
    [stored] = client.all("endpointslices", "default")
    assert stored["metadata"]["name"].startswith("web-")
    assert stored["metadata"]["labels"] == {
        "team": "a",
        LABEL_SERVICE_NAME: "web",
        LABEL_MANAGED_BY: CONTROLLER_NAME,
    }
    assert stored["metadata"]["annotations"] == {ANNOTATION_TRIGGER_TIME: "2026-01-01T00:00:00Z"}
    service_uid = client.stored("services", "default", "web")["metadata"]["uid"]  # type: ignore[index]
    assert stored["metadata"]["ownerReferences"][0]["uid"] == service_uid
    assert stored["endpoints"] == [
        {
            "addresses": ["10.0.0.1"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"},
            "nodeName": "n1",
            "zone": "zone-a",
        },
        {
            "addresses": ["10.0.0.2"],
            "conditions": {"ready": False, "serving": False, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "b", "uid": "uid-b"},
            "nodeName": "n2",
        },
    ]


async def test_250_pods_are_written_as_three_slices_and_a_second_sync_writes_nothing() -> None:
    client = world(make_service(selector={"app": "web"}), *many_pods(250))
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == [("create", "endpointslices")] * 3
    assert slice_sizes(client.all("endpointslices")) == [100, 100, 50]
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_a_readiness_flip_updates_the_endpoint_conditions() -> None:
    client = world(make_service(selector={"app": "web"}), make_pod("a", ready=False))
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    sync_informers(informers, client)
    client.add(make_pod("a", ready=True))
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == [("update", "endpointslices")]
    [stored] = client.all("endpointslices")
    assert stored["endpoints"][0]["conditions"] == {"ready": True, "serving": True, "terminating": False}


async def test_slices_of_other_managers_are_untouched() -> None:
    foreign = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-custom", "namespace": "default",
                     "labels": {LABEL_SERVICE_NAME: "web", LABEL_MANAGED_BY: "someone-else"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.168.0.1"]}],
    }  # fmt: skip
    client = world(make_service(selector={"app": "web"}), make_pod("a"), foreign)
    controller, _ = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == [("create", "endpointslices")]
    assert (
        client.stored("endpointslices", "default", "web-custom")
        == client.objects[("endpointslices", "default", "web-custom")]
    )
    assert client.stored("endpointslices", "default", "web-custom")["endpoints"] == foreign["endpoints"]  # type: ignore[index]


async def test_a_service_without_a_selector_gets_no_slices() -> None:
    client = world(make_service("kubernetes"), make_pod("a"))
    controller, _ = controller_for(client)
    await controller.reconcile("default/kubernetes")
    assert client.verbs() == []


async def test_a_deleted_services_slices_are_left_to_the_garbage_collector() -> None:
    client = world(make_service(selector={"app": "web"}), make_pod("a"))
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    del client.objects[("services", "default", "web")]
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_no_slices_are_created_for_a_service_being_deleted() -> None:
    service = make_service(selector={"app": "web"})
    service["metadata"]["deletionTimestamp"] = "2026-01-01T00:10:00Z"
    client = world(service, make_pod("a"))
    controller, _ = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_a_conflicting_update_is_reported_and_retried_after_a_second() -> None:
    clock = FakeClock()
    client = world(make_service(selector={"app": "web"}), make_pod("a", ready=False))
    controller, informers = controller_for(client, clock)
    await controller.reconcile("default/web")
    client.add(make_pod("a", ready=True))
    sync_informers(informers, client)
    client.fail_next("update", "endpointslices", ApiError(409, {"reason": "Conflict", "message": "conflict"}))
    await controller.process("default/web")
    assert controller.ctx.recorder.reasons() == ["FailedToUpdateEndpointSlices"]
    clock.now += 0.5
    assert controller.queue.get_nowait() is None
    clock.now += 0.5
    assert controller.queue.get_nowait() == "default/web"
    await controller.process("default/web")
    [stored] = client.all("endpointslices")
    assert stored["endpoints"][0]["conditions"]["ready"] is True


async def test_a_pod_on_an_unknown_node_is_left_out_and_the_service_retried() -> None:
    clock = FakeClock()
    client = world(
        make_service(selector={"app": "web"}), make_pod("a"), make_pod("b", "10.0.0.2", node="gone")
    )
    controller, _ = controller_for(client, clock)
    with pytest.raises(PodsSkipped):
        await controller.reconcile("default/web")
    [stored] = client.all("endpointslices")
    assert [e["targetRef"]["name"] for e in stored["endpoints"]] == ["a"]
    await controller.process("default/web")
    clock.now += 1.0
    assert controller.queue.get_nowait() == "default/web"


async def test_a_cache_behind_the_controllers_own_writes_is_retried_not_acted_on() -> None:
    client = world(make_service(selector={"app": "web"}), make_pod("a"))
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    client.actions.clear()
    with pytest.raises(StaleInformerCache):
        await controller.reconcile("default/web")
    assert client.verbs() == []
    sync_informers(informers, client)
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_only_someone_elses_change_to_a_slice_enqueues_its_service() -> None:
    clock = FakeClock()
    client = world(make_service(selector={"app": "web"}), make_pod("a"))
    controller, _ = controller_for(client, clock)
    await controller.reconcile("default/web")
    [own] = client.all("endpointslices")
    controller.add_slice(own)
    clock.now += 5
    assert controller.queue.get_nowait() is None
    edited = client.add({**own, "endpoints": []})
    controller.update_slice(own, edited)
    assert controller.queue.get_nowait() is None
    clock.now += 1.0
    assert controller.queue.get_nowait() == "default/web"
    controller.queue.done("default/web")
    controller.delete_slice(edited)
    clock.now += 1.0
    assert controller.queue.get_nowait() == "default/web"


# --- incremental syncs: what a sync derives again, and that it equals deriving every pod ------


def mirror(informers: Any, client: FakeClient) -> None:
    """What watches deliver: objects whose resourceVersion changed are replaced in the stores, the
    others stay the very objects the controller saw (sync_informers copies them all, as a relist)."""
    for resource, informer in informers.informers.items():
        wanted = {object_key(o): o for o in client.all(resolve(resource).name)}
        for key in informer.store.key_list():
            if key not in wanted:
                informer.store.remove(key)
        for key, obj in wanted.items():
            current = informer.store.get(key)
            if (
                current is None
                or current["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]
            ):
                informer.store.put(copy.deepcopy(obj))


async def test_a_sync_derives_only_the_pods_that_changed_since_the_last() -> None:
    client = world(make_service(selector={"app": "web"}), *many_pods(250))
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    cache = controller.syncs["default/web"].pods
    assert cache.derived == 250
    sync_informers(informers, client)  # every object an equal copy, as after a relist
    await controller.reconcile("default/web")
    assert cache.derived == 250
    client.add(make_pod("p007", "10.1.0.8", ready=False))
    mirror(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert cache.derived == 251
    assert client.verbs() == [("update", "endpointslices")]
    client.objects.pop(("pods", "default", "p008"))
    mirror(informers, client)
    await controller.reconcile("default/web")
    assert cache.derived == 251
    assert sum(len(s["endpoints"]) for s in client.all("endpointslices")) == 249


async def test_a_node_whose_zone_changed_has_only_its_pods_derived_again() -> None:
    pods = [make_pod(f"p{i}", f"10.0.0.{i + 1}", node="n1" if i < 3 else "n2") for i in range(5)]
    client = world(make_service(selector={"app": "web"}), *pods)
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    mirror(informers, client)
    client.add(make_node("n2", "zone-b"))
    mirror(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert controller.syncs["default/web"].pods.derived == 5 + 2
    [stored] = client.all("endpointslices")
    assert [e.get("zone") for e in stored["endpoints"]] == ["zone-a"] * 3 + ["zone-b"] * 2


def test_trigger_times_from_the_changed_pods_equal_those_from_all_pods() -> None:
    rng = random.Random(7)
    full, incremental = TriggerTimeTracker(), TriggerTimeTracker()
    service = make_service(selector={"app": "web"})
    pods: dict[str, Obj] = {}
    for _ in range(300):
        name = f"p{rng.randrange(8)}"
        if rng.random() < 0.25:
            pods.pop(name, None)
            change: tuple[str, Any] = (name, None)
        else:
            pod = make_pod(name)
            if rng.random() < 0.1:
                pod["status"]["conditions"] = []
            else:
                pod["status"]["conditions"][0]["lastTransitionTime"] = (
                    f"2026-01-01T00:{rng.randrange(9):02d}:00Z"
                )
            pods[name] = pod
            change = (name, ready_transition_time(pod))
        assert incremental.update(service, [change]) == full.compute(service, list(pods.values()))


NAMED_PORTS = [{"name": "http", "port": 80, "targetPort": "web"}, {"name": "metrics", "port": 9100}]


def random_pod(rng: random.Random, name: str) -> Obj:
    ip = f"10.0.{rng.randrange(2)}.{rng.randrange(1, 40)}"
    ports = rng.choice(
        [[{"name": "web", "containerPort": 8080}], [{"name": "web", "containerPort": 8081}], []]
    )
    return make_pod(
        name, ip, ready=rng.random() < 0.7, labels={"app": rng.choice(["web", "web", "web", "db"])},
        node=rng.choice(["n1", "n2", "n3", "gone"]), ports=ports, deleting=rng.random() < 0.1,
        ips=[ip, f"fd00::{rng.randrange(1, 99):x}"] if rng.random() < 0.5 else None,
    )  # fmt: skip


def random_service(rng: random.Random) -> Obj:
    return make_service(
        selector={"app": "web"}, labels=rng.choice([None, {"team": "a"}]),
        ports=rng.choice([NAMED_PORTS, NAMED_PORTS[:1], [{"name": "http", "port": 80, "targetPort": 8080}]]),
        families=rng.choice([["IPv4"], ["IPv6", "IPv4"], ["IPv4", "IPv6"]]),
        publishNotReadyAddresses=rng.random() < 0.3,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
async def test_the_kept_state_gives_the_slices_deriving_every_pod_again_gives(seed: int) -> None:
    """Random pod, Node, Service and slice changes; after each, the controller's kept desired
    endpoints reconcile to exactly what the pure reconcile_slices computes from all the pods."""
    rng = random.Random(seed)
    client = world(make_service(selector={"app": "web"}), make_node("n3", "zone-c"))
    informers = informers_from(client, "services", "pods", "nodes", "endpointslices")
    ctx = ControllerContext(client=client, informers=informers, recorder=FakeRecorder(),
                            options=Options(max_endpoints_per_slice=7), clock=FakeClock())  # fmt: skip
    controller = EndpointSliceController(ctx)
    names = [f"p{i:02d}" for i in range(30)]
    for step in range(80):
        op = rng.random()
        if op < 0.55:
            client.add(random_pod(rng, rng.choice(names)))
        elif op < 0.75:
            client.objects.pop(("pods", "default", rng.choice(names)), None)
        elif op < 0.85:
            client.add(make_node(rng.choice(["n1", "n2", "n3"]), rng.choice([None, "zone-a", "zone-b"])))
        elif op < 0.95:
            client.add(random_service(rng))
        elif client.all("endpointslices"):  # someone else edits a slice
            edited = copy.deepcopy(rng.choice(client.all("endpointslices")))
            edited["endpoints"] = edited["endpoints"][1:]
            client.add(edited)
        (sync_informers if rng.random() < 0.2 else mirror)(informers, client)
        service = informers.informer("services").store.get("default/web")
        existing = sorted(
            (s for s in informers.informer("endpointslices").store.objects()
             if s["metadata"]["labels"][LABEL_SERVICE_NAME] == "web"),
            key=lambda s: s["metadata"]["name"],
        )  # fmt: skip
        pods = sorted(
            (
                p
                for p in informers.informer("pods").store.objects()
                if p["metadata"]["labels"]["app"] == "web"
            ),
            key=lambda p: p["metadata"]["name"],
        )
        expected = reconcile_slices(service, pods, existing, informers.informer("nodes").store.get, 7)
        sync, _ = controller._refresh("default/web", service)
        assert reconcile_desired(service, sync.desired, existing, 7, match=sync.match) == expected, step
        with contextlib.suppress(PodsSkipped):
            await controller.reconcile("default/web")
