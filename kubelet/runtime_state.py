"""What the container runtime holds for each pod, as plain values: the kubelet's view of CRI.

The PLEG builds these from ListPodSandbox/ListContainers (+ ContainerStatus for what changed); the
pure decisions (what to start or kill, the pod's API status) read them and nothing else, so they are
tested without a runtime. Upstream's kubecontainer.PodStatus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ContainerRecord:
    """One container CRI knows of (any attempt). Times are seconds since the epoch (0 = not yet)."""

    id: str
    name: str
    attempt: int  # the restart count this container was created as
    state: ContainerState
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""
    image_ref: str = ""
    hash: str = ""  # of the container spec it was created from (io.kubernetes.container.hash)
    sandbox_id: str = ""

    @property
    def running(self) -> bool:
        return self.state is ContainerState.RUNNING

    @property
    def succeeded(self) -> bool:
        return self.state is ContainerState.EXITED and self.exit_code == 0

    @property
    def failed(self) -> bool:
        return self.state is ContainerState.EXITED and self.exit_code != 0


@dataclass(frozen=True)
class SandboxRecord:
    id: str
    attempt: int
    ready: bool
    created_at: float = 0.0
    ip: str = ""
    ips: tuple[str, ...] = ()


@dataclass
class PodRecord:
    """A pod's sandboxes and containers, newest first (by creation time, then attempt)."""

    uid: str
    namespace: str = ""
    name: str = ""
    sandboxes: list[SandboxRecord] = field(default_factory=list)
    containers: list[ContainerRecord] = field(default_factory=list)

    def sort(self) -> PodRecord:
        self.sandboxes.sort(key=lambda s: (s.created_at, s.attempt), reverse=True)
        self.containers.sort(key=lambda c: (c.created_at, c.attempt), reverse=True)
        return self

    @property
    def latest_sandbox(self) -> SandboxRecord | None:
        return self.sandboxes[0] if self.sandboxes else None

    @property
    def ip(self) -> str:
        """The pod IP: the newest ready sandbox's, as upstream reports it."""
        for sandbox in self.sandboxes:
            if sandbox.ready and sandbox.ip:
                return sandbox.ip
        return ""

    def latest(self, name: str) -> ContainerRecord | None:
        for container in self.containers:
            if container.name == name:
                return container
        return None

    def history(self, name: str) -> list[ContainerRecord]:
        return [container for container in self.containers if container.name == name]

    def previous(self, name: str) -> ContainerRecord | None:
        """The attempt before the newest: its termination is the container's lastState."""
        attempts = self.history(name)
        return attempts[1] if len(attempts) > 1 else None

    @property
    def running_containers(self) -> list[ContainerRecord]:
        return [container for container in self.containers if container.running]

    @property
    def is_empty(self) -> bool:
        return not self.sandboxes and not self.containers
