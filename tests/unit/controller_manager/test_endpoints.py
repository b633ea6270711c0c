"""The Endpoints controller: pure subset computation (repacking, readiness, named ports,
truncation) and reconcile against the recording fake client."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.endpoints import (
    ANNOTATION_OVER_CAPACITY,
    MAX_CAPACITY,
    EndpointsController,
    desired_endpoints,
    desired_subsets,
    repack_subsets,
    truncate_subsets,
)
from controller_manager.controllers.endpointslice import ANNOTATION_TRIGGER_TIME, StaleInformerCache
from controller_manager.options import Options
from kubeclient.errors import ApiError
from kubeclient.informer import object_key
from kubeclient.rest import resolve

Obj = dict[str, Any]


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
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"}
    if labels:
        meta["labels"] = labels
    body: Obj = {
        "clusterIP": cluster_ip,
        "ipFamilies": ["IPv4"],
        "ports": ports if ports is not None else [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
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
    phase: str = "Running",
    deleting: bool = False,
    ready_at: str = "2026-01-01T00:01:00Z",
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
        "phase": phase,
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_at}
        ],
    }
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    container: Obj = {"name": "c", "image": "nginx", "ports": ports or []}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node, "containers": [container]},
        "status": status,
    }


def address(pod: str, ip: str, node: str = "n1") -> Obj:
    return {"ip": ip, "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": pod,
                                                      "uid": f"uid-{pod}"}}  # fmt: skip


def controller_for(client: FakeClient, clock: FakeClock | None = None) -> tuple[EndpointsController, Any]:
    informers = informers_from(client, "services", "pods", "endpoints")
    ctx = ControllerContext(
        client=client,
        informers=informers,
        recorder=FakeRecorder(),
        options=Options(),
        clock=clock or FakeClock(),
    )
    return EndpointsController(ctx), informers


# --- pure functions --------------------------------------------------------------------------


def test_repack_groups_addresses_that_serve_the_same_ports_into_one_subset() -> None:
    http = {"name": "http", "port": 80, "protocol": "TCP"}
    metrics = {"name": "metrics", "port": 9090, "protocol": "TCP"}
    a, b = address("a", "10.0.0.2"), address("b", "10.0.0.1")
    subsets = [
        {"addresses": [a], "ports": [http]},
        {"addresses": [a], "ports": [metrics]},
        {"addresses": [b], "ports": [http]},
    ]
    assert repack_subsets(subsets) == [
        {"addresses": [b, a], "ports": [http]},
        {"addresses": [a], "ports": [metrics]},
    ]


def test_repack_makes_an_address_not_ready_when_any_subset_says_so() -> None:
    port = {"port": 80, "protocol": "TCP"}
    a = address("a", "10.0.0.1")
    repacked = repack_subsets(
        [{"addresses": [a], "ports": [port]}, {"notReadyAddresses": [a], "ports": [port]}]
    )
    assert repacked == [{"notReadyAddresses": [a], "ports": [port]}]


def test_repack_merges_ports_served_by_the_same_addresses_in_a_fixed_order() -> None:
    http = {"name": "http", "port": 80, "protocol": "TCP"}
    https = {"name": "https", "port": 443, "protocol": "TCP"}
    a = address("a", "10.0.0.1")
    first = repack_subsets([{"addresses": [a], "ports": [https]}, {"addresses": [a], "ports": [http]}])
    second = repack_subsets([{"addresses": [a], "ports": [http]}, {"addresses": [a], "ports": [https]}])
    assert first == second == [{"addresses": [a], "ports": [http, https]}]


@pytest.mark.parametrize(
    ("pod", "publish", "field"),
    [
        (make_pod("p", ready=True), False, "addresses"),
        (make_pod("p", ready=False), False, "notReadyAddresses"),
        (make_pod("p", ready=False), True, "addresses"),
        (make_pod("p", deleting=True), False, None),
        (make_pod("p", deleting=True), True, "addresses"),
        (make_pod("p", ip=None), False, None),
        (make_pod("p", phase="Succeeded"), True, None),
        (make_pod("p", phase="Failed", ready=False), False, None),
    ],
    ids=["ready", "not-ready", "not-ready-published", "terminating", "terminating-published", "no-ip",
         "succeeded", "failed"],
)  # fmt: skip
def test_a_pod_is_listed_by_its_readiness_unless_it_has_no_place_in_endpoints(
    pod: Obj, publish: bool, field: str | None
) -> None:
    service = make_service(selector={"app": "web"}, publishNotReadyAddresses=publish)
    subsets, _, _ = desired_subsets(service, [pod])
    if field is None:
        assert subsets == []
    else:
        assert subsets == [{field: [address("p", "10.0.0.1")], "ports": [{"port": 8080, "protocol": "TCP"}]}]


def test_a_named_target_port_is_resolved_in_each_pods_containers() -> None:
    service = make_service(
        selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    )
    old = make_pod("old", "10.0.0.1", ports=[{"name": "web", "containerPort": 8080, "protocol": "TCP"}])
    new = make_pod("new", "10.0.0.2", ports=[{"name": "web", "containerPort": 9090}])
    udp = make_pod("udp", "10.0.0.3", ports=[{"name": "web", "containerPort": 7070, "protocol": "UDP"}])
    subsets, ready, not_ready = desired_subsets(service, [old, new, udp])
    assert subsets == [
        {
            "addresses": [address("old", "10.0.0.1")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
        {
            "addresses": [address("new", "10.0.0.2")],
            "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
        },
    ]
    assert (ready, not_ready) == (2, 0)


def test_a_headless_service_without_ports_lists_its_pods_without_ports() -> None:
    service = make_service(selector={"app": "web"}, ports=[], cluster_ip="None")
    subsets, _, _ = desired_subsets(service, [make_pod("a")])
    assert subsets == [{"addresses": [address("a", "10.0.0.1")]}]


def test_a_service_with_a_cluster_ip_and_no_ports_gets_no_subsets() -> None:
    subsets, _, _ = desired_subsets(make_service(selector={"app": "web"}, ports=[]), [make_pod("a")])
    assert subsets == []


def test_the_hostname_is_set_for_pods_of_the_services_subdomain() -> None:
    pod = make_pod("a")
    pod["spec"].update(hostname="a-0", subdomain="web")
    subsets, _, _ = desired_subsets(make_service(selector={"app": "web"}), [pod])
    assert subsets[0]["addresses"][0]["hostname"] == "a-0"


def test_truncation_keeps_ready_addresses_before_not_ready_ones() -> None:
    port = [{"port": 80, "protocol": "TCP"}]
    ready = [address(f"r{i}", f"10.1.{i // 250}.{i % 250}") for i in range(900)]
    not_ready = [address(f"n{i}", f"10.2.{i // 250}.{i % 250}") for i in range(300)]
    subsets, truncated = truncate_subsets(
        [{"addresses": ready, "notReadyAddresses": not_ready, "ports": port}]
    )
    assert truncated
    assert len(subsets[0]["addresses"]) == 900
    assert len(subsets[0]["notReadyAddresses"]) == MAX_CAPACITY - 900
    assert truncate_subsets([{"addresses": ready[:10], "ports": port}]) == (
        [{"addresses": ready[:10], "ports": port}],
        False,
    )


def test_desired_endpoints_is_none_when_the_stored_object_already_matches() -> None:
    service = make_service(selector={"app": "web"}, labels={"team": "a"})
    subsets, _, _ = desired_subsets(service, [make_pod("a")])
    first = desired_endpoints(service, None, subsets, None)
    assert first is not None
    assert first["metadata"]["labels"] == {"team": "a"}
    assert desired_endpoints(service, first, subsets, None) is None
    relabelled = make_service(selector={"app": "web"}, labels={"team": "b"})
    changed = desired_endpoints(relabelled, first, subsets, None)
    assert changed is not None and changed["metadata"]["labels"] == {"team": "b"}


def test_a_headless_services_endpoints_carry_the_headless_label_without_counting_it_as_a_change() -> None:
    service = make_service(selector={"app": "web"}, cluster_ip="None")
    subsets, _, _ = desired_subsets(service, [make_pod("a")])
    first = desired_endpoints(service, None, subsets, None)
    assert first is not None
    assert first["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}
    assert desired_endpoints(service, first, subsets, None) is None


def test_over_capacity_endpoints_are_annotated_and_then_left_alone() -> None:
    service = make_service(selector={"app": "web"})
    pods = [make_pod(f"p{i}", f"10.1.{i // 250}.{i % 250}") for i in range(MAX_CAPACITY + 5)]
    subsets, _, _ = desired_subsets(service, pods)
    first = desired_endpoints(service, None, subsets, None)
    assert first is not None
    assert first["metadata"]["annotations"] == {ANNOTATION_OVER_CAPACITY: "truncated"}
    assert len(first["subsets"][0]["addresses"]) == MAX_CAPACITY
    assert desired_endpoints(service, first, subsets, None) is None


# --- the controller ---------------------------------------------------------------------------


async def test_a_service_with_a_selector_gets_endpoints_of_its_pods() -> None:
    client = FakeClient(
        [
            make_service(selector={"app": "web"}, labels={"team": "a"}),
            make_pod("a", "10.0.0.1"),
            make_pod("b", "10.0.0.2", ready=False),
            make_pod("other", "10.0.0.3", labels={"app": "db"}),
        ]
    )
    controller, _ = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == [("create", "endpoints")]
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None
    assert stored["metadata"]["labels"] == {"team": "a"}
    assert stored["metadata"]["annotations"] == {ANNOTATION_TRIGGER_TIME: "2026-01-01T00:00:00Z"}
    assert stored["subsets"] == [
        {
            "addresses": [address("a", "10.0.0.1")],
            "notReadyAddresses": [address("b", "10.0.0.2")],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]


async def test_reconciling_again_with_synced_informers_writes_nothing() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a"), make_pod("b", "10.0.0.2")])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_a_readiness_flip_moves_the_address_between_ready_and_not_ready() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a", ready=False)])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None and "addresses" not in stored["subsets"][0]
    assert stored["subsets"][0]["notReadyAddresses"] == [address("a", "10.0.0.1")]

    client.add(make_pod("a", ready=True, ready_at="2026-01-01T00:02:30.5Z"))
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == [("update", "endpoints")]
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None
    assert stored["subsets"] == [
        {"addresses": [address("a", "10.0.0.1")], "ports": [{"port": 8080, "protocol": "TCP"}]}
    ]
    assert stored["metadata"]["annotations"][ANNOTATION_TRIGGER_TIME] == "2026-01-01T00:02:30.5Z"

    client.add(make_pod("a", ready=False, ready_at="2026-01-01T00:03:00Z"))
    sync_informers(informers, client)
    await controller.reconcile("default/web")
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None and stored["subsets"][0]["notReadyAddresses"] == [address("a", "10.0.0.1")]


async def test_a_deleted_pod_leaves_the_endpoints_empty() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a")])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    del client.objects[("pods", "default", "a")]
    sync_informers(informers, client)
    await controller.reconcile("default/web")
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None and stored["subsets"] == []


async def test_a_service_without_a_selector_is_left_alone() -> None:
    kubernetes = make_service("kubernetes", ports=[{"name": "https", "port": 443, "targetPort": 6443}])
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "192.168.1.10"}], "ports": [{"name": "https", "port": 6443}]}],
    }
    client = FakeClient([kubernetes, endpoints, make_pod("a")])
    controller, _ = controller_for(client)
    await controller.reconcile("default/kubernetes")
    assert client.verbs() == []


async def test_an_external_name_service_gets_no_endpoints() -> None:
    client = FakeClient([make_service(selector={"app": "web"}, type="ExternalName"), make_pod("a")])
    controller, _ = controller_for(client)
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_the_endpoints_of_a_deleted_service_are_deleted_once() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a")])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    del client.objects[("services", "default", "web")]
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == [("delete", "endpoints")]
    assert client.stored("endpoints", "default", "web") is None
    sync_informers(informers, client)
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_a_conflicting_update_is_reported_and_retried_with_back_off() -> None:
    clock = FakeClock()
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a", ready=False)])
    controller, informers = controller_for(client, clock)
    await controller.reconcile("default/web")
    client.add(make_pod("a", ready=True))
    sync_informers(informers, client)
    client.fail_next("update", "endpoints", ApiError(409, {"reason": "Conflict", "message": "conflict"}))
    await controller.process("default/web")
    assert controller.ctx.recorder.events == [
        (
            "default/web",
            "Warning",
            "FailedToUpdateEndpoint",
            "Failed to update endpoint default/web: conflict",
        )
    ]
    assert controller.queue.get_nowait() is None
    clock.now += 0.005
    assert controller.queue.get_nowait() == "default/web"
    await controller.process("default/web")
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None and "addresses" in stored["subsets"][0]
    assert client.verbs() == [("create", "endpoints"), ("update", "endpoints"), ("update", "endpoints")]


async def test_a_cache_that_still_shows_the_replaced_endpoints_is_retried_not_acted_on() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a", ready=False)])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    sync_informers(informers, client)
    client.add(make_pod("a", ready=True))
    informers.informer("pods").store.put(client.stored("pods", "default", "a"))
    await controller.reconcile("default/web")
    client.add(make_pod("a", ready=False, ready_at="2026-01-01T00:09:00Z"))
    informers.informer("pods").store.put(client.stored("pods", "default", "a"))
    client.actions.clear()
    with pytest.raises(StaleInformerCache):
        await controller.reconcile("default/web")
    assert client.verbs() == []
    sync_informers(informers, client)
    await controller.reconcile("default/web")
    assert client.verbs() == [("update", "endpoints")]


async def test_a_pod_update_enqueues_the_services_of_its_old_and_new_labels() -> None:
    client = FakeClient(
        [
            make_service("web", selector={"app": "web"}),
            make_service("db", selector={"app": "db"}),
            make_service("all", selector={"tier": "x"}),
            make_service("none"),
        ]
    )
    controller, _ = controller_for(client)
    old = make_pod("a", labels={"app": "web", "tier": "x"})
    old["metadata"]["resourceVersion"] = "1"
    moved = make_pod("a", labels={"app": "db", "tier": "x"})
    moved["metadata"]["resourceVersion"] = "2"
    controller.update_pod(old, moved)
    keys = []
    while (key := controller.queue.get_nowait()) is not None:
        keys.append(key)
    assert sorted(keys) == ["default/db", "default/web"]


async def test_a_pod_resync_or_irrelevant_change_enqueues_nothing() -> None:
    client = FakeClient([make_service("web", selector={"app": "web"})])
    controller, _ = controller_for(client)
    pod = make_pod("a")
    pod["metadata"]["resourceVersion"] = "1"
    controller.update_pod(pod, pod)
    annotated = make_pod("a")
    annotated["metadata"].update(resourceVersion="2", annotations={"note": "x"})
    controller.update_pod(pod, annotated)
    assert controller.queue.get_nowait() is None
    not_ready = make_pod("a", ready=False)
    not_ready["metadata"]["resourceVersion"] = "3"
    controller.update_pod(annotated, not_ready)
    assert controller.queue.get_nowait() == "default/web"


async def test_leftover_endpoints_are_enqueued_once_at_start_but_leader_locks_are_not() -> None:
    leftover = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "gone", "namespace": "default"}}
    lock = {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "lock", "namespace": "kube-system",
                         "annotations": {"control-plane.alpha.kubernetes.io/leader": "{}"}}}  # fmt: skip
    client = FakeClient([leftover, lock])
    controller, _ = controller_for(client)
    controller.enqueue_leftovers()
    assert controller.queue.get_nowait() == "default/gone"
    assert controller.queue.get_nowait() is None
    await controller.process("default/gone")
    assert client.verbs() == [("delete", "endpoints")]
    assert client.stored("endpoints", "kube-system", "lock") is not None


async def test_endpoints_written_before_the_cache_shows_them_are_still_deleted_with_their_service() -> None:
    client = FakeClient([make_service(selector={"app": "web"}), make_pod("a")])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    del client.objects[("services", "default", "web")]
    informers.informer("services").store.remove("default/web")
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == [("delete", "endpoints")]
    client.actions.clear()
    await controller.reconcile("default/web")
    assert client.verbs() == []


async def test_endpoints_created_before_their_selectorless_service_are_kept() -> None:
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "default"},
                 "subsets": [{"addresses": [{"ip": "192.168.0.9"}], "ports": [{"port": 5432}]}]}  # fmt: skip
    client = FakeClient([endpoints])
    controller, informers = controller_for(client)
    client.add(make_service("ext", ports=[{"port": 5432}]))
    sync_informers(informers, client)
    await controller.reconcile("default/ext")
    assert client.verbs() == []
    assert client.stored("endpoints", "default", "ext") is not None


# --- incremental syncs: what a sync derives again, and that it equals repacking every pod -----


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
    pods = [make_pod(f"p{i:03d}", f"10.1.{i // 200}.{i % 200 + 1}") for i in range(300)]
    client = FakeClient([make_service(selector={"app": "web"}), *pods])
    controller, informers = controller_for(client)
    await controller.reconcile("default/web")
    cache = controller.syncs["default/web"].pods
    assert cache.derived == 300
    sync_informers(informers, client)  # every object an equal copy, as after a relist
    client.actions.clear()
    await controller.reconcile("default/web")
    assert (cache.derived, client.verbs()) == (300, [])
    client.add(make_pod("p007", "10.1.0.8", ready=False))
    mirror(informers, client)
    await controller.reconcile("default/web")
    assert cache.derived == 301
    stored = client.stored("endpoints", "default", "web")
    assert stored is not None and stored["subsets"][0]["notReadyAddresses"] == [address("p007", "10.1.0.8")]


def random_pod(rng: random.Random, name: str, uid: str | None = None, ip: str | None = None) -> Obj:
    ip = ip or f"10.0.{rng.randrange(2)}.{rng.randrange(1, 40)}"
    ports = rng.choice(
        [[{"name": "web", "containerPort": 8080}], [{"name": "web", "containerPort": 8081}], []]
    )
    pod = make_pod(
        name, ip, ready=rng.random() < 0.7, labels={"app": rng.choice(["web", "web", "web", "db"])},
        node=rng.choice(["n1", "n2"]), ports=ports, deleting=rng.random() < 0.1,
        phase=rng.choice(["Running"] * 9 + ["Succeeded"]),
        ready_at=f"2026-01-01T00:{rng.randrange(60):02d}:00Z",
    )  # fmt: skip
    if rng.random() < 0.3:
        pod["status"]["podIPs"].append({"ip": f"fd00::{rng.randrange(1, 99):x}"})
    if uid is not None:
        pod["metadata"]["uid"] = uid
    return pod


NAMED_PORTS = [{"name": "http", "port": 80, "targetPort": "web"}, {"name": "metrics", "port": 9100}]


def random_service(rng: random.Random) -> Obj:
    headless = rng.random() < 0.3
    return make_service(
        selector={"app": "web"}, labels=rng.choice([None, {"team": "a"}]),
        ports=rng.choice([NAMED_PORTS, NAMED_PORTS[:1], [{"port": 80, "targetPort": 8080}]]
                         + ([[]] if headless else [])),
        cluster_ip="None" if headless else "10.96.0.10",
        ipFamilies=rng.choice([["IPv4"], ["IPv6"], ["IPv4", "IPv6"]]),
        publishNotReadyAddresses=rng.random() < 0.3,
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(5))
async def test_the_kept_addresses_give_the_subsets_repacking_every_pod_gives(seed: int) -> None:
    """Random pod and Service changes (with pods sharing an address now and then); after each, the
    controller's kept addresses give exactly what desired_subsets computes from all the pods."""
    rng = random.Random(seed)
    client = FakeClient([make_service(selector={"app": "web"})])
    controller, informers = controller_for(client)
    names = [f"p{i:02d}" for i in range(30)]
    for step in range(100):
        op = rng.random()
        if op < 0.6:
            client.add(random_pod(rng, rng.choice(names)))
        elif op < 0.7:  # the uid and IP of another pod: one address for two pods
            twin = client.stored("pods", "default", rng.choice(names))
            if twin is not None:
                client.add(
                    random_pod(rng, rng.choice(names), twin["metadata"]["uid"], twin["status"]["podIP"])
                )
        elif op < 0.9:
            client.objects.pop(("pods", "default", rng.choice(names)), None)
        else:
            client.add(random_service(rng))
        (sync_informers if rng.random() < 0.2 else mirror)(informers, client)
        service = informers.informer("services").store.get("default/web")
        pods = sorted(
            (
                p
                for p in informers.informer("pods").store.objects()
                if p["metadata"]["labels"]["app"] == "web"
            ),
            key=lambda p: p["metadata"]["name"],
        )
        sync, _ = controller._refresh("default/web", service)
        assert sync.subsets(service) == desired_subsets(service, pods), step
        await controller.reconcile("default/web")
