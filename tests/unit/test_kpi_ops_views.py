"""The pure parts of the ops commands: windows, event lines, exported buckets, the stats table."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from premium_hotline.core import histogram, kpi
from premium_hotline.ops import events, window
from premium_hotline.ops.metrics import EXPORT_EDGES_MS, histogram_buckets

PARIS = "Europe/Paris"


def paris_ms(*args) -> int:
    return int(dt.datetime(*args, tzinfo=ZoneInfo(PARIS)).timestamp() * 1000)


NOW = paris_ms(2026, 3, 10, 14, 32, 40)


def test_last_15m_is_the_current_minute_and_the_14_before_it():
    span = window.resolve(last="15m", tz=PARIS, now_ms=NOW)
    minutes = span.minutes()
    assert len(minutes) == 15
    assert minutes[-1] == paris_ms(2026, 3, 10, 14, 32)
    assert minutes[0] == paris_ms(2026, 3, 10, 14, 18)


def test_default_window_is_today_from_local_midnight_to_now():
    span = window.resolve(tz=PARIS, now_ms=NOW)
    assert span.start_ms == paris_ms(2026, 3, 10)
    assert span.minutes()[-1] == paris_ms(2026, 3, 10, 14, 32)
    assert span.label == "today"


def test_a_local_day_across_the_spring_dst_change_has_23_hours_of_minutes():
    span = window.resolve(since="2026-03-29", until="2026-03-30", tz=PARIS, now_ms=NOW)
    assert len(span.minutes()) == 23 * 60


def test_since_and_until_take_local_times_and_explicit_offsets():
    span = window.resolve(since="08:00", until="2026-03-10T12:00:00+01:00", tz=PARIS, now_ms=NOW)
    assert span.start_ms == paris_ms(2026, 3, 10, 8, 0)
    assert span.end_ms == paris_ms(2026, 3, 10, 12, 0)
    assert len(span.minutes()) == 240  # until is exclusive


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"last": "15m", "since": "08:00"}, "cannot be combined"),
        ({"last": "soon"}, "not a duration"),
        ({"since": "yesterday-ish"}, "not a time"),
        ({"since": "12:00", "until": "08:00"}, "ends before it starts"),
        ({"last": "5000d"}, "refused"),
    ],
)
def test_bad_window_options_are_refused_with_the_reason(options, problem):
    with pytest.raises(ValueError, match=problem):
        window.resolve(tz=PARIS, now_ms=NOW, **options)


def test_durations_accept_the_usual_units():
    assert window.parse_duration("90s") == 90_000
    assert window.parse_duration("2h") == 7_200_000
    assert window.parse_duration("1d") == 86_400_000
    assert window.parse_duration("30") == 1_800_000  # bare number: minutes


def test_exported_histogram_counts_are_exact_at_every_edge():
    values = [0, 249, 250, 999, 1000, 1188, 1189, 19_999, 20_000, 60_000, 3_000_000, 20_000_000]
    counts: dict[int, int] = {}
    for value in values:
        counts[histogram.bucket(value)] = counts.get(histogram.bucket(value), 0) + 1
    buckets = dict(histogram_buckets(counts))
    for edge in EXPORT_EDGES_MS:
        label = next(key for key in buckets if key != "+Inf" and float(key) == edge / 1000)
        assert buckets[label] == sum(1 for v in values if v < edge), edge
    assert buckets["+Inf"] == len(values)
    assert all(edge in histogram.UPPER for edge in EXPORT_EDGES_MS)  # exact stored edges only


def test_event_lines_read_like_a_log():
    ended = {
        "type": "ended",
        "uniqueid": "1790000000.7",
        "queue": "support",
        "decided_tariff": "premium",
        "tariff": "free",
        "reason": "commitment_broken",
        "outcome": "answered",
        "time_to_human_ms": "61500",
        "talk_s": "120",
        "billable_s": "0",
        "amount": "0.00",
        "ended_at": str(paris_ms(2026, 3, 10, 14, 0, 5)),
        "sla_breached": "1",
    }
    line = events.format_line("1773147605000-0", ended, PARIS)
    assert line.startswith("2026-03-10 14:00:05.000  ended    1790000000.7  queue=support  answered")
    assert "premium→free (commitment_broken)" in line
    assert "time_to_human=61.5s" in line
    assert line.endswith("COMMITMENT BROKEN")
    decided = {
        "type": "decided",
        "uniqueid": "1.2",
        "queue": "sales",
        "decided_tariff": "free",
        "decided_reason": "closed",
    }
    assert "free (closed)" in events.format_line("1773147605000-0", decided, PARIS)  # time from the id
    odd = events.format_line("1773147605000-0", {"type": "future", "uniqueid": "1.3", "x": "1"}, PARIS)
    assert odd.endswith("x=1")


def test_stats_table_has_a_row_per_queue_and_tariff_and_dashes_for_undefined_figures():
    from premium_hotline.commands.stats import render_table
    from premium_hotline.config import General
    from premium_hotline.ops import report
    from premium_hotline.ops.reader import Waiting

    general = General()
    general.timezone = PARIS
    span = window.resolve(last="15m", tz=PARIS, now_ms=NOW)
    tallies = {
        "support": kpi.parse_minute({"offered:free": "2", "abandoned:free": "2", "wait_sum_ms:free": "9000"})
    }
    data = report.assemble(general, span, tallies, {"support": Waiting(1, NOW - 75_000)}, now_ms=NOW)
    text = render_table(data)
    rows = [line.split() for line in text.splitlines() if line.startswith("support")]
    assert [row[1] for row in rows] == ["premium", "free", "all"]
    free = rows[1]
    assert free[2:8] == ["2", "0", "2", "0", "0", "0"]  # ... unanswered, short, lost
    assert free[8] == "100.0%"
    assert free[9] == "-"  # no answered call: no ASA
    assert "waiting now: support 1 (longest 75.0s)" in text
    assert text.splitlines()[-1].endswith("definitions: docs/kpis.md")  # the legend, last


def test_the_stats_legend_spells_out_every_abbreviated_heading():
    from premium_hotline.commands.stats import COLUMNS, LEGEND

    abbreviated = {"ASA", "TTH avg", "pre-q", "SL2", "prem%", "downgr", "broken", "aband", "unans"}
    assert abbreviated <= {heading for heading, _, _ in COLUMNS}
    for heading in abbreviated:
        assert heading.split()[0] + " " in LEGEND or heading.split()[0] + "/" in LEGEND, heading


def test_chart_intervals_sum_their_minutes_exactly_and_cover_the_window():
    from premium_hotline.ops.charts import series, within_share

    span = window.resolve(since="14:00", until="14:30", tz=PARIS, now_ms=NOW)
    minute = {"offered:free": "1", "answered:free": "1", "tth_h:free:40": "1", "inq_sum_ms:free": "2000"}
    per_minute = {m: kpi.parse_minute(minute) for m in span.minutes()}
    points = series(per_minute, span, 15)
    assert [p["start_ms"] for p in points] == [span.start_ms, span.start_ms + 15 * 60_000]
    assert [p["all"]["offered"] for p in points] == [15, 15]
    assert points[0]["free"]["asa_s"] == 2.0
    tally = kpi.Tally(tth={histogram.bucket(5_000): 3, histogram.bucket(70_000): 1})
    assert within_share(tally, 60) == 0.75
