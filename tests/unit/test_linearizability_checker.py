"""The checker itself: it must accept real concurrency and catch stale or impossible reads."""

import math

import pytest
from helpers.linearizability import UNREAD, Op, Unread, linearizable


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


# ---- cas: etcd's Txn(If(value(key) == expected), Then(Put(key, new)), Else(Get(key))) ----


def cas(
    call: float,
    ret: float,
    expected: str | None,
    new: str,
    succeeded: bool | None,
    observed: str | Unread | None = UNREAD,
) -> Op:
    return Op(call, ret, "cas", new, expected=expected, succeeded=succeeded, observed=observed)


def test_a_sequential_swap_is_linearizable() -> None:
    history = [Op(0, 1, "put", "a"), cas(2, 3, "a", "b", True), Op(4, 5, "get", "b")]
    assert linearizable(history)


def test_a_swap_whose_compare_cannot_hold_is_caught() -> None:
    assert not linearizable([Op(0, 1, "put", "a"), cas(2, 3, "z", "b", True)])


def test_a_failed_swap_must_see_a_value_other_than_the_expected_one() -> None:
    assert linearizable(
        [Op(0, 1, "put", "a"), cas(2, 3, "z", "b", False, observed="a"), Op(4, 5, "get", "a")]
    )
    assert not linearizable([Op(0, 1, "put", "a"), cas(2, 3, "a", "b", False)])  # the compare held
    assert not linearizable([Op(0, 1, "put", "a"), cas(2, 3, "z", "b", False, observed="q")])


def test_two_swaps_from_one_value_cannot_both_win() -> None:
    """The lost update a compare-and-swap exists to prevent."""
    history = [Op(0, 1, "put", "a"), cas(2, 5, "a", "b", True), cas(3, 6, "a", "c", True)]
    assert not linearizable(history)
    assert linearizable([*history[:2], cas(3, 6, "a", "c", False, observed="b")])


def test_a_swap_overlapping_a_write_goes_before_or_after_it() -> None:
    start = [Op(0, 1, "put", "a"), Op(2, 10, "put", "c"), cas(3, 4, "a", "b", True)]
    assert linearizable([*start, Op(11, 12, "get", "c")])  # the swap came first
    assert not linearizable([*start, Op(11, 12, "get", "b")])  # "c" finished last


def test_a_swap_with_unknown_outcome_may_or_may_not_have_happened() -> None:
    start = [Op(0, 1, "put", "a"), cas(2, math.inf, "a", "b", None)]
    assert linearizable([*start, Op(5, 6, "get", "a")])
    assert linearizable([*start, Op(5, 6, "get", "b")])
    assert not linearizable([*start, Op(5, 6, "get", "b"), Op(7, 8, "get", "a")])


def test_a_swap_with_unknown_outcome_only_writes_if_its_compare_held() -> None:
    history = [Op(0, 1, "put", "a"), cas(2, math.inf, "z", "b", None), Op(5, 6, "get", "b")]
    assert not linearizable(history)


def test_expecting_none_means_the_key_is_absent() -> None:
    assert linearizable([cas(0, 1, None, "a", True), Op(2, 3, "get", "a")])
    assert not linearizable([Op(0, 1, "put", "x"), cas(2, 3, None, "a", True)])
    assert linearizable([Op(0, 1, "put", "x"), cas(2, 3, None, "a", False, observed="x")])


def test_a_cas_without_an_outcome_must_be_unknown() -> None:
    with pytest.raises(ValueError):
        Op(0, 1, "cas", "b", expected="a")
    with pytest.raises(ValueError):
        Op(0, math.inf, "cas", "b", expected="a", succeeded=True)
