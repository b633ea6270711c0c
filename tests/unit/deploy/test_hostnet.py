"""The host-network plan is pure; HostNetwork runs it through a runner seam (a fake here)."""

import subprocess

import pytest

from componentbase.cli import CommandError
from deploy.hostnet import HostNetwork, NetworkPlan

PLAN = NetworkPlan(cluster_id="a1b2c3", service_cidr="10.96.0.0/12", pod_cidr="10.244.0.0/16")


class FakeHost:
    """Models just enough of `ip` and `iptables` to tell which objects exist."""

    def __init__(self) -> None:
        self.links: set[str] = set()
        self.chains: dict[str, list[list[str]]] = {"FORWARD": []}
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        ok = self._apply(command[1:] if command[0] == "ip" else command[2:], command[0])
        return subprocess.CompletedProcess(command, 0 if ok else 1, "", "" if ok else "No such object")

    def _apply(self, args: list[str], tool: str) -> bool:
        if tool == "ip":
            verb, name = args[1], args[2]
            if args[0] == "link" and verb == "add":
                self.links.add(name)
            elif args[0] == "link" and verb == "del":
                self.links.discard(name)
            elif args[0] == "link" and verb in ("show", "set"):
                return name in self.links
            return True
        flag, chain, rule = args[0], args[1], args[2:]
        if flag == "-N":
            self.chains[chain] = []
        elif flag == "-X":
            del self.chains[chain]
        elif flag in ("-S", "-F"):
            if flag == "-F" and chain in self.chains:
                self.chains[chain] = []
            return chain in self.chains
        elif flag == "-A":
            self.chains[chain].append(rule)
        elif flag == "-I":
            self.chains[chain].insert(int(rule[0]) - 1, rule[1:])
        elif flag == "-C":
            return rule in self.chains.get(chain, [])
        elif flag == "-D":
            self.chains[chain].remove(rule)
        return True


def test_names_fit_kernel_and_iptables_limits() -> None:
    assert len(PLAN.bridge) <= 15
    assert len(PLAN.chain) <= 28
    assert PLAN.chain == "KPLANE-FWD-A1B2C3"


def test_cluster_destinations_return_before_the_drop() -> None:
    host = FakeHost()
    HostNetwork(PLAN, host).set_up()
    rules = host.chains[PLAN.chain]
    assert rules[:-1] == [["-d", "10.244.0.0/16", "-j", "RETURN"], ["-d", "10.96.0.0/12", "-j", "RETURN"]]
    assert rules[-1][-2:] == ["-j", "DROP"]
    assert host.chains["FORWARD"] == [PLAN.forward_rule()]
    assert PLAN.bridge in host.links


def test_service_cidr_is_routed_to_the_bridge_with_a_per_cluster_metric() -> None:
    host = FakeHost()
    HostNetwork(PLAN, host).set_up()
    route = next(c for c in host.commands if c[:3] == ["ip", "route", "replace"])
    assert route[3:] == ["10.96.0.0/12", "dev", PLAN.bridge, "metric", PLAN.route_metric]
    other = NetworkPlan(cluster_id="ffee00", service_cidr="10.96.0.0/12", pod_cidr="10.244.0.0/16")
    assert other.route_metric != PLAN.route_metric


def test_set_up_twice_adds_nothing_twice() -> None:
    host = FakeHost()
    network = HostNetwork(PLAN, host)
    network.set_up()
    network.set_up()
    assert host.chains["FORWARD"] == [PLAN.forward_rule()]
    assert len(host.chains[PLAN.chain]) == 3
    assert network.is_set_up()


def test_tear_down_removes_everything_and_is_idempotent() -> None:
    host = FakeHost()
    network = HostNetwork(PLAN, host)
    network.set_up()
    assert len(network.tear_down()) == 4
    assert host.links == set()
    assert host.chains == {"FORWARD": []}
    assert network.tear_down() == []
    assert not network.is_set_up()


def test_a_failing_command_is_one_clear_error() -> None:
    def refuse(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(
            command, 4, "", "iptables v1.8.9: Permission denied (you must be root)\n"
        )

    with pytest.raises(
        CommandError, match=r"^`ip link add kplsvc-a1b2c3 type bridge` failed: .*Permission denied"
    ):
        HostNetwork(PLAN, refuse).set_up()
