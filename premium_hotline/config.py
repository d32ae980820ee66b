"""The plugin's configuration: one Asterisk-style INI file, validated into plain values.

Validation never stops at the first problem and never takes good numbers down with a bad one:
a broken number section is kept aside with its errors, so calls to that number fall to
`fail_tariff` while every other number keeps working.
"""

from __future__ import annotations

import os

from .core.hours import ALWAYS, HOLIDAY_CALENDARS, Hours, parse_dates, parse_hours
from .core.numbers import NumberPattern, Rate, national, parse_rate, surcharge_problem
from .ini import ConfigError, Section, Value, parse_ini
from .log import register_secret, scrub, url_password

DEFAULT_PATH = "/etc/asterisk/premium-hotline.conf"
ENV_VAR = "PREMIUM_HOTLINE_CONFIG"

# Countries whose call centres count as "in France": metropolitan France and the overseas
# departments, which are France for the 2012 proposal's location rule.
FRANCE = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT"})


# `answer`: early (default) answers the caller only when a person answers, so nothing is
# billable on the wire before a human (L.224-38); immediate answers at once, for trunks that
# cannot carry early media.
EARLY = "early"
IMMEDIATE = "immediate"
# Carriers drop early media that lasts too long, and a proxy gives up an INVITE that got no final
# answer after RFC 3261's Timer C (more than 3 minutes; Asterisk sends its 183 only once, so
# nothing refreshes it). 120 s stays well inside that and inside the usual 90-180 s no-answer
# timers of French carriers, while longer than all but the worst queue waits.
EARLY_MEDIA_MAX_S = 120


def config_path(explicit: str | None = None) -> str:
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH


class General:
    """[general]: how to reach Redis, what to do on failure, the service commitments."""

    __slots__ = (
        "agi_timeout_ms",
        "answer",
        "caller_hash_key",
        "caller_privacy",
        "closed_dates",
        "commitment_s",
        "default_queue",
        "early_media_max_s",
        "events_maxlen",
        "fail_tariff",
        "holidays",
        "key_prefix",
        "log_file",
        "log_level",
        "promise_confidence",
        "record_ttl_days",
        "redis_ca_file",
        "redis_timeout_ms",
        "redis_url",
        "service_level_s",
        "short_abandon_s",
        "spool_dir",
        "spool_max_mb",
        "timezone",
    )

    def __init__(self) -> None:
        self.redis_url = "redis://127.0.0.1:6379/0"
        self.redis_ca_file = ""  # CA bundle for rediss:// (empty: the system's trusted CAs)
        self.redis_timeout_ms = 200
        self.fail_tariff = "free"
        self.commitment_s = 60
        self.service_level_s = 20
        self.short_abandon_s = 5
        self.record_ttl_days = 31
        self.key_prefix = "ph:"
        self.events_maxlen = 100_000
        self.default_queue = ""
        self.caller_privacy = "hash"
        self.caller_hash_key = b""
        self.spool_dir = "/var/spool/asterisk/premium-hotline"
        self.spool_max_mb = 64
        self.log_file = ""
        self.log_level = "warning"
        self.holidays = "FR"
        self.closed_dates: frozenset = frozenset()
        self.timezone = "Europe/Paris"
        self.promise_confidence = 0.95
        self.agi_timeout_ms = 2000
        # early: the caller is answered when a person answers, never before (see answer_for).
        self.answer = EARLY
        self.early_media_max_s = EARLY_MEDIA_MAX_S


class NumberEntry:
    """One dialled number, or one pattern of numbers, and how its calls are served."""

    __slots__ = (
        "announce",
        "answer",
        "closed_dates",
        "commitment_s",
        "early_media_max_s",
        "errors",
        "holidays",
        "hours",
        "ivr",
        "line",
        "path",
        "pattern",
        "queue",
        "rate",
        "site",
        "timezone",
    )

    def __init__(self, pattern: NumberPattern, path: str, line: int) -> None:
        self.pattern = pattern
        self.queue = ""
        self.rate: Rate | None = None
        self.site = "FR"
        self.ivr = False
        self.hours: Hours = ALWAYS
        self.timezone = ""
        self.announce = ""
        self.commitment_s = 0
        self.answer = ""  # empty: [general]'s
        self.early_media_max_s = 0  # 0: [general]'s
        self.holidays = ""
        self.closed_dates: frozenset = frozenset()
        self.path = path
        self.line = line
        self.errors: list[ConfigError] = []

    @property
    def broken(self) -> bool:
        return bool(self.errors)


class Config:
    __slots__ = ("entries", "errors", "general", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.general = General()
        self.entries: list[NumberEntry] = []
        self.errors: list[ConfigError] = []

    def lookup(self, number: str) -> NumberEntry | None:
        """The entry for a dialled number: exact section first, else the most specific pattern."""
        best: NumberEntry | None = None
        for candidate in {number, national(number)}:
            for entry in self.entries:
                if entry.pattern.matches(candidate) and (
                    best is None or entry.pattern.specificity < best.pattern.specificity
                ):
                    best = entry
        return best

    def commitment_for(self, entry: NumberEntry | None) -> int:
        return (entry.commitment_s if entry and entry.commitment_s else 0) or self.general.commitment_s

    def answer_for(self, entry: NumberEntry | None) -> tuple[str, int]:
        """How calls to this number are answered: (`early` or `immediate`, early_media_max_s)."""
        general = self.general
        answer = (entry.answer if entry else "") or general.answer
        return answer, (entry.early_media_max_s if entry else 0) or general.early_media_max_s

    def timezone_for(self, entry: NumberEntry | None) -> str:
        return (entry.timezone if entry else "") or self.general.timezone


# ---- value checkers: each returns the parsed value or raises ValueError(problem) ------------


def _int(low: int, high: int):
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low} to {high})")
        return value

    return check


def _float(low: float, high: float):
    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low} to {high})")
        return value

    return check


def _choice(*choices: str):
    def check(text: str) -> str:
        value = text.lower()
        if value not in choices:
            raise ValueError(f"{text!r} is not one of: {', '.join(choices)}")
        return value

    return check


def _bool(text: str) -> bool:
    value = text.lower()
    if value in ("yes", "true", "y", "t", "1", "on"):
        return True
    if value in ("no", "false", "n", "f", "0", "off"):
        return False
    raise ValueError(f"{text!r} is not yes or no")


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "redis+sentinel://")):
        schemes = "redis://, rediss://, unix://, redis+cluster:// or redis+sentinel://"
        raise ValueError(f"{text!r} is not a {schemes} URL")
    if text.startswith("redis+"):  # host lists, master name, database: checked now, not per call
        from .store.topology import parse_topology_url

        parse_topology_url(text)
    return text


def _readable_file(text: str) -> str:
    """A file the plugin must be able to read (checked now, not at the first call)."""
    if not text:
        return text
    try:
        with open(text, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ValueError(f"{text}: {exc.strerror or exc}") from None
    return text


def _name(text: str) -> str:
    """Queue names and sound names end up inside dialplan expressions: keep them plain."""
    if not text:
        return text
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")
    bad = sorted(set(text) - allowed)
    if bad:
        raise ValueError(f"{text!r} holds {''.join(bad)!r}; use letters, digits, _ - . /")
    return text


def _prefix(text: str) -> str:
    if not text or any(ch in text for ch in "{} \t") or len(text) > 32:
        raise ValueError(f"{text!r} must be 1 to 32 characters without braces or spaces")
    return text


def _timezone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not a known time zone (e.g. Europe/Paris)") from None
    return text


def _site(text: str) -> str:
    value = text.upper()
    if len(value) != 2 or not value.isalpha():
        raise ValueError(f"{text!r} is not an ISO 3166 country code such as FR")
    return value


def _holidays(text: str) -> str:
    for calendar in HOLIDAY_CALENDARS:
        if text.lower() == calendar.lower():
            return calendar
    raise ValueError(f"{text!r} is not one of: {', '.join(HOLIDAY_CALENDARS)}")


_GENERAL_KEYS = {
    "redis_url": _redis_url,
    "redis_ca_file": _readable_file,
    "redis_timeout_ms": _int(10, 10_000),
    "fail_tariff": _choice("free", "premium"),
    "commitment_s": _int(1, 3600),
    "service_level_s": _int(1, 3600),
    "short_abandon_s": _int(0, 600),
    "record_ttl_days": _int(1, 3650),
    "key_prefix": _prefix,
    "events_maxlen": _int(1000, 100_000_000),
    "default_queue": _name,
    "caller_privacy": _choice("hash", "clear", "none"),
    "caller_hash_key": str,
    "caller_hash_key_file": str,
    "spool_dir": str,
    "spool_max_mb": _int(1, 100_000),
    "log_file": str,
    "log_level": _choice("debug", "info", "warning", "error"),
    "holidays": _holidays,
    "closed_dates": parse_dates,
    "timezone": _timezone,
    "promise_confidence": _float(0.5, 0.9999),
    "agi_timeout_ms": _int(100, 60_000),
    "answer": _choice(EARLY, IMMEDIATE),
    "early_media_max_s": _int(5, 3600),
}

_NUMBER_KEYS = {
    "queue": _name,
    "rate": parse_rate,
    "site": _site,
    "ivr": _bool,
    "hours": parse_hours,
    "timezone": _timezone,
    "announce": _name,
    "commitment_s": _int(1, 3600),
    "holidays": _holidays,
    "closed_dates": parse_dates,
    "answer": _choice(EARLY, IMMEDIATE),
    "early_media_max_s": _int(5, 3600),
}


def _unknown_key(key: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    return f"unknown key (did you mean {close[0]}?)" if close else "unknown key"


def _checked(section: Section, checkers: dict, errors: list[ConfigError]) -> dict:
    values = {}
    for key, value in section.values.items():
        checker = checkers.get(key)
        if checker is None:
            errors.append(ConfigError(value.path, value.line, key, _unknown_key(key, checkers)))
            continue
        try:
            values[key] = checker(value.text)
        except ValueError as exc:
            errors.append(ConfigError(value.path, value.line, key, str(exc)))
    return values


def _read_key_file(value: Value, errors: list[ConfigError]) -> bytes:
    try:
        with open(value.text, "rb") as handle:
            key = handle.read().strip()
    except OSError as exc:
        errors.append(ConfigError(value.path, value.line, "caller_hash_key_file", exc.strerror or str(exc)))
        return b""
    if len(key) < 16:
        errors.append(
            ConfigError(value.path, value.line, "caller_hash_key_file", "the key must be at least 16 bytes")
        )
        return b""
    register_secret(key)
    return key


def _register_secrets(section: Section) -> None:
    """Before any check can quote them: the Redis password and the caller hash key."""
    url = section.values.get("redis_url")
    if url is not None:
        register_secret(url_password(url.text))
    key = section.values.get("caller_hash_key")
    if key is not None:
        register_secret(key.text)


def _apply_general(section: Section, config: Config) -> None:
    errors = config.errors
    values = _checked(section, _GENERAL_KEYS, errors)
    general = config.general
    for key, value in values.items():
        if key == "caller_hash_key":
            if len(value) < 16:
                where = section.values[key]
                errors.append(
                    ConfigError(where.path, where.line, key, "the key must be at least 16 characters")
                )
            else:
                general.caller_hash_key = value.encode()
        elif key == "caller_hash_key_file":
            general.caller_hash_key = _read_key_file(section.values[key], errors) or general.caller_hash_key
        else:
            setattr(general, key, value)
    if general.caller_privacy == "hash" and not general.caller_hash_key:
        # Without a key a hash of a phone number is reversible by brute force (10^9 numbers).
        general.caller_privacy = "none"


def _number_entry(section: Section, config: Config) -> NumberEntry:
    try:
        pattern = NumberPattern(section.name)
    except ValueError as exc:
        entry = NumberEntry(NumberPattern("_!"), section.path, section.line)
        entry.errors.append(ConfigError(section.path, section.line, f"[{section.name}]", str(exc)))
        return entry
    entry = NumberEntry(pattern, section.path, section.line)
    if not section.name.startswith("_") and not section.name.lstrip("+").isdigit():
        entry.errors.append(
            ConfigError(
                section.path,
                section.line,
                f"[{section.name}]",
                "a section is [general], a number, or a _pattern",
            )
        )
    values = _checked(section, _NUMBER_KEYS, entry.errors)
    for key, value in values.items():
        setattr(entry, key, value)
    if not entry.queue:
        if "queue" not in section.values:
            entry.errors.append(
                ConfigError(section.path, section.line, "queue", "is required in every number section")
            )
        entry.queue = config.general.default_queue
    if entry.rate is not None:
        head = pattern.literal_head if section.name.startswith("_") else national(section.name)
        problem = surcharge_problem(national(head) if head.startswith(("+", "00")) else head, entry.rate)
        if problem:
            where = section.values["rate"]
            entry.errors.append(ConfigError(where.path, where.line, "rate", problem))
    return entry


def load_config(path: str | None = None) -> Config:
    """Load and validate; never raises for a bad file: look at `config.errors`."""
    path = config_path(path)
    config = Config(path)
    errors: list[ConfigError] = []
    sections = parse_ini(path, errors)
    config.errors.extend(errors)
    general = [s for s in sections if s.name.lower() == "general"]
    for section in general:
        _register_secrets(section)
    for section in general:
        _apply_general(section, config)
    for section in sections:
        if section.name.lower() == "general":
            continue
        entry = _number_entry(section, config)
        config.entries.append(entry)
        config.errors.extend(entry.errors)
    for error in config.errors:  # no problem text may quote a secret (a URL with its password)
        problem = scrub(error.problem)
        if problem != error.problem:
            error.problem = problem
            error.args = (f"{error.path}:{error.line}: {error.key}: {problem}",)
    config.errors.sort(key=lambda e: (e.path, e.line))
    return config
