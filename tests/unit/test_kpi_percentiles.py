"""Percentiles from the stored buckets: within the published bound of the exact values."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core import histogram, kpi


def exact_nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Fraction(str(q)) * len(ordered))) - 1]


def test_the_published_bound_covers_every_bucket_computed_from_its_integer_edges():
    for index in range(histogram.LAST):
        lo, hi = histogram.LOWER[index], histogram.UPPER[index]
        middle = histogram.representative(index)
        for exact in (lo, hi - 1):  # the extreme integer waits a bucket holds
            assert abs(middle - exact) <= kpi.percentile_error_bound_ms(exact), (index, exact)
    assert kpi.BOUND_VALID_BELOW_MS > 4 * 3_600_000  # covers any wait a hotline sees


def test_the_bound_is_stated_with_the_figures():
    bound = kpi.error_bound()
    assert bound["absolute_ms"] == 25
    assert 0.0219 < bound["relative"] <= 0.0225
    assert bound["valid_below_s"] == kpi.BOUND_VALID_BELOW_MS / 1000


waits = st.lists(
    st.one_of(st.integers(0, 2_000), st.integers(0, 300_000), st.integers(0, kpi.BOUND_VALID_BELOW_MS - 1)),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(waits, st.sampled_from((*kpi.QUANTILES, 0.25, 0.75, 0.95, 1.0)))
def test_bucket_percentiles_stay_within_the_bound_of_the_exact_nearest_rank(values, q):
    counts: dict[int, int] = {}
    for value in values:
        index = histogram.bucket(value)
        counts[index] = counts.get(index, 0) + 1
    reported = histogram.percentile(counts, q)
    exact = exact_nearest_rank(values, q)
    assert abs(reported - exact) <= kpi.percentile_error_bound_ms(exact)


@settings(max_examples=100, deadline=None)
@given(st.lists(waits, min_size=1, max_size=6))
def test_percentiles_of_merged_minutes_equal_those_of_all_the_calls_at_once(groups):
    merged = kpi.Tally()
    for group in groups:
        part = kpi.Tally(tth={})
        for value in group:
            part.tth[histogram.bucket(value)] = part.tth.get(histogram.bucket(value), 0) + 1
        merged.add(part)
    everything = [value for group in groups for value in group]
    for q in kpi.QUANTILES:
        exact = exact_nearest_rank(everything, q)
        reported = histogram.percentile(merged.tth, q)
        assert abs(reported - exact) <= kpi.percentile_error_bound_ms(exact)
