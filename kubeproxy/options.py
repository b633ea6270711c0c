"""kube-proxy's flags, with upstream's names (cmd/kube-proxy/app/options.go). A flag given on the command
line wins over the --config file."""

from __future__ import annotations

from typing import Any

from componentbase.flags import Flags, FlagSet
from componentbase.klog import add_logging_flags
from kubeproxy.config import KubeProxyConfiguration

PROG = "kplane-proxy"


def flag_set() -> FlagSet:
    flags = FlagSet(PROG, description="kube-proxy: Services as iptables or nftables rules on this node.")
    flags.string("config", "", "The path to the configuration file.")
    flags.string("kubeconfig", "", "Path to kubeconfig file with authorization information.")
    flags.string(
        "master", "", "The address of the Kubernetes API server (overrides any value in kubeconfig)."
    )
    flags.string(
        "hostname-override",
        "",
        "If non-empty, will be used as the name of the Node that kube-proxy is running on. If unset, the "
        "node name is assumed to be the same as the node's hostname.",
    )
    flags.string(
        "proxy-mode",
        "",
        "Which proxy mode to use: 'iptables' or 'nftables' ('ipvs' needs a kernel with IPVS). If blank, "
        "nftables where the kernel supports it, else iptables.",
    )
    flags.string("cluster-cidr", "", "The CIDR range of the pods in the cluster; traffic to ClusterIPs from "
                 "outside it is masqueraded.")  # fmt: skip
    flags.bool("masquerade-all", False, "SNAT all traffic sent via Service cluster IPs.")
    flags.int("iptables-masquerade-bit", 14, "The bit of the fwmark space to mark packets requiring SNAT.")
    flags.duration("iptables-sync-period", 30.0, "An interval indicating how frequently rules are refreshed.")
    flags.duration("iptables-min-sync-period", 1.0, "The minimum period between rule resyncs.")
    flags.string("healthz-bind-address", "0.0.0.0:10256", "The IP address and port for the health check "
                 "server to serve on.")  # fmt: skip
    flags.string("metrics-bind-address", "127.0.0.1:10249", "The IP address and port for the metrics server "
                 "to serve on.")  # fmt: skip
    flags.bool("bind-address-hard-fail", False, "If true kube-proxy will treat failure to bind to a port as "
               "fatal and exit.")  # fmt: skip
    flags.strings(
        "nodeport-addresses",
        [],
        "A list of CIDR ranges that contain valid node IPs, or 'primary', 'all', 'localhost'. If unset, "
        "NodePort connections are accepted on all local IPs.",
    )
    flags.duration(
        "config-sync-period", 15 * 60.0, "How often configuration from the apiserver is refreshed."
    )
    flags.bool("cleanup", False, "If true cleanup iptables and nftables rules and exit.")
    flags.string_map("feature-gates", {}, "A set of key=value pairs that describe feature gates.")
    add_logging_flags(flags)
    return flags


def apply_flag_overrides(config: KubeProxyConfiguration, flags: Flags) -> KubeProxyConfiguration:
    """Flags given on the command line win over the config file."""
    updates: dict[str, Any] = {}
    for flag, field in (
        ("hostname-override", "hostname_override"),
        ("proxy-mode", "mode"),
        ("cluster-cidr", "cluster_cidr"),
        ("healthz-bind-address", "healthz_bind_address"),
        ("metrics-bind-address", "metrics_bind_address"),
        ("bind-address-hard-fail", "bind_address_hard_fail"),
        ("nodeport-addresses", "node_port_addresses"),
        ("config-sync-period", "config_sync_period"),
    ):
        if flags.changed(flag):
            updates[field] = flags[flag]
    if flags.changed("feature-gates"):
        updates["feature_gates"] = {
            **config.feature_gates,
            **{k: v == "true" for k, v in flags["feature-gates"].items()},
        }
    if flags.changed("kubeconfig"):
        updates["client_connection"] = config.client_connection.model_copy(
            update={"kubeconfig": flags["kubeconfig"]}
        )
    sections: dict[str, dict[str, Any]] = {"iptables": {}, "nftables": {}}
    for flag, field in (
        ("masquerade-all", "masquerade_all"),
        ("iptables-masquerade-bit", "masquerade_bit"),
        ("iptables-sync-period", "sync_period"),
        ("iptables-min-sync-period", "min_sync_period"),
    ):
        if flags.changed(flag):
            # Upstream's --iptables-* flags set the iptables section; kplane lets them set the nftables one
            # too, so a flag means the same whichever mode the node ends up in.
            for section in sections.values():
                section[field] = flags[flag]
    for name, section_updates in sections.items():
        if section_updates:
            updates[name] = getattr(config, name).model_copy(update=section_updates)
    return config.model_copy(update=updates) if updates else config
