"""A kplane node, planned: its directories, containerd's config and CNI template, its kubelet's
KubeletConfiguration and flags, and the network namespace it lives in. Pure: the same plan is used
by `kplane up`/`down` (deploy.node_runtime does the I/O) and by the tests' ContainerdNode fixture.

Layout, one directory per node (like /etc/containerd + /var/lib/containerd + /var/lib/kubelet):

    STATE/nodes/<node>/config.toml         containerd's config
    STATE/nodes/<node>/cni-template.json   CNI conflist template; containerd renders it into net.d/
                                           when the kubelet reports the node's podCIDR (UpdateRuntimeConfig)
    STATE/nodes/<node>/{root,state,runc}/  containerd's root and state, runc's state
    STATE/nodes/<node>/containerd.sock
    STATE/nodes/<node>/net.d/  cni/ipam/   CNI config and host-local's allocations
    STATE/nodes/<node>/kubelet/            the kubelet's --root-dir
    STATE/nodes/<node>/manifests/          staticPodPath
    STATE/nodes/<node>/pod-logs/           podLogsDir

Networking: node 1 lives in the host's network namespace (kubelet on 127.0.0.1). Node i >= 2 gets a
namespace of its own, joined to the host by a veth pair on a /30 of the cluster's node-link /24
(10.250.<cluster>.0/24); its containerd runs inside it, its kubelet stays on the host bound to the
host end. The namespace has routes to the cluster's CIDRs through the host end and no default route,
so nothing it sends can leave the machine.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.images.rootfs import PAUSE_IMAGE
from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec

NODE_LINK_SUPERNET = ipaddress.IPv4Network("10.250.0.0/16")
MAX_NODES = 1 + 64  # node 1 on the host, then one /30 of the node-link /24 per node
KUBELET_PORT = 10250
# kplane's image registry (deploy.registry), serving STATE/images to every node's containerd.
REGISTRY_PORT = 5000
KUBELET_HEALTHZ_PORT = 10248
PROXY_HEALTHZ_PORT = 10256
PROXY_METRICS_PORT = 10249
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_CONFIG_NAME = "10-containerd-net.conflist"  # what containerd 1.6 renders conf_template into
# Upstream's defaults are 100Mi / 10% / 15% / 5%; a developer's disk is often fuller than a node's,
# and evicting every pod because the laptop is 90% full helps nobody.
EVICTION_HARD = {
    "memory.available": "50Mi",
    "nodefs.available": "1%",
    "nodefs.inodesFree": "1%",
    "imagefs.available": "1%",
}


def node_link_range(cluster_id: str) -> ipaddress.IPv4Network:
    """The cluster's /24 for node links: clusters side by side each get their own."""
    third = int(cluster_id, 16) % 256
    return ipaddress.IPv4Network(f"{NODE_LINK_SUPERNET.network_address + third * 256}/24")


@dataclass(frozen=True)
class NodeLink:
    """The veth pair between the host and a node's network namespace."""

    netns: str  # name under /var/run/netns
    host_veth: str
    host_ip: str  # the host end; the kubelet binds here and it is the node's InternalIP
    ns_ip: str  # the namespace end; containerd's stream server listens here
    prefix_len: int = 30

    @property
    def netns_path(self) -> Path:
        return Path("/var/run/netns") / self.netns


@dataclass(frozen=True)
class NodePlan:
    name: str
    index: int  # 1-based position in ClusterSettings.nodes
    dir: Path
    cluster_id: str
    cluster_pod_cidr: str
    service_cidr: str
    link: NodeLink | None  # None: the host's network namespace
    cgroup_driver: str = "cgroupfs"  # "systemd" where systemd is PID 1 (kubelet and containerd agree)
    proxy_mode: str = ""  # kplane-proxy's --proxy-mode; "" = its default (nftables where nft works)

    # ---- paths ----
    config_file = property(lambda self: self.dir / "config.toml")
    cni_template = property(lambda self: self.dir / "cni-template.json")
    socket = property(lambda self: self.dir / "containerd.sock")
    root = property(lambda self: self.dir / "root")
    state = property(lambda self: self.dir / "state")
    runc_root = property(lambda self: self.dir / "runc")
    net_d = property(lambda self: self.dir / "net.d")
    ipam_dir = property(lambda self: self.dir / "cni" / "ipam")
    kubelet_dir = property(lambda self: self.dir / "kubelet")
    manifests = property(lambda self: self.dir / "manifests")
    pod_logs = property(lambda self: self.dir / "pod-logs")
    containerd_log = property(lambda self: self.dir / "containerd.log")
    certs_dir = property(lambda self: self.dir / "certs.d")  # containerd's registry hosts (config_path)

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    @property
    def cgroup_root(self) -> str:
        """cgroups are global: each node's pods live under a root of its own."""
        return f"/kplane-{self.cluster_id}-{self.name}"

    @property
    def bridge(self) -> str:
        return f"kpl{self.cluster_id}{self.index}"  # <= 15 characters for up to 65 nodes

    @property
    def node_ip(self) -> str:
        return self.link.host_ip if self.link else "127.0.0.1"

    @property
    def registry_url(self) -> str:
        """kplane's registry as this node's containerd reaches it: the host's loopback, or the host
        end of the node's link (the registry listens on both)."""
        return f"http://{self.node_ip}:{REGISTRY_PORT}"

    @property
    def stream_address(self) -> str:
        """Where containerd serves exec/attach/port-forward: reachable from the host."""
        return self.link.ns_ip if self.link else "127.0.0.1"

    @property
    def containerd_name(self) -> str:
        return f"containerd-{self.name}"

    @property
    def kubelet_name(self) -> str:
        return f"kubelet-{self.name}"

    def cluster_cidrs(self) -> list[str]:
        """Where pods and the node's namespace may send traffic: pods, Services, node links."""
        return [self.cluster_pod_cidr, self.service_cidr, str(node_link_range(self.cluster_id))]

    def directories(self) -> list[Path]:
        return [
            self.dir, self.root, self.state, self.runc_root, self.net_d, self.ipam_dir,
            self.kubelet_dir, self.manifests, self.pod_logs, self.certs_dir,
        ]  # fmt: skip


def node_plan(
    root: Path,
    name: str,
    *,
    index: int = 1,
    cluster_id: str,
    cluster_pod_cidr: str,
    service_cidr: str,
    own_netns: bool | None = None,
    cgroup_driver: str = "cgroupfs",
    proxy_mode: str = "",
) -> NodePlan:
    """The plan of one node; `own_netns` defaults to "every node but the first"."""
    if not 1 <= index <= MAX_NODES:
        raise ValueError(f"node index {index} out of range 1..{MAX_NODES}")
    link = None
    if own_netns if own_netns is not None else index > 1:
        # The /30s are numbered from 0 for index 2 (node 1 needs none); a lone test node takes 0.
        slot = max(index - 2, 0)
        base = node_link_range(cluster_id).network_address + 4 * slot
        link = NodeLink(
            netns=f"kpl-{cluster_id}-{index}",
            host_veth=f"kplh{cluster_id}{index}",
            host_ip=str(base + 1),
            ns_ip=str(base + 2),
        )
    return NodePlan(
        name, index, root / "nodes" / name, cluster_id, cluster_pod_cidr, service_cidr, link, cgroup_driver,
        proxy_mode,
    )  # fmt: skip


def host_cgroup_driver(systemd_dir: Path = Path("/run/systemd/system")) -> str:
    """The kubelet's and containerd's cgroup driver for this host: upstream recommends systemd where
    systemd is PID 1 (it manages the cgroup tree there), cgroupfs elsewhere (as on these machines)."""
    return "systemd" if systemd_dir.is_dir() else "cgroupfs"


def cluster_node_plans(state: StateDir, settings: ClusterSettings) -> list[NodePlan]:
    return [
        node_plan(
            state.root,
            name,
            index=index,
            cluster_id=state.cluster_id,
            cluster_pod_cidr=settings.pod_cidr,
            service_cidr=settings.service_cidr,
            cgroup_driver=host_cgroup_driver(),
            proxy_mode=settings.proxy_mode,
        )
        for index, name in enumerate(settings.nodes, start=1)
    ]


# ---- containerd ----


def _toml_string(value: str | Path) -> str:
    return json.dumps(str(value))  # TOML basic strings escape like JSON for what we write


def containerd_config(plan: NodePlan) -> str:
    """containerd 1.6's config for the node (notes/cri.md's verified recipe). Everything stateful is
    under the node's directory; the runc root too, since the default /run/containerd/runc is shared."""
    q = _toml_string
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# containerd for kplane node {plan.name} (written by `kplane up`; edits are overwritten)
version = 2
root = {q(plan.root)}
state = {q(plan.state)}

[grpc]
  address = {q(plan.socket)}

[ttrpc]
  address = {q(str(plan.socket) + ".ttrpc")}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = {q(plan.dir / "opt")}

{cri}]
  sandbox_image = {q(PAUSE_IMAGE)}
  disable_apparmor = true
  # The pause container asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE we may not have.
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = {q(plan.stream_address)}
  stream_server_port = "0"
  enable_tls_streaming = false

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = {"true" if plan.cgroup_driver == "systemd" else "false"}
  Root = {q(plan.runc_root)}

{cri}.cni]
  bin_dir = {q(CNI_BIN_DIR)}
  conf_dir = {q(plan.net_d)}
  max_conf_num = 1
  conf_template = {q(plan.cni_template)}

{cri}.registry]
  # Every pull goes to kplane's registry and nowhere else (deploy.registry_hosts writes the tree).
  config_path = {q(plan.certs_dir)}
"""


def cni_conf_template(plan: NodePlan) -> str:
    """The conflist containerd renders once the node's podCIDR is known ({{.PodCIDR}}): a bridge
    per node, host-local IPAM in the node's range, routes only to the cluster (pods, Services, node
    links) and no default route, no masquerade; portmap for hostPort."""
    routes = plan.cluster_cidrs()
    conflist: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "name": "kplane",
        "plugins": [
            {
                "type": "bridge",
                "bridge": plan.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(plan.ipam_dir),
                    "ranges": [[{"subnet": "{{.PodCIDR}}"}]],
                    "routes": [{"dst": cidr} for cidr in routes],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": False},
            {"type": "loopback"},
        ],
    }
    return json.dumps(conflist, indent=2) + "\n"


def containerd_process(plan: NodePlan) -> ProcessSpec:
    argv = ["containerd", "--config", str(plan.config_file)]
    if plan.link is not None:
        # nsenter --net only: `ip netns exec` also remounts /sys, hiding the cgroup mounts from runc.
        argv = ["nsenter", f"--net={plan.link.netns_path}", *argv]
    return ProcessSpec(
        name=plan.containerd_name,
        argv=argv,
        health_socket=plan.socket,
        address=plan.endpoint,
    )


# ---- the image registry ----


def registry_process(state: StateDir, plans: list[NodePlan]) -> ProcessSpec:
    """One read-only registry for the cluster, serving `kplane images build`'s tarballs: on the
    host's loopback for node 1 and on the host end of each namespaced node's link."""
    addresses = dict.fromkeys(["127.0.0.1", *(plan.node_ip for plan in plans)])
    listen = [f"--listen={address}:{REGISTRY_PORT}" for address in addresses]
    return ProcessSpec(
        name="registry",
        argv=[sys.executable, "-m", "deploy.registry", *listen, f"--images-dir={state.images_dir}"],
        health_url=f"http://127.0.0.1:{REGISTRY_PORT}/v2/",
        address=f"http://127.0.0.1:{REGISTRY_PORT}",
    )


# ---- kubelet ----


def cluster_dns_ip(service_cidr: str) -> str:
    """kubeadm's convention: the 10th address of the Service range (10.96.0.10)."""
    return str(ipaddress.ip_network(service_cidr, strict=False).network_address + 10)


def kubelet_config(plan: NodePlan, state: StateDir) -> dict[str, Any]:
    """The node's KubeletConfiguration (kubelet.config.k8s.io/v1beta1), as kubeadm writes it."""
    pki = state.pki
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": plan.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": plan.node_ip,
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "tlsCertFile": str(pki / f"kubelet-{plan.name}.crt"),
        "tlsPrivateKeyFile": str(pki / f"kubelet-{plan.name}.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": plan.endpoint,
        "staticPodPath": str(plan.manifests),
        "podLogsDir": str(plan.pod_logs),
        "cgroupDriver": plan.cgroup_driver,
        "cgroupRoot": plan.cgroup_root,
        "cgroupsPerQOS": True,
        "clusterDNS": [cluster_dns_ip(plan.service_cidr)],
        "clusterDomain": "cluster.local",
        "resolvConf": "",  # pods get no host nameservers: those are on a real network
        "failSwapOn": False,
        "maxPods": 110,
        "evictionHard": dict(EVICTION_HARD),
        "registerNode": True,
    }


def kubelet_config_file(plan: NodePlan, state: StateDir) -> Path:
    return Path(state.config_dir) / f"kubelet-{plan.name}.yaml"


def kubelet_process(plan: NodePlan, state: StateDir) -> ProcessSpec:
    flags = {
        "config": kubelet_config_file(plan, state),
        "kubeconfig": state.root / f"kubelet-{plan.name}.conf",
        "container-runtime-endpoint": plan.endpoint,
        "hostname-override": plan.name,
        "node-ip": plan.node_ip,
        "root-dir": plan.kubelet_dir,
        "pod-infra-container-image": PAUSE_IMAGE,
        "v": 2,
    }
    return ProcessSpec(
        name=plan.kubelet_name,
        argv=[sys.executable, "-m", "kubelet", *(f"--{name}={value}" for name, value in flags.items())],
        health_url=f"http://{plan.node_ip}:{KUBELET_HEALTHZ_PORT}/healthz",
        address=f"https://{plan.node_ip}:{KUBELET_PORT}",
    )


def proxy_process(plan: NodePlan, state: StateDir, *, cleanup: bool = False) -> ProcessSpec:
    """kplane-proxy for the node: on the host (it reaches the apiserver on 127.0.0.1) but with its rules
    in the node's network namespace when the node has one (KPLANE_PROXY_NETNS prefixes its iptables
    and nft commands with `ip netns exec`). NodePorts only on the node's own address, never on the
    host's real interfaces; health and metrics on the node IP."""
    nodeport_ip = plan.link.ns_ip if plan.link is not None else plan.node_ip
    flags = {
        "kubeconfig": state.root / "kube-proxy.conf",
        "hostname-override": plan.name,
        "cluster-cidr": plan.cluster_pod_cidr,
        "nodeport-addresses": f"{nodeport_ip}/32",
        "healthz-bind-address": f"{plan.node_ip}:{PROXY_HEALTHZ_PORT}",
        "metrics-bind-address": f"{plan.node_ip}:{PROXY_METRICS_PORT}",
        "v": 2,
    }
    if plan.proxy_mode:
        flags["proxy-mode"] = plan.proxy_mode
    netns = ["env", f"KPLANE_PROXY_NETNS={plan.link.netns}"] if plan.link is not None else []
    argv = [
        *netns,
        sys.executable,
        "-m",
        "kubeproxy",
        *(f"--{name}={value}" for name, value in flags.items()),
    ]
    if cleanup:
        argv.append("--cleanup")
    return ProcessSpec(
        name=f"kube-proxy-{plan.name}",
        argv=argv,
        health_url=f"http://{plan.node_ip}:{PROXY_HEALTHZ_PORT}/healthz",
        address=f"http://{plan.node_ip}:{PROXY_METRICS_PORT}/metrics",
    )


# ---- the node's network namespace ----

Command = list[str]


def link_setup_commands(plan: NodePlan) -> list[tuple[Command, Command | None]]:
    """(command, check) pairs as in deploy.hostnet: the command runs unless its check succeeds.
    The namespace routes only the cluster's CIDRs, through the host end."""
    link = plan.link
    if link is None:
        return []
    ns = ["ip", "-n", link.netns]
    cidr = f"/{link.prefix_len}"
    steps: list[tuple[Command, Command | None]] = [
        (["ip", "netns", "add", link.netns], ["test", "-e", str(link.netns_path)]),
        (
            [
                "ip",
                "link",
                "add",
                link.host_veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                link.netns,
            ],
            ["ip", "link", "show", link.host_veth],
        ),
        (["ip", "addr", "replace", link.host_ip + cidr, "dev", link.host_veth], None),
        (["ip", "link", "set", link.host_veth, "up"], None),
        ([*ns, "addr", "replace", link.ns_ip + cidr, "dev", "eth0"], None),
        ([*ns, "link", "set", "eth0", "up"], None),
        ([*ns, "link", "set", "lo", "up"], None),
    ]
    for destination in plan.cluster_cidrs():
        steps.append(([*ns, "route", "replace", destination, "via", link.host_ip], None))
    return steps


def link_teardown_commands(plan: NodePlan) -> list[tuple[Command, Command | None]]:
    """Deleting the namespace deletes its veth end, which deletes the pair and the host's routes
    through it; the host end is deleted first in case something still holds the namespace open."""
    link = plan.link
    if link is None:
        return []
    return [
        (["ip", "link", "del", link.host_veth], ["ip", "link", "show", link.host_veth]),
        (["ip", "netns", "del", link.netns], ["test", "-e", str(link.netns_path)]),
    ]


def pod_cidr_route(plan: NodePlan, pod_cidr: str) -> Command | None:
    """The host's route to a namespaced node's pods (node 1's bridge is on the host already)."""
    if plan.link is None:
        return None
    return ["ip", "route", "replace", pod_cidr, "via", plan.link.ns_ip, "dev", plan.link.host_veth]
