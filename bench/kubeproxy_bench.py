"""kube-proxy rules at scale: render and apply times and rule counts for N services x 3 endpoints in both
modes, full and one-service partial syncs, applied with the real iptables-restore and nft inside a network
namespace this benchmark creates (only `lo`; deleted afterwards), never on the host's own rules.

    .venv/bin/python -m bench.kubeproxy_bench [--services 1000,5000,10000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kubeproxy.iptables.rules import render_iptables
from kubeproxy.model import NodeConfig
from kubeproxy.nftables.rules import render_nftables

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from unit.kubeproxy.scenarios import big_state


def run(namespace: str, *argv: str, stdin: str = "") -> float:
    began = time.perf_counter()
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *argv], input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]}: {done.stderr.strip()[:300]}")
    return time.perf_counter() - began


def timed(render: object) -> tuple[float, object]:
    began = time.perf_counter()
    result = render() if callable(render) else render
    return time.perf_counter() - began, result


def measure(services: int) -> str:
    state = big_state(services)
    node = NodeConfig("node0", ("192.168.0.2",), cluster_cidr="10.0.0.0/8")
    one = ("bench", f"svc{services // 2}", "http", "TCP")
    namespace = f"kp-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        ipt_render, ruleset = timed(lambda: render_iptables(state, node))
        ipt_partial_render, partial = timed(lambda: render_iptables(state, node, changed={one}))
        ipt_apply = run(namespace, "iptables-restore", "--noflush", stdin=ruleset.text)  # type: ignore[attr-defined]
        ipt_partial_apply = run(namespace, "iptables-restore", "--noflush", stdin=partial.text)  # type: ignore[attr-defined]
        nft_render, nft_text = timed(lambda: render_nftables(state, node))
        nft_partial_render, nft_partial = timed(lambda: render_nftables(state, node, changed={one}))
        nft_apply = run(namespace, "nft", "-f", "-", stdin=str(nft_text))
        nft_partial_apply = run(namespace, "nft", "-f", "-", stdin=str(nft_partial))
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    nft_rules = sum(1 for line in str(nft_text).splitlines() if line.startswith("add rule "))
    return (
        f"{services:6} services: iptables {ruleset.rule_count} rules, render {ipt_render:.3f}s "  # type: ignore[attr-defined]
        f"(partial {ipt_partial_render:.3f}s), restore {ipt_apply:.2f}s (partial {ipt_partial_apply:.2f}s) | "
        f"nftables {nft_rules} rules, render {nft_render:.3f}s (partial {nft_partial_render:.3f}s), "
        f"apply {nft_apply:.2f}s (partial {nft_partial_apply:.2f}s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--services", default="1000,5000,10000")
    for count in parser.parse_args().services.split(","):
        print(measure(int(count)), flush=True)


if __name__ == "__main__":
    main()
