"""ImageLocality: prefer nodes that already have the pod's images, by their size, discounted for
images most nodes have anyway (upstream plugins/imagelocality).

Each image on the node adds its size times the share of nodes that have it; the sum, clamped to
[23MB, 1000MB per container], maps linearly onto 0..100. The images come from `status.images` of the
nodes: `image_states_for(nodes)` turns those into the NodeInfo.image_states the cache keeps.

Unlike upstream, which only appends ":latest", image names are normalised as container runtimes
report them ("busybox" is "docker.io/library/busybox:latest"), so a pod's short names meet the
runtime's full ones."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import MAX_NODE_SCORE, Handle, PluginArgs, PreScorePlugin, ScorePlugin
from scheduler.framework.status import SKIP, SUCCESS, Status
from scheduler.framework.types import ImageState, NodeInfo, PodInfo

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
DEFAULT_DOMAIN = "docker.io"


def normalized_image_name(image: str) -> str:
    """The fully qualified reference (docker's ParseNormalizedNamed plus the default tag): a domain
    (docker.io unless the first part looks like a host), docker.io's "library/" for single names,
    and ":latest" unless a tag or digest is given. With a digest the tag is dropped, since the
    runtime lists an image pulled by digest under its digest."""
    name, _, digest = image.partition("@")
    tag = ""
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == "index.docker.io":
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if digest:
        return f"{domain}/{path}@{digest}"
    return f"{domain}/{path}:{tag or 'latest'}"


def image_states_for(nodes: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, ImageState]]:
    """Each node's images (by normalised name) with their size and how many nodes have them, from
    `status.images` (upstream cache.addNodeImageStates: an image's size is the first one seen)."""
    nodes = list(nodes)
    sizes: dict[str, int] = {}
    holders: dict[str, set[str]] = {}
    per_node: dict[str, set[str]] = {}
    for node in nodes:
        node_name = (node.get("metadata") or {}).get("name", "")
        names = per_node.setdefault(node_name, set())
        for image in (node.get("status") or {}).get("images") or ():
            for raw in image.get("names") or ():
                name = normalized_image_name(raw)
                sizes.setdefault(name, int(image.get("sizeBytes") or 0))
                holders.setdefault(name, set()).add(node_name)
                names.add(name)
    states = {name: ImageState(sizes[name], len(holders[name])) for name in sizes}
    return {node_name: {name: states[name] for name in names} for node_name, names in per_node.items()}


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    if sum_scores < MIN_THRESHOLD:
        sum_scores = MIN_THRESHOLD
    elif sum_scores > max_threshold:
        sum_scores = max_threshold
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def _pod_images(pod: PodInfo) -> tuple[str, ...]:
    """The normalised images of the init containers and containers, one per container."""
    containers = [*(pod.spec.get("initContainers") or ()), *(pod.spec.get("containers") or ())]
    return tuple(normalized_image_name(c.get("image") or "") for c in containers)


class ImageLocality(PreScorePlugin, ScorePlugin):
    name = "ImageLocality"

    _STATE_KEY = "PreScore" + name

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        """The pod's image names and the cluster's node count, once for all nodes (upstream works
        them out in every Score call). When no candidate node has any of the images every score would
        be 0, so Score is skipped (the totals are the same; scoring thousands of nodes is not)."""
        images = _pod_images(pod)
        if not any(image in info.image_states for info in nodes if info.image_states for image in images):
            return SKIP
        state.write(self._STATE_KEY, (images, len(self.handle.snapshot())))
        return SUCCESS

    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        images, total_nodes = state.get(self._STATE_KEY) or (_pod_images(pod), len(self.handle.snapshot()))
        image_states = node_info.image_states
        total = 0
        for image in images:
            image_state = image_states.get(image)
            if image_state is not None:
                # the size scaled by the share of nodes that have the image, against "node heating"
                total += int(image_state.size * (image_state.num_nodes / total_nodes))
        return calculate_priority(total, len(images)), SUCCESS


def new(args: PluginArgs, handle: Handle) -> ImageLocality:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{ImageLocality.name} takes no args, got {unknown}")
    return ImageLocality(handle)
