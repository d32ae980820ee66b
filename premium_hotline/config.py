"""The plugin's configuration: one Asterisk-style INI file, validated into plain values.

Validation never stops at the first problem and never takes good numbers down with a bad one:
a broken number section is kept aside with its errors, so calls to that number fall to
`fail_tariff` while every other number keeps working.
"""

from __future__ import annotations

import os

from .core import law
from .core.hours import ALWAYS, HOLIDAY_CALENDARS, Hours, parse_dates, parse_hours
from .core.numbers import NumberPattern, Rate, national, parse_rate, surcharge_problem
from .ini import ConfigError, Section, Value, parse_ini
from .log import register_secret, scrub, sentinel_password, url_password

DEFAULT_PATH = "/etc/asterisk/premium-hotline.conf"
ENV_VAR = "PREMIUM_HOTLINE_CONFIG"

# Countries whose call centres count as "in France": metropolitan France and the overseas
# departments, which are France for the 2012 proposal's location rule.
FRANCE = frozenset({"FR", "GP", "MQ", "GF", "RE", "YT"})


# Wallboard thresholds: figure -> default. A figure in ALERT_BELOW is bad when under its
# threshold, every other one when at or over it; 0 turns a threshold off.
ALERT_DEFAULTS: dict[str, float] = {
    "waiting": 5,
    "longest_wait_s": 60,
    "abandon_rate": 0.10,
    "asa_s": 20,
    "service_level": 0.80,
    "tth_p90_s": 60,
    "premium_share": 0,
    "commitments_broken": 1,
    "refunds_due": 0.01,
    "lost": 1,
}
ALERT_BELOW = frozenset({"service_level", "premium_share"})


class LawError(ConfigError):
    """A setting the law forbids (a surcharge on a complaints number).

    check-config refuses it like any error, but it does not make the section broken: the
    number keeps working and is simply never premium (reason `not_surchargeable`), whatever
    `fail_tariff` says, so a refused config can never surcharge what the law forbids.
    """


DEFAULT_MAX_CALL_S = 4 * 3600
# A lost call is counted under the same guard as every call (store/records.py, 7 days): it must
# be reaped well inside that life, so max_call_s stays under 6 days.
MAX_MAX_CALL_S = 6 * 86_400


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
        "alerts",
        "announce_wait",
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
        "language",
        "log_file",
        "log_level",
        "max_call_s",
        "promise_confidence",
        "promise_policy",
        "promise_target",
        "purpose",
        "record_ttl_days",
        "redis_ca_file",
        "redis_timeout_ms",
        "redis_url",
        "regime",
        "service_level_s",
        "short_abandon_s",
        "sounds_dir",
        "sounds_language",
        "spool_dir",
        "spool_max_mb",
        "timezone",
        "wallboard_refresh_s",
        "wrapup_s",
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
        # daily: promise_target of the day's premium calls in time (core/promise.py);
        # per_call: each premium call in time with promise_confidence.
        self.promise_policy = "daily"
        self.promise_target = 0.95
        self.announce_wait = False  # PH_ANNOUNCE_WAIT=yes: the dialplan says "moins de N minutes"
        self.wrapup_s = 0  # the queues' wrapuptime (queues.conf): Asterisk does not expose it
        self.agi_timeout_ms = 2000
        self.language = "fr"  # the wallboard's and the report's (fr or en)
        self.wallboard_refresh_s = 5
        # Wallboard thresholds, `alert_<figure>` keys: a figure past its threshold shows in colour.
        self.alerts: dict[str, float] = dict(ALERT_DEFAULTS)
        self.purpose = ""  # default purpose of the numbers (core/law.py); empty: not declared
        self.regime = law.LAW_IN_FORCE
        self.sounds_dir = "/usr/share/asterisk/sounds"  # Asterisk's astdatadir/sounds
        self.sounds_language = "en"  # the channels' language, as Playback looks for a sound
        # A call with no hang-up this long after its arrival is closed as `lost` (the PBX died
        # under it). 4 h: beyond any real hotline call, so a crash at noon is in the same day's
        # figures, and far inside the 7 days the KPI guard lives (docs/reliability.md).
        self.max_call_s = DEFAULT_MAX_CALL_S
        # early: the caller is answered when a person answers, never before (see answer_for).
        self.answer = EARLY
        self.early_media_max_s = EARLY_MEDIA_MAX_S

    @property
    def record_ttl_s(self) -> int:
        return self.record_ttl_days * 86_400


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
        "max_call_s",
        "needs_proof",
        "path",
        "pattern",
        "purpose",
        "queue",
        "rate",
        "site",
        "surcharge_bar",
        "timezone",
        "where",
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
        self.max_call_s = 0  # 0: [general]'s
        self.answer = ""  # empty: [general]'s
        self.early_media_max_s = 0  # 0: [general]'s
        self.holidays = ""
        self.closed_dates: frozenset = frozenset()
        self.purpose = ""
        self.surcharge_bar = ""  # the rule that forbids this number's surcharge; '' when lawful
        self.needs_proof = False  # premium only when every criterion is proven (core/law.py)
        self.where: dict[str, tuple[str, int]] = {}  # key -> (file, line) it was written at
        self.path = path
        self.line = line
        self.errors: list[ConfigError] = []

    @property
    def broken(self) -> bool:
        """Errors other than what the law forbids: those sections fall to fail_tariff."""
        return bool(self.errors) and any(not isinstance(error, LawError) for error in self.errors)


class Config:
    __slots__ = ("_lookups", "entries", "errors", "general", "path", "said_at_load", "server", "warnings")

    def __init__(self, path: str) -> None:
        self.path = path
        self.general = General()
        self.server: dict = {}  # [server]: `serve`'s settings, checked (server/app.py SETTINGS)
        self.entries: list[NumberEntry] = []
        self.errors: list[ConfigError] = []
        self.warnings: list[ConfigError] = []  # lawful but worth a look; check-config prints them
        # Warnings of a setting that does not do what it says: every load logs them too.
        self.said_at_load: list[ConfigError] = []
        self._lookups: dict[str, NumberEntry | None] = {}

    def lookup(self, number: str) -> NumberEntry | None:
        """The entry for a dialled number: exact section first, else the most specific pattern.

        Remembered per number (a reload makes a new Config): the server looks the same few
        numbers up for every call, through every pattern."""
        known = self._lookups.get(number, self)
        if known is not self:
            return known
        best: NumberEntry | None = None
        for candidate in {number, national(number)}:
            for entry in self.entries:
                if entry.pattern.matches(candidate) and (
                    best is None or entry.pattern.specificity < best.pattern.specificity
                ):
                    best = entry
        if len(self._lookups) < 4096:  # numbers dialled by a scan must not grow this without bound
            self._lookups[number] = best
        return best

    def commitment_for(self, entry: NumberEntry | None) -> int:
        return (entry.commitment_s if entry and entry.commitment_s else 0) or self.general.commitment_s

    def max_call_for(self, entry: NumberEntry | None) -> int:
        """Seconds after arrival past which a call nobody closed is closed as `lost`."""
        return (entry.max_call_s if entry and entry.max_call_s else 0) or self.general.max_call_s

    def answer_for(self, entry: NumberEntry | None) -> tuple[str, int]:
        """How calls to this number are answered: (`early` or `immediate`, early_media_max_s)."""
        general = self.general
        answer = (entry.answer if entry else "") or general.answer
        return answer, (entry.early_media_max_s if entry else 0) or general.early_media_max_s

    def timezone_for(self, entry: NumberEntry | None) -> str:
        return (entry.timezone if entry else "") or self.general.timezone


# ---- value checkers: each returns the parsed value or raises ValueError(problem) ------------


def _number(kind, what: str, low, high):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {what}") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low} to {high})")
        return value

    return check


def _int(low: int, high: int):
    return _number(int, "a whole number", low, high)


def _float(low: float, high: float):
    return _number(float, "a number", low, high)


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
    """Every form checked now (hosts, ports, master name, database, options), not per call."""
    from .redis.url import parse_url

    parse_url(text)
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
    from .core.codes import PLAIN_NAME_CHARS

    bad = sorted(set(text) - PLAIN_NAME_CHARS)
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


# A rate that varies by hour or day: looked for only once a rate failed to parse (`re` is not
# imported on the plain script's path otherwise).
_VARYING = r"\d{1,2}[:h]\d{2}|\b(mon|tue|wed|thu|fri|sat|sun|night|day|peak|off)"


def _rate(text: str) -> Rate | None:
    """One rate per number: a second rate, or a rate with hours or days, is refused by name."""
    try:
        return parse_rate(text)
    except ValueError:
        import re

        if text.count("/") > 1 or re.search(_VARYING, text, re.I):
            raise ValueError(law.varying_rate_problem()) from None
        raise


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
    "promise_policy": _choice("daily", "per_call"),
    "promise_target": _float(0.5, 0.9999),
    "announce_wait": _bool,
    "wrapup_s": _int(0, 600),
    "agi_timeout_ms": _int(100, 60_000),
    "language": _choice("fr", "en"),
    "wallboard_refresh_s": _int(1, 300),
    **{f"alert_{figure}": _float(0, 1_000_000) for figure in ALERT_DEFAULTS},
    "purpose": _choice(*law.PURPOSES),
    "regime": _choice(*law.REGIMES),
    "sounds_dir": str,
    "sounds_language": _name,
    "max_call_s": _int(1, MAX_MAX_CALL_S),
    "answer": _choice(EARLY, IMMEDIATE),
    "early_media_max_s": _int(5, 3600),
}


def _allow(text: str) -> str:
    from .server.wire import AllowList

    AllowList.parse(text)
    return text


# [server]: what `serve` also takes as flags (a flag overrides the file); server/app.py SETTINGS.
_SERVER_KEYS = {
    "host": str,
    "port": _int(0, 65535),
    "allow": _allow,
    "backlog": _int(128, 65535),
    "max_sessions": _int(1, 1_000_000),
    "drain_s": _float(0, 3600),
    "redis_pool": _int(1, 10_000),
    "replay_every": _float(0, 86_400),
    "reap_every": _float(0, 86_400),
    "loop": _choice("asyncio", "uvloop", "auto"),
}

_NUMBER_KEYS = {
    "queue": _name,
    "rate": _rate,
    "site": _site,
    "ivr": _bool,
    "hours": parse_hours,
    "timezone": _timezone,
    "announce": _name,
    "commitment_s": _int(1, 3600),
    "max_call_s": _int(1, MAX_MAX_CALL_S),
    "holidays": _holidays,
    "closed_dates": parse_dates,
    "purpose": _choice(*law.PURPOSES),
    "answer": _choice(EARLY, IMMEDIATE),
    "early_media_max_s": _int(5, 3600),
}


def _unknown_key(key: str, known) -> str:
    import difflib

    if "rate" in known and "rate" in key:  # rate_night, peak_rate: a second rate for one number
        return f"unknown key: {law.varying_rate_problem()}"
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
        register_secret(sentinel_password(url.text))
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
        elif key.startswith("alert_"):
            general.alerts[key[len("alert_") :]] = value
        elif key == "caller_hash_key_file":
            general.caller_hash_key = _read_key_file(section.values[key], errors) or general.caller_hash_key
        else:
            setattr(general, key, value)
    if values.get("regime") == law.PROPOSAL_2012:
        where = section.values["regime"]
        config.warnings.append(ConfigError(where.path, where.line, "regime", law.proposal_warning()))


def _privacy_fallback(sections: list[Section], config: Config) -> None:
    """Without a key a hash of a phone number is reversible by brute force (10^9 numbers), so
    `hash` without one stores no caller number; written out, that is a surprise to say."""
    general = config.general
    if general.caller_privacy != "hash" or general.caller_hash_key:
        return
    general.caller_privacy = "none"
    written = [s.values["caller_privacy"] for s in sections if "caller_privacy" in s.values]
    if written:
        warning = ConfigError(
            written[-1].path,
            written[-1].line,
            "caller_privacy",
            "warning: hash needs caller_hash_key or caller_hash_key_file (16 bytes or more): "
            "no caller number is stored (as with none)",
        )
        config.warnings.append(warning)
        config.said_at_load.append(warning)


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
                "a section is [general], [server], a number, or a _pattern",
            )
        )
    values = _checked(section, _NUMBER_KEYS, entry.errors)
    for key, value in values.items():
        setattr(entry, key, value)
    entry.where = {key: (value.path, value.line) for key, value in section.values.items()}
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
    _law_checks(section, entry, config)
    return entry


def _law_checks(section: Section, entry: NumberEntry, config: Config) -> None:
    """What the law says of this number's purpose (core/law.py), as errors that leave the number
    working (LawError: never premium) or warnings. The price message needs the sound files, so
    check-config checks it (premium_hotline/price_message.py), not every call's config load."""
    general = config.general
    entry.purpose = entry.purpose or general.purpose
    entry.needs_proof = law.needs_proof(entry.purpose, general.regime)
    if entry.rate is None:
        return
    where = section.values["rate"]
    bar = law.surcharge_bar(entry.purpose, general.regime)
    if bar:
        entry.surcharge_bar = bar
        problem = law.forbidden_problem(entry.purpose, bar, entry.rate)
        entry.errors.append(LawError(where.path, where.line, "rate", problem))
    elif not entry.purpose:
        config.warnings.append(
            ConfigError(where.path, where.line, "purpose", law.undeclared_purpose_warning(entry.rate))
        )


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
    _privacy_fallback(general, config)
    for section in sections:
        if section.name.lower() == "general":
            continue
        if section.name.lower() == "server":
            config.server.update(_checked(section, _SERVER_KEYS, config.errors))
            continue
        entry = _number_entry(section, config)
        config.entries.append(entry)
        config.errors.extend(entry.errors)
    for error in config.errors:  # no problem text may quote a secret (a URL with its password)
        problem = scrub(error.problem)
        if problem != error.problem:
            error.problem = problem
            error.args = (f"{error.path}:{error.line}: {error.key}: {problem}",)
    # A problem in a template is the template's line, once, however many sections use it.
    config.errors = sorted({str(e): e for e in config.errors}.values(), key=lambda e: (e.path, e.line))
    config.warnings = sorted({str(e): e for e in config.warnings}.values(), key=lambda e: (e.path, e.line))
    return config
