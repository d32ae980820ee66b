"""Timeline and bill: billable time starts at the human's answer; a broken promise bills nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.core import histogram
from premium_hotline.core.numbers import national, parse_rate
from premium_hotline.core.timeline import answered, billable_amount, ended

T0 = 1_800_000_000_000


def end(**kw):
    base = dict(
        arrived_ms=T0,
        queued_ms=T0 + 10_000,
        human_ms=T0 + 25_000,
        ended_ms=T0 + 85_000,
        decided_tariff="premium",
        tariff="premium",
        reason="premium",
        rate="0.80/min",
        commitment_s=60,
        short_abandon_s=5,
        service_level_s=20,
    )
    base.update(kw)
    return ended(**base)


def test_answered_splits_the_wait_before_and_in_queue():
    a = answered(
        arrived_ms=T0,
        queued_ms=T0 + 10_000,
        human_ms=T0 + 25_000,
        tariff="premium",
        reason="premium",
        commitment_s=60,
    )
    assert (a.time_to_human_ms, a.before_queue_ms, a.in_queue_ms, a.breached) == (
        25_000,
        10_000,
        15_000,
        False,
    )


def test_a_premium_caller_who_waited_past_the_commitment_is_downgraded():
    a = answered(
        arrived_ms=T0,
        queued_ms=T0 + 10_000,
        human_ms=T0 + 61_000,
        tariff="premium",
        reason="premium",
        commitment_s=60,
    )
    assert (a.breached, a.tariff, a.reason) == (True, "free", "commitment_broken")


def test_a_free_call_is_never_breached():
    a = answered(
        arrived_ms=T0, queued_ms=None, human_ms=T0 + 600_000, tariff="free", reason="closed", commitment_s=60
    )
    assert (a.breached, a.tariff) == (False, "free")


def test_billable_seconds_count_from_the_human_answer_only():
    e = end()
    assert (e.outcome, e.talk_s, e.billable_s, e.amount) == ("answered", 60, 60, Decimal("0.80"))


def test_per_call_rate_bills_once_answered():
    assert end(rate="2.99/call").amount == Decimal("2.99")


def test_downgraded_call_bills_nothing_but_records_talk_time():
    e = end(human_ms=T0 + 70_000, ended_ms=T0 + 130_000)
    assert (e.tariff, e.reason, e.sla_breached, e.billable_s, e.amount, e.talk_s) == (
        "free",
        "commitment_broken",
        True,
        0,
        Decimal("0.00"),
        60,
    )


def test_abandon_and_short_abandon():
    assert end(human_ms=None, ended_ms=T0 + 30_000).outcome == "abandoned"
    assert end(human_ms=None, ended_ms=T0 + 4_000).outcome == "short_abandon"


def test_queue_timeout_is_unanswered_not_abandoned():
    assert end(human_ms=None, ended_ms=T0 + 300_000, queue_status="TIMEOUT").outcome == "unanswered"


def test_premium_caller_abandoning_after_the_commitment_counts_as_broken_promise():
    e = end(human_ms=None, ended_ms=T0 + 90_000)
    assert (e.outcome, e.sla_breached) == ("abandoned", True)


def test_missing_marks_fall_back_instead_of_failing():
    e = end(arrived_ms="", queued_ms="garbage")
    assert e.time_to_human_ms == 0 and e.outcome == "answered"


@given(st.integers(0, 10**7), st.sampled_from(["0.80/min", "0.06/min", "0.20/min"]))
def test_per_minute_amount_is_pro_rata_to_the_cent(seconds, rate):
    amount = billable_amount(rate, seconds)
    exact = parse_rate(rate).amount * seconds / 60
    assert abs(amount - exact) <= Decimal("0.005")


@given(st.integers(0, 20_000_000))
def test_every_wait_lands_in_a_bucket_that_holds_it(ms):
    index = histogram.bucket(ms)
    assert histogram.LOWER[index] <= ms < histogram.UPPER[index] or index == histogram.LAST


@given(st.integers(1000, 15_000_000))
def test_bucket_representative_is_within_the_stated_error(ms):
    value = histogram.representative(histogram.bucket(ms))
    assert abs(value - ms) / ms <= histogram.RELATIVE_ERROR + 1e-9


@given(st.lists(st.integers(0, 5_000_000), min_size=1, max_size=300), st.sampled_from([0.5, 0.9, 0.99]))
def test_percentile_from_buckets_is_within_bound_of_the_exact_one(waits, q):
    counts: dict[int, int] = {}
    for w in waits:
        counts[histogram.bucket(w)] = counts.get(histogram.bucket(w), 0) + 1
    exact = sorted(waits)[max(0, -(-len(waits) * int(q * 100) // 100) - 1)]
    estimate = histogram.percentile(counts, q)
    assert abs(estimate - exact) <= max(histogram.ABSOLUTE_ERROR_MS, exact * histogram.RELATIVE_ERROR) + 1e-6


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ("+33899123456", "0899123456"),
        ("0033 8 99 12 34 56", "0899123456"),
        ("33899123456", "0899123456"),
        ("0899123456", "0899123456"),
    ],
)
def test_national_form(given_, expected):
    assert national(given_) == expected
