"""The kubelet's side of its Node: registration, the status it reports every nodeStatusUpdateFrequency
(upstream's kubelet_node_status.go and the node status setters in kubelet.node_status), the podCIDR it
hands to the runtime, and the kube-node-lease Lease it renews every leaseDuration/4.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from componentbase.klog import get_logger
from kubeclient.errors import ApiError, KubeClientError, is_already_exists, is_not_found
from kubeclient.rest import MERGE_PATCH, Client
from kubelet.config import KubeletConfiguration
from kubelet.cri.client import CRIError, RuntimeClient
from kubelet.node_status import NodeFacts, NodeHealth, initial_node, node_status, status_changed

log = get_logger(__name__)

LEASE_NAMESPACE = "kube-node-lease"


class NodeAgent:
    def __init__(
        self,
        config: KubeletConfiguration,
        settings: Any,  # kubelet.kubelet.NodeSettings
        client: Client,
        runtime: RuntimeClient,
        clock: Callable[[], float],
        *,
        pressure: Callable[[], Mapping[str, bool]] = dict,
        pleg_problem: Callable[[], str] = str,
        on_allocatable: Callable[[dict[str, str]], None] = lambda allocatable: None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.client = client
        self.runtime = runtime
        self.clock = clock
        self.pressure = pressure
        self.pleg_problem = pleg_problem
        self.on_allocatable = on_allocatable
        self.facts = NodeFacts(
            name=settings.name, node_ip=settings.node_ip, hostname=settings.hostname, port=config.port
        )
        self.health = NodeHealth()
        self.pod_cidr = ""
        self.node_status_due = asyncio.Event()

    async def refresh_facts(self) -> None:
        stat = os.statvfs(self.settings.root_dir)
        self.facts.ephemeral_storage_bytes = stat.f_blocks * stat.f_frsize
        try:
            version = await self.runtime.version()
            self.facts.runtime_version = f"{version.runtime_name}://{version.runtime_version}"
            status = await self.runtime.status()
            conditions = {c.type: c for c in status.status.conditions}
            runtime, network = conditions.get("RuntimeReady"), conditions.get("NetworkReady")
            self.health.runtime_ready = bool(runtime and runtime.status)
            self.health.network_ready = bool(network and network.status)
            self.health.runtime_message = (
                ""
                if self.health.runtime_ready
                else f"container runtime not ready: {runtime.message if runtime else ''}"
            )
            images = await self.runtime.list_images()
            self.facts.images = sorted(
                (
                    {"names": [*image.repo_tags, *image.repo_digests], "sizeBytes": image.size}
                    for image in images
                ),
                key=lambda image: -int(image["sizeBytes"]),
            )
        except CRIError as error:
            self.health.runtime_ready = False
            self.health.runtime_message = f"container runtime is down: {error.message}"
        self.health.pressure = self.pressure()
        self.health.pleg_message = self.pleg_problem()

    async def register_node(self) -> None:
        """Create the Node, or adopt the one that exists (a restarted kubelet); retried until it works."""
        delay = 0.1
        while True:
            await self.refresh_facts()
            node = initial_node(self.facts, self.config, self.settings.labels, self.settings.taints)
            node["status"] = node_status(node, self.facts, self.config, self.health, self.clock())
            try:
                await self.client.create("nodes", node)
                log.info("Successfully registered node", node=self.settings.name)
                return
            except ApiError as error:
                if is_already_exists(error):
                    await self._reconcile_existing_node(node)
                    return
                log.error("Unable to register node with API server", node=self.settings.name, err=str(error))
            except KubeClientError as error:
                log.error("Unable to register node with API server", node=self.settings.name, err=str(error))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 7.0)

    async def _reconcile_existing_node(self, wanted: dict[str, Any]) -> None:
        labels = wanted["metadata"]["labels"]
        await self.client.patch(
            "nodes", self.settings.name, {"metadata": {"labels": labels}}, content_type=MERGE_PATCH
        )
        log.info("Node was previously registered", node=self.settings.name)

    def on_node_event(self, node: dict[str, Any], *_: object) -> None:
        """A podCIDR appearing on our Node is worth a status update now, not at the next tick: the
        runtime's network (and so the node's readiness) waits for it."""
        if (node.get("spec") or {}).get("podCIDR", "") != self.pod_cidr:
            self.node_status_due.set()

    async def node_status_loop(self) -> None:
        last_report = 0.0
        while True:
            try:
                current = await self.client.get("nodes", self.settings.name)
                await self._follow_pod_cidr(current)
                await self.refresh_facts()
                status = node_status(current, self.facts, self.config, self.health, self.clock())
                self.on_allocatable(status["allocatable"])
                now = self.clock()
                if (
                    status_changed(current.get("status") or {}, status)
                    or now - last_report >= self.config.node_status_report_frequency
                ):
                    await self.client.patch(
                        "nodes",
                        self.settings.name,
                        {"status": status},
                        subresource="status",
                        content_type=MERGE_PATCH,
                    )
                    last_report = now
            except ApiError as error:
                if is_not_found(error):
                    await self.register_node()  # someone deleted our Node: register again
                else:
                    log.error("Error updating node status", err=str(error))
            except KubeClientError as error:
                log.error("Error updating node status", err=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.node_status_due.wait(), self.config.node_status_update_frequency)
            self.node_status_due.clear()

    async def _follow_pod_cidr(self, node: dict[str, Any]) -> None:
        """The node's podCIDR (allocated by the controller manager) goes to the runtime, which renders
        its CNI config from it (upstream's updatePodCIDR)."""
        cidr = (node.get("spec") or {}).get("podCIDR", "")
        if cidr and cidr != self.pod_cidr:
            try:
                await self.runtime.update_runtime_config(cidr)
                self.pod_cidr = cidr
                log.info("Updated pod CIDR", cidr=cidr)
            except CRIError as error:
                log.error("Failed to update pod CIDR", err=str(error))

    async def lease_loop(self) -> None:
        """Renew kube-node-lease/<node> every leaseDuration/4 (10 s by default)."""
        interval = self.config.node_lease_duration_seconds / 4
        while True:
            try:
                await self._renew_lease()
            except KubeClientError as error:
                log.error("Failed to update lease", err=str(error))
            await asyncio.sleep(interval)

    async def _renew_lease(self) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {
            "holderIdentity": self.settings.name,
            "leaseDurationSeconds": self.config.node_lease_duration_seconds,
            "renewTime": now,
        }
        try:
            lease = await self.client.get(
                "leases.coordination.k8s.io", self.settings.name, namespace=LEASE_NAMESPACE
            )
        except ApiError as error:
            if not is_not_found(error):
                raise
            node = await self.client.get("nodes", self.settings.name)
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.settings.name,
                    "namespace": LEASE_NAMESPACE,
                    "ownerReferences": [
                        {
                            "apiVersion": "v1",
                            "kind": "Node",
                            "name": self.settings.name,
                            "uid": node["metadata"]["uid"],
                        }
                    ],
                },
                "spec": spec,
            }
            await self.client.create("leases.coordination.k8s.io", lease, namespace=LEASE_NAMESPACE)
            return
        lease["spec"] = {**(lease.get("spec") or {}), **spec}
        await self.client.update("leases.coordination.k8s.io", lease, namespace=LEASE_NAMESPACE)
