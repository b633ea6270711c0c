"""client-go's rate-limited work queue: keys in, workers out, never one key in two workers.

    queue = WorkQueue(name="replicaset")
    queue.add("default/web")                 # from an informer handler
    key = await queue.get()                  # in a worker
    try:
        await reconcile(key)
        queue.forget(key)                    # success: reset the key's back-off
    except Exception:
        queue.add_rate_limited(key)          # failure: retry after its back-off
    finally:
        queue.done(key)

A key added while it is being processed is processed again after `done` (the level changed while
we worked); a key added twice before a worker takes it is processed once. The default rate limiter is
client-go's: the larger of a per-key exponential back-off (5 ms doubling to 1000 s) and an overall
token bucket (10 per second, burst 100).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable

Clock = Callable[[], float]


class ExponentialBackoff:
    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base, self.cap = base, cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        return float(min(self.base * 2**failures, self.cap))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class TokenBucket:
    """Delays that keep the overall rate at `qps` with `burst` tokens saved up (reservations, as
    golang.org/x/time/rate does: each call reserves the next token and returns how long to wait)."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = time.monotonic) -> None:
        self.qps, self.burst, self.clock = qps, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, item: Hashable) -> float:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    def __init__(self, *limiters: ExponentialBackoff | TokenBucket) -> None:
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def requeues(self, item: Hashable) -> int:
        return max(limiter.requeues(item) for limiter in self.limiters)


def default_rate_limiter(clock: Clock = time.monotonic) -> MaxOfRateLimiter:
    return MaxOfRateLimiter(ExponentialBackoff(), TokenBucket(clock=clock))


class ShutDown(Exception):
    """get() on a queue that was shut down: the worker should return."""


class WorkQueue:
    def __init__(
        self, name: str = "", rate_limiter: MaxOfRateLimiter | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.name = name
        self.clock = clock
        self.rate_limiter = rate_limiter or default_rate_limiter(clock)
        self._queue: deque[Hashable] = deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._waiting: list[tuple[float, int, Hashable]] = []
        self._sequence = itertools.count()
        self._changed = asyncio.Event()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, item: Hashable) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item not in self._processing:
            self._queue.append(item)
            self._changed.set()

    def add_after(self, item: Hashable, delay: float) -> None:
        if delay <= 0:
            self.add(item)
            return
        heapq.heappush(self._waiting, (self.clock() + delay, next(self._sequence), item))
        self._changed.set()

    def add_rate_limited(self, item: Hashable) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: Hashable) -> None:
        self.rate_limiter.forget(item)

    def requeues(self, item: Hashable) -> int:
        return self.rate_limiter.requeues(item)

    def get_nowait(self) -> Hashable | None:
        """The next ready key (marked processing), or None."""
        self._move_due()
        if not self._queue:
            return None
        item = self._queue.popleft()
        self._processing.add(item)
        self._dirty.discard(item)
        return item

    async def get(self) -> Hashable:
        while True:
            if self._shutting_down:
                raise ShutDown(self.name)
            item = self.get_nowait()
            if item is not None:
                return item
            self._changed.clear()
            timeout = self._waiting[0][0] - self.clock() if self._waiting else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def done(self, item: Hashable) -> None:
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._changed.set()

    def shut_down(self) -> None:
        self._shutting_down = True
        self._changed.set()

    def _move_due(self) -> None:
        now = self.clock()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, item = heapq.heappop(self._waiting)
            self.add(item)
