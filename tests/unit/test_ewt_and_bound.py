"""The waiting time announced (core/ewt.py) and the bound on kept premium share (sim/bound.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core.ewt import expected_wait, queue_length_wait
from premium_hotline.core.predict import History
from premium_hotline.core.tariff import QueueState


def history(talk=240.0, abandons=0, queue_s=0.0) -> History:
    return History(arrival_rate=0.05, talk_s=[talk] * 10, abandons=abandons, queue_s=queue_s, free_share=0.2)


def test_the_queue_length_predictor_is_ibrahim_and_whitts_sum():
    # s mu = 10 / 250, theta = 1/120: sum over k = 0..3 of 1 / (s mu + k theta).
    s_mu, theta = 10 / 250, 1 / 120
    expected = sum(1 / (s_mu + k * theta) for k in range(4))
    assert queue_length_wait(3, 10, 1 / 250, theta) == pytest.approx(expected, rel=1e-12)
    # No abandonment: n + 1 advances at s mu, Erlang C's conditional mean.
    assert queue_length_wait(4, 10, 1 / 250, 0.0) == pytest.approx(5 * 25.0)


def test_the_announced_wait_matches_a_simulated_mmn_m_queue():
    """Monte Carlo of the line ahead: every agent busy (exponential talks), callers ahead give
    up at rate theta; the mean time until an agent takes the caller is the formula's."""
    rng = random.Random(5)
    servers, mu, theta, ahead = 8, 1 / 200, 1 / 90, 6
    total = 0.0
    runs = 20_000
    for _ in range(runs):
        t, j = 0.0, ahead
        while True:
            rate = servers * mu + j * theta
            t += rng.expovariate(rate)
            if j == 0:
                break
            j -= 1  # an agent freed (the line moves) or someone ahead gave up: one fewer ahead
        total += t
    assert total / runs == pytest.approx(queue_length_wait(ahead, servers, mu, theta), rel=0.02)


def test_a_caller_who_must_wait_hears_the_model_blended_with_the_last_callers_wait():
    from premium_hotline.core.ewt import QUEUE_LENGTH_WEIGHT

    state = QueueState(0, 10, 4)
    model = expected_wait(state, history())
    served = history()
    served.last_wait_s = 30.0
    blended = expected_wait(state, served)
    assert blended == pytest.approx(QUEUE_LENGTH_WEIGHT * model + (1 - QUEUE_LENGTH_WEIGHT) * 30.0)
    # A free agent: the ring only, whatever the last caller waited.
    assert expected_wait(QueueState(2, 10, 0), served, ring_s=3.0) == 3.0


def test_the_last_wait_is_the_newest_answered_callers_time_in_the_queue_within_the_window():
    now = 10_000_000
    recent = ["bad", f"{now - 5_000}:40000:25000", f"{now - 9_000}:70000:60000"]  # newest first
    assert History.from_lists(recent, [], [], now, window_ms=3_600_000).last_wait_s == 25.0
    assert History.from_lists(recent[2:], [], [], now, window_ms=3_600_000).last_wait_s == 60.0
    assert History.from_lists(recent, [], [], now, window_ms=1_000).last_wait_s is None  # too old
    assert History.from_lists([], [], [], now).last_wait_s is None


def test_a_ready_agent_means_only_the_ring():
    assert expected_wait(QueueState(2, 5, 0), history(), ring_s=3.0) == 3.0


def test_each_caller_ahead_and_each_paused_agent_lengthen_the_wait():
    h = history(talk=240, abandons=5, queue_s=600)
    waits = [expected_wait(QueueState(0, 10, n), h) for n in range(6)]
    assert waits == sorted(waits) and waits[0] < waits[-1]
    assert expected_wait(QueueState(0, 8, 3), h) > expected_wait(QueueState(0, 10, 3), h)
    assert expected_wait(QueueState(0, 0, 3), h) == float("inf")


def test_members_in_wrap_up_take_the_first_callers_soon():
    h = history()
    assert expected_wait(QueueState(0, 10, 0), h, wrapup_s=10, in_wrapup=2) == pytest.approx(5 + 3.0)
    assert expected_wait(QueueState(0, 10, 4), h, wrapup_s=10, in_wrapup=2) < expected_wait(
        QueueState(0, 10, 4), h, wrapup_s=10
    )


def test_the_line_moves_while_a_premium_caller_hears_the_price_message():
    h = history(talk=240)
    now = expected_wait(QueueState(0, 20, 5), h)
    after_message = expected_wait(QueueState(0, 20, 5), h, pre_queue_s=12.0)
    assert after_message < now


def test_callers_hearing_their_message_are_ahead_only_of_a_caller_who_hears_one_too():
    h = history(talk=240)
    free = expected_wait(QueueState(0, 20, 5), h, in_message=0)
    assert expected_wait(QueueState(0, 20, 5), h, in_message=4) == free  # it joins before them
    premium = expected_wait(QueueState(0, 20, 5), h, in_message=0, pre_queue_s=12.0)
    assert expected_wait(QueueState(0, 20, 5), h, in_message=4, pre_queue_s=12.0) > premium


@settings(max_examples=200, deadline=None)
@given(
    ready=st.integers(0, 30),
    logged=st.integers(0, 30),
    waiting=st.integers(0, 200),
    talk=st.floats(5, 3000),
    abandons=st.integers(0, 50),
)
def test_the_announced_wait_is_never_negative(ready, logged, waiting, talk, abandons):
    wait = expected_wait(QueueState(ready, logged, waiting), history(talk, abandons, 3600.0))
    assert wait >= 0.0


# ---- the bound ------------------------------------------------------------------------------


def test_no_policy_beats_the_bound_on_an_hour_of_understaffed_traffic():
    pytest.importorskip("simpy")
    from premium_hotline.sim.bound import kept_bound
    from premium_hotline.sim.engine import Day, Policy
    from premium_hotline.sim.traffic import SCENARIOS, generate_calls

    scenario = SCENARIOS["understaffed"]
    start, end = 3 * 3600.0, 4 * 3600.0
    plan = scenario.staffing_plan(start, end)
    calls = generate_calls(scenario, 11, start, end)
    bound = kept_bound(scenario, calls, plan, commitment_s=30, end_s=end)
    everyone = frozenset(c.cid for c in calls)
    policies = [
        Policy("naive", "n"),
        Policy("predictor", "p", confidence=0.0, ready_rule=False),
        Policy("oracle", "all", chosen=everyone),
        Policy("daily", "t"),
    ]
    for policy in policies:
        outcomes = Day(scenario, calls, plan, policy, commitment_s=30, close_s=end).run()
        kept = sum(1 for o in outcomes if o.premium and o.kept)
        assert kept <= bound, policy.label
    assert bound <= sum(1 for c in calls if c.premium_number)


def test_the_bound_counts_agent_time_a_short_staff_cannot_give():
    pytest.importorskip("simpy")
    from premium_hotline.sim.bound import kept_bound
    from premium_hotline.sim.traffic import SCENARIOS, Call

    scenario = SCENARIOS["peak"]
    # 100 patient premium callers in one minute, one agent, talks of 10 minutes: the agent can
    # take at most the calls it can start within the commitment.
    calls = [
        Call(i, 0.5 * i, "0899123456", patience_s=900.0, talk_s=600.0, ring_s=3.0, message_s=12.0)
        for i in range(100)
    ]
    bound = kept_bound(scenario, calls, [(0.0, 1)], commitment_s=60, end_s=3600.0)
    assert 1 <= bound <= 7
