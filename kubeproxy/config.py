"""KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1): read strictly, defaulted and validated like
upstream's (pkg/proxy/apis/config/v1alpha1/defaults.go, validation/validation.go).

Every field of the v1alpha1 kind is accepted, so an upstream config file loads unchanged; the fields kplane
acts on are typed, the rest (`Any`) are kept. A bad value is one ConfigError line naming the file and field:

    proxy.yaml: invalid configuration: iptables.masqueradeBit: must be within the range [0, 31] (got 40)
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

import yaml
from pydantic import Field

from componentbase.config import ConfigModel, Duration, load_config
from componentbase.errors import ConfigError

API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"
KIND = "KubeProxyConfiguration"
# The seed's example (chapter 12) says `apiVersion: kubelet.config.k8s.io/v1alpha1` with
# `kind: KubeProxyConfiguration`: a typo for kubeproxy.config.k8s.io. The project promises the seed's
# examples load unchanged, and no kubelet kind of that name exists to be confused with, so the typo is
# read as the kube-proxy group (and said so in the log).
SEED_TYPO_API_VERSION = "kubelet.config.k8s.io/v1alpha1"

MODES = ("iptables", "nftables", "ipvs")
REMOVED_MODES = {"userspace": "1.26", "kernelspace": ""}


class ClientConnection(ConfigModel):
    kubeconfig: str = ""
    accept_content_types: str = ""
    content_type: str = ""
    qps: float = 5.0
    burst: int = 10


class IPTables(ConfigModel):
    masquerade_bit: int | None = 14
    masquerade_all: bool = False
    localhost_node_ports: bool | None = True
    snat_node_internal_ip: bool | None = Field(default=None, alias="snatNodeInternalIP")
    sync_period: Duration = 30.0
    min_sync_period: Duration = 1.0


class IPVS(ConfigModel):
    sync_period: Duration = 30.0
    min_sync_period: Duration = 0.0
    scheduler: str = ""
    exclude_cidrs: list[str] | None = Field(default=None, alias="excludeCIDRs")
    strict_arp: bool = Field(default=False, alias="strictARP")
    tcp_timeout: Duration = Field(default=0.0, alias="tcpTimeout")
    tcp_fin_timeout: Duration = Field(default=0.0, alias="tcpFinTimeout")
    udp_timeout: Duration = Field(default=0.0, alias="udpTimeout")


class NFTables(ConfigModel):
    masquerade_bit: int | None = 14
    masquerade_all: bool = False
    sync_period: Duration = 30.0
    min_sync_period: Duration = 1.0


class KubeProxyConfiguration(ConfigModel):
    feature_gates: dict[str, bool] = Field(default_factory=dict)
    client_connection: ClientConnection = Field(default_factory=lambda: ClientConnection())
    hostname_override: str = ""
    bind_address: str = "0.0.0.0"
    healthz_bind_address: str = "0.0.0.0:10256"
    metrics_bind_address: str = "127.0.0.1:10249"
    bind_address_hard_fail: bool = False
    mode: str = ""
    iptables: IPTables = Field(default_factory=lambda: IPTables())
    ipvs: IPVS = Field(default_factory=lambda: IPVS())
    nftables: NFTables = Field(default_factory=lambda: NFTables())
    cluster_cidr: str = Field(default="", alias="clusterCIDR")
    node_port_addresses: list[str] | None = None
    config_sync_period: Duration = 15 * 60.0
    # Accepted from upstream files; kplane does not act on them.
    logging: Any = None
    enable_profiling: Any = None
    show_hidden_metrics_for_version: Any = None
    winkernel: Any = None
    detect_local_mode: Any = None
    detect_local: Any = None
    oom_score_adj: Any = Field(default=None, alias="oomScoreAdj")
    conntrack: Any = None
    port_range: Any = None
    windows_run_as_service: Any = None

    def sync_periods(self, mode: str) -> tuple[float, float]:
        """(minSyncPeriod, syncPeriod) of `mode`'s section, as upstream picks them."""
        section: IPTables | IPVS | NFTables = self.iptables
        if mode == "nftables":
            section = self.nftables
        elif mode == "ipvs":
            section = self.ipvs
        return section.min_sync_period, section.sync_period

    def masquerade(self, mode: str) -> tuple[int, bool]:
        """(masqueradeBit, masqueradeAll) of `mode`'s section."""
        section = self.nftables if mode == "nftables" else self.iptables
        return (14 if section.masquerade_bit is None else section.masquerade_bit), section.masquerade_all


def apply_defaults(config: KubeProxyConfiguration) -> KubeProxyConfiguration:
    """Upstream defaults zero values, not only absent fields (SetDefaults_KubeProxyConfiguration)."""
    for section in (config.iptables, config.ipvs, config.nftables):
        if section.sync_period == 0:
            section.sync_period = 30.0
    for masquerading in (config.iptables, config.nftables):
        if masquerading.masquerade_bit is None:
            masquerading.masquerade_bit = 14
    if config.config_sync_period == 0:
        config.config_sync_period = 15 * 60.0
    if not config.healthz_bind_address:
        config.healthz_bind_address = "0.0.0.0:10256"
    if not config.metrics_bind_address:
        config.metrics_bind_address = "127.0.0.1:10249"
    return config


def validate(config: KubeProxyConfiguration) -> list[tuple[str, str]]:
    """Upstream's Validate, for the fields kplane acts on: (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    for name, section in (
        ("iptables", config.iptables),
        ("ipvs", config.ipvs),
        ("nftables", config.nftables),
    ):
        if section.sync_period <= 0:
            problems.append((f"{name}.syncPeriod", "must be greater than 0"))
        if section.min_sync_period < 0:
            problems.append((f"{name}.minSyncPeriod", "must be greater than or equal to 0"))
        elif section.min_sync_period > section.sync_period and section.sync_period > 0:
            problems.append((f"{name}.minSyncPeriod", f"must be <= {name}.syncPeriod"))
    for name, bit in (
        ("iptables", config.iptables.masquerade_bit),
        ("nftables", config.nftables.masquerade_bit),
    ):
        if bit is not None and not 0 <= bit <= 31:
            problems.append((f"{name}.masqueradeBit", f"must be within the range [0, 31] (got {bit})"))
    if config.mode and config.mode not in MODES and config.mode not in REMOVED_MODES:
        problems.append(("mode", f'must be "iptables", "nftables" or "ipvs" (got "{config.mode}")'))
    if config.config_sync_period <= 0:
        problems.append(("configSyncPeriod", "must be greater than 0"))
    for field in ("healthz_bind_address", "metrics_bind_address"):
        value = getattr(config, field)
        if value:
            try:
                split_host_port(value)
            except ValueError as error:
                problems.append((_alias(field), str(error)))
    for cidr in filter(None, config.cluster_cidr.split(",")):
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            problems.append(("clusterCIDR", f'"{cidr}" is not a valid CIDR'))
    for entry in config.node_port_addresses or ():
        if entry not in ("primary", "all", "localhost"):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(("nodePortAddresses", f'"{entry}" is not a CIDR or primary, all, localhost'))
    return problems


def removed_mode_message(mode: str) -> str | None:
    """One line for a mode upstream no longer has, or None."""
    if mode == "userspace":
        return (
            'proxy mode "userspace" was removed from upstream kube-proxy in Kubernetes 1.26; '
            "use --proxy-mode=nftables or --proxy-mode=iptables"
        )
    if mode == "kernelspace":
        return 'proxy mode "kernelspace" is Windows-only; use --proxy-mode=nftables or --proxy-mode=iptables'
    return None


def split_host_port(value: str) -> tuple[str, int]:
    """ "0.0.0.0:10256" or "[::]:10256" -> (host, port); ValueError naming what is wrong."""
    host, colon, port_text = value.rpartition(":")
    if not colon or not port_text.isdigit():
        raise ValueError(f'"{value}" must be IP:port')
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f'"{value}" must be IP:port ("{host}" is not an IP address)') from None
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f'"{value}": port must be 0-65535')
    return host, port


def _alias(field: str) -> str:
    info = KubeProxyConfiguration.model_fields[field]
    return info.alias or field


def _api_version_in(path: str) -> str:
    # Only to pick which apiVersion to ask load_config for; load_config does the strict reading.
    try:
        with open(path, encoding="utf-8") as file:
            document = yaml.safe_load(file)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return API_VERSION  # load_config reports the problem
    found = document.get("apiVersion") if isinstance(document, dict) else None
    return SEED_TYPO_API_VERSION if found == SEED_TYPO_API_VERSION else API_VERSION


def load_proxy_config(path: str | os.PathLike[str]) -> KubeProxyConfiguration:
    """Read, default and validate a KubeProxyConfiguration file; ConfigError names the first bad field."""
    filename = os.fspath(path)
    config = load_config(filename, KubeProxyConfiguration, api_version=_api_version_in(filename), kind=KIND)
    config = apply_defaults(config)
    problems = validate(config)
    if problems:
        field, message = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{filename}: invalid configuration: {field}: {message}{more}")
    return config


def uses_seed_typo(path: str | os.PathLike[str]) -> bool:
    return _api_version_in(os.fspath(path)) == SEED_TYPO_API_VERSION
