"""Image garbage collection: upstream's realImageGCManager. When the image filesystem is fuller than
imageGCHighThresholdPercent, unused images are removed, least recently used first, until usage is back
under imageGCLowThresholdPercent; images younger than imageMinimumGCAge, images in use, pinned images
and the sandbox (pause) image are kept. With imageMaximumGCAge, images unused for that long go anyway.

The choice is a pure function (`images_to_remove`); `ImageGC` measures, remembers when each image was
last used, and calls CRI RemoveImage.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from componentbase.klog import get_logger
from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import CRIError, RuntimeClient

log = get_logger(__name__)
GC_PERIOD_SECONDS = 300.0  # upstream's ImageGCPeriod


@dataclass(frozen=True)
class ImageRecord:
    id: str
    size: int
    first_seen: float  # when the kubelet first saw it (upstream's "detected" time)
    last_used: float
    pinned: bool = False


def bytes_to_free(capacity: int, available: int, high_percent: int, low_percent: int) -> int:
    """0 while usage is under the high threshold; else what brings it down to the low one."""
    if capacity <= 0:
        return 0
    used = capacity - available
    if used * 100 < high_percent * capacity:
        return 0
    return max(0, used - low_percent * capacity // 100)


def images_to_remove(
    images: Iterable[ImageRecord],
    in_use: set[str],
    now: float,
    needed: int,
    *,
    min_age: float,
    max_age: float = 0.0,
) -> list[ImageRecord]:
    """Least recently used first (then the oldest seen), skipping what must stay, until `needed` bytes
    are freed; plus every unused image older than `max_age` (when set)."""
    candidates = sorted(
        (i for i in images if i.id not in in_use and not i.pinned), key=lambda i: (i.last_used, i.first_seen)
    )
    chosen: list[ImageRecord] = []
    freed = 0
    for image in candidates:
        too_old = max_age > 0 and now - image.last_used > max_age
        if too_old or (freed < needed and now - image.first_seen >= min_age):
            chosen.append(image)
            freed += image.size
    return chosen


class ImageGC:
    def __init__(
        self,
        runtime: RuntimeClient,
        fallback_path: str,
        clock: Callable[[], float],
        *,
        high_percent: int,
        low_percent: int,
        min_age: float,
        max_age: float = 0.0,
        sandbox_image: str = "",
    ) -> None:
        self.runtime = runtime
        self.fallback_path = fallback_path
        self.clock = clock
        self.high_percent = high_percent
        self.low_percent = low_percent
        self.min_age = min_age
        self.max_age = max_age
        self.sandbox_image = sandbox_image
        self._first_seen: dict[str, float] = {}
        self._last_used: dict[str, float] = {}

    async def _records(self) -> tuple[list[ImageRecord], set[str]]:
        now = self.clock()
        images = await self.runtime.list_images()
        containers = await self.runtime.list_containers()
        in_use = {c.image_ref for c in containers} | {c.image.image for c in containers}
        sandbox = await self.runtime.image_status(self.sandbox_image) if self.sandbox_image else None
        records = []
        for image in images:
            self._first_seen.setdefault(image.id, now)
            if image.id in in_use or set(image.repo_tags) & in_use:
                self._last_used[image.id] = now
                in_use.add(image.id)
            records.append(
                ImageRecord(
                    image.id, image.size, self._first_seen[image.id], self._last_used.get(image.id, 0.0),
                    pinned=image.pinned or (sandbox is not None and sandbox.id == image.id),
                )
            )  # fmt: skip
        return records, in_use

    async def collect(self) -> list[str]:
        """One pass; the ids removed."""
        records, in_use = await self._records()
        info = await self.runtime.image_fs_info()
        mounts = [fs.fs_id.mountpoint for fs in info.image_filesystems if fs.fs_id.mountpoint]
        stat = os.statvfs(mounts[0] if mounts else self.fallback_path)  # where containerd keeps images
        capacity, available = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
        needed = bytes_to_free(capacity, available, self.high_percent, self.low_percent)
        chosen = images_to_remove(
            records, in_use, self.clock(), needed, min_age=self.min_age, max_age=self.max_age
        )
        removed = []
        for image in chosen:
            try:
                await self.runtime.remove_image(image.id)
            except CRIError as error:
                log.warning("Failed to remove an unused image", image=image.id, err=error.message)
                continue
            removed.append(image.id)
            self._first_seen.pop(image.id, None)
            self._last_used.pop(image.id, None)
        if needed and sum(i.size for i in chosen) < needed:
            log.warning("Image garbage collection could not free enough space", wanted_bytes=needed)
        return removed

    async def run(self) -> None:
        while True:
            await asyncio.sleep(GC_PERIOD_SECONDS)
            try:
                removed = await self.collect()
                if removed:
                    log.info("Image garbage collection removed unused images", images=",".join(removed))
            except (CRIError, OSError) as error:
                log.error("Image garbage collection failed", err=str(error))


def image_summary(image: cri.Image) -> str:
    return image.repo_tags[0] if image.repo_tags else image.id
