"""Network safety for a local cluster: its traffic never reaches a real network.

Two host objects per cluster, both named after the cluster id so clusters side by side don't clash:
- the Service CIDR is routed to a port-less bridge (`kplsvc-<id>`). kube-proxy DNATs allocated
  service IPs before routing matters; anything else sent to the CIDR is dropped there instead of
  following the default route off the machine. (The usual choice is a `dummy` interface; this kernel
  has no dummy driver, and a bridge with no ports discards the same way.)
- forwarded traffic from the pod CIDR to anything outside the cluster's CIDRs is dropped by the
  `KPLANE-FWD-<ID>` chain, jumped to from FORWARD; there is no masquerade.

Planning is pure (`setup_commands`, `teardown_commands`); `HostNetwork.apply` runs the plan.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from componentbase.cli import CommandError

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")

Command = list[str]
Runner = Callable[[Command], subprocess.CompletedProcess[str]]


def run_command(command: Command) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class NetworkPlan:
    cluster_id: str
    service_cidr: str
    pod_cidr: str
    extra_cluster_cidrs: Sequence[str] = ()  # e.g. node-link subnets of network-namespace nodes

    @property
    def bridge(self) -> str:
        return f"kplsvc-{self.cluster_id}"  # at most 15 characters, the kernel's limit

    @property
    def route_metric(self) -> str:
        """Per-cluster, so two clusters with the same Service CIDR each keep their own route
        (a route's identity is prefix + metric) and `down` of one leaves the other's alone."""
        return str(100 + int(self.cluster_id, 16) % 900)

    @property
    def chain(self) -> str:
        return f"KPLANE-FWD-{self.cluster_id.upper()}"

    @property
    def comment(self) -> str:
        return f"kplane {self.cluster_id}: drop pod traffic leaving the cluster"

    def cluster_cidrs(self) -> list[str]:
        return [self.pod_cidr, self.service_cidr, *self.extra_cluster_cidrs]

    def forward_rule(self) -> Command:
        """The FORWARD rule that sends pod traffic through our chain."""
        return ["-s", self.pod_cidr, "-m", "comment", "--comment", self.comment, "-j", self.chain]

    def setup_commands(self) -> list[tuple[Command, Command | None]]:
        """(command, check) pairs: the command runs only if the check fails (or there is none)."""
        iptables = ["iptables", "-w"]
        steps: list[tuple[Command, Command | None]] = [
            (["ip", "link", "add", self.bridge, "type", "bridge"], ["ip", "link", "show", self.bridge]),
            (["ip", "link", "set", self.bridge, "up"], None),
            (
                [
                    "ip",
                    "route",
                    "replace",
                    self.service_cidr,
                    "dev",
                    self.bridge,
                    "metric",
                    self.route_metric,
                ],
                None,
            ),
            ([*iptables, "-N", self.chain], [*iptables, "-S", self.chain]),
            ([*iptables, "-F", self.chain], None),
        ]
        for cidr in self.cluster_cidrs():
            steps.append(([*iptables, "-A", self.chain, "-d", cidr, "-j", "RETURN"], None))
        steps.append(
            ([*iptables, "-A", self.chain, "-m", "comment", "--comment", self.comment, "-j", "DROP"], None)
        )
        steps.append(
            (
                [*iptables, "-I", "FORWARD", "1", *self.forward_rule()],
                [*iptables, "-C", "FORWARD", *self.forward_rule()],
            )
        )
        return steps

    def teardown_commands(self) -> list[tuple[Command, Command | None]]:
        """Teardown steps; each runs only if its check succeeds (the object is there)."""
        iptables = ["iptables", "-w"]
        return [
            (
                [*iptables, "-D", "FORWARD", *self.forward_rule()],
                [*iptables, "-C", "FORWARD", *self.forward_rule()],
            ),
            ([*iptables, "-F", self.chain], [*iptables, "-S", self.chain]),
            ([*iptables, "-X", self.chain], [*iptables, "-S", self.chain]),
            (["ip", "link", "del", self.bridge], ["ip", "link", "show", self.bridge]),
        ]


class HostNetwork:
    """Applies a `NetworkPlan` to this host (root only)."""

    def __init__(self, plan: NetworkPlan, runner: Runner = run_command) -> None:
        self.plan = plan
        self.run = runner

    def set_up(self) -> None:
        for command, check in self.plan.setup_commands():
            if check is not None and self.run(check).returncode == 0:
                continue
            self._must(command)

    def tear_down(self) -> list[str]:
        """Removes what `set_up` made; returns what it removed, for the user."""
        removed = []
        for command, check in self.plan.teardown_commands():
            if check is not None and self.run(check).returncode != 0:
                continue
            self._must(command)
            removed.append(" ".join(command))
        return removed

    def is_set_up(self) -> bool:
        bridge = self.run(["ip", "link", "show", self.plan.bridge]).returncode == 0
        jump = self.run(["iptables", "-w", "-C", "FORWARD", *self.plan.forward_rule()]).returncode == 0
        return bridge and jump

    def _must(self, command: Command) -> None:
        result = self.run(command)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise CommandError(f"`{' '.join(command)}` failed: {detail[-1] if detail else 'no output'}")


def read_ip_forward() -> str | None:
    try:
        return IP_FORWARD.read_text().strip()
    except OSError:
        return None


def restore_ip_forward(value: str | None) -> None:
    if value is not None and read_ip_forward() != value:
        IP_FORWARD.write_text(value + "\n")
