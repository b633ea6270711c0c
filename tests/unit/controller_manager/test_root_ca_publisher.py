"""root-ca-certificate-publisher-controller: the ConfigMap kube-root-ca.crt in every namespace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers.fake_client import FakeClient, FakeRecorder, informers_from, sync_informers

from controller_manager.controller import ControllerContext, IdleController
from controller_manager.controllers.root_ca_publisher import (
    CONFIG_MAP_NAME,
    DESCRIPTION,
    DESCRIPTION_ANNOTATION,
    RootCACertPublisher,
    new,
    read_root_ca,
    repaired_config_map,
    root_ca_config_map,
)
from controller_manager.options import Options
from kubeclient.errors import ApiError
from pki.certs import cert_pem, issue_ca, new_key

CA_PEM = cert_pem(
    issue_ca("kubernetes", new_key(), datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=365))
).decode()


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def namespace(name: str, phase: str = "Active") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "status": {"phase": phase}}


def config_map(
    ns: str, data: dict[str, str] | None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": CONFIG_MAP_NAME, "namespace": ns}
    if annotations is not None:
        meta["annotations"] = annotations
    cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if data is not None:
        cm["data"] = data
    return cm


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.crt"
    path.write_text(CA_PEM)
    return str(path)


def make(ca_file: str, *objects: dict[str, Any]) -> tuple[RootCACertPublisher, FakeClient, FakeClock]:
    client = FakeClient(objects)
    clock = FakeClock()
    ctx = ControllerContext(
        client,
        informers_from(client, "namespaces", "configmaps"),
        FakeRecorder(),
        Options(root_ca_file=ca_file),
        clock=clock,
    )
    controller = new(ctx)
    assert isinstance(controller, RootCACertPublisher)
    return controller, client, clock


# --- pure functions -----------------------------------------------------------------------------------


def test_the_config_map_carries_the_ca_and_upstreams_description() -> None:
    cm = root_ca_config_map("team-a", CA_PEM)
    assert cm["metadata"] == {
        "name": "kube-root-ca.crt",
        "namespace": "team-a",
        "annotations": {"kubernetes.io/description": DESCRIPTION},
    }
    assert cm["data"] == {"ca.crt": CA_PEM}
    assert DESCRIPTION.startswith("Contains a CA bundle that can be used to verify the kube-apiserver")


@pytest.mark.parametrize(
    ("data", "annotations", "needs_repair"),
    [
        ({"ca.crt": CA_PEM}, {DESCRIPTION_ANNOTATION: DESCRIPTION}, False),
        ({"ca.crt": CA_PEM}, {DESCRIPTION_ANNOTATION: "someone's own words"}, False),
        ({"ca.crt": "tampered"}, {DESCRIPTION_ANNOTATION: DESCRIPTION}, True),
        ({"ca.crt": CA_PEM, "extra": "x"}, {DESCRIPTION_ANNOTATION: DESCRIPTION}, True),
        (None, {DESCRIPTION_ANNOTATION: DESCRIPTION}, True),
        ({"ca.crt": CA_PEM}, None, True),
        ({"ca.crt": CA_PEM}, {DESCRIPTION_ANNOTATION: ""}, True),
    ],
    ids=[
        "as published",
        "any non-empty description is kept",
        "changed CA",
        "an extra key",
        "data removed",
        "no annotations",
        "empty description",
    ],
)
def test_a_config_map_is_repaired_only_when_data_or_description_drifted(
    data: dict[str, str] | None, annotations: dict[str, str] | None, needs_repair: bool
) -> None:
    current = config_map("a", data, annotations)
    repaired = repaired_config_map(current, CA_PEM)
    assert (repaired is not None) is needs_repair
    if repaired is not None:
        assert repaired["data"] == {"ca.crt": CA_PEM}
        assert repaired["metadata"]["annotations"][DESCRIPTION_ANNOTATION] == DESCRIPTION
        assert current["metadata"].get("annotations") == annotations  # the cached object is untouched


def test_a_repair_keeps_other_annotations() -> None:
    current = config_map("a", {"ca.crt": "old"}, {"team": "x"})
    repaired = repaired_config_map(current, CA_PEM)
    assert repaired is not None
    assert repaired["metadata"]["annotations"] == {"team": "x", DESCRIPTION_ANNOTATION: DESCRIPTION}


def test_the_root_ca_file_must_hold_certificates(tmp_path: Path, ca_file: str) -> None:
    assert read_root_ca(ca_file) == CA_PEM
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate")
    with pytest.raises(ValueError, match="error parsing root-ca-file"):
        read_root_ca(str(garbage))
    with pytest.raises(FileNotFoundError):
        read_root_ca(str(tmp_path / "absent.crt"))


# --- reconcile ----------------------------------------------------------------------------------------


async def test_a_namespace_gets_the_root_ca_config_map(ca_file: str) -> None:
    controller, client, _ = make(ca_file, namespace("team-a"))
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "configmaps")]
    stored = client.stored("configmaps", "team-a", CONFIG_MAP_NAME)
    assert stored is not None and stored["data"] == {"ca.crt": CA_PEM}
    assert stored["metadata"]["annotations"] == {DESCRIPTION_ANNOTATION: DESCRIPTION}


async def test_reconcile_twice_publishes_once(ca_file: str) -> None:
    controller, client, _ = make(ca_file, namespace("team-a"))
    await controller.reconcile("team-a")
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("team-a")
    assert client.verbs() == [("create", "configmaps")]


async def test_changed_data_is_restored_with_an_update(ca_file: str) -> None:
    controller, client, _ = make(
        ca_file, namespace("team-a"), config_map("team-a", {"ca.crt": "evil"}, {"owner": "me"})
    )
    await controller.reconcile("team-a")
    assert client.verbs() == [("update", "configmaps")]
    stored = client.stored("configmaps", "team-a", CONFIG_MAP_NAME)
    assert stored is not None and stored["data"] == {"ca.crt": CA_PEM}
    assert stored["metadata"]["annotations"] == {"owner": "me", DESCRIPTION_ANNOTATION: DESCRIPTION}
    sync_informers(controller.ctx.informers, client)
    await controller.reconcile("team-a")
    assert client.verbs() == [("update", "configmaps")]


async def test_a_config_map_as_published_is_left_alone(ca_file: str) -> None:
    controller, client, _ = make(ca_file, namespace("team-a"), root_ca_config_map("team-a", CA_PEM))
    await controller.reconcile("team-a")
    assert client.verbs() == []


async def test_a_terminating_namespace_gets_nothing(ca_file: str) -> None:
    controller, client, _ = make(ca_file, namespace("going", "Terminating"))
    await controller.reconcile("going")
    assert client.verbs() == []


@pytest.mark.parametrize(
    "error",
    [
        ApiError(404, {"reason": "NotFound"}),
        ApiError(403, {"reason": "Forbidden", "details": {"causes": [{"reason": "NamespaceTerminating"}]}}),
    ],
    ids=["namespace gone", "namespace terminating"],
)
async def test_a_create_refused_because_the_namespace_is_going_is_not_retried(
    ca_file: str, error: ApiError
) -> None:
    controller, client, _ = make(ca_file, namespace("team-a"))
    client.fail_next("create", "configmaps", error)
    await controller.process("team-a")
    assert controller.queue.requeues("team-a") == 0


async def test_a_conflicting_update_is_retried_after_back_off(ca_file: str) -> None:
    controller, client, clock = make(
        ca_file, namespace("team-a"), config_map("team-a", {"ca.crt": "old"}, {})
    )
    client.fail_next("update", "configmaps", ApiError(409, {"reason": "Conflict"}))
    await controller.process("team-a")
    assert controller.queue.requeues("team-a") == 1
    clock.t += 1
    key = controller.queue.get_nowait()
    assert key == "team-a"
    await controller.process(key)
    assert client.verbs() == [("update", "configmaps")] * 2
    stored = client.stored("configmaps", "team-a", CONFIG_MAP_NAME)
    assert stored is not None and stored["data"] == {"ca.crt": CA_PEM}


# --- handlers -----------------------------------------------------------------------------------------


def test_only_events_about_kube_root_ca_crt_queue_the_namespace(ca_file: str) -> None:
    controller, _, _ = make(ca_file)
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "a"}}
    controller.config_map_changed(other)
    controller.config_map_updated(other, other)
    assert controller.queue.get_nowait() is None
    controller.config_map_changed(config_map("a", None))
    controller.config_map_updated(config_map("b", None), config_map("b", None))
    assert [controller.queue.get_nowait(), controller.queue.get_nowait()] == ["a", "b"]


def test_a_namespace_update_queues_it_only_when_active(ca_file: str) -> None:
    controller, _, _ = make(ca_file)
    controller.namespace_updated(namespace("a"), namespace("a", "Terminating"))
    assert controller.queue.get_nowait() is None
    controller.namespace_updated(namespace("a"), namespace("a"))
    assert controller.queue.get_nowait() == "a"


async def test_a_deleted_config_map_is_published_again(ca_file: str) -> None:
    controller, client, _ = make(ca_file, namespace("team-a"), root_ca_config_map("team-a", CA_PEM))
    gone = client.stored("configmaps", "team-a", CONFIG_MAP_NAME)
    assert gone is not None
    await client.delete("configmaps", CONFIG_MAP_NAME, namespace="team-a")
    sync_informers(controller.ctx.informers, client)
    controller.config_map_changed(gone)
    key = controller.queue.get_nowait()
    assert key is not None
    await controller.process(str(key))
    assert client.verbs() == [("delete", "configmaps"), ("create", "configmaps")]


# --- without --root-ca-file -----------------------------------------------------------------------------


async def test_without_a_root_ca_file_the_controller_idles_and_watches_nothing() -> None:
    client = FakeClient([namespace("team-a")])
    ctx = ControllerContext(client, informers_from(client), FakeRecorder(), Options(root_ca_file=""))
    controller = new(ctx)
    assert isinstance(controller, IdleController)
    assert controller.name == "root-ca-certificate-publisher-controller"
    assert ctx.informers.informers == {}
    task = asyncio.create_task(controller.run())
    await asyncio.sleep(0)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.actions == []
