"""The pod lifecycle event generator: upstream's GenericPLEG. Every relist period it lists every sandbox
and container CRI holds, asks ContainerStatus only for containers that are new or changed state, and
keeps one PodRecord per pod uid. The uids whose record changed go to the pod workers, which is how a
container that exits or is killed behind the kubelet's back gets noticed within a second.

The runtime is the source of truth: after a kubelet restart the first relist rebuilds everything
from the labels the kubelet put on its sandboxes and containers (kubelet.cri.labels).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from componentbase.klog import get_logger
from kubelet import metrics
from kubelet.cri import labels
from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import CRIError, RuntimeClient, is_not_found
from kubelet.runtime_state import ContainerRecord, ContainerState, PodRecord, SandboxRecord

log = get_logger(__name__)

NANOS = 1e9
STATES = {
    cri.CONTAINER_CREATED: ContainerState.CREATED,
    cri.CONTAINER_RUNNING: ContainerState.RUNNING,
    cri.CONTAINER_EXITED: ContainerState.EXITED,
}


def container_record(status: cri.ContainerStatus, container: cri.Container) -> ContainerRecord:
    annotations = container.annotations
    return ContainerRecord(
        id=status.id,
        name=status.metadata.name or container.metadata.name,
        attempt=int(annotations.get(labels.CONTAINER_RESTART_COUNT, status.metadata.attempt) or 0),
        state=STATES.get(status.state, ContainerState.UNKNOWN),
        created_at=status.created_at / NANOS,
        started_at=status.started_at / NANOS,
        finished_at=status.finished_at / NANOS,
        exit_code=status.exit_code,
        reason=status.reason,
        message=status.message,
        image=status.image.image,
        image_ref=status.image_ref,
        hash=annotations.get(labels.CONTAINER_HASH, ""),
        sandbox_id=container.pod_sandbox_id,
    )


class PLEG:
    def __init__(self, runtime: RuntimeClient, relist_period: float = 1.0) -> None:
        self.runtime = runtime
        self.relist_period = relist_period
        self.records: dict[str, PodRecord] = {}
        self._containers: dict[str, ContainerRecord] = {}
        self._sandbox_ips: dict[str, tuple[str, ...]] = {}
        self.healthy_at = 0.0  # monotonic time of the last successful relist (the PLEG health check)

    def record(self, uid: str) -> PodRecord:
        return self.records.get(uid) or PodRecord(uid)

    async def _build(
        self, sandboxes: list[cri.PodSandbox], containers: list[cri.Container]
    ) -> dict[str, PodRecord]:
        """PodRecords from listed sandboxes and containers (ours carry the pod labels; others are skipped)."""
        built: dict[str, PodRecord] = {}

        def pod_for(pod_labels: Mapping[str, str]) -> PodRecord | None:
            uid = pod_labels.get(labels.POD_UID)
            if not uid:
                return None  # not ours (something else uses this containerd)
            if uid not in built:
                built[uid] = PodRecord(
                    uid, pod_labels.get(labels.POD_NAMESPACE, ""), pod_labels.get(labels.POD_NAME, "")
                )
            return built[uid]

        for sandbox in sandboxes:
            record = pod_for(sandbox.labels)
            if record is not None:
                ready = sandbox.state == cri.SANDBOX_READY
                ips = await self._sandbox_ip(sandbox.id) if ready else self._sandbox_ips.get(sandbox.id, ())
                created = sandbox.created_at / NANOS
                ip = ips[0] if ips else ""
                record.sandboxes.append(
                    SandboxRecord(sandbox.id, sandbox.metadata.attempt, ready, created, ip, ips)
                )
        for container in containers:
            record = pod_for(container.labels)
            if record is not None:
                current = await self._container(container)
                if current is not None:
                    record.containers.append(current)
        for record in built.values():
            record.sort()
        return built

    async def relist(self) -> set[str]:
        """One relist; the uids whose record changed."""
        with metrics.PLEG_RELIST_DURATION.time():
            return await self._relist()

    async def _relist(self) -> set[str]:
        sandboxes = await self.runtime.list_pod_sandbox()
        containers = await self.runtime.list_containers()
        fresh = await self._build(sandboxes, containers)
        live_containers = {container.id for container in containers}
        for gone in set(self._containers) - live_containers:
            del self._containers[gone]
        live_sandboxes = {sandbox.id for sandbox in sandboxes}
        for gone in set(self._sandbox_ips) - live_sandboxes:
            del self._sandbox_ips[gone]
        changed = {uid for uid, record in fresh.items() if self.records.get(uid) != record}
        changed |= set(self.records) - set(fresh)
        self.records = fresh
        metrics.RUNNING_PODS.set(sum(1 for r in fresh.values() if any(s.ready for s in r.sandboxes)))
        states = [c.state.value for r in fresh.values() for c in r.containers]
        for state in ("created", "running", "exited", "unknown"):
            metrics.RUNNING_CONTAINERS.labels(state).set(states.count(state))
        self.healthy_at = asyncio.get_running_loop().time()
        return changed

    async def refresh(self, uid: str) -> PodRecord:
        """Re-read one pod from CRI now (after the kubelet acted on it), without waiting for a relist."""
        selector = {labels.POD_UID: uid}
        sandboxes = await self.runtime.list_pod_sandbox(cri.PodSandboxFilter(label_selector=selector))
        containers = await self.runtime.list_containers(cri.ContainerFilter(label_selector=selector))
        record = (await self._build(sandboxes, containers)).get(uid)
        if record is None:
            self.records.pop(uid, None)
            return PodRecord(uid)
        self.records[uid] = record
        return record

    async def _sandbox_ip(self, sandbox_id: str) -> tuple[str, ...]:
        if sandbox_id not in self._sandbox_ips:
            try:
                status = (await self.runtime.pod_sandbox_status(sandbox_id)).status
            except CRIError as error:
                if is_not_found(error):
                    return ()
                raise
            network = status.network
            ips = tuple(ip for ip in [network.ip, *(extra.ip for extra in network.additional_ips)] if ip)
            self._sandbox_ips[sandbox_id] = ips
        return self._sandbox_ips[sandbox_id]

    async def _container(self, container: cri.Container) -> ContainerRecord | None:
        cached = self._containers.get(container.id)
        state = STATES.get(container.state, ContainerState.UNKNOWN)
        if cached is not None and cached.state == state:
            return cached
        try:
            status = (await self.runtime.container_status(container.id)).status
        except CRIError as error:
            if is_not_found(error):
                return None  # removed between the list and the status
            raise
        record = container_record(status, container)
        self._containers[container.id] = record
        return record

    def forget_container(self, container_id: str) -> None:
        """Drop a cached status so the next relist asks CRI again (after the kubelet changed it)."""
        self._containers.pop(container_id, None)

    async def run(self, on_change: Callable[[set[str]], None]) -> None:
        while True:
            try:
                changed = await self.relist()
            except CRIError as error:
                log.error("PLEG relist failed", err=str(error))
            else:
                if changed:
                    on_change(changed)
            await asyncio.sleep(self.relist_period)
