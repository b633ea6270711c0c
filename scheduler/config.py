"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) and how a profile's plugin set is
resolved from upstream's defaults and the file's `plugins` (upstream's mergePlugins and
multiPoint expansion, v1.32).

    config = load_scheduler_config("/etc/kubernetes/config/kube-scheduler.yaml")
    for profile in config.profiles:
        resolve_plugins(profile)   # {"filter": ["NodeUnschedulable", ...], "score": [...]}, weights
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from componentbase.config import ConfigModel, Duration, load_config

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

EXTENSION_POINTS = (
    "preEnqueue", "queueSort", "preFilter", "filter", "postFilter", "preScore", "score",
    "reserve", "permit", "preBind", "bind", "postBind",
)  # fmt: skip

DEFAULT_MULTI_POINT: tuple[tuple[str, int], ...] = (
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeBinding", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
)
"""v1.32's getDefaultPlugins, less the volume plugins kplane has no use for yet (VolumeRestrictions,
NodeVolumeLimits, VolumeZone: no CSI drivers or zonal volumes here)."""


class PluginRef(ConfigModel):
    name: str
    weight: int = 0


class PluginSet(ConfigModel):
    enabled: list[PluginRef] = Field(default_factory=list)
    disabled: list[PluginRef] = Field(default_factory=list)


class Plugins(ConfigModel):
    pre_enqueue: PluginSet | None = None
    queue_sort: PluginSet | None = None
    pre_filter: PluginSet | None = None
    filter: PluginSet | None = None
    post_filter: PluginSet | None = None
    pre_score: PluginSet | None = None
    score: PluginSet | None = None
    reserve: PluginSet | None = None
    permit: PluginSet | None = None
    pre_bind: PluginSet | None = None
    bind: PluginSet | None = None
    post_bind: PluginSet | None = None
    multi_point: PluginSet | None = None


class PluginConfig(ConfigModel):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Profile(ConfigModel):
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    percentage_of_nodes_to_score: int | None = None
    plugins: Plugins | None = None
    plugin_config: list[PluginConfig] = Field(default_factory=list)


class ClientConnection(ConfigModel):
    kubeconfig: str = ""
    accept_content_types: str = ""
    content_type: str = "application/vnd.kubernetes.protobuf"
    qps: float = 50.0
    burst: int = 100


class LeaderElection(ConfigModel):
    leader_elect: bool = True
    lease_duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0
    resource_lock: str = "leases"
    resource_name: str = "kube-scheduler"
    resource_namespace: str = "kube-system"


class KubeSchedulerConfiguration(ConfigModel):
    parallelism: int = 16
    leader_election: LeaderElection = Field(default_factory=LeaderElection)
    client_connection: ClientConnection = Field(default_factory=ClientConnection)
    percentage_of_nodes_to_score: int | None = None
    pod_initial_backoff_seconds: int = 1
    pod_max_backoff_seconds: int = 10
    profiles: list[Profile] = Field(default_factory=list)
    extenders: list[dict[str, Any]] = Field(default_factory=list)
    delay_cache_until_active: bool = False

    def model_post_init(self, context: Any) -> None:
        if not self.profiles:
            self.profiles = [Profile()]
        names = [profile.scheduler_name for profile in self.profiles]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate:
            raise ValueError(f"profiles: duplicate schedulerName {duplicate!r}")
        for percentage in [self.percentage_of_nodes_to_score] + [
            p.percentage_of_nodes_to_score for p in self.profiles
        ]:
            if percentage is not None and not 0 <= percentage <= 100:
                raise ValueError(f"percentageOfNodesToScore: {percentage} must be between 0 and 100")
        if (
            self.pod_initial_backoff_seconds <= 0
            or self.pod_max_backoff_seconds < self.pod_initial_backoff_seconds
        ):
            raise ValueError("podInitialBackoffSeconds must be > 0 and podMaxBackoffSeconds >= it")


def load_scheduler_config(path: str | os.PathLike[str]) -> KubeSchedulerConfiguration:
    return load_config(path, KubeSchedulerConfiguration, api_version=API_VERSION, kind=KIND)


@dataclass
class ResolvedPlugins:
    """A profile's plugins per extension point, in order, and the score weights."""

    points: dict[str, list[str]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)

    def all_names(self) -> list[str]:
        names: list[str] = []
        for point in EXTENSION_POINTS:
            names.extend(name for name in self.points.get(point, ()) if name not in names)
        return names


def resolve_plugins(profile: Profile, implements: dict[str, frozenset[str]]) -> ResolvedPlugins:
    """Expand multiPoint (the defaults' and the profile's) to every point each plugin implements
    (`implements`: plugin name -> its extension points), then apply per-point enabled/disabled. A
    plugin enabled at a specific point is not also added there by multiPoint; "*" disables all."""
    plugins = profile.plugins or Plugins()
    resolved = ResolvedPlugins()
    multi = _merge([PluginRef(name=n, weight=w) for n, w in DEFAULT_MULTI_POINT], plugins.multi_point)
    for ref in multi:
        if ref.weight:
            resolved.weights[ref.name] = ref.weight
    for point in EXTENSION_POINTS:
        specific: PluginSet | None = getattr(plugins, _snake(point))
        explicitly = {ref.name for ref in specific.enabled} if specific else set()
        from_multi = [
            PluginRef(name=r.name, weight=r.weight) for r in multi if point in _points(r.name, implements)
        ]
        base = [ref for ref in from_multi if ref.name not in explicitly]
        merged = _merge(base, specific)
        for ref in merged:
            if point not in _points(ref.name, implements):
                raise ValueError(
                    f"profile {profile.scheduler_name!r}: plugin {ref.name!r} does not implement {point}"
                )
            if point == "score" and ref.weight:
                resolved.weights[ref.name] = ref.weight
        resolved.points[point] = [ref.name for ref in merged]
    for name in resolved.points["score"]:
        resolved.weights.setdefault(name, 1)
    if len(resolved.points["queueSort"]) != 1:
        raise ValueError(f"profile {profile.scheduler_name!r}: exactly one queueSort plugin must be enabled")
    if not resolved.points["bind"]:
        raise ValueError(f"profile {profile.scheduler_name!r}: at least one bind plugin must be enabled")
    return resolved


def _merge(defaults: list[PluginRef], custom: PluginSet | None) -> list[PluginRef]:
    if custom is None:
        return list(defaults)
    disabled = {ref.name for ref in custom.disabled}
    kept = [] if "*" in disabled else [ref for ref in defaults if ref.name not in disabled]
    by_name = {ref.name: index for index, ref in enumerate(kept)}
    for ref in custom.enabled:
        if (
            ref.name in by_name
        ):  # re-enabled with new settings: the custom entry replaces the default in place
            kept[by_name[ref.name]] = ref
        else:
            kept.append(ref)
    return kept


def _points(name: str, implements: dict[str, frozenset[str]]) -> frozenset[str]:
    if name not in implements:
        raise ValueError(f"unknown plugin {name!r}")
    return implements[name]


def _snake(point: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in point)


def plugin_args(profile: Profile, name: str) -> dict[str, Any]:
    for config in profile.plugin_config:
        if config.name == name:
            return config.args
    return {}
