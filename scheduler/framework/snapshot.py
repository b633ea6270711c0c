"""The cluster as one scheduling cycle sees it (upstream internal/cache.Snapshot): NodeInfos in a
fixed order, with the lists inter-pod affinity needs kept ready. The scheduler cache refreshes it
before each cycle; plugins only read it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scheduler.framework.types import NodeInfo


class Snapshot:
    __slots__ = (
        "_by_name",
        "generation",
        "have_pods_with_affinity",
        "have_pods_with_required_anti_affinity",
        "namespace_labels",
        "node_infos",
    )

    def __init__(
        self,
        node_infos: Iterable[NodeInfo] = (),
        namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.node_infos: list[NodeInfo] = []
        self._by_name: dict[str, NodeInfo] = {}
        self.have_pods_with_affinity: list[NodeInfo] = []
        self.have_pods_with_required_anti_affinity: list[NodeInfo] = []
        self.namespace_labels: Mapping[str, Mapping[str, str]] = namespace_labels or {}
        """Labels of each namespace, for affinity terms with a namespaceSelector."""
        self.generation = 0
        self.set_nodes(node_infos)

    def set_nodes(self, node_infos: Iterable[NodeInfo]) -> None:
        self.node_infos = [info for info in node_infos if info.node is not None]
        self._by_name = {info.name: info for info in self.node_infos}
        self.refresh_affinity_lists()

    def refresh_affinity_lists(self) -> None:
        self.have_pods_with_affinity = [info for info in self.node_infos if info.pods_with_affinity]
        self.have_pods_with_required_anti_affinity = [
            info for info in self.node_infos if info.pods_with_required_anti_affinity
        ]

    def get(self, name: str) -> NodeInfo | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self.node_infos)
