"""The daily promise policy (core/promise.py): a threshold that spends the day's slack, never
more, from a count the routes and the simulator keep the same way."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core import promise
from premium_hotline.core.promise import CEILING, START_THRESHOLD, DayCount, daily_threshold

NOW = 1_772_438_400_000


def day(*, kept: int, broken: int, bands: dict[float, tuple[int, int]], eligible: int = 0) -> DayCount:
    """A day so far: `bands` maps a prediction to (settled eligible calls, of which kept)."""
    count = DayCount()
    for p, (n, y) in bands.items():
        for i in range(n):
            count.apply(DayCount.eligible_fields(p, False), NOW)
            count.apply(DayCount.settled_fields(p, False, i < y))
    count.apply({promise.DECIDED: kept + broken, promise.KEPT: kept, promise.BROKEN: broken})
    count.eligible = max(count.eligible, eligible)
    return count


def test_the_days_first_call_gets_the_per_call_default():
    assert daily_threshold(DayCount(), target=0.95, remaining=500) == START_THRESHOLD


def test_from_the_second_call_the_day_is_planned_from_the_predictions():
    # One call seen, predicted sure: the rest of the day is planned at once, no 0.95 warm-up.
    count = DayCount()
    count.apply(DayCount.eligible_fields(0.999, True), NOW)
    assert daily_threshold(count, target=0.95, remaining=300) < START_THRESHOLD


def test_a_day_with_slack_takes_calls_the_per_call_rule_would_refuse():
    count = day(kept=200, broken=2, bands={0.999: (150, 150), 0.8: (60, 59), 0.5: (30, 29)})
    threshold = daily_threshold(count, target=0.95, remaining=50)
    assert threshold <= 0.5


def test_a_day_behind_its_target_takes_only_the_calls_the_model_is_sure_of():
    count = day(kept=180, broken=20, bands={0.999: (150, 148), 0.8: (60, 40), 0.5: (30, 12)})
    assert daily_threshold(count, target=0.95, remaining=300) == CEILING


def test_the_margin_shrinks_as_the_day_ends():
    count = day(kept=196, broken=8, bands={0.999: (150, 149), 0.9: (40, 38), 0.6: (30, 24)})
    thresholds = [daily_threshold(count, target=0.95, remaining=r) for r in (2000, 200, 20, 0)]
    assert thresholds == sorted(thresholds, reverse=True)  # never stricter later in the day
    assert thresholds[0] > thresholds[-1]


def test_a_prudent_predictor_is_corrected_by_what_the_day_saw():
    # Calls predicted at 0.6 all kept their promise today: the band is trusted more than 0.6.
    lucky = day(kept=100, broken=0, bands={0.6: (100, 100)})
    unlucky = day(kept=100, broken=0, bands={0.6: (100, 60)})
    band = promise.band_of(0.6)
    assert lucky.band_keep(band) > 0.85 > 0.7 > unlucky.band_keep(band)


def test_a_day_of_lucky_free_callers_never_makes_every_band_look_safer_than_predicted():
    # Free callers reached a ready agent at once: their "would have kept" is optimistic, so it
    # corrects their own band, never the predictions of the others.
    lucky = day(kept=0, broken=0, bands={0.6: (200, 200), 0.85: (1, 1)})
    alone = day(kept=0, broken=0, bands={0.85: (1, 1)})
    assert lucky.band_keep(promise.band_of(0.85)) == alone.band_keep(promise.band_of(0.85))
    assert lucky.band_keep(promise.band_of(0.85)) <= 0.875 + 1e-9


def test_a_shortfall_a_stricter_threshold_could_still_make_up_leaves_the_margin():
    # At the target now; the sure calls keep 0.99, the 0.9 band 0.92. Over 5000 calls to come,
    # taking both adds 25 calls of slack with a standard deviation of 14.4: two of them (the
    # old margin) would keep the threshold at the top band. But a day that started to fall
    # behind could take the sure calls only for its last stretch and make up 75 more: only
    # that stretch's outcomes count in the margin.
    count = day(kept=95, broken=5, bands={0.999: (100, 100), 0.9: (100, 93)})
    assert daily_threshold(count, target=0.95, remaining=5000) <= 0.9
    assert daily_threshold(count, target=0.95, remaining=1000) > 0.9  # not enough day left


def test_a_day_behind_its_target_takes_the_safest_band_not_the_ceiling_when_the_top_breaks_more():
    # Today the calls predicted sure broke more (a ring-out) than the 0.9 band: when no threshold
    # keeps the margin, the one closest to it is the 0.9 band, not "only the sure calls".
    count = day(kept=90, broken=10, bands={0.999: (300, 285), 0.9: (300, 297)})
    assert daily_threshold(count, target=0.95, remaining=100) == 0.9


def test_the_hash_round_trips_and_bad_fields_count_as_zero():
    count = day(kept=10, broken=1, bands={0.9: (5, 4), 0.3: (2, 1)})
    count.first_ms = NOW
    fields = {promise.ELIGIBLE: count.eligible, promise.DECIDED: 11, promise.KEPT: 10, promise.BROKEN: 1,
              promise.FIRST: NOW, "junk": "x", promise.SHORT: "-3"}  # fmt: skip
    for i in range(promise.BINS):
        h, p, n, y = promise.band_fields(i)
        fields.update(
            {h: count.bands[i], p: round(count.psum[i] * 1000), n: count.band_n[i], y: count.band_kept[i]}
        )
    flat = [x for kv in fields.items() for x in (str(kv[0]).encode(), str(kv[1]).encode())]
    back = DayCount.from_hash(flat)
    assert (back.kept, back.broken, back.short, back.first_ms) == (10, 1, 0, NOW)
    assert back.bands == count.bands and back.band_kept == count.band_kept


def test_a_free_callers_wait_counts_with_the_price_message_it_did_not_hear():
    assert promise.would_keep("answered", 40_000, 60, premium=True)
    assert not promise.would_keep("answered", 50_000, 60, premium=False)  # 50 + 12 s > 60 s
    assert promise.would_keep("short_abandon", None, 60, premium=True) is None
    assert promise.would_keep("abandoned", None, 60, premium=True) is False


def test_the_remaining_calls_follow_the_days_pace():
    count = DayCount()
    for _ in range(120):
        count.apply(DayCount.eligible_fields(0.9, True), NOW)
    assert abs(promise.remaining_calls(count, NOW + 3600_000, 1800) - 60) < 1e-6
    assert promise.remaining_calls(count, NOW + 3600_000, 0) == 0


@settings(max_examples=200, deadline=None)
@given(
    kept=st.integers(0, 500),
    broken=st.integers(0, 100),
    bands=st.dictionaries(
        st.sampled_from(promise.EDGES), st.tuples(st.integers(0, 80), st.integers(0, 80)), max_size=6
    ),
    remaining=st.floats(0, 5000),
)
def test_the_threshold_is_always_a_band_edge_or_the_ceiling(kept, broken, bands, remaining):
    count = day(kept=kept, broken=broken, bands={p: (n, min(y, n)) for p, (n, y) in bands.items()})
    threshold = daily_threshold(count, target=0.95, remaining=remaining)
    assert threshold in (*promise.EDGES, CEILING, START_THRESHOLD)


def test_the_threshold_moves_at_most_one_band_from_the_last_decisions():
    # A behind day plans the ceiling; held to 0.5 last time, this decision goes to 0.6 only.
    count = day(kept=180, broken=20, bands={0.999: (150, 148), 0.8: (60, 40), 0.5: (30, 12)})
    assert promise.planned_threshold(count, target=0.95, remaining=300) == CEILING
    count.last = promise.LADDER.index(0.5)
    assert daily_threshold(count, target=0.95, remaining=300) == 0.6
    count.last = promise.LADDER.index(CEILING)
    assert daily_threshold(count, target=0.95, remaining=300) == CEILING


def test_the_last_threshold_is_set_in_the_hash_not_added():
    fields = DayCount.eligible_fields(0.9, True, 0.85)
    assert fields[promise.SET + promise.LAST] == promise.LADDER.index(0.85)
    assert promise.SET + promise.LAST not in DayCount.eligible_fields(0.9, True)  # per-call policy
    count = DayCount()
    count.apply(fields)
    count.apply(DayCount.eligible_fields(0.9, True, 0.85))
    assert count.last == promise.LADDER.index(0.85)
    back = DayCount.from_hash({promise.LAST: "99", promise.ELIGIBLE: "2"})
    assert back.last == len(promise.LADDER) - 1 and DayCount.from_hash({}).last is None
