"""The per-probe state machine (upstream worker.go doProbe) with plain times: thresholds, initial
delay, startup gating, on-hold after a liveness failure, and what non-running containers publish."""

from __future__ import annotations

from kubelet.prober.spec import ProbeSpec, ProbeType, Result, container_probe
from kubelet.prober.worker_state import PodView, ProbeState, RunningContainer, Step

POD = PodView()
T0 = 1_000.0


def running(cid: str = "c1", started_at: float = T0) -> RunningContainer:
    return RunningContainer(cid, started_at)


def test_spec_defaults_and_clamps() -> None:
    spec = container_probe({"readinessProbe": {"exec": {"command": ["true"]}}}, ProbeType.READINESS)
    assert spec is not None
    assert (spec.initial_delay_seconds, spec.timeout_seconds, spec.period_seconds) == (0, 1, 10)
    assert (spec.success_threshold, spec.failure_threshold) == (1, 3)
    liveness = ProbeSpec.from_probe(ProbeType.LIVENESS, {"successThreshold": 5, "periodSeconds": 0})
    assert liveness.success_threshold == 1, "liveness and startup need exactly one success"
    assert liveness.period_seconds == 1
    assert container_probe({"name": "c"}, ProbeType.LIVENESS) is None


def test_readiness_is_failure_until_success_threshold_then_flips_after_failure_threshold() -> None:
    state = ProbeState(ProbeType.READINESS, ProbeSpec(success_threshold=2, failure_threshold=2))
    assert state.result is None, "nothing published before the container is seen"
    assert state.before_probe(T0, POD, running(), started=True) is Step.PROBE
    assert state.result is Result.FAILURE, "readiness starts as Failure (Unknown -> not ready)"
    state.after_probe(Result.SUCCESS)
    assert state.result is Result.FAILURE, "one success of two"
    state.after_probe(Result.SUCCESS)
    assert state.result is Result.SUCCESS
    state.after_probe(Result.FAILURE)
    assert state.result is Result.SUCCESS, "one failure of two"
    state.after_probe(Result.SUCCESS)
    state.after_probe(Result.FAILURE)
    assert state.result is Result.SUCCESS, "the run of failures restarted"
    state.after_probe(Result.FAILURE)
    assert state.result is Result.FAILURE
    assert not state.on_hold, "readiness failures do not hold the worker"


def test_initial_delay_counts_from_the_container_start() -> None:
    state = ProbeState(ProbeType.LIVENESS, ProbeSpec(initial_delay_seconds=5))
    container = running(started_at=T0)
    assert state.before_probe(T0 + 4.9, POD, container, started=True) is Step.WAIT
    assert state.result is Result.SUCCESS, "liveness starts as Success"
    assert state.before_probe(T0 + 5.0, POD, container, started=True) is Step.PROBE


def test_liveness_failure_holds_until_a_new_container_then_starts_over() -> None:
    state = ProbeState(ProbeType.LIVENESS, ProbeSpec(failure_threshold=3))
    assert state.before_probe(T0, POD, running("c1"), started=True) is Step.PROBE
    for _ in range(2):
        state.after_probe(Result.FAILURE)
        assert state.result is Result.SUCCESS
    state.after_probe(Result.FAILURE)
    assert state.result is Result.FAILURE
    assert state.on_hold
    assert state.before_probe(T0 + 10, POD, running("c1"), started=True) is Step.WAIT, "on hold"
    assert state.result is Result.FAILURE
    assert state.before_probe(T0 + 20, POD, running("c2", T0 + 19), started=True) is Step.PROBE
    assert (state.container_id, state.result, state.on_hold) == ("c2", Result.SUCCESS, False)
    state.after_probe(Result.FAILURE)
    assert state.result is Result.SUCCESS, "the count started over for the new container"


def test_startup_probe_gates_liveness_and_readiness() -> None:
    startup = ProbeState(ProbeType.STARTUP, ProbeSpec(failure_threshold=30))
    liveness = ProbeState(ProbeType.LIVENESS, ProbeSpec())
    readiness = ProbeState(ProbeType.READINESS, ProbeSpec())
    container = running()
    assert startup.before_probe(T0, POD, container, started=False) is Step.PROBE
    assert startup.result is Result.UNKNOWN, "startup starts as Unknown"
    assert liveness.before_probe(T0, POD, container, started=False) is Step.WAIT
    assert readiness.before_probe(T0, POD, container, started=False) is Step.WAIT
    startup.after_probe(Result.SUCCESS)
    assert startup.result is Result.SUCCESS
    assert startup.before_probe(T0 + 1, POD, container, started=True) is Step.WAIT, "startup is done"
    assert liveness.before_probe(T0 + 1, POD, container, started=True) is Step.PROBE
    assert readiness.before_probe(T0 + 1, POD, container, started=True) is Step.PROBE


def test_startup_failure_holds_like_liveness() -> None:
    startup = ProbeState(ProbeType.STARTUP, ProbeSpec(failure_threshold=2))
    startup.before_probe(T0, POD, running(), started=False)
    startup.after_probe(Result.FAILURE)
    assert startup.result is Result.UNKNOWN
    startup.after_probe(Result.FAILURE)
    assert (startup.result, startup.on_hold) == (Result.FAILURE, True)


def test_not_running_container_publishes_failure_and_stops_only_when_it_will_not_restart() -> None:
    state = ProbeState(ProbeType.READINESS, ProbeSpec())
    assert state.before_probe(T0, POD, None, started=False) is Step.WAIT, "not created yet"
    assert state.result is None
    created = RunningContainer("c1", 0.0, running=False)
    assert state.before_probe(T0, POD, created, started=False) is Step.WAIT
    assert state.result is Result.FAILURE
    exited = RunningContainer("c1", T0, running=False, exited=True)
    assert state.before_probe(T0, POD, exited, started=False) is Step.WAIT, "restartPolicy Always"
    never = PodView(restart_never=True)
    assert state.before_probe(T0, never, exited, started=False) is Step.STOP


def test_terminal_pod_stops_and_deleting_pod_quiets_liveness_but_not_readiness() -> None:
    state = ProbeState(ProbeType.READINESS, ProbeSpec())
    assert state.before_probe(T0, PodView(terminal=True), running(), started=True) is Step.STOP
    deleting = PodView(deleting=True)
    assert state.before_probe(T0, deleting, running(), started=True) is Step.PROBE
    liveness = ProbeState(ProbeType.LIVENESS, ProbeSpec())
    liveness.before_probe(T0, POD, running(), started=True)
    liveness.after_probe(Result.FAILURE)
    assert liveness.before_probe(T0, deleting, running(), started=True) is Step.STOP
    assert liveness.result is Result.SUCCESS, "no restart while the pod shuts down"
