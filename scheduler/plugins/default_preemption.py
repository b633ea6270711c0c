"""DefaultPreemption (upstream plugins/defaultpreemption and framework/preemption, v1.32): when no
node fits a pod, find a node where evicting lower-priority pods would make it fit, evict the fewest
and least important such pods, and nominate the node so the pod waits for the room it made.

    result, status = await plugin.post_filter(state, pod, filtered)
    # (PostFilterResult("n2"), SUCCESS) after deleting the victims on n2, or
    # (PostFilterResult(""), Unschedulable "preemption: 0/3 nodes are available: 1 No preemption
    #  victims found for incoming pod, 2 Preemption is not helpful for scheduling.")

The search runs the real filters on clones of the node and the cycle state: remove every
lower-priority pod, check the pod fits, then add victims back one by one (PDB-protected ones first,
most important first) and keep each one that still leaves room.
"""

from __future__ import annotations

import asyncio
import datetime
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from componentbase import klog
from kubeapi import labels
from kubeapi.errors import StatusError
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.interface import Handle, NodeToStatus, PluginArgs, PostFilterPlugin, PostFilterResult
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.status import SUCCESS, Code, Status
from scheduler.framework.types import NodeInfo, PodInfo

log = klog.get_logger(__name__)

DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE = 10
DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE = 100

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
_NEVER_STARTED = datetime.datetime.max.replace(tzinfo=datetime.UTC)
"""Upstream counts a pod without status.startTime as started now, i.e. after every started pod."""
_PRIORITY_OFFSET = 2**31
"""Added to each victim's priority when summing, so many negative-priority victims never sum lower
than fewer of them (upstream's MaxInt32+1)."""


@dataclass(slots=True)
class Candidate:
    """A node where the preemptor fits once `victims` (most important first) are gone."""

    node_name: str
    victims: list[PodInfo]
    num_pdb_violations: int


class DefaultPreemption(PostFilterPlugin):
    name = "DefaultPreemption"

    def __init__(
        self,
        handle: Handle,
        min_candidate_nodes_percentage: int = DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE,
        min_candidate_nodes_absolute: int = DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE,
        rng: random.Random | None = None,
    ) -> None:
        self._handle = handle
        self.min_candidate_nodes_percentage = min_candidate_nodes_percentage
        self.min_candidate_nodes_absolute = min_candidate_nodes_absolute
        self._rng = rng if rng is not None else random.Random()
        """Picks where the candidate search starts, so preemptors spread over the cluster."""

    async def post_filter(
        self, state: CycleState, pod: PodInfo, filtered: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status]:
        """Upstream's "preemption: " prefix goes on every message here, since the scheduler appends
        the message to FailedScheduling as it is."""
        result, status = await self.preempt(state, pod, filtered)
        if status.reasons:
            return result, Status(status.code, (f"preemption: {status.message()}",))
        return result, status

    async def preempt(
        self, state: CycleState, pod: PodInfo, filtered: NodeToStatus
    ) -> tuple[PostFilterResult | None, Status]:
        """Upstream Evaluator.Preempt. A result of "" means preemption cannot help anywhere (upstream
        clears the pod's nominatedNodeName then); None leaves the nomination alone."""
        eligible, reason = self.pod_eligible_to_preempt_others(pod, filtered)
        if not eligible:
            log.v(5).info("Pod is not eligible for preemption", pod=pod.key, reason=reason)
            return None, Status.unschedulable(reason)
        snapshot = self._handle.snapshot()
        if not snapshot.node_infos:
            return None, Status.error("no nodes available")
        candidates, statuses, errors = self.find_candidates(state, pod, filtered, snapshot)
        if not candidates:
            if errors:
                return None, Status.error(errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")
            log.v(2).info(
                "No preemption candidate is found; preemption is not helpful for scheduling", pod=pod.key
            )
            return PostFilterResult(""), Status.unschedulable(fit_error_message(len(snapshot), statuses))
        best = pick_one_node_for_preemption(candidates)
        log.v(2).info("the target node for the preemption is determined", node=best.node_name, pod=pod.key)
        status = await self._prepare_candidate(best, pod)
        if not status.is_success():
            return None, status
        return PostFilterResult(best.node_name), SUCCESS

    def pod_eligible_to_preempt_others(self, pod: PodInfo, filtered: NodeToStatus) -> tuple[bool, str]:
        """Not with preemptionPolicy Never, and not while victims this pod already preempted on its
        nominated node are still terminating (it would preempt more pods for the same room)."""
        if pod.spec.get("preemptionPolicy") == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName") or ""
        if nominated:
            if filtered.statuses.get(nominated, filtered.absent).code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return True, ""
            node_info = self._handle.snapshot().get(nominated)
            if node_info is not None:
                for other in node_info.pods:
                    if other.priority < pod.priority and terminating_by_preemption(other.pod):
                        return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def find_candidates(
        self, state: CycleState, pod: PodInfo, filtered: NodeToStatus, snapshot: Snapshot
    ) -> tuple[list[Candidate], dict[str, Status], list[str]]:
        """Dry-run preemption on the nodes a filter rejected as Unschedulable (an
        UnschedulableAndUnresolvable node stays unfit whatever is evicted), starting at a random
        node and stopping once enough candidates are found. Returns the candidates (those that
        violate no PDB first), why each other evaluated node is no candidate, and errors."""
        potential = [
            info
            for info in snapshot.node_infos
            if filtered.statuses.get(info.name, filtered.absent).code is Code.UNSCHEDULABLE
        ]
        if not potential:
            log.v(3).info("Preemption will not help schedule pod on any node", pod=pod.key)
            return [], {}, []
        pdbs = self._handle.pdbs
        offset, wanted = self._rng.randrange(len(potential)), self.num_candidates(len(potential))
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        statuses: dict[str, Status] = {}
        errors: list[str] = []
        for i in range(len(potential)):
            node_info = potential[(offset + i) % len(potential)].clone()
            victims, num_violations, status = self.select_victims_on_node(state.clone(), pod, node_info, pdbs)
            if status.is_success() and victims:
                found = violating if num_violations else non_violating
                if len(found) < wanted:
                    found.append(Candidate(node_info.name, victims, num_violations))
                if non_violating and len(non_violating) + len(violating) >= wanted:
                    break
                continue
            if status.is_success():
                status = Status.error(f'expected at least one victim pod on node "{node_info.name}"')
            if status.code is Code.ERROR:
                errors.append(status.message())
            statuses[node_info.name] = status
        return non_violating + violating, statuses, errors

    def num_candidates(self, num_nodes: int) -> int:
        """minCandidateNodesPercentage of the nodes, at least minCandidateNodesAbsolute, at most all."""
        wanted = max(
            num_nodes * self.min_candidate_nodes_percentage // 100, self.min_candidate_nodes_absolute
        )
        return min(wanted, num_nodes)

    def select_victims_on_node(
        self, state: CycleState, pod: PodInfo, node_info: NodeInfo, pdbs: Sequence[Mapping[str, Any]]
    ) -> tuple[list[PodInfo], int, Status]:
        """The fewest, least important lower-priority pods to evict from `node_info` (changed in
        place, as is `state`: pass clones) for `pod` to fit, most important first, and how many of
        them a PDB protects. Affinity of the preemptor to a victim is not considered (upstream)."""
        handle = self._handle

        def remove(victim: PodInfo) -> Status:
            node_info.remove_pod(victim.pod)
            return handle.run_pre_filter_remove_pod(state, pod, victim, node_info)

        def add(victim: PodInfo) -> Status:
            node_info.add_pod(victim)
            return handle.run_pre_filter_add_pod(state, pod, victim, node_info)

        potential = [other for other in node_info.pods if other.priority < pod.priority]
        for victim in potential:
            if not (status := remove(victim)).is_success():
                return [], 0, Status.error(status.message())
        if not potential:
            return [], 0, Status.unresolvable(NO_VICTIMS)
        nominated = [
            other
            for other in handle.nominated_pods_for_node(node_info.name)
            if other.priority >= pod.priority and other.uid != pod.uid
        ]
        if not (status := self._fits(state, pod, node_info, nominated)).is_success():
            return [], 0, status
        potential.sort(key=_importance)
        violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs)
        victims: list[PodInfo] = []
        num_violations = 0
        for group in (violating, non_violating):
            for victim in group:
                if not (status := add(victim)).is_success():
                    return [], 0, Status.error(status.message())
                if not self._fits(state, pod, node_info, nominated).is_success():
                    if not (status := remove(victim)).is_success():
                        return [], 0, Status.error(status.message())
                    victims.append(victim)
                    if group is violating:
                        num_violations += 1
        if violating and non_violating:
            victims.sort(key=_importance)
        return victims, num_violations, SUCCESS

    def _fits(self, state: CycleState, pod: PodInfo, node_info: NodeInfo, nominated: list[PodInfo]) -> Status:
        """Upstream RunFilterPluginsWithNominatedPods: the pod must fit both with the pods of equal
        or higher priority nominated to the node counted as running (it must not take the room they
        preempted for) and without them (pod affinity may need them absent)."""
        if nominated:
            state_with, info_with = state.clone(), node_info.clone()
            for other in nominated:
                info_with.add_pod(other)
                added = self._handle.run_pre_filter_add_pod(state_with, pod, other, info_with)
                if not added.is_success():
                    return Status.error(added.message())
            status = self._handle.run_filter_plugins(state_with, pod, info_with)
            if not status.is_success():
                return status
        return self._handle.run_filter_plugins(state, pod, node_info)

    async def _prepare_candidate(self, candidate: Candidate, pod: PodInfo) -> Status:
        """Delete the victims (together; the first failure cancels the rest) and take the
        nomination away from lower-priority pods nominated to the node, which may no longer fit
        there (failing to is not critical)."""
        try:
            async with asyncio.TaskGroup() as group:
                for victim in candidate.victims:
                    group.create_task(self._handle.delete_victim(victim, pod))
        except ExceptionGroup as failed:
            return Status.error(str(failed.exceptions[0]))
        for other in self._handle.nominated_pods_for_node(candidate.node_name):
            if other.priority < pod.priority:
                try:
                    await self._handle.clear_nominated_node_name(other)
                except Exception as err:
                    log.error("Cannot clear 'NominatedNodeName' field", err=err, pod=other.key)
        return SUCCESS


def terminating_by_preemption(pod: Mapping[str, Any]) -> bool:
    """Deleted, with the DisruptionTarget condition the scheduler sets before it deletes a victim
    (a pod deleted for another reason does not hold back its preemptor)."""
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "DisruptionTarget":
            return bool(
                condition.get("status") == "True" and condition.get("reason") == "PreemptionByScheduler"
            )
    return False


def filter_pods_with_pdb_violation(
    pods: Sequence[PodInfo], pdbs: Sequence[Mapping[str, Any]]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """Split `pods` (order kept) into those whose eviction, counted in order, would take some
    PodDisruptionBudget selecting them below zero disruptions allowed, and the others. A PDB with
    an empty, missing or invalid selector selects nothing; pods it already counts as disrupted do
    not use up its budget."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    selectors = [_pdb_selector(pdb) for pdb in pdbs]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for index, pdb in enumerate(pdbs):
                selector = selectors[index]
                if (pdb.get("metadata") or {}).get("namespace", "") != pod.namespace or selector is None:
                    continue
                if selector.empty or not selector.matches(pod.labels):
                    continue
                if pod.name in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                    continue
                allowed[index] -= 1
                violated = violated or allowed[index] < 0
        (violating if violated else non_violating).append(pod)
    return violating, non_violating


def _pdb_selector(pdb: Mapping[str, Any]) -> labels.Selector | None:
    try:
        return labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
    except StatusError:
        return None


def _start_time(pod: PodInfo) -> datetime.datetime:
    raw = (pod.pod.get("status") or {}).get("startTime")
    if not raw:
        return _NEVER_STARTED
    try:
        parsed = datetime.datetime.fromisoformat(raw)
    except ValueError:
        return _NEVER_STARTED
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _importance(pod: PodInfo) -> tuple[int, datetime.datetime]:
    """Sort key, most important first (upstream MoreImportantPod): higher priority, then started
    earlier."""
    return -pod.priority, _start_time(pod)


def pick_one_node_for_preemption(candidates: Sequence[Candidate]) -> Candidate:
    """Upstream pickOneNodeForPreemption: fewest PDB violations, then the lowest highest-priority
    victim, then the smallest sum of victim priorities, then the fewest victims, then the latest
    start of the most important victims; then the first."""

    def highest_started(c: Candidate) -> datetime.datetime:
        top = max(v.priority for v in c.victims)
        return min(_start_time(v) for v in c.victims if v.priority == top)

    scores: list[Callable[[Candidate], Any]] = [
        lambda c: -c.num_pdb_violations,
        lambda c: -c.victims[0].priority,
        lambda c: -sum(v.priority + _PRIORITY_OFFSET for v in c.victims),
        lambda c: -len(c.victims),
        highest_started,
    ]
    remaining = list(candidates)
    for score in scores:
        best = max(score(c) for c in remaining)
        remaining = [c for c in remaining if score(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


def fit_error_message(num_all_nodes: int, statuses: Mapping[str, Status]) -> str:
    """Upstream FitError.Error() over the dry run's statuses: each reason with how many nodes gave
    it, nodes not evaluated counting as "Preemption is not helpful for scheduling"."""
    reasons: Counter[str] = Counter(reason for status in statuses.values() for reason in status.reasons)
    if len(statuses) < num_all_nodes:
        reasons[NOT_HELPFUL] += num_all_nodes - len(statuses)
    histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
    message = f"0/{num_all_nodes} nodes are available:"
    return f"{message} {', '.join(histogram)}." if histogram else message


def _int_arg(args: PluginArgs, key: str, default: int) -> int:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"DefaultPreemptionArgs: {key} must be an integer, got {value!r}")
    return int(value)


def parse_args(args: PluginArgs) -> tuple[int, int]:
    """DefaultPreemptionArgs (kubescheduler.config.k8s.io/v1) defaulted and validated like
    upstream ValidateDefaultPreemptionArgs: (minCandidateNodesPercentage, minCandidateNodesAbsolute)."""
    unknown = set(args) - {"apiVersion", "kind", "minCandidateNodesPercentage", "minCandidateNodesAbsolute"}
    if unknown:
        raise ValueError(f'DefaultPreemptionArgs: unknown field "{sorted(unknown)[0]}"')
    percentage = _int_arg(args, "minCandidateNodesPercentage", DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE)
    absolute = _int_arg(args, "minCandidateNodesAbsolute", DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE)
    problems = []
    if not 0 <= percentage <= 100:
        problems.append(
            f"minCandidateNodesPercentage: Invalid value: {percentage}: not in valid range [0, 100]"
        )
    if absolute < 0:
        problems.append(f"minCandidateNodesAbsolute: Invalid value: {absolute}: not in valid range [0, inf)")
    if percentage == 0 and absolute == 0:
        both = ("minCandidateNodesPercentage", "minCandidateNodesAbsolute")
        for key, other in (both, both[::-1]):
            problems.append(f"{key}: Invalid value: 0: cannot be zero at the same time as {other}")
    if problems:
        raise ValueError(problems[0] if len(problems) == 1 else f"[{', '.join(problems)}]")
    return percentage, absolute


def new(args: PluginArgs, handle: Handle) -> DefaultPreemption:
    percentage, absolute = parse_args(args)
    return DefaultPreemption(handle, percentage, absolute, random.Random())
