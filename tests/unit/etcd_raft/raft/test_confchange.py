"""ConfChange: the wire format of CONF_CHANGE entries, and applying single-member changes."""

from __future__ import annotations

import pytest

from etcd_raft.raft import ConfChange, ConfChangeType, ConfState, decode_conf_change, encode_conf_change
from etcd_raft.raft.confchange import apply_change
from etcd_raft.raft.tracker import ProgressTracker


@pytest.mark.parametrize(
    "cc",
    [
        pytest.param(ConfChange(ConfChangeType.ADD_NODE, 1), id="add without context"),
        pytest.param(
            ConfChange(ConfChangeType.ADD_LEARNER_NODE, 2**64 - 1, b"http://a:2380"), id="largest id"
        ),
        pytest.param(ConfChange(ConfChangeType.REMOVE_NODE, 7), id="remove"),
        pytest.param(
            ConfChange(ConfChangeType.UPDATE_NODE, 3, b"\x00" * 1000), id="update with binary context"
        ),
    ],
)
def test_a_conf_change_survives_encoding(cc: ConfChange) -> None:
    assert decode_conf_change(encode_conf_change(cc)) == cc


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "shorter than its header", id="empty"),
        pytest.param(
            b"\x02" + encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1))[1:], "version", id="v2"
        ),
        pytest.param(
            encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1, b"ab"))[:-1], "context", id="cut"
        ),
        pytest.param(
            encode_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1)) + b"x", "context", id="trailing"
        ),
        pytest.param(b"\x01\x09" + bytes(12), "ConfChangeType", id="unknown type"),
    ],
)
def test_malformed_conf_changes_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_conf_change(data)


@pytest.mark.parametrize(
    ("change", "voters", "learners"),
    [
        pytest.param(ConfChange(ConfChangeType.ADD_NODE, 4), (1, 2, 3, 4), (9,), id="add a voter"),
        pytest.param(
            ConfChange(ConfChangeType.ADD_NODE, 2), (1, 2, 3), (9,), id="adding a voter again is a no-op"
        ),
        pytest.param(
            ConfChange(ConfChangeType.ADD_NODE, 9), (1, 2, 3, 9), (), id="adding a learner promotes it"
        ),
        pytest.param(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 4), (1, 2, 3), (4, 9), id="add a learner"),
        pytest.param(ConfChange(ConfChangeType.ADD_LEARNER_NODE, 3), (1, 2), (3, 9), id="demote a voter"),
        pytest.param(ConfChange(ConfChangeType.REMOVE_NODE, 2), (1, 3), (9,), id="remove a voter"),
        pytest.param(ConfChange(ConfChangeType.REMOVE_NODE, 9), (1, 2, 3), (), id="remove a learner"),
        pytest.param(
            ConfChange(ConfChangeType.REMOVE_NODE, 5), (1, 2, 3), (9,), id="removing a stranger: no-op"
        ),
        pytest.param(
            ConfChange(ConfChangeType.UPDATE_NODE, 1), (1, 2, 3), (9,), id="update changes no membership"
        ),
    ],
)
def test_applying_a_change_updates_voters_learners_and_progress(
    change: ConfChange, voters: tuple[int, ...], learners: tuple[int, ...]
) -> None:
    tracker = ProgressTracker.from_conf_state(ConfState(voters=(1, 2, 3), learners=(9,)), 4, last_index=5)
    apply_change(tracker, change, last_index=5)
    assert tracker.conf_state() == ConfState(voters=voters, learners=learners)
    assert set(tracker.progress) == set(voters) | set(learners)
    assert all(tracker.progress[v].is_learner is (v in learners) for v in tracker.progress)


def test_removing_the_last_voter_is_a_no_op_on_every_node() -> None:
    tracker = ProgressTracker.from_conf_state(ConfState(voters=(1,)), 4, last_index=5)
    apply_change(tracker, ConfChange(ConfChangeType.REMOVE_NODE, 1), last_index=5)
    assert tracker.conf_state() == ConfState(voters=(1,))
