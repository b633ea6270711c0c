"""nftables rules for kube-proxy: a pure function of services, endpoints and node config.

The layout is upstream's nftables mode (pkg/proxy/nftables): one `ip kube-proxy` table whose base
chains hook prerouting/input/forward/output/postrouting; the `services` chain looks packets up in the
`service-ips` and `service-nodeports` verdict maps (one O(1) lookup per packet, whatever the number of
services), which `goto` a per-service chain choosing an endpoint with `numgen random mod N vmap`, with
ClientIP affinity in per-endpoint dynamic sets with a timeout. Services without endpoints are rejected
through the `no-endpoint-services` / `no-endpoint-nodeports` maps.

The text is one transaction for `nft -f -`. Verdict maps and sets are flushed and refilled on every
sync, so removed services disappear from them without any memory of the previous sync; with `changed`,
only the changed services' chains are rewritten. Stale chains and affinity sets are deleted when
`existing` (the output of `nft list table ip kube-proxy`) shows them (kernels >= 6.2 allow deleting a
chain in the transaction that removes the last map element pointing at it). Load-balancer source
ranges (`firewall-*`) are not implemented.
"""

from __future__ import annotations

import re

from kubeproxy.model import (
    Endpoint,
    NodeConfig,
    ProxyState,
    ServicePort,
    ServicePortName,
    categorize_endpoints,
    externally_accessible,
    uses_cluster_endpoints,
    uses_local_endpoints,
)
from kubeproxy.nftables.names import ServiceChains, is_affinity_set, is_service_chain, service_chains

TABLE = "ip kube-proxy"
MARK_MASQ = "mark-for-masquerade"
MASQUERADING = "masquerading"
SERVICES = "services"
REJECT_CHAIN = "reject-chain"
CLUSTER_IPS_CHECK = "cluster-ips-check"
SERVICE_ENDPOINTS_CHECK = "service-endpoints-check"
NODEPORT_ENDPOINTS_CHECK = "nodeport-endpoints-check"
FIREWALL_CHECK = "firewall-check"

# (name, type, hook, priority): filter chains run before DNAT (dstnat - 10), so they see service IPs.
BASE_CHAINS = (
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
)
# (chain, jumped to from, match)
JUMP_CHAINS = (
    (NODEPORT_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-input", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-forward", "ct state new"),
    (SERVICE_ENDPOINTS_CHECK, "filter-output", "ct state new"),
    (FIREWALL_CHECK, "filter-prerouting", "ct state new"),
    (FIREWALL_CHECK, "filter-output", "ct state new"),
    (SERVICES, "nat-output", ""),
    (SERVICES, "nat-prerouting", ""),
    (MASQUERADING, "nat-postrouting", ""),
    (CLUSTER_IPS_CHECK, "filter-forward", "ct state new"),
    (CLUSTER_IPS_CHECK, "filter-output-post-dnat", "ct state new"),
)
_KEY = "ipv4_addr . inet_proto . inet_service : verdict"
# (kind, name, type, comment)
CONTAINERS = (
    ("set", "cluster-ips", "ipv4_addr", "Active ClusterIPs"),
    ("map", "no-endpoint-services", _KEY, "vmap to drop or reject packets to services with no endpoints"),
    (
        "map",
        "no-endpoint-nodeports",
        "inet_proto . inet_service : verdict",
        "vmap to drop or reject packets to service nodeports with no endpoints",
    ),
    ("map", "firewall-ips", _KEY, "destinations that are subject to LoadBalancerSourceRanges"),
    ("map", "service-ips", _KEY, "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    ("map", "service-nodeports", "inet_proto . inet_service : verdict", "NodePort traffic"),
)
NO_LOCALHOST = "ip daddr != 127.0.0.0/8"


class _Tx:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.chains: set[str] = set()

    def ensure_chain(self, chain: str, write: bool = True) -> None:
        if chain in self.chains:
            return
        self.chains.add(chain)
        if write:
            self.lines.append(f"add chain {TABLE} {chain}")
            self.lines.append(f"flush chain {TABLE} {chain}")

    def rule(self, chain: str, rule: str, comment: str = "") -> None:
        suffix = f' comment "{comment}"' if comment else ""
        self.lines.append(f"add rule {TABLE} {chain} {rule}{suffix}")

    def element(self, container: str, key: str, value: str = "", comment: str = "") -> None:
        note = f' comment "{comment}"' if comment else ""
        mapped = f" : {value}" if value else ""
        self.lines.append(f"add element {TABLE} {container} {{ {key}{note}{mapped} }}")


def _mark(bit: int) -> str:
    return f"{1 << bit:#x}"


def render_nftables(
    state: ProxyState,
    node: NodeConfig,
    *,
    changed: set[ServicePortName] | None = None,
    existing: str | None = None,
) -> str:
    """One `nft -f -` transaction: the whole table, or with `changed` only those services' chains."""
    tx = _Tx()
    _write_setup(tx, node)
    affinity_sets: set[str] = set()
    for name in sorted(state.services):
        rewrite = changed is None or name in changed
        _write_service(tx, node, state.services[name], state.endpoints.get(name, []), rewrite, affinity_sets)
    if existing is not None:
        chains, sets = _listed(existing)
        stale = sorted(c for c in chains if is_service_chain(c) and c not in tx.chains)
        tx.lines += [f"flush chain {TABLE} {chain}" for chain in stale]
        tx.lines += [f"delete chain {TABLE} {chain}" for chain in stale]
        for old_set in sorted(s for s in sets if is_affinity_set(s) and s not in affinity_sets):
            tx.lines.append(f"delete set {TABLE} {old_set}")
    return "\n".join(tx.lines) + "\n"


def _write_setup(tx: _Tx, node: NodeConfig) -> None:
    mark = _mark(node.masquerade_bit)
    tx.lines.append(f'add table {TABLE} {{ comment "rules for kube-proxy" ; }}')
    for base, kind, hook, priority in BASE_CHAINS:
        tx.lines.append(f"add chain {TABLE} {base} {{ type {kind} hook {hook} priority {priority} ; }}")
        tx.lines.append(f"flush chain {TABLE} {base}")
    for chain, source, match in JUMP_CHAINS:
        tx.ensure_chain(chain)
        tx.rule(source, f"{match} jump {chain}".strip())
    for chain in (SERVICES, CLUSTER_IPS_CHECK, MASQUERADING, MARK_MASQ):
        tx.ensure_chain(chain)
    tx.rule(MARK_MASQ, f"mark set mark or {mark}")
    tx.rule(MASQUERADING, f"mark and {mark} == 0 return")
    tx.rule(MASQUERADING, f"mark set mark xor {mark}")
    tx.rule(MASQUERADING, "masquerade fully-random")

    for kind, container, type_, note in CONTAINERS:
        tx.lines.append(f'add {kind} {TABLE} {container} {{ type {type_} ; comment "{note}" ; }}')
        tx.lines.append(f"flush {kind} {TABLE} {container}")
    invalid_ports = "Reject traffic to invalid ports of ClusterIPs"
    tx.rule(CLUSTER_IPS_CHECK, "ip daddr @cluster-ips reject", invalid_ports)

    node_ips = [ip for ip in node.node_ips if not ip.startswith("127.")]
    comment = "IPs that accept NodePort traffic"
    tx.lines.append(f'add set {TABLE} nodeport-ips {{ type ipv4_addr ; comment "{comment}" ; }}')
    if not node.node_ips:
        tx.lines.append(f"delete set {TABLE} nodeport-ips")
    else:
        tx.lines.append(f"flush set {TABLE} nodeport-ips")
        for ip in node_ips:
            tx.element("nodeport-ips", ip)

    tx.ensure_chain(REJECT_CHAIN, write=False)
    comment = "helper for @no-endpoint-services / @no-endpoint-nodeports"
    tx.lines.append(f'add chain {TABLE} {REJECT_CHAIN} {{ comment "{comment}" ; }}')
    tx.lines.append(f"flush chain {TABLE} {REJECT_CHAIN}")
    tx.rule(REJECT_CHAIN, "reject")
    tx.rule(SERVICE_ENDPOINTS_CHECK, "ip daddr . meta l4proto . th dport vmap @no-endpoint-services")
    nodeport_dst = NO_LOCALHOST if not node.node_ips else "ip daddr @nodeport-ips"
    tx.rule(NODEPORT_ENDPOINTS_CHECK, f"{nodeport_dst} meta l4proto . th dport vmap @no-endpoint-nodeports")
    tx.rule(FIREWALL_CHECK, "ip daddr . meta l4proto . th dport vmap @firewall-ips")
    tx.rule(SERVICES, "ip daddr . meta l4proto . th dport vmap @service-ips")
    if not node.node_ips:
        local = f"fib daddr type local {NO_LOCALHOST}"
        tx.rule(SERVICES, f"{local} meta l4proto . th dport vmap @service-nodeports")
    else:
        tx.rule(SERVICES, "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")


def _write_service(
    tx: _Tx,
    node: NodeConfig,
    svc: ServicePort,
    endpoints: list[Endpoint],
    rewrite: bool,
    affinity_sets: set[str],
) -> None:
    names = service_chains(svc)
    sets = categorize_endpoints(endpoints, svc, node.node_name)
    has_any = sets.has_any
    for ep in sets.reachable:
        tx.ensure_chain(names.endpoint(ep), rewrite)
        if svc.session_affinity_seconds:
            affinity_sets.add(names.affinity(ep))
    uses_cluster_chain = bool(sets.cluster) and uses_cluster_endpoints(svc)
    if uses_cluster_chain:
        tx.ensure_chain(names.cluster, rewrite)
    uses_local_chain = bool(sets.local) and uses_local_endpoints(svc)
    if uses_local_chain:
        tx.ensure_chain(names.local, rewrite)
    internal_chain, has_internal = names.cluster, has_any
    if svc.internal_policy_local:
        internal_chain, has_internal = names.local, has_any and bool(sets.local)
    external_policy_chain, has_external = names.cluster, has_any
    if svc.external_policy_local:
        external_policy_chain, has_external = names.local, has_any and bool(sets.local)
    uses_external_chain = has_any and externally_accessible(svc)
    if uses_external_chain:
        tx.ensure_chain(names.external, rewrite)
    internal_verdict = external_verdict = f"goto {REJECT_CHAIN}" if not has_any else "drop"

    proto, port, cluster_ip = names.protocol, svc.port, svc.cluster_ips[0]
    tx.element("cluster-ips", cluster_ip)
    if has_internal:
        tx.element("service-ips", f"{cluster_ip} . {proto} . {port}", f"goto {internal_chain}")
    else:
        tx.element("no-endpoint-services", f"{cluster_ip} . {proto} . {port}", internal_verdict, names.name)
    for ip in svc.external_ips:
        if has_any:
            tx.element("service-ips", f"{ip} . {proto} . {port}", f"goto {names.external}")
        if not has_external:
            tx.element("no-endpoint-services", f"{ip} . {proto} . {port}", external_verdict, names.name)
    for ip in svc.load_balancer_ips:
        if has_any:
            tx.element("service-ips", f"{ip} . {proto} . {port}", f"goto {names.external}")
    if not has_external:
        for ip in svc.load_balancer_ips:
            tx.element("no-endpoint-services", f"{ip} . {proto} . {port}", external_verdict, names.name)
    if svc.node_port:
        if has_any:
            tx.element("service-nodeports", f"{proto} . {svc.node_port}", f"goto {names.external}")
        if not has_external:
            tx.element("no-endpoint-nodeports", f"{proto} . {svc.node_port}", external_verdict, names.name)
    if not rewrite:
        return

    if has_internal:
        match = f"ip daddr {cluster_ip} {proto} dport {port}"
        if node.masquerade_all:
            tx.rule(internal_chain, f"{match} jump {MARK_MASQ}")
        elif node.cluster_cidr:
            tx.rule(internal_chain, f"{match} ip saddr != {node.cluster_cidr} jump {MARK_MASQ}")
    if uses_external_chain:
        _write_external_chain(tx, node, svc, names, external_policy_chain, has_external)
    for ep in sets.reachable if svc.session_affinity_seconds else ():
        tx.lines.append(
            f"add set {TABLE} {names.affinity(ep)} "
            f"{{ type ipv4_addr ; flags dynamic,timeout ; timeout {svc.session_affinity_seconds}s ; }}"
        )
    if uses_cluster_chain:
        _write_endpoint_choice(tx, svc, names, names.cluster, sets.cluster)
    if uses_local_chain:
        _write_endpoint_choice(tx, svc, names, names.local, sets.local)
    for ep in sets.reachable:
        chain = names.endpoint(ep)
        tx.rule(chain, f"ip saddr {ep.ip} jump {MARK_MASQ}")
        if svc.session_affinity_seconds:
            tx.rule(chain, f"update @{names.affinity(ep)} {{ ip saddr }}")
        tx.rule(chain, f"meta l4proto {proto} dnat to {ep}")


def _write_external_chain(
    tx: _Tx, node: NodeConfig, svc: ServicePort, names: ServiceChains, policy_chain: str, has_external: bool
) -> None:
    ext = names.external
    if not svc.external_policy_local:
        tx.rule(ext, f"jump {MARK_MASQ}")
    else:
        if node.cluster_cidr:
            tx.rule(ext, f"ip saddr {node.cluster_cidr} goto {names.cluster}", "short-circuit pod traffic")
        tx.rule(ext, f"fib saddr type local jump {MARK_MASQ}", "masquerade local traffic")
        tx.rule(ext, f"fib saddr type local goto {names.cluster}", "short-circuit local traffic")
    if has_external:
        tx.rule(ext, f"goto {policy_chain}")


def _write_endpoint_choice(
    tx: _Tx, svc: ServicePort, names: ServiceChains, chain: str, endpoints: list[Endpoint]
) -> None:
    if svc.session_affinity_seconds:
        for ep in endpoints:
            tx.rule(chain, f"ip saddr @{names.affinity(ep)} goto {names.endpoint(ep)}")
    choices = " , ".join(f"{i} : goto {names.endpoint(ep)}" for i, ep in enumerate(endpoints))
    tx.rule(chain, f"numgen random mod {len(endpoints)} vmap {{ {choices} }}")


_LISTED = re.compile(r"^\s*(chain|set|map)\s+(\S+)\s*\{", re.MULTILINE)


def _listed(text: str) -> tuple[set[str], set[str]]:
    """Chains and sets in the output of `nft list table ip kube-proxy`."""
    chains: set[str] = set()
    sets: set[str] = set()
    for kind, name in _LISTED.findall(text):
        (chains if kind == "chain" else sets).add(name)
    return chains, sets


def cleanup_nftables_text() -> str:
    """Deletes the kube-proxy table; applies cleanly whether or not the table exists."""
    return f"add table {TABLE}\ndelete table {TABLE}\n"
