"""kplane-proxy's flags: upstream's names and defaults, flags win over the config file, and the mode
choice (nftables where the kernel supports it, ipvs and userspace refused in one line)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from componentbase.cli import CommandError
from componentbase.errors import ConfigError, FlagError
from kubeproxy.apply import Result, Runner
from kubeproxy.config import KubeProxyConfiguration, apply_defaults
from kubeproxy.main import choose_mode, load_config
from kubeproxy.options import flag_set

FILE = """
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: 10.244.0.0/16
clientConnection: {kubeconfig: /from/file.conf}
iptables: {masqueradeAll: false, syncPeriod: 1m, minSyncPeriod: 5s}
healthzBindAddress: 0.0.0.0:10256
"""


def test_defaults_are_upstreams() -> None:
    flags = flag_set().parse([])
    config = load_config(flags)
    assert flags["healthz-bind-address"] == "0.0.0.0:10256"
    assert flags["metrics-bind-address"] == "127.0.0.1:10249"
    assert config.healthz_bind_address == "0.0.0.0:10256"
    assert config.metrics_bind_address == "127.0.0.1:10249"
    assert not flags["cleanup"] and config.mode == ""


def test_flags_given_on_the_command_line_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(FILE)
    flags = flag_set().parse(
        [
            f"--config={path}",
            "--proxy-mode=nftables",
            "--cluster-cidr=10.200.0.0/16",
            "--masquerade-all",
            "--kubeconfig=/from/flag.conf",
            "--hostname-override=node-7",
            "--healthz-bind-address=127.0.0.1:20256",
            "--nodeport-addresses=10.0.0.0/8,primary",
            "--iptables-min-sync-period=0s",
            "--v=3",
            "--log-format=json",
        ]
    )
    config = load_config(flags)
    assert config.mode == "nftables"
    assert config.cluster_cidr == "10.200.0.0/16"
    assert config.masquerade("nftables") == (14, True) and config.masquerade("iptables") == (14, True)
    assert config.client_connection.kubeconfig == "/from/flag.conf"
    assert config.hostname_override == "node-7"
    assert config.healthz_bind_address == "127.0.0.1:20256"
    assert config.node_port_addresses == ["10.0.0.0/8", "primary"]
    assert config.sync_periods("iptables") == (0.0, 60.0)  # the file's syncPeriod stays


def test_the_file_holds_where_no_flag_is_given(tmp_path: Path) -> None:
    path = tmp_path / "proxy.yaml"
    path.write_text(FILE)
    config = load_config(flag_set().parse([f"--config={path}"]))
    assert config.mode == "iptables"
    assert config.client_connection.kubeconfig == "/from/file.conf"
    assert config.sync_periods("iptables") == (5.0, 60.0)


def test_bad_flags_are_errors_naming_them() -> None:
    with pytest.raises(FlagError, match="unknown flag: --proxy-mod"):
        flag_set().parse(["--proxy-mod=iptables"])
    with pytest.raises(FlagError, match="--masquerade-all"):
        flag_set().parse(["--masquerade-all=perhaps"])
    with pytest.raises(ConfigError, match="metricsBindAddress"):
        load_config(flag_set().parse(["--metrics-bind-address=10249"]))


def nft_runner(works: bool) -> tuple[Runner, list[list[str]]]:
    calls: list[list[str]] = []

    async def run(argv: Sequence[str], stdin: str | None = None) -> Result:
        calls.append(list(argv))
        return Result(0 if works else 1, "", "" if works else "Operation not supported")

    return run, calls


@pytest.mark.parametrize(("works", "mode"), [(True, "nftables"), (False, "iptables")])
def test_the_default_mode_is_nftables_where_the_kernel_supports_it(works: bool, mode: str) -> None:
    runner, calls = nft_runner(works)
    assert asyncio.run(choose_mode(apply_defaults(KubeProxyConfiguration()), runner)) == mode
    assert calls == [["nft", "list", "tables"]]


def test_an_explicit_mode_is_kept_and_ipvs_and_userspace_refuse() -> None:
    runner, calls = nft_runner(True)
    config = apply_defaults(KubeProxyConfiguration(mode="iptables"))
    assert asyncio.run(choose_mode(config, runner)) == "iptables" and calls == []
    for mode, words in (("ipvs", 'mode "ipvs"'), ("userspace", "removed")):
        with pytest.raises(CommandError, match=words):
            asyncio.run(choose_mode(config.model_copy(update={"mode": mode}), runner))
    assert calls == []  # nothing probed, nothing touched
