"""KPI arithmetic over the writer's own per-call counters: formulas, exact merging, edge cases.

Calls go through core.timeline.ended and core.kpi.counters (what call_ended writes), are
summed per minute as HINCRBY would, read back with kpi.parse_minute, and compared with the same
figures computed directly from the calls.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core import kpi
from premium_hotline.core.kpi import counters
from premium_hotline.core.timeline import ended

SL_S, SHORT_S, COMMIT_S = 20, 5, 60


def close(arrived, queued, human, end, tariff="premium", status=""):
    return ended(
        arrived_ms=arrived,
        queued_ms=queued,
        human_ms=human,
        ended_ms=end,
        decided_tariff=tariff,
        tariff=tariff,
        reason=tariff,
        rate="0.80/min" if tariff == "premium" else "",
        commitment_s=COMMIT_S,
        short_abandon_s=SHORT_S,
        service_level_s=SL_S,
        queue_status=status,
    )


def as_redis_hash(calls) -> dict[str, str]:
    """Sum the calls' fields like the Lua script's HINCRBY, then stringify like HGETALL."""
    summed: dict[str, int] = {}
    for ending, tariff in calls:
        for name, value in counters(ending, tariff).items():
            summed[name] = summed.get(name, 0) + value
    return {name: str(value) for name, value in summed.items()}


T0 = 1_790_000_000_000


def test_parse_minute_splits_counters_and_histogram_by_tariff():
    tallies = kpi.parse_minute(
        {
            "offered:premium": "3",
            "answered:premium": "2",
            "tth_h:premium:60": "2",
            "offered:free": "1",
            "abandoned:free": "1",
            "wait_sum_ms:free": "12000",
        }
    )
    assert set(tallies) == {"premium", "free"}
    assert tallies["premium"]["offered"] == 3
    assert tallies["premium"].tth == {60: 2}
    assert tallies["free"]["wait_sum_ms"] == 12000
    assert tallies["free"]["answered"] == 0


def test_parse_minute_skips_values_that_are_not_integers_instead_of_failing_the_window():
    tallies = kpi.parse_minute(
        {"offered:premium": "x", "answered:premium": "1", "tth_h:premium:z": "1", "odd": "1"}
    )
    assert tallies["premium"].counts == {"answered": 1}
    assert tallies["premium"].tth == {}


def test_short_abandons_are_counted_apart_and_not_offered():
    calls = [
        (close(T0, None, None, T0 + 3_000), "free"),  # short abandon
        (close(T0, T0, None, T0 + 30_000), "free"),  # abandoned
        (close(T0, T0, T0 + 10_000, T0 + 70_000), "free"),  # answered
    ]
    figures = kpi.figures(kpi.parse_minute(as_redis_hash(calls))["free"])
    assert figures["offered"] == 2
    assert figures["short_abandoned"] == 1
    assert figures["abandoned"] == 1
    assert figures["abandon_rate"] == 0.5


def test_asa_is_queue_time_and_time_to_human_adds_the_part_before_the_queue():
    # 10 s price message then 5 s in queue; 0 s before queue then 25 s in queue.
    calls = [
        (close(T0, T0 + 10_000, T0 + 15_000, T0 + 60_000), "premium"),
        (close(T0, T0, T0 + 25_000, T0 + 60_000), "premium"),
    ]
    figures = kpi.figures(kpi.parse_minute(as_redis_hash(calls))["premium"])
    assert figures["asa_s"] == 15.0  # (5 + 25) / 2
    assert figures["in_queue_mean_s"] == 15.0
    assert figures["before_queue_mean_s"] == 5.0
    assert figures["tth_mean_s"] == 20.0  # (15 + 25) / 2


def test_service_level_counts_the_threshold_itself_as_within():
    calls = [
        (close(T0, T0, T0 + 20_000, T0 + 30_000), "free"),  # exactly T: within
        (close(T0, T0, T0 + 20_001, T0 + 30_000), "free"),  # 1 ms over
        (close(T0, T0, None, T0 + 15_000), "free"),  # abandoned within T
        (close(T0, T0, None, T0 + 40_000), "free"),  # abandoned after T
    ]
    figures = kpi.figures(kpi.parse_minute(as_redis_hash(calls))["free"])
    assert figures["service_level"] == 0.5  # 1 of 2 answered
    assert figures["service_level_2"] == 0.5  # (1 answered + 1 abandoned) within T of 4


def test_service_level_2_leaves_out_the_calls_the_queue_turned_away():
    calls = [
        (close(T0, T0, T0 + 5_000, T0 + 30_000), "free"),
        (close(T0, T0, None, T0 + 10_000, status="JOINEMPTY"), "free"),  # queue gave up within T
        (close(T0, T0, None, T0 + 300_000, status="TIMEOUT"), "free"),  # queue gave up after T
    ]
    figures = kpi.figures(kpi.parse_minute(as_redis_hash(calls))["free"])
    assert figures["unanswered"] == 2
    assert figures["offered"] == 3
    assert figures["service_level_2"] == 1.0  # the one answered call, within T; no abandon
    assert figures["abandon_wait_mean_s"] == (10 + 300) / 2


def test_a_premium_call_answered_after_the_commitment_is_broken_downgraded_and_not_billed():
    calls = [
        (close(T0, T0 + 10_000, T0 + 61_000, T0 + 181_000), "premium"),  # 61 s to a person
        (close(T0, T0 + 10_000, T0 + 30_000, T0 + 150_000), "premium"),  # 2 min billed
        (close(T0, T0, None, T0 + 90_000), "premium"),  # abandoned after the commitment
    ]
    figures = kpi.figures(kpi.parse_minute(as_redis_hash(calls))["premium"])
    assert figures["commitments_broken"] == 2
    assert figures["downgraded"] == 2
    assert figures["commitment_broken_rate"] == 2 / 3
    assert figures["billable_min"] == 2.0
    assert figures["amount"] == 1.60
    assert figures["talk_min"] == 4.0


def test_every_ratio_is_none_not_zero_when_its_denominator_is_empty():
    figures = kpi.figures(kpi.Tally())
    for name in ("abandon_rate", "asa_s", "tth_mean_s", "tth_p50_s", "service_level", "service_level_2"):
        assert figures[name] is None, name
    assert figures["offered"] == 0


def test_summarize_gives_both_tariffs_and_all_with_the_premium_share():
    calls = [
        (close(T0, T0, T0 + 5_000, T0 + 65_000), "premium"),
        (close(T0, T0, T0 + 5_000, T0 + 65_000), "free"),
        (close(T0, T0, T0 + 5_000, T0 + 65_000), "free"),
        (close(T0, T0, None, T0 + 65_000), "free"),
    ]
    summary = kpi.summarize(kpi.parse_minute(as_redis_hash(calls)))
    assert set(summary) == {"premium", "free", "all"}
    assert summary["all"]["offered"] == 4
    assert summary["all"]["premium_share"] == 0.25
    assert summary["premium"]["premium_share"] == 1.0
    assert summary["free"]["premium_share"] == 0.0
    assert summary["all"]["answered"] == summary["premium"]["answered"] + summary["free"]["answered"]
    only_free = kpi.summarize({"free": kpi.parse_minute(as_redis_hash(calls[1:]))["free"]})
    assert only_free["premium"]["offered"] == 0  # zero-filled, stable shape


# ---- properties: any mix of calls, however cut into minutes and queues ----------------------

call_strategy = st.tuples(
    st.integers(0, 3_600_000),  # arrival offset
    st.integers(0, 15_000),  # before queue
    st.one_of(st.none(), st.integers(0, 400_000)),  # in queue until answered, or never answered
    st.integers(0, 600_000),  # talk or wait after
    st.sampled_from(["premium", "free"]),
    st.sampled_from(["", "", "", "TIMEOUT"]),
    st.integers(0, 5),  # queue / minute group
)


def build(spec):
    offset, before, in_queue, after, tariff, status, group = spec
    arrived = T0 + offset
    queued = arrived + before
    if in_queue is None:
        return close(arrived, queued, None, queued + after, tariff, status), tariff, group
    human = queued + in_queue
    return close(arrived, queued, human, human + after, tariff), tariff, group


@settings(max_examples=150, deadline=None)
@given(st.lists(call_strategy, min_size=1, max_size=60))
def test_figures_equal_a_direct_count_and_merge_exactly_however_the_calls_are_grouped(specs):
    calls = [build(spec) for spec in specs]
    groups: dict[int, list] = {}
    for ending, tariff, group in calls:
        groups.setdefault(group, []).append((ending, tariff))
    # Per group (a minute or a queue) as Redis holds them, then merged in two different orders.
    parts = [kpi.parse_minute(as_redis_hash(members)) for members in groups.values()]
    forward: dict[str, kpi.Tally] = {}
    for part in parts:
        kpi.add_by_tariff(forward, part)
    backward: dict[str, kpi.Tally] = {}
    for part in reversed(parts):
        kpi.add_by_tariff(backward, part)
    whole = kpi.parse_minute(as_redis_hash([(e, t) for e, t, _ in calls]))
    assert forward == {t: v for t, v in whole.items()} == backward
    summary = kpi.summarize(forward)
    assert summary == kpi.summarize(whole)

    everyone = summary["all"]
    endings = [e for e, _, _ in calls]
    answered = [e for e in endings if e.outcome == "answered"]
    assert everyone["offered"] == sum(e.outcome != "short_abandon" for e in endings)
    assert everyone["answered"] == len(answered)
    assert everyone["abandoned"] == sum(e.outcome == "abandoned" for e in endings)
    assert everyone["unanswered"] == sum(e.outcome == "unanswered" for e in endings)
    assert everyone["commitments_broken"] == sum(e.sla_breached for e in endings)
    if answered:
        assert math.isclose(everyone["asa_s"], sum(e.in_queue_ms for e in answered) / len(answered) / 1000)
        assert math.isclose(
            everyone["tth_mean_s"], sum(e.time_to_human_ms for e in answered) / len(answered) / 1000
        )
        assert everyone["service_level"] == sum(e.within_sl for e in answered) / len(answered)
    else:
        assert everyone["asa_s"] is None
