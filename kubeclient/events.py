"""Events about objects (client-go's event recorder, core/v1 Events as `kubectl describe` shows them).

    recorder = EventRecorder(client, component="default-scheduler")
    tasks.create_task(recorder.run())
    recorder.event(pod, "Normal", "Scheduled", "Successfully assigned default/web to node-1")

`event()` never blocks and never fails the caller: events are written by `run()` in the background,
dropped (with a log line) when more than `max_pending` wait. A repeat of the same event for the same
object within ten minutes raises the first one's `count` and `lastTimestamp` instead of adding one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from componentbase.klog import get_logger
from kubeclient.errors import KubeClientError, is_not_found
from kubeclient.rest import Client

log = get_logger(__name__)
AGGREGATION_WINDOW = 600.0
CACHE_SIZE = 4096


def reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """The ObjectReference an event's involvedObject carries."""
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return {key: value for key, value in ref.items() if value}


class SpamFilter:
    """client-go's EventSourceObjectSpamFilter: a token bucket per (source, object) holding 25
    events, refilled at one per five minutes, so a ReplicaSet creating 10,000 pods records its
    first 25 "Created pod" events, not 10,000 API writes."""

    BURST = 25
    REFILL_PER_SECOND = 1 / 300

    def __init__(self, clock: Callable[[], float], max_keys: int = CACHE_SIZE) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[tuple[str, ...], tuple[float, float]] = OrderedDict()

    def allow(self, key: tuple[str, ...]) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(key, (float(self.BURST), now))
        tokens = min(float(self.BURST), tokens + (now - last) * self.REFILL_PER_SECOND)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(
        self, client: Client, component: str, host: str = "", max_pending: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self._pending: asyncio.Queue[tuple[dict[str, str], str, str, str, str]] = asyncio.Queue(max_pending)
        self._recent: OrderedDict[tuple[str, ...], tuple[str, str, int, float]] = OrderedDict()
        self._spam = SpamFilter(clock)

    def event(
        self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *, component: str | None = None
    ) -> None:
        """Record an event; `component` overrides the recorder's (kube-scheduler reports each
        profile's events under its schedulerName). Dropped when this source has recorded too many
        about this object lately (upstream's spam filter)."""
        ref, source = reference(obj), component or self.component
        if not self._spam.allow(
            (source, ref.get("kind", ""), ref.get("namespace", ""), ref.get("name", ""), ref.get("uid", ""))
        ):
            return
        try:
            self._pending.put_nowait((ref, type_, reason, message[:1024], source))
        except asyncio.QueueFull:
            log.warning(
                "Dropping an event, too many pending", reason=reason, object=reference(obj).get("name")
            )

    async def run(self) -> None:
        while True:
            ref, type_, reason, message, component = await self._pending.get()
            try:
                await self._write(ref, type_, reason, message, component)
            except KubeClientError as error:
                log.warning(
                    "Writing an event failed", reason=reason, object=ref.get("name"), error=str(error)
                )
            finally:
                self._pending.task_done()

    async def flush(self) -> None:
        """Wait until every pending event is written (tests, shutdown; bound it with a timeout)."""
        await self._pending.join()

    async def _write(
        self, ref: dict[str, str], type_: str, reason: str, message: str, component: str
    ) -> None:
        namespace = ref.get("namespace") or "default"
        key = (
            ref.get("uid", ""),
            ref.get("kind", ""),
            ref.get("name", ""),
            namespace,
            type_,
            reason,
            message,
        )
        now = datetime.now(UTC)
        seen = self._recent.get(key)
        if seen is not None and self.clock() - seen[3] < AGGREGATION_WINDOW:
            name, first, count, _ = seen
            patch = {"count": count + 1, "lastTimestamp": _timestamp(now)}
            try:
                await self.client.patch("events", name, patch, namespace=namespace)
                self._remember(key, (name, first, count + 1, self.clock()))
                return
            except KubeClientError as error:
                if not is_not_found(error):
                    raise
        name = f"{ref.get('name', 'object')}.{uuid.uuid4().hex[:16]}"
        stamp = _timestamp(now)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref,
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": self.host or component,
        }
        await self.client.create("events", body, namespace=namespace)
        self._remember(key, (name, stamp, 1, self.clock()))

    def _remember(self, key: tuple[str, ...], value: tuple[str, str, int, float]) -> None:
        self._recent[key] = value
        self._recent.move_to_end(key)
        while len(self._recent) > CACHE_SIZE:
            self._recent.popitem(last=False)
