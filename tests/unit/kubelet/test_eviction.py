"""The eviction manager's pure parts and its cycle, driven by a fake stats source and a fake clock:
threshold parsing, hard and soft thresholds, the transition period, minimum reclaim, ranking tables,
messages and admission."""

from __future__ import annotations

from typing import Any

import pytest

from kubeapi.quantity import Format, Quantity
from kubelet.eviction import (
    EvictionConfig,
    EvictionConfigError,
    EvictionManager,
    condition_reason_message,
    evicted_status,
    parse_thresholds,
    pressure_taints,
)
from kubelet.eviction.ranking import pod_request, rank_disk_pressure, rank_memory_pressure, rank_pid_pressure
from kubelet.eviction.signals import observations_from_summary
from kubelet.eviction.thresholds import ThresholdValue

Mi = 1024 * 1024
Gi = 1024 * Mi

# ---- parsing ----


def test_parse_quantities_percentages_and_grace_periods() -> None:
    thresholds = parse_thresholds(
        hard={"memory.available": "100Mi", "nodefs.available": "10%", "imagefs.available": "0%"},
        soft={"memory.available": "300Mi"},
        soft_grace={"memory.available": "1m30s"},
        minimum_reclaim={"memory.available": "0.5Gi"},
    )
    by_kind = {(t.signal, t.hard): t for t in thresholds}
    assert set(by_kind) == {
        ("memory.available", True),
        ("nodefs.available", True),
        ("memory.available", False),
    }
    hard_memory = by_kind[("memory.available", True)]
    assert hard_memory.value.quantity == Quantity.from_int(100 * Mi)
    assert hard_memory.min_reclaim == ThresholdValue(quantity=Quantity.from_int(512 * Mi))
    assert by_kind[("nodefs.available", True)].value.percentage == pytest.approx(0.1)
    assert by_kind[("memory.available", False)].grace_period == 90.0


SOFT = {"memory.available": "1Gi"}
BAD_SETTINGS = [
    ({"hard": {"memory.free": "1Mi"}}, "evictionHard: unsupported eviction signal memory.free"),
    ({"hard": {"memory.available": "-1Mi"}},
     "evictionHard: memory.available: eviction threshold must be positive: -1Mi"),
    ({"hard": {"memory.available": "lots"}}, "evictionHard: memory.available: quantities must match"),
    ({"hard": {"nodefs.available": "150%"}},
     "evictionHard: nodefs.available: eviction percentage threshold must be <= 100%: 150%"),
    ({"soft": SOFT},
     "evictionSoftGracePeriod: grace period must be specified for the soft eviction threshold memory."),
    ({"soft": SOFT, "soft_grace": {"memory.available": "soon"}},
     "evictionSoftGracePeriod: memory.available: invalid duration 'soon'"),
    ({"minimum_reclaim": {"pid.available": "-5"}},
     "evictionMinimumReclaim: pid.available: negative eviction minimum reclaim specified: -5"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "message"), BAD_SETTINGS)
def test_bad_settings_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EvictionConfigError) as raised:
        parse_thresholds(**kwargs)
    assert str(raised.value).startswith(message)


def test_config_from_kubelet_configuration_defaults() -> None:
    from kubelet.config import KubeletConfiguration

    config = EvictionConfig.from_kubelet_config(KubeletConfiguration())
    assert {t.signal for t in config.thresholds} >= {
        "memory.available",
        "nodefs.available",
        "imagefs.available",
    }
    assert config.pressure_transition_period == 300.0


# ---- a fake node ----


def summary(
    *,
    memory_available: int = 8 * Gi,
    working_set: int = 1 * Gi,
    fs_available: int = 50 * Gi,
    pids: int = 100,
    time: str = "2026-01-01T00:00:00Z",
    pods: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    fs = {"time": time, "availableBytes": fs_available, "capacityBytes": 100 * Gi, "inodesFree": 900_000,
          "inodes": 1_000_000}  # fmt: skip
    return {
        "node": {
            "memory": {"time": time, "availableBytes": memory_available, "workingSetBytes": working_set},
            "fs": fs,
            "runtime": {"imageFs": dict(fs)},
            "rlimit": {"time": time, "maxpid": 32768, "curproc": pids},
        },
        "pods": pods or [],
    }


def pod(name: str, *, memory_request: str | None = None, priority: int = 0, **extra: Any) -> dict[str, Any]:
    resources = {"requests": {"memory": memory_request}} if memory_request else {}
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}", **extra.pop("meta", {})},
        "spec": {"containers": [{"name": "app", "resources": resources}], "priority": priority, **extra},
    }


def pod_stats(
    name: str, *, memory: int = 0, rootfs: int = 0, logs: int = 0, processes: int = 0
) -> dict[str, Any]:
    return {
        "podRef": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "containers": [
            {
                "name": "app",
                "memory": {"workingSetBytes": memory},
                "rootfs": {"usedBytes": rootfs, "inodesUsed": 10},
                "logs": {"usedBytes": logs, "inodesUsed": 1},
            }
        ],
        "memory": {"workingSetBytes": memory},
        "process_stats": {"process_count": processes},
    }


class FakeStats:
    def __init__(self) -> None:
        self.current = summary()

    async def summary(self) -> dict[str, Any]:
        return self.current

    async def dedicated_image_fs(self) -> bool:
        return False


class Node:
    def __init__(self, config: EvictionConfig, pods: list[dict[str, Any]]) -> None:
        self.now = 1_000.0
        self.stats = FakeStats()
        self.pods = pods
        self.killed: list[tuple[str, str]] = []
        self.events: list[tuple[str, str, str]] = []
        self.manager = EvictionManager(
            config,
            self.stats,
            clock=lambda: self.now,
            kill_pod=self.kill,
            active_pods=lambda: self.pods,
            recorder=lambda obj, kind, reason, message: self.events.append(
                (obj["metadata"]["name"], reason, message)
            ),
            node_ref={"metadata": {"name": "node-1"}},
        )

    async def kill(self, target: dict[str, Any], message: str) -> bool:
        self.killed.append((target["metadata"]["name"], message))
        return True

    def observe(self, seconds_later: float, **stats: Any) -> None:
        self.now += seconds_later
        stamp = f"2026-01-01T00:{int(self.now) // 60 % 60:02d}:{int(self.now) % 60:02d}Z"
        self.stats.current = summary(time=stamp, **stats)


HARD_MEMORY = EvictionConfig(parse_thresholds(hard={"memory.available": "100Mi"}), 300.0, 30)


async def test_hard_memory_threshold_evicts_one_pod_with_upstreams_message() -> None:
    best_effort = pod("greedy")
    burstable = pod("modest", memory_request="1Gi")
    node = Node(HARD_MEMORY, [burstable, best_effort])
    node.observe(0)
    assert await node.manager.synchronize() == []
    assert node.manager.conditions() == {"MemoryPressure": False, "DiskPressure": False, "PIDPressure": False}

    stats = [pod_stats("greedy", memory=200 * Mi), pod_stats("modest", memory=500 * Mi)]
    node.observe(10, memory_available=50 * Mi, pods=stats)
    assert await node.manager.synchronize() == [best_effort]
    assert node.manager.conditions()["MemoryPressure"] is True
    message = (
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
        "Container app was using 200Mi, request is 0, has larger consumption of memory. "
    )
    assert node.killed == [("greedy", message)]
    assert node.manager.last_eviction is not None
    assert node.manager.last_eviction.grace_period_seconds == 1, "hard thresholds kill at once"
    assert node.manager.last_eviction.annotations["offending_containers"] == "app"
    assert ("node-1", "EvictionThresholdMet", "Attempting to reclaim memory") in node.events
    assert ("greedy", "Evicted", message) in node.events

    assert await node.manager.synchronize() == [], "the same sample never evicts twice"
    node.observe(10, memory_available=50 * Mi, pods=stats)
    assert len(await node.manager.synchronize()) == 1, "a new sample still under the threshold evicts again"


async def test_soft_threshold_waits_for_its_grace_period() -> None:
    config = EvictionConfig(
        parse_thresholds(soft={"memory.available": "1Gi"}, soft_grace={"memory.available": "90s"}), 300.0, 20
    )
    victim = pod("v", terminationGracePeriodSeconds=60)
    node = Node(config, [victim])
    node.observe(0, memory_available=512 * Mi, pods=[pod_stats("v", memory=1 * Gi)])
    assert await node.manager.synchronize() == []
    assert node.manager.conditions()["MemoryPressure"] is True, "the condition does not wait for the grace"
    node.observe(60, memory_available=512 * Mi, pods=[pod_stats("v", memory=1 * Gi)])
    assert await node.manager.synchronize() == []
    node.observe(30, memory_available=512 * Mi, pods=[pod_stats("v", memory=1 * Gi)])
    assert await node.manager.synchronize() == [victim]
    assert node.manager.last_eviction is not None
    assert node.manager.last_eviction.grace_period_seconds == 20, "min(evictionMaxPodGracePeriod, pod's)"


async def test_soft_threshold_resets_when_pressure_clears_within_grace() -> None:
    config = EvictionConfig(
        parse_thresholds(soft={"memory.available": "1Gi"}, soft_grace={"memory.available": "60s"}), 0.0, 0
    )
    node = Node(config, [pod("v")])
    node.observe(0, memory_available=512 * Mi)
    await node.manager.synchronize()
    node.observe(50, memory_available=4 * Gi)
    await node.manager.synchronize()
    node.observe(20, memory_available=512 * Mi)
    assert await node.manager.synchronize() == [], "the grace period starts over"


async def test_pressure_condition_holds_for_the_transition_period() -> None:
    config = EvictionConfig(parse_thresholds(hard={"pid.available": "1000"}), 300.0, 0)
    node = Node(config, [])
    node.observe(0, pids=32000)
    await node.manager.synchronize()
    assert node.manager.conditions()["PIDPressure"] is True
    node.observe(10, pids=100)
    await node.manager.synchronize()
    assert node.manager.conditions()["PIDPressure"] is True, "held after the pressure is gone"
    node.observe(289, pids=100)
    await node.manager.synchronize()
    assert node.manager.conditions()["PIDPressure"] is True
    node.observe(2, pids=100)
    await node.manager.synchronize()
    assert node.manager.conditions()["PIDPressure"] is False


async def test_minimum_reclaim_keeps_a_met_threshold_until_more_is_free() -> None:
    thresholds = parse_thresholds(
        hard={"nodefs.available": "10Gi"}, minimum_reclaim={"nodefs.available": "5Gi"}
    )
    node = Node(EvictionConfig(thresholds, 0.0, 0), [pod("a"), pod("b")])
    node.stats.current["pods"] = []
    node.observe(0, fs_available=9 * Gi)
    assert len(await node.manager.synchronize()) == 1
    assert node.manager.conditions()["DiskPressure"] is False, "a zero transition period drops it at once"
    node.observe(10, fs_available=12 * Gi)
    assert len(await node.manager.synchronize()) == 1, "12Gi is not 10Gi + 5Gi yet"
    node.observe(10, fs_available=16 * Gi)
    assert await node.manager.synchronize() == []
    assert "ephemeral-storage" in node.killed[0][1]


async def test_critical_pods_are_skipped_and_failed_kills_move_on() -> None:
    static = pod("static", meta={"annotations": {"kubernetes.io/config.source": "file"}})
    critical = pod("dns", priority=2_000_000_000)
    flaky = pod("flaky")
    normal = pod("normal")
    node = Node(HARD_MEMORY, [static, critical, flaky, normal])

    async def kill(target: dict[str, Any], message: str) -> bool:
        if target["metadata"]["name"] == "flaky":
            raise RuntimeError("runtime down")
        node.killed.append((target["metadata"]["name"], message))
        return True

    node.manager.kill_pod = kill
    stats = [
        pod_stats(n, memory=m * Mi) for n, m in (("static", 900), ("dns", 800), ("flaky", 700), ("normal", 1))
    ]
    node.observe(0, memory_available=10 * Mi, pods=stats)
    assert await node.manager.synchronize() == [normal]


# ---- ranking ----


def test_rank_memory_pressure_exceeding_requests_then_priority_then_usage_over_request() -> None:
    over_small = pod("over-small", memory_request="100Mi")  # 150Mi used: 50Mi over
    over_big = pod("over-big", memory_request="100Mi")  # 400Mi used: 300Mi over
    over_important = pod("over-important", memory_request="100Mi", priority=1000)  # 900Mi used
    under = pod("under", memory_request="1Gi")  # 500Mi used, under its request
    no_stats = pod("no-stats", memory_request="1Gi", priority=5000)
    used = {"over-small": 150, "over-big": 400, "over-important": 900, "under": 500}
    stats = {f"uid-{n}": pod_stats(n, memory=m * Mi) for n, m in used.items()}
    ranked = rank_memory_pressure(
        [under, over_important, over_small, no_stats, over_big], lambda p: stats.get(p["metadata"]["uid"])
    )
    assert [p["metadata"]["name"] for p in ranked] == [
        "no-stats",
        "over-big",
        "over-small",
        "over-important",
        "under",
    ]


def test_rank_pid_pressure_priority_then_process_count() -> None:
    low_few, low_many, high_many = pod("low-few"), pod("low-many"), pod("high-many", priority=10)
    counts = {"low-few": 2, "low-many": 50, "high-many": 500}
    stats = {f"uid-{n}": pod_stats(n, processes=c) for n, c in counts.items()}
    ranked = rank_pid_pressure([high_many, low_few, low_many], lambda p: stats.get(p["metadata"]["uid"]))
    assert [p["metadata"]["name"] for p in ranked] == ["low-many", "low-few", "high-many"]


def test_rank_disk_pressure_by_the_measured_filesystems() -> None:
    logs_heavy, layer_heavy = pod("logs-heavy"), pod("layer-heavy")
    stats = {
        "uid-logs-heavy": pod_stats("logs-heavy", rootfs=1 * Mi, logs=900 * Mi),
        "uid-layer-heavy": pod_stats("layer-heavy", rootfs=500 * Mi, logs=1 * Mi),
    }

    def names(fs_types: list[str]) -> list[str]:
        rank = rank_disk_pressure(fs_types, "ephemeral-storage")
        return [
            p["metadata"]["name"]
            for p in rank([layer_heavy, logs_heavy], lambda p: stats[p["metadata"]["uid"]])
        ]

    assert names(["root", "logs", "localVolumeSource"]) == ["logs-heavy", "layer-heavy"]
    assert names(["root"]) == ["layer-heavy", "logs-heavy"], "imagefs pressure measures writable layers"


def test_pod_request_counts_init_containers_sidecars_and_overhead() -> None:
    spec = {
        "initContainers": [
            {"name": "setup", "resources": {"requests": {"memory": "2Gi"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"memory": "100Mi"}}},
        ],
        "containers": [{"name": "a", "resources": {"requests": {"memory": "500Mi"}}}, {"name": "b"}],
        "overhead": {"memory": "10Mi"},
    }
    assert pod_request({"spec": spec}, "memory") == Quantity.from_int(2 * Gi + 10 * Mi)
    spec["initContainers"][0]["resources"]["requests"]["memory"] = "100Mi"
    assert pod_request({"spec": spec}, "memory") == Quantity.from_int(600 * Mi + 10 * Mi)


# ---- admission, conditions, observations ----


async def test_admission_under_memory_and_disk_pressure() -> None:
    node = Node(HARD_MEMORY, [])
    best_effort, burstable = pod("be"), pod("bu", memory_request="10Mi")
    tolerant = pod("tol", tolerations=[{"key": "node.kubernetes.io/memory-pressure", "operator": "Exists"}])
    assert node.manager.admit(best_effort) == (True, "", "")
    node.observe(0, memory_available=10 * Mi)
    await node.manager.synchronize()
    assert node.manager.admit(best_effort) == (False, "Evicted", "The node had condition: [MemoryPressure]. ")
    assert node.manager.admit(burstable)[0] is True
    assert node.manager.admit(tolerant)[0] is True
    assert node.manager.admit(pod("crit", priority=2_000_000_000))[0] is True

    disk = Node(EvictionConfig(parse_thresholds(hard={"nodefs.available": "10%"}), 300.0, 0), [])
    disk.observe(0, fs_available=1 * Gi)
    await disk.manager.synchronize()
    assert disk.manager.admit(burstable) == (False, "Evicted", "The node had condition: [DiskPressure]. ")


def test_conditions_taints_and_evicted_status() -> None:
    assert condition_reason_message("MemoryPressure", False) == (
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    )
    assert condition_reason_message("DiskPressure", True)[0] == "KubeletHasDiskPressure"
    assert pressure_taints(["PIDPressure", "MemoryPressure"]) == [
        {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/pid-pressure", "effect": "NoSchedule"},
    ]
    status = evicted_status("low on memory")
    assert (status["phase"], status["reason"], status["condition"]["type"]) == (
        "Failed",
        "Evicted",
        "DisruptionTarget",
    )


def test_observations_from_summary() -> None:
    seen = observations_from_summary(summary(memory_available=3 * Gi, working_set=1 * Gi, pids=768))
    assert seen["memory.available"].capacity == Quantity.from_int(4 * Gi)
    assert str(seen["memory.available"].available) == "3Gi"
    assert seen["pid.available"].available == Quantity.from_int(32000, Format.DECIMAL_SI)
    assert set(seen) == {"memory.available", "nodefs.available", "nodefs.inodesFree", "imagefs.available",
                         "imagefs.inodesFree", "pid.available"}  # fmt: skip
    assert seen["nodefs.available"].time > 0
    assert observations_from_summary({"node": {}}) == {}
