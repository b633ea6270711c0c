"""The pod printer: READY, STATUS and RESTARTS summarise every container's state the way
kube-apiserver's `printPod` does (init containers, sidecars, waiting and terminated reasons,
Terminating, NodeLost), since that one line is what people read to debug a pod."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .cells import (
    AGE,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age,
    doc,
    elapsed,
    get,
    items,
    name,
    number,
    parse_time,
    text,
)

COLUMNS = (
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and when the "
        "last container in this pod has restarted.",
    ),
    AGE,
    Column("IP", priority=1, description=doc("core.v1.PodStatus", "podIP")),
    Column("Node", priority=1, description=doc("core.v1.PodSpec", "nodeName")),
    Column("Nominated Node", priority=1, description=doc("core.v1.PodStatus", "nominatedNodeName")),
    Column("Readiness Gates", priority=1, description=doc("core.v1.PodSpec", "readinessGates")),
)

TERMINAL_PHASES = ("Succeeded", "Failed")
NODE_UNREACHABLE_REASON = "NodeLost"  # k8s.io/kubernetes/pkg/util/node.NodeUnreachablePodReason


@dataclass
class _Restarts:
    """Restarts counted so far and when the latest one happened (a container's last termination)."""

    count: int = 0
    last: datetime | None = None

    def add(self, status: Obj) -> None:
        self.count += number(status, "restartCount")
        finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
        if finished is not None and (self.last is None or finished > self.last):
            self.last = finished


def _terminated_reason(terminated: Obj) -> str:
    if text(terminated, "reason"):
        return text(terminated, "reason")
    if number(terminated, "signal"):
        return f"Signal:{number(terminated, 'signal')}"
    return f"ExitCode:{number(terminated, 'exitCode')}"


def _has_true_condition(pod: Obj, condition_type: str) -> bool:
    return any(
        c.get("type") == condition_type and c.get("status") == "True"
        for c in items(pod, "status", "conditions")
    )


def _initialized(pod: Obj) -> bool:
    """`isPodInitializedConditionTrue`: the first Initialized condition says True."""
    for condition in items(pod, "status", "conditions"):
        if condition.get("type") == "Initialized":
            return condition.get("status") == "True"
    return False


def pod_status(pod: Obj) -> tuple[int, int, str, _Restarts]:
    """Ready containers, total containers, the STATUS reason and the restarts, as `printPod`."""
    init_specs = items(pod, "spec", "initContainers")
    sidecars = {text(c, "name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(items(pod, "spec", "containers")) + len(sidecars)
    ready = 0
    phase = text(pod, "status", "phase", default="Pending")  # set on create
    reason = text(pod, "status", "reason") or phase
    for condition in items(pod, "status", "conditions"):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    restarts, sidecar_restarts = _Restarts(), _Restarts()
    initializing = False
    for index, status in enumerate(items(pod, "status", "initContainerStatuses")):
        restarts.add(status)
        is_sidecar = text(status, "name") in sidecars
        if is_sidecar:
            sidecar_restarts.add(status)
        terminated, waiting = get(status, "state", "terminated"), get(status, "state", "waiting")
        if terminated is not None and number(terminated, "exitCode") == 0:
            continue
        if is_sidecar and status.get("started") is True:
            ready += 1 if status.get("ready") else 0
            continue
        if terminated is not None:
            reason = "Init:" + _terminated_reason(terminated)
        elif waiting is not None and text(waiting, "reason") not in ("", "PodInitializing"):
            reason = "Init:" + text(waiting, "reason")
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _initialized(pod):
        restarts = sidecar_restarts
        has_running = False
        for status in reversed(items(pod, "status", "containerStatuses")):
            restarts.add(status)
            state = get(status, "state") or {}
            if text(state, "waiting", "reason"):
                reason = text(state, "waiting", "reason")
            elif state.get("terminated") is not None:
                reason = _terminated_reason(state["terminated"])
            elif status.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_true_condition(pod, "Ready") else "NotReady"

    if get(pod, "metadata", "deletionTimestamp") is not None:
        if text(pod, "status", "reason") == NODE_UNREACHABLE_REASON:
            reason = "Unknown"
        elif phase not in TERMINAL_PHASES:
            reason = "Terminating"
    return ready, total, reason, restarts


def _pod_ip(pod: Obj) -> str:
    """The first pod IP (v1's `podIP` wins over `podIPs`, as the v1 -> internal conversion does)."""
    ips = items(pod, "status", "podIPs")
    return text(pod, "status", "podIP") or (text(ips[0], "ip") if ips else "") or "<none>"


def _readiness_gates(pod: Obj) -> str:
    gates = items(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    conditions = items(pod, "status", "conditions")
    true = 0
    for gate in gates:
        match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        true += 1 if match is not None and match.get("status") == "True" else 0
    return f"{true}/{len(gates)}"


def pod_cells(pod: Obj, now: datetime) -> Cells:
    ready, total, reason, restarts = pod_status(pod)
    restarts_cell = str(restarts.count)
    if restarts.count and restarts.last is not None:
        restarts_cell += f" ({elapsed(now, restarts.last)} ago)"
    return [
        name(pod),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        age(pod, now),
        _pod_ip(pod),
        text(pod, "spec", "nodeName", default="<none>"),
        text(pod, "status", "nominatedNodeName", default="<none>"),
        _readiness_gates(pod),
    ]


def pod_conditions(pod: Obj) -> list[dict[str, str]]:
    """The row conditions upstream attaches to finished pods."""
    phase = text(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


PRINTER = Printer(COLUMNS, pod_cells, pod_conditions)
