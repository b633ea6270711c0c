"""Who may write the lease, decided on this candidate's own clock, and what it writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeclient.leaderelection import LeaderElector, LeaseConfig, next_spec

NOW = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elector(identity: str = "me", clock: FakeClock | None = None) -> LeaderElector:
    return LeaderElector(
        client=None, config=LeaseConfig("kube-system", "kube-scheduler", identity), clock=clock or FakeClock()
    )  # type: ignore[arg-type]


def held_by(holder: str | None, duration: int = 15) -> dict[str, Any]:
    return {
        "holderIdentity": holder,
        "leaseDurationSeconds": duration,
        "renewTime": "2026-11-26T11:59:59.000000Z",
    }


def test_a_free_or_released_lease_may_be_taken() -> None:
    candidate = elector()
    assert candidate.may_take(None, 0.0)
    assert candidate.may_take(held_by(None), 0.0)


def test_another_holders_lease_is_taken_only_after_its_duration_on_our_clock() -> None:
    clock = FakeClock()
    candidate = elector(clock=clock)
    candidate._observe({"spec": held_by("other")})
    assert not candidate.may_take(held_by("other"), clock.now + 14.9)
    assert candidate.may_take(held_by("other"), clock.now + 15.0)


def test_a_renewal_seen_restarts_the_wait() -> None:
    clock = FakeClock()
    candidate = elector(clock=clock)
    candidate._observe({"spec": held_by("other")})
    clock.now += 10
    renewed = {**held_by("other"), "renewTime": "2026-11-26T12:00:09.000000Z"}
    candidate._observe({"spec": renewed})
    assert not candidate.may_take(renewed, clock.now + 14.0)


def test_taking_a_lease_counts_a_transition_and_renewing_keeps_the_acquire_time() -> None:
    config = LeaseConfig("kube-system", "kube-scheduler", "me")
    taken = next_spec(held_by("other") | {"leaseTransitions": 2}, config, NOW)
    assert taken["holderIdentity"] == "me"
    assert taken["leaseTransitions"] == 3
    assert taken["acquireTime"] == taken["renewTime"] == "2026-11-26T12:00:00.123456Z"
    renewed = next_spec(taken, config, NOW.replace(second=2))
    assert renewed["acquireTime"] == taken["acquireTime"]
    assert renewed["renewTime"] == "2026-11-26T12:00:02.123456Z"
    assert renewed["leaseTransitions"] == 3


def test_the_first_holder_starts_at_zero_transitions() -> None:
    assert next_spec(None, LeaseConfig("ns", "l", "me"), NOW)["leaseTransitions"] == 0
