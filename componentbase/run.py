"""Run a component's main coroutine: signals, orderly shutdown, one-line errors, the exit code.

    def main(argv: Sequence[str] | None = None) -> NoReturn:
        flags = flagset.parse_or_exit(argv)
        setup_logging_from_flags(flags)
        run(lambda: serve(flags), prog="kplane-scheduler")

    async def serve(flags: Flags) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(health.serve_forever())
            tasks.create_task(scheduler.run())

SIGTERM or SIGINT cancels the main task; its TaskGroup cancels every child and awaits it, so `finally`
blocks and `async with` exits do the orderly shutdown; then the process exits 0. A second signal
during shutdown exits at once with 128 + the signal (130 for SIGINT, 143 for SIGTERM). A CommandError,
also one raised inside a TaskGroup, prints `prog: error: message` and exits with its code; any other
exception is a bug and prints its traceback (exit 1).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from componentbase.cli import EXIT_FAILURE, CommandError
from componentbase.klog import get_logger

AsyncMain = Callable[[], Coroutine[Any, Any, object]]
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

log = get_logger(__name__)


def run(async_main: AsyncMain, *, prog: str, shutdown_timeout: float | None = None) -> NoReturn:
    """Run `async_main()` in a new event loop until it returns or a signal ends it, then exit."""
    sys.exit(run_until_shutdown(async_main, prog=prog, shutdown_timeout=shutdown_timeout))


def run_until_shutdown(async_main: AsyncMain, *, prog: str, shutdown_timeout: float | None = None) -> int:
    """`run` without the exit: the exit code. With `shutdown_timeout` (seconds), a shutdown that takes
    longer after the signal ends the process with exit code 1."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    previous_handlers = {signum: signal.getsignal(signum) for signum in SHUTDOWN_SIGNALS}
    main_task = loop.create_task(async_main(), name="main")
    received: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        if received:
            log.warning("Received a second signal during shutdown, exiting now", signal=signum.name)
            _exit_now(128 + signum)
        received.append(signum)
        log.info("Received signal, shutting down", signal=signum.name)
        main_task.cancel()
        if shutdown_timeout is not None:
            loop.call_later(shutdown_timeout, on_shutdown_timeout)

    def on_shutdown_timeout() -> None:
        log.error("Shutdown did not finish in time, exiting now", timeout_seconds=shutdown_timeout)
        _exit_now(EXIT_FAILURE)

    for signum in SHUTDOWN_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        loop.run_until_complete(main_task)
        return 0
    except asyncio.CancelledError:
        if received:
            log.info("Shutdown complete")
            return 0
        return _report(prog, "the main task was cancelled", EXIT_FAILURE)
    except CommandError as error:
        return _report(prog, str(error), error.exit_code)
    except BaseExceptionGroup as group:  # from a TaskGroup
        return _report_group(prog, group, shutting_down=bool(received))
    except Exception as error:
        traceback.print_exception(error)
        return _report(prog, f"unexpected {type(error).__name__}: {error}", EXIT_FAILURE)
    finally:
        _close(loop)
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _report(prog: str, message: str, exit_code: int) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return exit_code


def _report_group(prog: str, group: BaseExceptionGroup[BaseException], *, shutting_down: bool) -> int:
    """A TaskGroup's errors: the first CommandError's line if all are CommandErrors (or cancellations),
    else the traceback of the whole group."""
    leaves = list(_leaves(group))
    unexpected = [e for e in leaves if not isinstance(e, CommandError | asyncio.CancelledError)]
    commands = [e for e in leaves if isinstance(e, CommandError)]
    if unexpected:
        traceback.print_exception(group)
        first = unexpected[0]
        return _report(prog, f"unexpected {type(first).__name__}: {first}", EXIT_FAILURE)
    if commands:
        return _report(prog, str(commands[0]), commands[0].exit_code)
    return 0 if shutting_down else _report(prog, "the main task was cancelled", EXIT_FAILURE)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """What asyncio.run does on the way out; tasks still running here had no owner to await them."""
    try:
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            log.warning("Task still running at exit, cancelling it", task=task.get_name())
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def _exit_now(exit_code: int) -> NoReturn:
    # Skips `finally` blocks and atexit on purpose: the operator asked twice, or shutdown hung.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(exit_code)
