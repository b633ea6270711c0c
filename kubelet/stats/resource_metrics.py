"""/metrics/resource in Prometheus text format (upstream pkg/kubelet/metrics/collectors/resource_metrics.go),
rendered from a /stats/summary document. Sample times are the stats' own, in milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelet.eviction.signals import parse_time

_HELP = {
    "node_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the node in core-seconds"),
    "node_memory_working_set_bytes": ("gauge", "Current working set of the node in bytes"),
    "container_cpu_usage_seconds_total": (
        "counter",
        "Cumulative cpu time consumed by the container in core-seconds",
    ),
    "container_memory_working_set_bytes": ("gauge", "Current working set of the container in bytes"),
    "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch in seconds"),
    "pod_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed by the pod in core-seconds"),
    "pod_memory_working_set_bytes": ("gauge", "Current working set of the pod in bytes"),
    "scrape_error": ("gauge", "1 if there was an error while getting container metrics, 0 otherwise"),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    """Integers without a fraction, other numbers as Python's shortest round-trip repr."""
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def render_resource_metrics(summary: Mapping[str, Any], *, scrape_error: bool) -> str:
    samples: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(name: str, labels: Mapping[str, str], value: float | None, when: Any = None) -> None:
        if value is None:
            return
        stamp = parse_time(when)
        suffix = f" {int(stamp * 1000)}" if stamp else ""
        samples[name].append(f"{name}{_labels(labels)} {_number(value)}{suffix}")

    node = summary.get("node") or {}
    cpu, memory = node.get("cpu") or {}, node.get("memory") or {}
    if "usageCoreNanoSeconds" in cpu:
        add("node_cpu_usage_seconds_total", {}, cpu["usageCoreNanoSeconds"] / 1e9, cpu.get("time"))
    add("node_memory_working_set_bytes", {}, memory.get("workingSetBytes"), memory.get("time"))
    for pod in summary.get("pods") or []:
        ref = pod.get("podRef") or {}
        pod_labels = {"namespace": ref.get("namespace", ""), "pod": ref.get("name", "")}
        for container in pod.get("containers") or []:
            labels = {"container": container.get("name", ""), **pod_labels}
            c_cpu, c_memory = container.get("cpu") or {}, container.get("memory") or {}
            if "usageCoreNanoSeconds" in c_cpu:
                seconds = c_cpu["usageCoreNanoSeconds"] / 1e9
                add("container_cpu_usage_seconds_total", labels, seconds, c_cpu.get("time"))
            working_set = c_memory.get("workingSetBytes")
            add("container_memory_working_set_bytes", labels, working_set, c_memory.get("time"))
            start = parse_time(container.get("startTime"))
            if start:
                add("container_start_time_seconds", labels, start)
        p_cpu, p_memory = pod.get("cpu") or {}, pod.get("memory") or {}
        if "usageCoreNanoSeconds" in p_cpu:
            seconds = p_cpu["usageCoreNanoSeconds"] / 1e9
            add("pod_cpu_usage_seconds_total", pod_labels, seconds, p_cpu.get("time"))
        add("pod_memory_working_set_bytes", pod_labels, p_memory.get("workingSetBytes"), p_memory.get("time"))
    add("scrape_error", {}, 1 if scrape_error else 0)
    lines = []
    for name, (kind, text) in _HELP.items():
        if not samples[name]:
            continue
        lines += [f"# HELP {name} [STABLE] {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"
