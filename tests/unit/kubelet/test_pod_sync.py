"""One pod's sync, end to end inside the kubelet but on a fake CRI and a fake clock: the PLEG reads the
runtime, compute_pod_actions decides, the RuntimeManager acts, in the order upstream's SyncPod acts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers.fake_cri import FakeRuntime

from kubelet.actions import compute_pod_actions
from kubelet.backoff import Backoff
from kubelet.cri_config import NodeContext
from kubelet.images import ImageManager
from kubelet.pleg import PLEG
from kubelet.pod_status import StatusInputs, generate_pod_status
from kubelet.runtime_manager import Prepared, RuntimeManager, SyncResult


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self) -> None:
        self.clock = Clock()
        self.runtime = FakeRuntime(self.clock)
        self.events: list[tuple[str, str]] = []
        images = ImageManager(self.runtime, self.record, self.clock)  # type: ignore[arg-type]
        node = NodeContext(pod_logs_dir=Path("/var/log/pods"))
        self.manager = RuntimeManager(self.runtime, images, node, self.record, self.prepare, clock=self.clock)  # type: ignore[arg-type]
        self.pleg = PLEG(self.runtime)  # type: ignore[arg-type]
        self.backoff = Backoff(10.0, 300.0, self.clock)

    def record(self, pod: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((reason, message))

    async def prepare(self, pod: Any, container: Any, pod_ip: str) -> Prepared:
        return [("POD_IP", pod_ip)], []

    async def sync(self, pod: dict[str, Any], unhealthy: dict[str, str] | None = None) -> SyncResult:
        record = await self.pleg.refresh(pod["metadata"]["uid"])
        actions = compute_pod_actions(pod, record, backoff=self.backoff, unhealthy=unhealthy)
        return await self.manager.sync_pod(pod, record, actions, "/kubepods/besteffort/podu1")

    async def status(self, pod: dict[str, Any], waiting: Any = None) -> dict[str, Any]:
        record = await self.pleg.refresh(pod["metadata"]["uid"])
        return generate_pod_status(pod, record, StatusInputs(now=self.clock(), waiting=waiting or {}))


def make_pod(*names: str, init: tuple[str, ...] = (), grace: int = 30, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "initContainers": [
                {"name": n, "image": "busybox", "imagePullPolicy": "IfNotPresent"} for n in init
            ],
            "containers": [
                {"name": n, "image": "busybox", "imagePullPolicy": "IfNotPresent", **container} for n in names
            ],
        },
    }


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_a_new_pod_gets_its_sandbox_then_its_containers_with_their_events(harness: Harness) -> None:
    pod = make_pod("a", "b")
    result = await harness.sync(pod)
    assert result.started == ["a", "b"]
    assert [name for name, _ in harness.runtime.calls if name != "ExecSync"] == [
        "RunPodSandbox", "CreateContainer", "StartContainer", "CreateContainer", "StartContainer",
    ]  # fmt: skip
    sandbox = next(iter(harness.runtime.sandboxes.values()))
    assert sandbox.config.linux.cgroup_parent == "/kubepods/besteffort/podu1"
    created = next(iter(harness.runtime.containers.values()))
    assert {e.key: e.value for e in created.config.envs} == {"POD_IP": sandbox.ip}
    assert [reason for reason, _ in harness.events] == ["Pulled", "Created", "Started"] * 2
    status = await harness.status(pod)
    assert status["phase"] == "Running" and status["podIP"] == sandbox.ip
    assert (await harness.sync(pod)).started == []  # level-triggered: a second sync changes nothing


async def test_init_containers_start_one_at_a_time_before_the_app(harness: Harness) -> None:
    pod = make_pod("app", init=("first", "second"))
    assert (await harness.sync(pod)).started == ["first"]
    assert (await harness.sync(pod)).started == []  # first is still running
    harness.runtime.exit(harness.runtime.running("first")[0].id, 0)
    assert (await harness.sync(pod)).started == ["second"]
    harness.runtime.exit(harness.runtime.running("second")[0].id, 0)
    assert (await harness.sync(pod)).started == ["app"]


async def test_a_crashing_container_restarts_then_waits_out_its_back_off(harness: Harness) -> None:
    pod = make_pod("a")
    await harness.sync(pod)
    harness.runtime.exit(harness.runtime.running("a")[0].id, 1)
    assert (await harness.sync(pod)).started == ["a"]  # the first restart is immediate
    assert harness.runtime.calls_of("CreateContainer")[-1] == ("a", 1)  # a new attempt
    harness.runtime.exit(harness.runtime.running("a")[0].id, 1)
    result = await harness.sync(pod)
    assert result.started == [] and result.waiting["a"].reason == "CrashLoopBackOff"
    status = await harness.status(pod, result.waiting)
    container = status["containerStatuses"][0]
    assert container["restartCount"] == 1 and container["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert container["lastState"]["terminated"]["exitCode"] == 1
    harness.clock.now += 9
    assert (await harness.sync(pod)).started == []
    harness.clock.now += 1
    assert (await harness.sync(pod)).started == ["a"]
    assert harness.runtime.calls_of("CreateContainer")[-1] == ("a", 2)


async def test_killing_runs_pre_stop_then_stops_with_the_grace_period(harness: Harness) -> None:
    pod = make_pod("a", grace=20, lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "drain"]}}})
    await harness.sync(pod)
    container_id = harness.runtime.running("a")[0].id
    record = await harness.pleg.refresh("u1")
    await harness.manager.kill_pod(pod, record, 20)
    assert harness.runtime.calls_of("ExecSync") == [(container_id, ("sh", "-c", "drain"), 20)]
    assert harness.runtime.calls_of("StopContainer") == [(container_id, 20)]
    assert harness.runtime.calls_of("StopPodSandbox")
    assert ("Killing", "Stopping container a") in harness.events


async def test_a_liveness_failure_replaces_the_container(harness: Harness) -> None:
    pod = make_pod("a")
    await harness.sync(pod)
    container_id = harness.runtime.running("a")[0].id
    result = await harness.sync(pod, unhealthy={container_id: "Container a failed liveness probe"})
    assert result.started == ["a"]
    assert harness.runtime.calls_of("StopContainer") == [(container_id, 30)]
    assert ("Killing", "Container a failed liveness probe, will be restarted") in harness.events


async def test_a_missing_image_waits_with_err_image_pull_then_back_off(harness: Harness) -> None:
    pod = make_pod("a")
    pod["spec"]["containers"][0]["image"] = "example.com/missing:1"
    first = await harness.sync(pod)
    assert first.waiting["a"].reason == "ErrImagePull"
    assert (await harness.sync(pod)).waiting["a"].reason == "ImagePullBackOff"
    assert harness.runtime.calls_of("PullImage") == ["example.com/missing:1"]
    harness.clock.now += 10
    assert (await harness.sync(pod)).waiting["a"].reason == "ErrImagePull"  # tried again after 10 s


async def test_a_restarted_kubelet_adopts_what_runs(harness: Harness) -> None:
    pod = make_pod("a")
    await harness.sync(pod)
    calls = len(harness.runtime.calls)
    harness.pleg = PLEG(harness.runtime)  # type: ignore[arg-type]  # a new kubelet process: nothing in memory
    harness.backoff = Backoff(10.0, 300.0, harness.clock)
    assert (await harness.sync(pod)).started == []
    assert len(harness.runtime.calls) == calls
