"""The local time of the decision, read from the zone's TZif file, is zoneinfo's to the second."""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core.tzif import utc_offset
from premium_hotline.local_time import TZPATH, local_time

ZONES = (
    "Europe/Paris",  # the default zone
    "Europe/Brussels",
    "Europe/Dublin",  # negative DST in tzdata's main form
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Sydney",  # southern hemisphere
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",  # +12:45
    "Asia/Kolkata",
    "Indian/Reunion",
    "UTC",
)
START = int(dt.datetime(1990, 1, 1, tzinfo=dt.UTC).timestamp())
END = int(dt.datetime(2037, 12, 31, tzinfo=dt.UTC).timestamp())


def zone_file(zone: str) -> bytes:
    for directory in TZPATH:
        path = Path(directory, zone)
        if path.is_file():
            return path.read_bytes()
    pytest.skip(f"no tzdata file for {zone}")


def fields(moment: dt.datetime) -> tuple:
    return (*moment.timetuple()[:6], moment.microsecond, moment.weekday(), moment.utcoffset())


def transitions(zone: str) -> list[int]:
    """The instants between START and END where zoneinfo's offset changes, to the second."""
    tz = zoneinfo.ZoneInfo(zone)
    found, step = [], 6 * 3600

    def off(t: int):
        return dt.datetime.fromtimestamp(t, tz).utcoffset()

    for t in range(START, END, step):
        if off(t) != off(t + step):
            lo, hi = t, t + step
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(mid) == off(t) else (lo, mid)
            found.append(hi)
    return found


def test_this_interpreter_searches_the_tzpath_the_route_reads() -> None:
    if "PYTHONTZPATH" not in os.environ:
        assert zoneinfo.TZPATH == TZPATH


@pytest.mark.parametrize("zone", ZONES)
def test_the_offset_around_every_change_of_offset_is_zoneinfos(zone: str) -> None:
    data, tz = zone_file(zone), zoneinfo.ZoneInfo(zone)
    for change in transitions(zone):
        for t in (change - 3601, change - 1, change, change + 1, change + 3600):
            offset = utc_offset(data, t)
            if offset is not None:
                assert dt.timedelta(seconds=offset) == dt.datetime.fromtimestamp(t, tz).utcoffset(), (zone, t)


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), now_ms=st.integers(START * 1000, END * 1000))
def test_the_local_time_of_any_instant_is_zoneinfos(zone: str, now_ms: int) -> None:
    zone_file(zone)
    expected = dt.datetime.fromtimestamp(now_ms / 1000, zoneinfo.ZoneInfo(zone))
    assert fields(local_time(now_ms, zone)) == fields(expected)


def test_the_paris_file_answers_for_today_without_zoneinfo() -> None:
    """Debian's tzdata carries transitions to 2037: the plain path never needs zoneinfo now."""
    now = int(dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.UTC).timestamp())
    assert utc_offset(zone_file("Europe/Paris"), now) == 3600
    assert utc_offset(zone_file("Europe/Paris"), now + 200 * 86400) == 7200


@pytest.mark.parametrize("zone", ["../etc/passwd", "/etc/localtime", "Europe/../UTC", "Mars/Olympus"])
def test_names_zoneinfo_would_refuse_are_left_to_zoneinfo(zone: str) -> None:
    with pytest.raises((ValueError, zoneinfo.ZoneInfoNotFoundError)):
        local_time(1_800_000_000_000, zone)


@given(cut=st.integers(0, 4000), t=st.integers(START, END))
def test_a_truncated_file_gives_no_offset_or_the_right_one_never_a_wrong_one(cut: int, t: int) -> None:
    data = zone_file("Europe/Paris")
    offset = utc_offset(data[:cut], t)
    assert offset is None or offset == utc_offset(data, t)


@given(st.binary(max_size=300), st.integers(-(2**40), 2**40))
def test_bytes_that_are_not_tzif_give_no_offset(data: bytes, t: int) -> None:
    assert utc_offset(b"XZif" + data, t) is None


def test_the_offset_kept_between_calls_changes_at_the_transition_to_the_second() -> None:
    """A server keeps the zone's offset until its next transition: the last second of winter
    time and the first of summer time, asked one after the other, each get their own."""
    change = int(dt.datetime(2027, 3, 28, 1, 0, tzinfo=dt.UTC).timestamp())  # 02:00 CET -> 03:00 CEST
    before = local_time((change - 1) * 1000, "Europe/Paris")
    after = local_time(change * 1000, "Europe/Paris")
    back = local_time((change - 1) * 1000, "Europe/Paris")
    assert (before.hour, before.minute, before.utcoffset()) == (1, 59, dt.timedelta(hours=1))
    assert (after.hour, after.minute, after.utcoffset()) == (3, 0, dt.timedelta(hours=2))
    assert back == before and back.utcoffset() == before.utcoffset()
