"""The proxier's shell: informer events -> ChangeTracker -> a bounded-frequency sync -> render -> apply.

    proxier = Proxier(applier, render, node, min_sync_period=1.0, sync_period=30.0, health=health)
    services.add_handler(*proxier.service_handlers())
    slices.add_handler(*proxier.slice_handlers())
    await proxier.run()          # after the informers have synced

Timing is upstream's BoundedFrequencyRunner: a change syncs at once if the token bucket (burst 2, one
token per minSyncPeriod) allows, else as soon as it does; nothing changing still syncs every syncPeriod.
The first sync and every sync at least syncPeriod after the last full one are full syncs; the others
rewrite only the changed services (the renderer's `changed`). A failed apply retries after syncPeriod
as a full sync, because the changes it carried were already taken from the tracker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from componentbase.klog import get_logger
from kubeproxy import metrics
from kubeproxy.apply import ApplyError, rules_per_table
from kubeproxy.healthcheck import ProxyHealth, ServiceHealthServers, ServiceKey
from kubeproxy.model import ChangeTracker, NodeConfig, ProxyState, ServicePortName, uses_local_endpoints

log = get_logger(__name__)

Render = Callable[[ProxyState, NodeConfig, "set[ServicePortName] | None", "str | None"], str]
"""(state, node, changed or None for a full sync, the applier's view of the kernel's current rules)
-> the ruleset text to apply."""
Obj = dict[str, Any]
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"


class Applier(Protocol):
    mode: str

    async def current(self) -> str | None: ...

    async def apply(self, text: str, *, full: bool) -> None: ...


class SyncSchedule:
    """When the next sync may run: upstream's BoundedFrequencyRunner timing as a pure object over a
    clock's readings (seconds)."""

    def __init__(self, min_interval: float, max_interval: float, burst: int = 2, now: float = 0.0) -> None:
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.burst = burst
        self.tokens = float(burst)
        self.refilled_at = now
        self.pending = True  # the first sync runs at once
        self.retry_at = math.inf
        self.periodic_at = now + max_interval

    def request(self) -> None:
        """Something changed: run as soon as the rate limit allows."""
        self.pending = True

    def retry_after(self, now: float, delay: float) -> None:
        self.retry_at = min(self.retry_at, now + delay)

    def _refill(self, now: float) -> None:
        if self.min_interval <= 0:
            self.tokens = float(self.burst)
        elif now > self.refilled_at:
            self.tokens = min(float(self.burst), self.tokens + (now - self.refilled_at) / self.min_interval)
        self.refilled_at = max(self.refilled_at, now)

    def next_run(self, now: float) -> float:
        """The clock reading at which the next sync should start (<= now: start it now)."""
        wanted = min(self.periodic_at, self.retry_at, now if self.pending else math.inf)
        self._refill(now)
        if self.tokens >= 1:
            return wanted
        return max(wanted, now + (1 - self.tokens) * self.min_interval)

    def ran(self, now: float) -> None:
        self._refill(now)
        self.tokens = max(0.0, self.tokens - 1)
        self.pending = False
        self.retry_at = math.inf
        self.periodic_at = now + self.max_interval


class Proxier:
    def __init__(
        self,
        applier: Applier,
        render: Render,
        node: NodeConfig,
        *,
        min_sync_period: float,
        sync_period: float,
        health: ProxyHealth,
        node_ips: Callable[[], Awaitable[tuple[str, ...]]] | None = None,
        service_health: ServiceHealthServers | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.applier = applier
        self.render = render
        self.node = node
        self.sync_period = sync_period
        self.health = health
        self.node_ips = node_ips
        self.service_health = service_health
        self.clock = clock
        self.wall_clock = wall_clock
        self.tracker = ChangeTracker()
        self.schedule = SyncSchedule(min_sync_period, sync_period, now=clock())
        self.need_full_sync = True
        self.last_full_sync = -math.inf
        self.syncs = 0  # successful ones
        self._wake = asyncio.Event()
        self._triggers: list[float] = []  # EndpointSlice change times not yet programmed
        self._pending_services = self._pending_endpoints = 0

    # --- informer handlers ---

    def service_handlers(
        self,
    ) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None], Callable[[Obj], None]]:
        return (
            lambda new: self.on_service(None, new),
            lambda old, new: self.on_service(old, new),
            lambda old: self.on_service(old, None),
        )

    def slice_handlers(
        self,
    ) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None], Callable[[Obj], None]]:
        return (
            lambda new: self.on_slice(None, new),
            lambda old, new: self.on_slice(old, new),
            lambda old: self.on_slice(old, None),
        )

    def on_service(self, old: Obj | None, new: Obj | None) -> None:
        self.tracker.update_service(old, new)
        metrics.SERVICE_CHANGES_TOTAL.inc()
        self._pending_services += 1
        metrics.SERVICE_CHANGES_PENDING.set(self._pending_services)
        self._queued()

    def on_slice(self, old: Obj | None, new: Obj | None) -> None:
        self.tracker.update_slice(old, new)
        metrics.ENDPOINT_CHANGES_TOTAL.inc()
        self._pending_endpoints += 1
        metrics.ENDPOINT_CHANGES_PENDING.set(self._pending_endpoints)
        trigger = _trigger_time(new)
        if trigger is not None:
            self._triggers.append(trigger)
        self._queued()

    def _queued(self) -> None:
        self.schedule.request()
        self.health.queued_update()
        metrics.LAST_QUEUED.set(self.wall_clock())
        self._wake.set()

    # --- the loop ---

    async def run(self) -> None:
        """Sync whenever the schedule says so, until cancelled."""
        while True:
            now = self.clock()
            delay = self.schedule.next_run(now) - now
            if delay > 0:
                self._wake.clear()
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            self.schedule.ran(now)
            await self.sync()

    async def sync(self) -> bool:
        """One sync: render what the tracker holds and apply it. True if it was applied."""
        start = self.clock()
        full = self.need_full_sync or start - self.last_full_sync >= self.sync_period
        changed = self.tracker.take_changes()
        state = self.tracker.state()
        triggers, self._triggers = self._triggers, []
        try:
            if full and self.node_ips is not None:
                self.node = dataclasses.replace(self.node, node_ips=await self.node_ips())
            # Every sync, as upstream's iptables proxier (outside its large-cluster mode): the current
            # rules tell the renderer which stale chains to delete and which jumps are missing.
            existing = await self.applier.current()
            text = self.render(state, self.node, None if full else changed, existing)
            await self.applier.apply(text, full=full)
        except ApplyError as error:
            self._failed(full, str(error))
            return False
        finished = self.clock()
        self.need_full_sync = False
        if full:
            self.last_full_sync = start
        self.syncs += 1
        self._record(full, finished - start, text, triggers)
        await self._sync_service_health(state)
        log.v(2).info(
            "Synced proxy rules", mode=self.applier.mode, full=full, changed=len(changed),
            services=len(state.services), seconds=round(finished - start, 4),
        )  # fmt: skip
        return True

    def _failed(self, full: bool, error: str) -> None:
        log.error("Failed to apply proxy rules, retrying", mode=self.applier.mode, full=full, err=error,
                  retry_seconds=self.sync_period)  # fmt: skip
        if self.applier.mode == "iptables":
            metrics.IPTABLES_RESTORE_FAILURES.inc()
            if not full:
                metrics.IPTABLES_PARTIAL_RESTORE_FAILURES.inc()
        else:
            metrics.NFTABLES_SYNC_FAILURES.inc()
        self.need_full_sync = True
        self.schedule.retry_after(self.clock(), self.sync_period)

    def _record(self, full: bool, seconds: float, text: str, triggers: list[float]) -> None:
        metrics.SYNC_DURATION.observe(seconds)
        (metrics.SYNC_FULL_DURATION if full else metrics.SYNC_PARTIAL_DURATION).observe(seconds)
        now = self.wall_clock()
        metrics.LAST_SYNC.set(now)
        for trigger in triggers:
            if now >= trigger:
                metrics.NETWORK_PROGRAMMING.observe(now - trigger)
        if full and self.applier.mode == "iptables":
            for table, count in rules_per_table(text).items():
                metrics.IPTABLES_RULES.labels(table).set(count)
        self._pending_services = self._pending_endpoints = 0
        metrics.SERVICE_CHANGES_PENDING.set(0)
        metrics.ENDPOINT_CHANGES_PENDING.set(0)
        self.health.updated()

    async def _sync_service_health(self, state: ProxyState) -> None:
        """healthCheckNodePort servers and the no-local-endpoints gauges, from the state just applied."""
        ports: dict[ServiceKey, int] = {}
        local: dict[ServiceKey, int] = {}
        no_local = {"internal": 0, "external": 0}
        for name, service in state.services.items():
            ready_here = sum(
                1 for ep in state.endpoints.get(name, ()) if ep.ready and ep.node_name == self.node.node_name
            )
            key = (name[0], name[1])
            if service.health_check_node_port:
                ports[key] = service.health_check_node_port
                local[key] = max(local.get(key, 0), ready_here)
            if uses_local_endpoints(service) and not ready_here:
                no_local["internal" if service.internal_policy_local else "external"] += 1
        for policy, count in no_local.items():
            metrics.NO_LOCAL_ENDPOINTS.labels(policy).set(count)
        if self.service_health is not None:
            self.service_health.set_local_endpoints(local)
            await self.service_health.sync(ports)


def _trigger_time(slice_: Obj | None) -> float | None:
    """The EndpointSlice's last-change-trigger-time annotation, as epoch seconds."""
    annotations = ((slice_ or {}).get("metadata") or {}).get("annotations") or {}
    text = annotations.get(TRIGGER_TIME)
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
