"""The generated rules are accepted by the real iptables-restore and nft, inside a throwaway netns.

Network safety: every command runs with `ip netns exec` in a namespace this test creates (only `lo`,
no route off the machine) and deletes afterwards, even on failure; the host's rules are never touched.
The rule counts and times at scale are bench/kubeproxy_bench.py's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from unit.kubeproxy.scenarios import NODE, SCENARIOS, big_state

from kubeproxy.iptables.rules import JUMP_RULES, cleanup_iptables_text, render_iptables
from kubeproxy.nftables.rules import cleanup_nftables_text, render_nftables

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2"),
]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"kp-rules-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run(ns: str, *argv: str, stdin: str = "") -> str:
    done = subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def saved(ns: str) -> str:
    """`iptables-save` without its timestamped comment lines and counters."""
    lines = run(ns, "iptables-save").splitlines()
    return "\n".join(line for line in lines if not line.startswith("#"))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_iptables_restore_accepts_applies_idempotently_and_cleans_up(netns: str, name: str) -> None:
    # Someone else's rules, which must survive untouched (they also make both tables exist).
    run(netns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.0/24", "-j", "RETURN")
    run(netns, "iptables", "-A", "INPUT", "-s", "192.0.2.0/24", "-j", "ACCEPT")
    before = saved(netns)
    ruleset = render_iptables(SCENARIOS[name], NODE, existing=run(netns, "iptables-save"))
    run(netns, "iptables-restore", "--noflush", stdin=ruleset.text)
    first = saved(netns)
    assert "KUBE-SERVICES" in first and "-j KUBE-SERVICES" in first

    again = render_iptables(SCENARIOS[name], NODE, existing=run(netns, "iptables-save"))
    run(netns, "iptables-restore", "--noflush", stdin=again.text)
    assert saved(netns) == first
    assert all(j.chain in first for j in JUMP_RULES)

    run(netns, "iptables-restore", "--noflush", stdin=cleanup_iptables_text(run(netns, "iptables-save")))
    assert saved(netns) == before


def test_iptables_partial_sync_applies_on_top_of_a_full_one(netns: str) -> None:
    state = big_state(20)
    run(netns, "iptables-restore", "--noflush", stdin=render_iptables(state, NODE).text)
    name = ("bench", "svc7", "http", "TCP")
    state.endpoints[name] = state.endpoints[name][:1]
    partial = render_iptables(state, NODE, changed={name}, existing=run(netns, "iptables-save"))
    run(netns, "iptables-restore", "--noflush", stdin=partial.text)
    assert saved(netns).count("bench/svc7:http -> ") == 1


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_nft_accepts_applies_idempotently_and_cleans_up(netns: str, name: str) -> None:
    before = run(netns, "nft", "list", "ruleset")
    text = render_nftables(SCENARIOS[name], NODE)
    run(netns, "nft", "-f", "-", stdin=text)
    first = run(netns, "nft", "list", "ruleset")
    assert "table ip kube-proxy" in first
    existing = run(netns, "nft", "list", "table", "ip", "kube-proxy")
    run(netns, "nft", "-f", "-", stdin=render_nftables(SCENARIOS[name], NODE, existing=existing))
    assert run(netns, "nft", "list", "ruleset") == first
    run(netns, "nft", "-f", "-", stdin=cleanup_nftables_text())
    assert run(netns, "nft", "list", "ruleset") == before
    run(netns, "nft", "-f", "-", stdin=cleanup_nftables_text())  # safe when the table is gone


def test_nft_stale_service_chains_are_removed(netns: str) -> None:
    state = big_state(5)
    run(netns, "nft", "-f", "-", stdin=render_nftables(state, NODE))
    gone = ("bench", "svc3", "http", "TCP")
    del state.services[gone], state.endpoints[gone]
    existing = run(netns, "nft", "list", "table", "ip", "kube-proxy")
    run(netns, "nft", "-f", "-", stdin=render_nftables(state, NODE, changed={gone}, existing=existing))
    listed = run(netns, "nft", "list", "table", "ip", "kube-proxy")
    assert "bench/svc3/" not in listed and "bench/svc4/" in listed
