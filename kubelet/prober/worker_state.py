"""One probe of one container as a pure state machine: upstream's prober worker (worker.go doProbe),
with time and the probe call taken out.

The worker asks `before_probe(now, pod, container, started)` on every tick: it answers PROBE, WAIT
(nothing to do this tick) or STOP (the worker ends), and may publish a result on the way (the initial
value for a new container, Failure for one that stopped running, Success for a pod being deleted).
After a probe ran, `after_probe(result)` counts the run of equal results and publishes once
failureThreshold failures or successThreshold successes are in a row. A failed liveness or startup
probe puts the worker on hold until the container is replaced (a new container id), whose results
start over from the initial value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kubelet.prober.spec import INITIAL_RESULT, ProbeSpec, ProbeType, Result


@dataclass(frozen=True)
class RunningContainer:
    """The probed container as the pod worker last saw it in the runtime.

    `started_at` is seconds since the epoch; `running` is False for a created-but-not-started or an
    exited container; `exited` marks one that ran and stopped (it will only come back as a new id)."""

    id: str
    started_at: float
    running: bool = True
    exited: bool = False


@dataclass(frozen=True)
class PodView:
    """What the worker needs of the pod itself."""

    terminal: bool = False  # phase Succeeded or Failed
    deleting: bool = False  # metadata.deletionTimestamp is set
    restart_never: bool = False  # spec.restartPolicy Never


class Step(StrEnum):
    PROBE = "probe"
    WAIT = "wait"
    STOP = "stop"


class ProbeState:
    def __init__(self, probe_type: ProbeType, spec: ProbeSpec) -> None:
        self.probe_type = probe_type
        self.spec = spec
        self.container_id = ""
        self.result: Result | None = None  # published for container_id; None: nothing published
        self.on_hold = False
        self._last: Result | None = None
        self._run = 0

    def _publish(self, result: Result) -> None:
        self.result = result

    def before_probe(
        self, now: float, pod: PodView, container: RunningContainer | None, *, started: bool
    ) -> Step:
        if pod.terminal:
            return Step.STOP
        if container is None or not container.id:
            return Step.WAIT  # not created yet, or already removed
        if container.id != self.container_id:
            self.container_id = container.id
            self._publish(INITIAL_RESULT[self.probe_type])
            self.on_hold = False  # a new container: probing resumes
        if self.on_hold:
            return Step.WAIT
        if not container.running:
            self._publish(Result.FAILURE)
            # An exited container of a pod that never restarts will not come back.
            return Step.STOP if container.exited and pod.restart_never else Step.WAIT
        if pod.deleting and self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP):
            self._publish(Result.SUCCESS)  # a quiet shutdown: no restart while the pod terminates
            return Step.STOP
        if int(now - container.started_at) < self.spec.initial_delay_seconds:
            return Step.WAIT
        if started:
            # Startup is done; the worker stays for the next container, which starts over.
            return Step.WAIT if self.probe_type is ProbeType.STARTUP else Step.PROBE
        # Liveness and readiness wait for the startup probe to succeed.
        return Step.PROBE if self.probe_type is ProbeType.STARTUP else Step.WAIT

    def after_probe(self, result: Result) -> None:
        """Count one probe's result (Success or Failure) and publish it once its threshold is met."""
        if result == self._last:
            self._run += 1
        else:
            self._last, self._run = result, 1
        if result is Result.FAILURE and self._run < self.spec.failure_threshold:
            return
        if result is Result.SUCCESS and self._run < self.spec.success_threshold:
            return
        self._publish(result)
        if result is Result.FAILURE and self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP):
            # The container will be restarted: stop probing it (exec into a dying container can
            # wedge it) until a new container id shows up.
            self.on_hold = True
            self._run = 0
