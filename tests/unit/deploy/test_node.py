"""A node's plan is pure: paths, addresses, containerd's config and CNI template, the kubelet's
config and flags, the namespace commands; the clean-up decisions (portmap's chains) too."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from componentbase.cli import CommandError
from deploy.components import COMPONENTS
from deploy.hostnet import Runner
from deploy.launcher import network_of
from deploy.node import (
    MAX_NODES,
    cluster_node_plans,
    cni_conf_template,
    containerd_config,
    containerd_process,
    host_cgroup_driver,
    kubelet_config,
    kubelet_process,
    link_setup_commands,
    link_teardown_commands,
    node_link_range,
    node_plan,
    pod_cidr_route,
    registry_process,
)
from deploy.node_runtime import check_link_range_free, portmap_cleanup_commands, run_steps, write_node_files
from deploy.state import ClusterSettings, StateDir

STATE = StateDir(Path("/tmp/kst"))
SETTINGS = ClusterSettings(nodes=["node-1", "node-2", "node-3"])
NODE1, NODE2, NODE3 = cluster_node_plans(STATE, SETTINGS)
CID = STATE.cluster_id


def test_node_one_is_on_the_host_the_others_in_namespaces_on_their_own_30() -> None:
    assert NODE1.link is None and NODE1.node_ip == "127.0.0.1" and NODE1.stream_address == "127.0.0.1"
    link_range = node_link_range(CID)
    assert str(link_range).startswith("10.250.") and link_range.prefixlen == 24
    assert NODE2.link is not None and NODE3.link is not None
    for link in (NODE2.link, NODE3.link):
        subnet = ipaddress.ip_interface(f"{link.host_ip}/30").network
        assert subnet.subnet_of(link_range)
        assert ipaddress.ip_address(link.ns_ip) in subnet and link.ns_ip != link.host_ip
    assert (
        ipaddress.ip_interface(f"{NODE2.link.host_ip}/30").network
        != ipaddress.ip_interface(f"{NODE3.link.host_ip}/30").network
    )
    assert (NODE2.node_ip, NODE2.stream_address) == (NODE2.link.host_ip, NODE2.link.ns_ip)
    assert NODE2.link.netns == f"kpl-{CID}-2"


def test_names_fit_the_kernels_15_characters_for_every_node() -> None:
    last = node_plan(STATE.root, "node-65", index=MAX_NODES, cluster_id=CID, cluster_pod_cidr="10.244.0.0/16",
                     service_cidr="10.96.0.0/12")  # fmt: skip
    assert last.link is not None
    assert len(last.bridge) <= 15 and len(last.link.host_veth) <= 15
    assert ipaddress.ip_address(last.link.ns_ip) in node_link_range(CID)
    with pytest.raises(ValueError, match="out of range"):
        node_plan(STATE.root, "x", index=MAX_NODES + 1, cluster_id=CID, cluster_pod_cidr="10.244.0.0/16",
                  service_cidr="10.96.0.0/12")  # fmt: skip


def test_paths_follow_the_node_layout() -> None:
    node_dir = Path("/tmp/kst/nodes/node-2")
    assert NODE2.dir == node_dir
    assert NODE2.endpoint == f"unix://{node_dir}/containerd.sock"
    assert (NODE2.kubelet_dir, NODE2.pod_logs, NODE2.manifests) == (
        node_dir / "kubelet", node_dir / "pod-logs", node_dir / "manifests",
    )  # fmt: skip
    assert NODE2.cgroup_root == f"/kplane-{CID}-node-2"


def test_containerd_config_keeps_everything_under_the_node() -> None:
    config = tomllib.loads(containerd_config(NODE2))
    node_dir = str(NODE2.dir)
    assert (config["root"], config["state"], config["grpc"]["address"]) == (
        f"{node_dir}/root", f"{node_dir}/state", f"{node_dir}/containerd.sock",
    )  # fmt: skip
    assert config["ttrpc"]["address"] == f"{node_dir}/containerd.sock.ttrpc"
    assert config["plugins"]["io.containerd.internal.v1.opt"]["path"].startswith(node_dir)
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.9"
    assert cri["restrict_oom_score_adj"] is True
    assert (cri["stream_server_address"], cri["stream_server_port"]) == (NODE2.stream_address, "0")
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": False, "Root": f"{node_dir}/runc"}
    assert cri["cni"]["conf_dir"] == f"{node_dir}/net.d"
    assert cri["cni"]["conf_template"] == f"{node_dir}/cni-template.json"
    assert cri["registry"]["config_path"] == f"{node_dir}/certs.d"


def test_cni_template_routes_only_the_cluster_and_renders_to_valid_json() -> None:
    rendered = json.loads(cni_conf_template(NODE2).replace("{{.PodCIDR}}", "10.244.2.0/24"))
    bridge, portmap, loopback = rendered["plugins"]
    assert (bridge["type"], bridge["bridge"], bridge["ipMasq"], bridge["isGateway"]) == (
        "bridge", f"kpl{CID}2", False, True,
    )  # fmt: skip
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.2.0/24"}]]
    assert bridge["ipam"]["dataDir"] == str(NODE2.ipam_dir)
    assert [route["dst"] for route in bridge["ipam"]["routes"]] == [
        "10.244.0.0/16", "10.96.0.0/12", str(node_link_range(CID)),
    ]  # fmt: skip
    assert (portmap["type"], portmap["snat"], loopback["type"]) == ("portmap", False, "loopback")
    assert NODE1.bridge != NODE2.bridge


def test_containerd_runs_in_the_nodes_namespace_through_nsenter() -> None:
    assert containerd_process(NODE1).argv == ["containerd", "--config", str(NODE1.config_file)]
    assert NODE2.link is not None
    spec = containerd_process(NODE2)
    assert spec.argv[:2] == ["nsenter", f"--net=/var/run/netns/{NODE2.link.netns}"]
    assert spec.argv[2:] == ["containerd", "--config", str(NODE2.config_file)]
    assert (spec.name, spec.health_socket, spec.health_url) == ("containerd-node-2", NODE2.socket, None)


def test_kubelet_flags_and_config() -> None:
    spec = kubelet_process(NODE2, STATE)
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in spec.argv[3:])
    assert spec.argv[1:3] == ["-m", "kubelet"]
    assert flags == {
        "config": "/tmp/kst/config/kubelet-node-2.yaml",
        "kubeconfig": "/tmp/kst/kubelet-node-2.conf",
        "container-runtime-endpoint": NODE2.endpoint,
        "hostname-override": "node-2",
        "node-ip": NODE2.node_ip,
        "root-dir": str(NODE2.kubelet_dir),
        "pod-infra-container-image": "registry.k8s.io/pause:3.9",
        "v": "2",
    }
    assert spec.health_url == f"http://{NODE2.node_ip}:10248/healthz"
    assert kubelet_process(NODE1, STATE).health_url == "http://127.0.0.1:10248/healthz"

    config = kubelet_config(NODE2, STATE)
    assert (config["apiVersion"], config["kind"]) == ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration")
    assert (config["address"], config["port"], config["healthzBindAddress"], config["healthzPort"]) == (
        NODE2.node_ip, 10250, NODE2.node_ip, 10248,
    )  # fmt: skip
    assert config["tlsCertFile"] == "/tmp/kst/pki/kubelet-node-2.crt"
    assert config["authentication"]["x509"]["clientCAFile"] == "/tmp/kst/pki/ca.crt"
    assert config["staticPodPath"] == str(NODE2.manifests) and config["podLogsDir"] == str(NODE2.pod_logs)
    assert (config["cgroupDriver"], config["cgroupRoot"]) == ("cgroupfs", f"/kplane-{CID}-node-2")
    assert config["clusterDNS"] == ["10.96.0.10"]
    assert all(value.endswith(("%", "Mi")) for value in config["evictionHard"].values())


def test_namespace_commands_route_only_the_cluster() -> None:
    link = NODE2.link
    assert link is not None
    commands = [command for command, _check in link_setup_commands(NODE2)]
    assert commands[0] == ["ip", "netns", "add", link.netns]
    routes = [c for c in commands if c[3:5] == ["route", "replace"]]
    assert [r[5] for r in routes] == NODE2.cluster_cidrs()
    assert all(r[-2:] == ["via", link.host_ip] for r in routes)
    assert not any("default" in command for command in commands)
    assert link_setup_commands(NODE1) == [] and link_teardown_commands(NODE1) == []
    assert [c for c, _ in link_teardown_commands(NODE2)][-1] == ["ip", "netns", "del", link.netns]
    assert pod_cidr_route(NODE1, "10.244.1.0/24") is None
    assert pod_cidr_route(NODE2, "10.244.2.0/24") == [
        "ip", "route", "replace", "10.244.2.0/24", "via", link.ns_ip, "dev", link.host_veth,
    ]  # fmt: skip


def fake_runner(
    outputs: dict[str, str] | None = None, failing: tuple[str, ...] = ()
) -> tuple[list[list[str]], Runner]:
    """A runner that records commands; those starting with a `failing` prefix exit 1 saying boom."""
    ran: list[list[str]] = []

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        text = " ".join(command)
        code = 1 if any(text.startswith(prefix) for prefix in failing) else 0
        return subprocess.CompletedProcess(
            command, code, (outputs or {}).get(text, ""), "boom" if code else ""
        )

    return ran, run


def test_run_steps_skips_done_steps_and_reports_failures_in_one_line() -> None:
    ran, run = fake_runner(failing=("test -e", "ip link show", "ip link add"))
    steps = link_setup_commands(NODE2)
    with pytest.raises(CommandError, match=r"^`ip link add kplh.* failed: boom$"):
        run_steps(steps, run, run_if_check=False)
    assert [command[:3] for command in ran] == [
        ["test", "-e", f"/var/run/netns/kpl-{CID}-2"], ["ip", "netns", "add"],
        ["ip", "link", "show"], ["ip", "link", "add"],
    ]  # fmt: skip


def test_link_range_must_be_free_of_other_addresses() -> None:
    listing = (
        "1: lo    inet 127.0.0.1/8 scope host lo\n"
        "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n"
    )
    link = NODE2.link
    assert link is not None
    ours = f"9: {link.host_veth}    inet {link.host_ip}/30 scope global {link.host_veth}\n"
    _, run = fake_runner({"ip -o -4 addr show": listing + ours})
    check_link_range_free(NODE2, run)
    clash = f"3: wg0    inet {node_link_range(CID).network_address + 9}/16 scope global wg0\n"
    _, run = fake_runner({"ip -o -4 addr show": listing + clash})
    with pytest.raises(CommandError, match=r"overlaps .* on wg0"):
        check_link_range_free(NODE2, run)


NAT_AFTER_LAST_POD = """\
-P PREROUTING ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N CNI-HOSTPORT-DNAT
-N KUBE-SERVICES
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -j KUBE-SERVICES
"""


def test_portmap_chains_go_once_no_pod_uses_them() -> None:
    nat = ["iptables", "-w", "-t", "nat"]
    assert portmap_cleanup_commands(NAT_AFTER_LAST_POD) == [
        [*nat, "-D", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
        [*nat, "-D", "OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"],
        [*nat, "-F", "CNI-HOSTPORT-DNAT"],
        [*nat, "-X", "CNI-HOSTPORT-DNAT"],
    ]
    in_use = NAT_AFTER_LAST_POD + "-N CNI-DN-1234\n-A CNI-HOSTPORT-DNAT -p tcp -j CNI-DN-1234\n"
    assert portmap_cleanup_commands(in_use) == [], "another node's or cluster's hostPort pod still uses them"
    assert portmap_cleanup_commands("-P PREROUTING ACCEPT\n") == []


def test_host_network_lets_pods_reach_node_links() -> None:
    network = network_of(STATE, SETTINGS)
    assert str(node_link_range(CID)) in network.plan.cluster_cidrs()


def test_the_kubelet_is_one_component_per_node() -> None:
    kubelet = next(c for c in COMPONENTS if c.name == "kubelet")
    assert kubelet.per_node and kubelet.process is None


def test_too_long_a_socket_path_is_a_clear_error(tmp_path: Path) -> None:
    deep = node_plan(tmp_path / ("d" * 90), "node-1", cluster_id=CID, cluster_pod_cidr="10.244.0.0/16",
                     service_cidr="10.96.0.0/12")  # fmt: skip
    with pytest.raises(CommandError, match="longer than a unix socket path"):
        write_node_files(deep)


def test_every_node_pulls_from_the_clusters_registry_only(tmp_path: Path) -> None:
    spec = registry_process(STATE, [NODE1, NODE2, NODE3])
    assert spec.argv[1:3] == ["-m", "deploy.registry"]
    assert spec.argv[3:] == [
        "--listen=127.0.0.1:5000", f"--listen={NODE2.node_ip}:5000", f"--listen={NODE3.node_ip}:5000",
        f"--images-dir={STATE.images_dir}",
    ]  # fmt: skip
    assert (spec.name, spec.health_url) == ("registry", "http://127.0.0.1:5000/v2/")
    assert (NODE1.registry_url, NODE2.registry_url) == (
        "http://127.0.0.1:5000",
        f"http://{NODE2.node_ip}:5000",
    )
    plan = node_plan(
        tmp_path, "n1", cluster_id=CID, cluster_pod_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12"
    )
    write_node_files(plan)
    for host in ("_default", "docker.io", "registry.k8s.io"):
        hosts = tomllib.loads((plan.certs_dir / host / "hosts.toml").read_text())
        assert hosts["server"] == "http://127.0.0.1:5000"


def test_the_cgroup_driver_follows_the_host_and_both_sides_agree(tmp_path: Path) -> None:
    assert host_cgroup_driver(tmp_path / "no-systemd") == "cgroupfs"
    (tmp_path / "systemd").mkdir()
    assert host_cgroup_driver(tmp_path / "systemd") == "systemd"
    plan = node_plan(
        tmp_path, "n1", cluster_id=CID, cluster_pod_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12",
        cgroup_driver="systemd",
    )  # fmt: skip
    runc = tomllib.loads(containerd_config(plan))["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert runc["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert kubelet_config(plan, STATE)["cgroupDriver"] == "systemd"
