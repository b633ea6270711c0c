"""ProbeManager with a fake clock and a fake CRI runtime: workers start per probe, tick every period,
publish through thresholds, gate on startup, trigger on_change, record events and metrics, and stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from kubelet.cri.client import CRIError
from kubelet.prober import ProbeManager, RunningContainer

T0 = 1_000_000.0


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.t = now
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.t + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in deadline order and letting the workers run."""
        target = self.t + seconds
        await settle()
        while True:
            due = sorted(d for d, f in self.sleepers if not f.done() and d <= target)
            if not due:
                break
            self.t = max(self.t, due[0])
            for deadline, future in self.sleepers:
                if deadline <= self.t and not future.done():
                    future.set_result(None)
            self.sleepers = [(d, f) for d, f in self.sleepers if not f.done()]
            await settle()
        self.t = target
        await settle()


@dataclass
class Reply:
    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


@dataclass
class ScriptedRuntime:
    """exec_sync answers from a per-command script: exit code to return, or an exception."""

    exit_codes: dict[str, int | Exception] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> Reply:  # noqa: ASYNC109
        key = " ".join(cmd)
        self.calls.append((container_id, key))
        answer = self.exit_codes.get(key, 0)
        if isinstance(answer, Exception):
            raise answer
        return Reply(stdout=f"{key} said {answer}".encode(), exit_code=answer)


def exec_probe(command: str, **settings: Any) -> dict[str, Any]:
    return {"exec": {"command": command.split()}, **settings}


def make_pod(uid: str = "u1", **probes: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "app", **probes}], "restartPolicy": "Always"},
        "status": {"phase": "Running"},
    }


@dataclass
class Harness:
    clock: FakeClock
    runtime: ScriptedRuntime
    manager: ProbeManager
    changes: list[str]
    events: list[tuple[str, str, str]]


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    clock = FakeClock()
    runtime = ScriptedRuntime()
    changes: list[str] = []
    events: list[tuple[str, str, str]] = []
    manager = ProbeManager(
        runtime,
        clock=clock,
        recorder=lambda pod, kind, reason, message: events.append((kind, reason, message)),
        on_change=changes.append,
        jitter=lambda: 0.0,
    )
    clock.t += 3600  # the kubelet has been up for a while: no start-up jitter
    try:
        yield Harness(clock, runtime, manager, changes, events)
    finally:
        await manager.close()
        assert manager.worker_count() == 0


async def test_readiness_flips_after_thresholds_and_calls_on_change(harness: Harness) -> None:
    h = harness
    pod = make_pod(
        readinessProbe=exec_probe("check", periodSeconds=5, successThreshold=2, failureThreshold=2)
    )
    container = RunningContainer("c1", h.clock.now())
    h.manager.sync_pod(pod, {"app": container}, "10.0.0.2")
    await settle()
    assert h.manager.readiness("u1", "app") is False, "Unknown counts as not ready"
    assert h.runtime.calls == [("c1", "check")], "the first probe runs right away"
    await h.clock.advance(5)
    assert h.manager.readiness("u1", "app") is True
    assert h.changes == ["u1"]
    h.runtime.exit_codes["check"] = 1
    await h.clock.advance(5)
    assert h.manager.readiness("u1", "app") is True, "one failure of two"
    await h.clock.advance(5)
    assert h.manager.readiness("u1", "app") is False
    assert h.changes == ["u1", "u1"]
    assert h.events[-1] == ("Warning", "Unhealthy", "Readiness probe failed: check said 1")
    assert len(h.runtime.calls) == 4


async def test_no_probes_means_ready_and_started_while_running(harness: Harness) -> None:
    h = harness
    h.manager.sync_pod(make_pod(), {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    assert (h.manager.started("u1", "app"), h.manager.readiness("u1", "app")) == (True, True)
    assert h.manager.worker_count() == 0
    h.manager.sync_pod(make_pod(), {"app": RunningContainer("c1", 0, running=False, exited=True)}, "")
    assert (h.manager.started("u1", "app"), h.manager.readiness("u1", "app")) == (False, False)


async def test_liveness_failure_is_reported_until_the_container_is_replaced(harness: Harness) -> None:
    h = harness
    h.runtime.exit_codes["alive"] = 1
    pod = make_pod(livenessProbe=exec_probe("alive", periodSeconds=10, failureThreshold=3))
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await settle()
    await h.clock.advance(10)
    assert h.manager.liveness_failed("u1", "app") is None, "two failures of three"
    await h.clock.advance(10)
    assert h.manager.liveness_failed("u1", "app") == "Container app failed liveness probe"
    assert h.changes == ["u1"]
    assert h.events.count(("Warning", "Unhealthy", "Liveness probe failed: alive said 1")) == 3
    await h.clock.advance(30)
    assert len(h.runtime.calls) == 3, "on hold: no probes of a container about to be killed"

    h.runtime.exit_codes["alive"] = 0
    h.manager.sync_pod(pod, {"app": RunningContainer("c2", h.clock.now())}, "10.0.0.2")
    assert h.manager.liveness_failed("u1", "app") is None, "the failure belonged to c1"
    await h.clock.advance(10)
    assert h.runtime.calls[-1] == ("c2", "alive")
    assert h.manager.liveness_failed("u1", "app") is None


async def test_startup_probe_gates_readiness_and_liveness(harness: Harness) -> None:
    h = harness
    h.runtime.exit_codes["started"] = 1
    pod = make_pod(
        startupProbe=exec_probe("started", periodSeconds=1, failureThreshold=30),
        readinessProbe=exec_probe("ready", periodSeconds=1),
        livenessProbe=exec_probe("alive", periodSeconds=1),
    )
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await h.clock.advance(3)
    assert h.manager.started("u1", "app") is False
    assert {cmd for _, cmd in h.runtime.calls} == {"started"}, "nothing else runs before startup succeeds"
    h.runtime.exit_codes["started"] = 0
    await h.clock.advance(1)
    assert h.manager.started("u1", "app") is True
    await h.clock.advance(1)
    assert h.manager.readiness("u1", "app") is True
    assert {cmd for _, cmd in h.runtime.calls} == {"started", "ready", "alive"}
    calls = len([c for c in h.runtime.calls if c[1] == "started"])
    await h.clock.advance(3)
    assert len([c for c in h.runtime.calls if c[1] == "started"]) == calls, "startup stops once started"


async def test_startup_failure_asks_for_a_restart(harness: Harness) -> None:
    h = harness
    h.runtime.exit_codes["started"] = 1
    pod = make_pod(startupProbe=exec_probe("started", periodSeconds=1, failureThreshold=2))
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await h.clock.advance(1)
    assert h.manager.liveness_failed("u1", "app") == "Container app failed startup probe"


async def test_initial_delay_and_exec_timeout_event(harness: Harness) -> None:
    h = harness
    h.runtime.exit_codes["slow"] = CRIError(
        "ExecSync", grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded"
    )
    pod = make_pod(
        livenessProbe=exec_probe("slow", periodSeconds=2, initialDelaySeconds=5, failureThreshold=1)
    )
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await h.clock.advance(4)
    assert h.runtime.calls == [], "initialDelaySeconds not over"
    await h.clock.advance(2)
    assert h.runtime.calls == [("c1", "slow")]
    assert h.events == [("Warning", "Unhealthy", 'Liveness probe failed: command "slow" timed out')]
    assert h.manager.liveness_failed("u1", "app") == "Container app failed liveness probe"


async def test_sync_triggers_readiness_and_remove_pod_stops_workers(harness: Harness) -> None:
    h = harness
    h.runtime.exit_codes["ready"] = 1
    pod = make_pod(readinessProbe=exec_probe("ready", periodSeconds=60))
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await settle()
    assert len(h.runtime.calls) == 1
    h.runtime.exit_codes["ready"] = 0
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await settle()
    assert len(h.runtime.calls) == 2, "a sync of a not-ready container runs its readiness probe now"
    assert h.manager.readiness("u1", "app") is True
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await settle()
    assert len(h.runtime.calls) == 2, "ready: no extra run"
    h.manager.remove_pod("u1")
    await settle()
    assert h.manager.worker_count() == 0
    assert h.manager.readiness("u1", "app") is False


async def test_terminal_pod_ends_workers_for_good(harness: Harness) -> None:
    h = harness
    pod = make_pod(readinessProbe=exec_probe("ready", periodSeconds=1))
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await settle()
    done = {**pod, "status": {"phase": "Succeeded"}}
    h.manager.sync_pod(done, {"app": RunningContainer("c1", 0, running=False, exited=True)}, "")
    await h.clock.advance(1)
    assert h.manager.worker_count() == 0
    h.manager.sync_pod(done, {}, "")
    assert h.manager.worker_count() == 0, "a worker that ended is not started again"


async def test_probe_metric_counts_results(harness: Harness) -> None:
    h = harness
    pod = make_pod(uid="metric-uid", readinessProbe=exec_probe("ready", periodSeconds=1))
    h.manager.sync_pod(pod, {"app": RunningContainer("c1", h.clock.now())}, "10.0.0.2")
    await h.clock.advance(2)
    labels = {"probe_type": "Readiness", "result": "successful", "container": "app", "pod": "web",
              "namespace": "default", "pod_uid": "metric-uid"}  # fmt: skip
    assert REGISTRY.get_sample_value("prober_probe_total", labels) == 3.0


async def test_kubelet_start_spreads_first_probes(harness: Harness) -> None:
    h = harness
    clock = FakeClock()
    manager = ProbeManager(h.runtime, clock=clock, jitter=lambda: 0.5)
    try:
        manager.sync_pod(make_pod(readinessProbe=exec_probe("ready", periodSeconds=10)),
                         {"app": RunningContainer("c1", clock.now())}, "10.0.0.2")  # fmt: skip
        await clock.advance(4)
        assert h.runtime.calls == []
        await clock.advance(1)
        assert h.runtime.calls == [("c1", "ready")]
    finally:
        await manager.close()
