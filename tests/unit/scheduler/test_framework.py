"""The framework, profiles and one scheduling decision, with the real plugins and no I/O: plugin
sets resolved from KubeSchedulerConfiguration, filtering and scoring over a snapshot, kube-scheduler's
FitError messages, the adaptive number of nodes to score, and the assume cache."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from helpers.scheduling import make_node, make_pod

from scheduler.cache import SchedulerCache
from scheduler.config import KubeSchedulerConfiguration, Profile, resolve_plugins
from scheduler.framework.cycle_state import CycleState
from scheduler.framework.runtime import Framework, builtin_implements
from scheduler.framework.snapshot import Snapshot
from scheduler.framework.types import PodInfo
from scheduler.schedule_one import Algorithm, FitError, num_feasible_nodes_to_find


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Services:
    """The scheduler's side of the Handle, without an API server."""

    def __init__(self, cache: SchedulerCache) -> None:
        self.cache = cache
        self.client = None

    @property
    def snapshot(self) -> Snapshot:
        return self.cache.snapshot

    @property
    def pdbs(self) -> Sequence[Mapping[str, Any]]:
        return []

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return []

    def has_nominated_pods(self) -> bool:
        return False

    async def delete_victim(self, victim: PodInfo, preemptor: PodInfo) -> None:
        raise AssertionError("no preemption expected")

    async def clear_nominated_node_name(self, pod: PodInfo) -> None:
        raise AssertionError("no preemption expected")


def profile(**raw: Any) -> Profile:
    return KubeSchedulerConfiguration.model_validate({"profiles": [raw]}).profiles[0]


def cluster(*nodes: dict[str, Any], pods: Sequence[dict[str, Any]] = ()) -> tuple[SchedulerCache, Framework]:
    cache = SchedulerCache(FakeClock())
    for node in nodes:
        cache.add_node(node)
    for pod in pods:
        cache.add_pod(pod)
    return cache, Framework(profile(), Services(cache))


def schedule(cache: SchedulerCache, framework: Framework, pod: dict[str, Any], seed: int = 1) -> str:
    snapshot = cache.refresh_snapshot({})
    return (
        Algorithm(random.Random(seed)).schedule_pod(framework, CycleState(), PodInfo(pod), snapshot).node_name
    )


def test_the_default_profile_has_upstreams_plugins_at_each_point() -> None:
    resolved = resolve_plugins(Profile(), builtin_implements())
    assert resolved.points["queueSort"] == ["PrioritySort"]
    assert resolved.points["preEnqueue"] == ["SchedulingGates"]
    assert resolved.points["filter"] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "VolumeBinding", "PodTopologySpread", "InterPodAffinity",
    ]  # fmt: skip
    assert resolved.points["postFilter"] == ["DefaultPreemption"]
    assert resolved.points["bind"] == ["DefaultBinder"]
    assert resolved.weights == {
        "TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "PodTopologySpread": 2,
        "InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1,
    }  # fmt: skip


def test_a_plugin_disabled_in_multipoint_is_gone_from_every_point() -> None:
    resolved = resolve_plugins(
        profile(plugins={"multiPoint": {"disabled": [{"name": "TaintToleration"}]}}), builtin_implements()
    )
    assert all("TaintToleration" not in names for names in resolved.points.values())


def test_score_plugins_can_be_reweighted_or_all_disabled() -> None:
    resolved = resolve_plugins(
        profile(
            plugins={
                "score": {"disabled": [{"name": "*"}], "enabled": [{"name": "ImageLocality", "weight": 7}]}
            }
        ),
        builtin_implements(),
    )
    assert resolved.points["score"] == ["ImageLocality"]
    assert resolved.weights["ImageLocality"] == 7


@pytest.mark.parametrize(
    ("plugins", "error"),
    [
        pytest.param({"filter": {"enabled": [{"name": "NoSuchPlugin"}]}}, "unknown plugin",
                     id="an unknown plugin"),
        pytest.param({"filter": {"enabled": [{"name": "PrioritySort"}]}}, "does not implement filter",
                     id="a plugin at a point it does not implement"),
        pytest.param({"bind": {"disabled": [{"name": "*"}]}}, "bind plugin", id="no binder"),
    ],
)  # fmt: skip
def test_bad_plugin_sets_are_refused_with_the_reason(plugins: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        resolve_plugins(profile(plugins=plugins), builtin_implements())


def test_duplicate_profile_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate schedulerName"):
        KubeSchedulerConfiguration.model_validate({"profiles": [{}, {}]})


def test_a_pod_goes_to_the_node_with_the_most_room() -> None:
    cache, framework = cluster(make_node("busy", cpu="4"), make_node("idle", cpu="4"),
                               pods=[make_pod("p", cpu="3", node_name="busy")])  # fmt: skip
    assert schedule(cache, framework, make_pod("new", cpu="500m")) == "idle"


def test_a_pod_that_fits_nowhere_gets_kube_schedulers_message() -> None:
    cache, framework = cluster(
        make_node("small-1", cpu="1"),
        make_node("small-2", cpu="1"),
        make_node("tainted", cpu="8", taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]),
    )
    with pytest.raises(FitError) as caught:
        schedule(cache, framework, make_pod("big", cpu="2"))
    assert caught.value.message() == (
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: web}, 2 Insufficient cpu."
    )
    assert caught.value.rejecting_plugins() == {"TaintToleration", "NodeResourcesFit"}


def test_an_assumed_pod_takes_its_room_before_the_watch_confirms_it() -> None:
    cache, framework = cluster(make_node("only", cpu="1"))
    first = make_pod("first", cpu="800m")
    assert schedule(cache, framework, first) == "only"
    cache.assume_pod(PodInfo(first), "only")
    with pytest.raises(FitError):
        schedule(cache, framework, make_pod("second", cpu="800m"))
    cache.forget_pod(first["metadata"]["uid"])  # the binding failed
    assert schedule(cache, framework, make_pod("second", cpu="800m")) == "only"


def test_a_confirmed_assumption_is_counted_once_and_an_unconfirmed_one_expires() -> None:
    clock = FakeClock()
    cache = SchedulerCache(clock, assumed_ttl=30)
    cache.add_node(make_node("n"))
    pod = make_pod("p", cpu="1")
    cache.assume_pod(PodInfo(pod), "n")
    cache.add_pod({**pod, "spec": {**pod["spec"], "nodeName": "n"}})
    assert len(cache.nodes["n"].pods) == 1 and not cache.is_assumed(pod["metadata"]["uid"])

    other = make_pod("q", cpu="1")
    cache.assume_pod(PodInfo(other), "n")
    cache.finish_binding(other["metadata"]["uid"])
    clock.now += 29
    assert cache.cleanup_expired_assumed_pods() == []
    clock.now += 2
    assert cache.cleanup_expired_assumed_pods() == [other["metadata"]["uid"]]
    assert cache.nodes["n"].requested.milli_cpu == 1000


@pytest.mark.parametrize(
    ("percentage", "nodes", "expected"),
    [
        pytest.param(None, 50, 50, id="under 100 nodes all are searched"),
        pytest.param(None, 1000, 420, id="1000 nodes: 50% minus 8%"),
        pytest.param(None, 5000, 500, id="5000 nodes: 10%"),
        pytest.param(None, 10000, 500, id="large clusters: at least 5%"),
        pytest.param(30, 1000, 300, id="a configured percentage"),
        pytest.param(1, 1000, 100, id="never fewer than 100 nodes"),
    ],
)
def test_the_number_of_feasible_nodes_to_find_adapts_like_upstream(
    percentage: int | None, nodes: int, expected: int
) -> None:
    assert num_feasible_nodes_to_find(percentage, nodes) == expected


def test_the_search_starts_where_the_last_one_stopped() -> None:
    nodes = [make_node(f"n{i:03}") for i in range(200)]
    cache, framework = cluster(*nodes)
    algorithm = Algorithm(random.Random(0))
    snapshot = cache.refresh_snapshot({})
    algorithm.find_nodes_that_fit(framework, CycleState(), PodInfo(make_pod("a")), snapshot)
    assert algorithm.next_start_node_index == 100
    feasible, _ = algorithm.find_nodes_that_fit(framework, CycleState(), PodInfo(make_pod("b")), snapshot)
    assert feasible[0].name == "n100"


def test_ties_are_broken_at_random_but_reproducibly_with_a_seed() -> None:
    cache, framework = cluster(*(make_node(f"n{i}") for i in range(5)))
    picks = {schedule(cache, framework, make_pod("p"), seed=seed) for seed in range(20)}
    assert len(picks) > 1
    assert schedule(cache, framework, make_pod("p"), seed=3) == schedule(
        cache, framework, make_pod("p"), seed=3
    )


def test_a_status_change_of_a_bound_pod_keeps_its_accounting_without_recomputing_it() -> None:
    cache = SchedulerCache(FakeClock())
    cache.add_node(make_node("n"))
    pod = make_pod("p", cpu="1", node_name="n")
    cache.add_pod(pod)
    info = cache.nodes["n"].pods[0]
    running = {**pod, "status": {"phase": "Running"}}
    cache.add_pod(running)
    assert cache.nodes["n"].pods == [info] and info.pod is running
    assert cache.nodes["n"].requested.milli_cpu == 1000
    relabelled = {**running, "metadata": {**running["metadata"], "labels": {"app": "x"}}}
    cache.add_pod(relabelled)
    assert cache.nodes["n"].pods[0] is not info and cache.nodes["n"].pods[0].labels == {"app": "x"}
