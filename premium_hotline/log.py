"""Structured JSON logs through structlog, imported only when a line is actually written.

An AGI process must write nothing but protocol on stdout, so logs go to stderr (which Asterisk
shows on its console) or to a file. structlog costs tens of milliseconds to import, which a plain
AGI script would pay on every call: below the configured level nothing is imported at all.
"""

from __future__ import annotations

import sys

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Log:
    """`log.info("decided", tariff="premium")`: one JSON object per line."""

    def __init__(self, level: str = "warning", path: str = "", **bound) -> None:
        self.threshold = _LEVELS.get(level, 30)
        self.path = path
        self.bound = bound
        self._logger = None

    def bind(self, **values) -> Log:
        child = Log(path=self.path, **{**self.bound, **values})
        child.threshold = self.threshold
        return child

    def _emit(self, level: str, event: str, fields: dict) -> None:
        if _LEVELS[level] < self.threshold:
            return
        try:
            if self._logger is None:
                self._logger = _structlog_logger(self.path).bind(**self.bound)
            getattr(self._logger, level)(event, **fields)
        except Exception:
            pass

    def debug(self, event: str, **fields) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields) -> None:
        self._emit("error", event, fields)


_FILES: dict[str, object] = {}


def _structlog_logger(path: str):
    import structlog

    if path:
        stream = _FILES.get(path)
        if stream is None:
            try:
                stream = open(path, "a", buffering=1, encoding="utf-8")
            except OSError:
                stream = sys.stderr
            _FILES[path] = stream
    else:
        stream = sys.stderr
    return structlog.wrap_logger(
        structlog.PrintLogger(stream),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        cache_logger_on_first_use=True,
    )
