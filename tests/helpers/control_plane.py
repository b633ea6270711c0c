"""A store (one kplane-etcd member, or Debian's real etcd) and a kplane-apiserver as real
processes with mTLS, a kubeconfig for the admin, and a runner for the real kubectl."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers.etcd_cluster import Cluster
from helpers.etcd_member import Member, free_port
from pki import PkiSpec, init_pki

REAL_ETCD = ("/usr/bin/etcd",)


class ControlPlane:
    """`store` "kplane" or "etcd" (one member), or "kplane-3" (three kplane-etcd members, whose
    own PKI then signs the apiserver's etcd client certificate)."""

    def __init__(self, root: Path, store: str = "kplane", nodes: tuple[str, ...] = ()) -> None:
        self.root = root
        self.store = store
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.pki = root / "pki"
        init_pki(self.pki, PkiSpec(server_url=self.url, nodes=nodes), kubeconfig_dir=root / "kube")
        self.kubeconfig = root / "kube" / "admin.conf"
        self.home = root / "home"  # kubectl's discovery cache lives under $HOME/.kube
        self.home.mkdir(exist_ok=True)
        command = REAL_ETCD if store == "etcd" else Member.command
        self.etcd = Member(self.pki, root / "etcd", command=command)
        self.cluster = Cluster(root / "store", 3) if store == "kplane-3" else None
        self.apiserver: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        pki = self.pki
        etcd_pki = self.cluster.pki if self.cluster is not None else pki
        endpoints = (
            ",".join(node.client_url for node in self.cluster.nodes)
            if self.cluster is not None
            else self.etcd.endpoint
        )
        return [
            sys.executable,
            "-m",
            "apiserver",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--etcd-servers={endpoints}",
            f"--etcd-cafile={etcd_pki}/etcd/ca.crt",
            f"--etcd-certfile={etcd_pki}/apiserver-etcd-client.crt",
            f"--etcd-keyfile={etcd_pki}/apiserver-etcd-client.key",
            f"--tls-cert-file={pki}/apiserver.crt",
            f"--tls-private-key-file={pki}/apiserver.key",
            f"--client-ca-file={pki}/ca.crt",
            "--service-cluster-ip-range=10.96.0.0/12",
            "--authorization-mode=Node,RBAC",
            f"--service-account-signing-key-file={pki}/sa.key",
            f"--service-account-key-file={pki}/sa.pub",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--kubelet-client-certificate={pki}/apiserver-kubelet-client.crt",
            f"--kubelet-client-key={pki}/apiserver-kubelet-client.key",
            f"--kubelet-certificate-authority={pki}/ca.crt",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def start(self) -> None:
        if self.cluster is not None:
            for node in self.cluster.nodes:
                self.cluster.start(node)
            self.cluster.wait_for_leader()
        else:
            self.etcd.start()
        self.start_apiserver()

    def start_apiserver(self) -> None:
        log = (self.root / "apiserver.log").open("ab")
        self.apiserver = subprocess.Popen(self.argv(), stdout=log, stderr=log)
        log.close()
        self.wait_ready()

    def stop_apiserver(self, sig: int = signal.SIGTERM) -> None:
        if self.apiserver is not None and self.apiserver.poll() is None:
            self.apiserver.send_signal(sig)
            try:
                self.apiserver.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.apiserver.kill()
                self.apiserver.wait()
        self.apiserver = None

    def stop(self) -> None:
        self.stop_apiserver()
        if self.cluster is not None:
            for node in self.cluster.nodes:
                self.cluster.stop(node, signal.SIGKILL)
        else:
            self.etcd.stop()

    def ssl_context(self, cert: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        if cert:
            context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return context

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        cert: bool = True,
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, context=self.ssl_context(cert), timeout=10) as response:
                return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as error:
            return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.apiserver is not None and self.apiserver.poll() is None, self.log()[-3000:]
            try:
                status, _, _ = self.request("GET", "/readyz")
                if status == 200:
                    return
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"apiserver not ready within {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        path = self.root / "apiserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(self.home),
            **(env or {}),
        }
        result = subprocess.run(
            ["kubectl", *args], capture_output=True, text=True, input=stdin, env=environment, timeout=timeout
        )
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result
