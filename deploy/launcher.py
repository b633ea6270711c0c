"""`kplane up`, `down` and `status`: a local cluster, each component its own OS process."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import yaml

from componentbase.cli import CommandError
from deploy.components import COMPONENTS, Component
from deploy.hostnet import HostNetwork, NetworkPlan, read_ip_forward, restore_ip_forward
from deploy.node import node_link_range
from deploy.node_launcher import NodeLauncher
from deploy.node_runtime import NETNS_DIR, is_mount_point
from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec, Supervisor, probe_health
from pki import PkiSpec, init_pki, merge_kubeconfig, remove_context

HEALTH_TIMEOUT_SECONDS = 60.0
Output = Callable[[str], None]


def user_kubeconfig() -> Path:
    """Where kubectl looks: the first file in $KUBECONFIG, else ~/.kube/config."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(paths[0]) if paths else Path.home() / ".kube" / "config"


def network_of(state: StateDir, settings: ClusterSettings) -> HostNetwork:
    # Namespaced nodes' links are part of the cluster: their pods may talk to the kubelets there.
    links = (str(node_link_range(state.cluster_id)),)
    return HostNetwork(NetworkPlan(state.cluster_id, settings.service_cidr, settings.pod_cidr, links))


@contextmanager
def locked(state: StateDir) -> Iterator[None]:
    """One `up` or `down` at a time per cluster."""
    state.root.mkdir(parents=True, exist_ok=True)
    with (state.root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@dataclass
class Launcher:
    state: StateDir
    components: Sequence[Component] = COMPONENTS
    out: Output = print

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.state.run_dir, self.state.log_dir)

    def specs(self, settings: ClusterSettings) -> list[ProcessSpec]:
        """The control plane's processes, in start order (nodes: `nodes`)."""
        return [c.process(self.state, settings) for c in self.components if c.process is not None]

    def nodes(self, settings: ClusterSettings) -> NodeLauncher | None:
        """The node launcher, if this launcher runs nodes (the kubelet is built)."""
        if any(c.per_node and c.built for c in self.components):
            return NodeLauncher(self.state, settings, self.supervisor, self.out)
        return None

    def up(self, requested: ClusterSettings) -> int:
        with locked(self.state):
            existed = self.state.exists()
            settings = self._settings_for_up(requested)
            self.state.make_dirs()
            pki = init_pki(
                self.state.pki,
                PkiSpec(nodes=tuple(settings.nodes), service_cidr=settings.service_cidr),
                kubeconfig_dir=self.state.root,
            )
            self.state.save_settings(settings)
            network = network_of(self.state, settings)
            network_was_up = network.is_set_up()
            network.set_up()
            started = self._start_missing(settings)
            self._wait_healthy([s for s in self.specs(settings) if s.name in started])
            nodes = self.nodes(settings)
            if nodes is not None:
                started += nodes.start_runtimes()
                started += nodes.start_kubelets()
                self._wait_healthy([nodes.kubelet(plan) for plan in nodes.plans])
                nodes.route_pod_cidrs()
                started += nodes.start_proxies()
            merge_kubeconfig(
                user_kubeconfig(),
                yaml.safe_load(self.state.admin_kubeconfig.read_text()),
                context_name=self.state.context_name,
            )
        if existed and network_was_up and not started and not pki.created:
            self.out(f"kplane is already up ({self.state.root})")
        else:
            self.out(f"kplane is up ({self.state.root}): started {', '.join(started) or 'no components'}")
        self._print_next_steps()
        return 0

    def _settings_for_up(self, requested: ClusterSettings) -> ClusterSettings:
        """A cluster keeps the CIDRs and nodes it was created with; asking for others is an error."""
        if not self.state.exists():
            requested.original_ip_forward = read_ip_forward()
            requested.netns_dir_was_mounted = is_mount_point(NETNS_DIR)
            return requested
        current = self.state.load_settings()
        fields = ["service_cidr", "pod_cidr", "nodes"] + (["proxy_mode"] if requested.proxy_mode else [])
        for field in fields:
            if getattr(requested, field) != getattr(current, field):
                raise CommandError(
                    f"the cluster at {self.state.root} has {field}={getattr(current, field)}, not "
                    f"{getattr(requested, field)}; run `kplane down --purge` first to change it"
                )
        return current

    def _start_missing(self, settings: ClusterSettings) -> list[str]:
        started = []
        for spec in self.specs(settings):
            if self.supervisor.running_pid(spec.name) is None:
                pid = self.supervisor.start(spec)
                self.out(f"started {spec.name} (pid {pid}, log {self.supervisor.log_file(spec.name)})")
                started.append(spec.name)
        return started

    def _wait_healthy(self, specs: Sequence[ProcessSpec]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        waiting = list(specs)
        while waiting:
            spec = waiting[0]
            if self.supervisor.running_pid(spec.name) is None:
                raise CommandError(
                    f"{spec.name} exited during start-up; see {self.supervisor.log_file(spec.name)}"
                )
            health = probe_health(spec)
            if health == "ok":
                waiting.pop(0)
            elif time.monotonic() > deadline:
                raise CommandError(
                    f"{spec.name} is not healthy after {HEALTH_TIMEOUT_SECONDS:.0f}s ({health}); "
                    f"see {self.supervisor.log_file(spec.name)}"
                )
            else:
                time.sleep(0.2)

    def _print_next_steps(self) -> None:
        self.out(
            f"admin kubeconfig: {self.state.admin_kubeconfig} (context {self.state.context_name!r} "
            f"merged into {user_kubeconfig()})"
        )
        if any(c.name == "apiserver" and c.built for c in self.components):
            self.out(f"try: kubectl --context {self.state.context_name} get namespaces")
        else:
            self.out("the apiserver is not built yet, so there is nothing for kubectl to talk to")

    def down(self, purge: bool = False) -> int:
        if not self.state.root.is_dir():
            raise CommandError(f"no kplane cluster at {self.state.root}")
        with locked(self.state):
            settings = self.state.load_settings() if self.state.exists() else ClusterSettings()
            stopped = []
            if self.state.nodes_dir.is_dir():  # nodes first: pods go through CRI while containerd runs
                stopped += NodeLauncher(self.state, settings, self.supervisor, self.out).stop()
            stopped += [name for name in self._stop_order() if self.supervisor.stop(name)]
            removed = network_of(self.state, settings).tear_down()
            restore_ip_forward(settings.original_ip_forward)
            if purge:
                remove_context(user_kubeconfig(), self.state.context_name)
        if purge:
            shutil.rmtree(self.state.root)
        if not stopped and not removed:
            self.out(f"nothing was running in {self.state.root}" + ("; state removed" if purge else ""))
        else:
            self.out(
                f"kplane is down ({self.state.root}): stopped {', '.join(stopped) or 'no components'}, "
                f"removed {len(removed)} host network objects" + ("; state removed" if purge else "")
            )
        return 0

    def _stop_order(self) -> list[str]:
        """Reverse start order, then anything else that left a PID file."""
        known = [c.name for c in reversed(self.components)]
        return known + [name for name in self.supervisor.recorded() if name not in known]

    def status(self) -> int:
        settings = self.state.load_settings()
        rows = [("COMPONENT", "PID", "HEALTH", "ADDRESS", "VERSION")]
        healthy = True
        kplane_version = version("kplane")
        for component in self.components:
            if not component.built:
                rows.append(
                    (component.name, "-", f"not built yet (issue {component.issue})", component.ports, "-")
                )
                continue
            if component.per_node:
                specs = NodeLauncher(self.state, settings, self.supervisor, self.out).specs()
            else:
                assert component.process is not None
                specs = [component.process(self.state, settings)]
            for spec in specs:
                pid = self.supervisor.running_pid(spec.name)
                health = probe_health(spec) if pid else "stopped"
                healthy &= health == "ok"
                rows.append((spec.name, str(pid or "-"), health, spec.address, kplane_version))
        network = network_of(self.state, settings)
        network_ok = network.is_set_up()
        healthy &= network_ok
        rows.append(
            (
                "host-network",
                "-",
                "ok" if network_ok else "missing",
                f"{settings.service_cidr} -> {network.plan.bridge}",
                "-",
            )
        )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            self.out(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
                + "  "
                + row[-1]
            )
        return 0 if healthy else 1
