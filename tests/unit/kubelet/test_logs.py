"""CRI log reading (partial lines, tail, since, timestamps, limitBytes, rotated files, follow
driven by a fake sleep) and size-based rotation (the plan, and the rotator with a fake runtime)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubelet import logs
from kubelet.logs import LogOptions

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cri(seconds: float, text: str, stream: str = "stdout", tag: str = "F") -> str:
    moment = T0 + timedelta(seconds=seconds)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%f')}123Z {stream} {tag} {text}\n"


async def read(path: Path, options: LogOptions, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in logs.read_logs(path, options, **kw)])  # type: ignore[arg-type]


def test_parse_line_and_time() -> None:
    line = logs.parse_line(b"2026-01-01T00:00:01.123456789Z stderr P half a line")
    assert (line.stream, line.partial, line.content) == ("stderr", True, b"half a line")
    assert line.time == T0 + timedelta(seconds=1, microseconds=123456)
    assert logs.parse_line(b"2026-01-01T00:00:00Z stdout F ").content == b""
    assert logs.format_time(T0 + timedelta(microseconds=120000)) == "2026-01-01T00:00:00.12Z"
    for bad in (b"nonsense", b"2026-01-01T00:00:00Z stdin F x", b"yesterday stdout F x"):
        with pytest.raises(logs.LogFormatError):
            logs.parse_line(bad)


async def test_partial_lines_join_and_streams_interleave(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text(cri(0, "hel", tag="P") + cri(1, "oops", "stderr") + cri(2, "lo") + "garbage\n")
    assert await read(path, LogOptions()) == b"oops\nhello\n"


async def test_tail_since_timestamps_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text("".join(cri(i, f"line {i}") for i in range(5)))
    assert await read(path, LogOptions(tail_lines=2)) == b"line 3\nline 4\n"
    assert await read(path, LogOptions(tail_lines=0)) == b""
    assert await read(path, LogOptions(since_time=T0 + timedelta(seconds=3))) == b"line 3\nline 4\n"
    stamped = await read(path, LogOptions(tail_lines=1, timestamps=True))
    assert stamped == b"2026-01-01T00:00:04Z line 4\n"  # Go's RFC3339Nano at the microseconds kept
    assert await read(path, LogOptions(limit_bytes=9)) == b"line 0\nli"


async def test_rotated_files_come_first_even_compressed(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    (tmp_path / "0.log.20260101-000001.gz").write_bytes(gzip.compress(cri(0, "oldest").encode()))
    (tmp_path / "0.log.20260101-000002").write_text(cri(1, "older"))
    (tmp_path / "1.log.20260101-000003").write_text(cri(2, "another attempt"))
    path.write_text(cri(3, "current"))
    assert await read(path, LogOptions()) == b"oldest\nolder\ncurrent\n"


async def test_follow_reads_growth_and_rotation_until_the_container_ends(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text(cri(0, "start"))
    steps: list[Callable[[], None]] = [
        lambda: path.open("a").write(cri(1, "grown", tag="P")),
        lambda: path.open("a").write(cri(2, " and finished")),
        lambda: path.rename(tmp_path / "0.log.20260101-000003"),  # a rotation: reopen
        lambda: path.write_text(cri(4, "after rotation")),
    ]
    running = [True]

    async def sleep(_: float) -> None:
        if steps:
            steps.pop(0)()
        else:
            running[0] = False

    async def is_running() -> bool:
        return running[0]

    out = await read(path, LogOptions(follow=True), running=is_running, sleep=sleep)
    assert out == b"start\ngrown and finished\nafter rotation\n"


async def test_follow_stops_at_limit_bytes(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text(cri(0, "0123456789"))

    async def never(_: float) -> None:
        raise AssertionError("no polling once the limit is reached")

    async def running() -> bool:
        return True

    assert await read(path, LogOptions(follow=True, limit_bytes=4), running=running, sleep=never) == b"0123"


def test_plan_rotation_keeps_max_files() -> None:
    current = Path("/logs/c/0.log")
    rotated = [current.with_name(f"0.log.20260101-00000{i}") for i in range(1, 4)]
    rotated[0] = rotated[0].with_name(rotated[0].name + ".gz")
    assert logs.plan_rotation(current, 100, rotated, 100, 5, T0) == logs.RotationPlan()
    plan = logs.plan_rotation(current, 101, rotated, 100, 3, T0)
    assert plan.remove == (rotated[0], rotated[1])  # 1 rotated + the one rotated now + current = 3
    assert plan.compress == (rotated[2],)
    assert plan.rotate_to == Path("/logs/c/0.log.20260101-000000")


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class FakeRuntime:
    def __init__(self, fail: bool = False) -> None:
        self.reopened: list[str] = []
        self.fail = fail

    async def reopen_container_log(self, container_id: str) -> None:
        if self.fail:
            raise RuntimeError("runtime says no")
        self.reopened.append(container_id)


async def test_rotator_renames_reopens_and_compresses(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    (tmp_path / "0.log.20251231-000000").write_text("old\n")
    path.write_text("x" * 50)
    runtime = FakeRuntime()
    rotator = logs.LogRotator(runtime, max_size=10, max_files=3, clock=lambda: T0)
    assert await rotator.rotate("cid", path)
    assert runtime.reopened == ["cid"]
    assert names(tmp_path) == ["0.log.20251231-000000.gz", "0.log.20260101-000000"]
    assert gzip.decompress((tmp_path / "0.log.20251231-000000.gz").read_bytes()) == b"old\n"
    assert not await rotator.rotate("cid", path), "nothing to rotate until the runtime writes again"


async def test_rotator_undoes_the_rename_when_the_runtime_cannot_reopen(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_text("x" * 50)
    rotator = logs.LogRotator(FakeRuntime(fail=True), max_size=10, max_files=2, clock=lambda: T0)
    assert not await rotator.rotate("cid", path)
    assert path.read_text() == "x" * 50
    with pytest.raises(ValueError):
        logs.LogRotator(FakeRuntime(), max_size=10, max_files=1)
