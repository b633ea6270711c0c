"""Pod QoS classes as upstream computes them (ranking and admission under pressure depend on them)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelet.qos import compute_qos_class, qos_class


def container(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    return {"name": "c", "resources": resources}


FULL = {"cpu": "500m", "memory": "64Mi"}

CASES = [
    ("no resources at all", [container()], [], "BestEffort"),
    ("only zero requests", [container({"cpu": "0", "memory": "0"})], [], "BestEffort"),
    ("other resources do not count", [container({"ephemeral-storage": "1Gi"})], [], "BestEffort"),
    ("limits equal requests for cpu and memory", [container(FULL, FULL)], [], "Guaranteed"),
    ("limits only, before the apiserver defaults requests", [container(None, FULL)], [], "Burstable"),
    (
        "same amount written differently",
        [container({"cpu": "0.5", "memory": "64Mi"}, FULL)],
        [],
        "Guaranteed",
    ),
    ("memory limit missing", [container({"cpu": "1"}, {"cpu": "1"})], [], "Burstable"),
    ("request below limit", [container({"cpu": "250m", "memory": "64Mi"}, FULL)], [], "Burstable"),
    ("one guaranteed, one best effort", [container(FULL, FULL), container()], [], "Burstable"),
    ("init container without limits", [container(FULL, FULL)], [container()], "Burstable"),
    ("init container with a request", [container()], [container({"memory": "1Mi"})], "Burstable"),
]


@pytest.mark.parametrize(("name", "containers", "init", "expected"), CASES, ids=[c[0] for c in CASES])
def test_qos_class(
    name: str, containers: list[dict[str, Any]], init: list[dict[str, Any]], expected: str
) -> None:
    pod = {"spec": {"containers": containers, "initContainers": init}}
    assert compute_qos_class(pod) == expected
    assert qos_class(pod) == expected


def test_recorded_class_wins() -> None:
    pod = {"spec": {"containers": [container()]}, "status": {"qosClass": "Burstable"}}
    assert qos_class(pod) == "Burstable"
    assert compute_qos_class(pod) == "BestEffort"
