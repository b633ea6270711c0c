"""NodeResourcesFit: Filter cases from upstream's fit_test.go, scores from least_allocated_test.go,
most_allocated_test.go and requested_to_capacity_ratio_test.go (same fixtures, same expected numbers;
upstream's bare "4000" cpu is 4000 cores here too, only the ratios matter), and args validation."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod, node_info

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import ActionType, ClusterEvent
from scheduler.framework.status import Code, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins.node_resources_fit import (
    InsufficientResource,
    NodeResourcesFit,
    broken_linear,
    insufficient_resources,
    new,
)

GPU = "nvidia.com/gpu"
EXT_A, EXT_B = "example.com/aaa", "example.com/bbb"
EXTENDED = "abc.com/xyz"


def containers(*requests: dict[str, str], restart_always: bool = False) -> list[dict[str, Any]]:
    """One container per requests dict; restart_always makes them sidecar (restartable init) containers."""
    out: list[dict[str, Any]] = []
    for index, wanted in enumerate(requests):
        container: dict[str, Any] = {
            "name": f"c{index}",
            "image": "busybox",
            "resources": {"requests": wanted},
        }
        if restart_always:
            container["restartPolicy"] = "Always"
        out.append(container)
    return out


def pod(*requests: dict[str, str], init: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    """A pod with one container per requests dict (none at all when none given, like upstream's
    st.MakePod().Obj()), init containers and other spec fields."""
    if init is not None:
        spec["initContainers"] = init
    return make_pod("p", containers=containers(*requests), **spec)


def cm(cpu: str, memory: str) -> dict[str, str]:
    return {"cpu": cpu, "memory": memory}


def plugin(args: dict[str, Any] | None = None) -> NodeResourcesFit:
    return new(args or {}, None)  # type: ignore[arg-type]


def run_filter(fit: NodeResourcesFit, wanted: dict[str, Any], info: NodeInfo) -> Status:
    state, pod_info = CycleState(), PodInfo(wanted)
    result, status = fit.pre_filter(state, pod_info, [info])
    assert result is None and status.is_success()
    return fit.filter(state, pod_info, info)


def run_score(fit: Any, wanted: dict[str, Any], infos: list[NodeInfo]) -> list[int]:
    state, pod_info = CycleState(), PodInfo(wanted)
    assert fit.pre_score(state, pod_info, infos).is_success()
    scores = []
    for info in infos:
        score, status = fit.score(state, pod_info, info)
        assert status.is_success()
        scores.append(score)
    return scores


# --- Filter -------------------------------------------------------------------------------------------


def small_node(pods: str = "32") -> dict[str, Any]:
    """Upstream fit_test's node: 10m cpu, 20 bytes of memory, 5 example.com/aaa, 20 ephemeral, 5 hugepages."""
    extra = {EXT_A: "5", "ephemeral-storage": "20", "hugepages-2Mi": "5"}
    return make_node("n", cpu="10m", memory="20", pods=pods, extra=extra)


def using(**requests: str) -> dict[str, Any]:
    """A pod already bound to the node, requesting `requests` (underscores stand for '/' and '.')."""
    names = {"ext_a": EXT_A, "ext_b": EXT_B, "hugepages": "hugepages-2Mi"}
    return make_pod("existing", requests={names.get(k, k): v for k, v in requests.items()}, node_name="n")


INSUFFICIENT_CPU, INSUFFICIENT_MEMORY = "Insufficient cpu", "Insufficient memory"

FILTER_CASES = [
    pytest.param(pod(), using(cpu="10m", memory="20"), {}, (), id="pod without requests always fits"),
    pytest.param(
        pod(cm("1m", "1")),
        using(cpu="10m", memory="20"),
        {},
        (INSUFFICIENT_CPU, INSUFFICIENT_MEMORY),
        id="pod asking for more cpu and memory than is left gets both reasons",
    ),
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("3m", "1"))),
        using(cpu="8m", memory="19"),
        {},
        (INSUFFICIENT_CPU,),
        id="init container asking for more cpu than the containers decides",
    ),
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("3m", "1"), cm("2m", "1"))),
        using(cpu="8m", memory="19"),
        {},
        (INSUFFICIENT_CPU,),
        id="the largest of several init containers decides",
    ),
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("1m", "3"))),
        using(cpu="9m", memory="19"),
        {},
        (INSUFFICIENT_MEMORY,),
        id="init container asking for more memory than the containers decides",
    ),
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("1m", "1"), cm("1m", "1"))),
        using(cpu="9m", memory="19"),
        {},
        (),
        id="init containers fit because the max not the sum of them counts",
    ),
    pytest.param(
        pod(cm("1m", "1")), using(cpu="5m", memory="5"), {}, (), id="pod fits when both resources fit"
    ),
    pytest.param(
        pod(cm("2m", "1")),
        using(cpu="9m", memory="5"),
        {},
        (INSUFFICIENT_CPU,),
        id="only memory fits",
    ),
    pytest.param(
        pod(cm("1m", "2")),
        using(cpu="5m", memory="19"),
        {},
        (INSUFFICIENT_MEMORY,),
        id="only cpu fits",
    ),
    pytest.param(
        pod(cm("5m", "1")), using(cpu="5m", memory="19"), {}, (), id="request equal to what is left fits"
    ),
    pytest.param(
        pod(cm("4m", "1"), init=containers(cm("5m", "1"))),
        using(cpu="5m", memory="19"),
        {},
        (),
        id="init container request equal to what is left fits",
    ),
    pytest.param(
        pod(cm("2m", "1"), init=containers(cm("2m", "1"), restart_always=True)),
        using(cpu="6m"),
        {},
        (),
        id="sidecar plus containers fit exactly",
    ),
    pytest.param(
        pod(cm("2m", "1"), init=containers(cm("2m", "1"), cm("1m", "1"), restart_always=True)),
        using(cpu="6m"),
        {},
        (INSUFFICIENT_CPU,),
        id="sidecar init containers add up with the containers",
    ),
    pytest.param(
        pod(
            cm("1m", "1"), init=[*containers(cm("1m", "1"), restart_always=True), *containers(cm("4m", "1"))]
        ),
        using(cpu="6m"),
        {},
        (INSUFFICIENT_CPU,),
        id="init container after a sidecar needs room for the sidecar too",
    ),
    pytest.param(pod({EXT_A: "1"}), using(), {}, (), id="extended resource fits"),
    pytest.param(
        pod(init=containers({EXT_A: "1"})),
        using(),
        {},
        (),
        id="extended resource of an init container fits",
    ),
    pytest.param(
        pod({"cpu": "1m", "memory": "1", EXT_A: "10"}),
        using(),
        {},
        (f"Insufficient {EXT_A}",),
        id="extended resource above allocatable is insufficient",
    ),
    pytest.param(
        pod({"cpu": "1m", "memory": "1", EXT_A: "1"}),
        using(ext_a="5"),
        {},
        (f"Insufficient {EXT_A}",),
        id="extended resource used up by other pods is insufficient",
    ),
    pytest.param(
        pod({EXT_A: "3"}, {EXT_A: "3"}),
        using(ext_a="2"),
        {},
        (f"Insufficient {EXT_A}",),
        id="extended resource requests of containers add up",
    ),
    pytest.param(
        pod(init=containers({EXT_A: "3"}, {EXT_A: "3"})),
        using(ext_a="2"),
        {},
        (),
        id="extended resource of several init containers is their max",
    ),
    pytest.param(
        pod({"cpu": "1m", "memory": "1", EXT_B: "1"}),
        using(),
        {},
        (f"Insufficient {EXT_B}",),
        id="extended resource the node does not have is insufficient",
    ),
    pytest.param(
        pod({"kubernetes.io/something": "10"}),
        using(),
        {},
        ("Insufficient kubernetes.io/something",),
        id="kubernetes.io resource the node does not have is insufficient",
    ),
    pytest.param(
        pod({"hugepages-2Mi": "10"}),
        using(),
        {},
        ("Insufficient hugepages-2Mi",),
        id="hugepages above allocatable are insufficient",
    ),
    pytest.param(
        pod({"hugepages-2Mi": "3"}, {"hugepages-2Mi": "3"}),
        using(hugepages="2"),
        {},
        ("Insufficient hugepages-2Mi",),
        id="hugepages requests of containers add up",
    ),
    pytest.param(
        pod({EXT_B: "1"}),
        using(),
        {"ignoredResources": [EXT_B]},
        (),
        id="ignored extended resource is not checked",
    ),
    pytest.param(
        pod({EXT_B: "1"}),
        using(),
        {"ignoredResourceGroups": ["example.com"]},
        (),
        id="extended resource of an ignored group is not checked",
    ),
    pytest.param(
        pod({"kubernetes.io/something": "1"}),
        using(),
        {"ignoredResources": ["kubernetes.io/something"]},
        ("Insufficient kubernetes.io/something",),
        id="ignoredResources cannot skip kubernetes.io resources",
    ),
    pytest.param(
        pod({"hugepages-2Mi": "10"}),
        using(),
        {"ignoredResources": ["hugepages-2Mi"]},
        ("Insufficient hugepages-2Mi",),
        id="ignoredResources cannot skip hugepages",
    ),
    pytest.param(
        pod(cm("1m", "1"), overhead={"cpu": "3m", "memory": "13"}),
        using(cpu="5m", memory="5"),
        {},
        (),
        id="requests plus pod overhead fit",
    ),
    pytest.param(
        pod(cm("1m", "1"), overhead={"cpu": "1m", "memory": "15"}),
        using(cpu="5m", memory="5"),
        {},
        (INSUFFICIENT_MEMORY,),
        id="pod overhead counts against memory",
    ),
    pytest.param(
        pod({"ephemeral-storage": "25"}),
        using(cpu="2m", memory="2"),
        {},
        ("Insufficient ephemeral-storage",),
        id="ephemeral storage above allocatable is insufficient",
    ),
    pytest.param(
        pod({"ephemeral-storage": "10"}),
        using(cpu="2m", memory="2"),
        {},
        (),
        id="ephemeral storage fits",
    ),
]


@pytest.mark.parametrize(("wanted", "existing", "args", "reasons"), FILTER_CASES)
def test_filter(
    wanted: dict[str, Any], existing: dict[str, Any], args: dict[str, Any], reasons: tuple[str, ...]
) -> None:
    status = run_filter(plugin(args), wanted, node_info(small_node(), existing))
    assert status == (Status.unschedulable(*reasons) if reasons else Status())


TOO_MANY_PODS_CASES = [
    pytest.param(pod(), (), id="pod without requests fails when the node has no pod slot left"),
    pytest.param(pod(cm("1m", "1")), (), id="fitting requests fail when the node has no pod slot left"),
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("5m", "1"))),
        (),
        id="init containers do not change the pod slot check",
    ),
    pytest.param(pod(cm("6m", "1")), (INSUFFICIENT_CPU,), id="pod slot and cpu are both reported"),
]


@pytest.mark.parametrize(("wanted", "more"), TOO_MANY_PODS_CASES)
def test_filter_counts_pods(wanted: dict[str, Any], more: tuple[str, ...]) -> None:
    info = node_info(small_node(pods="1"), using(cpu="5m", memory="19"))
    assert run_filter(plugin(), wanted, info) == Status.unschedulable("Too many pods", *more)


def gpu_node(name: str, gpus: str | None, *pods: dict[str, Any]) -> NodeInfo:
    return node_info(make_node(name, extra={GPU: gpus} if gpus else None), *pods)


# After defaulting, a pod with limits nvidia.com/gpu: 1 requests one too; the fixture says so directly.
GPU_POD = make_pod("trainer", requests={GPU: "1"})

GPU_CASES = [
    pytest.param(
        gpu_node("cpu-only", None),
        Status.unschedulable(f"Insufficient {GPU}"),
        id="gpu pod does not fit a node without gpus",
    ),
    pytest.param(gpu_node("gpu", "1"), Status(), id="gpu pod fits a node with an allocatable gpu"),
    pytest.param(
        gpu_node("busy", "1", make_pod("other", requests={GPU: "1"}, node_name="busy")),
        Status.unschedulable(f"Insufficient {GPU}"),
        id="gpu pod does not fit a node whose gpu is taken",
    ),
]


@pytest.mark.parametrize(("info", "want"), GPU_CASES)
def test_gpu_pod_fits_only_nodes_with_a_free_gpu(info: NodeInfo, want: Status) -> None:
    assert run_filter(plugin(), GPU_POD, info) == want


def test_request_above_the_whole_allocatable_is_still_unschedulable() -> None:
    """v1.32 leaves it to preemption (the UnschedulableAndUnresolvable shortcut came later)."""
    status = run_filter(plugin(), pod(cm("20m", "1")), node_info(small_node()))
    assert status.code is Code.UNSCHEDULABLE and status.reasons == (INSUFFICIENT_CPU,)


def test_filter_without_pre_filter_is_an_error() -> None:
    status = plugin().filter(CycleState(), PodInfo(pod()), node_info(small_node()))
    assert status.code is Code.ERROR and "PreFilterNodeResourcesFit" in status.message()


INSUFFICIENT_CASES = [
    pytest.param(
        pod(cm("1m", "1"), init=containers(cm("3m", "1"))),
        using(cpu="8m", memory="19"),
        [InsufficientResource("cpu", INSUFFICIENT_CPU, 3, 8, 10)],
        id="init container cpu with used and capacity",
    ),
    pytest.param(
        pod(cm("1m", "1"), overhead={"cpu": "1m", "memory": "15"}),
        using(cpu="5m", memory="5"),
        [InsufficientResource("memory", INSUFFICIENT_MEMORY, 16, 5, 20)],
        id="memory with overhead included",
    ),
    pytest.param(
        pod({"cpu": "1m", "memory": "1", EXT_A: "10"}),
        using(),
        [InsufficientResource(EXT_A, f"Insufficient {EXT_A}", 10, 0, 5)],
        id="extended resource with its capacity",
    ),
    pytest.param(
        pod({EXT_B: "1"}),
        using(),
        [InsufficientResource(EXT_B, f"Insufficient {EXT_B}", 1, 0, 0)],
        id="unknown extended resource with zero capacity",
    ),
    pytest.param(pod(cm("1m", "1")), using(cpu="5m", memory="5"), [], id="nothing when the pod fits"),
]


@pytest.mark.parametrize(("wanted", "existing", "want"), INSUFFICIENT_CASES)
def test_insufficient_resources(
    wanted: dict[str, Any], existing: dict[str, Any], want: list[InsufficientResource]
) -> None:
    assert insufficient_resources(PodInfo(wanted).requests, node_info(small_node(), existing)) == want


def test_events_are_pod_deletes_and_node_growth() -> None:
    assert plugin().events_to_register() == (
        ClusterEvent("Pod", ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN),
        ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE),
    )


# --- Score --------------------------------------------------------------------------------------------


def nodes(*sizes: tuple[Any, ...]) -> list[dict[str, Any]]:
    """node1, node2, ... from (cpu, memory) or (cpu, memory, extra allocatable)."""
    return [
        make_node(f"node{i}", cpu=cpu, memory=memory, extra=extra[0] if extra else None)
        for i, (cpu, memory, *extra) in enumerate(sizes, 1)
    ]


def on(node: str, *requests: dict[str, str]) -> dict[str, Any]:
    return make_pod("existing", containers=containers(*requests), node_name=node)


def snapshot(node_objs: list[dict[str, Any]], existing: list[dict[str, Any]]) -> list[NodeInfo]:
    return [
        node_info(n, *(p for p in existing if p["spec"].get("nodeName") == n["metadata"]["name"]))
        for n in node_objs
    ]


def strategy(kind: str, resources: list[dict[str, Any]] | None = None, **more: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": kind, **more}
    if resources is not None:
        spec["resources"] = resources
    return {"scoringStrategy": spec}


TWO_CONTAINERS = pod(cm("1000", "2000"), cm("2000", "3000"))
EXTENDED_SET = [
    {"name": "cpu", "weight": 1},
    {"name": "memory", "weight": 1},
    {"name": EXTENDED, "weight": 1},
]
MEMORY_TWICE = [{"name": "memory", "weight": 2}, {"name": "cpu", "weight": 1}]
EXTENDED_FIRST = [
    {"name": EXTENDED, "weight": 2},
    {"name": "cpu", "weight": 1},
    {"name": "memory", "weight": 1},
]

LEAST_CASES = [
    pytest.param(
        pod(),
        nodes(("4000", "10000"), ("4000", "10000")),
        [],
        None,
        [100, 100],
        id="nothing scheduled nothing requested",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("4000", "10000"), ("6000", "10000")),
        [],
        None,
        [37, 50],
        id="nothing scheduled resources requested differently sized nodes",
    ),
    pytest.param(
        pod(),
        nodes(("4000", "10000"), ("4000", "10000")),
        [on("node1"), on("node1"), on("node2"), on("node2")],
        None,
        [100, 100],
        id="no resources requested pods scheduled",
    ),
    pytest.param(
        pod(),
        nodes(("10000", "20000"), ("10000", "20000")),
        [
            on("node1", cm("3000", "0")),
            on("node1", cm("3000", "0")),
            on("node2", cm("3000", "0")),
            on("node2", cm("3000", "5000")),
        ],
        None,
        [70, 57],
        id="no resources requested pods scheduled with resources",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("10000", "20000"), ("10000", "20000")),
        [on("node1", cm("3000", "0")), on("node2", cm("3000", "5000"))],
        None,
        [57, 45],
        id="resources requested pods scheduled with resources",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("10000", "20000"), ("10000", "50000")),
        [on("node1", cm("3000", "0")), on("node2", cm("3000", "5000"))],
        None,
        [57, 60],
        id="resources requested pods scheduled with resources differently sized nodes",
    ),
    pytest.param(
        pod(cm("3000", "0")),
        nodes(("4000", "10000"), ("4000", "10000")),
        [on("node1", cm("3000", "0")), on("node2", cm("3000", "5000"))],
        None,
        [50, 25],
        id="requested resources exceed node capacity",
    ),
    pytest.param(
        pod(),
        nodes(("0", "0"), ("0", "0")),
        [on("node1", cm("3000", "0")), on("node2", cm("3000", "5000"))],
        None,
        [0, 0],
        id="zero node resources score zero",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("4000", "10000"), ("6000", "10000")),
        [],
        MEMORY_TWICE,
        [41, 50],
        id="memory weighted twice as much as cpu",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("6000", "10000"), ("6000", "10000", {EXTENDED: "4"})),
        [],
        EXTENDED_SET,
        [50, 50],
        id="extended resource the pod does not request is bypassed",
    ),
    pytest.param(
        pod({"cpu": "3000", "memory": "5000", EXTENDED: "2"}),
        nodes(("6000", "10000", {EXTENDED: "4"}), ("6000", "10000", {EXTENDED: "10"})),
        [],
        EXTENDED_SET,
        [50, 60],
        id="extended resource the pod requests is honored",
    ),
    pytest.param(
        pod(cm("3000", "4000")),
        nodes(("6000", "10000"), ("6000", "10000", {EXTENDED: "4"})),
        [],
        EXTENDED_FIRST,
        [55, 55],
        id="resource the node does not have is skipped",
    ),
]


@pytest.mark.parametrize(("wanted", "node_objs", "existing", "resources", "want"), LEAST_CASES)
def test_least_allocated(
    wanted: dict[str, Any],
    node_objs: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    resources: Any,
    want: list[int],
) -> None:
    fit = plugin(strategy("LeastAllocated", resources))
    assert run_score(fit, wanted, snapshot(node_objs, existing)) == want


MOST_CASES = [
    pytest.param(
        pod(),
        nodes(("4000", "10000"), ("4000", "10000")),
        [],
        None,
        [0, 0],
        id="nothing scheduled nothing requested",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("4000", "10000"), ("6000", "10000")),
        [],
        None,
        [62, 50],
        id="nothing scheduled resources requested differently sized nodes",
    ),
    pytest.param(
        pod(),
        nodes(("10000", "20000"), ("10000", "20000")),
        [
            on("node1", cm("3000", "0")),
            on("node1", cm("3000", "0")),
            on("node2", cm("3000", "0")),
            on("node2", cm("3000", "5000")),
        ],
        None,
        [30, 42],
        id="no resources requested pods scheduled with resources",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("10000", "20000"), ("10000", "20000")),
        [on("node1", cm("3000", "0")), on("node2", cm("3000", "5000"))],
        None,
        [42, 55],
        id="resources requested pods scheduled with resources",
    ),
    pytest.param(
        pod(cm("2000", "4000"), cm("3000", "5000")),
        nodes(("5000", "10000"), ("10000", "9000")),
        [],
        None,
        [95, 75],
        id="resources requested equal node capacity",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("4000", "10000"), ("6000", "10000")),
        [],
        MEMORY_TWICE,
        [58, 50],
        id="memory weighted twice as much as cpu",
    ),
    pytest.param(
        pod({}),
        nodes(("250m", "1000Mi"), ("250m", "1000Mi")),
        [on("node1", {}), on("node1", {})],
        None,
        [80, 30],
        id="containers without requests count the non-zero defaults",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("6000", "10000"), ("6000", "10000", {EXTENDED: "4"})),
        [],
        EXTENDED_SET,
        [50, 50],
        id="extended resource the pod does not request is bypassed",
    ),
    pytest.param(
        pod({"cpu": "3000", "memory": "5000", EXTENDED: "2"}),
        nodes(("6000", "10000", {EXTENDED: "4"}), ("6000", "10000", {EXTENDED: "10"})),
        [],
        EXTENDED_SET,
        [50, 40],
        id="extended resource the pod requests is honored",
    ),
    pytest.param(
        pod(cm("3000", "4000")),
        nodes(("6000", "10000"), ("6000", "10000", {EXTENDED: "4"})),
        [],
        EXTENDED_FIRST,
        [45, 45],
        id="resource the node does not have is skipped",
    ),
]


@pytest.mark.parametrize(("wanted", "node_objs", "existing", "resources", "want"), MOST_CASES)
def test_most_allocated(
    wanted: dict[str, Any],
    node_objs: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    resources: Any,
    want: list[int],
) -> None:
    fit = plugin(strategy("MostAllocated", resources))
    assert run_score(fit, wanted, snapshot(node_objs, existing)) == want


FALLING = [{"utilization": 0, "score": 10}, {"utilization": 100, "score": 0}]
RISING = [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 1}]
FOO, BAR = "intel.com/foo", "intel.com/bar"
FOO_ONLY = [{"name": FOO, "weight": 1}]
FOO_AND_BAR = [{"name": FOO, "weight": 3}, {"name": BAR, "weight": 5}]
MIB = 1024 * 1024


def ext_nodes(*extras: dict[str, str]) -> list[dict[str, Any]]:
    """Upstream makeNode(name, 4000 milli-cpu, 10000Mi, extended)."""
    return [
        make_node(f"node{i}", cpu="4000m", memory=str(10000 * MIB), extra=e) for i, e in enumerate(extras, 1)
    ]


RATIO_CASES = [
    pytest.param(
        pod(),
        nodes(("4000", "10000"), ("4000", "10000")),
        [on("node1"), on("node1")],
        None,
        FALLING,
        [100, 100],
        id="falling shape nothing requested",
    ),
    pytest.param(
        TWO_CONTAINERS,
        nodes(("4000", "10000"), ("6000", "10000")),
        [on("node1"), on("node1")],
        None,
        FALLING,
        [38, 50],
        id="falling shape rounds the weighted mean half up",
    ),
    pytest.param(
        pod(),
        nodes(("4000", "10000"), ("6000", "10000")),
        [on("node1", cm("3000", "5000")), on("node2", cm("3000", "5000"))],
        None,
        FALLING,
        [38, 50],
        id="falling shape no resources requested pods scheduled with resources",
    ),
    pytest.param(
        pod(),
        ext_nodes({FOO: "8"}, {FOO: "4"}),
        [],
        FOO_ONLY,
        RISING,
        [0, 0],
        id="rising shape pod not requesting the extended resource",
    ),
    pytest.param(
        pod({FOO: "2"}),
        ext_nodes({FOO: "8"}, {FOO: "4"}),
        [],
        FOO_ONLY,
        RISING,
        [2, 5],
        id="rising shape favors the fuller extended resource",
    ),
    pytest.param(
        pod({FOO: "2"}),
        ext_nodes({FOO: "8"}, {FOO: "4"}),
        [on("node2", {FOO: "2"})],
        FOO_ONLY,
        RISING,
        [2, 10],
        id="rising shape counts extended resource used by pods on the node",
    ),
    pytest.param(
        pod({FOO: "4"}),
        ext_nodes({FOO: "8"}, {FOO: "4"}),
        [],
        FOO_ONLY,
        RISING,
        [5, 10],
        id="rising shape at full extended resource",
    ),
    pytest.param(
        pod(),
        ext_nodes({FOO: "8", BAR: "4"}, {FOO: "4", BAR: "8"}),
        [],
        FOO_AND_BAR,
        RISING,
        [0, 0],
        id="two extended resources nothing requested",
    ),
    pytest.param(
        pod({FOO: "2", BAR: "2"}),
        ext_nodes({FOO: "8", BAR: "4"}, {FOO: "4", BAR: "8"}),
        [],
        FOO_AND_BAR,
        RISING,
        [4, 3],
        id="two weighted extended resources",
    ),
    pytest.param(
        pod({FOO: "2", BAR: "2"}),
        ext_nodes({FOO: "8", BAR: "4"}, {FOO: "4", BAR: "8"}),
        [on("node2", {FOO: "4", BAR: "2"})],
        FOO_AND_BAR,
        RISING,
        [4, 7],
        id="two weighted extended resources over capacity count as full",
    ),
    pytest.param(
        pod({FOO: "4", BAR: "2"}),
        ext_nodes({FOO: "8", BAR: "4"}, {FOO: "4", BAR: "8"}),
        [],
        FOO_AND_BAR,
        RISING,
        [5, 5],
        id="two weighted extended resources with more requested",
    ),
]


@pytest.mark.parametrize(("wanted", "node_objs", "existing", "resources", "shape", "want"), RATIO_CASES)
def test_requested_to_capacity_ratio(
    wanted: dict[str, Any],
    node_objs: list[dict[str, Any]],
    existing: list[dict[str, Any]],
    resources: Any,
    shape: list[dict[str, int]],
    want: list[int],
) -> None:
    fit = plugin(strategy("RequestedToCapacityRatio", resources, requestedToCapacityRatio={"shape": shape}))
    assert run_score(fit, wanted, snapshot(node_objs, existing)) == want


BROKEN_LINEAR_CASES = [
    pytest.param(
        [(10, 1), (90, 9)],
        [
            (-10, 1),
            (0, 1),
            (9, 1),
            (10, 1),
            (15, 1),
            (19, 1),
            (20, 2),
            (89, 8),
            (90, 9),
            (99, 9),
            (100, 9),
            (110, 9),
        ],
        id="rising line flat outside its points",
    ),
    pytest.param(
        [(0, 2), (40, 10), (100, 0)],
        [(-10, 2), (0, 2), (20, 6), (30, 8), (40, 10), (70, 5), (100, 0), (110, 0)],
        id="rise then fall",
    ),
    pytest.param([(0, 2), (40, 2), (100, 2)], [(-10, 2), (20, 2), (70, 2), (110, 2)], id="flat shape"),
    pytest.param(
        [(0, 2), (40, 10), (100, 0)], [(50, 9), (95, 1)], id="falling segments truncate toward zero like Go"
    ),
]


@pytest.mark.parametrize(("shape", "points"), BROKEN_LINEAR_CASES)
def test_broken_linear(shape: list[tuple[int, int]], points: list[tuple[int, int]]) -> None:
    assert [broken_linear(shape, p) for p, _ in points] == [want for _, want in points]


def packing_snapshot() -> list[NodeInfo]:
    return [
        node_info(
            make_node("full", cpu="4", memory="8Gi"), make_pod("big", cpu="2", memory="4Gi", node_name="full")
        ),
        node_info(make_node("empty", cpu="4", memory="8Gi")),
    ]


SEED_SCORE_CASES = [
    pytest.param({}, [31, 81], id="LeastAllocated spreads onto the emptier node"),
    pytest.param(strategy("MostAllocated"), [68, 18], id="MostAllocated packs onto the fuller node"),
]


@pytest.mark.parametrize(("args", "want"), SEED_SCORE_CASES)
def test_packing_versus_spreading(args: dict[str, Any], want: list[int]) -> None:
    assert run_score(plugin(args), make_pod("web", cpu="1", memory="1Gi"), packing_snapshot()) == want


REQUEST_SHAPE_CASES = [
    pytest.param(make_pod("p", cpu="1", memory="1Gi"), [81], id="plain containers"),
    pytest.param(
        pod(cm("1", "1Gi"), init=containers(cm("3", "1Gi"))),
        [56],
        id="init container bigger than the containers counts",
    ),
    pytest.param(
        pod(cm("1", "1Gi"), init=containers(cm("1", "1Gi"), restart_always=True)),
        [62],
        id="sidecar adds to the containers",
    ),
    pytest.param(
        pod(cm("1", "1Gi"), overhead={"cpu": "1", "memory": "1Gi"}), [62], id="overhead counts in scoring"
    ),
    pytest.param(pod({}), [97], id="container without requests counts 100m and 200Mi"),
]


@pytest.mark.parametrize(("wanted", "want"), REQUEST_SHAPE_CASES)
def test_least_allocated_scores_the_whole_pod(wanted: dict[str, Any], want: list[int]) -> None:
    assert run_score(plugin(), wanted, [node_info(make_node("n", cpu="4", memory="8Gi"))]) == want


def test_score_without_pre_score_computes_the_requests() -> None:
    fit = plugin(strategy("LeastAllocated"))
    infos = snapshot(nodes(("4000", "10000"), ("6000", "10000")), [])
    assert [fit.score(CycleState(), PodInfo(TWO_CONTAINERS), info)[0] for info in infos] == [37, 50]


# --- args ---------------------------------------------------------------------------------------------

GOOD_ARGS = [
    pytest.param({}, id="empty args mean LeastAllocated on cpu and memory"),
    pytest.param(strategy("MostAllocated", [{"name": "cpu"}]), id="missing weight defaults to 1"),
    pytest.param(strategy("LeastAllocated", [{"name": "cpu", "weight": 0}]), id="zero weight defaults to 1"),
    pytest.param(
        strategy("LeastAllocated", [{"name": "cpu", "weight": 100}]), id="weight 100 is the maximum"
    ),
    pytest.param(
        strategy(
            "RequestedToCapacityRatio", requestedToCapacityRatio={"shape": [{"utilization": 0, "score": 10}]}
        ),
        id="single point shape",
    ),
    pytest.param(
        {"ignoredResources": [EXT_B], "ignoredResourceGroups": ["example.com"]},
        id="ignored resources and groups",
    ),
]


@pytest.mark.parametrize("args", GOOD_ARGS)
def test_valid_args(args: dict[str, Any]) -> None:
    assert isinstance(plugin(args), NodeResourcesFit)


def test_default_resources_are_cpu_and_memory() -> None:
    assert [(spec.name, spec.weight) for spec in plugin().allocation.resources] == [("cpu", 1), ("memory", 1)]


BAD_ARGS = [
    pytest.param(
        strategy("LeastAllocated", [{"name": "memory", "weight": -1}]),
        r"resources\[0\]\.weight",
        id="negative weight",
    ),
    pytest.param(
        strategy("MostAllocated", [{"name": "memory", "weight": 1}, {"name": "cpu", "weight": 101}]),
        r"resources\[1\]\.weight.*\(0, 100\]",
        id="weight above 100",
    ),
    pytest.param(strategy("Balanced"), "Unsupported value", id="unknown strategy type"),
    pytest.param(
        {"scoringStrategy": {"resources": [{"name": "cpu", "weight": 1}]}},
        "Unsupported value",
        id="strategy without type",
    ),
    pytest.param(
        strategy("RequestedToCapacityRatio"),
        "requestedToCapacityRatio: Required",
        id="ratio strategy without its shape",
    ),
    pytest.param(
        strategy("RequestedToCapacityRatio", requestedToCapacityRatio={"shape": []}),
        "at least one point",
        id="empty shape",
    ),
    pytest.param(
        strategy(
            "RequestedToCapacityRatio",
            requestedToCapacityRatio={
                "shape": [{"utilization": 50, "score": 1}, {"utilization": 50, "score": 2}]
            },
        ),
        "sorted in increasing order",
        id="shape utilization not increasing",
    ),
    pytest.param(
        strategy(
            "RequestedToCapacityRatio", requestedToCapacityRatio={"shape": [{"utilization": 101, "score": 1}]}
        ),
        r"utilization.*\[0, 100\]",
        id="shape utilization above 100",
    ),
    pytest.param(
        strategy(
            "RequestedToCapacityRatio", requestedToCapacityRatio={"shape": [{"utilization": 10, "score": 11}]}
        ),
        r"score.*\[0, 10\]",
        id="shape score above 10",
    ),
    pytest.param(
        {"ignoredResourceGroups": ["example.com/aaa"]}, "can't contain '/'", id="resource group with a slash"
    ),
    pytest.param(
        {"ignoredResources": ["not a name!"]},
        r"ignoredResources\[0\]",
        id="ignored resource that is not a name",
    ),
]


@pytest.mark.parametrize(("args", "match"), BAD_ARGS)
def test_invalid_args(args: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plugin(args)
