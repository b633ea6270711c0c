"""Logging like klog: one line per event, key=value fields, `--v` verbosity, text or JSON.

    log = klog.get_logger(__name__)
    log.info("Started server", addr="127.0.0.1:10259")
    log.v(4).info("Synced pod", pod=obj_ref(pod))
    log.error("Sync failed", err=error, pod=obj_ref(pod))

text:  I1126 09:19:58.123456   12345 server.py:42] "Started server" addr="127.0.0.1:10259"
json:  {"ts":1764148798.123456,"caller":"server.py:42","msg":"Started server","v":0,"addr":"127.0.0.1:10259"}

Built on stdlib logging, so library loggers (uvicorn, grpc, httpx) flow through the same formatter:
klog's V(n) is the stdlib level INFO - n, so a library's DEBUG records (level 10) show from --v=10.
Components that run uvicorn pass `log_config=None` so it does not install handlers of its own.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

from componentbase.flags import Flags, FlagSet

FORMATS = ("text", "json")
_FIELDS = "klog_fields"  # the LogRecord attribute that carries an event's key=value fields


def verbosity_level(verbosity: int) -> int:
    """The stdlib level of klog's V(verbosity): V(0) is INFO, V(10) is DEBUG."""
    return max(logging.INFO - max(verbosity, 0), 1)


class Verbose:
    """`log.v(n)`: info lines that are written only when --v >= n."""

    def __init__(self, logger: logging.Logger, verbosity: int) -> None:
        self._logger = logger
        self._level = verbosity_level(verbosity)

    @property
    def enabled(self) -> bool:
        """Whether lines at this verbosity are written; check it before computing costly fields."""
        return self._logger.isEnabledFor(self._level)

    def info(self, msg: str, /, **fields: Any) -> None:
        if self._logger.isEnabledFor(self._level):
            self._logger.log(self._level, msg, extra={_FIELDS: fields}, stacklevel=2)


class Logger:
    """A named structured logger: a message that is a constant sentence, details as fields."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @property
    def name(self) -> str:
        return self._logger.name

    def v(self, verbosity: int) -> Verbose:
        return Verbose(self._logger, verbosity)

    def info(self, msg: str, /, **fields: Any) -> None:
        self._logger.info(msg, extra={_FIELDS: fields}, stacklevel=2)

    def warning(self, msg: str, /, **fields: Any) -> None:
        self._logger.warning(msg, extra={_FIELDS: fields}, stacklevel=2)

    def error(self, msg: str, /, err: BaseException | str | None = None, **fields: Any) -> None:
        """Like klog.ErrorS: `err` comes first among the fields."""
        self._logger.error(msg, extra={_FIELDS: {"err": err, **fields}}, stacklevel=2)

    def exception(self, msg: str, /, **fields: Any) -> None:
        """An unexpected error, from an `except` block: adds err and the stack trace (on the same line)."""
        self._logger.error(msg, exc_info=True, extra={_FIELDS: fields}, stacklevel=2)


def get_logger(name: str) -> Logger:
    return Logger(logging.getLogger(name))


def obj_ref(obj: Any) -> str:
    """ "namespace/name" of an object (a dict or a model with `metadata`), "name" if cluster-scoped."""
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else getattr(obj, "metadata", None)
    if metadata is None:
        return ""
    if isinstance(metadata, Mapping):
        return kref(metadata.get("namespace") or "", metadata.get("name") or "")
    return kref(getattr(metadata, "namespace", None) or "", getattr(metadata, "name", None) or "")


def kref(namespace: str, name: str) -> str:
    """Like klog.KRef: "namespace/name", or "name" when there is no namespace."""
    return f"{namespace}/{name}" if namespace else name


def _severity(levelno: int) -> str:
    if levelno >= logging.CRITICAL:
        return "F"
    if levelno >= logging.ERROR:
        return "E"
    if levelno >= logging.WARNING:
        return "W"
    return "I"


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, _FIELDS, None) or {})
    if fields.get("err", "") is None:
        del fields["err"]
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        fields.setdefault("err", f"{type(error).__name__}: {error}")
        fields["stacktrace"] = "".join(traceback.format_exception(error)).rstrip()
    return fields


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "<nil>"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
    return _quote(str(value))


class TextFormatter(logging.Formatter):
    """klog's text format: `Lmmdd hh:mm:ss.uuuuuu pid file:line] "msg" key=value ...` (local time)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.datetime.fromtimestamp(record.created)
        header = (
            f"{_severity(record.levelno)}{when:%m%d %H:%M:%S}.{when.microsecond:06d} "
            f"{record.process or 0:7d} {record.filename}:{record.lineno}]"
        )
        parts = [header, _quote(record.getMessage())]
        parts += [f"{key}={_text_value(value)}" for key, value in _record_fields(record).items()]
        return " ".join(parts)


class JSONFormatter(logging.Formatter):
    """component-base's JSON format: ts (unix seconds), caller, msg, v, then the fields. Errors carry
    no "v" (as upstream) and, like warnings, say their "level"."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": record.created,
            "caller": f"{record.filename}:{record.lineno}",
            "msg": record.getMessage(),
        }
        if record.levelno >= logging.WARNING:
            entry["level"] = logging.getLevelName(record.levelno).lower()
        else:
            entry["v"] = max(logging.INFO - record.levelno, 0)
        for key, value in _record_fields(record).items():
            entry.setdefault(key, value)
        return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


class _KlogHandler(logging.StreamHandler[TextIO]):
    """Marks the handler setup_logging installed, so calling it again replaces it."""


def setup_logging(verbosity: int = 0, fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record of the process (ours and libraries') to `stream` (default stderr), one
    line each, in `fmt` ("text" or "json"), writing V(n) lines for n <= verbosity."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    handler = _KlogHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JSONFormatter())
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _KlogHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(verbosity_level(verbosity))
    # httpx logs every request at INFO; client-go logs its requests from -v=6
    logging.getLogger("httpx").setLevel(logging.INFO if verbosity >= 6 else logging.WARNING)
    logging.captureWarnings(True)


def add_logging_flags(flagset: FlagSet) -> None:
    """`-v, --v` and `--log-format`, as every upstream component has them."""
    flagset.int("v", 0, "number for the log level verbosity", shorthand="v")
    flagset.choice("log-format", "text", FORMATS, "Sets the log format. Permitted formats: text, json.")


def setup_logging_from_flags(flags: Flags, stream: TextIO | None = None) -> None:
    """setup_logging with the values of the flags add_logging_flags defined."""
    setup_logging(flags["v"], flags["log-format"], stream)
