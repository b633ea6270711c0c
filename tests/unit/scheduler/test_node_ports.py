"""NodePorts: upstream's node_ports_test.go cases (same ports, addresses and protocols)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import PodInfo
from scheduler.plugins.node_ports import NodePorts, new

CONFLICT = Status.unschedulable("node(s) didn't have free ports for the requested pod ports")


def with_ports(name: str, *ports: str, node: str | None = None) -> dict[str, Any]:
    """A pod with one container using each "PROTOCOL/IP/PORT" as a host port."""
    container_ports = []
    for spec in ports:
        protocol, ip, port = spec.split("/")
        container_ports.append(
            {"containerPort": int(port), "hostPort": int(port), "hostIP": ip, "protocol": protocol}
        )
    containers = [{"name": "c", "image": "busybox", "ports": container_ports}]
    return make_pod(name, containers=containers, node_name=node)


def plugin() -> NodePorts:
    return new({}, None)  # type: ignore[arg-type]


def run(wanted: dict[str, Any], *existing: dict[str, Any]) -> Status:
    ports, state, pod = plugin(), CycleState(), PodInfo(wanted)
    info = node_info(make_node("n"), *existing)
    result, status = ports.pre_filter(state, pod, [info])
    assert result is None
    if status.is_skip():
        return status
    assert status.is_success()
    return ports.filter(state, pod, info)


@pytest.mark.parametrize(
    ("wanted", "existing", "want"),
    [
        pytest.param(make_pod("p"), [], SKIP, id="pod without host ports skips the plugin"),
        pytest.param(
            make_pod("p", containers=[{"name": "c", "image": "x", "ports": [{"containerPort": 80}]}]),
            [],
            SKIP,
            id="container ports without a host port skip the plugin",
        ),
        pytest.param(
            with_ports("p", "UDP/127.0.0.1/8080"), [], SUCCESS, id="pod fits a node with nothing running"
        ),
        pytest.param(
            with_ports("p", "UDP/127.0.0.1/8080"),
            [with_ports("e", "UDP/127.0.0.1/9090")],
            SUCCESS,
            id="another port is free",
        ),
        pytest.param(
            with_ports("p", "UDP/127.0.0.1/8080"),
            [with_ports("e", "UDP/127.0.0.1/8080")],
            CONFLICT,
            id="the same udp port conflicts",
        ),
        pytest.param(
            with_ports("p", "TCP/127.0.0.1/8080"),
            [with_ports("e", "TCP/127.0.0.1/8080")],
            CONFLICT,
            id="the same tcp port conflicts",
        ),
        pytest.param(
            with_ports("p", "TCP/127.0.0.1/8080"),
            [with_ports("e", "TCP/127.0.0.2/8080")],
            SUCCESS,
            id="the same port on another host address is free",
        ),
        pytest.param(
            with_ports("p", "UDP/127.0.0.1/8080"),
            [with_ports("e", "TCP/127.0.0.1/8080")],
            SUCCESS,
            id="the same port with another protocol is free",
        ),
        pytest.param(
            with_ports("p", "UDP/127.0.0.1/8000", "UDP/127.0.0.1/8080"),
            [with_ports("e", "UDP/127.0.0.1/8080")],
            CONFLICT,
            id="a conflict on the second port conflicts",
        ),
        pytest.param(
            with_ports("p", "TCP/0.0.0.0/8001"),
            [with_ports("e", "TCP/127.0.0.1/8001")],
            CONFLICT,
            id="a wanted 0.0.0.0 conflicts with a specific address",
        ),
        pytest.param(
            with_ports("p", "TCP/10.0.10.10/8001", "TCP/0.0.0.0/8001"),
            [with_ports("e", "TCP/0.0.0.0/8001")],
            CONFLICT,
            id="a used 0.0.0.0 conflicts with every address",
        ),
        pytest.param(
            with_ports("p", "TCP/127.0.0.1/8001"),
            [with_ports("e", "TCP/0.0.0.0/8001")],
            CONFLICT,
            id="a specific address conflicts with a used 0.0.0.0",
        ),
        pytest.param(
            with_ports("p", "UDP/0.0.0.0/8001"),
            [with_ports("e", "TCP/0.0.0.0/8001")],
            SUCCESS,
            id="0.0.0.0 with another protocol is free",
        ),
        pytest.param(
            with_ports("p", "UDP/0.0.0.0/8001"),
            [with_ports("e", "TCP/0.0.0.0/8001", "UDP/0.0.0.0/8001")],
            CONFLICT,
            id="0.0.0.0 udp conflicts with the same udp port",
        ),
    ],
)
def test_filter(wanted: dict[str, Any], existing: list[dict[str, Any]], want: Status) -> None:
    assert run(wanted, *existing) == want


def test_empty_host_ip_and_protocol_default_to_all_addresses_over_tcp() -> None:
    bare = {"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 80}]}
    assert run(make_pod("p", containers=[bare]), with_ports("e", "TCP/127.0.0.1/80")) == CONFLICT
    assert run(make_pod("p", containers=[bare]), with_ports("e", "UDP/127.0.0.1/80")) == SUCCESS


def test_filter_sees_ports_freed_on_a_cloned_node_info() -> None:
    """Preemption removes victims from a cloned NodeInfo; the plugin reads the node's ports, not state."""
    ports, state, pod = plugin(), CycleState(), PodInfo(with_ports("p", "TCP/0.0.0.0/80"))
    victim = with_ports("victim", "TCP/0.0.0.0/80", node="n")
    info = node_info(make_node("n"), victim)
    ports.pre_filter(state, pod, [info])
    assert ports.filter(state, pod, info) == CONFLICT
    what_if = info.clone()
    assert what_if.remove_pod(victim)
    assert ports.filter(state.clone(), pod, what_if) == SUCCESS


@pytest.mark.parametrize(
    ("event", "want"),
    [
        pytest.param(
            ClusterEvent("Pod", ActionType.DELETE), True, id="a deleted pod frees its ports and requeues"
        ),
        pytest.param(ClusterEvent("Node", ActionType.ADD), True, id="a new node requeues"),
        pytest.param(ClusterEvent("Pod", ActionType.ADD), False, id="a new pod does not"),
    ],
)
def test_events(event: ClusterEvent, want: bool) -> None:
    assert any(registered.matches(event) for registered in plugin().events_to_register()) is want


def test_args_are_refused() -> None:
    with pytest.raises(ValueError, match="takes no args"):
        new({"x": 1}, None)  # type: ignore[arg-type]
