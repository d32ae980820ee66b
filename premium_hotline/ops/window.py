"""Which arrival minutes a report covers: `--last 15m`, `--since`, `--until`, or today.

KPI counters live per arrival minute (UTC, `YYYYMMDDHHMM`), so a window is a whole number of
minutes. Times the user types are local to the config's `timezone` unless they carry an
offset; "today" starts at local midnight, so a Paris call centre's day is its own day even
though the keys are in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
MAX_DAYS = 400  # beyond any record_ttl_days in use: guards against a typo reading years of keys

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_MS = {"s": 1000, "m": MINUTE_MS, "min": MINUTE_MS, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class Window:
    """Arrival minutes from `start_ms` (a minute boundary) up to, not including, `end_ms`."""

    __slots__ = ("end_ms", "label", "start_ms")

    def __init__(self, start_ms: int, end_ms: int, label: str = "") -> None:
        self.start_ms = start_ms - start_ms % MINUTE_MS
        self.end_ms = max(end_ms, self.start_ms)
        self.label = label

    def minutes(self) -> list[int]:
        """The epoch ms of every minute in the window, oldest first."""
        return list(range(self.start_ms, self.end_ms, MINUTE_MS))

    def __repr__(self) -> str:
        return f"Window({self.start_ms}, {self.end_ms}, {self.label!r})"


def parse_duration(text: str) -> int:
    """`15m`, `2h`, `1d`, `90s`, `1w`, `1.5h` -> milliseconds (a bare number means minutes)."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 15m, 2h or 1d")
    value = float(match.group(1)) * _UNIT_MS[(match.group(2) or "m").lower()]
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return int(value)


def parse_instant(text: str, tz: str, now_ms: int) -> int:
    """A user-typed time -> epoch ms. `now`, `HH:MM` (today), `YYYY-MM-DD` (midnight),
    `YYYY-MM-DD HH:MM[:SS]` or ISO 8601 with `T`; local to `tz` unless an offset or Z is given."""
    zone = ZoneInfo(tz)
    text = (text or "").strip()
    if text.lower() == "now":
        return now_ms
    today = dt.datetime.fromtimestamp(now_ms / 1000, zone).date()
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", text):
        parts = [int(p) for p in text.split(":")]
        moment = dt.datetime(today.year, today.month, today.day, parts[0], parts[1], *parts[2:], tzinfo=zone)
        return int(moment.timestamp() * 1000)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time such as 08:00, 2026-01-31 or 2026-01-31T08:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


def local_midnight_ms(epoch_ms: int, tz: str) -> int:
    """Start of the local day holding `epoch_ms` (correct across DST changes)."""
    zone = ZoneInfo(tz)
    day = dt.datetime.fromtimestamp(epoch_ms / 1000, zone).date()
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def resolve(
    *, last: str | None = None, since: str | None = None, until: str | None = None, tz: str, now_ms: int
) -> Window:
    """The window the options ask for. `--last D`: the current minute and the ones before it,
    D in all; `--since`/`--until`: from the minute holding `since` up to `until` (exclusive,
    default now); nothing: today since local midnight."""
    if last and (since or until):
        raise ValueError("--last cannot be combined with --since or --until")
    if last:
        length = parse_duration(last)
        length = max(MINUTE_MS, length - length % MINUTE_MS)
        current = now_ms - now_ms % MINUTE_MS
        window = Window(current + MINUTE_MS - length, now_ms + 1, f"last {last}")
    else:
        end = parse_instant(until, tz, now_ms) if until else now_ms + 1
        start = parse_instant(since, tz, now_ms) if since else local_midnight_ms(end - 1, tz)
        if end <= start:
            raise ValueError("the window ends before it starts (check --since and --until)")
        label = "today" if not (since or until) else ""
        window = Window(start, end, label)
    if window.end_ms - window.start_ms > MAX_DAYS * 86_400_000:
        raise ValueError(f"windows longer than {MAX_DAYS} days are refused (KPI minutes expire long before)")
    return window


def describe(window: Window, tz: str) -> str:
    """`2026-01-31 08:00 → 14:32 Europe/Paris` (the end shown as the last second covered)."""
    zone = ZoneInfo(tz)
    start = dt.datetime.fromtimestamp(window.start_ms / 1000, zone)
    end = dt.datetime.fromtimestamp((window.end_ms - 1) / 1000, zone)
    end_text = end.strftime("%H:%M:%S") if end.date() == start.date() else end.strftime("%Y-%m-%d %H:%M:%S")
    label = f" ({window.label})" if window.label else ""
    return f"{start:%Y-%m-%d %H:%M} → {end_text} {tz}{label}"
