"""The components `kplane up` runs, in start order, with their upstream default ports.

Each component's issue fills in `process`, which turns the cluster's state directory into the
command line (upstream-style flags) and the health URL. Until then a component is listed as not
built and `up` leaves it alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deploy.state import ClusterSettings, StateDir
from deploy.supervisor import ProcessSpec

ProcessBuilder = Callable[[StateDir, ClusterSettings], ProcessSpec]


@dataclass(frozen=True)
class Component:
    name: str
    ports: str
    issue: int
    process: ProcessBuilder | None = None

    @property
    def built(self) -> bool:
        return self.process is not None


COMPONENTS: tuple[Component, ...] = (
    Component("etcd", "2379/2380", issue=4),
    Component("apiserver", "6443", issue=5),
    Component("scheduler", "10259", issue=6),
    Component("controller-manager", "10257", issue=7),
    Component("kubelet", "10250", issue=8),
    Component("kube-proxy", "10256/10249", issue=9),
)
