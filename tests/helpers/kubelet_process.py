"""A real kplane-kubelet process on a ContainerdNode, registered with a ControlPlane's apiserver under its
own node identity (pki's kubelet-<node> certificate), with timings short enough for tests.

    with ContainerdNode(root, "node-1", "10.244.31.0/24") as node:
        kubelet = KubeletProcess(cp, node).start()     # waits for /healthz and the Node object
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from helpers.components import stop_process
from helpers.containerd_node import ContainerdNode
from helpers.control_plane import ControlPlane
from helpers.etcd_member import free_port


class KubeletProcess:
    def __init__(
        self,
        cp: ControlPlane,
        node: ContainerdNode,
        *,
        config: dict[str, Any] | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.cp = cp
        self.node = node
        self.name = node.name
        self.port = free_port()
        self.healthz_port = free_port()
        self.dir = node.dir / "kubelet"
        self.manifests = node.dir / "manifests"
        self.pod_logs = node.dir / "pod-logs"
        self.log_path = node.dir / "kubelet.log"
        pki = cp.pki
        settings: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.port,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            "tlsCertFile": str(pki / f"kubelet-{self.name}.crt"),
            "tlsPrivateKeyFile": str(pki / f"kubelet-{self.name}.key"),
            "authentication": {"x509": {"clientCAFile": str(pki / "ca.crt")}},
            "staticPodPath": str(self.manifests),
            "podLogsDir": str(self.pod_logs),
            "cgroupRoot": node.cgroup_root,
            "containerRuntimeEndpoint": node.endpoint,
            "fileCheckFrequency": "1s",
            "syncFrequency": "10s",
            "nodeStatusUpdateFrequency": "2s",
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "resolvConf": "",
            **(config or {}),
        }
        self.config_path = node.dir / "kubelet-config.yaml"
        node.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(settings))
        self.manifests.mkdir(parents=True, exist_ok=True)
        self.argv = [
            sys.executable, "-m", "kubelet", f"--config={self.config_path}",
            f"--kubeconfig={cp.root / 'kube' / f'kubelet-{self.name}.conf'}",
            f"--hostname-override={self.name}", "--node-ip=127.0.0.1", f"--root-dir={self.dir}", "--v=4",
            *args,
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> KubeletProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"kubelet exited:\n{self.log()[-4000:]}"
            if self._healthy() and self._registered():
                return self
            time.sleep(0.2)
        raise AssertionError(f"kubelet not up within {timeout} s:\n{self.log()[-4000:]}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.healthz_port}/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _registered(self) -> bool:
        status, body, _ = self.cp.request("GET", f"/api/v1/nodes/{self.name}")
        return status == 200 and bool(json.loads(body).get("status", {}).get("nodeInfo"))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def static_pod_file(self, name: str) -> Path:
        return self.manifests / f"{name}.yaml"
