"""Structured JSON logs through structlog, imported only when a line is actually written.

An AGI process must write nothing but protocol on stdout, so logs go to stderr (which Asterisk
shows on its console) or to a file. structlog costs tens of milliseconds to import, which a plain
AGI script would pay on every call: below the configured level nothing is imported at all.

Secrets never reach a log line: the config registers the Redis password and the caller hash key
(`register_secret`), and every rendered line has them replaced by `***`, whatever field or
exception message carried them. Messages are also built without them in the first place
(`redact_url`); this is the net under that.
"""

from __future__ import annotations

import sys

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_SECRETS: set[str] = set()
MIN_SECRET = 4  # shorter strings would blank out ordinary words; such a password is weak anyway


def register_secret(secret: str | bytes | None) -> None:
    """Never write `secret` (nor its JSON-escaped or percent-decoded forms) in a log line."""
    if not secret:
        return
    if isinstance(secret, bytes):
        secret = secret.decode("utf-8", "replace")
    forms = {secret}
    if "%" in secret:
        from urllib.parse import unquote

        forms.add(unquote(secret))
    for form in list(forms):
        if form.isascii() and form.isprintable() and '"' not in form and "\\" not in form:
            continue  # its JSON form is itself: no need to import json (and re) for it
        import json

        forms.add(json.dumps(form)[1:-1])
    _SECRETS.update(form for form in forms if len(form) >= MIN_SECRET)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def url_password(url: str) -> str | None:
    """The password part of `scheme://[user:]password@host...`, as written (None if none)."""
    rest = url.partition("://")[2]
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    auth, at, _ = netloc.rpartition("@")
    if not at or not auth:
        return None
    user, colon, password = auth.partition(":")
    return (password if colon else user) or None


def sentinel_password(url: str) -> str | None:
    """The `?sentinel_password=...` of a sentinel URL, as written (None if none)."""
    for pair in url.partition("?")[2].split("&"):
        name, _, value = pair.partition("=")
        if name == "sentinel_password" and value:
            return value
    return None


def redact_url(url: str) -> str:
    """`url` with its passwords shown as `***`: what a log line or an error message may show."""
    secret = sentinel_password(url)
    if secret:
        url = url.replace(f"sentinel_password={secret}", "sentinel_password=***")
    password = url_password(url)
    if not password:
        return url
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    auth, _, hosts = netloc.rpartition("@")
    user, colon, _ = auth.partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{scheme}{sep}{shown}@{hosts}{slash}{tail}"


class LevelMethods:
    """`debug/info/warning/error(event, **fields)` over one `_emit(level, event, fields)`."""

    def debug(self, event: str, **fields) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields) -> None:
        self._emit("error", event, fields)


class OncePerSecond(LevelMethods):
    """`log` with each of `events` (every event if None) written at most once a second, plus the
    count of those held back: what an outage or a flood repeats for every call would otherwise
    fill the disk, and block an event loop on its writes."""

    def __init__(self, log: LevelMethods, events: frozenset | None = None) -> None:
        self.log = log
        self.events = events
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def _emit(self, level: str, event: str, fields: dict) -> None:
        if self.events is None or event in self.events:
            import time

            now = time.monotonic()
            if now - self.last.get(event, -10.0) < 1.0:
                self.held[event] = self.held.get(event, 0) + 1
                return
            self.last[event] = now
            held = self.held.pop(event, 0)
            if held:
                fields = {**fields, "similar_suppressed": held}
        getattr(self.log, level)(event, **fields)


class Log(LevelMethods):
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


_FILES: dict[str, object] = {}


def _scrub_rendered(_logger, _method, line: str) -> str:
    return scrub(line) if _SECRETS else line


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
            _scrub_rendered,
        ],
        cache_logger_on_first_use=True,
    )
