"""An in-memory stand-in for kubelet.cri.client.RuntimeClient, for unit tests of the kubelet's pod sync:
sandboxes and containers with CRI's states, label filters, reserved (name, attempt) pairs, images, and a
call log; a test makes containers exit or ExecSync answer as it likes, on a fake clock.

    runtime = FakeRuntime(clock)
    runtime.exit(container_id, code=1)          # the process ended (finished_at = clock())
    assert runtime.calls_of("StopContainer") == [("c2", 30)]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import CRIError

NANOS = 10**9


@dataclass
class FakeSandbox:
    id: str
    config: cri.PodSandboxConfig
    created_at: int
    ready: bool = True
    ip: str = ""


@dataclass
class FakeContainer:
    id: str
    sandbox_id: str
    config: cri.ContainerConfig
    created_at: int
    state: int = cri.CONTAINER_CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""


@dataclass
class FakeRuntime:
    clock: Callable[[], float]
    images: set[str] = field(default_factory=lambda: {"busybox", "registry.k8s.io/pause:3.9"})
    exec_answers: dict[tuple[str, ...], int] = field(default_factory=dict)  # command -> exit code
    sandboxes: dict[str, FakeSandbox] = field(default_factory=dict)
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ips: itertools.count[int] = field(default_factory=lambda: itertools.count(2))

    def _now(self) -> int:
        return int(self.clock() * NANOS)

    def calls_of(self, rpc: str) -> list[Any]:
        return [args for name, args in self.calls if name == rpc]

    def exit(self, container_id: str, code: int, reason: str = "") -> None:
        container = self.containers[container_id]
        container.state, container.exit_code = cri.CONTAINER_EXITED, code
        container.finished_at = self._now()
        container.reason = reason or ("Completed" if code == 0 else "Error")

    def running(self, name: str) -> list[FakeContainer]:
        return [
            c
            for c in self.containers.values()
            if c.config.metadata.name == name and c.state == cri.CONTAINER_RUNNING
        ]

    # ---- RuntimeService ----

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig, runtime_handler: str = "") -> str:
        sandbox_id = f"s{next(self._ids)}"
        self.calls.append(("RunPodSandbox", config.metadata.attempt))
        self.sandboxes[sandbox_id] = FakeSandbox(
            sandbox_id, config, self._now(), ip=f"10.244.0.{next(self._ips)}"
        )
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("StopPodSandbox", sandbox_id))
        sandbox = self.sandboxes[sandbox_id]
        sandbox.ready = False
        for container in self.containers.values():
            if container.sandbox_id == sandbox_id and container.state == cri.CONTAINER_RUNNING:
                self.exit(container.id, 137)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("RemovePodSandbox", sandbox_id))
        self.sandboxes.pop(sandbox_id, None)

    async def pod_sandbox_status(
        self, sandbox_id: str, verbose: bool = False
    ) -> cri.PodSandboxStatusResponse:
        sandbox = self._sandbox(sandbox_id)
        return cri.PodSandboxStatusResponse(
            status=cri.PodSandboxStatus(
                id=sandbox.id,
                metadata=sandbox.config.metadata,
                state=cri.SANDBOX_READY if sandbox.ready else cri.SANDBOX_NOTREADY,
                created_at=sandbox.created_at,
                network=cri.PodSandboxNetworkStatus(ip=sandbox.ip),
                labels=sandbox.config.labels,
            )
        )

    async def list_pod_sandbox(self, filter: cri.PodSandboxFilter | None = None) -> list[cri.PodSandbox]:
        selector = dict(filter.label_selector) if filter else {}
        return [
            cri.PodSandbox(
                id=s.id,
                metadata=s.config.metadata,
                state=cri.SANDBOX_READY if s.ready else cri.SANDBOX_NOTREADY,
                created_at=s.created_at,
                labels=s.config.labels,
                annotations=s.config.annotations,
            )
            for s in self.sandboxes.values()
            if all(s.config.labels.get(k) == v for k, v in selector.items())
        ]

    async def create_container(
        self, sandbox_id: str, config: cri.ContainerConfig, sandbox_config: cri.PodSandboxConfig
    ) -> str:
        name = (config.metadata.name, config.metadata.attempt)
        for existing in self.containers.values():
            if (
                existing.sandbox_id == sandbox_id
                and (existing.config.metadata.name, existing.config.metadata.attempt) == name
            ):
                raise CRIError("CreateContainer", grpc.StatusCode.UNKNOWN, f"name {name} is reserved")
        if config.image.image not in self.images:
            raise CRIError(
                "CreateContainer", grpc.StatusCode.NOT_FOUND, f"image {config.image.image} not found"
            )
        container_id = f"c{next(self._ids)}"
        self.calls.append(("CreateContainer", (config.metadata.name, config.metadata.attempt)))
        self.containers[container_id] = FakeContainer(container_id, sandbox_id, config, self._now())
        return container_id

    async def start_container(self, container_id: str) -> None:
        self.calls.append(("StartContainer", container_id))
        container = self._container(container_id)
        container.state, container.started_at = cri.CONTAINER_RUNNING, self._now()

    async def stop_container(self, container_id: str, timeout: int) -> None:  # noqa: ASYNC109 (CRI's)
        self.calls.append(("StopContainer", (container_id, timeout)))
        if self._container(container_id).state == cri.CONTAINER_RUNNING:
            self.exit(container_id, 143)

    async def remove_container(self, container_id: str) -> None:
        self.calls.append(("RemoveContainer", container_id))
        self.containers.pop(container_id, None)

    async def list_containers(self, filter: cri.ContainerFilter | None = None) -> list[cri.Container]:
        selector = dict(filter.label_selector) if filter else {}
        return [
            cri.Container(
                id=c.id,
                pod_sandbox_id=c.sandbox_id,
                metadata=c.config.metadata,
                image=c.config.image,
                state=c.state,
                created_at=c.created_at,
                labels=c.config.labels,
                annotations=c.config.annotations,
            )
            for c in self.containers.values()
            if all(c.config.labels.get(k) == v for k, v in selector.items())
        ]

    async def container_status(self, container_id: str, verbose: bool = False) -> cri.ContainerStatusResponse:
        c = self._container(container_id)
        return cri.ContainerStatusResponse(
            status=cri.ContainerStatus(
                id=c.id, metadata=c.config.metadata, state=c.state, created_at=c.created_at,
                started_at=c.started_at, finished_at=c.finished_at, exit_code=c.exit_code,
                image=c.config.image, image_ref=f"sha256:{c.config.image.image}", reason=c.reason,
                labels=c.config.labels, annotations=c.config.annotations,
            )
        )  # fmt: skip

    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> cri.ExecSyncResponse:  # noqa: ASYNC109
        self.calls.append(("ExecSync", (container_id, tuple(cmd), timeout)))
        return cri.ExecSyncResponse(exit_code=self.exec_answers.get(tuple(cmd), 0))

    # ---- ImageService ----

    async def image_status(self, image: str) -> cri.Image | None:
        return cri.Image(id=f"sha256:{image}", repo_tags=[image], size=1000) if image in self.images else None

    async def pull_image(self, image: str, sandbox_config: cri.PodSandboxConfig | None = None) -> str:
        self.calls.append(("PullImage", image))
        raise CRIError(
            "PullImage", grpc.StatusCode.UNKNOWN, f'failed to pull and unpack image "{image}": not found'
        )

    def _sandbox(self, sandbox_id: str) -> FakeSandbox:
        if sandbox_id not in self.sandboxes:
            raise CRIError("PodSandboxStatus", grpc.StatusCode.NOT_FOUND, f"sandbox {sandbox_id} not found")
        return self.sandboxes[sandbox_id]

    def _container(self, container_id: str) -> FakeContainer:
        if container_id not in self.containers:
            raise CRIError(
                "ContainerStatus", grpc.StatusCode.NOT_FOUND, f"container {container_id} not found"
            )
        return self.containers[container_id]
