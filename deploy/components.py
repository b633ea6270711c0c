"""The components `kplane up` runs, in start order, with their upstream default ports.

Each component's issue fills in `process`, which turns the cluster's state directory into the
command line (upstream-style flags) and the health URL. Until then a component is listed as not
built and `up` leaves it alone.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass

from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec

ProcessBuilder = Callable[[StateDir, ClusterSettings], ProcessSpec]


def kubelet_built() -> bool:
    """The kubelet's entry point (kubelet/main.py) is the switch: without it `up` starts no nodes."""
    return importlib.util.find_spec("kubelet.main") is not None


def kubeproxy_built() -> bool:
    return importlib.util.find_spec("kubeproxy.main") is not None


@dataclass(frozen=True)
class Component:
    name: str
    ports: str
    issue: int
    process: ProcessBuilder | None = None
    per_node: bool = False  # one containerd + kubelet per node: deploy.node_launcher runs them
    available: Callable[[], bool] = lambda: True

    @property
    def built(self) -> bool:
        return (self.process is not None or self.per_node) and self.available()


def etcd(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
    """One kplane-etcd member with TLS for clients and peers, like kubeadm's etcd static pod
    (client certificates required; /health and /metrics on plain-HTTP 127.0.0.1:2381)."""
    pki = state.pki
    flags = {
        "name": "default",
        "data-dir": state.root / "etcd",
        "listen-client-urls": "https://127.0.0.1:2379",
        "advertise-client-urls": "https://127.0.0.1:2379",
        "listen-peer-urls": "https://127.0.0.1:2380",
        "initial-advertise-peer-urls": "https://127.0.0.1:2380",
        "initial-cluster": "default=https://127.0.0.1:2380",
        "listen-metrics-urls": "http://127.0.0.1:2381",
        "cert-file": pki / "etcd/server.crt",
        "key-file": pki / "etcd/server.key",
        "trusted-ca-file": pki / "etcd/ca.crt",
        "client-cert-auth": "true",
        "peer-cert-file": pki / "etcd/peer.crt",
        "peer-key-file": pki / "etcd/peer.key",
        "peer-trusted-ca-file": pki / "etcd/ca.crt",
        "peer-client-cert-auth": "true",
        "snapshot-count": 10000,
    }
    return ProcessSpec(
        name="etcd",
        argv=[sys.executable, "-m", "etcd_raft", *(f"--{name}={value}" for name, value in flags.items())],
        health_url="http://127.0.0.1:2381/health",
        address="https://127.0.0.1:2379",
    )


def apiserver(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
    """kplane-apiserver with the flags of the seed's kube-apiserver example (kubeadm's files),
    on the one local etcd member; /readyz probed with the admin certificate."""
    pki = state.pki
    flags = {
        "advertise-address": "127.0.0.1",
        "bind-address": "127.0.0.1",
        "secure-port": 6443,
        "allow-privileged": "true",
        "authorization-mode": "Node,RBAC",
        "client-ca-file": pki / "ca.crt",
        "enable-admission-plugins": "NodeRestriction",
        "etcd-servers": "https://127.0.0.1:2379",
        "etcd-cafile": pki / "etcd/ca.crt",
        "etcd-certfile": pki / "apiserver-etcd-client.crt",
        "etcd-keyfile": pki / "apiserver-etcd-client.key",
        "kubelet-client-certificate": pki / "apiserver-kubelet-client.crt",
        "kubelet-client-key": pki / "apiserver-kubelet-client.key",
        "kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
        "proxy-client-cert-file": pki / "front-proxy-client.crt",
        "proxy-client-key-file": pki / "front-proxy-client.key",
        "requestheader-allowed-names": "front-proxy-client",
        "requestheader-client-ca-file": pki / "front-proxy-ca.crt",
        "requestheader-extra-headers-prefix": "X-Remote-Extra-",
        "requestheader-group-headers": "X-Remote-Group",
        "requestheader-username-headers": "X-Remote-User",
        "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "service-account-key-file": pki / "sa.pub",
        "service-account-signing-key-file": pki / "sa.key",
        "service-cluster-ip-range": settings.service_cidr,
        "tls-cert-file": pki / "apiserver.crt",
        "tls-private-key-file": pki / "apiserver.key",
    }
    return ProcessSpec(
        name="apiserver",
        argv=[sys.executable, "-m", "apiserver", *(f"--{name}={value}" for name, value in flags.items())],
        health_url="https://127.0.0.1:6443/readyz",
        health_tls=(pki / "ca.crt", pki / "admin.crt", pki / "admin.key"),
        address="https://127.0.0.1:6443",
    )


def scheduler(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
    """kplane-scheduler as kubeadm runs kube-scheduler: its kubeconfig, leader election on, serving
    /healthz on 127.0.0.1:10259 with a self-signed certificate kept in the state directory."""
    flags = {
        "kubeconfig": state.root / "scheduler.conf",
        "authentication-kubeconfig": state.root / "scheduler.conf",
        "authorization-kubeconfig": state.root / "scheduler.conf",
        "bind-address": "127.0.0.1",
        "leader-elect": "true",
        "cert-dir": state.root / "run" / "scheduler-serving",
    }
    return ProcessSpec(
        name="scheduler",
        argv=[sys.executable, "-m", "scheduler", *(f"--{name}={value}" for name, value in flags.items())],
        health_url="https://127.0.0.1:10259/healthz",
        health_insecure=True,
        address="https://127.0.0.1:10259",
    )


def controller_manager(state: StateDir, settings: ClusterSettings) -> ProcessSpec:
    """kplane-controller-manager with kubeadm's kube-controller-manager flags: node CIDRs from the
    pod range, the cluster CA for kube-root-ca.crt and CSR signing, the service-account key."""
    pki = state.pki
    conf = state.root / "controller-manager.conf"
    flags = {
        "kubeconfig": conf,
        "authentication-kubeconfig": conf,
        "authorization-kubeconfig": conf,
        "bind-address": "127.0.0.1",
        "leader-elect": "true",
        "allocate-node-cidrs": "true",
        "cluster-cidr": settings.pod_cidr,
        "service-cluster-ip-range": settings.service_cidr,
        "cluster-name": "kubernetes",
        "cluster-signing-cert-file": pki / "ca.crt",
        "cluster-signing-key-file": pki / "ca.key",
        "requestheader-client-ca-file": pki / "front-proxy-ca.crt",
        "root-ca-file": pki / "ca.crt",
        "service-account-private-key-file": pki / "sa.key",
        "use-service-account-credentials": "true",
        "cert-dir": state.root / "run" / "controller-manager-serving",
    }
    return ProcessSpec(
        name="controller-manager",
        argv=[
            sys.executable,
            "-m",
            "controller_manager",
            *(f"--{name}={value}" for name, value in flags.items()),
        ],
        health_url="https://127.0.0.1:10257/healthz",
        health_insecure=True,
        address="https://127.0.0.1:10257",
    )


COMPONENTS: tuple[Component, ...] = (
    Component("etcd", "2379/2380", issue=4, process=etcd),
    Component("apiserver", "6443", issue=5, process=apiserver),
    Component("scheduler", "10259", issue=6, process=scheduler),
    Component("controller-manager", "10257", issue=7, process=controller_manager),
    Component("kubelet", "10250", issue=8, per_node=True, available=kubelet_built),
    Component("kube-proxy", "10256/10249", issue=9, per_node=True, available=kubeproxy_built),
)
