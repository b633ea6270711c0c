"""What a probe is: its kind, its result values, and its settings read from a container spec.

Defaults and minimums are the API's (core/v1 Probe): timeoutSeconds 1, periodSeconds 10,
successThreshold 1, failureThreshold 3, initialDelaySeconds 0. Liveness and startup probes must have
successThreshold 1; the apiserver validates that, and we clamp rather than trust a static pod file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ProbeType(StrEnum):
    """The probe's role; the value is how upstream prints it in events and metrics."""

    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        return {"Liveness": "livenessProbe", "Readiness": "readinessProbe", "Startup": "startupProbe"}[self]


class Result(StrEnum):
    """A published probe result (upstream prober/results): what readiness, startup and restarts read."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"


class Outcome(StrEnum):
    """What one probe attempt saw (upstream pkg/probe.Result); WARNING counts as success."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "unknown"


# The published value a worker starts from for each new container, before its first probe.
INITIAL_RESULT = {
    ProbeType.READINESS: Result.FAILURE,
    ProbeType.LIVENESS: Result.SUCCESS,
    ProbeType.STARTUP: Result.UNKNOWN,
}


def _seconds(raw: Mapping[str, Any], key: str, default: int, minimum: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    try:
        return max(int(value), minimum)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class ProbeSpec:
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    handler: dict[str, Any] = field(default_factory=dict)  # the probe dict: exec/httpGet/tcpSocket/grpc

    @classmethod
    def from_probe(cls, probe_type: ProbeType, raw: Mapping[str, Any]) -> ProbeSpec:
        success = _seconds(raw, "successThreshold", 1, 1)
        if probe_type is not ProbeType.READINESS:
            success = 1
        return cls(
            initial_delay_seconds=_seconds(raw, "initialDelaySeconds", 0, 0),
            timeout_seconds=_seconds(raw, "timeoutSeconds", 1, 1),
            period_seconds=_seconds(raw, "periodSeconds", 10, 1),
            success_threshold=success,
            failure_threshold=_seconds(raw, "failureThreshold", 3, 1),
            handler=dict(raw),
        )


def container_probe(container: Mapping[str, Any], probe_type: ProbeType) -> ProbeSpec | None:
    raw = container.get(probe_type.field)
    return ProbeSpec.from_probe(probe_type, raw) if isinstance(raw, Mapping) else None
