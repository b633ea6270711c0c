"""The shape every controller shares (client-go's sample-controller): informer handlers only put
keys on a rate-limited work queue; `workers` tasks take a key at a time and call `reconcile(key)`,
which reads the informers' read-only caches, computes the difference with pure functions, writes it
through the API, and is safe to run twice. A failed reconcile is retried with the key's back-off
(5 ms doubling to 1000 s, at most `max_retries` times in a row); success forgets the key's failures.

    class ReplicaSetController(QueueController):
        name = "replicaset-controller"

        def __init__(self, ctx: ControllerContext) -> None:
            super().__init__(ctx, workers=ctx.options.concurrent_replicaset_syncs)
            self.pods = ctx.informers.informer("pods")
            ctx.informers.informer("replicasets").add_handler(self.enqueue, lambda _, new: self.enqueue(new))

        async def reconcile(self, key: str) -> None: ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from componentbase.klog import get_logger
from kubeclient.errors import KubeClientError
from kubeclient.informer import SharedInformerFactory, object_key
from kubeclient.workqueue import ShutDown, WorkQueue

log = get_logger(__name__)
Obj = dict[str, Any]


class Recorder(Protocol):
    """What controllers need of kubeclient.events.EventRecorder (tests pass a recording fake)."""

    def event(
        self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *, component: str | None = None
    ) -> None: ...


@dataclass
class ControllerContext:
    """What the controller manager lends each controller."""

    client: Any
    """kubeclient.rest.Client (or the recording fake in tests): get/list/create/update/patch/delete."""
    informers: SharedInformerFactory
    recorder: Recorder
    options: Any
    """controller_manager.options.Options: the parsed flags (concurrent syncs, CIDRs, timings)."""
    clock: Callable[[], float] = time.monotonic
    """Seconds on a monotonic clock, for back-off and expectations."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """Wall-clock time, for timestamps written into objects."""


class QueueController:
    name = ""
    max_retries = 15

    def __init__(self, ctx: ControllerContext, workers: int = 1) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.workers = max(1, workers)
        self.queue = WorkQueue(self.name, clock=ctx.clock)

    # --- handlers (only ever enqueue) ---------------------------------------------------------

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(object_key(obj))

    def enqueue_update(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    def enqueue_after(self, obj: Obj, delay: float) -> None:
        self.queue.add_after(object_key(obj), delay)

    def record(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """An event about `obj`, reported by this controller (source.component = its name)."""
        self.ctx.recorder.event(obj, type_, reason, message, component=self.name)

    # --- running ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        """Workers until cancelled; the caller starts this after the informers have synced."""
        log.info("Starting controller", controller=self.name, workers=self.workers)
        try:
            async with asyncio.TaskGroup() as tasks:
                for index in range(self.workers):
                    tasks.create_task(self._worker(), name=f"{self.name}-worker-{index}")
        finally:
            self.queue.shut_down()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            await self.process(str(key))

    async def process(self, key: str) -> None:
        """One reconcile of `key` with the queue's bookkeeping (tests call it directly)."""
        try:
            await self.reconcile(key)
            self.queue.forget(key)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # any failure retries the key with back-off
            retries = self.queue.requeues(key)
            level = log.info if isinstance(error, KubeClientError) else log.exception
            if retries < self.max_retries:
                level(
                    "Reconcile failed, retrying",
                    controller=self.name,
                    key=key,
                    error=str(error),
                    retries=retries,
                )
                self.queue.add_rate_limited(key)
            else:
                log.warning(
                    "Dropping key after too many retries", controller=self.name, key=key, error=str(error)
                )
                self.queue.forget(key)
        finally:
            self.queue.done(key)


class IdleController:
    """A controller its flags turned off (no --root-ca-file, no --allocate-node-cidrs): it asks for
    no informers, says why once, and waits to be cancelled like the others."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def run(self) -> None:
        log.info(self.reason, controller=self.name)
        await asyncio.Event().wait()


def split_key(key: str) -> tuple[str, str]:
    """ "namespace/name" -> (namespace, name); "name" -> ("", name)."""
    namespace, _, name = key.rpartition("/")
    return namespace, name
