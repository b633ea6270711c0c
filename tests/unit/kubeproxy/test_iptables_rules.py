"""Golden files of the iptables rules (regenerate with UPDATE_GOLDEN=1), and partial syncs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from unit.kubeproxy.scenarios import NODE, SCENARIOS

from kubeproxy.iptables.names import service_chains
from kubeproxy.iptables.rules import cleanup_iptables_text, render_iptables
from kubeproxy.model import Endpoint, ProxyState, ServicePort

GOLDEN = Path(__file__).parent / "golden" / "iptables"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.rules"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; regenerate with UPDATE_GOLDEN=1 and review"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rules_match_golden_file(name: str) -> None:
    check_golden(name, render_iptables(SCENARIOS[name], NODE).text)


def test_chain_names_are_upstreams() -> None:
    """Upstream's proxier_test.go expects these names for ns1/svc1:p80 and endpoint 10.180.0.1:80."""
    chains = service_chains(ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP"))
    assert chains.cluster == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert chains.endpoint(Endpoint("10.180.0.1", 80, True, True, False)) == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def two_services(svc2_endpoints: list[Endpoint]) -> ProxyState:
    svc1 = ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP")
    svc2 = ServicePort(("ns1", "svc2", "p80", "TCP"), ("172.30.0.42",), 80, "TCP")
    ep1 = Endpoint("10.180.0.1", 80, True, True, False, "node1")
    return ProxyState({svc1.name: svc1, svc2.name: svc2}, {svc1.name: [ep1], svc2.name: svc2_endpoints})


def test_partial_sync_writes_only_the_changed_services_chains() -> None:
    ep2 = Endpoint("10.180.0.2", 80, True, True, False, "node2")
    state = two_services([ep2])
    svc1, svc2 = (service_chains(state.services[n]) for n in sorted(state.services))
    changed = {("ns1", "svc2", "p80", "TCP")}

    full = render_iptables(state, NODE)
    partial = render_iptables(state, NODE, changed=changed)

    sep2 = svc2.endpoint(ep2)
    declared = {line[1:].split(" ")[0] for line in partial.text.splitlines() if line.startswith(":")}
    assert {svc2.cluster, sep2} <= declared
    assert svc1.cluster not in declared
    assert f"-A {svc1.cluster} " not in partial.text
    assert f"-A {svc2.cluster} " in partial.text
    # KUBE-SERVICES is rewritten whole, so it still sends svc1's traffic to its untouched chain.
    assert f"-j {svc1.cluster}" in partial.text
    assert partial.rule_count == full.rule_count
    assert partial.chains == full.chains


def test_partial_sync_deletes_chains_of_a_service_that_lost_its_endpoints() -> None:
    svc2 = service_chains(ServicePort(("ns1", "svc2", "p80", "TCP"), ("172.30.0.42",), 80, "TCP"))
    partial = render_iptables(two_services([]), NODE, changed={("ns1", "svc2", "p80", "TCP")})
    assert f"-X {svc2.cluster}" in partial.text.splitlines()
    assert '"ns1/svc2:p80 has no endpoints"' in partial.text


def test_existing_ruleset_adds_missing_jumps_and_deletes_stale_chains() -> None:
    existing = "\n".join(
        [
            "*nat",
            ":PREROUTING ACCEPT [0:0]",
            ":KUBE-SERVICES - [0:0]",
            ":KUBE-SEP-STALESTALESTALE1 - [0:0]",
            '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            "COMMIT",
        ]
    )
    text = render_iptables(two_services([]), NODE, existing=existing).text.splitlines()
    assert "-X KUBE-SEP-STALESTALESTALE1" in text
    assert '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES' in text
    assert not any(line.startswith("-I PREROUTING") for line in text)


def test_cleanup_from_saved_rules_deletes_only_what_exists() -> None:
    existing = "\n".join(
        [
            "*nat",
            ":KUBE-SERVICES - [0:0]",
            ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
            '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
            "COMMIT",
        ]
    )
    assert cleanup_iptables_text(existing).splitlines() == [
        "*filter",
        "COMMIT",
        "*nat",
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
        '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        "-X KUBE-SERVICES",
        "-X KUBE-SVC-XPGD46QRK7WJZT7O",
        "COMMIT",
    ]


def test_large_clusters_drop_endpoint_comments() -> None:
    svc = ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP")
    eps = [Endpoint(f"10.1.{i // 250}.{i % 250}", 80, True, True, False) for i in range(1001)]
    text = render_iptables(ProxyState({svc.name: svc}, {svc.name: eps}), NODE).text
    assert "-> 10.1.0.0:80" not in text
    assert "-m statistic --mode random --probability 0.0009990010 -j KUBE-SEP-" in text
