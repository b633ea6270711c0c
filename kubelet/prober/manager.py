"""The probe manager (upstream prober_manager.go + the worker loop): one asyncio worker per container
probe, and the answers the pod worker asks for.

    manager = ProbeManager(runtime, clock=SystemClock(), recorder=record, on_change=resync)
    manager.sync_pod(pod, {"web": RunningContainer(id, started_at)}, pod_ip)  # every pod sync
    manager.readiness(uid, "web"); manager.started(uid, "web"); manager.liveness_failed(uid, "web")
    manager.remove_pod(uid)                                                    # pod gone
    await manager.close()

A worker probes right away, then every periodSeconds (plus a manual run when the pod worker syncs
a container whose readiness is not yet Success, as upstream's UpdatePodStatus does). Right after the
kubelet starts, each worker first waits a random part of its period so probes do not all fire at
once. `on_change(pod_uid)` is called whenever a published result changes; the restart itself is the
pod worker's (liveness_failed names the container to kill and why).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from componentbase.klog import get_logger, obj_ref
from kubelet.prober import metrics
from kubelet.prober.clock import Clock, SystemClock
from kubelet.prober.exec_runner import ExecRuntime
from kubelet.prober.prober import Prober, Recorder
from kubelet.prober.spec import ProbeType, Result, container_probe
from kubelet.prober.worker_state import PodView, ProbeState, RunningContainer, Step

log = get_logger(__name__)

WorkerKey = tuple[str, str, ProbeType]  # (pod uid, container name, probe type)


@dataclass
class _PodEntry:
    pod: Mapping[str, Any]
    containers: dict[str, RunningContainer]
    pod_ip: str
    finished: set[tuple[str, ProbeType]] = field(default_factory=set)  # workers that ended themselves


@dataclass
class _Worker:
    key: WorkerKey
    state: ProbeState
    container: Mapping[str, Any]  # the container's spec
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def probed_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Containers that get probe workers: the regular ones and restartable init containers (sidecars)."""
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return [*sidecars, *(spec.get("containers") or [])]


def _pod_view(pod: Mapping[str, Any]) -> PodView:
    return PodView(
        terminal=(pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
        deleting=bool((pod.get("metadata") or {}).get("deletionTimestamp")),
        restart_never=(pod.get("spec") or {}).get("restartPolicy") == "Never",
    )


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


class ProbeManager:
    def __init__(
        self,
        runtime: ExecRuntime,
        *,
        clock: Clock | None = None,
        recorder: Recorder | None = None,
        on_change: Callable[[str], None] | None = None,
        prober: Prober | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.clock = clock or SystemClock()
        self.prober = prober or Prober(runtime, recorder)
        self.on_change = on_change
        self.jitter = jitter
        self.started_at = self.clock.now()
        self._pods: dict[str, _PodEntry] = {}
        self._workers: dict[WorkerKey, _Worker] = {}

    # ---- the pod worker's side ----

    def sync_pod(
        self, pod: Mapping[str, Any], containers: Mapping[str, RunningContainer], pod_ip: str
    ) -> None:
        """Record the pod's current containers and IP, and start the workers its probes need."""
        uid = _uid(pod)
        entry = self._pods.get(uid)
        if entry is None:
            entry = self._pods[uid] = _PodEntry(pod, dict(containers), pod_ip)
        else:
            entry.pod, entry.containers, entry.pod_ip = pod, dict(containers), pod_ip
        for container in probed_containers(pod):
            name = str(container.get("name", ""))
            for probe_type in ProbeType:
                spec = container_probe(container, probe_type)
                key = (uid, name, probe_type)
                if spec is None or key in self._workers or (name, probe_type) in entry.finished:
                    continue
                worker = _Worker(key, ProbeState(probe_type, spec), container)
                self._workers[key] = worker
                worker.task = asyncio.get_running_loop().create_task(
                    self._run(worker), name=f"probe {probe_type} {obj_ref(pod)}/{name}"
                )
        for name in entry.containers:
            readiness = self._workers.get((uid, name, ProbeType.READINESS))
            if readiness is None or readiness.state.result is Result.SUCCESS:
                continue
            if not readiness.state.container_id:
                continue  # a new worker probes on its own right away
            if self.started(uid, name):
                readiness.trigger.set()  # upstream UpdatePodStatus: run it now rather than a period later

    def remove_pod(self, pod_uid: str) -> None:
        """Stop the pod's workers and forget its results."""
        self._pods.pop(pod_uid, None)
        for key in [key for key in self._workers if key[0] == pod_uid]:
            worker = self._workers.pop(key)
            if worker.task is not None:
                worker.task.cancel()

    def cleanup_pods(self, desired: set[str]) -> None:
        """Remove every pod not in `desired` (upstream CleanupPods)."""
        for uid in [uid for uid in {*self._pods, *(key[0] for key in self._workers)} if uid not in desired]:
            self.remove_pod(uid)

    def _state(self, pod_uid: str, name: str, probe_type: ProbeType) -> tuple[bool, Result | None]:
        """(a worker exists, its result for the container running now or None)."""
        worker = self._workers.get((pod_uid, name, probe_type))
        if worker is None:
            return False, None
        container = self._running(pod_uid, name)
        if container is None or worker.state.container_id != container.id:
            return True, None
        return True, worker.state.result

    def _running(self, pod_uid: str, name: str) -> RunningContainer | None:
        entry = self._pods.get(pod_uid)
        container = entry.containers.get(name) if entry else None
        return container if container is not None and container.running else None

    def started(self, pod_uid: str, name: str) -> bool:
        """containerStatuses[].started: running, and its startup probe (if any) succeeded."""
        if self._running(pod_uid, name) is None:
            return False
        exists, result = self._state(pod_uid, name, ProbeType.STARTUP)
        return result is Result.SUCCESS if exists else True

    def readiness(self, pod_uid: str, name: str) -> bool:
        """containerStatuses[].ready: started, and its readiness probe (if any) succeeded."""
        if not self.started(pod_uid, name):
            return False
        exists, result = self._state(pod_uid, name, ProbeType.READINESS)
        return result is Result.SUCCESS if exists else True

    def liveness_failed(self, pod_uid: str, name: str) -> str | None:
        """Why the running container must be restarted, in upstream's words, or None."""
        if self._running(pod_uid, name) is None:
            return None
        if self._state(pod_uid, name, ProbeType.LIVENESS)[1] is Result.FAILURE:
            return f"Container {name} failed liveness probe"
        if self._state(pod_uid, name, ProbeType.STARTUP)[1] is Result.FAILURE:
            return f"Container {name} failed startup probe"
        return None

    async def close(self) -> None:
        tasks = [worker.task for worker in self._workers.values() if worker.task is not None]
        self._workers.clear()
        self._pods.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.prober.close()

    def worker_count(self) -> int:
        return len(self._workers)

    # ---- the workers ----

    async def _run(self, worker: _Worker) -> None:
        period = float(worker.state.spec.period_seconds)
        uid, name, probe_type = worker.key
        try:
            if self.clock.now() - self.started_at < period:
                await self.clock.sleep(self.jitter() * period)
            tick_at = self.clock.now()
            while await self._do_probe(worker):
                tick_at += period
                now = self.clock.now()
                while tick_at <= now:  # a ticker drops the ticks a slow probe missed
                    tick_at += period
                await self._wait(worker, tick_at - now)
            entry = self._pods.get(uid)
            if entry is not None:
                entry.finished.add((name, probe_type))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            fields = {"podUID": uid, "containerName": name, "probeType": str(probe_type)}
            log.error("Probe worker failed", err=error, **fields)
        finally:
            if self._workers.get(worker.key) is worker:
                del self._workers[worker.key]
            labels = {"probe_type": str(probe_type), "container": name, "pod_uid": uid}
            _forget_metrics(labels, worker.state)

    async def _wait(self, worker: _Worker, delay: float) -> None:
        """Until the next tick or a manual trigger, whichever comes first."""
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        triggered = asyncio.ensure_future(worker.trigger.wait())
        try:
            await asyncio.wait({sleeper, triggered}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, triggered):
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
            worker.trigger.clear()

    async def _do_probe(self, worker: _Worker) -> bool:
        uid, name, probe_type = worker.key
        entry = self._pods.get(uid)
        if entry is None:
            return True  # not synced yet, or being removed
        pod = entry.pod
        container = entry.containers.get(name)
        before = (worker.state.container_id, worker.state.result)
        step = worker.state.before_probe(
            self.clock.now(), _pod_view(pod), container, started=self.started(uid, name)
        )
        self._changed(uid, before, worker.state)
        if step is Step.STOP:
            return False
        if step is Step.WAIT or container is None:
            return True
        began = self.clock.now()
        result = await self.prober.probe(
            probe_type, worker.state.spec, pod, worker.container, container.id, entry.pod_ip
        )
        if result is None:
            return True  # the probe errored: its result is thrown away
        meta = pod.get("metadata") or {}
        labels = {"probe_type": str(probe_type), "container": name, "pod": meta.get("name", ""),
                  "namespace": meta.get("namespace", "")}  # fmt: skip
        outcome = metrics.SUCCESSFUL if result is Result.SUCCESS else metrics.FAILED
        metrics.PROBE_TOTAL.labels(**labels, result=outcome, pod_uid=uid).inc()
        if result is not Result.FAILURE:
            metrics.PROBE_DURATION.labels(**labels).observe(max(self.clock.now() - began, 0.0))
        if worker.key not in self._workers or worker.state.container_id != container.id:
            return True  # removed, or the container changed while we probed
        before = (worker.state.container_id, worker.state.result)
        worker.state.after_probe(result)
        self._changed(uid, before, worker.state)
        return True

    def _changed(self, uid: str, before: tuple[str, Result | None], state: ProbeState) -> None:
        # A new container's initial value is no news: the pod worker just started that container.
        if before[0] == state.container_id and before[1] != state.result:
            log.v(3).info("Probe result changed", podUID=uid, probeType=str(state.probe_type),
                          result=str(state.result))  # fmt: skip
            if self.on_change is not None:
                self.on_change(uid)


def _forget_metrics(labels: Mapping[str, str], state: ProbeState) -> None:
    """Upstream deletes a worker's series when it ends; ours carry pod and namespace too, so drop every
    series of this pod uid, container and probe type."""
    for sample_labels in list(metrics.PROBE_TOTAL._metrics):
        names = metrics.PROBE_TOTAL._labelnames
        values = dict(zip(names, sample_labels, strict=True))
        if all(values.get(k) == v for k, v in labels.items()):
            with contextlib.suppress(KeyError):
                metrics.PROBE_TOTAL.remove(*sample_labels)
