"""Runs one profile's plugins at each extension point (upstream framework/runtime/framework.go).

    framework = Framework.build(profile, services)
    result, status = framework.run_pre_filter(state, pod, nodes)
    status = framework.run_filter_with_nominated_pods(state, pod, node_info)
    totals = framework.run_score(state, pod, feasible)

The Framework is also the Handle plugins get: the cycle's snapshot, filter what-ifs for
preemption, and the cluster access the scheduler gives it (`services`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from scheduler.config import EXTENSION_POINTS, Profile, plugin_args, resolve_plugins
from scheduler.framework import interface as fw
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins import MODULES, factory, plugin_class

POINT_CLASSES: dict[str, type] = {
    "preEnqueue": fw.PreEnqueuePlugin,
    "queueSort": fw.QueueSortPlugin,
    "preFilter": fw.PreFilterPlugin,
    "filter": fw.FilterPlugin,
    "postFilter": fw.PostFilterPlugin,
    "preScore": fw.PreScorePlugin,
    "score": fw.ScorePlugin,
    "reserve": fw.ReservePlugin,
    "permit": fw.PermitPlugin,
    "preBind": fw.PreBindPlugin,
    "bind": fw.BindPlugin,
    "postBind": fw.PostBindPlugin,
}


def implemented_points(cls: type) -> frozenset[str]:
    return frozenset(point for point, base in POINT_CLASSES.items() if issubclass(cls, base))


def builtin_implements() -> dict[str, frozenset[str]]:
    return {name: implemented_points(plugin_class(name)) for name in MODULES}


class Services(Protocol):
    """What the running scheduler lends the framework (None-able pieces in pure tests)."""

    @property
    def client(self) -> Any: ...

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]: ...

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...

    def has_nominated_pods(self) -> bool: ...

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None: ...

    async def clear_nominated_node_name(self, pod: PodInfo) -> None: ...


class Framework:
    def __init__(self, profile: Profile, services: Services, default_percentage: int | None = None) -> None:
        self.profile_name = profile.scheduler_name
        self.services = services
        self.percentage_of_nodes_to_score = (
            profile.percentage_of_nodes_to_score
            if profile.percentage_of_nodes_to_score is not None
            else default_percentage
        )
        resolved = resolve_plugins(profile, builtin_implements())
        self.weights = resolved.weights
        self.plugins: dict[str, fw.Plugin] = {}
        for name in resolved.all_names():
            self.plugins[name] = factory(name)(plugin_args(profile, name), self)
        by_point = {
            point: [self.plugins[name] for name in resolved.points[point]] for point in EXTENSION_POINTS
        }
        self.pre_enqueue: list[fw.PreEnqueuePlugin] = by_point["preEnqueue"]  # type: ignore[assignment]
        self.queue_sort: fw.QueueSortPlugin = by_point["queueSort"][0]  # type: ignore[assignment]
        self.pre_filter: list[fw.PreFilterPlugin] = by_point["preFilter"]  # type: ignore[assignment]
        self.filter: list[fw.FilterPlugin] = by_point["filter"]  # type: ignore[assignment]
        self.post_filter: list[fw.PostFilterPlugin] = by_point["postFilter"]  # type: ignore[assignment]
        self.pre_score: list[fw.PreScorePlugin] = by_point["preScore"]  # type: ignore[assignment]
        self.score: list[fw.ScorePlugin] = by_point["score"]  # type: ignore[assignment]
        self.reserve: list[fw.ReservePlugin] = by_point["reserve"]  # type: ignore[assignment]
        self.permit: list[fw.PermitPlugin] = by_point["permit"]  # type: ignore[assignment]
        self.pre_bind: list[fw.PreBindPlugin] = by_point["preBind"]  # type: ignore[assignment]
        self.bind: list[fw.BindPlugin] = by_point["bind"]  # type: ignore[assignment]
        self.post_bind: list[fw.PostBindPlugin] = by_point["postBind"]  # type: ignore[assignment]

    # --- Handle -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        return self.services.snapshot

    @property
    def client(self) -> Any:
        return self.services.client

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]:
        return self.services.pdbs

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.services.nominated_pods_for_node(node_name)

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None:
        await self.services.delete_victim(victim, preemptor)

    async def clear_nominated_node_name(self, pod: PodInfo) -> None:
        await self.services.clear_nominated_node_name(pod)

    def __getattr__(self, name: str) -> Any:
        """Listers the scheduler offers some plugins (volume_listers, selector_lister)."""
        if name in ("volume_listers", "selector_lister"):
            return getattr(self.services, name, None)
        raise AttributeError(name)

    # --- extension points ---------------------------------------------------------------------

    def run_pre_enqueue(self, pod: PodInfo) -> Status:
        for plugin in self.pre_enqueue:
            status = plugin.pre_enqueue(pod)
            if not status.is_success():
                return status.with_plugin(plugin.name)
        return SUCCESS

    def less(self, a: fw.QueuedPodInfoLike, b: fw.QueuedPodInfoLike) -> bool:
        return self.queue_sort.less(a, b)

    def run_pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[fw.PreFilterResult | None, Status]:
        merged: fw.PreFilterResult | None = None
        narrowing: list[str] = []
        for plugin in self.pre_filter:
            result, status = plugin.pre_filter(state, pod, nodes)
            if status.is_skip():
                state.skip_filter_plugins.add(plugin.name)
                continue
            if not status.is_success():
                if status.code is Code.ERROR:
                    return None, Status.error(f"running PreFilter plugin {plugin.name!r}: {status.message()}")
                return None, status.with_plugin(plugin.name)
            if result is not None and result.node_names is not None:
                narrowing.append(plugin.name)
                merged = result if merged is None else merged.merge(result)
                if not merged.node_names:
                    which = (
                        f"plugin {narrowing[0]}"
                        if len(narrowing) == 1
                        else f"plugin(s) [{', '.join(narrowing)}]"
                    )
                    message = f"node(s) didn't satisfy {which}" + (
                        " simultaneously" if len(narrowing) > 1 else ""
                    )
                    return None, Status.unresolvable(message).with_plugin(narrowing[-1])
        return merged, SUCCESS

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        filters = state.active_filters
        if filters is None:  # once per cycle, after PreFilter decided what to skip
            skip = state.skip_filter_plugins
            filters = state.active_filters = [(p.name, p.filter) for p in self.filter if p.name not in skip]
        for name, run_filter in filters:
            status = run_filter(state, pod, node_info)
            if status.code is not Code.SUCCESS:
                if status.code is Code.ERROR:
                    return Status(Code.ERROR, (f"running {name!r} filter plugin: {status.message()}",), name)
                return status.with_plugin(name)
        return SUCCESS

    def run_filter_with_nominated_pods(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        """Filters that also count pods nominated to this node with at least this pod's priority
        (they will take the room their preemption freed), then without them (upstream runs both so
        that anti-affinity to a nominated pod that may never land does not block)."""
        if not self.services.has_nominated_pods():
            return self.run_filter_plugins(state, pod, node_info)
        nominated = [
            other for other in self.nominated_pods_for_node(node_info.name)
            if other.uid != pod.uid and other.priority >= pod.priority
        ]  # fmt: skip
        if nominated:
            with_nominated, state_with = node_info.clone(), state.clone()
            for other in nominated:
                with_nominated.add_pod(other)
                status = self.run_pre_filter_add_pod(state_with, pod, other, with_nominated)
                if not status.is_success():
                    return status
            status = self.run_filter_plugins(state_with, pod, with_nominated)
            if not status.is_success():
                return status
        return self.run_filter_plugins(state, pod, node_info)

    def run_pre_filter_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo
    ) -> Status:
        return self._run_pre_filter_extensions("AddPod", state, pod, to_add, node_info)

    def run_pre_filter_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo
    ) -> Status:
        return self._run_pre_filter_extensions("RemovePod", state, pod, to_remove, node_info)

    def _run_pre_filter_extensions(
        self, which: str, state: CycleState, pod: PodInfo, other: PodInfo, node_info: NodeInfo
    ) -> Status:
        for plugin in self.pre_filter:
            if plugin.has_extensions and plugin.name not in state.skip_filter_plugins:
                extension = plugin.add_pod if which == "AddPod" else plugin.remove_pod
                status = extension(state, pod, other, node_info)
                if not status.is_success():
                    return Status.error(
                        f"running {which} on PreFilter plugin {plugin.name!r}: {status.message()}"
                    )
        return SUCCESS

    async def run_post_filter(
        self, state: CycleState, pod: PodInfo, filtered: fw.NodeToStatus
    ) -> tuple[fw.PostFilterResult | None, Status]:
        reasons: list[str] = []
        for plugin in self.post_filter:
            result, status = await plugin.post_filter(state, pod, filtered)
            if status.is_success() or status.code is Code.ERROR:
                return result, status.with_plugin(plugin.name)
            reasons.extend(status.reasons)
        return None, Status(Code.UNSCHEDULABLE, tuple(reasons))

    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        for plugin in self.pre_score:
            status = plugin.pre_score(state, pod, nodes)
            if status.is_skip():
                state.skip_score_plugins.add(plugin.name)
            elif not status.is_success():
                return Status.error(f"running PreScore plugin {plugin.name!r}: {status.message()}")
        return SUCCESS

    def run_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[list[int], Status]:
        """Each node's weighted total over the score plugins (after NormalizeScore)."""
        totals = [0] * len(nodes)
        for plugin in self.score:
            if plugin.name in state.skip_score_plugins:
                continue
            score = plugin.score
            values = []
            for node_info in nodes:
                value, status = score(state, pod, node_info)
                if status.code is not Code.SUCCESS:
                    return totals, Status.error(f"running Score plugin {plugin.name!r}: {status.message()}")
                values.append(value)
            if plugin.has_normalize:
                scores = [fw.NodeScore(info.name, value) for info, value in zip(nodes, values, strict=True)]
                status = plugin.normalize_score(state, pod, scores)
                if not status.is_success():
                    return totals, Status.error(
                        f"running Normalize on Score plugin {plugin.name!r}: {status.message()}"
                    )
                values = [node_score.score for node_score in scores]
            if values and (min(values) < fw.MIN_NODE_SCORE or max(values) > fw.MAX_NODE_SCORE):
                bad = next(v for v in values if not fw.MIN_NODE_SCORE <= v <= fw.MAX_NODE_SCORE)
                return totals, Status.error(
                    f"plugin {plugin.name!r} returns an invalid score {bad}, it should "
                    f"in the range of [{fw.MIN_NODE_SCORE}, {fw.MAX_NODE_SCORE}] after normalizing"
                )
            weight = self.weights.get(plugin.name, 1)
            totals = [total + value * weight for total, value in zip(totals, values, strict=True)]
        return totals, SUCCESS

    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for plugin in self.reserve:
            status = plugin.reserve(state, pod, node_name)
            if not status.is_success():
                return status.with_plugin(plugin.name)
        return SUCCESS

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in reversed(self.reserve):
            plugin.unreserve(state, pod, node_name)

    async def run_permit(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Every Permit plugin must allow; Wait waits up to the longest timeout a plugin asked for
        (kplane has no in-tree Permit plugin; a waiting pod is rejected when the time is up)."""
        wait = 0.0
        for plugin in self.permit:
            status, timeout = plugin.permit(state, pod, node_name)
            if status.code is Code.WAIT:
                wait = max(wait, timeout)
            elif not status.is_success():
                return status.with_plugin(plugin.name)
        if wait:
            await asyncio.sleep(wait)
            return Status.unschedulable(f"rejected due to timeout after waiting {wait}s at plugin permit")
        return SUCCESS

    async def run_pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for plugin in self.pre_bind:
            status = await plugin.pre_bind(state, pod, node_name)
            if not status.is_success():
                return status.with_plugin(plugin.name)
        return SUCCESS

    async def run_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for plugin in self.bind:
            status = await plugin.bind(state, pod, node_name)
            if not status.is_skip():
                return status.with_plugin(plugin.name)
        return Status.error("no bind plugin bound the pod")

    def run_post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in self.post_bind:
            plugin.post_bind(state, pod, node_name)

    def events_by_plugin(self) -> dict[str, Sequence[fw.ClusterEvent]]:
        return {
            name: plugin.events_to_register()
            for name, plugin in self.plugins.items()
            if isinstance(plugin, fw.EnqueueExtensions)
        }
