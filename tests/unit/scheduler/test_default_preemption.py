"""DefaultPreemption: a fake Handle runs small real-shaped filters (cpu fit, pod count, a
PreFilter-stateful "blocker" filter) so the what-ifs go through filters and PreFilter extensions
the way the framework runs them; deletes and nomination clears are recorded and asserted."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod

from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import (
    FilterPlugin,
    NodeToStatus,
    PostFilterResult,
    PreFilterPlugin,
    PreFilterResult,
)
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import NodeInfo, PodInfo
from scheduler.plugins import default_preemption
from scheduler.plugins.default_preemption import (
    Candidate,
    DefaultPreemption,
    filter_pods_with_pdb_violation,
    pick_one_node_for_preemption,
)

EARLY, LATE = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"


class CpuFit(FilterPlugin):
    name = "CpuFit"

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        wanted = node_info.requested.milli_cpu + pod.requests.milli_cpu
        return (
            SUCCESS if wanted <= node_info.allocatable.milli_cpu else Status.unschedulable("Insufficient cpu")
        )


class PodCount(FilterPlugin):
    name = "PodCount"

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        fits = len(node_info.pods) + 1 <= node_info.allocatable.allowed_pod_number
        return SUCCESS if fits else Status.unschedulable("Too many pods")


class ZoneSelector(FilterPlugin):
    """Only nodes labelled zone=a; evicting pods cannot change a label."""

    name = "ZoneSelector"

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if node_info.labels.get("zone", "a") == "a":
            return SUCCESS
        return Status.unresolvable("node(s) didn't match Pod's node affinity/selector")


class Blockers(PreFilterPlugin, FilterPlugin):
    """Rejects nodes running a pod labelled blocker=yes, counting them per node in PreFilter like
    inter-pod anti-affinity does, so preemption must keep the count right through add/remove_pod."""

    name = "Blockers"
    has_extensions = True

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status]:
        counts = {info.name: sum(p.labels.get("blocker") == "yes" for p in info.pods) for info in nodes}
        state.write(self.name, counts)
        return None, SUCCESS

    def add_pod(self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo) -> Status:
        if to_add.labels.get("blocker") == "yes":
            state.read(self.name)[node_info.name] += 1
        return SUCCESS

    def remove_pod(self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo) -> Status:
        if to_remove.labels.get("blocker") == "yes":
            state.read(self.name)[node_info.name] -= 1
        return SUCCESS

    def filter(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        if state.read(self.name).get(node_info.name):
            return Status.unschedulable("node(s) run a blocker pod")
        return SUCCESS


DEFAULT_FILTERS: tuple[FilterPlugin, ...] = (ZoneSelector(), CpuFit(), PodCount(), Blockers())
"""In the order a profile runs them: the first rejection is the node's status."""


class FakeHandle:
    def __init__(
        self,
        nodes: Sequence[NodeInfo],
        filters: Sequence[FilterPlugin] = DEFAULT_FILTERS,
        pdbs: Sequence[Mapping[str, Any]] = (),
        nominated: Mapping[str, Sequence[dict[str, Any]]] | None = None,
        fail_delete: str = "",
    ) -> None:
        self._snapshot = Snapshot(nodes)
        self.filters = list(filters)
        self._pdbs = list(pdbs)
        self.nominated = {node: [PodInfo(p) for p in pods] for node, pods in (nominated or {}).items()}
        self.fail_delete = fail_delete
        self.deleted: list[tuple[str, str]] = []
        self.cleared: list[str] = []

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def pre_filter(self, state: CycleState, pod: PodInfo) -> None:
        for plugin in self.filters:
            if isinstance(plugin, PreFilterPlugin):
                plugin.pre_filter(state, pod, self._snapshot.node_infos)

    def run_filter_plugins(self, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
        for plugin in self.filters:
            status = plugin.filter(state, pod, node_info)
            if not status.is_success():
                return status.with_plugin(plugin.name)
        return SUCCESS

    def run_pre_filter_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node_info: NodeInfo
    ) -> Status:
        for plugin in self._extensions():
            if not (status := plugin.add_pod(state, pod, to_add, node_info)).is_success():
                return status
        return SUCCESS

    def run_pre_filter_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node_info: NodeInfo
    ) -> Status:
        for plugin in self._extensions():
            if not (status := plugin.remove_pod(state, pod, to_remove, node_info)).is_success():
                return status
        return SUCCESS

    def _extensions(self) -> list[PreFilterPlugin]:
        return [p for p in self.filters if isinstance(p, PreFilterPlugin) and p.has_extensions]

    @property
    def client(self) -> Any:
        return None

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]:
        return self._pdbs

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self.nominated.get(node_name, ()))

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None:
        if victim.name == self.fail_delete:
            raise RuntimeError(f'pods "{victim.name}" is forbidden')
        self.deleted.append((victim.name, preemptor.name))

    async def clear_nominated_node_name(self, pod: PodInfo) -> None:
        self.cleared.append(pod.name)


def running(
    name: str,
    node: str,
    *,
    cpu: str = "1",
    priority: int = 0,
    started: str = EARLY,
    labels: dict[str, str] | None = None,
    deletion: bool = False,
    preempted: bool = False,
) -> dict[str, Any]:
    """A pod running on `node` since `started`; `deletion` makes it terminating, `preempted` adds the
    DisruptionTarget condition the scheduler sets on its victims."""
    pod = make_pod(name, cpu=cpu, priority=priority, node_name=node, labels=labels)
    status: dict[str, Any] = {"phase": "Running", "startTime": started}
    if preempted:
        status["conditions"] = [
            {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
        ]
    meta = dict(pod["metadata"])
    if deletion:
        meta["deletionTimestamp"] = LATE
    return {**pod, "metadata": meta, "status": status}


def node(
    name: str, *pods: dict[str, Any], cpu: str = "2", pods_max: str = "110", zone: str = "a"
) -> NodeInfo:
    return NodeInfo(
        make_node(name, cpu=cpu, pods=pods_max, labels={"zone": zone}), [PodInfo(p) for p in pods]
    )


def preemptor(cpu: str = "2", priority: int = 100, nominated_node: str = "", **spec: Any) -> dict[str, Any]:
    pod = make_pod("high", cpu=cpu, priority=priority, **spec)
    if nominated_node:
        pod = {**pod, "status": {"phase": "Pending", "nominatedNodeName": nominated_node}}
    return pod


def pdb(
    name: str, match: dict[str, str], allowed: int, disrupted: Sequence[str] = (), namespace: str = "default"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": match}},
        "status": {"disruptionsAllowed": allowed, "disruptedPods": {p: LATE for p in disrupted}},
    }


@dataclass
class Outcome:
    result: PostFilterResult | None
    status: Status
    deleted: list[str]
    cleared: list[str]
    handle: FakeHandle
    state: CycleState = field(repr=False)


def filter_with_nominated(handle: FakeHandle, state: CycleState, pod: PodInfo, node_info: NodeInfo) -> Status:
    """The scheduler's Filter pass counts pods of equal or higher priority nominated to the node."""
    with_nominated = node_info.clone()
    for other in handle.nominated_pods_for_node(node_info.name):
        if other.priority >= pod.priority:
            with_nominated.add_pod(other)
    return handle.run_filter_plugins(state, pod, with_nominated)


async def preempt(
    nodes: Sequence[NodeInfo],
    pod: dict[str, Any],
    *,
    seed: int = 0,
    args: Mapping[str, Any] | None = None,
    **handle_options: Any,
) -> Outcome:
    """One PostFilter call the way the scheduler makes it: PreFilter ran, every node was filtered
    (each rejection recorded), then DefaultPreemption gets the statuses."""
    handle = FakeHandle(nodes, **handle_options)
    info = PodInfo(pod)
    state = CycleState()
    handle.pre_filter(state, info)
    statuses = {n.name: filter_with_nominated(handle, state, info, n) for n in nodes}
    filtered = NodeToStatus({name: s for name, s in statuses.items() if not s.is_success()})
    percentage, absolute = default_preemption.parse_args(args or {})
    plugin = DefaultPreemption(handle, percentage, absolute, random.Random(seed))
    result, status = await plugin.post_filter(state, info, filtered)
    return Outcome(result, status, [name for name, _ in handle.deleted], handle.cleared, handle, state)


# (id, nodes, preemptor, handle options, nominated node expected, victims deleted)
CHOOSES = [
    (
        "preemption chooses the node with the lowest-priority victims",
        [
            node("n1", running("p10", "n1", cpu="2", priority=10)),
            node("n2", running("p5", "n2", cpu="2", priority=5)),
        ],
        preemptor(),
        {},
        "n2",
        ["p5"],
    ),
    (
        "minimal victims: reprieves the more important pods that still leave room",
        [
            node(
                "n1",
                running("big-low", "n1", cpu="2", priority=1),
                running("small-mid", "n1", cpu="1", priority=2),
                running("small-high", "n1", cpu="1", priority=3),
                cpu="4",
            )
        ],
        preemptor(),
        {},
        "n1",
        ["big-low"],
    ),
    (
        "reprieve goes by importance, not by what would be the fewest victims",
        [
            node(
                "n1",
                running("big-high", "n1", cpu="2", priority=3),
                running("small-mid", "n1", cpu="1", priority=2),
                running("small-low", "n1", cpu="1", priority=1),
                cpu="4",
            )
        ],
        preemptor(),
        {},
        "n1",
        ["small-mid", "small-low"],
    ),
    (
        "between equal priorities the pod that started later is evicted",
        [node("n1", running("old", "n1", started=EARLY), running("new", "n1", started=LATE))],
        preemptor(cpu="1"),
        {},
        "n1",
        ["new"],
    ),
    (
        "respects PDBs where possible: the protected pod is reprieved first",
        [
            node(
                "n1",
                running("db", "n1", started=LATE, labels={"app": "db"}),
                running("web", "n1", started=EARLY, labels={"app": "web"}),
            )
        ],
        preemptor(cpu="1"),
        {"pdbs": [pdb("db", {"app": "db"}, allowed=0)]},
        "n1",
        ["web"],
    ),
    (
        "a PDB with disruptions allowed protects nothing",
        [
            node(
                "n1",
                running("db", "n1", started=LATE, labels={"app": "db"}),
                running("web", "n1", started=EARLY, labels={"app": "web"}),
            )
        ],
        preemptor(cpu="1"),
        {"pdbs": [pdb("db", {"app": "db"}, allowed=1)]},
        "n1",
        ["db"],
    ),
    (
        "a node without PDB violations wins over one with lower-priority but protected victims",
        [
            node("n1", running("db", "n1", cpu="2", priority=1, labels={"app": "db"})),
            node("n2", running("web", "n2", cpu="2", priority=50, labels={"app": "web"})),
        ],
        preemptor(),
        {"pdbs": [pdb("db", {"app": "db"}, allowed=0)]},
        "n2",
        ["web"],
    ),
    (
        "PDBs are violated when there is no other way",
        [node("n1", running("db", "n1", cpu="2", priority=1, labels={"app": "db"}))],
        preemptor(),
        {"pdbs": [pdb("db", {"app": "db"}, allowed=0)]},
        "n1",
        ["db"],
    ),
    (
        "equal priority pods are never victims",
        [
            node(
                "n1", running("peer", "n1", cpu="1", priority=100), running("low", "n1", cpu="1", priority=1)
            ),
        ],
        preemptor(cpu="1"),
        {},
        "n1",
        ["low"],
    ),
    (
        "a node rejected as UnschedulableAndUnresolvable is never a candidate",
        [
            node("n1", running("cheap", "n1", cpu="2", priority=1), zone="b"),
            node("n2", running("dear", "n2", cpu="2", priority=90)),
        ],
        preemptor(),
        {},
        "n2",
        ["dear"],
    ),
    (
        "evicting a pod counted in PreFilter state goes through remove_pod",
        [
            node(
                "n1",
                running("blocker", "n1", cpu="0", priority=1, labels={"blocker": "yes"}),
                running("bystander", "n1", cpu="0", priority=1),
            )
        ],
        preemptor(cpu="1"),
        {},
        "n1",
        ["blocker"],
    ),
    (
        "too many pods: one victim makes a slot",
        [
            node(
                "n1",
                running("a", "n1", cpu="0", priority=1),
                running("b", "n1", cpu="0", priority=2),
                pods_max="2",
            )
        ],
        preemptor(cpu="0"),
        {},
        "n1",
        ["a"],
    ),
    (
        "a higher-priority nominated pod keeps the room it preempted for, so more victims go",
        [
            node(
                "n1",
                running("v1", "n1", priority=1, started=EARLY),
                running("v2", "n1", priority=1, started=LATE),
                cpu="4",
            )
        ],
        preemptor(),
        {"nominated": {"n1": [make_pod("waiting", cpu="2", priority=200)]}},
        "n1",
        ["v1", "v2"],
    ),
    (
        "a lower-priority nominated pod does not hold room against the preemptor",
        [
            node(
                "n1",
                running("v1", "n1", priority=1, started=EARLY),
                running("v2", "n1", priority=1, started=LATE),
                cpu="3",
            )
        ],
        preemptor(),
        {"nominated": {"n1": [make_pod("waiting", cpu="2", priority=5)]}},
        "n1",
        ["v2"],
    ),
]


@pytest.mark.parametrize(
    ("nodes", "pod", "options", "want_node", "want_victims"),
    [c[1:] for c in CHOOSES],
    ids=[c[0] for c in CHOOSES],
)
async def test_preemption_picks_node_and_victims(
    nodes: list[NodeInfo],
    pod: dict[str, Any],
    options: dict[str, Any],
    want_node: str,
    want_victims: list[str],
) -> None:
    outcome = await preempt(nodes, pod, **options)
    assert outcome.status == SUCCESS
    assert outcome.result == PostFilterResult(want_node)
    assert sorted(outcome.deleted) == sorted(want_victims)
    assert all(preemptor_name == "high" for _, preemptor_name in outcome.handle.deleted)


# (id, nodes, preemptor, handle options, result expected, code, message)
FAILS = [
    (
        "no victims when only higher-priority pods",
        [node("n1", running("vip", "n1", cpu="2", priority=200))],
        preemptor(),
        {},
        PostFilterResult(""),
        Code.UNSCHEDULABLE,
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    ),
    (
        "upstream's message counts each reason over all nodes",
        [
            node("n1", running("vip", "n1", cpu="2", priority=200)),
            node("n2", running("cheap", "n2", cpu="2", priority=1), zone="b"),
            node("n3", running("cheap3", "n3", cpu="2", priority=1), zone="c"),
        ],
        preemptor(),
        {},
        PostFilterResult(""),
        Code.UNSCHEDULABLE,
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling.",
    ),
    (
        "a pod that does not fit even on an empty node reports the filter's reason",
        [node("n1", running("low", "n1", cpu="1", priority=1))],
        preemptor(cpu="3"),
        {},
        PostFilterResult(""),
        Code.UNSCHEDULABLE,
        "preemption: 0/1 nodes are available: 1 Insufficient cpu.",
    ),
    (
        "preemptionPolicy Never is not eligible",
        [node("n1", running("low", "n1", cpu="2", priority=1))],
        preemptor(preemptionPolicy="Never"),
        {},
        None,
        Code.UNSCHEDULABLE,
        "preemption: not eligible due to preemptionPolicy=Never.",
    ),
    (
        "not eligible while its earlier victims on the nominated node terminate",
        [node("n1", running("victim", "n1", cpu="2", priority=1, deletion=True, preempted=True))],
        preemptor(nominated_node="n1"),
        {},
        None,
        Code.UNSCHEDULABLE,
        "preemption: not eligible due to a terminating pod on the nominated node.",
    ),
    (
        "a failed victim delete is an error and nominates nothing",
        [node("n1", running("low", "n1", cpu="2", priority=1))],
        preemptor(),
        {"fail_delete": "low"},
        None,
        Code.ERROR,
        'preemption: pods "low" is forbidden',
    ),
]


@pytest.mark.parametrize(
    ("nodes", "pod", "options", "want_result", "code", "message"),
    [c[1:] for c in FAILS],
    ids=[c[0] for c in FAILS],
)
async def test_preemption_fails(
    nodes: list[NodeInfo],
    pod: dict[str, Any],
    options: dict[str, Any],
    want_result: PostFilterResult | None,
    code: Code,
    message: str,
) -> None:
    outcome = await preempt(nodes, pod, **options)
    assert (outcome.result, outcome.status.code, outcome.status.message()) == (want_result, code, message)
    assert outcome.deleted == []


@pytest.mark.parametrize(
    ("victim", "nominated_unresolvable", "want"),
    [
        (running("victim", "n1", cpu="2", priority=1, deletion=True), False, "n1"),
        (running("victim", "n1", cpu="2", priority=1), False, "n1"),
        (running("victim", "n1", cpu="2", priority=1, deletion=True, preempted=True), True, "n2"),
    ],
    ids=[
        "a pod deleted by someone else does not hold back the preemptor",
        "a nominated node without terminating pods allows preempting again",
        "a nominated node that became unresolvable allows preempting elsewhere",
    ],
)
async def test_eligible_with_nominated_node(
    victim: dict[str, Any], nominated_unresolvable: bool, want: str
) -> None:
    zone = "b" if nominated_unresolvable else "a"
    nodes = [node("n1", victim, zone=zone), node("n2", running("other", "n2", cpu="2", priority=2))]
    outcome = await preempt(nodes, preemptor(nominated_node="n1"))
    assert (outcome.result, outcome.status) == (PostFilterResult(want), SUCCESS)


async def test_lower_priority_pods_nominated_to_the_node_lose_their_nomination() -> None:
    nominated = {"n1": [make_pod("lower", priority=5), make_pod("higher", cpu="0", priority=500)]}
    outcome = await preempt(
        [node("n1", running("low", "n1", cpu="2", priority=1))], preemptor(), nominated=nominated
    )
    assert (outcome.result, outcome.deleted, outcome.cleared) == (PostFilterResult("n1"), ["low"], ["lower"])


async def test_what_ifs_leave_the_cycle_state_and_snapshot_alone() -> None:
    nodes = [node("n1", running("blocker", "n1", cpu="0", priority=1, labels={"blocker": "yes"}))]
    outcome = await preempt(nodes, preemptor(cpu="1"))
    assert outcome.result == PostFilterResult("n1")
    assert outcome.state.read("Blockers") == {"n1": 1}
    assert [p.name for p in nodes[0].pods] == ["blocker"]


def spread_nodes() -> list[NodeInfo]:
    return [node(f"n{i}", running(f"low{i}", f"n{i}", cpu="2", priority=1)) for i in range(10)]


async def test_deterministic_with_a_seeded_random() -> None:
    """With one candidate wanted, the search stops at the first node from the random offset."""
    args = {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1}
    picks = [(await preempt(spread_nodes(), preemptor(), seed=seed, args=args)).result for seed in (7, 7, 8)]
    offsets = [random.Random(seed).randrange(10) for seed in (7, 8)]
    assert picks == [PostFilterResult(f"n{offsets[0]}")] * 2 + [PostFilterResult(f"n{offsets[1]}")]


async def test_with_enough_candidates_the_best_node_wins_whatever_the_offset() -> None:
    nodes = spread_nodes()
    nodes[6] = node("n6", running("lowest", "n6", cpu="2", priority=-5))
    for seed in range(5):
        outcome = await preempt(nodes, preemptor(), seed=seed)
        assert outcome.result == PostFilterResult("n6")


def victim(name: str, priority: int, started: str = EARLY) -> PodInfo:
    return PodInfo(running(name, "n", priority=priority, started=started))


# (id, candidates, expected node)
PICKS = [
    (
        "fewest PDB violations first",
        [Candidate("a", [victim("x", 1)], 1), Candidate("b", [victim("y", 9)], 0)],
        "b",
    ),
    (
        "then the lowest highest-priority victim",
        [Candidate("a", [victim("x", 5)], 0), Candidate("b", [victim("y", 3), victim("z", 3)], 0)],
        "b",
    ),
    (
        "then the smallest sum of priorities",
        [
            Candidate("a", [victim("x", 5), victim("y", 4)], 0),
            Candidate("b", [victim("z", 5), victim("w", 1)], 0),
        ],
        "b",
    ),
    (
        "the sum counts negative priorities so that more victims never sum lower",
        [Candidate("a", [victim("x", -5), victim("y", -5)], 0), Candidate("b", [victim("z", -5)], 0)],
        "b",
    ),
    (
        "then the fewest victims",
        [Candidate("a", [victim("x", 3), victim("y", -(2**31))], 0), Candidate("b", [victim("z", 3)], 0)],
        "b",
    ),
    (
        "then the latest start among the most important victims",
        [Candidate("a", [victim("x", 5, EARLY)], 0), Candidate("b", [victim("y", 5, LATE)], 0)],
        "b",
    ),
    (
        "a victim that has not started counts as the latest",
        [Candidate("a", [victim("x", 5, LATE)], 0), Candidate("b", [PodInfo(make_pod("y", priority=5))], 0)],
        "b",
    ),
    (
        "then the first",
        [Candidate("a", [victim("x", 5)], 0), Candidate("b", [victim("y", 5)], 0)],
        "a",
    ),
]


@pytest.mark.parametrize(("candidates", "want"), [c[1:] for c in PICKS], ids=[c[0] for c in PICKS])
def test_pick_one_node_for_preemption(candidates: list[Candidate], want: str) -> None:
    assert pick_one_node_for_preemption(candidates).node_name == want


LABELLED = [PodInfo(running(n, "n", labels={"app": "db"})) for n in ("a", "b", "c")]

# (id, pdbs, violating pod names)
PDB_CASES: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    ("the budget is used up in order", [pdb("db", {"app": "db"}, allowed=1)], ["b", "c"]),
    (
        "pods the PDB already counts as disrupted use none of it",
        [pdb("db", {"app": "db"}, allowed=1, disrupted=["a"])],
        ["c"],
    ),
    (
        "a PDB in another namespace protects nothing",
        [pdb("db", {"app": "db"}, allowed=0, namespace="other")],
        [],
    ),
    ("a PDB selecting other labels protects nothing", [pdb("web", {"app": "web"}, allowed=0)], []),
    (
        "a PDB with an empty selector selects nothing",
        [{**pdb("all", {}, allowed=0), "spec": {"selector": {}}}],
        [],
    ),
    (
        "a PDB with an invalid selector selects nothing",
        [
            {
                **pdb("bad", {}, allowed=0),
                "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}},
            }
        ],
        [],
    ),
]


@pytest.mark.parametrize(("pdbs", "want"), [c[1:] for c in PDB_CASES], ids=[c[0] for c in PDB_CASES])
def test_filter_pods_with_pdb_violation(pdbs: list[dict[str, Any]], want: list[str]) -> None:
    violating, non_violating = filter_pods_with_pdb_violation(LABELLED, pdbs)
    assert [p.name for p in violating] == want
    assert sorted(p.name for p in violating + non_violating) == ["a", "b", "c"]


# (id, percentage, absolute, potential nodes, candidates wanted)
NUM_CANDIDATES = [
    ("the percentage wins on big clusters", 10, 100, 5000, 500),
    ("the absolute minimum wins on small clusters", 10, 100, 300, 100),
    ("never more than there are nodes", 10, 100, 30, 30),
    ("percentage alone", 50, 0, 9, 4),
]


@pytest.mark.parametrize(
    ("percentage", "absolute", "nodes", "want"),
    [c[1:] for c in NUM_CANDIDATES],
    ids=[c[0] for c in NUM_CANDIDATES],
)
def test_num_candidates(percentage: int, absolute: int, nodes: int, want: int) -> None:
    plugin = DefaultPreemption(FakeHandle([]), percentage, absolute, random.Random(0))
    assert plugin.num_candidates(nodes) == want


# (id, args, error expected or None)
ARGS = [
    ("empty args take upstream's defaults", {}, None),
    (
        "apiVersion and kind are accepted",
        {"apiVersion": "kubescheduler.config.k8s.io/v1", "kind": "DefaultPreemptionArgs"},
        None,
    ),
    ("percentage zero alone is fine", {"minCandidateNodesPercentage": 0}, None),
    ("absolute zero alone is fine", {"minCandidateNodesAbsolute": 0}, None),
    (
        "percentage above 100 is refused",
        {"minCandidateNodesPercentage": 101},
        "minCandidateNodesPercentage: Invalid value: 101: not in valid range [0, 100]",
    ),
    (
        "negative absolute is refused",
        {"minCandidateNodesAbsolute": -1},
        "minCandidateNodesAbsolute: Invalid value: -1: not in valid range [0, inf)",
    ),
    (
        "both zero is refused",
        {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0},
        "cannot be zero at the same time",
    ),
    ("a string is refused", {"minCandidateNodesPercentage": "10"}, "must be an integer"),
    ("an unknown field is refused", {"minCandidates": 3}, 'unknown field "minCandidates"'),
]


@pytest.mark.parametrize(("args", "error"), [c[1:] for c in ARGS], ids=[c[0] for c in ARGS])
def test_args(args: dict[str, Any], error: str | None) -> None:
    if error is None:
        plugin = default_preemption.new(args, FakeHandle([]))
        assert plugin.name == "DefaultPreemption"
        return
    with pytest.raises(ValueError, match=re.escape(error)):
        default_preemption.new(args, FakeHandle([]))


def test_new_uses_upstream_defaults() -> None:
    plugin = default_preemption.new({}, FakeHandle([]))
    assert (plugin.min_candidate_nodes_percentage, plugin.min_candidate_nodes_absolute) == (10, 100)


# (id, pods on n1 (cpu 2, memory 4Gi), preemptor, nominated node expected, victims, message)
WITH_NODE_RESOURCES_FIT = [
    (
        "with NodeResourcesFit: memory decides which victim goes",
        [
            make_pod("low", cpu="1", memory="3Gi", priority=1, node_name="n1"),
            make_pod("mid", cpu="1", memory="1Gi", priority=5, node_name="n1"),
        ],
        make_pod("high", cpu="1", memory="2Gi", priority=100),
        "n1",
        ["low"],
        "",
    ),
    (
        "with NodeResourcesFit: each insufficient resource is its own reason",
        [make_pod("low", cpu="1", memory="1Gi", priority=1, node_name="n1")],
        make_pod("high", cpu="3", memory="5Gi", priority=100),
        "",
        [],
        "preemption: 0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.",
    ),
]


@pytest.mark.parametrize(
    ("pods", "pod", "want_node", "want_victims", "message"),
    [c[1:] for c in WITH_NODE_RESOURCES_FIT],
    ids=[c[0] for c in WITH_NODE_RESOURCES_FIT],
)
async def test_with_node_resources_fit(
    pods: list[dict[str, Any]], pod: dict[str, Any], want_node: str, want_victims: list[str], message: str
) -> None:
    node_resources_fit = pytest.importorskip("scheduler.plugins.node_resources_fit")
    nodes = [NodeInfo(make_node("n1", cpu="2", memory="4Gi"), [PodInfo(p) for p in pods])]
    fit = node_resources_fit.new({}, FakeHandle(nodes))
    outcome = await preempt(nodes, pod, filters=[fit])
    assert (outcome.result, outcome.status.message(), outcome.deleted) == (
        PostFilterResult(want_node),
        message,
        want_victims,
    )
