"""The membership and what the leader tracks about it: voters, learners, their progress, votes.

Quorum is a simple majority of the voters (no joint consensus: membership changes one member at a
time, which keeps any two majorities of consecutive configurations overlapping).
"""

from __future__ import annotations

from enum import Enum

from etcd_raft.raft.progress import Progress
from etcd_raft.raft.types import ConfState


class VoteResult(Enum):
    PENDING = "pending"
    LOST = "lost"
    WON = "won"


class ProgressTracker:
    __slots__ = ("learners", "max_inflight", "progress", "voters", "votes")

    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}

    def conf_state(self) -> ConfState:
        return ConfState(voters=tuple(sorted(self.voters)), learners=tuple(sorted(self.learners)))

    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def is_singleton(self) -> bool:
        return len(self.voters) == 1

    def committed(self) -> int:
        """The largest index a majority of voters has (0 without voters)."""
        voters = self.voters
        n = len(voters)
        if n == 0:
            return 0
        progress = self.progress
        if n == 1:
            for v in voters:
                return progress[v].match
        matches = sorted([progress[v].match for v in voters])
        return matches[n - (n // 2 + 1)]

    def quorum_active(self) -> bool:
        """Whether a majority of voters was heard from recently (the caller counts itself active)."""
        progress = self.progress
        return sum(1 for v in self.voters if progress[v].recent_active) >= self.quorum()

    def has_quorum(self, ids: set[int]) -> bool:
        return len(self.voters & ids) >= self.quorum()

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        self.votes.setdefault(node_id, granted)

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        granted = rejected = 0
        for v in self.voters:
            vote = self.votes.get(v)
            if vote is True:
                granted += 1
            elif vote is False:
                rejected += 1
        q = self.quorum()
        if granted >= q:
            result = VoteResult.WON
        elif len(self.voters) - rejected >= q:
            result = VoteResult.PENDING
        else:
            result = VoteResult.LOST
        return granted, rejected, result

    def add(self, node_id: int, next_index: int, *, is_learner: bool, recent_active: bool) -> None:
        self.progress[node_id] = Progress(
            next_index, self.max_inflight, is_learner=is_learner, recent_active=recent_active
        )
        (self.learners if is_learner else self.voters).add(node_id)

    @classmethod
    def from_conf_state(cls, conf_state: ConfState, max_inflight: int, last_index: int) -> ProgressTracker:
        tracker = cls(max_inflight)
        for v in conf_state.voters:
            tracker.add(v, last_index + 1, is_learner=False, recent_active=True)
        for learner in conf_state.learners:
            tracker.add(learner, last_index + 1, is_learner=True, recent_active=True)
        return tracker
