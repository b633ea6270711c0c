"""PrioritySort: the scheduling queue's order, higher `spec.priority` first and, among equals, the
pod that entered the queue first (upstream plugins/queuesort)."""

from __future__ import annotations

from scheduler.framework.interface import Handle, PluginArgs, QueuedPodInfoLike, QueueSortPlugin


class PrioritySort(QueueSortPlugin):
    name = "PrioritySort"

    def less(self, a: QueuedPodInfoLike, b: QueuedPodInfoLike) -> bool:
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def new(args: PluginArgs, handle: Handle) -> PrioritySort:
    if unknown := sorted(set(args) - {"apiVersion", "kind"}):
        raise ValueError(f"{PrioritySort.name} takes no args, got {unknown}")
    return PrioritySort()
