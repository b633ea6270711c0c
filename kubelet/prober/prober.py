"""Runs one probe of a container and reports it (upstream prober.go): picks the runner from the probe's
handler, retries an attempt that errored (at most 3 tries), records events, and maps the outcome to
the published result.

Events go to `recorder(pod, type, reason, message)` with upstream's words:
    Warning Unhealthy     "Readiness probe failed: HTTP probe failed with statuscode: 500"
    Warning Unhealthy     "Liveness probe errored and resulted in unknown state: <error>"
    Warning ProbeWarning  "Readiness probe warning: Probe terminated redirects, Response body: ..."
`probe()` answers None when the probe errored: the worker throws that result away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from componentbase.klog import get_logger, obj_ref
from kubelet.prober.attempt import Attempt, errored
from kubelet.prober.exec_runner import ExecRuntime, expand_static_env, run_exec
from kubelet.prober.grpc_runner import run_grpc
from kubelet.prober.http_runner import new_client, run_http
from kubelet.prober.spec import Outcome, ProbeSpec, ProbeType, Result
from kubelet.prober.tcp_runner import run_tcp

log = get_logger(__name__)

MAX_TRIES = 3

Recorder = Callable[[Mapping[str, Any], str, str, str], None]


class Prober:
    def __init__(
        self, runtime: ExecRuntime, recorder: Recorder | None = None, http: httpx.AsyncClient | None = None
    ) -> None:
        self.runtime = runtime
        self.recorder = recorder
        self.http = http or new_client()

    async def close(self) -> None:
        await self.http.aclose()

    async def attempt(
        self, spec: ProbeSpec, container: Mapping[str, Any], container_id: str, pod_ip: str, pod_ref: str = ""
    ) -> Attempt:
        handler = spec.handler
        timeout = spec.timeout_seconds
        if isinstance(handler.get("exec"), Mapping):
            command = expand_static_env(handler["exec"].get("command") or [], container.get("env") or [])
            return await run_exec(self.runtime, container_id, command, timeout)
        if isinstance(handler.get("httpGet"), Mapping):
            return await run_http(self.http, handler["httpGet"], container, pod_ip, timeout)
        if isinstance(handler.get("tcpSocket"), Mapping):
            return await run_tcp(handler["tcpSocket"], container, pod_ip, timeout)
        if isinstance(handler.get("grpc"), Mapping):
            return await run_grpc(handler["grpc"], pod_ip, timeout)
        return errored(f"missing probe handler for {pod_ref}:{container.get('name', '')}")

    async def probe(
        self,
        probe_type: ProbeType,
        spec: ProbeSpec,
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        container_id: str,
        pod_ip: str,
    ) -> Result | None:
        attempt = errored("no attempt")
        for _ in range(MAX_TRIES):
            attempt = await self.attempt(spec, container, container_id, pod_ip, _pod_format(pod))
            if attempt.error is None:
                break
        fields = {"pod": obj_ref(pod), "containerName": container.get("name", "")}
        fields["probeType"] = str(probe_type)
        if attempt.error is not None:
            log.v(1).info("Probe errored", err=attempt.error, probeResult=str(attempt.outcome), **fields)
            self._event(
                pod,
                "Unhealthy",
                f"{probe_type} probe errored and resulted in {attempt.outcome} state: {attempt.error}",
            )
            return None
        if attempt.outcome is Outcome.SUCCESS:
            log.v(3).info("Probe succeeded", **fields)
            return Result.SUCCESS
        if attempt.outcome is Outcome.WARNING:
            self._event(pod, "ProbeWarning", f"{probe_type} probe warning: {attempt.output}")
            log.v(3).info("Probe succeeded with a warning", output=attempt.output, **fields)
            return Result.SUCCESS
        if attempt.outcome is Outcome.FAILURE:
            log.v(1).info("Probe failed", output=attempt.output, **fields)
            self._event(pod, "Unhealthy", f"{probe_type} probe failed: {attempt.output}")
        return Result.FAILURE

    def _event(self, pod: Mapping[str, Any], reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder(pod, "Warning", reason, message)


def _pod_format(pod: Mapping[str, Any]) -> str:
    """upstream format.Pod: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"
