"""generate_pod_status: the API status upstream's kubelet would write for what CRI holds."""

from __future__ import annotations

from typing import Any

from kubelet.actions import Waiting
from kubelet.pod_status import StatusInputs, generate_pod_status, pod_phase, status_equal, timestamp
from kubelet.runtime_state import ContainerRecord, ContainerState, PodRecord, SandboxRecord

NOW = 1_700_000_000.0


def make_pod(
    containers: tuple[str, ...] = ("app",), init: tuple[str, ...] = (), policy: str = "Always"
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": policy,
            "containers": [{"name": n, "image": "busybox"} for n in containers],
            "initContainers": [{"name": n, "image": "busybox"} for n in init],
        },
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]},
    }


def c(name: str, state: ContainerState, attempt: int = 0, code: int = 0, reason: str = "") -> ContainerRecord:
    return ContainerRecord(
        f"{name}{attempt}", name, attempt, state,
        created_at=NOW - 100 + attempt, started_at=NOW - 90 + attempt,
        finished_at=NOW - 50 + attempt if state == ContainerState.EXITED else 0,
        exit_code=code, reason=reason,
        image="docker.io/library/busybox:latest", image_ref="sha256:abc",
    )  # fmt: skip


def rec(*containers: ContainerRecord, ready: bool = True) -> PodRecord:
    return PodRecord(
        "u1", "default", "web", [SandboxRecord("s", 0, ready, 1, "10.244.1.7")], list(containers)
    ).sort()


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_a_pod_without_containers_yet_is_pending_with_container_creating() -> None:
    status = generate_pod_status(make_pod(), PodRecord("u1"), StatusInputs(now=NOW, host_ip="10.0.0.1"))
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert conditions(status) == {
        "PodReadyToStartContainers": "False", "Initialized": "True", "ContainersReady": "False",
        "Ready": "False", "PodScheduled": "True",
    }  # fmt: skip
    assert status["hostIP"] == "10.0.0.1" and "podIP" not in status
    assert status["qosClass"] == "BestEffort" and status["startTime"] == timestamp(NOW)


def test_a_running_pod_is_ready_with_its_ip_and_container_ids() -> None:
    status = generate_pod_status(make_pod(), rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW))
    container = status["containerStatuses"][0]
    assert status["phase"] == "Running" and status["podIP"] == "10.244.1.7"
    assert status["podIPs"] == [{"ip": "10.244.1.7"}]
    assert container["ready"] and container["started"] and container["containerID"] == "containerd://app0"
    assert container["state"] == {"running": {"startedAt": timestamp(NOW - 90)}}
    assert container["image"] == "docker.io/library/busybox:latest" and container["imageID"] == "sha256:abc"
    assert conditions(status)["Ready"] == "True"


def test_a_readiness_failure_keeps_the_pod_not_ready_with_upstreams_message() -> None:
    inputs = StatusInputs(now=NOW, ready=lambda name, record: False)
    status = generate_pod_status(make_pod(), rec(c("app", ContainerState.RUNNING)), inputs)
    ready = next(cond for cond in status["conditions"] if cond["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [app]"


def test_a_crash_looping_container_shows_back_off_restart_count_and_last_state() -> None:
    record = rec(c("app", ContainerState.EXITED, attempt=3, code=2))
    inputs = StatusInputs(now=NOW, waiting={"app": Waiting("CrashLoopBackOff", "back-off 40s ...")})
    status = generate_pod_status(make_pod(), record, inputs)
    container = status["containerStatuses"][0]
    assert container["restartCount"] == 3
    assert container["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s ..."}}
    assert container["lastState"]["terminated"]["exitCode"] == 2
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert status["phase"] == "Running"


def test_a_restarted_container_reports_the_previous_attempts_end_as_last_state() -> None:
    record = rec(
        c("app", ContainerState.EXITED, attempt=0, code=137, reason="OOMKilled"),
        c("app", ContainerState.RUNNING, 1),
    )
    container = generate_pod_status(make_pod(), record, StatusInputs(now=NOW))["containerStatuses"][0]
    assert container["restartCount"] == 1 and "running" in container["state"]
    assert container["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_phases_for_finished_containers_by_restart_policy() -> None:
    def phase(policy: str, *codes: int) -> str:
        names = tuple(f"c{i}" for i in range(len(codes)))
        record = rec(*(c(n, ContainerState.EXITED, code=code) for n, code in zip(names, codes, strict=True)))
        return generate_pod_status(make_pod(names, policy=policy), record, StatusInputs(now=NOW))["phase"]

    assert phase("Never", 0, 0) == "Succeeded"
    assert phase("Never", 0, 1) == "Failed"
    assert phase("OnFailure", 0, 0) == "Succeeded"
    assert phase("OnFailure", 0, 1) == "Running"  # the failed one restarts
    assert phase("Always", 0) == "Running"


def test_init_containers_keep_the_pod_pending_and_not_initialized() -> None:
    pod = make_pod(init=("setup",))
    status = generate_pod_status(pod, rec(c("setup", ContainerState.RUNNING)), StatusInputs(now=NOW))
    assert status["phase"] == "Pending"
    initialized = next(cond for cond in status["conditions"] if cond["type"] == "Initialized")
    assert initialized["status"] == "False" and initialized["reason"] == "ContainersNotInitialized"
    assert initialized["message"] == "containers with incomplete status: [setup]"
    assert status["initContainerStatuses"][0]["state"]["running"]


def test_a_failed_init_container_fails_a_restart_never_pod() -> None:
    pod = make_pod(init=("setup",), policy="Never")
    status = generate_pod_status(pod, rec(c("setup", ContainerState.EXITED, code=1)), StatusInputs(now=NOW))
    assert status["phase"] == "Failed"


def test_a_terminal_phase_never_changes_back() -> None:
    pod = make_pod(policy="Never")
    pod["status"]["phase"] = "Succeeded"
    assert generate_pod_status(pod, rec(), StatusInputs(now=NOW))["phase"] == "Succeeded"


def test_a_decided_terminal_status_wins_eviction_or_rejection() -> None:
    inputs = StatusInputs(now=NOW, terminal=("Failed", "OutOfcpu", "Pod was rejected: ..."))
    status = generate_pod_status(make_pod(), PodRecord("u1"), inputs)
    assert (status["phase"], status["reason"], status["message"]) == (
        "Failed",
        "OutOfcpu",
        "Pod was rejected: ...",
    )


def test_transition_times_stay_while_a_condition_holds() -> None:
    pod = make_pod()
    first = generate_pod_status(pod, rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW))
    pod["status"] = first
    later = generate_pod_status(pod, rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW + 60))
    assert later["conditions"] == first["conditions"] and status_equal(first, later)
    flipped = generate_pod_status(
        pod, rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW + 60, ready=lambda *_: False)
    )
    ready = next(cond for cond in flipped["conditions"] if cond["type"] == "Ready")
    assert ready["lastTransitionTime"] == timestamp(NOW + 60)


def test_readiness_gates_hold_ready_back() -> None:
    pod = make_pod()
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    status = generate_pod_status(pod, rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW))
    assert conditions(status)["ContainersReady"] == "True" and conditions(status)["Ready"] == "False"
    pod["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    assert (
        conditions(generate_pod_status(pod, rec(c("app", ContainerState.RUNNING)), StatusInputs(now=NOW)))[
            "Ready"
        ]
        == "True"
    )


def test_pod_phase_counts_waiting_containers_as_pending() -> None:
    waiting = {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    running = {"name": "b", "state": {"running": {}}, "lastState": {}}
    assert pod_phase(make_pod(("a", "b")), [waiting, running], False, False) == "Pending"
