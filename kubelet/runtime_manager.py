"""Carrying out a pod's actions against CRI: upstream's kubeGenericRuntimeManager.SyncPod, startContainer
and killContainer, with the events they record.

The decisions come from kubelet.actions (pure); this module only performs them in upstream's order and
turns failures into the Waiting reasons the pod's status shows (CreateContainerConfigError,
CreateContainerError, RunContainerError, ErrImagePull...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from componentbase.klog import get_logger
from kubelet import metrics, pods
from kubelet.actions import PodActions, Waiting
from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import CRIError, RuntimeClient, is_not_found
from kubelet.cri_config import NodeContext, container_config, sandbox_config
from kubelet.images import ImageError, ImageManager
from kubelet.pods import Container, Pod
from kubelet.runtime_state import ContainerRecord, PodRecord

log = get_logger(__name__)

MIN_KILL_GRACE_SECONDS = 2  # upstream's minimumGracePeriodInSeconds
Recorder = Callable[[Pod, str, str, str], None]
# (pod, container, pod IP) -> the container's environment and mounts; raises ContainerConfigError.
Prepared = tuple[list[tuple[str, str]], Sequence[cri.Mount]]
Prepare = Callable[[Pod, Container, str], Awaitable[Prepared]]


class ContainerConfigError(Exception):
    """A container's config cannot be made (a missing configMap key, a bad subPath...): the container
    waits with CreateContainerConfigError and the pod is synced again later."""


@dataclass
class SyncResult:
    waiting: dict[str, Waiting]
    started: list[str]


class RuntimeManager:
    def __init__(
        self,
        runtime: RuntimeClient,
        images: ImageManager,
        node: NodeContext,
        record: Recorder,
        prepare: Prepare,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.images = images
        self.node = node
        self.record = record
        self.prepare = prepare
        self.clock = clock

    async def sync_pod(
        self, pod: Pod, record: PodRecord, actions: PodActions, cgroup_parent: str
    ) -> SyncResult:
        result = SyncResult(waiting=dict(actions.waiting), started=[])
        if actions.kill_pod:
            await self.kill_pod(pod, record, pods.grace_period_seconds(pod))
        elif actions.containers_to_kill:
            await asyncio.gather(
                *(
                    self.kill_container(pod, container, pods.grace_period_seconds(pod), reason)
                    for container in record.running_containers
                    if (reason := actions.containers_to_kill.get(container.id)) is not None
                )
            )
        if actions.kill_pod and not actions.create_sandbox:
            return result
        sandbox_id = actions.sandbox_id
        sandbox = sandbox_config(pod, actions.attempt, self.node, cgroup_parent)
        pod_ip = record.ip
        if actions.create_sandbox:
            try:
                sandbox_id = await self.runtime.run_pod_sandbox(sandbox)
            except CRIError as error:
                message = f"Failed to create pod sandbox: {error.message}"
                self.record(pod, "Warning", "FailedCreatePodSandBox", message)
                raise
            status = (await self.runtime.pod_sandbox_status(sandbox_id)).status
            pod_ip = status.network.ip
            if actions.attempt > 0:
                self.record(
                    pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created."
                )
        to_start = [actions.next_init_container] if actions.next_init_container else []
        to_start += actions.containers_to_start
        for name in to_start:
            container = pods.container_by_name(pod, name)
            if container is None:
                continue
            previous = record.latest(name)
            # A container that will start in a new sandbox starts counting from the last attempt.
            attempt = previous.attempt + 1 if previous is not None else 0
            is_init = name == actions.next_init_container
            waiting = await self.start_container(
                pod, container, sandbox_id, sandbox, attempt, pod_ip, is_init
            )
            if waiting is not None:
                result.waiting[name] = waiting
                if is_init:
                    break
            else:
                result.started.append(name)
        return result

    async def start_container(
        self,
        pod: Pod,
        container: Container,
        sandbox_id: str,
        sandbox: cri.PodSandboxConfig,
        attempt: int,
        pod_ip: str,
        init: bool,
    ) -> Waiting | None:
        name = container["name"]
        kind = "init_container" if init else "container"
        try:
            await self.images.ensure(pod, container, sandbox)
        except ImageError as error:
            return Waiting(error.reason, error.message)
        try:
            env, mounts = await self.prepare(pod, container, pod_ip)
            config = container_config(
                pod, container, attempt=attempt, env=env, mounts=mounts, node=self.node, init=init
            )
        except ContainerConfigError as error:
            message = str(error).strip("'\"")
            self.record(pod, "Warning", "Failed", f"Error: {message}")
            return Waiting("CreateContainerConfigError", message)
        try:
            container_id = await self.runtime.create_container(sandbox_id, config, sandbox)
        except CRIError as error:
            self.record(pod, "Warning", "Failed", f"Error: {error.message}")
            return Waiting("CreateContainerError", error.message)
        self.record(pod, "Normal", "Created", f"Created container: {name}")
        try:
            await self.runtime.start_container(container_id)
        except CRIError as error:
            self.record(pod, "Warning", "Failed", f"Error: {error.message}")
            metrics.STARTED_CONTAINERS_ERRORS.labels(kind, error.code.name).inc()
            return Waiting("RunContainerError", error.message)
        metrics.STARTED_CONTAINERS.labels(kind).inc()
        self.record(pod, "Normal", "Started", f"Started container {name}")
        post_start = ((container.get("lifecycle") or {}).get("postStart") or {}).get("exec")
        if post_start:
            failure = await self._run_hook(container_id, post_start.get("command") or [], 30)
            if failure is not None:
                message = f"PostStartHook failed: {failure}"
                self.record(pod, "Warning", "FailedPostStartHook", message)
                await self._stop(container_id, MIN_KILL_GRACE_SECONDS)
                return Waiting("PostStartHookError", message)
        return None

    async def _run_hook(self, container_id: str, command: list[str], timeout: int) -> str | None:  # noqa: ASYNC109
        try:
            response = await self.runtime.exec_sync(container_id, command, timeout)
        except CRIError as error:
            return error.message
        if response.exit_code != 0:
            output = (response.stdout + response.stderr).decode(errors="replace").strip()
            return f"command '{' '.join(command)}' exited with {response.exit_code}: {output}"
        return None

    async def kill_container(
        self, pod: Pod | None, container: ContainerRecord, grace: int, reason: str = ""
    ) -> None:
        """preStop hook within the grace period, then SIGTERM and SIGKILL after what is left of it."""
        grace = max(grace, 0)
        spec = pods.container_by_name(pod, container.name) if pod is not None else None
        if pod is not None:
            message = reason or f"Stopping container {container.name}"
            self.record(pod, "Normal", "Killing", message)
        pre_stop = ((spec or {}).get("lifecycle") or {}).get("preStop", {}).get("exec") if spec else None
        if pre_stop and grace > 0:
            started = self.clock()
            failure = await self._run_hook(container.id, pre_stop.get("command") or [], grace)
            if failure is not None and pod is not None:
                self.record(pod, "Warning", "FailedPreStopHook", f"PreStopHook failed: {failure}")
            grace -= int(self.clock() - started)
        await self._stop(container.id, max(grace, MIN_KILL_GRACE_SECONDS if grace > 0 else 0))

    async def _stop(self, container_id: str, timeout: int) -> None:  # noqa: ASYNC109
        try:
            await self.runtime.stop_container(container_id, timeout)
        except CRIError as error:
            if not is_not_found(error):
                raise

    async def kill_pod(self, pod: Pod | None, record: PodRecord, grace: int) -> None:
        """Stop every running container (in parallel, each with the grace period), then the sandboxes."""
        await asyncio.gather(*(self.kill_container(pod, c, grace) for c in record.running_containers))
        for sandbox in record.sandboxes:
            if sandbox.ready:
                try:
                    await self.runtime.stop_pod_sandbox(sandbox.id)
                except CRIError as error:
                    if not is_not_found(error):
                        raise

    async def remove_pod(self, record: PodRecord) -> None:
        """Remove what CRI holds of a pod that is gone for good (containers, then sandboxes)."""
        for container in record.containers:
            if container.running:
                await self._stop(container.id, 0)
            await self._ignore_missing(self.runtime.remove_container(container.id))
        for sandbox in record.sandboxes:
            await self._ignore_missing(self.runtime.stop_pod_sandbox(sandbox.id))
            await self._ignore_missing(self.runtime.remove_pod_sandbox(sandbox.id))

    async def prune_dead_containers(self, record: PodRecord, keep: int = 1) -> None:
        """Container GC for a live pod: keep the newest `keep` exited attempts of each container (so
        `kubectl logs --previous` works), remove older ones; sandboxes that are not ready and not the
        newest go too."""
        seen: dict[str, int] = {}
        for container in record.containers:
            if container.running or container.state == "created":
                continue
            seen[container.name] = seen.get(container.name, 0) + 1
            if seen[container.name] > keep:
                await self._ignore_missing(self.runtime.remove_container(container.id))
        live_sandboxes = {c.sandbox_id for c in record.containers}
        for sandbox in record.sandboxes[1:]:
            if not sandbox.ready and sandbox.id not in live_sandboxes:
                await self._ignore_missing(self.runtime.remove_pod_sandbox(sandbox.id))

    @staticmethod
    async def _ignore_missing(call: Awaitable[None]) -> None:
        try:
            await call
        except CRIError as error:
            if not is_not_found(error):
                log.warning("Runtime clean-up failed", err=str(error))
