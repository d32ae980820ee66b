"""The local time of a number's zone, read the cheap way a plain AGI process can afford.

Why not only zoneinfo: importing it (it imports sysconfig for its search path) was one of the
largest costs of a plain script's start-up (bench/README.md, item 3). The zone's TZif file is
read directly where zoneinfo would find it, parsed by core/tzif.py; zoneinfo answers whenever
the file cannot (PYTHONTZPATH set, an odd name, a slim file, a date past its transitions).
tests/unit/test_tzif.py proves the two agree. The file read is this module's I/O; the parse is pure.
"""

from __future__ import annotations

from .core.dates import datetime

# Where zoneinfo looks when PYTHONTZPATH is unset: CPython's default TZPATH (a test checks this
# interpreter's). The zone's file is read here directly, zoneinfo only when it cannot answer.
TZPATH = ("/usr/share/zoneinfo", "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo", "/etc/zoneinfo")
_ZONE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-")


_ZONE_FILES: dict[str, bytes] = {}  # read once per process, as zoneinfo caches its zones


def _zone_file(timezone: str) -> bytes:
    """The zone's TZif bytes where zoneinfo would find them, or b"" (then zoneinfo answers)."""
    import os

    parts = timezone.split("/")
    if "PYTHONTZPATH" in os.environ or not all(p and set(p) <= _ZONE_CHARS for p in parts):
        return b""
    for directory in TZPATH:
        try:
            with open(os.path.join(directory, *parts), "rb") as handle:
                return handle.read(1 << 20)
        except FileNotFoundError:
            continue
        except OSError:  # a directory, unreadable: zoneinfo's answer, whatever it is
            return b""
    return b""


_SPANS: dict[str, tuple[int, int, object]] = {}  # zone: the current offset's span, its tzinfo


def _file_zone(timestamp: int, timezone: str):
    """The zone's fixed offset at `timestamp` as a tzinfo, from its TZif file, or None (ask
    zoneinfo). Kept per zone until the next transition: a server decides thousands of calls
    between two changes of offset (the lookup was a tenth of the route's own time, py-spy
    under bench/driver.py)."""
    span = _SPANS.get(timezone)
    if span is not None and span[0] <= timestamp < span[1]:
        return span[2]
    data = _ZONE_FILES.get(timezone)
    if data is None:
        if len(_ZONE_FILES) >= 64:
            _ZONE_FILES.clear()
            _SPANS.clear()
        data = _ZONE_FILES[timezone] = _zone_file(timezone)
    from .core.dates import timedelta
    from .core.dates import timezone as fixed_offset
    from .core.tzif import utc_span

    found = utc_span(data, timestamp) if data else None
    if found is None:
        return None
    offset, start, end = found
    zone = fixed_offset(timedelta(seconds=offset))
    _SPANS[timezone] = (start, end, zone)
    return zone


def local_time(now_ms: int, timezone: str):
    """An aware datetime in `timezone`: what the business hours and holidays are checked in."""
    zone = _file_zone(now_ms // 1000, timezone)
    if zone is not None:
        return datetime.fromtimestamp(now_ms / 1000, zone)
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone))
