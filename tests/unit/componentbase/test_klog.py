from __future__ import annotations

import inspect
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from componentbase import klog
from componentbase.flags import FlagSet


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def this_line() -> int:
    """The caller's line number, to check the caller field."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_text_lines_look_like_klog() -> None:
    stream = io.StringIO()
    klog.setup_logging(0, "text", stream)
    log = klog.get_logger("test")
    pod = {"metadata": {"namespace": "default", "name": "web-0"}}
    line = this_line() + 1
    log.info("Started server", addr="127.0.0.1:10259", pod=klog.obj_ref(pod), port=10259, tls=True)
    pattern = (
        r'I\d{4} \d\d:\d\d:\d\d\.\d{6} +(?P<pid>\d+) test_klog\.py:(?P<line>\d+)\] "Started server" '
        r'addr="127\.0\.0\.1:10259" pod="default/web-0" port=10259 tls=true\n'
    )
    match = re.fullmatch(pattern, stream.getvalue())
    assert match, stream.getvalue()
    assert int(match["pid"]) == os.getpid()
    assert int(match["line"]) == line


def test_json_lines_carry_ts_caller_msg_v_and_fields() -> None:
    stream = io.StringIO()
    klog.setup_logging(2, "json", stream)
    line = this_line() + 1
    klog.get_logger("test").v(2).info("Synced pod", pod="default/web-0", attempts=3)
    entry = json.loads(stream.getvalue())
    assert isinstance(entry.pop("ts"), float)
    assert entry == {
        "caller": f"test_klog.py:{line}",
        "msg": "Synced pod",
        "v": 2,
        "pod": "default/web-0",
        "attempts": 3,
    }


def test_verbose_lines_are_written_only_up_to_the_verbosity() -> None:
    stream = io.StringIO()
    klog.setup_logging(3, "text", stream)
    log = klog.get_logger("test")
    for level in range(6):
        log.v(level).info("level", n=level)
    assert [line.rsplit("n=", 1)[1] for line in stream.getvalue().splitlines()] == ["0", "1", "2", "3"]
    assert log.v(3).enabled and not log.v(4).enabled


def test_errors_put_err_first_and_exceptions_stay_on_one_line() -> None:
    stream = io.StringIO()
    klog.setup_logging(0, "text", stream)
    log = klog.get_logger("test")
    log.error("Sync failed", err=ValueError("quota exceeded"), pod="default/web-0")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("Unexpected error")
    sync_failed, unexpected = stream.getvalue().splitlines()
    assert sync_failed.startswith("E")
    assert sync_failed.endswith('"Sync failed" err="quota exceeded" pod="default/web-0"')
    assert '"Unexpected error" err="RuntimeError: boom" stacktrace="Traceback' in unexpected


def test_json_errors_have_no_v_but_a_level() -> None:
    stream = io.StringIO()
    klog.setup_logging(0, "json", stream)
    klog.get_logger("test").error("Sync failed", err="timeout")
    entry = json.loads(stream.getvalue())
    assert "v" not in entry
    assert (entry["level"], entry["err"]) == ("error", "timeout")


def test_library_records_flow_through_the_same_formatter_at_klog_levels() -> None:
    stream = io.StringIO()
    klog.setup_logging(9, "json", stream)
    library = logging.getLogger("uvicorn.error")
    library.info("Application startup %s", "complete")
    library.debug("hidden below --v=10")
    klog.setup_logging(10, "json", stream)
    library.debug("shown at --v=10")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(entry["msg"], entry["v"]) for entry in entries] == [
        ("Application startup complete", 0),
        ("shown at --v=10", 10),
    ]


def test_setup_logging_twice_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    klog.setup_logging(0, "text", first)
    klog.setup_logging(0, "text", second)
    klog.get_logger("test").info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_field_values_are_rendered_like_klog() -> None:
    stream = io.StringIO()
    klog.setup_logging(0, "text", stream)
    klog.get_logger("test").info("Values", s='say "hi"\n', n=1.5, none=None, labels={"app": "web"}, ok=False)
    assert (
        stream.getvalue()
        .rstrip("\n")
        .endswith('"Values" s="say \\"hi\\"\\n" n=1.5 none=<nil> labels={"app":"web"} ok=false')
    )


@pytest.mark.parametrize(
    ("obj", "ref"),
    [
        ({"metadata": {"namespace": "kube-system", "name": "coredns"}}, "kube-system/coredns"),
        ({"metadata": {"name": "worker-1"}}, "worker-1"),
        ({"metadata": {"namespace": "", "name": "worker-1"}}, "worker-1"),
        (SimpleNamespace(metadata=SimpleNamespace(namespace="default", name="web")), "default/web"),
        (SimpleNamespace(metadata=SimpleNamespace(namespace=None, name="node-a")), "node-a"),
        ({}, ""),
    ],
)
def test_obj_ref(obj: object, ref: str) -> None:
    assert klog.obj_ref(obj) == ref


def test_logging_flags() -> None:
    flagset = FlagSet("prog")
    klog.add_logging_flags(flagset)
    flags = flagset.parse(["-v=5", "--log-format=json"])
    stream = io.StringIO()
    klog.setup_logging_from_flags(flags, stream)
    klog.get_logger("test").v(5).info("shown")
    assert json.loads(stream.getvalue())["v"] == 5


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of text, json"):
        klog.setup_logging(0, "xml")
