"""The kubelet: pods from the API and from static sources become containers in CRI, and their state
goes back to the API. Upstream's Kubelet type (kubelet.go, kubelet_pods.go), reduced to its loops:

- sources: an informer on the pods bound to this node, the static pod directory and URL;
- a pod worker per pod (kubelet.pod_workers) running `sync_pod`: admit, cgroup, volumes, then the
  actions kubelet.actions computes, carried out by kubelet.runtime_manager, then the status;
- the PLEG (kubelet.pleg) waking workers when containers change behind the kubelet's back;
- housekeeping: pods CRI still holds that no source wants are killed and removed;
- the node: registration, status every nodeStatusUpdateFrequency, a Lease renewed every 10 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from componentbase.klog import get_logger
from kubeclient.errors import ApiError, is_conflict, is_not_found
from kubeclient.events import EventRecorder
from kubeclient.informer import Informer
from kubeclient.rest import MERGE_PATCH, Client
from kubelet import metrics, pods
from kubelet.actions import PodActions, Waiting, compute_pod_actions
from kubelet.admission import admit
from kubelet.backoff import Backoff
from kubelet.cgroups import CgroupManager
from kubelet.config import KubeletConfiguration
from kubelet.cri import labels
from kubelet.cri.client import RuntimeClient
from kubelet.cri_config import NodeContext
from kubelet.envvars import EnvVarError, fetch_env_sources, make_environment
from kubelet.images import ImageManager
from kubelet.logs import LogRotator
from kubelet.node_agent import NodeAgent
from kubelet.pleg import PLEG
from kubelet.pod_status import StatusInputs, generate_pod_status, status_equal
from kubelet.pod_workers import DONE, PodWorkers
from kubelet.pods import Pod
from kubelet.prober.manager import ProbeManager
from kubelet.prober.worker_state import RunningContainer
from kubelet.runtime_manager import ContainerConfigError, Prepared, RuntimeManager
from kubelet.runtime_state import PodRecord
from kubelet.static_sources import StaticPods
from kubelet.volumes.errors import MountError, VolumeError
from kubelet.volumes.hosts import should_mount_hosts_file, write_hosts_file
from kubelet.volumes.manager import PodVolume, VolumeManager
from kubelet.volumes.mounts import container_mounts
from kubelet.volumes.termination import termination_message_mount

log = get_logger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
HOUSEKEEPING_SECONDS = 2.0
VOLUME_RETRY_SECONDS = 2.0
MAX_WAKE_SECONDS = 10.0
PLEG_MAX_STALE = (
    180.0  # upstream's relistThreshold  # a back-off or a pending start looks again at least this often
)


@dataclass
class NodeSettings:
    """Who this kubelet is: from the flags (upstream's KubeletFlags)."""

    name: str
    node_ip: str
    hostname: str
    root_dir: Path
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    pod_infra_image: str = "registry.k8s.io/pause:3.9"


@dataclass
class PodSyncState:
    """What the kubelet remembers about a pod between syncs."""

    admitted: bool | None = None
    first_seen: float = 0.0
    kill_grace: int | None = None  # the eviction manager's grace period, when it evicts the pod
    disruption: str = ""  # why the kubelet itself is terminating the pod (its DisruptionTarget condition)
    rejection: tuple[str, str] | None = None  # (reason, message) when admission refused the pod
    waiting: dict[str, Waiting] = field(default_factory=dict)
    terminal: tuple[str, str, str] | None = None  # (phase, reason, message), e.g. evicted


def spec_changed(old: Pod, new: Pod) -> bool:
    """Anything but status and bookkeeping metadata differs (upstream's checkAndUpdatePod)."""
    ignored = ("resourceVersion", "managedFields", "generation")

    def essence(pod: Pod) -> tuple[Any, Any]:
        meta = {key: value for key, value in pod["metadata"].items() if key not in ignored}
        return meta, pod.get("spec")

    return essence(old) != essence(new)


def running_containers(record: PodRecord) -> dict[str, RunningContainer]:
    """The newest attempt of each container, as the probe workers need it."""
    found: dict[str, RunningContainer] = {}
    for container in record.containers:
        if container.name not in found:
            found[container.name] = RunningContainer(
                container.id,
                container.started_at or container.created_at,
                running=container.running,
                exited=container.state == "exited",
            )
    return found


class Kubelet:
    def __init__(
        self,
        config: KubeletConfiguration,
        settings: NodeSettings,
        client: Client,
        runtime: RuntimeClient,
        recorder: EventRecorder,
        *,
        volumes: VolumeManager,
        images: ImageManager,
        node_context: NodeContext,
        cgroups: CgroupManager,
        eviction: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings = settings
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.volumes = volumes
        self.runtime_manager = RuntimeManager(
            runtime, images, node_context, self.event, self.prepare_container, clock=clock
        )
        self.node_context = node_context
        self.pod_volumes: dict[str, dict[str, PodVolume]] = {}
        self.cgroups = cgroups
        self.eviction = eviction
        self.stats: Any = None  # kubelet.stats.StatsProvider, for the :10250 server
        self.clock = clock
        self.pleg = PLEG(runtime)
        self.workers = PodWorkers(self.sync_pod)
        self.probes = ProbeManager(runtime, recorder=self.event, on_change=self.workers.update)
        self.crash_backoff = Backoff(
            10.0, config.crash_loop_back_off.max_container_restart_period or 300.0, clock
        )
        self.pod_informer = Informer(client, "pods", field_selector=f"spec.nodeName={settings.name}")
        self.service_informer = Informer(client, "services")
        self.node_informer = Informer(client, "nodes", field_selector=f"metadata.name={settings.name}")
        self.pod_state: dict[str, PodSyncState] = {}
        self.static = StaticPods(
            config,
            settings.name,
            client,
            self.pod_informer.store,
            self.node_informer.store,
            self.workers.update,
        )
        self.node = NodeAgent(
            config,
            settings,
            client,
            runtime,
            clock,
            pressure=self.pressure,
            on_allocatable=self.on_allocatable,
            pleg_problem=self.pleg_problem,
        )

    # ---- the pods this node should run ----------------------------------------------------------

    def desired_pods(self) -> dict[str, Pod]:
        wanted = {pods.uid(pod): pod for pod in self.pod_informer.store.objects() if not pods.is_mirror(pod)}
        wanted.update(self.static.pods)
        return wanted

    def desired(self, uid: str) -> Pod | None:
        pod = self.static.pods.get(uid)
        if pod is not None:
            return pod
        for candidate in self.pod_informer.store.objects():
            if pods.uid(candidate) == uid and not pods.is_mirror(candidate):
                return candidate
        return None

    def active_pods(self) -> list[Pod]:
        """Admitted pods that are not finished: what counts against the node's resources."""
        return [
            pod
            for uid, pod in self.desired_pods().items()
            if self.pod_state.get(uid, PodSyncState()).admitted and not pods.is_terminal_phase(pod)
        ]

    def running_pods(self) -> list[Pod]:
        """For the :10250 /pods endpoint: every pod the kubelet runs, with its current status."""
        return [
            pod for uid, pod in self.desired_pods().items() if uid in self.pleg.records or uid in self.workers
        ]

    def _on_pod_update(self, old: Pod, new: Pod) -> None:
        """Like upstream's pod config, a change the kubelet did not cause wakes the worker; the status
        the kubelet itself just wrote does not (it would only trigger a pointless sync)."""
        if spec_changed(old, new) or pods.is_mirror(new):
            self._on_pod_event(new)

    def _on_pod_event(self, pod: Pod, *_: object) -> None:
        if not pods.is_mirror(pod):
            self.workers.update(pods.uid(pod))
        else:  # a mirror pod changed or went away: its static pod's worker recreates it if needed
            for uid, static in self.static.pods.items():
                if pods.name(static) == pods.name(pod) and pods.namespace(static) == pods.namespace(pod):
                    self.workers.update(uid)

    def pressure(self) -> dict[str, bool]:
        return self.eviction.conditions() if self.eviction is not None else {}

    def pleg_problem(self) -> str:
        """Upstream's PLEG health check: a relist that has not succeeded for 3 minutes makes the node
        NotReady (the runtime is hung, not just down)."""
        if not self.pleg.healthy_at:
            return ""
        stale = asyncio.get_running_loop().time() - self.pleg.healthy_at
        return (
            f"PLEG is not healthy: pleg was last seen active {stale:.0f}s ago"
            if stale > PLEG_MAX_STALE
            else ""
        )

    def on_allocatable(self, allocatable: dict[str, str]) -> None:
        self.volumes.node_allocatable = allocatable  # resourceFieldRef defaults and tmpfs sizes

    # ---- one pod -------------------------------------------------------------------------------

    async def sync_pod(self, uid: str) -> float | None:
        operation = "sync" if uid in self.pod_state else "create"
        with metrics.POD_WORKER_DURATION.labels(operation).time():
            return await self._sync_pod(uid)

    async def _sync_pod(self, uid: str) -> float | None:
        pod = self.desired(uid)
        record = await self.pleg.refresh(uid)
        if pod is None or pods.deletion_requested(pod) or self._finished(uid, pod, record):
            return await self.terminate_pod(uid, pod, record)
        state = self.pod_state.setdefault(uid, PodSyncState(first_seen=self.clock()))
        if state.admitted is None:
            rejection = self._admission(pod)
            state.admitted = rejection is None
            state.rejection = rejection
            if rejection is not None:
                self.event(pod, "Warning", rejection[0], rejection[1])
                state.terminal = ("Failed", rejection[0], rejection[1])
                await self._write_status(pod, record, state)
                return None
        if pods.is_static(pod):
            await self.static.ensure_mirror(pod)
        cgroup_parent = self.cgroups.ensure_pod(pod)
        try:
            self.pod_volumes[uid] = await self.volumes.set_up(pod)
        except VolumeError as error:
            self.event(pod, "Warning", error.reason, str(error))
            await self._write_status(pod, record, state)
            return VOLUME_RETRY_SECONDS
        unhealthy = self._unhealthy(uid, record)
        actions = compute_pod_actions(pod, record, backoff=self.crash_backoff, unhealthy=unhealthy)
        for name, waiting in actions.waiting.items():
            if waiting.reason == "CrashLoopBackOff":
                where = f"{pods.name(pod)}_{pods.namespace(pod)}({uid})"
                self.event(
                    pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {where}"
                )
        result = await self.runtime_manager.sync_pod(pod, record, actions, cgroup_parent)
        state.waiting = result.waiting
        if result.started and state.first_seen and not record.running_containers:
            metrics.POD_START_DURATION.observe(self.clock() - state.first_seen)
        if not actions.nothing:
            record = await self.pleg.refresh(uid)
        await self.runtime_manager.prune_dead_containers(record)
        self.probes.sync_pod(pod, running_containers(record), record.ip)
        await self._write_status(pod, record, state)
        return self._next_look(pod, actions, state)

    def _finished(self, uid: str, pod: Pod, record: PodRecord) -> bool:
        """A pod whose phase is terminal (Succeeded/Failed) only needs its runtime state cleaned up."""
        state = self.pod_state.get(uid)
        return pods.is_terminal_phase(pod) or bool(state and state.terminal)

    def _next_look(self, pod: Pod, actions: PodActions, state: PodSyncState) -> float | None:
        if state.waiting:
            return min(MAX_WAKE_SECONDS, 1.0 + min(self._backoff_left(pod, name) for name in state.waiting))
        return self.config.sync_frequency

    def _backoff_left(self, pod: Pod, name: str) -> float:
        from kubelet.actions import backoff_key

        container = pods.container_by_name(pod, name)
        record = self.pleg.record(pods.uid(pod)).latest(name)
        if container is None or record is None:
            return MAX_WAKE_SECONDS
        return self.crash_backoff.remaining(backoff_key(pod, container), record.finished_at)

    def _unhealthy(self, uid: str, record: PodRecord) -> dict[str, str]:
        unhealthy = {}
        for container in record.running_containers:
            message = self.probes.liveness_failed(uid, container.name)
            if message:
                unhealthy[container.id] = message
        return unhealthy

    def _admission(self, pod: Pod) -> tuple[str, str] | None:
        if self.eviction is not None:
            ok, reason, message = self.eviction.admit(pod)
            if not ok:
                return reason, message
        node = self.node_informer.store.objects()
        allocatable = (node[0].get("status") or {}).get("allocatable") if node else None
        if not allocatable:
            return None
        others = [p for p in self.active_pods() if pods.uid(p) != pods.uid(pod)]
        return admit(pod, others, allocatable)

    async def terminate_pod(self, uid: str, pod: Pod | None, record: PodRecord) -> float | None:
        """Upstream's SyncTerminatingPod + SyncTerminatedPod: kill with the grace period, tear down
        volumes and the cgroup, write the final status, and let a deleted API pod go."""
        state = self.pod_state.get(uid, PodSyncState())
        grace = pods.grace_period_seconds(pod) if pod is not None else 1
        if state.kill_grace is not None:
            grace = min(grace, state.kill_grace)
        if record.running_containers or any(s.ready for s in record.sandboxes):
            await self.runtime_manager.kill_pod(pod, record, grace)
            record = await self.pleg.refresh(uid)
        self.probes.remove_pod(uid)
        if pod is not None and not pods.deletion_requested(pod):
            # Finished on its own (Succeeded/Failed) or rejected: keep the record of what happened.
            await self._write_status(pod, record, state)
            return None
        await self.volumes.tear_down(uid)
        self.pod_volumes.pop(uid, None)
        self.cgroups.remove_pod(uid)
        if pod is not None and not pods.is_static(pod):
            await self._write_status(pod, record, state)
            await self._delete_api_pod(pod)
        await self.runtime_manager.remove_pod(record)
        await self.pleg.refresh(uid)
        self.pod_state.pop(uid, None)
        return DONE

    async def _write_status(self, pod: Pod, record: PodRecord, state: PodSyncState) -> None:
        inputs = StatusInputs(
            now=self.clock(),
            host_ip=self.settings.node_ip,
            waiting=state.waiting,
            ready=lambda name, c: self.probes.readiness(pods.uid(pod), name),
            started=lambda name, c: self.probes.started(pods.uid(pod), name),
            terminal=state.terminal,
            disruption=state.disruption,
        )
        target = pod
        if pods.is_static(pod):
            mirror = self.static.mirror_of(pod)
            if mirror is None:
                return
            target = mirror
        status = generate_pod_status({**pod, "status": target.get("status") or {}}, record, inputs)
        if status_equal(target.get("status") or {}, status):
            return
        patch = {
            "status": {
                **{key: None for key in ("reason", "message", "nominatedNodeName") if key not in status},
                **status,
            }
        }
        try:
            await self.client.patch(
                "pods",
                pods.name(target),
                patch,
                namespace=pods.namespace(target),
                subresource="status",
                content_type=MERGE_PATCH,
            )
        except ApiError as error:
            if not is_not_found(error):
                log.warning("Failed to update pod status", pod=pods.full_name(pod), err=str(error))

    async def _delete_api_pod(self, pod: Pod) -> None:
        """The last step of a graceful deletion: the kubelet confirms with grace period 0."""
        try:
            await self.client.delete(
                "pods",
                pods.name(pod),
                namespace=pods.namespace(pod),
                grace_period_seconds=0,
                preconditions={"uid": pods.uid(pod)},
            )
        except ApiError as error:
            if not (is_not_found(error) or is_conflict(error)):
                raise

    async def prepare_container(self, pod: Pod, container: dict[str, Any], pod_ip: str) -> Prepared:
        """The container's environment and mounts (upstream's GenerateRunContainerOptions)."""
        uid = pods.uid(pod)
        pod_ips = [pod_ip] if pod_ip else []
        try:
            config_maps, secrets = await fetch_env_sources(self.client, pod, container)
            env = make_environment(
                pod,
                container,
                pod_ip=pod_ip,
                pod_ips=pod_ips,
                host_ip=self.settings.node_ip,
                host_ips=[self.settings.node_ip],
                node_name=self.settings.name,
                services=self.service_informer.store.objects(),
                config_maps=config_maps,
                secrets=secrets,
                node_allocatable=self.volumes.node_allocatable,
                on_warning=lambda reason, message: self.event(pod, "Warning", reason, message),
            )
            pod_dir = self.volumes.pod_dir(uid)
            hosts = None
            if should_mount_hosts_file(pod, pod_ips):
                hosts = write_hosts_file(
                    pod_dir, pod, pod_ips, cluster_domain=self.config.cluster_domain or "cluster.local"
                )
            mounts = container_mounts(
                pod, container, self.pod_volumes.get(uid, {}), env=env, hosts_file=hosts
            )
            termination = termination_message_mount(pod_dir, container)
            if termination is not None:
                mounts.append(termination)
        except (EnvVarError, VolumeError, MountError, ValueError, OSError) as error:
            raise ContainerConfigError(str(error)) from error
        return env, mounts

    def event(self, pod: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Events about a static pod go to its mirror pod, which is what `kubectl describe` shows."""
        target = self.static.mirror_of(dict(pod)) if pods.is_static(dict(pod)) else pod
        self.recorder.event(target or pod, type_, reason, message)

    async def evict_pod(self, evicted: Mapping[str, Any], message: str) -> bool:
        """The eviction manager's kill: the pod fails with reason Evicted and is stopped (upstream's
        killPodNow); returns once its containers are gone, or after the grace period and a margin."""
        pod = dict(evicted)
        uid = pods.uid(pod)
        state = self.pod_state.setdefault(uid, PodSyncState())
        eviction = getattr(self.eviction, "last_eviction", None)
        state.kill_grace = getattr(eviction, "grace_period_seconds", None)
        metrics.EVICTIONS.labels(getattr(eviction, "signal", "")).inc()
        state.terminal = ("Failed", "Evicted", message)
        state.disruption = message
        self.workers.update(uid)
        deadline = self.clock() + (state.kill_grace or pods.grace_period_seconds(pod)) + 10
        while self.clock() < deadline:
            await asyncio.sleep(0.5)
            if not self.pleg.record(uid).running_containers:
                return True
        return False

    # ---- housekeeping ----------------------------------------------------------------------------

    async def housekeeping(self) -> None:
        """Pods CRI holds that no source wants any more (deleted while the kubelet was down, or
        force-deleted) get a worker that kills and removes them; orphaned volumes and cgroups go too."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            if not self.pod_informer.has_synced:
                continue
            wanted = self.desired_pods()
            for uid in set(self.pleg.records) - set(wanted) - self.workers.uids():
                self.workers.update(uid)
            for uid in (
                set(self.volumes.pods_on_disk()) - set(wanted) - set(self.pleg.records) - self.workers.uids()
            ):
                try:
                    await self.volumes.tear_down(uid)
                except VolumeError as error:
                    log.error("Orphaned pod volumes could not be removed", pod_uid=uid, err=str(error))
            for uid in self.cgroups.pod_uids() - set(wanted) - set(self.pleg.records) - self.workers.uids():
                self.cgroups.remove_pod(uid)
            await self.static.delete_orphaned_mirror_pods()
            self.crash_backoff.gc()

    async def rotate_logs(self, rotator: LogRotator) -> None:
        """Every containerLogMonitorInterval, rotate the logs of running containers that outgrew
        containerLogMaxSize (upstream's container log manager)."""
        logs_dir = Path(self.config.pod_logs_dir)
        while True:
            await asyncio.sleep(self.config.container_log_monitor_interval)
            for record in list(self.pleg.records.values()):
                directory = labels.pod_log_dir(logs_dir, record.namespace, record.name, record.uid)
                for container in record.running_containers:
                    path = directory / labels.container_log_path(container.name, container.attempt)
                    try:
                        await rotator.rotate(container.id, path)
                    except OSError as error:
                        log.error("Failed to rotate a container log", path=str(path), err=str(error))

    def on_pleg(self, changed: set[str]) -> None:
        for uid in changed:
            if uid in self.workers or self.desired(uid) is not None or uid in self.pleg.records:
                self.workers.update(uid)

    # ---- running it all ----------------------------------------------------------------------------

    async def run(self) -> None:
        self.cgroups.ensure_qos_tiers()
        await self.node.register_node()
        self.pod_informer.add_handler(self._on_pod_event, self._on_pod_update, self._on_pod_event)
        self.node_informer.add_handler(self.node.on_node_event, self.node.on_node_event)
        async with asyncio.TaskGroup() as tasks:
            for informer in (self.pod_informer, self.service_informer, self.node_informer):
                tasks.create_task(informer.run())
            await self.pod_informer.wait_synced()
            await self.pleg.relist()
            for uid in set(self.pleg.records) | set(self.desired_pods()):
                self.workers.update(uid)
            tasks.create_task(self.pleg.run(self.on_pleg), name="pleg")
            tasks.create_task(self.node.node_status_loop(), name="node-status")
            tasks.create_task(self.node.lease_loop(), name="node-lease")
            tasks.create_task(self.housekeeping(), name="housekeeping")
            if self.config.static_pod_path:
                tasks.create_task(self.static.watch_static_pods(), name="static-pods-file")
            if self.config.static_pod_url:
                tasks.create_task(self.static.watch_static_pod_url(), name="static-pods-http")
            try:
                await asyncio.Event().wait()
            finally:
                await self.workers.stop()
