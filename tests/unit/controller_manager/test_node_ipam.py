"""node-ipam-controller (range allocator): spec.podCIDR(s) from --cluster-cidr for every node."""

from __future__ import annotations

import asyncio
from ipaddress import IPv6Network, ip_network
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext, IdleController
from controller_manager.controllers.node_ipam import (
    CIDRRangeFull,
    CIDRSet,
    NodeIpamController,
    new,
    new_cidr_set,
    node_mask_size,
    pod_cidr_patch,
    pod_cidrs,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError
from kubeclient.rest import STRATEGIC_MERGE_PATCH


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def net(cidr: str) -> Any:
    return ip_network(cidr)


def node(name: str, cidr: str | None = None, *, deleting: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-02-01T00:00:00Z"
        meta["finalizers"] = ["example.com/hold"]
    return {"apiVersion": "v1", "kind": "Node", "metadata": meta, "spec": spec}


def make(
    *objects: dict[str, Any], cluster: str = "10.244.0.0/16", **options: Any
) -> tuple[NodeIpamController, FakeClient, FakeRecorder, FakeClock]:
    client = FakeClient(objects)
    recorder = FakeRecorder()
    clock = FakeClock()
    ctx = ControllerContext(
        client,
        informers_from(client, "nodes"),
        recorder,
        Options(allocate_node_cidrs=True, cluster_cidr=net(cluster), **options),
        clock=clock,
    )
    controller = new(ctx)
    assert isinstance(controller, NodeIpamController)
    return controller, client, recorder, clock


def cidr_of(client: FakeClient, name: str) -> tuple[str, ...]:
    stored = client.stored("nodes", "", name)
    assert stored is not None
    return pod_cidrs(stored)


# --- the CIDR set -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cluster", "mask", "first", "second", "size"),
    [
        ("10.244.0.0/16", 24, "10.244.0.0/24", "10.244.1.0/24", 256),
        ("10.0.0.0/8", 24, "10.0.0.0/24", "10.0.1.0/24", 65536),
        ("10.244.0.0/24", 26, "10.244.0.0/26", "10.244.0.64/26", 4),
        ("10.244.0.0/24", 24, "10.244.0.0/24", "10.244.0.0/24", 1),
        ("fd00:10:244::/56", 64, "fd00:10:244::/64", "fd00:10:244:1::/64", 256),
        ("::/112", 120, "::/120", "::100/120", 256),
    ],
    ids=[
        "ipv4 /16 into /24",
        "ipv4 /8 into /24",
        "ipv4 /24 into /26",
        "one subnet",
        "ipv6 /56 into /64",
        "low ipv6",
    ],
)
def test_allocation_hands_out_subnets_in_order(
    cluster: str, mask: int, first: str, second: str, size: int
) -> None:
    cidrs = CIDRSet(net(cluster), mask)
    assert cidrs.max_cidrs == size
    got = cidrs.allocate_next()
    assert got == net(first)
    assert type(got) is type(net(cluster))
    if size > 1:
        assert cidrs.allocate_next() == net(second)


@pytest.mark.parametrize(
    ("cluster", "mask"),
    [("10.244.0.0/16", 15), ("10.244.0.0/16", 33), ("fd00::/32", 64), ("fd00::/64", 63)],
    ids=[
        "node mask shorter than the cluster's",
        "longer than an address",
        "ipv6 over 16 bits more",
        "ipv6 shorter",
    ],
)
def test_impossible_mask_sizes_are_refused(cluster: str, mask: int) -> None:
    with pytest.raises(ValueError):
        CIDRSet(net(cluster), mask)


def test_a_full_range_refuses_and_a_release_makes_room() -> None:
    cidrs = CIDRSet(net("10.244.0.0/23"), 24)
    assert [str(cidrs.allocate_next()) for _ in range(2)] == ["10.244.0.0/24", "10.244.1.0/24"]
    with pytest.raises(CIDRRangeFull, match="no remaining CIDRs"):
        cidrs.allocate_next()
    cidrs.release(net("10.244.0.0/24"))
    assert cidrs.allocate_next() == net("10.244.0.0/24")


def test_allocation_goes_round_robin_past_a_just_released_subnet() -> None:
    cidrs = CIDRSet(net("10.244.0.0/16"), 24)
    first = cidrs.allocate_next()
    cidrs.allocate_next()
    cidrs.release(first)
    assert cidrs.allocate_next() == net("10.244.2.0/24")


@pytest.mark.parametrize(
    ("cidr", "taken"),
    [
        ("10.244.1.0/24", [1]),
        ("10.244.1.7/32", [1]),
        ("10.244.1.128/25", [1]),
        ("10.244.2.0/23", [2, 3]),
        ("10.244.0.0/22", [0, 1, 2, 3]),
        ("10.0.0.0/8", [0, 1, 2, 3]),
    ],
    ids=[
        "a node subnet",
        "one address",
        "half a subnet",
        "two subnets",
        "the whole range",
        "a range containing it",
    ],
)
def test_occupy_takes_every_subnet_a_cidr_overlaps(cidr: str, taken: list[int]) -> None:
    cidrs = CIDRSet(net("10.244.0.0/22"), 24)
    cidrs.occupy(net(cidr))
    assert cidrs.allocated == len(taken)
    free = [index for index in range(4) if index not in taken]
    assert [cidrs.allocate_next() for _ in free] == [cidrs.subnet(index) for index in free]
    cidrs.release(net(cidr))
    assert cidrs.allocated == len(free)


@pytest.mark.parametrize(
    "cidr", ["10.245.0.0/24", "192.168.0.0/16", "fd00::/64"], ids=["next door", "elsewhere", "other family"]
)
def test_a_cidr_outside_the_range_cannot_be_occupied_or_released(cidr: str) -> None:
    cidrs = CIDRSet(net("10.244.0.0/16"), 24)
    with pytest.raises(ValueError, match="out the range"):
        cidrs.occupy(net(cidr))
    with pytest.raises(ValueError, match="out the range"):
        cidrs.release(net(cidr))


def test_occupy_and_release_count_each_subnet_once() -> None:
    cidrs = CIDRSet(net("10.244.0.0/16"), 24)
    cidrs.occupy(net("10.244.5.0/24"))
    cidrs.occupy(net("10.244.5.0/24"))
    assert cidrs.allocated == 1
    cidrs.release(net("10.244.5.0/24"))
    cidrs.release(net("10.244.5.0/24"))
    assert cidrs.allocated == 0


@pytest.mark.parametrize(
    ("service", "first", "allocated"),
    [
        (None, "10.244.0.0/24", 0),
        ("10.96.0.0/12", "10.244.0.0/24", 0),
        ("10.244.0.0/24", "10.244.1.0/24", 1),
        ("10.244.0.0/23", "10.244.2.0/24", 2),
        ("10.244.0.10/32", "10.244.1.0/24", 1),
        ("fd00::/108", "10.244.0.0/24", 0),
    ],
    ids=["no service range", "apart", "the first subnet", "two subnets", "one address", "other family"],
)
def test_subnets_overlapping_the_service_range_are_never_handed_out(
    service: str | None, first: str, allocated: int
) -> None:
    cidrs = new_cidr_set(net("10.244.0.0/16"), 24, net(service) if service else None)
    assert cidrs.allocated == allocated
    assert cidrs.allocate_next() == net(first)


def test_a_service_range_containing_the_cluster_range_leaves_nothing() -> None:
    cidrs = new_cidr_set(net("10.244.0.0/16"), 24, net("10.0.0.0/8"))
    with pytest.raises(CIDRRangeFull):
        cidrs.allocate_next()


@pytest.mark.parametrize(
    ("cluster", "flags", "mask"),
    [
        ("10.244.0.0/16", (0, 0, 0), 24),
        ("fd00::/48", (0, 0, 0), 64),
        ("10.244.0.0/16", (26, 0, 0), 26),
        ("fd00::/48", (56, 0, 0), 56),
        ("10.244.0.0/16", (0, 25, 0), 25),
        ("fd00::/48", (0, 0, 60), 60),
    ],
    ids=[
        "ipv4 default",
        "ipv6 default",
        "--node-cidr-mask-size v4",
        "--node-cidr-mask-size v6",
        "-ipv4",
        "-ipv6",
    ],
)
def test_the_node_mask_comes_from_the_flags_or_the_family_default(
    cluster: str, flags: tuple[int, int, int], mask: int
) -> None:
    assert node_mask_size(net(cluster), *flags) == mask


@pytest.mark.parametrize(
    ("cluster", "flags", "message"),
    [
        ("10.244.0.0/16", (24, 24, 0), "not allowed if --node-cidr-mask-size is set"),
        ("10.244.0.0/16", (0, 0, 64), "single-stack IPv4 cluster"),
        ("fd00::/48", (0, 24, 0), "single-stack IPv6 cluster"),
    ],
    ids=["both kinds of flag", "ipv6 flag on ipv4", "ipv4 flag on ipv6"],
)
def test_contradictory_mask_flags_are_refused(
    cluster: str, flags: tuple[int, int, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        node_mask_size(net(cluster), *flags)


def test_the_patch_sets_both_pod_cidr_fields() -> None:
    assert pod_cidr_patch(["10.244.3.0/24"]) == {
        "spec": {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"]}
    }


@pytest.mark.parametrize(
    ("spec", "cidrs"),
    [
        ({}, ()),
        ({"podCIDR": "10.244.1.0/24"}, ("10.244.1.0/24",)),
        (
            {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24", "fd00::/64"]},
            ("10.244.1.0/24", "fd00::/64"),
        ),
    ],
    ids=["none", "only the old field", "the list wins"],
)
def test_a_nodes_cidrs_are_read_from_the_list_or_the_old_field(
    spec: dict[str, Any], cidrs: tuple[str, ...]
) -> None:
    assert pod_cidrs({"spec": spec}) == cidrs


# --- reconcile ----------------------------------------------------------------------------------------


async def test_a_node_without_a_cidr_gets_the_next_free_subnet() -> None:
    controller, client, recorder, _ = make(node("n1"))
    await controller.reconcile("n1")
    assert client.verbs() == [("patch", "nodes")]
    action = client.writes("patch", "nodes")[0]
    assert action.body == {"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}}
    assert action.options == {"content_type": STRATEGIC_MERGE_PATCH}
    assert cidr_of(client, "n1") == ("10.244.0.0/24",)
    assert recorder.events == []


async def test_reconcile_twice_patches_once() -> None:
    controller, client, _, _ = make(node("n1"))
    await controller.reconcile("n1")
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("n1")
    assert client.verbs() == [("patch", "nodes")]
    assert controller.cidrs.allocated == 1


async def test_a_stale_cache_repeats_the_same_subnet_instead_of_taking_another() -> None:
    controller, client, _, _ = make(node("n1"))
    await controller.reconcile("n1")
    await controller.reconcile("n1")  # the cache has not shown the patch yet
    assert [a.body["spec"]["podCIDR"] for a in client.writes("patch", "nodes")] == ["10.244.0.0/24"] * 2
    assert controller.cidrs.allocated == 1


async def test_subnets_of_existing_nodes_are_occupied_before_the_first_allocation() -> None:
    controller, client, _, _ = make(
        node("new"), node("old-1", "10.244.0.0/24"), node("old-2", "10.244.1.0/24")
    )
    await controller.reconcile("new")
    assert cidr_of(client, "new") == ("10.244.2.0/24",)
    await controller.reconcile("old-1")
    assert client.verbs() == [("patch", "nodes")]


async def test_the_service_range_is_kept_out_of_node_subnets() -> None:
    controller, client, _, _ = make(
        node("n1"), cluster="10.0.0.0/16", service_cluster_ip_range=net("10.0.0.0/24"), node_cidr_mask_size=24
    )
    await controller.reconcile("n1")
    assert cidr_of(client, "n1") == ("10.0.1.0/24",)


async def test_an_ipv6_cluster_gets_slash_64_subnets() -> None:
    controller, client, _, _ = make(node("n1"), cluster="fd00:10:244::/56")
    await controller.reconcile("n1")
    assert cidr_of(client, "n1") == ("fd00:10:244::/64",)


async def test_a_full_range_records_cidr_not_available_and_retries() -> None:
    controller, client, recorder, clock = make(
        node("a", "10.244.0.0/24"), node("b", "10.244.1.0/24"), node("c"), cluster="10.244.0.0/23"
    )
    await controller.process("c")
    assert client.verbs() == []
    assert recorder.events == [("c", "Warning", "CIDRNotAvailable", "Node c status is now: CIDRNotAvailable")]
    assert controller.queue.requeues("c") == 1

    await client.delete("nodes", "a")
    sync_informers(controller.ctx.informers, client)
    await controller.process("a")  # the delete event's key: releases a's subnet
    clock.t += 1
    key = controller.queue.get_nowait()
    assert key == "c"
    await controller.process(key)
    assert cidr_of(client, "c") == ("10.244.0.0/24",)
    assert controller.queue.requeues("c") == 0


async def test_a_node_being_deleted_gives_its_subnet_back() -> None:
    controller, client, _, _ = make(
        node("a", "10.244.0.0/24", deleting=True), node("b"), cluster="10.244.0.0/24"
    )
    await controller.reconcile("a")
    await controller.reconcile("b")
    assert cidr_of(client, "b") == ("10.244.0.0/24",)


async def test_a_failing_patch_is_tried_three_times_then_released_and_retried() -> None:
    controller, client, recorder, clock = make(node("n1"))
    for _ in range(3):
        client.fail_next("patch", "nodes", ApiError(500, {"reason": "InternalError"}))
    await controller.process("n1")
    assert client.verbs() == [("patch", "nodes")] * 3
    assert recorder.reasons() == ["CIDRAssignmentFailed"]
    assert controller.cidrs.allocated == 0
    assert controller.queue.requeues("n1") == 1
    clock.t += 1
    key = controller.queue.get_nowait()
    assert key == "n1"
    await controller.process(key)
    assert cidr_of(client, "n1") == ("10.244.1.0/24",)  # round robin moved on
    assert controller.cidrs.allocated == 1


async def test_a_patch_that_timed_out_keeps_its_subnet_reserved() -> None:
    controller, client, recorder, _ = make(node("n1"))
    for _ in range(3):
        client.fail_next("patch", "nodes", ApiError(504, {"reason": "Timeout"}))
    await controller.process("n1")
    assert recorder.reasons() == ["CIDRAssignmentFailed"]
    assert controller.cidrs.allocated == 1
    await controller.reconcile("n1")
    assert cidr_of(client, "n1") == ("10.244.0.0/24",)


async def test_a_retried_patch_that_succeeds_records_nothing() -> None:
    controller, client, recorder, _ = make(node("n1"))
    client.fail_next("patch", "nodes", ApiError(409, {"reason": "Conflict"}))
    await controller.process("n1")
    assert client.verbs() == [("patch", "nodes")] * 2
    assert recorder.events == []
    assert controller.queue.requeues("n1") == 0


async def test_a_subnet_someone_else_set_replaces_the_one_we_reserved() -> None:
    controller, client, _, _ = make(node("n1"))
    for _ in range(3):
        client.fail_next("patch", "nodes", ApiError(504, {"reason": "Timeout"}))
    await controller.process("n1")  # reserved 10.244.0.0/24
    await client.patch("nodes", "n1", pod_cidr_patch(["10.244.9.0/24"]))
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("n1")
    assert controller.held == {"n1": ("10.244.9.0/24",)}
    assert controller.cidrs.allocated == 1


async def test_a_node_with_an_unusable_cidr_is_logged_and_left_alone() -> None:
    controller, client, _, _ = make(node("odd", "192.168.0.0/24"), node("bad", "not-a-cidr"))
    await controller.process("odd")
    await controller.process("bad")
    assert client.verbs() == []
    assert controller.queue.requeues("odd") == controller.queue.requeues("bad") == 0


async def test_a_node_deleted_before_its_patch_is_not_an_error() -> None:
    controller, client, recorder, _ = make(node("n1"))
    client.fail_next("patch", "nodes", ApiError(404, {"reason": "NotFound"}))
    await controller.process("n1")
    assert client.verbs() == [("patch", "nodes")]
    assert recorder.events == []
    assert controller.queue.requeues("n1") == 0


# --- handlers and start-up ------------------------------------------------------------------------------


def test_every_node_event_queues_the_node() -> None:
    controller, _, _, _ = make()
    controller.enqueue(node("a"))
    controller.enqueue_update(node("b"), node("b"))
    assert [controller.queue.get_nowait(), controller.queue.get_nowait()] == ["a", "b"]
    handlers = controller.nodes._handlers
    assert len(handlers) == 1 and all(handler is not None for handler in handlers[0])


async def test_without_allocate_node_cidrs_the_controller_idles_and_watches_nothing() -> None:
    client = FakeClient([node("n1")])
    ctx = ControllerContext(
        client, informers_from(client), FakeRecorder(), Options(cluster_cidr=net("10.0.0.0/16"))
    )
    controller = new(ctx)
    assert isinstance(controller, IdleController)
    assert controller.name == "node-ipam-controller"
    assert ctx.informers.informers == {}
    task = asyncio.create_task(controller.run())
    await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.actions == []


def test_allocating_without_a_cluster_cidr_is_a_configuration_error() -> None:
    client = FakeClient()
    ctx = ControllerContext(client, informers_from(client), FakeRecorder(), Options(allocate_node_cidrs=True))
    with pytest.raises(ValueError, match="Must specify --cluster-cidr"):
        new(ctx)


def test_the_mask_flags_shape_the_set() -> None:
    controller, _, _, _ = make(cluster="fd00::/48", node_cidr_mask_size_ipv6=60)
    assert isinstance(controller.cidrs.cluster, IPv6Network)
    assert controller.cidrs.node_mask == 60
