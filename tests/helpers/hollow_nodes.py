"""Hollow nodes for control-plane tests (kubemark's idea, without containers): Node objects whose
Leases are renewed, and pods bound to them reported Running and Ready with a pod IP, and pods being
deleted removed, as a kubelet would. Runs in a background thread with its own event loop, through
the real apiserver (admin credentials).

    with HollowNodes(cp, ["node-a", "node-b"]) as nodes:
        nodes.set_ready("default/web-abcde", False)   # readiness probe starts failing
        nodes.stop_heartbeat("node-b")                # the kubelet dies
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from datetime import UTC, datetime
from typing import Any

from helpers.control_plane import ControlPlane
from helpers.scheduling import make_node
from kubeclient.config import load_kubeconfig
from kubeclient.errors import KubeClientError, is_conflict, is_not_found
from kubeclient.informer import Informer
from kubeclient.rest import STRATEGIC_MERGE_PATCH, Client

Obj = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HollowNodes:
    def __init__(
        self,
        cp: ControlPlane,
        names: list[str],
        *,
        labels: dict[str, dict[str, str]] | None = None,
        cpu: str = "8",
        heartbeat: float = 1.0,
        pods_per_node: str = "110",
    ) -> None:
        self.cp = cp
        self.names = list(names)
        self.labels = labels or {}
        self.cpu = cpu
        self.pods_per_node = pods_per_node
        self.heartbeat = heartbeat
        self.beating = set(names)
        self.not_ready: set[str] = set()  # pod keys whose readiness is False
        self._ips = {name: ipaddress.ip_network(f"10.244.{i}.0/24").hosts() for i, name in enumerate(names)}
        self._pod_ips: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._task: asyncio.Future[None] | None = None
        self.errors: list[str] = []

    def __enter__(self) -> HollowNodes:
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def stop_heartbeat(self, node: str) -> None:
        self.beating.discard(node)

    def set_ready(self, pod_key: str, ready: bool) -> None:
        (self.not_ready.discard if ready else self.not_ready.add)(pod_key)
        self._submit(self._report_pod_by_key(pod_key))

    def _submit(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _run(self) -> None:
        async with Client(load_kubeconfig(self.cp.kubeconfig)) as client:
            self.client = client
            for name in self.names:
                node = make_node(name, cpu=self.cpu, pods=self.pods_per_node, labels=self.labels.get(name))
                node["status"]["conditions"][0].update(
                    {"lastHeartbeatTime": _now(), "lastTransitionTime": _now(), "reason": "KubeletReady"}
                )
                node["status"]["addresses"] = [
                    {"type": "InternalIP", "address": f"192.168.200.{self.names.index(name) + 1}"}
                ]
                with contextlib.suppress(KubeClientError):  # it exists already
                    await client.create("nodes", node)
            self.pods = Informer(client, "pods")
            self.pods.add_handler(self._on_pod, lambda _, new: self._on_pod(new), None)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.pods.run())
                tasks.create_task(self._heartbeats())

    async def _heartbeats(self) -> None:
        """Renew the Leases of the nodes still beating, and (like the kubelet's periodic sync)
        finish any deletion of a pod on our nodes that an event did not get done."""
        while True:
            for name in list(self.beating):
                await self._renew(name)
            for pod in self.pods.store.objects():
                if (
                    pod["metadata"].get("deletionTimestamp")
                    and (pod.get("spec") or {}).get("nodeName") in self.names
                ):
                    await self._handle(pod)
            await asyncio.sleep(self.heartbeat)

    async def _renew(self, name: str) -> None:
        spec = {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro_now()}
        try:
            lease = await self.client.get("leases.coordination.k8s.io", name, namespace="kube-node-lease")
            await self.client.update(
                "leases.coordination.k8s.io",
                {**lease, "spec": {**lease["spec"], **spec}},
                namespace="kube-node-lease",
            )
        except KubeClientError as error:
            if not is_not_found(error):
                return
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            try:
                await self.client.create("leases.coordination.k8s.io", body, namespace="kube-node-lease")
            except KubeClientError:
                return

    def _on_pod(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.names:
            self._submit(self._handle(pod))

    async def _report_pod_by_key(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        with contextlib.suppress(KubeClientError):  # gone meanwhile
            await self._handle(await self.client.get("pods", name, namespace=namespace))

    async def _handle(self, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        try:
            if meta.get("deletionTimestamp"):  # the containers stopped: confirm the deletion
                await self.client.delete(
                    "pods",
                    meta["name"],
                    namespace=meta["namespace"],
                    grace_period_seconds=0,
                    preconditions={"uid": meta["uid"]},
                )
                return
            ready = "False" if key in self.not_ready else "True"
            conditions = {c["type"]: c.get("status") for c in status.get("conditions") or ()}
            if status.get("phase") == "Running" and conditions.get("Ready") == ready:
                return
            ip = self._pod_ips.setdefault(meta["uid"], str(next(self._ips[spec["nodeName"]])))
            now = _now()
            new_status = {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "hostIP": f"192.168.200.{self.names.index(spec['nodeName']) + 1}",
                "startTime": now,
                "conditions": [
                    {"type": t, "status": s, "lastTransitionTime": now}
                    for t, s in (
                        ("PodScheduled", "True"),
                        ("Initialized", "True"),
                        ("ContainersReady", ready),
                        ("Ready", ready),
                    )
                ],
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c.get("image", ""),
                        "imageID": "",
                        "ready": ready == "True",
                        "restartCount": 0,
                        "started": True,
                        "state": {"running": {"startedAt": now}},
                    }
                    for c in spec.get("containers") or ()
                ],
            }
            await self.client.patch(
                "pods",
                meta["name"],
                {"status": new_status},
                namespace=meta["namespace"],
                subresource="status",
                content_type=STRATEGIC_MERGE_PATCH,
            )
        except KubeClientError as error:
            # gone: nothing to do; a conflict with a concurrent writer: the next sync tries again,
            # as a kubelet would
            if not (is_not_found(error) or is_conflict(error)):
                self.errors.append(f"{key}: {error}")
