"""KubeProxyConfiguration: upstream files load (the seed's example too), defaults are upstream's, bad
values are one line naming the field, and the modes kplane cannot run say why in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from componentbase.errors import ConfigError
from kubeproxy.config import KubeProxyConfiguration, apply_defaults, load_proxy_config, removed_mode_message
from kubeproxy.ipvs import ipvs_refusal, kernel_has_ipvs

SEED = """
# kube-proxy ConfigMap
apiVersion: kubelet.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: "ipvs"
ipvs:
  scheduler: "rr"  # Round-robin
  minSyncPeriod: 0s
  syncPeriod: 30s
"""

UPSTREAM = """
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: 0.0.0.0
clientConnection:
  acceptContentTypes: ""
  burst: 10
  contentType: application/vnd.kubernetes.protobuf
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 5
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 15m0s
conntrack:
  maxPerCore: 32768
  min: 131072
  tcpCloseWaitTimeout: 1h0m0s
  tcpEstablishedTimeout: 24h0m0s
enableProfiling: false
healthzBindAddress: 0.0.0.0:10256
hostnameOverride: ""
iptables:
  localhostNodePorts: true
  masqueradeAll: false
  masqueradeBit: 14
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
metricsBindAddress: 127.0.0.1:10249
mode: nftables
nftables:
  masqueradeAll: true
  masqueradeBit: 10
  minSyncPeriod: 2s
  syncPeriod: 1m
nodePortAddresses: [primary, 192.168.0.0/16]
oomScoreAdj: -999
portRange: ""
showHiddenMetricsForVersion: ""
winkernel: {enableDSR: false, networkName: "", sourceVip: ""}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proxy.yaml"
    path.write_text(text)
    return path


def test_the_seeds_example_loads_despite_its_kubelet_api_version(tmp_path: Path) -> None:
    config = load_proxy_config(write(tmp_path, SEED))
    assert config.mode == "ipvs"
    assert config.ipvs.scheduler == "rr"
    assert config.sync_periods("ipvs") == (0.0, 30.0)


def test_kubeadms_generated_file_loads_with_upstream_defaults_for_zero_values(tmp_path: Path) -> None:
    config = load_proxy_config(write(tmp_path, UPSTREAM))
    assert config.mode == "nftables"
    assert config.client_connection.kubeconfig == "/var/lib/kube-proxy/kubeconfig.conf"
    assert config.cluster_cidr == "10.244.0.0/16"
    assert config.sync_periods("nftables") == (2.0, 60.0)
    assert config.sync_periods("iptables") == (0.0, 30.0)  # syncPeriod: 0s is defaulted, as upstream
    assert config.masquerade("nftables") == (10, True)
    assert config.masquerade("iptables") == (14, False)
    assert config.node_port_addresses == ["primary", "192.168.0.0/16"]
    assert config.config_sync_period == 900.0


def test_defaults_without_a_file_are_upstreams() -> None:
    config = apply_defaults(KubeProxyConfiguration())
    assert config.healthz_bind_address == "0.0.0.0:10256"
    assert config.metrics_bind_address == "127.0.0.1:10249"
    assert config.sync_periods("iptables") == (1.0, 30.0)
    assert config.sync_periods("nftables") == (1.0, 30.0)
    assert config.masquerade("iptables") == (14, False)
    assert config.mode == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmodee: iptables\n",
            ":3: modee: unknown field",
            id="unknown field",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1\nkind: KubeProxyConfiguration\n",
            'apiVersion: got "kubeproxy.config.k8s.io/v1", expected "kubeproxy.config.k8s.io/v1alpha1"',
            id="wrong version",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
            "iptables: {masqueradeBit: 40}\n",
            "invalid configuration: iptables.masqueradeBit: must be within the range [0, 31] (got 40)",
            id="masquerade bit",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
            "nftables: {minSyncPeriod: 1m, syncPeriod: 30s}\n",
            "invalid configuration: nftables.minSyncPeriod: must be <= nftables.syncPeriod",
            id="min above sync",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
            "iptables: {syncPeriod: soon}\n",
            ":3: iptables.syncPeriod: Value error, invalid duration 'soon'",
            id="bad duration",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
            "healthzBindAddress: localhost:10256\n",
            'healthzBindAddress: "localhost:10256" must be IP:port',
            id="bind address",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: turbo\n",
            'mode: must be "iptables", "nftables" or "ipvs" (got "turbo")',
            id="mode",
        ),
        pytest.param(
            "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
            "nodePortAddresses: [10.0.0.0/33]\n",
            'nodePortAddresses: "10.0.0.0/33" is not a CIDR',
            id="node port addresses",
        ),
    ],
)
def test_bad_files_are_one_line_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_proxy_config(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_ipvs_refuses_in_one_line_saying_why_and_what_to_do(tmp_path: Path) -> None:
    absent = tmp_path / "ip_vs"
    assert not kernel_has_ipvs(absent, modprobe=lambda: False)
    message = ipvs_refusal(False)
    assert "this kernel has none" in message and "--proxy-mode=nftables" in message and "\n" not in message
    absent.write_text("IP Virtual Server version 1.2.1\n")
    assert kernel_has_ipvs(absent, modprobe=lambda: False)
    assert kernel_has_ipvs(tmp_path / "missing", modprobe=lambda: True)
    assert "not implemented" in ipvs_refusal(True)


def test_userspace_mode_says_upstream_removed_it() -> None:
    message = removed_mode_message("userspace")
    assert message is not None and "removed" in message and "1.26" in message
    assert removed_mode_message("iptables") is None
