"""A pod's API status from what the runtime holds: upstream's generateAPIPodStatus, getPhase and
convertToAPIContainerStatuses (kubelet_pods.go), as pure functions.

    status = generate_pod_status(pod, record, StatusInputs(now=..., host_ip=..., waiting=..., ready=...))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubelet import pods
from kubelet.actions import Waiting
from kubelet.pods import Container, Pod
from kubelet.qos import qos_class
from kubelet.runtime_state import ContainerRecord, PodRecord

Status = dict[str, Any]
RUNTIME_PREFIX = "containerd://"

# Conditions the kubelet owns; others (PodScheduled, DisruptionTarget, readiness gates) are kept.
KUBELET_CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
    "DisruptionTarget",
)


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StatusInputs:
    now: float
    host_ip: str = ""
    waiting: Mapping[str, Waiting] = field(default_factory=dict)  # container name -> why it waits
    ready: Callable[[str, ContainerRecord], bool] = lambda name, record: True  # readiness probe results
    started: Callable[[str, ContainerRecord], bool] = lambda name, record: True  # startup probe results
    terminal: tuple[str, str, str] | None = None  # (phase, reason, message) decided elsewhere (eviction)
    disruption: str = (
        ""  # the kubelet is terminating the pod (eviction): a DisruptionTarget condition says why
    )


def container_id(record: ContainerRecord) -> str:
    return RUNTIME_PREFIX + record.id


def _terminated(record: ContainerRecord) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": record.exit_code,
        "reason": record.reason or ("Completed" if record.exit_code == 0 else "Error"),
        "containerID": container_id(record),
    }
    if record.message:
        state["message"] = record.message
    if record.started_at:
        state["startedAt"] = timestamp(record.started_at)
    if record.finished_at:
        state["finishedAt"] = timestamp(record.finished_at)
    return state


def container_status(
    container: Container,
    record: PodRecord,
    inputs: StatusInputs,
    *,
    previous_status: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    name = container["name"]
    latest = record.latest(name)
    status: dict[str, Any] = {
        "name": name,
        "image": container.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "started": False,
        "state": {},
        "lastState": {},
    }
    waiting = inputs.waiting.get(name)
    if latest is None:
        reason = waiting or Waiting("ContainerCreating", "")
        state: dict[str, Any] = {"reason": reason.reason}
        if reason.message:
            state["message"] = reason.message
        status["state"] = {"waiting": state}
        return status
    status["containerID"] = container_id(latest)
    status["imageID"] = latest.image_ref
    if latest.image and not latest.image.startswith("sha256:"):
        status["image"] = latest.image
    status["restartCount"] = latest.attempt
    if latest.running:
        status["state"] = {"running": {"startedAt": timestamp(latest.started_at or latest.created_at)}}
        status["started"] = inputs.started(name, latest)
        status["ready"] = status["started"] and inputs.ready(name, latest)
    elif latest.state == "exited" and waiting is None:
        status["state"] = {"terminated": _terminated(latest)}
    else:
        reason = waiting or Waiting("ContainerCreating", "")
        state = {"reason": reason.reason}
        if reason.message:
            state["message"] = reason.message
        status["state"] = {"waiting": state}
    # lastState: the previous attempt's end, or the newest one's while it waits to restart.
    last = (
        latest if latest.state == "exited" and "terminated" not in status["state"] else record.previous(name)
    )
    if last is not None and last.state == "exited":
        status["lastState"] = {"terminated": _terminated(last)}
    return status


def _count_phase(statuses: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif status["lastState"].get("terminated"):
            stopped += 1
        else:
            waiting += 1
    return running, waiting, stopped, succeeded


def pod_phase(pod: Pod, statuses: list[dict[str, Any]], init_pending: bool, init_failed: bool) -> str:
    """Upstream's getPhase."""
    if init_failed:
        return "Failed"
    if init_pending:
        return "Pending"
    running, waiting, stopped, succeeded = _count_phase(statuses)
    total = len(statuses)
    policy = pods.restart_policy(pod)
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped == total and total > 0:
        if policy == "Always":
            return "Running"
        if succeeded == stopped:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _init_state(
    pod: Pod, record: PodRecord, init_statuses: list[dict[str, Any]]
) -> tuple[bool, bool, list[str]]:
    """(initialization pending, an init container failed for good, the unfinished init containers)."""
    if not init_statuses:
        return False, False, []
    if any(record.latest(container["name"]) for container in pods.containers(pod)):
        return False, False, []
    unfinished = [
        status["name"]
        for status in init_statuses
        if status["state"].get("terminated", {}).get("exitCode") != 0 or "terminated" not in status["state"]
    ]
    failed_for_good = pods.restart_policy(pod) == "Never" and any(
        status["state"].get("terminated", {}).get("exitCode", 0) != 0 for status in init_statuses
    )
    return bool(unfinished), failed_for_good, unfinished


def _condition(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    condition: dict[str, Any] = {"type": ctype, "status": "True" if ok else "False"}
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def generate_pod_status(pod: Pod, record: PodRecord, inputs: StatusInputs) -> Status:
    old = pod.get("status") or {}
    init_statuses = [container_status(c, record, inputs) for c in pods.init_containers(pod)]
    statuses = [container_status(c, record, inputs) for c in pods.containers(pod)]
    init_pending, init_failed, unfinished = _init_state(pod, record, init_statuses)
    for init_status in init_statuses:  # an init container is "ready" once it has succeeded
        init_status["ready"] = init_status["state"].get("terminated", {}).get("exitCode") == 0
    phase = pod_phase(pod, statuses, init_pending, init_failed)
    if pods.is_terminal_phase(pod):
        phase = old["phase"]  # a terminal phase never changes back
    status: Status = {"phase": phase, "qosClass": qos_class(pod)}
    if inputs.terminal is not None:
        status["phase"], status["reason"], status["message"] = inputs.terminal
    elif old.get("reason") and pods.is_terminal_phase(pod):
        status["reason"], status["message"] = old.get("reason"), old.get("message", "")

    not_ready = [s["name"] for s in statuses if not s["ready"]]
    sandbox_ready = record.latest_sandbox is not None and record.latest_sandbox.ready
    conditions = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _condition(
            "Initialized",
            not init_pending,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(unfinished)}]",
        ),
        _condition(
            "ContainersReady",
            not not_ready and phase == "Running",
            "PodCompleted" if phase == "Succeeded" else "ContainersNotReady",
            "" if phase == "Succeeded" else f"containers with unready status: [{' '.join(not_ready)}]",
        ),
    ]
    ready_ok = conditions[2]["status"] == "True" and _readiness_gates_pass(pod, old)
    ready = dict(conditions[2], type="Ready", status="True" if ready_ok else "False")
    if conditions[2]["status"] == "True" and not ready_ok:
        ready.update(
            reason="ReadinessGatesNotReady", message="corresponding condition of pod readiness gate not ready"
        )
    conditions.append(ready)
    if inputs.disruption:
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "TerminationByKubelet",
                "message": inputs.disruption,
            }
        )
    status["conditions"] = _merge_conditions(old.get("conditions") or [], conditions, inputs.now)
    if inputs.host_ip:
        status["hostIP"] = inputs.host_ip
        status["hostIPs"] = [{"ip": inputs.host_ip}]
    pod_ip = inputs.host_ip if pods.host_network(pod) else record.ip
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    elif old.get("podIP") and phase in ("Succeeded", "Failed"):
        status["podIP"], status["podIPs"] = old["podIP"], old.get("podIPs", [{"ip": old["podIP"]}])
    status["startTime"] = old.get("startTime") or timestamp(inputs.now)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    return status


def _readiness_gates_pass(pod: Pod, old: Status) -> bool:
    gates = [gate.get("conditionType") for gate in pods.spec(pod).get("readinessGates") or []]
    current = {c.get("type"): c.get("status") for c in old.get("conditions") or []}
    return all(current.get(gate) == "True" for gate in gates)


def _merge_conditions(
    old: list[dict[str, Any]], new: list[dict[str, Any]], now: float
) -> list[dict[str, Any]]:
    """The kubelet's conditions replace its old ones, keeping lastTransitionTime while the status is
    unchanged; conditions others own (PodScheduled, DisruptionTarget, gates) stay as they are."""
    previous = {c.get("type"): c for c in old}
    merged = []
    for condition in new:
        before = previous.get(condition["type"])
        since = (
            before.get("lastTransitionTime")
            if before and before.get("status") == condition["status"]
            else None
        )
        merged.append({**condition, "lastProbeTime": None, "lastTransitionTime": since or timestamp(now)})
    owned = set(KUBELET_CONDITIONS)
    kept = [c for c in old if c.get("type") not in owned]
    return merged + kept


def status_equal(a: Status, b: Status) -> bool:
    """Whether writing `b` over `a` would change anything the kubelet reports."""
    keys = ("phase", "reason", "message", "qosClass", "hostIP", "podIP", "startTime", "conditions",
            "containerStatuses", "initContainerStatuses")  # fmt: skip
    return all(a.get(key) == b.get(key) for key in keys)
