"""NodeResourcesBalancedAllocation: the cases of upstream's balanced_allocation_test.go (v1.32: no
best-effort skip yet) with the same fixtures and expected scores, plus args validation."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.node_resources_balanced_allocation import (
    NodeResourcesBalancedAllocation,
    balanced_resource_scorer,
    new,
)

GPU = "nvidia.com/gpu"
WITH_GPU = {
    "resources": [{"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}, {"name": GPU, "weight": 1}]
}


def pod(*requests: dict[str, str], node_name: str | None = None) -> dict[str, Any]:
    """One container per requests dict; none at all when none given (upstream's st.MakePod().Obj())."""
    containers = [
        {"name": f"c{i}", "image": "busybox", "resources": {"requests": r}} for i, r in enumerate(requests)
    ]
    return make_pod("p", containers=containers, node_name=node_name)


def cpu_only(node: str | None = None) -> dict[str, Any]:
    return pod({"cpu": "1000m", "memory": "0"}, {"cpu": "2000m", "memory": "0"}, node_name=node)


def cpu_and_memory(node: str | None = None) -> dict[str, Any]:
    return pod({"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000"}, node_name=node)


def cpu_memory_and_gpu(node: str | None = None) -> dict[str, Any]:
    return pod(
        {"cpu": "1000m", "memory": "2000"}, {"cpu": "2000m", "memory": "3000", GPU: "3"}, node_name=node
    )


def nodes(
    milli_cpu: int, memory: int, *, gpus: tuple[str | None, str | None] = (None, None)
) -> list[dict[str, Any]]:
    """node1 and node2 like upstream's makeNode(name, milliCPU, memory, extended)."""
    return [
        make_node(f"node{i}", cpu=f"{milli_cpu}m", memory=str(memory), extra={GPU: g} if g else None)
        for i, g in enumerate(gpus, 1)
    ]


def sized(first: tuple[int, int], second: tuple[int, int]) -> list[dict[str, Any]]:
    return [*nodes(*first)[:1], *nodes(*second)[1:]]


def snapshot(node_objs: list[dict[str, Any]], existing: list[dict[str, Any]]) -> list[NodeInfo]:
    return [
        node_info(n, *(p for p in existing if p["spec"].get("nodeName") == n["metadata"]["name"]))
        for n in node_objs
    ]


SCHEDULED = [cpu_only("node1"), cpu_and_memory("node2")]

CASES = [
    pytest.param(
        pod(), nodes(4000, 10000), [], {}, [100, 100], id="nothing scheduled nothing requested scores evenly"
    ),
    pytest.param(
        cpu_and_memory(),
        sized((4000, 10000), (6000, 10000)),
        [],
        {},
        [87, 100],
        id="nothing scheduled resources requested differently sized nodes",
    ),
    pytest.param(
        cpu_and_memory(),
        nodes(10000, 20000),
        SCHEDULED,
        {},
        [82, 95],
        id="resources requested pods scheduled with resources",
    ),
    pytest.param(
        cpu_and_memory(),
        sized((10000, 20000), (10000, 50000)),
        SCHEDULED,
        {},
        [82, 80],
        id="resources requested pods scheduled with resources differently sized nodes",
    ),
    pytest.param(
        cpu_only(), nodes(6000, 10000), SCHEDULED, {}, [50, 75], id="requested resources at node capacity"
    ),
    pytest.param(
        pod({"memory": "0", GPU: "1"}),
        nodes(3500, 40000, gpus=("8", "8")),
        [cpu_and_memory("node2"), cpu_memory_and_gpu("node1")],
        WITH_GPU,
        [70, 65],
        id="scalar resource the pod requests joins the deviation and cpu counts only real requests",
    ),
    pytest.param(
        cpu_and_memory(),
        nodes(3500, 40000, gpus=("8", None)),
        [],
        WITH_GPU,
        [63, 63],
        id="scalar resource the pod does not request is skipped",
    ),
    pytest.param(
        pod({}),
        nodes(4000, 8 * 1024**3),
        [],
        {},
        [100, 100],
        id="container without requests counts nothing rather than the scoring defaults",
    ),
]


@pytest.mark.parametrize(("wanted", "node_objs", "existing", "args", "want"), CASES)
def test_balanced_allocation(
    wanted: dict[str, Any],
    node_objs: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    args: dict[str, Any],
    want: list[int],
) -> None:
    plugin = new(args, None)  # type: ignore[arg-type]
    infos, state, pod_info = snapshot(node_objs, existing), CycleState(), PodInfo(wanted)
    assert plugin.pre_score(state, pod_info, infos).is_success()
    results = [plugin.score(state, pod_info, info) for info in infos]
    assert all(status.is_success() for _, status in results)
    assert [score for score, _ in results] == want


def test_score_without_pre_score_computes_the_requests() -> None:
    plugin = new({}, None)  # type: ignore[arg-type]
    infos = snapshot(nodes(10000, 20000), SCHEDULED)
    assert [plugin.score(CycleState(), PodInfo(cpu_and_memory()), info)[0] for info in infos] == [82, 95]


SCORER_CASES = [
    pytest.param([3, 5], [4, 10], 87, id="two resources score one minus half their difference"),
    pytest.param([6, 0], [6, 10], 50, id="full cpu and idle memory score half"),
    pytest.param([8, 1], [4, 10], 55, id="fractions above one are capped"),
    pytest.param([3, 5, 0], [4, 10, 0], 87, id="resources without allocatable are skipped"),
    pytest.param([1, 0], [2, 0], 100, id="a single resource has no deviation"),
    pytest.param([3000, 5000, 4], [3500, 40000, 8], 70, id="three resources use the standard deviation"),
]


@pytest.mark.parametrize(("requested", "allocatable", "want"), SCORER_CASES)
def test_balanced_resource_scorer(requested: list[int], allocatable: list[int], want: int) -> None:
    assert balanced_resource_scorer(requested, allocatable) == want


def test_default_resources_are_cpu_and_memory() -> None:
    plugin = new({}, None)  # type: ignore[arg-type]
    assert isinstance(plugin, NodeResourcesBalancedAllocation)
    assert [(spec.name, spec.weight) for spec in plugin.allocation.resources] == [("cpu", 1), ("memory", 1)]


def test_missing_weight_defaults_to_one() -> None:
    plugin = new({"resources": [{"name": "cpu"}, {"name": GPU, "weight": 0}]}, None)  # type: ignore[arg-type]
    assert [spec.weight for spec in plugin.allocation.resources] == [1, 1]


BAD_ARGS = [
    pytest.param(
        {"resources": [{"name": "cpu", "weight": 2}]},
        r"resources\[0\]\.weight.*must be 1",
        id="weight other than one",
    ),
    pytest.param(
        {"resources": [{"name": "cpu", "weight": 1}, {"name": "cpu", "weight": 1}]},
        r"resources\[1\]\.name: Duplicate",
        id="resource named twice",
    ),
    pytest.param(
        {"resources": [{"weight": 1}]}, r"resources\[0\]\.name: Required", id="resource without a name"
    ),
]


@pytest.mark.parametrize(("args", "match"), BAD_ARGS)
def test_invalid_args(args: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        new(args, None)  # type: ignore[arg-type]
