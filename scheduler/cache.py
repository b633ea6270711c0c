"""The scheduler's view of nodes and the pods on them (upstream internal/cache), including
**assumed** pods: a pod the scheduler has decided to place counts on its node at once, before the
binding is written and long before the watch reports it, so the next cycle does not hand the same
room out twice. A binding that fails forgets the assumption; one that succeeds is confirmed when the
informer delivers the bound pod, or expires `assumed_ttl` after the binding finished if that
never comes.

The cache owns the one Snapshot the framework reads. Cycles run without awaiting between taking
the snapshot and assuming the pod, so the live NodeInfos are the snapshot: `refresh_snapshot()`
only re-lists nodes and the affinity lists when something changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scheduler.framework.snapshot import Snapshot
from scheduler.framework.types import ImageState, NodeInfo, PodInfo

Obj = Mapping[str, Any]
ImageStates = Callable[[list[Obj]], dict[str, dict[str, ImageState]]]


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node_name: str
    assumed: bool = False
    binding_finished_at: float | None = None


def _node_name(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _same_scheduling_inputs(old: Obj, new: Obj) -> bool:
    """Whether a PodInfo made from `new` would equal one made from `old`: same spec and labels."""
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    return old.get("spec") == new.get("spec") and old_meta.get("labels") == new_meta.get("labels")


def _uid(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


class SchedulerCache:
    def __init__(
        self, clock: Callable[[], float], image_states: ImageStates | None = None, assumed_ttl: float = 30.0
    ):
        self.clock = clock
        self.assumed_ttl = assumed_ttl
        self._image_states = image_states
        self.nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self.snapshot = Snapshot()
        self._nodes_changed = True
        self._affinity_changed = True
        self._images_changed = True

    # --- nodes ------------------------------------------------------------------------------------

    def add_node(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo()
            self._nodes_changed = True
        elif info.node is None:
            self._nodes_changed = True  # pods arrived before their node
        images_before = ((info.node or {}).get("status") or {}).get("images")
        info.set_node(node)
        if (node.get("status") or {}).get("images") != images_before:
            self._images_changed = True

    update_node = add_node

    def remove_node(self, node: Obj) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        info = self.nodes.get(name)
        if info is None:
            return
        if info.pods:  # keep the pods' accounting until they are deleted too, as upstream does
            info.node = None
        else:
            del self.nodes[name]
        self._nodes_changed = self._images_changed = True

    # --- pods -------------------------------------------------------------------------------------

    def assume_pod(self, pod_info: PodInfo, node_name: str) -> PodInfo:
        """Count the pod on `node_name` now; the PodInfo placed (its pod has spec.nodeName set)."""
        placed_pod = {**pod_info.pod, "spec": {**(pod_info.pod.get("spec") or {}), "nodeName": node_name}}
        placed = PodInfo(placed_pod)
        self._place(placed, node_name)
        self._pods[placed.uid] = _PodState(placed, node_name, assumed=True)
        return placed

    def finish_binding(self, uid: str) -> None:
        state = self._pods.get(uid)
        if state is not None and state.assumed:
            state.binding_finished_at = self.clock()

    def forget_pod(self, uid: str) -> None:
        state = self._pods.get(uid)
        if state is not None and state.assumed:
            self._unplace(state)
            del self._pods[uid]

    def is_assumed(self, uid: str) -> bool:
        state = self._pods.get(uid)
        return state is not None and state.assumed

    def add_pod(self, pod: Obj) -> None:
        """A pod the informer reports bound to a node (confirms an assumption, or is new)."""
        uid, node_name = _uid(pod), _node_name(pod)
        state = self._pods.get(uid)
        if (
            state is not None
            and state.node_name == node_name
            and _same_scheduling_inputs(state.info.pod, pod)
        ):
            # a confirmation of our assumption or a status change: the accounting stays as it is
            state.info.pod, state.assumed, state.binding_finished_at = pod, False, None
            return
        if state is not None:
            self._unplace(state)
        info = PodInfo(pod)
        self._place(info, node_name)
        self._pods[uid] = _PodState(info, node_name)

    update_pod = add_pod

    def remove_pod(self, pod: Obj) -> None:
        state = self._pods.pop(_uid(pod), None)
        if state is not None:
            self._unplace(state)

    def cleanup_expired_assumed_pods(self) -> list[str]:
        """Drop assumptions whose binding finished over `assumed_ttl` ago without the watch
        confirming them; their uids."""
        now = self.clock()
        expired = [uid for uid, state in self._pods.items() if self._expired(state, now)]
        for uid in expired:
            self._unplace(self._pods.pop(uid))
        return expired

    def _expired(self, state: _PodState, now: float) -> bool:
        finished = state.binding_finished_at
        return state.assumed and finished is not None and now - finished > self.assumed_ttl

    def pod_count(self) -> int:
        return len(self._pods)

    def _place(self, info: PodInfo, node_name: str) -> None:
        node_info = self.nodes.get(node_name)
        if node_info is None:
            node_info = self.nodes[node_name] = NodeInfo()
        node_info.add_pod(info)
        if info.has_affinity():
            self._affinity_changed = True

    def _unplace(self, state: _PodState) -> None:
        node_info = self.nodes.get(state.node_name)
        if node_info is None:
            return
        node_info.remove_pod(state.info.pod)
        if state.info.has_affinity():
            self._affinity_changed = True
        if node_info.node is None and not node_info.pods:
            del self.nodes[state.node_name]
            self._nodes_changed = True

    # --- snapshot ---------------------------------------------------------------------------------

    def refresh_snapshot(self, namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> Snapshot:
        if namespace_labels is not None:
            self.snapshot.namespace_labels = namespace_labels
        if self._images_changed and self._image_states is not None:
            nodes = [info.node for info in self.nodes.values() if info.node is not None]
            states = self._image_states(nodes)
            for name, info in self.nodes.items():
                info.image_states = states.get(name, {})
        self._images_changed = False
        if self._nodes_changed:
            self.snapshot.set_nodes(self.nodes.values())
            self._nodes_changed = self._affinity_changed = False
        elif self._affinity_changed:
            self.snapshot.refresh_affinity_lists()
            self._affinity_changed = False
        return self.snapshot
