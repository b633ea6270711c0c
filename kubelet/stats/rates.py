"""CPU usage rates from cumulative counters: usageNanoCores needs two samples, so the last sample of
each key (node, pod uid, container id) is kept. Keys not seen in a scrape are dropped."""

from __future__ import annotations


class CpuRates:
    def __init__(self) -> None:
        self._last: dict[str, tuple[int, int]] = {}  # key -> (usage ns, sample time ns)
        self._seen: set[str] = set()

    def rate(self, key: str, usage_ns: int, time_ns: int) -> int | None:
        """Nanocores used between the previous sample of `key` and this one; None on the first sample
        (or when the counter went backwards: a new container under the same key)."""
        self._seen.add(key)
        previous = self._last.get(key)
        if previous is not None and time_ns <= previous[1]:
            return None  # the same sample again: keep the older base
        self._last[key] = (usage_ns, time_ns)
        if previous is None or usage_ns < previous[0]:
            return None
        return (usage_ns - previous[0]) * 10**9 // (time_ns - previous[1])

    def end_scrape(self) -> None:
        for key in set(self._last) - self._seen:
            del self._last[key]
        self._seen.clear()
