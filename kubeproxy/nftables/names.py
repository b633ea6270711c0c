"""Chain and set names as upstream kube-proxy's nftables mode computes them (pkg/proxy/nftables)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from kubeproxy.model import Endpoint, ServicePort, port_name_string

NAME_BASE_MAX = 256 - 16
"""nft names are at most 256 characters; prefixes take up to 16."""


def _hash_and_truncate(name: str) -> str:
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()[:8]
    name = f"{digest}-{name}"
    return name[: NAME_BASE_MAX - 3] + "..." if len(name) > NAME_BASE_MAX else name


@dataclass(frozen=True)
class ServiceChains:
    """One service port's "ns/svc:port" string, protocol, and chain names."""

    name: str
    protocol: str
    plain: str
    """ "ns/svc/proto/port", the unhashed base of every chain name."""
    cluster: str
    local: str
    external: str
    firewall: str

    def endpoint_base(self, ep: Endpoint) -> str:
        return _hash_and_truncate(f"{self.plain}__{ep.ip}/{ep.port}")

    def endpoint(self, ep: Endpoint) -> str:
        return "endpoint-" + self.endpoint_base(ep)

    def affinity(self, ep: Endpoint) -> str:
        return "affinity-" + self.endpoint_base(ep)


def service_chains(svc: ServicePort) -> ServiceChains:
    namespace, service, port, _ = svc.name
    protocol = svc.protocol.lower()
    plain = f"{namespace}/{service}/{protocol}/{port}"
    base = _hash_and_truncate(plain)
    return ServiceChains(
        name=port_name_string(svc.name),
        protocol=protocol,
        plain=plain,
        cluster="service-" + base,
        local="local-" + base,
        external="external-" + base,
        firewall="firewall-" + base,
    )


def is_service_chain(chain: str) -> bool:
    """Per-service and per-endpoint chains are the only ones with a "/" in their name."""
    return "/" in chain


def is_affinity_set(name: str) -> bool:
    return name.startswith("affinity-")
