"""GET /containerLogs/{namespace}/{pod}/{container}: PodLogOptions from the query, the container
found through the runtime, and kubelet.logs doing the reading."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from kubelet import logs
from kubelet.cri.api import api_pb2
from kubelet.server.errors import bad_request
from kubelet.server.lookup import Runtime, find_container

TRUE, FALSE = ("true", "1", "t", "yes"), ("false", "0", "f", "no", "")


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "").lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise bad_request(f'invalid value "{query[name]}" for {name}: want true or false')


def _count(query: Mapping[str, str], name: str, minimum: int) -> int | None:
    if name not in query:
        return None
    try:
        value = int(query[name])
    except ValueError:
        raise bad_request(f'invalid value "{query[name]}" for {name}: want an integer') from None
    if value < minimum:
        raise bad_request(f"{name} must be at least {minimum}, got {value}")
    return value


def log_options(query: Mapping[str, str], now: datetime) -> tuple[logs.LogOptions, bool]:
    """(options, previous) from the query kubectl's PodLogOptions become; BadRequest when one is bad."""
    since_seconds = _count(query, "sinceSeconds", 1)
    since_time = None
    if query.get("sinceTime"):
        if since_seconds is not None:
            raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
        try:
            since_time = logs.parse_time(query["sinceTime"])
        except logs.LogFormatError:
            raise bad_request(f'invalid sinceTime "{query["sinceTime"]}": want RFC3339') from None
    elif since_seconds is not None:
        since_time = now - timedelta(seconds=since_seconds)
    options = logs.LogOptions(
        follow=_flag(query, "follow"),
        tail_lines=_count(query, "tailLines", 0),
        since_time=since_time,
        timestamps=_flag(query, "timestamps"),
        limit_bytes=_count(query, "limitBytes", 1),
    )
    return options, _flag(query, "previous")


async def container_logs(
    runtime: Runtime,
    namespace: str,
    pod: str,
    container: str,
    query: Mapping[str, str],
    now: Callable[[], datetime],
    *,
    poll_interval: float = 0.2,
) -> AsyncIterator[bytes]:
    """Checks everything before the first byte (errors raise HandlerError), then the log stream."""
    options, previous = log_options(query, now())
    found = await find_container(runtime, namespace, pod, container, previous=previous)
    status = (await runtime.container_status(found.id)).status
    path = Path(status.log_path)
    container_id = found.id

    async def running() -> bool:
        try:
            current = (await runtime.container_status(container_id)).status
        except Exception:  # the container is gone: nothing more will be written
            return False
        return current.state == api_pb2.CONTAINER_RUNNING

    follow = options.follow and not previous
    return logs.read_logs(path, options, running=running if follow else None, poll_interval=poll_interval)
