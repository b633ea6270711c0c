"""The nodes of a local cluster in `kplane up`, `down` and `status`: per node a containerd and a
kubelet, supervised like the control plane's processes (deploy.node plans them, deploy.node_runtime
does the host I/O).

up, per node: files and network namespace, containerd (inside the namespace for nodes 2..N), the
local images imported into it, the node's KubeletConfiguration, the kubelet; then, for namespaced
nodes, wait for the controller-manager to give the Node a podCIDR and route it to the namespace.
down, per node: the kubelet, every pod through CRI, containerd, then whatever is left on the host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from componentbase.cli import CommandError
from deploy.hostnet import IP_FORWARD, Runner, run_command
from deploy.images.containerd import ContainerdError
from deploy.images.rootfs import ImageBuildError
from deploy.node import (
    NodePlan,
    cluster_node_plans,
    containerd_process,
    kubelet_config,
    kubelet_config_file,
    kubelet_process,
    pod_cidr_route,
    proxy_process,
    registry_process,
)
from deploy.node_runtime import (
    blocking,
    clean_up_node,
    ensure_images,
    import_images,
    remove_all_pods,
    set_up_link,
    wait_for_socket,
    write_node_files,
)
from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec, Supervisor, probe_health
from kubeclient.config import load_kubeconfig
from kubeclient.errors import KubeClientError
from kubeclient.rest import Client

POD_CIDR_TIMEOUT_SECONDS = 60.0
REGISTRY_TIMEOUT_SECONDS = 30.0
Output = Callable[[str], None]


@dataclass
class NodeLauncher:
    state: StateDir
    settings: ClusterSettings
    supervisor: Supervisor
    out: Output = print
    runner: Runner = run_command

    @property
    def plans(self) -> list[NodePlan]:
        return cluster_node_plans(self.state, self.settings)

    def specs(self) -> list[ProcessSpec]:
        """In start order: the registry, then each node's containerd, kubelet and kube-proxy."""
        nodes = [
            spec
            for plan in self.plans
            for spec in (containerd_process(plan), self.kubelet(plan), proxy_process(plan, self.state))
        ]
        return [registry_process(self.state, self.plans), *nodes]

    def kubelet(self, plan: NodePlan) -> ProcessSpec:
        return kubelet_process(plan, self.state)

    # ---- up ----

    def start_runtimes(self) -> list[str]:
        """Every node's containerd, running and holding the local images; returns what it started."""
        try:
            images_dir = ensure_images(self.state.images_dir)
        except ImageBuildError as error:
            raise CommandError(f"cannot build the node images: {error}") from None
        if len(self.plans) > 1:
            # Pods on different nodes reach each other through the host (the KPLANE-FWD chain keeps
            # that traffic inside the cluster); `down` restores the value the cluster found.
            IP_FORWARD.write_text("1\n")
        for plan in self.plans:
            write_node_files(plan)
            if plan.link is not None:
                set_up_link(plan, self.runner)
        started = self.start_registry()  # it listens on the links' host ends: after them
        for plan in self.plans:
            spec = containerd_process(plan)
            if self.supervisor.running_pid(spec.name) is None:
                pid = self.supervisor.start(spec)
                self.out(f"started {spec.name} (pid {pid}, log {self.supervisor.log_file(spec.name)})")
                started.append(spec.name)
            self._wait_runtime(plan, spec.name)
            try:
                import_images(plan, images_dir)
            except ContainerdError as error:
                raise CommandError(f"{plan.name}: {error}") from None
        return started

    def start_registry(self) -> list[str]:
        """The registry every node pulls from (even `imagePullPolicy: Always` pulls of `busybox`)."""
        spec = registry_process(self.state, self.plans)
        if self.supervisor.running_pid(spec.name) is not None:
            return []
        pid = self.supervisor.start(spec)
        log = self.supervisor.log_file(spec.name)
        self.out(f"started {spec.name} (pid {pid}, log {log})")
        deadline = time.monotonic() + REGISTRY_TIMEOUT_SECONDS
        while (health := probe_health(spec)) != "ok":
            if self.supervisor.running_pid(spec.name) is None:
                raise CommandError(f"{spec.name} exited during start-up; see {log}")
            if time.monotonic() > deadline:
                raise CommandError(
                    f"{spec.name} is not healthy after {REGISTRY_TIMEOUT_SECONDS:.0f}s ({health}); see {log}"
                )
            time.sleep(0.1)
        return [spec.name]

    def _wait_runtime(self, plan: NodePlan, name: str) -> None:
        def alive() -> bool:
            return self.supervisor.running_pid(name) is not None

        wait_for_socket(plan, alive, log=self.supervisor.log_file(name))

    def start_kubelets(self) -> list[str]:
        started = []
        for plan in self.plans:
            config_file = kubelet_config_file(plan, self.state)
            config_file.write_text(yaml.safe_dump(kubelet_config(plan, self.state), sort_keys=False))
            spec = self.kubelet(plan)
            if self.supervisor.running_pid(spec.name) is None:
                pid = self.supervisor.start(spec)
                self.out(f"started {spec.name} (pid {pid}, log {self.supervisor.log_file(spec.name)})")
                started.append(spec.name)
        return started

    def start_proxies(self) -> list[str]:
        started = []
        for plan in self.plans:
            spec = proxy_process(plan, self.state)
            if self.supervisor.running_pid(spec.name) is None:
                pid = self.supervisor.start(spec)
                self.out(f"started {spec.name} (pid {pid}, log {self.supervisor.log_file(spec.name)})")
                started.append(spec.name)
        return started

    def route_pod_cidrs(self) -> None:
        """The host's routes to namespaced nodes' pods, once each Node has its podCIDR."""
        for plan in self.plans:
            if plan.link is None:
                continue
            pod_cidr = blocking(self.node_pod_cidr(plan.name))
            route = pod_cidr_route(plan, pod_cidr)
            assert route is not None
            result = self.runner(route)
            if result.returncode != 0:
                raise CommandError(f"`{' '.join(route)}` failed: {result.stderr.strip()}")

    async def node_pod_cidr(self, node: str) -> str:
        config = load_kubeconfig(self.state.admin_kubeconfig)
        deadline = time.monotonic() + POD_CIDR_TIMEOUT_SECONDS
        async with Client(config, timeout=5) as client:
            while True:
                try:
                    pod_cidr = (await client.get("nodes", node)).get("spec", {}).get("podCIDR")
                except KubeClientError:
                    pod_cidr = None  # not registered yet
                if pod_cidr:
                    return str(pod_cidr)
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"node {node} has no spec.podCIDR after {POD_CIDR_TIMEOUT_SECONDS:.0f}s; see "
                        f"{self.supervisor.log_file(f'kubelet-{node}')} and the controller-manager's log"
                    )
                await asyncio.sleep(0.5)

    # ---- down ----

    def stop(self) -> list[str]:
        """Stop every node (last first) and clear what it left on the host; returns what it stopped."""
        stopped = []
        for plan in reversed(self.plans):
            proxy = proxy_process(plan, self.state)
            if self.supervisor.stop(proxy.name):
                stopped.append(proxy.name)
            # `kplane-proxy --cleanup`: its rules outlive it on purpose (traffic keeps flowing across a
            # restart), so `down` removes them, before the node's namespace goes.
            cleanup = self.runner(list(proxy_process(plan, self.state, cleanup=True).argv))
            if cleanup.returncode != 0:
                self.out(f"{plan.name}: kplane-proxy --cleanup failed: {cleanup.stderr.strip()[-300:]}")
            kubelet = self.kubelet(plan).name
            if self.supervisor.stop(kubelet):
                stopped.append(kubelet)
            containerd = containerd_process(plan).name
            if self.supervisor.running_pid(containerd) is not None:
                try:
                    blocking(remove_all_pods(plan.endpoint, request_timeout=30))
                except Exception as error:
                    self.out(f"{plan.name}: removing pods through CRI failed ({error}); cleaning up by hand")
            if self.supervisor.stop(containerd):
                stopped.append(containerd)
            clean_up_node(plan, self.runner, unmount_netns_dir=not self.settings.netns_dir_was_mounted)
        registry = registry_process(self.state, self.plans).name
        if self.supervisor.stop(registry):
            stopped.append(registry)
        return stopped
