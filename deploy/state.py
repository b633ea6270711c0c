"""A local cluster's state directory: where `kplane up` keeps PKI, configs, logs and PIDs.

Layout (like kubeadm's /etc/kubernetes and kubernetes-the-hard-way's fixed paths):

    D/cluster.json      settings the cluster was created with (CIDRs, nodes, host network names)
    D/pki/              CAs, certificates and keys, laid out like /etc/kubernetes/pki
    D/admin.conf ...    kubeconfigs (admin, scheduler, controller-manager, kube-proxy, kubelet-<node>)
    D/config/           component config files
    D/logs/<c>.log      each component's stdout and stderr
    D/run/<c>.pid       "<pid> <start-time>" of each running component
    D/images/           locally built image tarballs
    D/nodes/<node>/     per-node containerd, kubelet root and CNI config (later issues)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from componentbase.cli import CommandError

STATE_DIR_ENV = "KPLANE_STATE_DIR"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_POD_CIDR = "10.244.0.0/16"


def default_state_dir() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "kplane"


def resolve_state_dir(flag_value: str | None) -> Path:
    """`--state-dir`, else $KPLANE_STATE_DIR, else ~/.local/state/kplane; always absolute."""
    chosen = flag_value or os.environ.get(STATE_DIR_ENV) or default_state_dir()
    return Path(chosen).expanduser().resolve()


@dataclass
class ClusterSettings:
    """What `kplane up` was asked for; stored so later commands (status, down) agree with it."""

    service_cidr: str = DEFAULT_SERVICE_CIDR
    pod_cidr: str = DEFAULT_POD_CIDR
    nodes: list[str] = field(default_factory=lambda: ["node-1"])
    proxy_mode: str = ""  # kplane-proxy's mode on every node; "" = nftables where the kernel has it
    original_ip_forward: str | None = None  # restored by `down`: the CNI bridge plugin turns it on
    netns_dir_was_mounted: bool = False  # `ip netns add` mounts /run/netns; `down` undoes only ours


@dataclass(frozen=True)
class StateDir:
    root: Path

    @property
    def cluster_id(self) -> str:
        """Six hex digits derived from the path: names host objects (bridge, chain) per cluster,
        so several clusters can live side by side."""
        return hashlib.sha256(str(self.root).encode()).hexdigest()[:6]

    @property
    def context_name(self) -> str:
        """The kubeconfig context `up` merges: `kplane` for the default state dir, else
        `kplane-<dir name>`."""
        if self.root == default_state_dir().resolve():
            return "kplane"
        return "kplane-" + (re.sub(r"[^a-zA-Z0-9-]+", "-", self.root.name).strip("-") or self.cluster_id)

    pki = property(lambda self: self.root / "pki")
    config_dir = property(lambda self: self.root / "config")
    log_dir = property(lambda self: self.root / "logs")
    run_dir = property(lambda self: self.root / "run")
    images_dir = property(lambda self: self.root / "images")
    nodes_dir = property(lambda self: self.root / "nodes")
    admin_kubeconfig = property(lambda self: self.root / "admin.conf")
    settings_file = property(lambda self: self.root / "cluster.json")

    def exists(self) -> bool:
        return bool(self.settings_file.is_file())

    def load_settings(self) -> ClusterSettings:
        try:
            raw = json.loads(self.settings_file.read_text())
            return ClusterSettings(**raw)
        except FileNotFoundError:
            raise CommandError(f"no kplane cluster at {self.root} (run `kplane up` first)") from None
        except (ValueError, TypeError) as err:
            raise CommandError(f"{self.settings_file}: unreadable cluster settings: {err}") from None

    def save_settings(self, settings: ClusterSettings) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.settings_file.with_suffix(".tmp")
        temp.write_text(json.dumps(asdict(settings), indent=2) + "\n")
        temp.replace(self.settings_file)

    def make_dirs(self) -> None:
        for directory in (self.root, self.config_dir, self.log_dir, self.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)  # it holds private keys
