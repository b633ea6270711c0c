from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

import httpx
import pytest

from componentbase.cli import CommandError
from componentbase.run import run_until_shutdown

TIMEOUT = 10.0

# A component in miniature: a health server and a worker in one TaskGroup, under run().
COMPONENT = """
import asyncio
from componentbase.health import HealthServer
from componentbase.klog import setup_logging
from componentbase.run import run

async def worker() -> None:
    try:
        await asyncio.Event().wait()
    finally:
        print("worker stopped", flush=True)

async def main() -> None:
    health = HealthServer("127.0.0.1", 0)
    await health.start()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(health.serve_forever())
        tasks.create_task(worker())
        print(health.port, flush=True)

setup_logging(0, "text")
run(main, prog="kplane-test")
"""

FAILS = """
import asyncio
from componentbase.cli import CommandError
from componentbase.run import run

async def bind() -> None:
    raise CommandError("listen tcp 127.0.0.1:10259: address already in use", exit_code=3)

async def main() -> None:
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(asyncio.Event().wait())
        tasks.create_task(bind())

run(main, prog="kplane-test")
"""

HANGS_ON_SHUTDOWN = """
import asyncio
import sys
from componentbase.run import run

async def main() -> None:
    try:
        print("ready", flush=True)
        await asyncio.Event().wait()
    finally:
        print("shutting down", flush=True)
        await asyncio.Event().wait()

timeout = float(sys.argv[1]) if len(sys.argv) > 1 else None
run(main, prog="kplane-test", shutdown_timeout=timeout)
"""


async def start(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", textwrap.dedent(script), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    return (await asyncio.wait_for(process.stdout.readline(), TIMEOUT)).decode().strip()


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_shuts_the_component_down_cleanly(signum: signal.Signals) -> None:
    process = await start(COMPONENT)
    port = int(await read_line(process))
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/healthz")).text == "ok"
    process.send_signal(signum)
    exit_code, stdout, stderr = await finish(process)
    assert exit_code == 0, stderr
    assert stdout == "worker stopped\n"
    assert f'"Received signal, shutting down" signal="{signum.name}"' in stderr
    assert '"Shutdown complete"' in stderr
    assert "Traceback" not in stderr


async def test_a_command_error_in_a_task_is_one_line_and_its_exit_code() -> None:
    exit_code, stdout, stderr = await finish(await start(FAILS))
    assert (exit_code, stdout) == (3, "")
    assert stderr == "kplane-test: error: listen tcp 127.0.0.1:10259: address already in use\n"


@pytest.mark.parametrize(("signum", "expected_exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_second_signal_during_shutdown_exits_at_once(
    signum: signal.Signals, expected_exit_code: int
) -> None:
    process = await start(HANGS_ON_SHUTDOWN)
    assert await read_line(process) == "ready"
    process.send_signal(signum)
    assert await read_line(process) == "shutting down"
    process.send_signal(signum)
    exit_code, _, stderr = await finish(process)
    assert exit_code == expected_exit_code
    assert "Received a second signal during shutdown, exiting now" in stderr


async def test_a_shutdown_that_overruns_its_timeout_exits_1() -> None:
    process = await start(HANGS_ON_SHUTDOWN, "0.05")
    assert await read_line(process) == "ready"
    process.send_signal(signal.SIGTERM)
    exit_code, _, stderr = await finish(process)
    assert exit_code == 1
    assert "Shutdown did not finish in time, exiting now" in stderr


# --- in this process: run_until_shutdown returns the exit code ---


def test_a_main_that_returns_exits_0() -> None:
    async def main() -> None:
        await asyncio.sleep(0)

    assert run_until_shutdown(main, prog="prog") == 0


def test_a_signal_to_this_process_cancels_main_and_restores_the_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cancelled = []

    async def main() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    assert run_until_shutdown(main, prog="prog") == 0
    assert cancelled == [True]
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_command_error_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        raise CommandError("--config: no such file", exit_code=2)

    assert run_until_shutdown(main, prog="prog") == 2
    assert capsys.readouterr().err == "prog: error: --config: no such file\n"


def test_an_unexpected_error_prints_its_traceback_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    async def broken() -> None:
        raise KeyError("spec")

    async def main() -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(broken())

    assert run_until_shutdown(main, prog="prog") == 1
    stderr = capsys.readouterr().err
    assert "Traceback" in stderr
    assert stderr.endswith("prog: error: unexpected KeyError: 'spec'\n")


def test_tasks_left_running_are_cancelled_at_exit() -> None:
    stopped = []

    async def orphan() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(True)

    async def main() -> None:
        asyncio.get_running_loop().create_task(orphan())
        await asyncio.sleep(0)

    assert run_until_shutdown(main, prog="prog") == 0
    assert stopped == [True]
