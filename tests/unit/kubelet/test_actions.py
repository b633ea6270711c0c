"""compute_pod_actions: what one sync of a pod does, table by table, with a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.actions import backoff_key, compute_pod_actions, should_restart
from kubelet.backoff import Backoff
from kubelet.pods import container_hash
from kubelet.runtime_state import ContainerRecord, ContainerState, PodRecord, SandboxRecord


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_pod(
    containers: list[str] = ("app",), init: list[str] = (), policy: str = "Always"
) -> dict[str, Any]:  # type: ignore[assignment]
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": policy,
            "containers": [{"name": name, "image": "busybox"} for name in containers],
            "initContainers": [{"name": name, "image": "busybox"} for name in init],
        },
    }


def spec_of(pod: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod["spec"]["containers"] + pod["spec"]["initContainers"] if c["name"] == name)


def running(pod: dict[str, Any], name: str, attempt: int = 0, cid: str = "") -> ContainerRecord:
    return ContainerRecord(
        cid or f"{name}-{attempt}", name, attempt, ContainerState.RUNNING, created_at=attempt + 1,
        hash=container_hash(spec_of(pod, name)), sandbox_id="s1",
    )  # fmt: skip


def exited(
    pod: dict[str, Any], name: str, code: int, attempt: int = 0, finished: float = 990.0
) -> ContainerRecord:
    return ContainerRecord(
        f"{name}-{attempt}", name, attempt, ContainerState.EXITED, created_at=attempt + 1, exit_code=code,
        finished_at=finished, hash=container_hash(spec_of(pod, name)), sandbox_id="s1",
    )  # fmt: skip


def record(*containers: ContainerRecord, sandboxes: tuple[SandboxRecord, ...] | None = None) -> PodRecord:
    ready = (SandboxRecord("s1", 0, True, 1.0, "10.244.1.5"),) if sandboxes is None else sandboxes
    return PodRecord("u1", "default", "web", list(ready), list(containers)).sort()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backoff(clock: Clock) -> Backoff:
    return Backoff(10.0, 300.0, clock)


def test_a_new_pod_gets_a_sandbox_and_all_its_containers(backoff: Backoff) -> None:
    pod = make_pod(["a", "b"])
    actions = compute_pod_actions(pod, PodRecord("u1"), backoff=backoff)
    assert actions.create_sandbox and actions.attempt == 0 and not actions.kill_pod
    assert actions.containers_to_start == ["a", "b"]


def test_a_new_pod_with_init_containers_starts_only_the_first_init_container(backoff: Backoff) -> None:
    actions = compute_pod_actions(make_pod(["app"], init=["i1", "i2"]), PodRecord("u1"), backoff=backoff)
    assert (
        actions.create_sandbox and actions.next_init_container == "i1" and actions.containers_to_start == []
    )


def test_init_containers_run_in_order_then_the_app(backoff: Backoff) -> None:
    pod = make_pod(["app"], init=["i1", "i2"])
    assert compute_pod_actions(pod, record(running(pod, "i1")), backoff=backoff).nothing
    after_first = compute_pod_actions(pod, record(exited(pod, "i1", 0)), backoff=backoff)
    assert after_first.next_init_container == "i2" and not after_first.create_sandbox
    after_both = compute_pod_actions(pod, record(exited(pod, "i1", 0), exited(pod, "i2", 0)), backoff=backoff)
    assert after_both.next_init_container is None and after_both.containers_to_start == ["app"]


def test_a_failed_init_container_with_restart_never_fails_the_pod(backoff: Backoff) -> None:
    pod = make_pod(["app"], init=["i1"], policy="Never")
    actions = compute_pod_actions(pod, record(exited(pod, "i1", 1)), backoff=backoff)
    assert actions.init_failed and actions.kill_pod and not actions.containers_to_start


def test_a_failed_init_container_is_retried_with_back_off(backoff: Backoff, clock: Clock) -> None:
    pod = make_pod(["app"], init=["i1"])
    first = compute_pod_actions(pod, record(exited(pod, "i1", 1, finished=clock.now)), backoff=backoff)
    assert first.next_init_container == "i1"
    again = compute_pod_actions(
        pod, record(exited(pod, "i1", 1, attempt=1, finished=clock.now)), backoff=backoff
    )
    assert again.next_init_container is None and again.waiting["i1"].reason == "CrashLoopBackOff"


def test_a_running_pod_needs_nothing(backoff: Backoff) -> None:
    pod = make_pod(["a"])
    assert compute_pod_actions(pod, record(running(pod, "a")), backoff=backoff).nothing


@pytest.mark.parametrize(
    ("policy", "code", "restarts"),
    [
        ("Always", 0, True), ("Always", 1, True),
        ("OnFailure", 0, False), ("OnFailure", 1, True),
        ("Never", 0, False), ("Never", 1, False),
    ],
)  # fmt: skip
def test_an_exited_container_restarts_by_the_pods_policy(policy: str, code: int, restarts: bool) -> None:
    pod = make_pod(["a"], policy=policy)
    assert should_restart(exited(pod, "a", code), policy) is restarts


def test_crash_loop_back_off_doubles_from_ten_seconds(backoff: Backoff, clock: Clock) -> None:
    pod = make_pod(["a"])
    delays = []
    for attempt in range(7):
        crashed = record(exited(pod, "a", 1, attempt=attempt, finished=clock.now))
        actions = compute_pod_actions(pod, crashed, backoff=backoff)
        if attempt == 0:
            assert actions.containers_to_start == ["a"]  # the first restart is immediate
            continue
        assert actions.waiting["a"].reason == "CrashLoopBackOff"
        waited = 0.0
        while actions.waiting:
            clock.now += 1
            waited += 1
            actions = compute_pod_actions(pod, crashed, backoff=backoff)
        delays.append(waited)
        assert actions.containers_to_start == ["a"]
    assert delays == [10, 20, 40, 80, 160, 300]


def test_the_back_off_message_names_container_and_pod(backoff: Backoff, clock: Clock) -> None:
    pod = make_pod(["a"])
    compute_pod_actions(pod, record(exited(pod, "a", 1, finished=clock.now)), backoff=backoff)
    actions = compute_pod_actions(
        pod, record(exited(pod, "a", 1, attempt=1, finished=clock.now)), backoff=backoff
    )
    assert actions.waiting["a"].message == "back-off 10s restarting failed container=a pod=web_default(u1)"


def test_the_back_off_is_forgotten_after_twice_the_maximum_without_crashes(
    backoff: Backoff, clock: Clock
) -> None:
    pod = make_pod(["a"])
    key = backoff_key(pod, spec_of(pod, "a"))
    backoff.next(key, clock.now)
    backoff.next(key, clock.now)
    assert backoff.delay(key) == 20
    clock.now += 700
    assert not backoff.in_backoff_since(key, clock.now - 1)
    backoff.next(key, clock.now)
    assert backoff.delay(key) == 10


def test_a_failed_liveness_probe_kills_and_restarts_the_container(backoff: Backoff) -> None:
    pod = make_pod(["a"])
    actions = compute_pod_actions(
        pod,
        record(running(pod, "a", cid="c1")),
        backoff=backoff,
        unhealthy={"c1": "Container a failed liveness probe"},
    )
    assert actions.containers_to_kill == {"c1": "Container a failed liveness probe, will be restarted"}
    assert actions.containers_to_start == ["a"] and not actions.kill_pod


def test_a_failed_liveness_probe_with_restart_never_only_kills(backoff: Backoff) -> None:
    pod = make_pod(["a", "b"], policy="Never")
    actions = compute_pod_actions(
        pod, record(running(pod, "a", cid="c1"), running(pod, "b")), backoff=backoff, unhealthy={"c1": "bad"}
    )
    assert actions.containers_to_kill == {"c1": "bad"} and actions.containers_to_start == []


def test_a_changed_container_spec_replaces_the_container(backoff: Backoff) -> None:
    pod = make_pod(["a"])
    old = running(pod, "a", cid="c1")
    pod["spec"]["containers"][0]["command"] = ["sleep", "1"]
    actions = compute_pod_actions(pod, record(old), backoff=backoff)
    assert actions.containers_to_kill == {"c1": "Container a definition changed, will be restarted"}
    assert actions.containers_to_start == ["a"]


def test_a_dead_sandbox_is_replaced_and_every_container_restarted(backoff: Backoff) -> None:
    pod = make_pod(["a", "b"])
    dead = (SandboxRecord("s1", 0, False, 1.0),)
    actions = compute_pod_actions(pod, record(exited(pod, "a", 137), sandboxes=dead), backoff=backoff)
    assert actions.kill_pod and actions.create_sandbox and actions.attempt == 1
    assert actions.containers_to_start == ["a", "b"]


def test_a_finished_restart_never_pod_gets_no_new_sandbox(backoff: Backoff) -> None:
    pod = make_pod(["a"], policy="Never")
    dead = (SandboxRecord("s1", 0, False, 1.0),)
    actions = compute_pod_actions(pod, record(exited(pod, "a", 0), sandboxes=dead), backoff=backoff)
    assert not actions.create_sandbox


def test_when_every_container_has_finished_for_good_the_sandbox_is_released(backoff: Backoff) -> None:
    pod = make_pod(["a", "b"], policy="OnFailure")
    actions = compute_pod_actions(pod, record(exited(pod, "a", 0), exited(pod, "b", 0)), backoff=backoff)
    assert actions.kill_pod and not actions.create_sandbox and not actions.containers_to_start


def test_two_ready_sandboxes_are_replaced_by_one(backoff: Backoff) -> None:
    pod = make_pod(["a"])
    two = (SandboxRecord("s1", 0, True, 1.0), SandboxRecord("s2", 1, True, 2.0))
    actions = compute_pod_actions(pod, record(running(pod, "a"), sandboxes=two), backoff=backoff)
    assert actions.kill_pod and actions.create_sandbox and actions.attempt == 2
