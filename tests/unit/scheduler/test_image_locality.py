"""ImageLocality: scores of upstream's image_locality_test.go (v1.32's per-container threshold), the
image states the cache builds from node status, and image name normalisation."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.types import ImageState, NodeInfo, PodInfo
from scheduler.plugins.image_locality import (
    MB,
    ImageLocality,
    calculate_priority,
    image_states_for,
    new,
    normalized_image_name,
)


class FakeHandle:
    def __init__(self, infos: list[NodeInfo]) -> None:
        self._snapshot = Snapshot(infos)

    def snapshot(self) -> Snapshot:
        return self._snapshot


def image(size_mb: int, *names: str) -> dict[str, Any]:
    return {"names": list(names), "sizeBytes": size_mb * MB}


NODE_40_300_2000 = [
    image(40, "gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"),
    image(300, "gcr.io/300:latest", "gcr.io/300:v1"),
    image(2000, "gcr.io/2000:latest"),
]
NODE_250_10 = [image(250, "gcr.io/250:latest"), image(10, "gcr.io/10:latest", "gcr.io/10:v1")]


def pod_with(*images: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": name} for i, name in enumerate(images)]
    spec: dict[str, Any] = {}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": name} for i, name in enumerate(init)]
    return make_pod("p", containers=containers, **spec)


def scores(pod: dict[str, Any], node_images: list[list[dict[str, Any]]], pre_score: bool = True) -> list[int]:
    nodes = [make_node(f"machine{i + 1}", images=images) for i, images in enumerate(node_images)]
    states = image_states_for(nodes)
    infos = []
    for node in nodes:
        info = NodeInfo(node)
        info.image_states = states[info.name]
        infos.append(info)
    plugin = new({}, FakeHandle(infos))  # type: ignore[arg-type]
    state, pod_info = CycleState(), PodInfo(pod)
    if pre_score:
        assert plugin.pre_score(state, pod_info, infos).is_success()
    result = []
    for info in infos:
        score, status = plugin.score(state, pod_info, info)
        assert status.is_success()
        result.append(score)
    return result


@pytest.mark.parametrize(
    ("pod", "node_images", "want"),
    [
        # 100 * (250M/2 - 23M) / (1000M * 2 - 23M) = 5
        pytest.param(
            pod_with("gcr.io/40", "gcr.io/250"),
            [NODE_40_300_2000, NODE_250_10],
            [0, 5],
            id="two images spread on two nodes prefers the node with the larger one",
        ),
        # 100 * (40M/2 + 300M/2 - 23M) / (1000M * 2 - 23M) = 7
        pytest.param(
            pod_with("gcr.io/40", "gcr.io/300"),
            [NODE_40_300_2000, NODE_250_10],
            [7, 0],
            id="two images on one node prefer that node",
        ),
        # 100 * (2000M/2 - 23M) / (1000M * 2 - 23M) = 49; 10M/2 is under the 23M floor
        pytest.param(
            pod_with("gcr.io/10", "gcr.io/2000"),
            [NODE_40_300_2000, NODE_250_10],
            [49, 0],
            id="scores stay within the thresholds",
        ),
        # 100 * (2000M/3 - 23M) / (1000M * 2 - 23M) = 32
        pytest.param(
            pod_with("gcr.io/10", "gcr.io/2000"),
            [NODE_40_300_2000, NODE_250_10, []],
            [32, 0, 0],
            id="a node without images dilutes the spread and scores zero",
        ),
        # 100 * (300M/2 + 40M/2 - 23M) / (1000M * 2 - 23M) = 7
        pytest.param(
            pod_with("gcr.io/40", init=("gcr.io/300",)),
            [NODE_40_300_2000, NODE_250_10],
            [7, 0],
            id="init container images count too",
        ),
        pytest.param(
            pod_with("gcr.io/2000"),
            [NODE_40_300_2000],
            [100],
            id="an image at the per-container ceiling scores the maximum",
        ),
        # 100 * (500M/2 - 23M) / (1000M - 23M) = 23
        pytest.param(
            pod_with("busybox"),
            [[image(500, "docker.io/library/busybox:latest")], []],
            [23, 0],
            id="short image names match the runtime's full names",
        ),
    ],
)
def test_score(pod: dict[str, Any], node_images: list[list[dict[str, Any]]], want: list[int]) -> None:
    assert scores(pod, node_images) == want


def test_a_pod_whose_images_no_node_has_skips_scoring() -> None:
    nodes = [NodeInfo(make_node("bare")), NodeInfo(make_node("other"))]
    nodes[1].image_states = {"gcr.io/other:latest": ImageState(10**9, 1)}
    plugin = new({}, FakeHandle(nodes))  # type: ignore[arg-type]
    assert plugin.pre_score(CycleState(), PodInfo(pod_with("gcr.io/40")), nodes).is_skip()


def test_score_without_pre_score_works_it_out_itself() -> None:
    pod = pod_with("gcr.io/10", "gcr.io/2000")
    assert scores(pod, [NODE_40_300_2000, NODE_250_10, []], pre_score=False) == [32, 0, 0]


def test_image_states_count_each_node_once_per_image() -> None:
    nodes = [
        make_node(
            "a", images=[image(100, "busybox", "docker.io/library/busybox:latest"), image(5, "pause:3.9")]
        ),
        make_node("b", images=[image(100, "docker.io/library/busybox:latest")]),
        make_node("c"),
    ]
    states = image_states_for(nodes)
    busybox = ImageState(100 * MB, 2)
    assert states == {
        "a": {
            "docker.io/library/busybox:latest": busybox,
            "docker.io/library/pause:3.9": ImageState(5 * MB, 1),
        },
        "b": {"docker.io/library/busybox:latest": busybox},
        "c": {},
    }


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        pytest.param(
            "busybox", "docker.io/library/busybox:latest", id="a bare name gets docker.io, library and latest"
        ),
        pytest.param("busybox:1.36", "docker.io/library/busybox:1.36", id="a tag is kept"),
        pytest.param(
            "library/busybox", "docker.io/library/busybox:latest", id="a docker hub path gets the domain"
        ),
        pytest.param("myorg/app:v1", "docker.io/myorg/app:v1", id="an organisation path stays on docker hub"),
        pytest.param("gcr.io:5000/root", "gcr.io:5000/root:latest", id="a registry port is not a tag"),
        pytest.param("localhost/app", "localhost/app:latest", id="localhost is a registry"),
        pytest.param("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9", id="a full name is unchanged"),
        pytest.param(
            "index.docker.io/library/nginx",
            "docker.io/library/nginx:latest",
            id="index.docker.io is docker.io",
        ),
        pytest.param(
            "nginx@sha256:abc", "docker.io/library/nginx@sha256:abc", id="a digest is kept without a tag"
        ),
        pytest.param(
            "nginx:1.27@sha256:abc", "docker.io/library/nginx@sha256:abc", id="a digest wins over a tag"
        ),
    ],
)
def test_normalized_image_name(raw: str, want: str) -> None:
    assert normalized_image_name(raw) == want


@pytest.mark.parametrize(
    ("total", "containers", "want"),
    [
        pytest.param(0, 1, 0, id="nothing present scores zero"),
        pytest.param(23 * MB, 1, 0, id="the floor scores zero"),
        pytest.param(1000 * MB, 1, 100, id="the ceiling of one container scores the maximum"),
        pytest.param(5000 * MB, 2, 100, id="more than the ceiling scores the maximum"),
        pytest.param(0, 0, 0, id="a pod without containers scores zero"),
    ],
)
def test_calculate_priority(total: int, containers: int, want: int) -> None:
    assert calculate_priority(total, containers) == want


def test_args_are_refused() -> None:
    with pytest.raises(ValueError, match="takes no args"):
        new({"x": 1}, None)  # type: ignore[arg-type]
    assert isinstance(new({}, None), ImageLocality)  # type: ignore[arg-type]
