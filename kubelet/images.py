"""Making a container's image present before it starts: upstream's imageManager.EnsureImageExists with
the pull policies, pull back-off and the events `kubectl describe pod` shows.

    ref = await images.ensure(pod, container, sandbox_config)   # or raises ImageError(reason, message)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from kubelet import pods
from kubelet.backoff import Backoff
from kubelet.cri.api import api_pb2 as cri
from kubelet.cri.client import CRIError, RuntimeClient
from kubelet.pods import Container, Pod

Recorder = Callable[[Pod, str, str, str], None]  # (pod, type, reason, message)


@dataclass
class ImageError(Exception):
    """The container waits with this reason: ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
    InvalidImageName."""

    reason: str
    message: str

    def __str__(self) -> str:
        return self.message


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for the durations events print: 76.123ms, 1.5s, 2m3.5s."""
    if seconds < 1:
        return f"{seconds * 1000:.3f}".rstrip("0").rstrip(".") + "ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def default_pull_policy(image: str) -> str:
    """Upstream's defaulting: Always for `:latest` or no tag (and no digest), else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def pull_policy(container: Container) -> str:
    return str(container.get("imagePullPolicy") or default_pull_policy(container.get("image", "")))


class ImageManager:
    def __init__(
        self,
        runtime: RuntimeClient,
        record: Recorder,
        clock: Callable[[], float],
        *,
        serialize_pulls: bool = True,
        max_parallel_pulls: int | None = None,
    ) -> None:
        self.runtime = runtime
        self.record = record
        self.clock = clock
        self.backoff = Backoff(10.0, 300.0, clock)
        limit = 1 if serialize_pulls else (max_parallel_pulls or 1_000)
        self._pulls = asyncio.Semaphore(limit)

    async def ensure(self, pod: Pod, container: Container, sandbox: cri.PodSandboxConfig) -> str:
        image = container.get("image") or ""
        if not image or image != image.strip():
            raise ImageError(
                "InvalidImageName", f'Failed to apply default image tag "{image}": invalid reference format'
            )
        policy = pull_policy(container)
        present = await self.runtime.image_status(image)
        if present is not None and policy != "Always":
            self.record(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return str(present.id)
        if policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            self.record(pod, "Warning", "ErrImageNeverPull", message)
            raise ImageError("ErrImageNeverPull", message)
        key = f"{pods.uid(pod)}_{image}"
        if self.backoff.in_backoff_since_update(key):
            message = f'Back-off pulling image "{image}"'
            self.record(pod, "Normal", "BackOff", message)
            raise ImageError("ImagePullBackOff", message)
        self.record(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        started = self.clock()
        try:
            async with self._pulls:
                ref = await self.runtime.pull_image(image, sandbox)
        except CRIError as error:
            self.backoff.next(key, self.clock())
            message = f'Failed to pull image "{image}": {error.message}'
            self.record(pod, "Warning", "Failed", message)
            self.record(pod, "Warning", "Failed", "Error: ErrImagePull")
            raise ImageError("ErrImagePull", message) from None
        self.backoff.reset(key)
        took = go_duration(self.clock() - started)
        size = (await self.runtime.image_status(image) or cri.Image()).size
        self.record(
            pod, "Normal", "Pulled",
            f'Successfully pulled image "{image}" in {took} ({took} including waiting). '
            f"Image size: {size} bytes.",
        )  # fmt: skip
        return ref
