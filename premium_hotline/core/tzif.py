"""The UTC offset of an instant, read from a TZif file's transitions (RFC 8536).

Why not zoneinfo: a plain AGI process looks up one local time and exits, and importing zoneinfo
(which imports sysconfig for its search path) is one of the largest costs of its start-up. This
answers only where the file's own transition list covers the instant, between its first and its
last transition, which for the tzdata files Debian ships (the "fat" kind) runs to 2037; anything
else (a slim file, leap seconds, a far date, a damaged file) returns None and the caller asks
zoneinfo. tests/unit/test_tzif.py proves the answers equal to zoneinfo's across DST changes.
Pure: bytes in, an int out.
"""

from __future__ import annotations

_HEADER = 44  # magic (4), version (1), reserved (15), six 4-byte counts


def _counts(data: bytes, at: int) -> tuple[int, int, int, int, int, int] | None:
    if data[at : at + 4] != b"TZif" or len(data) < at + _HEADER:
        return None
    c = [int.from_bytes(data[at + 20 + 4 * i : at + 24 + 4 * i], "big") for i in range(6)]
    return c[0], c[1], c[2], c[3], c[4], c[5]


def utc_offset(data: bytes, timestamp: int) -> int | None:
    """Seconds east of UTC at `timestamp` (whole Unix seconds), or None when the file's
    transitions do not cover it (before the first, at or after the last) or it is not TZif v2+."""
    span = utc_span(data, timestamp)
    return span[0] if span is not None else None


def utc_span(data: bytes, timestamp: int) -> tuple[int, int, int] | None:
    """(offset, start, end): the offset at `timestamp` and the transitions around it, between
    which it holds (start <= timestamp < end): a server asks once per change of offset, not once
    per call. None as for utc_offset."""
    first = _counts(data, 0)
    if first is None or data[4:5] not in (b"2", b"3", b"4"):
        return None
    isut, isstd, leap, times, types, chars = first
    second = _HEADER + times * 5 + types * 6 + chars + leap * 8 + isstd + isut
    counts = _counts(data, second)
    if counts is None:
        return None
    isut, isstd, leap, times, types, chars = counts
    base = second + _HEADER
    index_at = base + times * 8
    types_at = index_at + times
    if leap or times == 0 or types == 0 or len(data) < types_at + types * 6:
        return None

    def transition(i: int) -> int:
        return int.from_bytes(data[base + 8 * i : base + 8 * i + 8], "big", signed=True)

    if timestamp < transition(0) or timestamp >= transition(times - 1):
        return None
    lo, hi = 0, times - 1  # transition(lo) <= timestamp < transition(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if transition(mid) <= timestamp:
            lo = mid
        else:
            hi = mid
    kind = data[index_at + lo]
    if kind >= types:
        return None
    offset = int.from_bytes(data[types_at + 6 * kind : types_at + 6 * kind + 4], "big", signed=True)
    return offset, transition(lo), transition(hi)
