"""What one sync of a pod must do to the runtime: upstream's computePodActions (kuberuntime_manager.go),
as a pure function of the pod, what CRI holds for it, the restart back-off and the probe results.

    actions = compute_pod_actions(pod, record, backoff=crash_backoff, unhealthy={container_id: message})

The executor (kubelet.runtime_manager) carries the actions out in upstream's order: kill the pod if its
sandbox must change; kill the containers listed; create the sandbox; start the next init container;
start the containers listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kubelet import pods
from kubelet.backoff import Backoff
from kubelet.pods import Container, Pod
from kubelet.runtime_state import ContainerRecord, PodRecord


@dataclass(frozen=True)
class Waiting:
    """Why a container is not started this time (the Waiting state the API shows)."""

    reason: str
    message: str


@dataclass
class PodActions:
    kill_pod: bool = False  # stop every container and the sandbox
    create_sandbox: bool = False
    sandbox_id: str = ""  # the sandbox to start containers in (when not creating one)
    attempt: int = 0  # the new sandbox's attempt
    next_init_container: str | None = None
    containers_to_start: list[str] = field(default_factory=list)
    containers_to_kill: dict[str, str] = field(default_factory=dict)  # container id -> why
    waiting: dict[str, Waiting] = field(default_factory=dict)  # container name -> back-off reason
    init_failed: bool = False  # an init container failed and the pod never restarts: it is Failed

    @property
    def nothing(self) -> bool:
        return not (
            self.kill_pod
            or self.create_sandbox
            or self.next_init_container
            or self.containers_to_start
            or self.containers_to_kill
        )


def backoff_key(pod: Pod, container: Container) -> str:
    """Upstream's getStableKey: the back-off survives new attempts, not a changed spec."""
    container_part = f"{container['name']}_{pods.container_hash(container)}"
    return f"{pods.name(pod)}_{pods.namespace(pod)}_{pods.uid(pod)}_{container_part}"


def should_restart(container_record: ContainerRecord | None, restart_policy: str) -> bool:
    """A container that never ran always starts; one that exited restarts by the pod's policy."""
    if container_record is None or container_record.state != "exited":
        return True
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return container_record.exit_code != 0
    return True


def crash_backoff(
    pod: Pod, container: Container, record: ContainerRecord | None, backoff: Backoff
) -> Waiting | None:
    """Upstream's doBackOff: an exited container restarts at once the first time, then after 10 s,
    20 s, ... up to the maximum; each allowed restart grows the delay."""
    if record is None or record.state != "exited":
        return None
    key = backoff_key(pod, container)
    if backoff.in_backoff_since(key, record.finished_at):
        delay = backoff.delay(key)
        return Waiting(
            "CrashLoopBackOff",
            f"back-off {_format_delay(delay)} restarting failed container={container['name']} "
            f"pod={pods.name(pod)}_{pods.namespace(pod)}({pods.uid(pod)})",
        )
    backoff.next(key, record.finished_at)
    return None


def _format_delay(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def sandbox_changed(record: PodRecord) -> tuple[bool, int, str]:
    """(must create a new sandbox, its attempt, the current sandbox id): no sandbox yet, more than
    one ready, or the newest not ready."""
    if not record.sandboxes:
        return True, 0, ""
    ready = [sandbox for sandbox in record.sandboxes if sandbox.ready]
    latest = record.sandboxes[0]
    if len(ready) > 1 or not latest.ready:
        return True, latest.attempt + 1, latest.id
    return False, latest.attempt, latest.id


def compute_pod_actions(
    pod: Pod,
    record: PodRecord,
    *,
    backoff: Backoff,
    unhealthy: Mapping[str, str] | None = None,
) -> PodActions:
    """`unhealthy` maps the id of a running container whose liveness or startup probe failed to the
    reason it must be restarted."""
    unhealthy = unhealthy or {}
    policy = pods.restart_policy(pod)
    init_specs = pods.init_containers(pod)
    changed, attempt, sandbox_id = sandbox_changed(record)
    actions = PodActions(sandbox_id=sandbox_id, attempt=attempt)

    if changed:
        actions.kill_pod = bool(record.sandboxes)
        has_run = any(container.state == "exited" for container in record.containers)
        if policy == "Never" and attempt != 0 and has_run:
            # upstream: a pod that must not restart does not get a second sandbox.
            return actions
        actions.create_sandbox = True
        if init_specs:
            actions.next_init_container = init_specs[0]["name"]
            return actions
        for container in pods.containers(pod):
            latest = record.latest(container["name"])
            if policy == "OnFailure" and latest is not None and latest.succeeded:
                continue
            actions.containers_to_start.append(container["name"])
        return actions

    if not _init_done(pod, record, actions, backoff, policy):
        return actions

    keep = 0
    for container in pods.containers(pod):
        name = container["name"]
        latest = record.latest(name)
        if latest is None or not latest.running:
            if not should_restart(latest, policy):
                continue
            waiting = crash_backoff(pod, container, latest, backoff)
            if waiting is not None:
                actions.waiting[name] = waiting
                keep += 1  # the container will restart: the pod stays up
                continue
            actions.containers_to_start.append(name)
            continue
        reason = unhealthy.get(latest.id)
        if reason is None and latest.hash and latest.hash != pods.container_hash(container):
            reason = f"Container {name} definition changed"
        if reason is None:
            keep += 1
            continue
        if policy != "Never":
            actions.containers_to_start.append(name)
            reason += ", will be restarted"  # upstream's wording in the Killing event
        actions.containers_to_kill[latest.id] = reason
    if keep == 0 and not actions.containers_to_start:
        actions.kill_pod = True  # everything has finished for good: release the sandbox
    return actions


def _init_done(pod: Pod, record: PodRecord, actions: PodActions, backoff: Backoff, policy: str) -> bool:
    """Upstream's findNextInitContainerToRun, recorded into `actions`; True when the regular
    containers may run."""
    init_specs = pods.init_containers(pod)
    if not init_specs:
        return True
    if any(record.latest(container["name"]) for container in pods.containers(pod)):
        return True  # regular containers have run: initialization finished earlier
    for index in range(len(init_specs) - 1, -1, -1):
        container = init_specs[index]
        latest = record.latest(container["name"])
        if latest is None:
            continue
        if latest.running or latest.state == "created":
            return False  # wait for it
        if latest.failed:
            if policy == "Never":
                actions.init_failed = True
                actions.kill_pod = True
                return False
            waiting = crash_backoff(pod, container, latest, backoff)
            if waiting is not None:
                actions.waiting[container["name"]] = waiting
            else:
                actions.next_init_container = container["name"]
            return False
        # succeeded: run the next one, or initialization is complete
        if index == len(init_specs) - 1:
            return True
        actions.next_init_container = init_specs[index + 1]["name"]
        return False
    actions.next_init_container = init_specs[0]["name"]
    return False
