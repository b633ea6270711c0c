"""The EndpointSlice controller: pure endpoint and slice computation (conditions, ports, packing
into slices of at most 100, stability) and reconcile against the recording fake client."""

from __future__ import annotations

import copy
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
    address_types_for_service,
    find_port,
    pod_to_endpoint,
    reconcile_slices,
    services_to_update_on_pod_change,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError

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
