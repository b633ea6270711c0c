"""One scheduling decision without I/O (upstream schedule_one.go's schedulePod): PreFilter,
Filter over as many nodes as it takes to find enough feasible ones, PreScore, Score, and the host
with the best total (ties broken at random). A pod that fits nowhere raises FitError, whose message
is kube-scheduler's ("0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2
Insufficient cpu.").
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import NodeToStatus
from scheduler.framework.runtime import Framework
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import Code, Status
from scheduler.framework.types import NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


class FitError(Exception):
    def __init__(
        self, pod: PodInfo, num_all_nodes: int, filtered: NodeToStatus, pre_filter_msg: str = ""
    ) -> None:
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.filtered = filtered
        self.pre_filter_msg = pre_filter_msg
        self.post_filter_msg = ""
        super().__init__(self.message())

    def rejecting_plugins(self) -> set[str]:
        return {status.plugin for status in self.filtered.statuses.values() if status.plugin} | (
            {self.filtered.absent.plugin} if self.filtered.absent.plugin else set()
        )

    def message(self) -> str:
        text = f"0/{self.num_all_nodes} nodes are available:"
        if self.pre_filter_msg:
            text += f" {self.pre_filter_msg}."
        else:
            reasons: Counter[str] = Counter()
            for status in self.filtered.statuses.values():
                reasons.update(status.reasons)
            absent = self.num_all_nodes - len(self.filtered.statuses)
            if absent > 0:
                for reason in self.filtered.absent.reasons:
                    reasons[reason] += absent
            histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
            if histogram:
                text += f" {', '.join(histogram)}."
        if self.post_filter_msg:
            text += f" {self.post_filter_msg}."
        return text


class NoNodesAvailable(FitError):
    def message(self) -> str:
        return "no nodes available to schedule pods"


@dataclass(frozen=True, slots=True)
class ScheduleResult:
    node_name: str
    evaluated_nodes: int
    feasible_nodes: int


def num_feasible_nodes_to_find(percentage: int | None, num_all_nodes: int) -> int:
    """Upstream's adaptive percentageOfNodesToScore: all nodes below 100; otherwise the configured
    percentage, or 50% minus 1% per 125 nodes (at least 5%), and never fewer than 100 nodes."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if not percentage:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


class Algorithm:
    """Keeps where the last search stopped, so successive pods start at different nodes."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.next_start_node_index = 0

    def schedule_pod(
        self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> ScheduleResult:
        all_nodes = snapshot.node_infos
        if not all_nodes:
            raise NoNodesAvailable(pod, 0, NodeToStatus())
        feasible, filtered = self.find_nodes_that_fit(fwk, state, pod, snapshot)
        if not feasible:
            raise FitError(pod, len(all_nodes), filtered)
        evaluated = len(feasible) + len(filtered.statuses)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1)
        status = fwk.run_pre_score(state, pod, feasible)
        if not status.is_success():
            raise SchedulingError(status)
        totals, status = fwk.run_score(state, pod, feasible)
        if not status.is_success():
            raise SchedulingError(status)
        return ScheduleResult(self.select_host(feasible, totals), evaluated, len(feasible))

    def find_nodes_that_fit(
        self, fwk: Framework, state: CycleState, pod: PodInfo, snapshot: Snapshot
    ) -> tuple[list[NodeInfo], NodeToStatus]:
        all_nodes = snapshot.node_infos
        filtered = NodeToStatus()
        result, status = fwk.run_pre_filter(state, pod, all_nodes)
        if not status.is_success():
            if status.code is Code.ERROR:
                raise SchedulingError(status)
            filtered.absent = status
            error = FitError(pod, len(all_nodes), filtered, pre_filter_msg=status.message())
            raise error
        nodes: list[NodeInfo] = all_nodes
        if result is not None and result.node_names is not None:
            nodes = [info for name in result.node_names if (info := snapshot.get(name)) is not None]
            filtered.absent = Status.unresolvable("node(s) didn't satisfy plugin(s) PreFilter result")

        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            info = snapshot.get(nominated)
            if (
                info is not None
                and info in nodes
                and fwk.run_filter_with_nominated_pods(state, pod, info).is_success()
            ):
                return [info], filtered

        wanted = num_feasible_nodes_to_find(fwk.percentage_of_nodes_to_score, len(nodes))
        feasible: list[NodeInfo] = []
        count = len(nodes)
        start = self.next_start_node_index % count if count else 0
        processed = 0
        for offset in range(count):
            info = nodes[(start + offset) % count]
            processed += 1
            status = fwk.run_filter_with_nominated_pods(state, pod, info)
            if status.is_success():
                feasible.append(info)
                if len(feasible) >= wanted:
                    break
            elif status.code is Code.ERROR:
                raise SchedulingError(status)
            else:
                filtered.statuses[info.name] = status
        if count:
            self.next_start_node_index = (start + processed) % count
        return feasible, filtered

    def select_host(self, nodes: list[NodeInfo], totals: list[int]) -> str:
        """The node with the highest total; among equals, each equally likely (reservoir sampling)."""
        best_index, best, ties = 0, totals[0], 1
        for index in range(1, len(nodes)):
            score = totals[index]
            if score > best:
                best_index, best, ties = index, score, 1
            elif score == best:
                ties += 1
                if self.rng.randrange(ties) == 0:
                    best_index = index
        return nodes[best_index].name


class SchedulingError(Exception):
    """A plugin failed (Code.ERROR): the pod goes back to the queue with back-off."""

    def __init__(self, status: Status) -> None:
        self.status = status
        super().__init__(status.message())
