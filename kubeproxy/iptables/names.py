"""Chain names as upstream kube-proxy computes them (pkg/proxy/iptables)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from kubeproxy.model import Endpoint, ServicePort, port_name_string

SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")


def _hash16(text: str) -> str:
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


@dataclass(frozen=True)
class ServiceChains:
    """One service port's names: its "ns/svc:port" string and its per-service chains."""

    name: str
    protocol: str
    cluster: str
    local: str
    external: str
    firewall: str

    def endpoint(self, ep: Endpoint) -> str:
        return "KUBE-SEP-" + _hash16(self.name + self.protocol + str(ep))


def service_chains(svc: ServicePort) -> ServiceChains:
    name = port_name_string(svc.name)
    protocol = svc.protocol.lower()
    digest = _hash16(name + protocol)
    return ServiceChains(
        name=name,
        protocol=protocol,
        cluster="KUBE-SVC-" + digest,
        local="KUBE-SVL-" + digest,
        external="KUBE-EXT-" + digest,
        firewall="KUBE-FW-" + digest,
    )


def is_service_chain(chain: str) -> bool:
    return chain.startswith(SERVICE_CHAIN_PREFIXES)
