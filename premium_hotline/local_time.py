"""The local time of a number's zone, read the cheap way a plain AGI process can afford.

Why not only zoneinfo: importing it (it imports sysconfig for its search path) was one of the
largest costs of a plain script's start-up (bench/README.md, item 3). The zone's TZif file is
read directly where zoneinfo would find it, parsed by core/tzif.py; zoneinfo answers whenever
the file cannot (PYTHONTZPATH set, an odd name, a slim file, a date past its transitions).
tests/unit/test_tzif.py proves the two agree. The file read is this module's I/O; the parse is pure.
"""

from __future__ import annotations

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


def _file_offset(timestamp: int, timezone: str) -> int | None:
    """The zone's UTC offset from its TZif file, or None (ask zoneinfo)."""
    data = _ZONE_FILES.get(timezone)
    if data is None:
        if len(_ZONE_FILES) >= 64:
            _ZONE_FILES.clear()
        data = _ZONE_FILES[timezone] = _zone_file(timezone)
    from .core.tzif import utc_offset

    return utc_offset(data, timestamp) if data else None


def local_time(now_ms: int, timezone: str):
    """An aware datetime in `timezone`: what the business hours and holidays are checked in."""
    from .core.dates import datetime, timedelta
    from .core.dates import timezone as fixed_offset

    offset = _file_offset(now_ms // 1000, timezone)
    if offset is not None:
        return datetime.fromtimestamp(now_ms / 1000, fixed_offset(timedelta(seconds=offset)))
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone))
