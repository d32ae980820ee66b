"""The hour and minute in key names are UTC's, whatever order the instants come in (the stamps
are kept per period, formatted once)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.store.keys import hour_stamp, minute_stamp

INSTANTS = st.integers(-(10**12), 4 * 10**12)  # 1938 to 2096, in ms


@given(st.lists(INSTANTS, min_size=1, max_size=20))
def test_each_instant_gets_its_own_utc_minute_and_hour(instants: list[int]) -> None:
    for ms in instants:
        utc = time.gmtime(ms // 1000)
        assert minute_stamp(ms) == time.strftime("%Y%m%d%H%M", utc)
        assert hour_stamp(ms) == time.strftime("%Y%m%d%H", utc)


def test_the_last_millisecond_of_an_hour_and_the_first_of_the_next_differ() -> None:
    top = 1_796_284_800_000  # 2026-12-03 08:00:00 UTC
    assert (hour_stamp(top - 1), hour_stamp(top)) == ("2026120307", "2026120308")
    assert (minute_stamp(top - 1), minute_stamp(top)) == ("202612030759", "202612030800")
