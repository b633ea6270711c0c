"""Real traffic through kplane-proxy's rules, in both modes: a client namespace connects through a "node"
namespace (where the proxy's rules live) to backend namespaces that answer their own names
(helpers.service_netns), for Services and EndpointSlices written to a real apiserver.

Network safety: kplane-proxy runs in the host's namespace (the apiserver listens on the host's
127.0.0.1) with KPLANE_PROXY_NETNS, so every iptables/nft/ip command it runs executes inside the node
namespace this module made; nothing here reads or writes the host's rules, and no namespace has a route
off the machine. Namespaces and processes are removed even when a test fails.

One control plane for the module; per mode, one topology and one proxy, which the tests share (each
test writes the objects it needs and restarts the proxy if an earlier test stopped it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.components import stop_process
from helpers.control_plane import ControlPlane
from helpers.etcd_member import free_port
from helpers.service_netns import BACKEND_PORT, NODE_IP, Namespace, ServiceNetns
from helpers.waiting import wait_for

pytestmark = [pytest.mark.integration]

MODES = ["iptables", "nftables"]
BACKENDS = ("b1", "b2", "b3")
CONNECTIONS = 45  # P(some backend of three unseen) = 3 * (2/3)**45 < 1e-7
CONVERGE_BOUND = 1.0  # seconds, from the EndpointSlice write to the rules in the kernel (issue 9)
# Both modes' default minSyncPeriod, as upstream: after a burst of syncs (two, the runner's burst), the
# next change waits until a second after the last sync. The bound above is for a change that comes
# after such a quiet second, which the tests wait for before timing one.
MIN_SYNC_PERIOD = 1.0

# Rules someone else owns on the node, which the proxy must leave exactly as they are.
FOREIGN_IPTABLES = """*filter
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
FOREIGN_NFT = """table inet foreign {
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr 203.0.113.2 counter accept
    }
}
"""


def without_counters(rules: str) -> str:
    """A ruleset with its packet/byte counters zeroed (traffic moves them, rules do not)."""
    rules = re.sub(r"\[\d+:\d+\]", "[0:0]", rules)
    return re.sub(r"counter packets \d+ bytes \d+", "counter", rules)


def snapshot(node: Namespace) -> tuple[str, str]:
    """The node's iptables-save and nft ruleset, counters zeroed."""
    return without_counters(node.iptables_save()), without_counters(node.nft_ruleset())


# --- the API ---


def object_path(obj: dict[str, Any], named: bool) -> str:
    meta = obj["metadata"]
    base = {
        "Service": "/api/v1/namespaces/{ns}/services",
        "EndpointSlice": "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
    }[obj["kind"]].format(ns=meta["namespace"])
    return f"{base}/{meta['name']}" if named else base


def put(cp: ControlPlane, obj: dict[str, Any]) -> None:
    """Create `obj`, or replace it if it exists (the second mode's tests find the first mode's objects)."""
    status, body, _ = cp.request("GET", object_path(obj, True))
    headers = {"Content-Type": "application/json"}
    if status == 200:
        current = json.loads(body)
        obj = {
            **obj,
            "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
        }
        if obj["kind"] == "Service":  # keep what the apiserver allocated and defaulted
            obj["spec"] = {**current["spec"], **obj["spec"]}
        status, body, _ = cp.request("PUT", object_path(obj, True), json.dumps(obj).encode(), headers=headers)
    else:
        status, body, _ = cp.request(
            "POST", object_path(obj, False), json.dumps(obj).encode(), headers=headers
        )
    assert status in (200, 201), body.decode(errors="replace")


def service(name: str, cluster_ip: str, *, node_port: int = 0, affinity: bool = False) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "http", "port": 80, "targetPort": BACKEND_PORT, "protocol": "TCP"}
    spec: dict[str, Any] = {"clusterIP": cluster_ip, "ports": [port], "selector": {"app": name}}
    if node_port:
        port["nodePort"] = node_port
        spec["type"] = "NodePort"
    if affinity:
        spec["sessionAffinity"] = "ClientIP"
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}  # fmt: skip


def endpoint_slice(service_name: str, ips: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-1",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": BACKEND_PORT, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "node-a",
            }
            for ip in ips
        ],
    }


# --- the proxy ---


class Proxy:
    def __init__(self, cp: ControlPlane, node: Namespace, mode: str) -> None:
        self.cp, self.node, self.mode = cp, node, mode
        self.healthz_port, self.metrics_port = free_port(), free_port()
        self.log_path = cp.root / f"kube-proxy-{mode}.log"
        self.env = {**os.environ, "KPLANE_PROXY_NETNS": node.name}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable, "-m", "kubeproxy", f"--kubeconfig={self.cp.root / 'kube' / 'kube-proxy.conf'}",
            f"--proxy-mode={self.mode}", "--hostname-override=node-a",
            f"--healthz-bind-address=127.0.0.1:{self.healthz_port}",
            f"--metrics-bind-address=127.0.0.1:{self.metrics_port}", "--v=2",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log, env=self.env)
        wait_for("kube-proxy's first sync", self.synced, timeout=20, interval=0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.running():
            self.start()

    def last_sync(self) -> float:
        """The last-sync gauge (epoch seconds; 0 before the first sync or while /metrics is not up)."""
        assert self.running(), self.log()[-3000:]
        try:
            url = f"http://127.0.0.1:{self.metrics_port}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return 0.0
        found = re.search(r"^kubeproxy_sync_proxy_rules_last_timestamp_seconds (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    def synced(self) -> bool:
        """The process has applied its rules at least once."""
        return self.last_sync() > 0

    def wait_quiet(self) -> None:
        """Until minSyncPeriod has passed since the last sync, so that the next change syncs at once."""
        quiet_for = time.time() - self.last_sync()
        if quiet_for < MIN_SYNC_PERIOD:
            time.sleep(MIN_SYNC_PERIOD - quiet_for + 0.01)

    def stop(self) -> None:
        stop_process(self.process)

    def cleanup(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubeproxy", "--cleanup"], env=self.env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Env:
    cp: ControlPlane
    net: ServiceNetns
    proxy: Proxy
    mode: str
    before: tuple[str, str]  # the node's iptables-save and nft ruleset before the proxy first started

    def ip(self, backend: str) -> str:
        return self.net.backend_ips[backend]

    def rules(self) -> str:
        return self.net.node.iptables_save() if self.mode == "iptables" else self.net.node.nft_ruleset()

    def has_endpoint(self, service_name: str, backend: str) -> bool:
        """The rules send service_name's port "http" to `backend` (its KUBE-SEP chain's comment in
        iptables mode, its endpoint chain in nftables mode)."""
        ip = self.ip(backend)
        if self.mode == "iptables":
            return f"default/{service_name}:http -> {ip}:{BACKEND_PORT}" in self.rules()
        return f"default/{service_name}/tcp/http__{ip}/{BACKEND_PORT}" in self.rules()

    def converge(self, what: str, check: Callable[[], bool], started: float | None = None) -> float:
        """Poll `check` until true; the seconds since `started` (a time.monotonic() reading; the call)."""
        started = time.monotonic() if started is None else started
        wait_for(what, check, timeout=10, interval=0.02)
        return time.monotonic() - started


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(Path(tmp_path_factory.mktemp("kp-traffic")))
    try:
        plane.start()
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module", params=MODES)
def env(request: pytest.FixtureRequest, cp: ControlPlane) -> Iterator[Env]:
    mode: str = request.param
    with ServiceNetns(BACKENDS) as net:
        net.node.run("iptables-restore", stdin=FOREIGN_IPTABLES)
        net.node.run("nft", "-f", "-", stdin=FOREIGN_NFT)
        before = snapshot(net.node)
        proxy = Proxy(cp, net.node, mode)
        try:
            proxy.start()
            yield Env(cp, net, proxy, mode, before)
        finally:
            proxy.stop()
            proxy.cleanup()


@pytest.fixture
def live(env: Env) -> Env:
    """The mode's environment with its proxy running."""
    env.proxy.ensure_running()
    return env


# --- the tests ---


def test_cluster_ip_and_node_port_reach_every_backend_and_follow_the_endpoint_slice(live: Env) -> None:
    cp, client, all_ips = live.cp, live.net.client, [live.ip(b) for b in BACKENDS]
    put(cp, service("web", "10.96.10.10", node_port=30080))
    put(cp, endpoint_slice("web", all_ips))
    live.converge("web's endpoints", lambda: all(live.has_endpoint("web", b) for b in BACKENDS))
    for host, port in (("10.96.10.10", 80), (NODE_IP, 30080)):
        assert set(client.hits(host, port, CONNECTIONS)) == set(BACKENDS), (host, port)

    live.proxy.wait_quiet()
    started = time.monotonic()
    put(cp, endpoint_slice("web", all_ips[:2]))
    removed = live.converge("b3 gone from web's rules", lambda: not live.has_endpoint("web", "b3"), started)
    for host, port in (("10.96.10.10", 80), (NODE_IP, 30080)):
        assert set(client.hits(host, port, CONNECTIONS)) == {"b1", "b2"}, (host, port)

    live.proxy.wait_quiet()
    started = time.monotonic()
    put(cp, endpoint_slice("web", all_ips))
    added = live.converge("b3 back in web's rules", lambda: live.has_endpoint("web", "b3"), started)
    assert "b3" in client.hits("10.96.10.10", 80, CONNECTIONS)
    assert removed < CONVERGE_BOUND and added < CONVERGE_BOUND, (removed, added, live.proxy.log()[-3000:])


def test_session_affinity_client_ip_sticks_to_one_backend(live: Env) -> None:
    put(live.cp, service("sticky", "10.96.10.11", affinity=True))
    put(live.cp, endpoint_slice("sticky", [live.ip(b) for b in BACKENDS]))
    live.converge("sticky's endpoints", lambda: all(live.has_endpoint("sticky", b) for b in BACKENDS))
    seen = live.net.client.hits("10.96.10.11", 80, CONNECTIONS)
    assert len(set(seen)) == 1 and seen[0] in BACKENDS, seen


def test_service_without_endpoints_rejects_at_once(live: Env) -> None:
    # Without rules, a connection to this ClusterIP would time out (the node routes the service range
    # into a dead end); kube-proxy's REJECT answers it at once with ICMP port-unreachable.
    put(live.cp, service("empty", "10.96.10.12"))
    client = live.net.client
    wait_for("a rejected connection", lambda: client.connect_once("10.96.10.12", 80, 0.3)[0] == "!refused",
             timeout=10, interval=0.02)  # fmt: skip
    for _ in range(5):
        result, seconds = client.connect_once("10.96.10.12", 80, timeout=3.0)
        assert result == "!refused" and seconds < 0.2, (result, seconds)


def test_restarting_the_proxy_keeps_traffic_flowing(live: Env) -> None:
    put(live.cp, service("steady", "10.96.10.13"))
    put(live.cp, endpoint_slice("steady", [live.ip(b) for b in BACKENDS]))
    live.converge("steady's endpoints", lambda: all(live.has_endpoint("steady", b) for b in BACKENDS))
    client = live.net.client
    looping = time.monotonic()
    client.start_loop("10.96.10.13", 80, timeout=1.0)
    try:
        time.sleep(0.1)
        stopping = time.monotonic() - looping
        live.proxy.stop()
        live.proxy.start()  # returns after the new process's first (full) sync
        synced = time.monotonic() - looping
        time.sleep(0.1)
    finally:
        results = client.stop_loop()
    failures = [(at, result) for at, result in results if result not in BACKENDS]
    assert not failures, failures[:10]
    during = [result for at, result in results if stopping <= at <= synced]
    assert len(during) >= 20, (len(during), stopping, synced)


def test_cleanup_leaves_the_node_rules_as_before(live: Env) -> None:
    # The node has a firewall of its own (FOREIGN_*), as real nodes do. On a namespace with no iptables
    # tables at all, iptables mode leaves the then-empty built-in filter and nat tables behind (so does
    # upstream, which never deletes tables); nftables mode leaves nothing.
    assert snapshot(live.net.node) != live.before
    live.proxy.stop()
    result = live.proxy.cleanup()
    assert result.returncode == 0, result.stderr
    after = snapshot(live.net.node)
    assert after[0] == live.before[0]
    assert after[1] == live.before[1]
