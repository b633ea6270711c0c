"""One worker per pod: upstream's podWorkers. Every reason to look at a pod again (an API update, a
container that exited, a probe result, a back-off that ran out, the periodic resync) is a wake-up;
the worker runs one sync at a time and coalesces wake-ups that arrive meanwhile, so syncs of one pod
never overlap and a burst of events costs one sync.

The sync function returns how long until the pod wants another look (None: only on events); the
worker exits when it returns `DONE` (the pod is terminated and cleaned up).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from componentbase.klog import get_logger

log = get_logger(__name__)

DONE = -1.0
ERROR_RETRY_SECONDS = 2.0
SyncFunc = Callable[[str], Awaitable[float | None]]


class _Worker:
    def __init__(self, uid: str, sync: SyncFunc, on_exit: Callable[[str], None]) -> None:
        self.uid = uid
        self.wake = asyncio.Event()
        self.wake.set()
        self.task = asyncio.get_running_loop().create_task(
            self._loop(sync, on_exit), name=f"pod-worker-{uid}"
        )

    async def _loop(self, sync: SyncFunc, on_exit: Callable[[str], None]) -> None:
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                try:
                    again = await sync(self.uid)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # one pod's failure must not stop the others
                    log.error("Error syncing pod, skipping", pod_uid=self.uid, err=repr(error))
                    again = ERROR_RETRY_SECONDS
                if again == DONE:
                    return
                if again is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), timeout=again)
                    self.wake.set()
        finally:
            on_exit(self.uid)


class PodWorkers:
    def __init__(self, sync: SyncFunc) -> None:
        self.sync = sync
        self._workers: dict[str, _Worker] = {}

    def update(self, uid: str) -> None:
        """Wake the pod's worker, starting one if it has none."""
        worker = self._workers.get(uid)
        if worker is None:
            self._workers[uid] = _Worker(uid, self.sync, self._exited)
        else:
            worker.wake.set()

    def _exited(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None and worker.task is asyncio.current_task():
            del self._workers[uid]

    def __contains__(self, uid: str) -> bool:
        return uid in self._workers

    def uids(self) -> set[str]:
        return set(self._workers)

    async def stop(self) -> None:
        for worker in list(self._workers.values()):
            worker.task.cancel()
        for worker in list(self._workers.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await worker.task
        self._workers.clear()
