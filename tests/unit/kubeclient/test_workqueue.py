"""The work queue's contract with workers: one key once at a time, re-processing after done when
added meanwhile, and client-go's rate limiting."""

from __future__ import annotations

import asyncio

from kubeclient.workqueue import ExponentialBackoff, MaxOfRateLimiter, TokenBucket, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_twice_before_a_worker_takes_it_is_processed_once() -> None:
    queue = WorkQueue()
    queue.add("a")
    queue.add("a")
    assert queue.get_nowait() == "a"
    assert queue.get_nowait() is None


def test_a_key_added_while_processing_comes_back_only_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert queue.get_nowait() == "a"
    queue.add("a")
    assert queue.get_nowait() is None  # never two workers on one key
    queue.done("a")
    assert queue.get_nowait() == "a"


def test_add_after_waits_for_the_clock() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_after("a", 5.0)
    assert queue.get_nowait() is None
    clock.now = 5.0
    assert queue.get_nowait() == "a"


def test_per_key_backoff_doubles_from_5ms_and_forget_resets_it() -> None:
    backoff = ExponentialBackoff()
    assert [backoff.when("a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert backoff.requeues("a") == 4
    assert backoff.when("b") == 0.005
    backoff.forget("a")
    assert backoff.when("a") == 0.005


def test_backoff_is_capped() -> None:
    backoff = ExponentialBackoff(base=1.0, cap=10.0)
    assert [backoff.when("a") for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_bucket_allows_a_burst_then_paces_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=10.0, burst=2, clock=clock)
    assert [bucket.when(i) for i in range(4)] == [0.0, 0.0, 0.1, 0.2]
    clock.now = 10.0
    assert bucket.when("x") == 0.0


def test_the_default_limiter_takes_the_larger_delay() -> None:
    clock = FakeClock()
    limiter = MaxOfRateLimiter(ExponentialBackoff(), TokenBucket(qps=1.0, burst=1, clock=clock))
    assert limiter.when("a") == 0.005
    assert limiter.when("b") == 1.0


async def test_get_waits_until_a_key_is_added_and_shut_down_ends_workers() -> None:
    queue = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.add("a")
    assert await asyncio.wait_for(waiter, 1.0) == "a"
