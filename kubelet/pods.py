"""Small readings of a Pod object (a dict as the API serves it) that the kubelet's modules share."""

from __future__ import annotations

import hashlib
import json
from typing import Any

Pod = dict[str, Any]
Container = dict[str, Any]

CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"
CONFIG_HASH_ANNOTATION = "kubernetes.io/config.hash"
CONFIG_MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
CONFIG_SEEN_ANNOTATION = "kubernetes.io/config.seen"
API_SOURCE = "api"

DEFAULT_TERMINATION_GRACE_SECONDS = 30


def uid(pod: Pod) -> str:
    return str(pod["metadata"].get("uid", ""))


def namespace(pod: Pod) -> str:
    return str(pod["metadata"].get("namespace") or "default")


def name(pod: Pod) -> str:
    return str(pod["metadata"].get("name", ""))


def full_name(pod: Pod) -> str:
    """`name_namespace`, upstream's kubecontainer.GetPodFullName (log and event keys)."""
    return f"{name(pod)}_{namespace(pod)}"


def spec(pod: Pod) -> dict[str, Any]:
    return pod.get("spec") or {}


def containers(pod: Pod) -> list[Container]:
    return list(spec(pod).get("containers") or [])


def init_containers(pod: Pod) -> list[Container]:
    return list(spec(pod).get("initContainers") or [])


def restart_policy(pod: Pod) -> str:
    return str(spec(pod).get("restartPolicy") or "Always")


def deletion_requested(pod: Pod) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_static(pod: Pod) -> bool:
    annotations = pod["metadata"].get("annotations") or {}
    source: str = annotations.get(CONFIG_SOURCE_ANNOTATION, API_SOURCE)
    return source != API_SOURCE


def is_mirror(pod: Pod) -> bool:
    return CONFIG_MIRROR_ANNOTATION in (pod["metadata"].get("annotations") or {})


def is_terminal_phase(pod: Pod) -> bool:
    phase: str = (pod.get("status") or {}).get("phase") or ""
    return phase in ("Succeeded", "Failed")


def grace_period_seconds(pod: Pod) -> int:
    """The grace the pod gets when it is killed: metadata.deletionGracePeriodSeconds once deleted,
    else spec.terminationGracePeriodSeconds (30 by default)."""
    deleted = pod["metadata"].get("deletionGracePeriodSeconds")
    if deleted is not None:
        return max(int(deleted), 0)
    value = spec(pod).get("terminationGracePeriodSeconds")
    return DEFAULT_TERMINATION_GRACE_SECONDS if value is None else max(int(value), 0)


def container_hash(container: Container) -> str:
    """Identifies the container's spec: a change (other than resources, which can be resized in
    place) means the running container is replaced, as upstream's HashContainer."""
    relevant = {key: value for key, value in container.items() if key != "resources"}
    canonical = json.dumps(relevant, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def container_by_name(pod: Pod, container_name: str) -> Container | None:
    for container in [*init_containers(pod), *containers(pod)]:
        if container.get("name") == container_name:
            return container
    return None


def host_network(pod: Pod) -> bool:
    return bool(spec(pod).get("hostNetwork"))
