"""kube-apiserver's metric names (the ones dashboards and SLO checks use), in Prometheus text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kubeapi.resources import Resource

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "apiserver_request_total",
    "Counter of apiserver requests broken out for each verb, group, version, resource and HTTP code.",
    ["verb", "group", "version", "resource", "subresource", "code"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "apiserver_request_duration_seconds",
    "Response latency distribution in seconds for each verb, group, version and resource.",
    ["verb", "group", "version", "resource"],
    buckets=(
        0.005,
        0.025,
        0.05,
        0.1,
        0.2,
        0.4,
        0.6,
        0.8,
        1.0,
        1.25,
        1.5,
        2,
        3,
        4,
        5,
        6,
        8,
        10,
        15,
        20,
        30,
        45,
        60,
    ),
    registry=REGISTRY,
)
WATCH_EVENTS = Counter(
    "apiserver_watch_events_total", "Number of events sent in watch clients.", registry=REGISTRY
)
STORAGE_OBJECTS = Gauge(
    "apiserver_storage_objects",
    "Number of stored objects at the time of last check split by kind.",
    ["resource"],
    registry=REGISTRY,
)


def observe(verb: str, resource: Resource | None, subresource: str | None, code: int, seconds: float) -> None:
    group = resource.group if resource else ""
    version = resource.version if resource else ""
    name = resource.name if resource else ""
    REQUESTS.labels(verb.upper(), group, version, name, subresource or "", str(code)).inc()
    DURATION.labels(verb.upper(), group, version, name).observe(seconds)


def render() -> bytes:
    return generate_latest(REGISTRY)
