"""One small base class per extension point (upstream framework/interface.go). A plugin is one
module with a class that names itself and inherits the points it implements, and a `new(args,
handle)` factory the registry calls with its `pluginConfig` args:

    class TaintToleration(FilterPlugin, PreScorePlugin, ScorePlugin):
        name = "TaintToleration"
        def filter(self, state, pod, node_info) -> Status: ...

Plugins are pure: pod and node objects in, Status and scores out. What they may ask of the running
scheduler is the `Handle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import Status
from scheduler.framework.types import NodeInfo, PodInfo

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
MAX_TOTAL_SCORE = 2**63 - 1


@dataclass(slots=True)
class NodeScore:
    name: str
    score: int


@dataclass(slots=True)
class PreFilterResult:
    """A PreFilter plugin's narrowing of the candidate nodes; None means all nodes."""

    node_names: set[str] | None = None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return PreFilterResult(set(other.node_names))
        return PreFilterResult(self.node_names & other.node_names)


@dataclass(slots=True)
class PostFilterResult:
    nominated_node_name: str = ""


@dataclass(slots=True)
class NodeToStatus:
    """Why each filtered-out node was rejected; nodes not named were not evaluated (or rejected by
    a PreFilter result), and count with `absent`."""

    statuses: dict[str, Status] = field(default_factory=dict)
    absent: Status = field(default_factory=lambda: Status.unresolvable())


class Handle(Protocol):
    """What plugins may use of the framework that runs them."""

    def snapshot(self) -> Snapshot: ...

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status: ...

    def run_pre_filter_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo
    ) -> Status: ...

    def run_pre_filter_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo
    ) -> Status: ...

    @property
    def client(self) -> Any:
        """The API client (binding, preemption's deletes and status patches); None in pure tests."""

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]:
        """The PodDisruptionBudgets the scheduler's informer has seen (preemption)."""

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        """Pods the queue holds with status.nominatedNodeName == node_name (preemptors waiting)."""

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None:
        """Delete a preemption victim gracefully and record a `Preempted` event on it."""

    async def clear_nominated_node_name(self, pod: PodInfo) -> None:
        """Remove status.nominatedNodeName from a lower-priority pod that lost its nomination."""


class Plugin:
    name: str = ""


class PreEnqueuePlugin(Plugin):
    def pre_enqueue(self, pod: PodInfo) -> Status:
        raise NotImplementedError


class QueueSortPlugin(Plugin):
    def less(self, a: QueuedPodInfoLike, b: QueuedPodInfoLike) -> bool:
        raise NotImplementedError


class QueuedPodInfoLike(Protocol):
    @property
    def pod_info(self) -> PodInfo: ...

    @property
    def timestamp(self) -> float: ...


class PreFilterPlugin(Plugin):
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        raise NotImplementedError

    # PreFilterExtensions: keep the cycle state right when preemption adds or removes pods from a
    # node in its what-ifs. Plugins whose state depends on other pods override both.
    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo) -> Status:
        return Status()

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo) -> Status:
        return Status()

    has_extensions: bool = False
    """True when add_pod/remove_pod do something (the framework calls them only then)."""


class FilterPlugin(Plugin):
    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        raise NotImplementedError


class PostFilterPlugin(Plugin):
    async def post_filter(
        self, state: CycleState, pod: PodInfo, filtered: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status]:
        raise NotImplementedError


class PreScorePlugin(Plugin):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status:
        raise NotImplementedError


class ScorePlugin(Plugin):
    def score(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> tuple[int, Status]:
        raise NotImplementedError

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status:
        """Bring this plugin's scores to 0..MAX_NODE_SCORE in place; the default leaves them."""
        return Status()

    has_normalize: bool = False


class ReservePlugin(Plugin):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        raise NotImplementedError

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        raise NotImplementedError


class PermitPlugin(Plugin):
    def permit(self, state: CycleState, pod: PodInfo, node_name: str) -> tuple[Status, float]:
        """Success, Unschedulable, or Wait with a timeout in seconds."""
        raise NotImplementedError


class PreBindPlugin(Plugin):
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        raise NotImplementedError


class BindPlugin(Plugin):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        """Skip to let the next Bind plugin bind."""
        raise NotImplementedError


class PostBindPlugin(Plugin):
    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        raise NotImplementedError


PluginArgs = Mapping[str, Any]


class ActionType:
    """What happened to an object, as bit flags (upstream framework.ActionType)."""

    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_POD_LABEL = 64
    UPDATE_POD_SCALE_DOWN = 128
    UPDATE_POD_TOLERATIONS = 256
    UPDATE_POD_SCHEDULING_GATES_ELIMINATED = 512
    UPDATE_NODE_ANNOTATION = 1024
    UPDATE = (
        UPDATE_NODE_ALLOCATABLE
        | UPDATE_NODE_LABEL
        | UPDATE_NODE_TAINT
        | UPDATE_NODE_CONDITION
        | UPDATE_NODE_ANNOTATION
        | UPDATE_POD_LABEL
        | UPDATE_POD_SCALE_DOWN
        | UPDATE_POD_TOLERATIONS
        | UPDATE_POD_SCHEDULING_GATES_ELIMINATED
    )
    ALL = ADD | DELETE | UPDATE


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """A change in the cluster that may make a rejected pod schedulable. `resource` is one of
    "Pod" (a pod bound to a node, or the unscheduled pod itself), "Node", "PersistentVolumeClaim",
    "PersistentVolume", "StorageClass", "Namespace"."""

    resource: str
    action: int
    label: str = ""

    def matches(self, other: ClusterEvent) -> bool:
        """Whether this registered interest covers the event `other` that happened."""
        return self.resource in (other.resource, "*") and bool(self.action & other.action)


class EnqueueExtensions:
    """Plugins that can reject pods say which cluster events may make those pods schedulable again;
    the queue moves a rejected pod out of the unschedulable pool only on such events."""

    def events_to_register(self) -> Sequence[ClusterEvent]:
        return (ClusterEvent("*", ActionType.ALL),)
