"""The checker itself: it must accept real concurrency and catch stale or impossible reads."""

import math

from helpers.linearizability import Op, linearizable


def test_sequential_history_is_linearizable() -> None:
    assert linearizable(
        [Op(0, 1, "put", "a"), Op(2, 3, "get", "a"), Op(4, 5, "put", "b"), Op(6, 7, "get", "b")]
    )


def test_a_read_overlapping_a_write_may_see_either_value() -> None:
    write = Op(0, 10, "put", "a")
    assert linearizable([write, Op(1, 2, "get", None)])
    assert linearizable([write, Op(1, 2, "get", "a")])


def test_a_stale_read_after_a_completed_write_is_caught() -> None:
    assert not linearizable([Op(0, 1, "put", "a"), Op(2, 3, "put", "b"), Op(4, 5, "get", "a")])


def test_reads_may_not_go_back_in_time() -> None:
    history = [Op(0, 10, "put", "b"), Op(1, 2, "get", "b"), Op(3, 4, "get", None)]
    assert not linearizable(history)


def test_a_value_nobody_wrote_is_caught() -> None:
    assert not linearizable([Op(0, 1, "put", "a"), Op(2, 3, "get", "z")])


def test_a_write_with_unknown_outcome_may_or_may_not_have_happened() -> None:
    lost = Op(0, math.inf, "put", "a")
    assert linearizable([lost, Op(5, 6, "get", None)])
    assert linearizable([lost, Op(5, 6, "get", "a")])
    assert not linearizable([lost, Op(5, 6, "get", "a"), Op(7, 8, "get", None)])
