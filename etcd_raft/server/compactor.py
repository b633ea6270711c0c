"""--auto-compaction-mode/--auto-compaction-retention, like etcd's compactor. Pure: the leader
feeds it the time and the current revision and proposes the compactions it asks for."""

from __future__ import annotations

from collections import deque

from componentbase.flags import parse_duration

REVISION_CHECK_SECONDS = 300.0  # etcd's revision compactor looks every five minutes


def retention_seconds(text: str) -> float:
    """etcd reads a bare number as hours ("1" = 1h), else a Go duration ("30m")."""
    try:
        return float(text) * 3600
    except ValueError:
        return parse_duration(text)


class AutoCompactor:
    def __init__(self, mode: str, retention: str) -> None:
        self.mode = mode
        if mode == "revision":
            self.keep_revisions = int(retention)
            self.window = REVISION_CHECK_SECONDS
        else:
            self.window = retention_seconds(retention)
        self.enabled = self.window > 0 and (mode != "revision" or self.keep_revisions > 0)
        self._samples: deque[tuple[float, int]] = deque()
        self._next_check = 0.0
        self._compacted = 0

    def observe(self, now: float, revision: int) -> int | None:
        """The revision to compact to now, if any."""
        if not self.enabled or now < self._next_check:
            return None
        if self.mode == "revision":
            self._next_check = now + self.window
            target = revision - self.keep_revisions
        else:
            # periodic: keep `window` of history; look ten times per window, like etcd
            self._next_check = now + max(self.window / 10, 1.0)
            self._samples.append((now, revision))
            target = 0
            while self._samples and self._samples[0][0] <= now - self.window:
                target = self._samples.popleft()[1]
        if target <= self._compacted:
            return None
        self._compacted = target
        return target
