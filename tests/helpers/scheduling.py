"""Pod and node fixtures for scheduler tests: API-shaped dicts with only what a case needs.

make_pod("web", cpu="500m", labels={"app": "web"}, node_name="n1")
make_node("n1", cpu="4", memory="8Gi", labels={"zone": "a"}, taints=[{"key": "k", "effect": "NoSchedule"}])
node_info(make_node("n1"), make_pod("a", node_name="n1"))
"""

from __future__ import annotations

import itertools
from typing import Any

from scheduler.framework.types import NodeInfo, PodInfo

_uids = itertools.count(1)


def make_pod(
    name: str,
    namespace: str = "default",
    *,
    cpu: str | None = None,
    memory: str | None = None,
    requests: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    node_name: str | None = None,
    priority: int | None = None,
    uid: str | None = None,
    containers: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A pod with one container `c` requesting `cpu`/`memory`/`requests`, plus any other spec fields
    given as keyword arguments (affinity=..., tolerations=..., nodeSelector=...)."""
    wanted = dict(requests or {})
    if cpu is not None:
        wanted["cpu"] = cpu
    if memory is not None:
        wanted["memory"] = memory
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if wanted:
        container["resources"] = {"requests": wanted}
    pod_spec: dict[str, Any] = {"containers": containers if containers is not None else [container], **spec}
    if node_name:
        pod_spec["nodeName"] = node_name
    if priority is not None:
        pod_spec["priority"] = priority
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "uid": uid or f"uid-{next(_uids)}"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": pod_spec,
        "status": {"phase": "Pending"},
    }


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    extra: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    images: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Ready node whose allocatable is `cpu`, `memory`, `pods` and `extra` (e.g. nvidia.com/gpu),
    labelled kubernetes.io/hostname=name plus `labels`."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    status: dict[str, Any] = {
        "capacity": dict(allocatable),
        "allocatable": allocatable,
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    if images:
        status["images"] = images
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": status,
    }


def node_info(node: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    return NodeInfo(node, [PodInfo(pod) for pod in pods])
