"""Container logs in the CRI format: reading them for `kubectl logs` and rotating them by size.

Each line the runtime writes is `<RFC3339Nano time> <stdout|stderr> <P|F> <content>\\n`; P marks
a partial line whose rest follows in the next P/F line (runtimes split long lines). Reading joins
partial lines, then applies the PodLogOptions: sinceTime/sinceSeconds, tailLines, timestamps,
limitBytes, follow. Rotated files (`<n>.log.<YYYYmmdd-HHMMSS>`, optionally `.gz`) are read before
the current one. The decisions are plain functions and classes; the file and runtime I/O is thin.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from componentbase.klog import get_logger

log = get_logger(__name__)

STDOUT, STDERR = "stdout", "stderr"
PARTIAL, FULL = "P", "F"
ROTATED_TIME_FORMAT = "%Y%m%d-%H%M%S"  # upstream's "20060102-150405"
_ROTATED = re.compile(r"\.log\.\d{8}-\d{6}(\.gz)?$")
READ_CHUNK = 64 * 1024


class LogFormatError(ValueError):
    pass


@dataclass(frozen=True)
class LogLine:
    timestamp: str  # as the runtime wrote it (RFC3339Nano)
    time: datetime
    stream: str
    partial: bool
    content: bytes  # without the newline


def parse_time(text: str) -> datetime:
    """RFC3339 with up to nanoseconds (Python keeps microseconds) and Z or an offset."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        raise LogFormatError(f"bad timestamp {text!r}")
    whole, fraction, zone = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    try:
        parsed = datetime.fromisoformat(f"{whole}.{micros}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        raise LogFormatError(f"bad timestamp {text!r}") from None
    return parsed.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """RFC3339Nano as Go prints it: UTC, trailing zeros of the fraction dropped."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_line(raw: bytes) -> LogLine:
    """One CRI log line (without its newline)."""
    parts = raw.split(b" ", 3)
    if len(parts) < 3:
        raise LogFormatError(f"not a CRI log line: {raw[:80]!r}")
    timestamp = parts[0].decode(errors="replace")
    stream = parts[1].decode(errors="replace")
    if stream not in (STDOUT, STDERR):
        raise LogFormatError(f"unknown stream {stream!r}")
    tag = parts[2].split(b":")[0]
    if tag in (b"P", b"F"):
        content = parts[3] if len(parts) == 4 else b""
    else:  # the older format without a tag: the rest is content
        tag, content = b"F", raw.split(b" ", 2)[2]
    return LogLine(timestamp, parse_time(timestamp), stream, tag == b"P", content)


class LineSplitter:
    """Bytes (as read from a growing file) to complete CRI lines; malformed lines are skipped."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[LogLine]:
        *complete, self._rest = (self._rest + data).split(b"\n")
        lines = []
        for raw in complete:
            if not raw:
                continue
            try:
                lines.append(parse_line(raw))
            except LogFormatError as error:
                log.v(4).info("Skipping a malformed log line", err=str(error))
        return lines


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions as the kubelet applies them (sinceSeconds already turned into since_time)."""

    follow: bool = False
    tail_lines: int | None = None  # None: all
    since_time: datetime | None = None
    timestamps: bool = False
    limit_bytes: int | None = None


@dataclass
class _Joined:
    first: LogLine
    pieces: list[bytes] = field(default_factory=list)


class LogFormatter:
    """Joins partial lines per stream and renders whole lines for the client, applying since,
    timestamps and limitBytes. `done` turns true once limitBytes is reached."""

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self._pending: dict[str, _Joined] = {}
        self._written = 0
        self.done = False

    def join(self, lines: Iterable[LogLine]) -> list[LogLine]:
        """Whole lines from CRI lines; a partial line waits for its end."""
        whole = []
        for line in lines:
            pending = self._pending.get(line.stream)
            if line.partial:
                if pending is None:
                    pending = self._pending[line.stream] = _Joined(line)
                pending.pieces.append(line.content)
                continue
            if pending is not None:
                del self._pending[line.stream]
                content = b"".join([*pending.pieces, line.content])
                line = LogLine(pending.first.timestamp, pending.first.time, line.stream, False, content)
            whole.append(line)
        return whole

    def flush_partial(self) -> list[LogLine]:
        """The partial lines still waiting (the container ended mid-line), as whole lines."""
        flushed = [
            LogLine(p.first.timestamp, p.first.time, p.first.stream, False, b"".join(p.pieces))
            for p in self._pending.values()
        ]
        self._pending.clear()
        return sorted(flushed, key=lambda line: line.time)

    def wanted(self, line: LogLine) -> bool:
        since = self.options.since_time
        return since is None or line.time >= since

    def render(self, lines: Iterable[LogLine]) -> bytes:
        out = bytearray()
        for line in lines:
            if self.done:
                break
            if not self.wanted(line):
                continue
            prefix = (format_time(line.time) + " ").encode() if self.options.timestamps else b""
            text = prefix + line.content + b"\n"
            limit = self.options.limit_bytes
            if limit is not None:
                text = text[: max(0, limit - self._written)]
                if self._written + len(text) >= limit:
                    self.done = True
            self._written += len(text)
            out += text
        return bytes(out)


def tail(lines: Sequence[LogLine], count: int | None) -> Sequence[LogLine]:
    if count is None:
        return lines
    return lines[len(lines) - count :] if 0 <= count < len(lines) else lines if count >= 0 else []


# ---- files ----


def rotated_files(current: Path) -> list[Path]:
    """`<current>.<timestamp>[.gz]`, oldest first (the timestamp sorts as text)."""
    if not current.parent.is_dir():
        return []
    found = [
        p
        for p in current.parent.iterdir()
        if p.name.startswith(current.name + ".") and _ROTATED.search(p.name)
    ]
    return sorted(found, key=lambda p: p.name.removesuffix(".gz"))


def _read_whole(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile):
        return b""


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_dev, info.st_ino


Sleep = Callable[[float], Awaitable[None]]
Running = Callable[[], Awaitable[bool]]


async def read_logs(
    path: Path,
    options: LogOptions,
    *,
    running: Running | None = None,
    sleep: Sleep = asyncio.sleep,
    poll_interval: float = 0.2,
) -> AsyncIterator[bytes]:
    """The log as the client sees it, in chunks. With `follow`, keeps reading the current file as it
    grows (and across a rotation) until `running()` says the container has ended and the file is
    drained; the caller stops earlier by closing the iterator (client gone)."""
    formatter = LogFormatter(options)
    splitter = LineSplitter()
    history = b"".join(_read_whole(p) for p in rotated_files(path))
    try:
        handle = path.open("rb")
    except OSError:
        handle = None
    identity = _identity(path) if handle is not None else None
    if handle is not None:
        history += handle.read()
    try:
        lines = formatter.join(splitter.feed(history))
        if not options.follow or running is None:
            lines += formatter.flush_partial()
        lines = [line for line in lines if formatter.wanted(line)]
        first = formatter.render(tail(lines, options.tail_lines))
        if first:
            yield first
        if not options.follow or running is None or formatter.done:
            return
        async for chunk in _follow(
            path, handle, identity, formatter, splitter, running, sleep, poll_interval
        ):
            yield chunk
    finally:
        if handle is not None:
            handle.close()


async def _follow(
    path: Path,
    handle: _Readable | None,
    identity: tuple[int, int] | None,
    formatter: LogFormatter,
    splitter: LineSplitter,
    running: Running,
    sleep: Sleep,
    poll_interval: float,
) -> AsyncIterator[bytes]:
    while not formatter.done:
        data = handle.read(READ_CHUNK) if handle is not None else b""
        if data:
            chunk = formatter.render(formatter.join(splitter.feed(data)))
            if chunk:
                yield chunk
            continue
        now = _identity(path)
        if now is not None and now != identity:  # rotated (or created): drain done, take the new file
            if handle is not None:
                handle.close()
            try:
                handle = path.open("rb")
                identity = now
            except OSError:
                handle = None
            continue
        if not await running():
            rest = handle.read() if handle is not None else b""
            lines = formatter.join(splitter.feed(rest + b"\n" if rest and not rest.endswith(b"\n") else rest))
            chunk = formatter.render([*lines, *formatter.flush_partial()])
            if chunk:
                yield chunk
            return
        await sleep(poll_interval)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


# ---- rotation ----


@dataclass(frozen=True)
class RotationPlan:
    remove: tuple[Path, ...] = ()
    compress: tuple[Path, ...] = ()
    rotate_to: Path | None = None  # rename the current log to this, then ReopenContainerLog


def plan_rotation(
    current: Path, size: int, rotated: Sequence[Path], max_size: int, max_files: int, now: datetime
) -> RotationPlan:
    """Upstream's container log manager decision for one running container: nothing while the
    log is at most `max_size`; else keep at most `max_files` files including the new current one
    (remove the oldest rotated ones), compress all rotated but the newest, and rotate."""
    if max_size <= 0 or size <= max_size:
        return RotationPlan()
    keep_rotated = max(max_files - 2, 0)  # + the file being rotated now + the new current file
    ordered = sorted(rotated, key=lambda p: p.name.removesuffix(".gz"))
    remove = ordered[: len(ordered) - keep_rotated] if len(ordered) > keep_rotated else []
    kept = [p for p in ordered if p not in remove]
    compress = [p for p in kept if p.suffix != ".gz"]
    target = current.with_name(f"{current.name}.{now.astimezone(UTC).strftime(ROTATED_TIME_FORMAT)}")
    return RotationPlan(tuple(remove), tuple(compress), target)


class Reopener(Protocol):
    async def reopen_container_log(self, container_id: str) -> None: ...


class LogRotator:
    """Rotates the logs of running containers by size (containerLogMaxSize, containerLogMaxFiles):
    rename the current file, ask the runtime to reopen its log (undoing the rename when it cannot),
    and compress or remove older files. Call `rotate` for each running container periodically
    (upstream: every 10 s)."""

    def __init__(
        self,
        runtime: Reopener,
        max_size: int,
        max_files: int,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_files < 2:
            raise ValueError("containerLogMaxFiles must be at least 2")
        self.runtime = runtime
        self.max_size = max_size
        self.max_files = max_files
        self.clock = clock

    async def rotate(self, container_id: str, log_path: Path) -> bool:
        """True when the log was rotated."""
        plan = self._rotate_file(log_path)
        if plan.rotate_to is None:
            return False
        try:
            await self.runtime.reopen_container_log(container_id)
        except Exception as error:  # the runtime kept writing to the renamed file: undo
            os.rename(plan.rotate_to, log_path)
            log.error("Reopening a container log failed", container=container_id, err=str(error))
            return False
        return True

    def _rotate_file(self, log_path: Path) -> RotationPlan:
        """The file half of a rotation: clean up, compress, rename. The plan's rotate_to is None
        when nothing was renamed."""
        try:
            size = log_path.stat().st_size
        except OSError:
            return RotationPlan()
        plan = plan_rotation(
            log_path, size, rotated_files(log_path), self.max_size, self.max_files, self.clock()
        )
        if plan.rotate_to is None:
            return plan
        for old in plan.remove:
            old.unlink(missing_ok=True)
        for old in plan.compress:
            _compress(old)
        if plan.rotate_to.exists():  # two rotations within a second: keep the first
            return RotationPlan()
        os.rename(log_path, plan.rotate_to)
        return plan


def _compress(path: Path) -> None:
    target = path.with_name(path.name + ".gz")
    temporary = path.with_name(path.name + ".tmp")
    with path.open("rb") as source, gzip.open(temporary, "wb") as sink:
        while block := source.read(READ_CHUNK):
            sink.write(block)
    os.rename(temporary, target)
    path.unlink()
