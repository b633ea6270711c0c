"""kplane-proxy as a real process on a real apiserver, programming a network namespace this test makes.

Network safety: the proxy runs in the host's namespace (the apiserver listens on the host's 127.0.0.1),
but with KPLANE_PROXY_NETNS every iptables/nft/ip command it runs executes inside the test's own
namespace, which has only a loopback and a veth pair with both ends inside it (no route off the
machine). The host's rules are never read or written; the namespace and every process are removed even
when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers.components import stop_process
from helpers.control_plane import ControlPlane
from helpers.etcd_member import free_port
from helpers.waiting import wait_for

pytestmark = [pytest.mark.integration]

# Rules someone else owns, which the proxy must leave exactly as they are.
FOREIGN_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 203.0.113.1/32 -j ACCEPT
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -s 198.51.100.0/24 -j MASQUERADE
COMMIT
"""


class Netns:
    def __init__(self) -> None:
        self.name = f"kp-{uuid.uuid4().hex[:8]}"

    def run(self, *argv: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv], input=stdin, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
        return result.stdout

    def iptables(self) -> str:
        return "\n".join(line for line in self.run("iptables-save").splitlines() if not line.startswith("#"))

    def nft(self) -> str:
        return self.run("nft", "list", "ruleset")


@pytest.fixture
def netns() -> Iterator[Netns]:
    ns = Netns()
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        ns.run("ip", "link", "set", "lo", "up")
        # A veth pair with both ends inside the namespace: a node address, no way out of the machine.
        ns.run("ip", "link", "add", "kp0", "type", "veth", "peer", "name", "kp1")
        ns.run("ip", "addr", "add", "192.0.2.10/24", "dev", "kp0")
        ns.run("ip", "link", "set", "kp0", "up")
        ns.run("iptables-restore", stdin=FOREIGN_RULES)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], check=False)


@pytest.fixture
def cp(tmp_path: Path) -> Iterator[ControlPlane]:
    plane = ControlPlane(tmp_path)
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


class ProxyProcess:
    def __init__(self, cp: ControlPlane, ns: Netns, mode: str) -> None:
        self.cp, self.ns, self.mode = cp, ns, mode
        self.healthz_port, self.metrics_port = free_port(), free_port()
        self.log_path = cp.root / f"kube-proxy-{mode}.log"
        self.env = {**os.environ, "KPLANE_PROXY_NETNS": ns.name}
        self.process: subprocess.Popen[bytes] | None = None

    def argv(self, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "kubeproxy", f"--kubeconfig={self.cp.root / 'kube' / 'kube-proxy.conf'}",
            f"--proxy-mode={self.mode}", "--hostname-override=node-a",
            f"--healthz-bind-address=127.0.0.1:{self.healthz_port}",
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}", "--v=2", *extra,
        ]  # fmt: skip

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv(), stdout=log, stderr=log, env=self.env)
        wait_for("kube-proxy /healthz", lambda: self.get("/healthz", self.healthz_port)[0] == 200, timeout=20)

    def stop(self) -> None:
        stop_process(self.process)

    def get(self, path: str, port: int) -> tuple[int, str]:
        assert self.process is not None and self.process.poll() is None, self.log()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cleanup(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubeproxy", "--cleanup"], env=self.env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "clusterIP": "10.96.100.10",
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        "selector": {"app": "web"},
    },
}


def endpoint_slice(*ips: str) -> dict[str, object]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-a"} for ip in ips],
    }


def apply(cp: ControlPlane, *objects: dict[str, object]) -> None:
    cp.kubectl("apply", "-f", "-", stdin="\n---\n".join(yaml.safe_dump(obj) for obj in objects))


def rules(ns: Netns, mode: str) -> str:
    return ns.iptables() if mode == "iptables" else ns.nft()


def dnat_to(ns: Netns, mode: str, endpoint: str) -> bool:
    """Some rule in the namespace sends connections to `endpoint` ("ip:port")."""
    if mode == "iptables":
        return f"--to-destination {endpoint}" in ns.iptables()
    return f"dnat to {endpoint}" in ns.nft()


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_rules_follow_services_and_endpoints_and_cleanup_restores_the_namespace(
    cp: ControlPlane, netns: Netns, mode: str
) -> None:
    before = {"iptables": netns.iptables(), "nftables": netns.nft()}
    proxy = ProxyProcess(cp, netns, mode)
    try:
        proxy.start()
        apply(cp, SERVICE, endpoint_slice("10.244.1.5"))
        applied = time.monotonic()
        wait_for(
            "the endpoint's rules", lambda: dnat_to(netns, mode, "10.244.1.5:8080"), timeout=5, interval=0.02
        )
        first = time.monotonic() - applied
        assert "10.96.100.10" in rules(netns, mode)

        apply(cp, endpoint_slice("10.244.1.6", "10.244.1.7"))
        applied = time.monotonic()
        wait_for(
            "the changed endpoints' rules",
            lambda: dnat_to(netns, mode, "10.244.1.7:8080") and not dnat_to(netns, mode, "10.244.1.5:8080"),
            timeout=5,
            interval=0.02,
        )
        changed = time.monotonic() - applied
        # kubectl's own time is outside the measurement; 1 s is the bound.
        assert first < 1.0 and changed < 1.0, (first, changed, proxy.log()[-3000:])

        status, body = proxy.get("/healthz", proxy.healthz_port)
        assert status == 200 and set(json.loads(body)) >= {"lastUpdated", "currentTime"}
        status, text = proxy.get("/metrics", proxy.metrics_port)
        assert status == 200
        assert "kubeproxy_sync_proxy_rules_duration_seconds_bucket" in text
        assert "kubeproxy_sync_proxy_rules_last_timestamp_seconds" in text
        assert proxy.get("/proxyMode", proxy.metrics_port) == (200, mode)

        proxy.stop()
        assert dnat_to(netns, mode, "10.244.1.7:8080"), (
            "rules must outlive the process (traffic keeps flowing)"
        )
        assert "203.0.113.1" in netns.iptables() and "198.51.100.0/24" in netns.iptables()
    finally:
        proxy.stop()
        result = proxy.cleanup()
    assert result.returncode == 0, result.stderr
    assert netns.iptables() == before["iptables"]
    assert netns.nft() == before["nftables"]


def test_ipvs_mode_exits_in_one_line_and_touches_nothing(cp: ControlPlane, netns: Netns) -> None:
    before = (netns.iptables(), netns.nft())
    proxy = ProxyProcess(cp, netns, "ipvs")
    result = subprocess.run(proxy.argv(), env=proxy.env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        'kplane-proxy: error: proxy mode "ipvs"'
    )
    assert "--proxy-mode=nftables" in result.stderr
    assert (netns.iptables(), netns.nft()) == before
