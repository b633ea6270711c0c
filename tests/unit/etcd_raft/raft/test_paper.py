"""The Raft paper's claims (Figure 3, §5.4.2, §8), one test each, over long randomized runs.

Every run is seeded: partitions, isolations, crashes (some between taking a Ready and persisting it),
drops, delays, reordering, proposals, reads and membership changes are drawn from the seed, and every
claim is checked after every step. A failure names its profile, seed and tick; replay it with
`run_chaos(PROFILES[name], seed)` from raft_sim.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from raft_sim import (
    COMMIT_RULE,
    ELECTION_SAFETY,
    LEADER_APPEND_ONLY,
    LEADER_COMPLETENESS,
    LINEARIZABLE_READS,
    LOG_MATCHING,
    STATE_MACHINE_SAFETY,
    ChaosResult,
    Profile,
    run_chaos,
)

PROFILES: dict[str, Profile] = {
    "five nodes, lossy network": Profile(
        nodes=5, ticks=3000, drop_rate=0.05, max_delay=2, crash_rate=0.002, fault_rate=0.01
    ),
    "three nodes, one entry per message, frequent faults": Profile(
        nodes=3,
        ticks=3000,
        drop_rate=0.05,
        max_delay=4,
        crash_rate=0.005,
        fault_rate=0.09,
        max_size_per_msg=1,
        max_inflight_msgs=4,
    ),
    "five nodes, classic elections without pre-vote or check-quorum": Profile(
        nodes=5,
        ticks=3000,
        drop_rate=0.05,
        max_delay=3,
        crash_rate=0.002,
        fault_rate=0.03,
        read_rate=0.2,
        check_quorum=False,
        pre_vote=False,
    ),
    "membership churn": Profile(
        nodes=4, ticks=3000, drop_rate=0.03, max_delay=2, crash_rate=0.001, fault_rate=0.01, churn=0.01
    ),
}
SEEDS: dict[str, range] = {
    "five nodes, lossy network": range(10),
    "three nodes, one entry per message, frequent faults": range(10),
    "five nodes, classic elections without pre-vote or check-quorum": range(8),
    "membership churn": range(8),
}
HEAL_BOUND = 200  # ticks (20 election timeouts) for a stable leader once the network is healed
APPLY_BOUND = 100  # ticks for a proposal accepted after healing to be applied everywhere


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, int], ChaosResult]:
    return {
        (name, seed): run_chaos(profile, seed, heal_bound=HEAL_BOUND, apply_bound=APPLY_BOUND)
        for name, profile in PROFILES.items()
        for seed in SEEDS[name]
    }


def violations(runs: dict[tuple[str, int], ChaosResult], claim: str) -> list[str]:
    return [
        f"{name} seed {seed}: {v}" for (name, seed), run in runs.items() for v in run.violations[claim][:3]
    ]


def checked(runs: dict[tuple[str, int], ChaosResult], claim: str) -> int:
    return sum(run.checks[claim] for run in runs.values())


def test_election_safety_at_most_one_leader_per_term(runs: dict[tuple[str, int], ChaosResult]) -> None:
    assert violations(runs, ELECTION_SAFETY) == []
    assert sum(run.terms for run in runs.values()) > 20 * len(runs)  # many elections were contested
    assert checked(runs, ELECTION_SAFETY) > 0


def test_leader_append_only_a_leader_never_overwrites_or_deletes_its_entries(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, LEADER_APPEND_ONLY) == []
    assert checked(runs, LEADER_APPEND_ONLY) > 0


def test_log_matching_same_index_and_term_means_identical_prefixes(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, LOG_MATCHING) == []
    assert checked(runs, LOG_MATCHING) > 0


def test_leader_completeness_every_leader_has_all_entries_committed_before_its_term(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, LEADER_COMPLETENESS) == []
    assert checked(runs, LEADER_COMPLETENESS) > 0


def test_state_machine_safety_no_two_nodes_apply_different_entries_at_an_index(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, STATE_MACHINE_SAFETY) == []
    assert checked(runs, STATE_MACHINE_SAFETY) > 0
    assert all(run.snapshots_sent > 0 for run in runs.values())  # catching up by snapshot was exercised


def test_leaders_commit_only_entries_of_their_own_term_by_counting_replicas(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, COMMIT_RULE) == []
    assert checked(runs, COMMIT_RULE) > 0


def test_read_index_returns_a_point_at_or_after_everything_committed_before_the_read(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    assert violations(runs, LINEARIZABLE_READS) == []
    assert checked(runs, LINEARIZABLE_READS) > 0


def test_membership_changes_were_exercised(runs: dict[tuple[str, int], ChaosResult]) -> None:
    churned = [run.conf_changes for (name, _), run in runs.items() if PROFILES[name].churn]
    assert churned and all(n >= 5 for n in churned)


def test_a_seeded_run_replays_exactly() -> None:
    profile = replace(PROFILES["membership churn"], ticks=400)
    assert run_chaos(profile, seed=99) == run_chaos(profile, seed=99)
    assert run_chaos(profile, seed=99) != run_chaos(profile, seed=98)


def test_liveness_a_leader_is_elected_within_bound_after_the_network_heals(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    no_leader = [key for key, run in runs.items() if run.ticks_to_leader is None]
    assert no_leader == []


def test_liveness_every_proposal_a_leader_accepts_after_healing_is_applied_everywhere(
    runs: dict[tuple[str, int], ChaosResult],
) -> None:
    lost = {key: run.lost_after_heal for key, run in runs.items() if run.lost_after_heal}
    assert lost == {}
