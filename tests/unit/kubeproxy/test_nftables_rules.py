"""Golden files of the nftables transaction (regenerate with UPDATE_GOLDEN=1), and partial syncs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from unit.kubeproxy.scenarios import NODE, SCENARIOS

from kubeproxy.model import Endpoint, ProxyState, ServicePort
from kubeproxy.nftables.names import service_chains
from kubeproxy.nftables.rules import cleanup_nftables_text, render_nftables

GOLDEN = Path(__file__).parent / "golden" / "nftables"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transaction_matches_golden_file(name: str) -> None:
    text = render_nftables(SCENARIOS[name], NODE)
    path = GOLDEN / f"{name}.nft"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; regenerate with UPDATE_GOLDEN=1 and review"


def test_chain_names_are_upstreams() -> None:
    """Upstream's nftables proxier_test.go expects these names for ns1/svc1:p80 and 10.180.0.1:80."""
    chains = service_chains(ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP"))
    ep = Endpoint("10.180.0.1", 80, True, True, False)
    assert chains.cluster == "service-ULMVA6XW-ns1/svc1/tcp/p80"
    assert chains.endpoint(ep) == "endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80"


def test_partial_sync_rewrites_only_changed_chains_but_all_map_elements() -> None:
    svc1 = ServicePort(("ns1", "svc1", "p80", "TCP"), ("172.30.0.41",), 80, "TCP")
    svc2 = ServicePort(("ns1", "svc2", "p80", "TCP"), ("172.30.0.42",), 80, "TCP")
    ep = Endpoint("10.180.0.1", 80, True, True, False, "node1")
    state = ProxyState({svc1.name: svc1, svc2.name: svc2}, {svc1.name: [ep], svc2.name: [ep]})
    text = render_nftables(state, NODE, changed={svc2.name})
    c1, c2 = service_chains(svc1), service_chains(svc2)
    assert f"flush chain ip kube-proxy {c2.cluster}" in text
    assert f"flush chain ip kube-proxy {c1.cluster}" not in text
    assert f"add element ip kube-proxy service-ips {{ 172.30.0.41 . tcp . 80 : goto {c1.cluster} }}" in text


def test_stale_chains_and_affinity_sets_are_deleted_when_listed() -> None:
    existing = "table ip kube-proxy {\n\tset affinity-X-ns1/old/tcp/__1.2.3.4/80 {\n\t}\n"
    existing += "\tchain service-OLD-ns1/old/tcp/ {\n\t}\n\tchain services {\n\t}\n}\n"
    text = render_nftables(ProxyState(), NODE, existing=existing).splitlines()
    assert "delete chain ip kube-proxy service-OLD-ns1/old/tcp/" in text
    assert "delete set ip kube-proxy affinity-X-ns1/old/tcp/__1.2.3.4/80" in text
    assert "delete chain ip kube-proxy services" not in text


def test_cleanup_is_safe_when_the_table_is_absent() -> None:
    assert cleanup_nftables_text() == "add table ip kube-proxy\ndelete table ip kube-proxy\n"
