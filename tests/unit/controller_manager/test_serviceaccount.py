"""serviceaccount-controller: a `default` ServiceAccount in every active namespace."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext
from controller_manager.controllers.serviceaccount import (
    ServiceAccountsController,
    missing_service_accounts,
    namespace_active,
    namespace_terminating,
    new,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def namespace(name: str, phase: str | None = "Active") -> dict[str, Any]:
    ns: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if phase:
        ns["status"] = {"phase": phase}
    return ns


def account(ns: str, name: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def make(*objects: dict[str, Any]) -> tuple[ServiceAccountsController, FakeClient, FakeClock]:
    client = FakeClient(objects)
    clock = FakeClock()
    ctx = ControllerContext(
        client,
        informers_from(client, "namespaces", "serviceaccounts"),
        FakeRecorder(),
        Options(),
        clock=clock,
    )
    return new(ctx), client, clock


# --- pure functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "active"),
    [
        (namespace("a"), True),
        (namespace("a", "Terminating"), False),
        (namespace("a", None), False),
    ],
    ids=["active namespace", "terminating namespace", "namespace without a phase yet"],
)
def test_only_active_namespaces_get_accounts(ns: dict[str, Any], active: bool) -> None:
    assert namespace_active(ns) is active


@pytest.mark.parametrize(
    ("wanted", "existing", "missing"),
    [
        (["default"], [], ["default"]),
        (["default"], ["default"], []),
        (["default"], ["builder", "deployer"], ["default"]),
        (["default", "builder"], ["builder"], ["default"]),
    ],
    ids=["none exist", "default exists", "only others exist", "some of several exist"],
)
def test_missing_accounts_are_the_wanted_ones_not_present(
    wanted: list[str], existing: list[str], missing: list[str]
) -> None:
    assert missing_service_accounts(wanted, existing) == missing


def test_a_refusal_because_the_namespace_is_terminating_is_recognised() -> None:
    refused = ApiError(
        403, {"reason": "Forbidden", "details": {"causes": [{"reason": "NamespaceTerminating"}]}}
    )
    assert namespace_terminating(refused)
    assert not namespace_terminating(ApiError(403, {"reason": "Forbidden"}))
    assert not namespace_terminating(ValueError("x"))


# --- reconcile ----------------------------------------------------------------------------------------


async def test_an_active_namespace_gets_a_default_service_account() -> None:
    controller, client, _ = make(namespace("team-a"))
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "serviceaccounts")]
    created = client.stored("serviceaccounts", "team-a", "default")
    assert created is not None and created["metadata"]["namespace"] == "team-a"


async def test_reconcile_twice_creates_once() -> None:
    controller, client, _ = make(namespace("team-a"))
    await controller.reconcile("team-a")
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "serviceaccounts")]


async def test_a_namespace_that_has_its_default_account_is_left_alone() -> None:
    controller, client, _ = make(namespace("team-a"), account("team-a"))
    await controller.reconcile("team-a")
    assert client.verbs() == []


async def test_a_default_account_in_another_namespace_does_not_count() -> None:
    controller, client, _ = make(namespace("team-a"), account("team-b"))
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "serviceaccounts")]


@pytest.mark.parametrize("phase", ["Terminating", None], ids=["terminating", "no phase"])
async def test_a_namespace_that_is_not_active_is_skipped(phase: str | None) -> None:
    controller, client, _ = make(namespace("going", phase))
    await controller.reconcile("going")
    assert client.verbs() == []


async def test_a_namespace_gone_from_the_cache_is_skipped() -> None:
    controller, client, _ = make()
    await controller.reconcile("vanished")
    assert client.actions == []


async def test_an_account_that_already_exists_on_the_server_is_not_an_error() -> None:
    controller, client, _ = make(namespace("team-a"))
    client.fail_next("create", "serviceaccounts", ApiError(409, {"reason": "AlreadyExists"}))
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "serviceaccounts")]


async def test_a_create_refused_for_a_terminating_namespace_is_not_retried() -> None:
    controller, client, _ = make(namespace("team-a"))
    client.fail_next(
        "create",
        "serviceaccounts",
        ApiError(403, {"reason": "Forbidden", "details": {"causes": [{"reason": "NamespaceTerminating"}]}}),
    )
    await controller.process("team-a")
    assert controller.queue.requeues("team-a") == 0


async def test_a_failed_create_is_retried_after_back_off() -> None:
    controller, client, clock = make(namespace("team-a"))
    client.fail_next("create", "serviceaccounts", ApiError(409, {"reason": "Conflict"}))
    await controller.process("team-a")
    assert controller.queue.requeues("team-a") == 1
    assert controller.queue.get_nowait() is None  # waiting out its back-off
    clock.t += 1
    key = controller.queue.get_nowait()
    assert key == "team-a"
    await controller.process(key)
    assert client.verbs() == [("create", "serviceaccounts")] * 2
    assert client.stored("serviceaccounts", "team-a", "default") is not None
    assert controller.queue.requeues("team-a") == 0


# --- handlers -----------------------------------------------------------------------------------------


def test_namespace_events_queue_the_namespace() -> None:
    controller, _, _ = make()
    controller.enqueue(namespace("a"))
    controller.enqueue_update(namespace("b"), namespace("b"))
    assert [controller.queue.get_nowait(), controller.queue.get_nowait()] == ["a", "b"]


def test_a_deleted_account_queues_its_namespace() -> None:
    controller, _, _ = make()
    controller.service_account_deleted(account("team-a", "anything"))
    assert controller.queue.get_nowait() == "team-a"


async def test_a_deleted_default_account_is_created_again() -> None:
    controller, client, _ = make(namespace("team-a"), account("team-a"))
    sa = client.stored("serviceaccounts", "team-a", "default")
    assert sa is not None
    await client.delete("serviceaccounts", "default", namespace="team-a")
    sync_informers(controller.ctx.informers, client)
    controller.service_account_deleted(sa)
    key = controller.queue.get_nowait()
    assert key is not None
    await controller.process(str(key))
    assert client.verbs() == [("delete", "serviceaccounts"), ("create", "serviceaccounts")]


def test_informers_used_are_namespaces_and_serviceaccounts() -> None:
    controller, _, _ = make()
    assert set(controller.ctx.informers.informers) == {"namespaces", "serviceaccounts"}
    assert controller.name == "serviceaccount-controller"
