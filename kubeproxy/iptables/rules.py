"""iptables rules for kube-proxy: a pure function of services, endpoints and node config.

The layout is upstream's (pkg/proxy/iptables, v1.32): in `nat`, KUBE-SERVICES matches each service IP
and jumps to the service's KUBE-SVC (Cluster policy) or KUBE-SVL (Local policy) chain, which picks an
endpoint's KUBE-SEP chain with `statistic --mode random` (and `recent` for ClientIP affinity); external
destinations (NodePorts, external and load-balancer IPs) go through KUBE-EXT; KUBE-MARK-MASQ marks
and KUBE-POSTROUTING masquerades. In `filter`, services without endpoints REJECT. The text is what
`iptables-restore --noflush` takes; each chain it writes is flushed by its ":CHAIN - [0:0]" line.

Jumps from the built-in chains (PREROUTING -> KUBE-SERVICES, ...) cannot be written idempotently in a
`--noflush` restore, so they are added only for those missing from `existing` (the current
`iptables-save` output), or by the caller from `JUMP_RULES`. Load-balancer source ranges (KUBE-FW) and
localhost NodePorts are not implemented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kubeproxy.iptables.names import ServiceChains, is_service_chain, service_chains
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

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"

FILTER_CHAINS = (KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL)
NAT_CHAINS = (KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ)
LARGE_CLUSTER_ENDPOINTS = 1000
"""Above this many endpoints, endpoint rules carry no comments (upstream's large cluster mode)."""


@dataclass(frozen=True)
class JumpRule:
    """A rule in a built-in chain that jumps into one of ours."""

    table: str
    chain: str
    target: str
    comment: str
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        """The rule's arguments for the iptables CLI (`iptables -t TABLE -C|-I|-D CHAIN *args`)."""
        return [*self.extra, "-m", "comment", "--comment", self.comment, "-j", self.target]

    def spec(self) -> str:
        """The rule's arguments as `iptables-restore` and `iptables-save` write them."""
        return " ".join([*self.extra, "-m", "comment", "--comment", f'"{self.comment}"', "-j", self.target])


_NEW = ("-m", "conntrack", "--ctstate", "NEW")
_EXTERNAL = "kubernetes externally-visible service portals"
JUMP_RULES = (
    JumpRule("filter", "INPUT", KUBE_EXTERNAL_SERVICES, _EXTERNAL, _NEW),
    JumpRule("filter", "FORWARD", KUBE_EXTERNAL_SERVICES, _EXTERNAL, _NEW),
    JumpRule("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    JumpRule("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", _NEW),
    JumpRule("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    JumpRule("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", _NEW),
    JumpRule("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    JumpRule("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
)


@dataclass(frozen=True)
class IptablesRuleset:
    text: str
    """Input for `iptables-restore --noflush`: *filter ... COMMIT *nat ... COMMIT."""
    rule_count: int
    """Rules in kube-proxy's chains after the restore (those of skipped, unchanged services included)."""
    chains: set[str]
    """Every kube-proxy chain that exists after the restore (nat and filter)."""


@dataclass
class SavedTables:
    """Chains and rules per table, parsed from `iptables-save` output."""

    chains: dict[str, set[str]] = field(default_factory=dict)
    rules: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SavedTables:
        saved = cls()
        table = ""
        for line in text.splitlines():
            if line.startswith("*"):
                table = line[1:].strip()
                saved.chains.setdefault(table, set())
                saved.rules.setdefault(table, [])
            elif line.startswith(":") and table:
                saved.chains[table].add(line[1:].split(" ", 1)[0])
            elif line.startswith("-A ") and table:
                saved.rules[table].append(line)
        return saved

    def has_jump(self, jump: JumpRule) -> bool:
        head, target = f"-A {jump.chain} ", f"-j {jump.target}"
        return any(
            r.startswith(head) and (r.endswith(target) or f"{target} " in r) and f'"{jump.comment}"' in r
            for r in self.rules.get(jump.table, ())
        )


class _Lines:
    """Restore lines and how many of them are rules; `keep=False` only counts (skipped services)."""

    def __init__(self, keep: bool = True) -> None:
        self.lines: list[str] = []
        self.keep = keep
        self.count = 0

    def rule(self, *parts: str) -> None:
        self.count += 1
        if self.keep:
            self.lines.append(" ".join(parts))

    def chain(self, name: str) -> None:
        if self.keep:
            self.lines.append(f":{name} - [0:0]")


def _probability(n: int) -> str:
    return f"{1.0 / n:0.10f}"


def _mark(bit: int) -> str:
    return f"{1 << bit:#x}"


@dataclass
class _Context:
    node: NodeConfig
    mark: str
    large: bool
    filter_rules: _Lines
    nat_rules: _Lines
    nat_chains: _Lines
    skipped: _Lines
    active: set[str]

    def comment(self, text: str) -> tuple[str, ...]:
        return () if self.large else ("-m", "comment", "--comment", text)


def render_iptables(
    state: ProxyState,
    node: NodeConfig,
    *,
    changed: set[ServicePortName] | None = None,
    existing: str | None = None,
) -> IptablesRuleset:
    """The whole kube-proxy ruleset, or with `changed` one that rewrites only those services' chains.

    `existing` is the current `iptables-save` output: when given, missing jumps from the built-in
    chains are inserted and every stale service chain is deleted. Without it, only the stale chains of
    changed services whose names are known (KUBE-SVC/SVL/EXT/FW) are deleted.
    """
    saved = SavedTables.parse(existing) if existing is not None else None
    total_endpoints = sum(len(state.endpoints.get(name, ())) for name in state.services)
    ctx = _Context(
        node=node,
        mark=_mark(node.masquerade_bit),
        large=total_endpoints > LARGE_CLUSTER_ENDPOINTS,
        filter_rules=_Lines(),
        nat_rules=_Lines(),
        nat_chains=_Lines(),
        skipped=_Lines(keep=False),
        active=set(),
    )
    for chain in NAT_CHAINS:
        ctx.nat_chains.chain(chain)
    _write_masquerade_rules(ctx)

    for name in sorted(state.services):
        svc = state.services[name]
        rewrite = changed is None or name in changed
        _write_service(ctx, svc, state.endpoints.get(name, []), rewrite)

    _write_nodeport_jumps(ctx)
    _write_forward_rules(ctx)

    stale: set[str] = set()
    if saved is not None:
        stale = {c for c in saved.chains.get("nat", ()) if is_service_chain(c)} - ctx.active
    elif changed is not None:
        for name in changed:
            c = service_chains(state.services.get(name) or ServicePort(name, (), 0, name[3]))
            stale |= {c.cluster, c.local, c.external, c.firewall} - ctx.active
    for chain in sorted(stale):
        ctx.nat_chains.chain(chain)
        ctx.nat_rules.lines.append(f"-X {chain}")

    jumps = [j for j in JUMP_RULES if not saved.has_jump(j)] if saved is not None else []
    out = ["*filter"]
    out += [f":{chain} - [0:0]" for chain in FILTER_CHAINS]
    out += [f"-I {j.chain} 1 {j.spec()}" for j in jumps if j.table == "filter"]
    out += ctx.filter_rules.lines
    out += ["COMMIT", "*nat"]
    out += ctx.nat_chains.lines
    out += [f"-I {j.chain} 1 {j.spec()}" for j in jumps if j.table == "nat"]
    out += ctx.nat_rules.lines
    out += ["COMMIT", ""]
    return IptablesRuleset(
        text="\n".join(out),
        rule_count=ctx.filter_rules.count + ctx.nat_rules.count + ctx.skipped.count,
        chains=set(FILTER_CHAINS) | set(NAT_CHAINS) | ctx.active,
    )


def _write_masquerade_rules(ctx: _Context) -> None:
    mark, nat = ctx.mark, ctx.nat_rules
    nat.rule("-A", KUBE_POSTROUTING, "-m mark !", "--mark", f"{mark}/{mark}", "-j RETURN")
    nat.rule("-A", KUBE_POSTROUTING, "-j MARK --xor-mark", mark)
    nat.rule(
        "-A",
        KUBE_POSTROUTING,
        '-m comment --comment "kubernetes service traffic requiring SNAT"',
        "-j MASQUERADE --random-fully",
    )
    nat.rule("-A", KUBE_MARK_MASQ, "-j MARK --or-mark", mark)


def _write_service(ctx: _Context, svc: ServicePort, endpoints: list[Endpoint], rewrite: bool) -> None:
    names = service_chains(svc)
    sets = categorize_endpoints(endpoints, svc, ctx.node.node_name)
    has_any = sets.has_any
    uses_cluster_chain = bool(sets.cluster) and uses_cluster_endpoints(svc)
    uses_local_chain = bool(sets.local) and uses_local_endpoints(svc)
    internal_chain, has_internal = names.cluster, has_any
    if svc.internal_policy_local:
        internal_chain, has_internal = names.local, has_any and bool(sets.local)
    external_policy_chain, has_external = names.cluster, has_any
    if svc.external_policy_local:
        external_policy_chain, has_external = names.local, has_any and bool(sets.local)
    uses_external_chain = has_any and externally_accessible(svc)

    if not has_any:
        internal_target = external_target = "REJECT"
        internal_comment = external_comment = f'"{names.name} has no endpoints"'
    else:
        internal_target = external_target = "DROP"
        internal_comment = external_comment = f'"{names.name} has no local endpoints"'

    proto = f"-m {names.protocol} -p {names.protocol}"
    port = str(svc.port)
    cluster_ip = svc.cluster_ips[0]
    filt, nat = ctx.filter_rules, ctx.nat_rules
    if has_internal:
        nat.rule(
            "-A", KUBE_SERVICES, "-m comment --comment", f'"{names.name} cluster IP"', proto,
            "-d", cluster_ip, "--dport", port, "-j", internal_chain,
        )  # fmt: skip
    else:
        filt.rule(
            "-A", KUBE_SERVICES, "-m comment --comment", internal_comment, proto,
            "-d", cluster_ip, "--dport", port, "-j", internal_target,
        )  # fmt: skip
    for ip in svc.external_ips:
        if has_any:
            nat.rule(
                "-A", KUBE_SERVICES, "-m comment --comment", f'"{names.name} external IP"', proto,
                "-d", ip, "--dport", port, "-j", names.external,
            )  # fmt: skip
        if not has_external:
            filt.rule(
                "-A", KUBE_EXTERNAL_SERVICES, "-m comment --comment", external_comment, proto,
                "-d", ip, "--dport", port, "-j", external_target,
            )  # fmt: skip
    for ip in svc.load_balancer_ips:
        if has_any:
            nat.rule(
                "-A", KUBE_SERVICES, "-m comment --comment", f'"{names.name} loadbalancer IP"', proto,
                "-d", ip, "--dport", port, "-j", names.external,
            )  # fmt: skip
    if not has_external:
        for ip in svc.load_balancer_ips:
            filt.rule(
                "-A", KUBE_EXTERNAL_SERVICES, "-m comment --comment", external_comment, proto,
                "-d", ip, "--dport", port, "-j", external_target,
            )  # fmt: skip
    if svc.node_port:
        node_port = str(svc.node_port)
        if has_any:
            nat.rule(
                "-A", KUBE_NODEPORTS, "-m comment --comment", names.name, proto,
                "--dport", node_port, "-j", names.external,
            )  # fmt: skip
        if not has_external:
            filt.rule(
                "-A", KUBE_EXTERNAL_SERVICES, "-m comment --comment", external_comment,
                "-m addrtype --dst-type LOCAL", proto, "--dport", node_port, "-j", external_target,
            )  # fmt: skip
    if svc.health_check_node_port:
        filt.rule(
            "-A", KUBE_NODEPORTS, "-m comment --comment", f'"{names.name} health check node port"',
            "-m tcp -p tcp --dport", str(svc.health_check_node_port), "-j ACCEPT",
        )  # fmt: skip

    chains, rules = (ctx.nat_chains, nat) if rewrite else (ctx.skipped, ctx.skipped)
    if has_internal:
        match = f'-m comment --comment "{names.name} cluster IP" {proto} -d {cluster_ip} --dport {port}'
        if ctx.node.masquerade_all:
            rules.rule("-A", internal_chain, match, "-j", KUBE_MARK_MASQ)
        elif ctx.node.cluster_cidr:
            rules.rule("-A", internal_chain, match, "! -s", ctx.node.cluster_cidr, "-j", KUBE_MARK_MASQ)

    if uses_external_chain:
        _write_external_chain(ctx, svc, names, external_policy_chain, has_external, chains, rules)
    if uses_cluster_chain:
        chains.chain(names.cluster)
        ctx.active.add(names.cluster)
        _write_endpoint_choice(ctx, svc, names, names.cluster, sets.cluster, rules)
    if uses_local_chain:
        chains.chain(names.local)
        ctx.active.add(names.local)
        _write_endpoint_choice(ctx, svc, names, names.local, sets.local, rules)
    for ep in sets.reachable:
        chain = names.endpoint(ep)
        chains.chain(chain)
        ctx.active.add(chain)
        head = ("-A", chain, *ctx.comment(names.name))
        rules.rule(*head, "-s", ep.ip, "-j", KUBE_MARK_MASQ)
        affinity = ("-m", "recent", "--name", chain, "--set") if svc.session_affinity_seconds else ()
        rules.rule(*head, *affinity, proto, "-j DNAT --to-destination", str(ep))


def _write_external_chain(
    ctx: _Context,
    svc: ServicePort,
    names: ServiceChains,
    policy_chain: str,
    has_external: bool,
    chains: _Lines,
    rules: _Lines,
) -> None:
    ext = names.external
    chains.chain(ext)
    ctx.active.add(ext)
    if not svc.external_policy_local:
        comment = f'"masquerade traffic for {names.name} external destinations"'
        rules.rule("-A", ext, "-m comment --comment", comment, "-j", KUBE_MARK_MASQ)
    else:
        if ctx.node.cluster_cidr:
            comment = f'"pod traffic for {names.name} external destinations"'
            pods = ("-s", ctx.node.cluster_cidr)
            rules.rule("-A", ext, "-m comment --comment", comment, *pods, "-j", names.cluster)
        local_src = "-m addrtype --src-type LOCAL -j"
        comment = f'"masquerade LOCAL traffic for {names.name} external destinations"'
        rules.rule("-A", ext, "-m comment --comment", comment, local_src, KUBE_MARK_MASQ)
        comment = f'"route LOCAL traffic for {names.name} external destinations"'
        rules.rule("-A", ext, "-m comment --comment", comment, local_src, names.cluster)
    if has_external:
        rules.rule("-A", ext, "-j", policy_chain)


def _write_endpoint_choice(
    ctx: _Context,
    svc: ServicePort,
    names: ServiceChains,
    chain: str,
    endpoints: list[Endpoint],
    rules: _Lines,
) -> None:
    if svc.session_affinity_seconds:
        seconds = str(svc.session_affinity_seconds)
        for ep in endpoints:
            sep = names.endpoint(ep)
            rules.rule(
                "-A", chain, *ctx.comment(f'"{names.name} -> {ep}"'),
                "-m recent --name", sep, "--rcheck --seconds", seconds, "--reap -j", sep,
            )  # fmt: skip
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        pick = ("-m statistic --mode random --probability", _probability(n - i)) if i < n - 1 else ()
        rules.rule("-A", chain, *ctx.comment(f'"{names.name} -> {ep}"'), *pick, "-j", names.endpoint(ep))


def _write_nodeport_jumps(ctx: _Context) -> None:
    comment = '"kubernetes service nodeports; NOTE: this must be the last rule in this chain"'
    rule = ctx.nat_rules.rule
    if not ctx.node.node_ips:
        ctx.nat_rules.rule(
            "-A", KUBE_SERVICES, "-m comment --comment", comment,
            "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j", KUBE_NODEPORTS,
        )  # fmt: skip
    for ip in ctx.node.node_ips:
        if ip.startswith("127."):
            continue  # localhost NodePorts need route_localnet, which we do not set
        rule("-A", KUBE_SERVICES, "-m comment --comment", comment, "-d", ip, "-j", KUBE_NODEPORTS)


def _write_forward_rules(ctx: _Context) -> None:
    mark, filt = ctx.mark, ctx.filter_rules
    filt.rule("-A", KUBE_FORWARD, "-m conntrack --ctstate INVALID -j DROP")
    filt.rule(
        "-A", KUBE_FORWARD, '-m comment --comment "kubernetes forwarding rules"',
        "-m mark --mark", f"{mark}/{mark}", "-j ACCEPT",
    )  # fmt: skip
    filt.rule(
        "-A", KUBE_FORWARD, '-m comment --comment "kubernetes forwarding conntrack rule"',
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    )  # fmt: skip


_CHAIN_LINE = re.compile(r"^:(\S+)")


def cleanup_iptables_text(existing: str | None = None) -> str:
    """Input for `iptables-restore --noflush` that removes every kube-proxy chain and the jumps into them.

    `existing` is the current `iptables-save` output; only what it shows is deleted, so the text applies
    cleanly whatever is left. Without it, the text assumes a ruleset this module rendered with jumps
    (`JUMP_RULES`) and fixed chains present, and fails in `iptables-restore` otherwise.
    """
    saved = SavedTables.parse(existing) if existing is not None else None
    out: list[str] = []
    for table, ours in (("filter", FILTER_CHAINS), ("nat", NAT_CHAINS)):
        jumps = [j for j in JUMP_RULES if j.table == table]
        if saved is not None:
            jumps = [j for j in jumps if saved.has_jump(j)]
            present = saved.chains.get(table, set())
            chains = [c for c in ours if c in present]
            if table == "nat":
                chains += sorted(c for c in present if is_service_chain(c))
        else:
            chains = list(ours)
        out.append(f"*{table}")
        out += [f":{c} - [0:0]" for c in chains]
        out += [f"-D {j.chain} {j.spec()}" for j in jumps]
        out += [f"-X {c}" for c in chains]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def chains_in(text: str) -> Iterable[str]:
    """Chain names declared in restore or save text."""
    for line in text.splitlines():
        m = _CHAIN_LINE.match(line)
        if m:
            yield m.group(1)
