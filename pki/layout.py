"""What a kplane PKI directory holds: the table of CAs, the leaf certificates each one signs, and the
client identities that also get a kubeconfig. Files are laid out like kubeadm's /etc/kubernetes/pki;
the client identities are kubernetes-the-hard-way's.

    ca.crt/key                        CN kubernetes                                     (CA)
    apiserver.crt/key                 CN kube-apiserver, serving, the service SANs
    apiserver-kubelet-client.crt/key  CN kube-apiserver-kubelet-client, O system:masters
    front-proxy-ca.crt/key            CN front-proxy-ca                                 (CA)
    front-proxy-client.crt/key        CN front-proxy-client
    etcd/ca.crt/key                   CN etcd-ca                                        (CA)
    etcd/server.crt/key               CN <hostname>, serving + client
    etcd/peer.crt/key                 CN <hostname>, serving + client
    etcd/healthcheck-client.crt/key   CN kube-etcd-healthcheck-client
    apiserver-etcd-client.crt/key     CN kube-apiserver-etcd-client (signed by etcd-ca)
    sa.key, sa.pub                    RSA 2048 service-account key pair
    admin.crt/key + admin.conf        CN admin, O system:masters
    scheduler.crt/key + .conf         CN system:kube-scheduler
    controller-manager.crt/key + .conf  CN system:kube-controller-manager
    kube-proxy.crt/key + .conf        CN system:kube-proxy
    kubelet-<node>.crt/key + .conf    CN system:node:<node>, O system:nodes, serving + client
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from pki.certs import CertProfile, IPAddress
from pki.errors import PkiError

_Item = TypeVar("_Item")

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_SERVER_URL = "https://127.0.0.1:6443"
DEFAULT_CLUSTER_NAME = "kubernetes"
CA_VALIDITY = timedelta(days=3650)
LEAF_VALIDITY = timedelta(days=365)

SERVICE_ACCOUNT_KEY = "sa.key"
SERVICE_ACCOUNT_PUBLIC_KEY = "sa.pub"

MASTERS = "system:masters"  # the group RBAC binds to cluster-admin
LOOPBACK_IPS: tuple[IPAddress, ...] = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

# A Node name is a DNS subdomain (RFC 1123), which also keeps it safe inside a file name.
NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_SAN = re.compile(
    r"(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
)


@dataclass(frozen=True)
class PkiSpec:
    """What to put into a PKI directory. Lists given as any sequence are stored as tuples."""

    nodes: tuple[str, ...] = ()
    """Node names; each gets a kubelet-<node> certificate and kubeconfig."""
    apiserver_sans: tuple[str, ...] = ()
    """Extra apiserver SANs, each an IP address or a DNS name (e.g. a load balancer's)."""
    etcd_sans: tuple[str, ...] = ()
    """Extra SANs for etcd's server and peer certificates (e.g. the host's address for peers)."""
    service_cidr: str = DEFAULT_SERVICE_CIDR
    """Its first address is the `kubernetes` Service's ClusterIP, which the apiserver serves as."""
    server_url: str = DEFAULT_SERVER_URL
    """The apiserver URL written into every kubeconfig."""
    cluster_name: str = DEFAULT_CLUSTER_NAME
    hostname: str = field(default_factory=socket.gethostname)
    """This host's name, a SAN of the apiserver and etcd certificates and etcd's CN."""
    ca_validity: timedelta = CA_VALIDITY
    leaf_validity: timedelta = LEAF_VALIDITY

    def __post_init__(self) -> None:
        for name in ("nodes", "apiserver_sans", "etcd_sans"):
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
        object.__setattr__(self, "hostname", self.hostname.lower())
        for node in self.nodes:
            if not NODE_NAME.fullmatch(node) or len(node) > 253:
                raise PkiError(f"invalid node name {node!r}: must be a lowercase DNS name (RFC 1123)")
        for san in (*self.apiserver_sans, *self.etcd_sans):
            split_sans([san])
        service_ip(self.service_cidr)
        if not self.server_url.startswith("https://"):
            raise PkiError(f"invalid server URL {self.server_url!r}: must start with https://")
        if not self.cluster_name:
            raise PkiError("the cluster name must not be empty")
        if self.ca_validity <= timedelta(0) or self.leaf_validity <= timedelta(0):
            raise PkiError("certificate validity must be positive")


@dataclass(frozen=True)
class Authority:
    """A CA of the PKI; `file_stem` is the path of its .crt/.key under the PKI directory."""

    name: str
    file_stem: str
    common_name: str

    def cert_path(self, directory: Path) -> Path:
        return directory / f"{self.file_stem}.crt"

    def key_path(self, directory: Path) -> Path:
        return directory / f"{self.file_stem}.key"


KUBERNETES_CA = Authority("ca", "ca", "kubernetes")
FRONT_PROXY_CA = Authority("front-proxy-ca", "front-proxy-ca", "front-proxy-ca")
ETCD_CA = Authority("etcd-ca", "etcd/ca", "etcd-ca")
AUTHORITIES = (KUBERNETES_CA, FRONT_PROXY_CA, ETCD_CA)


@dataclass(frozen=True)
class Leaf:
    """A leaf certificate: its name (as `kplane pki renew` takes it), files, signer and identity.
    Client identities with a `kubeconfig_user` also get `<name>.conf` in the kubeconfig directory."""

    name: str
    authority: Authority
    profile: CertProfile
    kubeconfig_user: str | None = None
    file_stem: str = ""
    """Path of the .crt/.key under the PKI directory, without suffix; default: the name."""

    def cert_path(self, directory: Path) -> Path:
        return directory / f"{self.file_stem or self.name}.crt"

    def key_path(self, directory: Path) -> Path:
        return directory / f"{self.file_stem or self.name}.key"

    def kubeconfig_path(self, kubeconfig_dir: Path) -> Path:
        return kubeconfig_dir / f"{self.name}.conf"


def leaf_table(spec: PkiSpec) -> tuple[Leaf, ...]:
    """Every leaf certificate of a PKI built from `spec`, in the order init creates them."""
    extra_dns, extra_ips = split_sans(spec.apiserver_sans)
    etcd_dns, etcd_ips = split_sans(spec.etcd_sans)
    host_dns = _unique(("localhost", spec.hostname, *etcd_dns))
    host_ips = _unique((*LOOPBACK_IPS, *etcd_ips))
    service_dns = (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )

    def etcd_member(common_name: str) -> CertProfile:
        return CertProfile(common_name, (), host_dns, host_ips, server_auth=True, client_auth=True)

    def client(common_name: str, *organizations: str) -> CertProfile:
        return CertProfile(common_name, organizations, client_auth=True)

    apiserver = CertProfile(
        "kube-apiserver",
        dns_names=_unique((*service_dns, "localhost", spec.hostname, *extra_dns)),
        ip_addresses=_unique((*LOOPBACK_IPS, service_ip(spec.service_cidr), *extra_ips)),
        server_auth=True,
    )
    kube, front_proxy, etcd = KUBERNETES_CA, FRONT_PROXY_CA, ETCD_CA
    # The last column is the kubeconfig user, named as kubeadm names it (kubernetes-admin@kubernetes).
    leaves = [
        Leaf("apiserver", kube, apiserver),
        Leaf("apiserver-kubelet-client", kube, client("kube-apiserver-kubelet-client", MASTERS)),
        Leaf("front-proxy-client", front_proxy, client("front-proxy-client")),
        Leaf("etcd-server", etcd, etcd_member(spec.hostname), file_stem="etcd/server"),
        Leaf("etcd-peer", etcd, etcd_member(spec.hostname), file_stem="etcd/peer"),
        Leaf(
            "etcd-healthcheck-client",
            etcd,
            client("kube-etcd-healthcheck-client"),
            file_stem="etcd/healthcheck-client",
        ),
        Leaf("apiserver-etcd-client", etcd, client("kube-apiserver-etcd-client")),
        Leaf("admin", kube, client("admin", MASTERS), "kubernetes-admin"),
        Leaf("scheduler", kube, client("system:kube-scheduler"), "system:kube-scheduler"),
        Leaf(
            "controller-manager",
            kube,
            client("system:kube-controller-manager"),
            "system:kube-controller-manager",
        ),
        Leaf("kube-proxy", kube, client("system:kube-proxy"), "system:kube-proxy"),
    ]
    for node in spec.nodes:
        # Client cert for the apiserver, and serving cert for the kubelet's :10250 (as in the hard way).
        kubelet = CertProfile(
            f"system:node:{node}",
            ("system:nodes",),
            _unique((node, "localhost")),
            LOOPBACK_IPS,
            server_auth=True,
            client_auth=True,
        )
        leaves.append(Leaf(f"kubelet-{node}", kube, kubelet, f"system:node:{node}"))
    return tuple(leaves)


def nodes_present(directory: Path, kubeconfig_dir: Path) -> tuple[str, ...]:
    """Node names that have a kubelet certificate or kubeconfig, for check and renew, which read
    a directory without a spec."""
    found = [
        path.name.removeprefix("kubelet-").removesuffix(".crt") for path in directory.glob("kubelet-*.crt")
    ]
    found += [
        path.name.removeprefix("kubelet-").removesuffix(".conf")
        for path in kubeconfig_dir.glob("kubelet-*.conf")
    ]
    return tuple(sorted(name for name in set(found) if NODE_NAME.fullmatch(name)))


def split_sans(sans: Iterable[str]) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """Sort SANs into DNS names and IP addresses; PkiError for one that is neither."""
    dns_names: list[str] = []
    ip_addresses: list[IPAddress] = []
    for san in sans:
        try:
            ip_addresses.append(ipaddress.ip_address(san))
        except ValueError:
            if not DNS_SAN.fullmatch(san):
                raise PkiError(f"invalid SAN {san!r}: not an IP address or a DNS name") from None
            dns_names.append(san.lower())
    return tuple(dns_names), tuple(ip_addresses)


def service_ip(service_cidr: str) -> IPAddress:
    """The first address of the service CIDR: the ClusterIP of the `kubernetes` Service."""
    try:
        network = ipaddress.ip_network(service_cidr)
    except ValueError:
        raise PkiError(f"invalid service CIDR {service_cidr!r}") from None
    if network.num_addresses < 4:
        raise PkiError(f"service CIDR {service_cidr!r} is too small")
    return network.network_address + 1


def _unique(items: Iterable[_Item]) -> tuple[_Item, ...]:
    return tuple(dict.fromkeys(items))
