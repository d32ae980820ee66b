"""core/erlang.py against references nobody here wrote.

* pyworkforce (maintained, PyPI, test-only): Erlang C probability of waiting and service level
  over a grid of traffic and staffing, to 1e-9 absolute.
* Published worked examples (rounded as published): the Call Centre Helper / Lucid Manager example
  that pyworkforce's own tests also use (100 calls per 30 min, AHT 180 s, 20 s target: 11 agents
  wait 68.21 %, service level 39.0 %, ASA 122.8 s; 14 agents reach 88.8 % with occupancy 71.4 %
  and a 17.4 % chance of waiting; 20 agents once 30 % shrinkage is added).
* Erlang A: the closed form of Garnett, Mandelbaum & Reiman (2002), with the incomplete gamma
  function integrated numerically here (a different method from the module's birth-death sum),
  to 1e-7; and Erlang C as the limit of no abandonment.
* Properties (hypothesis): probabilities in [0, 1], monotone in agents and in load.
"""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core import erlang


def test_published_example_call_centre_helper():
    load = 100 / 1800 * 180  # 10 Erlangs
    assert load == pytest.approx(10.0)
    assert round(erlang.erlang_c(11, load), 4) == 0.6821
    assert round(erlang.service_level(11, load, 20, 180), 3) == 0.390
    assert round(erlang.average_speed_of_answer(11, load, 180), 1) == 122.8
    assert erlang.agents_for(load, 180, 20, 0.8) == 14
    assert round(erlang.service_level(14, load, 20, 180), 3) == 0.888
    assert round(load / 14, 3) == 0.714
    assert round(erlang.erlang_c(14, load), 3) == 0.174
    assert math.ceil(14 / (1 - 0.3)) == 20


def test_erlang_c_matches_pyworkforce_over_a_grid():
    queuing = pytest.importorskip("pyworkforce.queuing")
    worst = 0.0
    for load in (0.5, 1.0, 2.5, 5.0, 10.0, 17.3, 30.0, 48.0, 75.0, 120.0):
        for extra in (1, 2, 3, 5, 8, 13, 21):
            servers = math.floor(load) + extra
            ref = queuing.ErlangC(transactions=load, aht=3.0, asa=20 / 60, interval=3)
            for ours, theirs in (
                (erlang.erlang_c(servers, load), ref.waiting_probability(servers)),
                (erlang.service_level(servers, load, 20, 180), ref.service_level(servers)),
            ):
                worst = max(worst, abs(ours - theirs))
    assert worst < 1e-9


def test_erlang_c_staffing_matches_pyworkforce():
    queuing = pytest.importorskip("pyworkforce.queuing")
    for calls in (20, 60, 100, 250, 600):
        ref = queuing.ErlangC(transactions=calls, aht=4, asa=15 / 60, interval=30)
        expected = ref.required_positions(service_level=0.8)["raw_positions"]
        assert erlang.agents_for(calls / 30 * 4, 240, 15, 0.8) == expected


def _lower_gamma(x: float, y: float, steps: int = 20_000) -> float:
    """gamma(x, y) = integral_0^y t^(x-1) e^-t dt, Simpson's rule (x >= 1, so no singularity)."""
    h = y / steps
    total = 0.0
    for i in range(steps + 1):
        t = i * h
        f = t ** (x - 1) * math.exp(-t) if t > 0 else (1.0 if x == 1 else 0.0)
        total += f * (1 if i in (0, steps) else 4 if i % 2 else 2)
    return total * h / 3


def _gmr(servers: int, lam: float, mu: float, theta: float) -> tuple[float, float]:
    """P(wait > 0) and P(abandon) of M/M/n+M, Garnett-Mandelbaum-Reiman closed form."""
    x, y = servers * mu / theta, lam / theta
    a = x * math.exp(y) * y ** (-x) * _lower_gamma(x, y)
    b = erlang.erlang_b(servers, lam / mu)
    p_wait = a * b / (1 + (a - 1) * b)
    rho = lam / (servers * mu)
    return p_wait, p_wait * (1 / (rho * a) + 1 - 1 / rho)


@pytest.mark.parametrize(
    ("servers", "per_hour", "aht_s", "patience_s"),
    [(5, 60, 240, 180), (10, 150, 240, 120), (20, 330, 240, 300), (20, 420, 240, 90), (3, 60, 200, 100)],
)
def test_erlang_a_matches_the_closed_form(servers, per_hour, aht_s, patience_s):
    lam, mu, theta = per_hour / 3600, 1 / aht_s, 1 / patience_s
    model = erlang.ErlangA(servers, lam, mu, theta)
    p_wait, p_abandon = _gmr(servers, lam, mu, theta)
    assert model.wait_prob == pytest.approx(p_wait, abs=1e-7)
    assert model.abandon_prob == pytest.approx(p_abandon, abs=1e-7)


def test_erlang_a_without_abandonment_is_erlang_c():
    for servers, load in ((11, 10.0), (55, 48.0), (3, 2.5)):
        model = erlang.ErlangA(servers, load / 180, 1 / 180, 0.0)
        assert model.wait_prob == pytest.approx(erlang.erlang_c(servers, load), abs=1e-9)
        assert model.within(20) == pytest.approx(erlang.service_level(servers, load, 20, 180), abs=1e-9)
        assert model.abandon_prob == 0.0


def test_erlang_a_overloaded_stays_finite():
    model = erlang.ErlangA(10, 2 * 10 / 240, 1 / 240, 1 / 120)
    assert 0.9 < model.wait_prob < 1.0
    assert 0.3 < model.abandon_prob < 0.7
    with pytest.raises(ValueError):
        erlang.ErlangA(10, 2 * 10 / 240, 1 / 240, 0.0)


def test_reach_within_without_abandonment_is_the_erlang_distribution():
    servers, mu, t = 8, 1 / 200, 45.0
    rate = servers * mu * t
    reach = erlang.reach_within(servers, mu, 0.0, 12, t)
    for m, p in enumerate(reach):
        expected = 1 - sum(math.exp(-rate) * rate**i / math.factorial(i) for i in range(m + 1))
        assert p == pytest.approx(expected, abs=1e-10)


def test_poisson_weights_cover_the_mass_for_large_means():
    for mean in (0.0, 0.3, 12.0, 900.0):
        first, weights = erlang.poisson_weights(mean)
        assert sum(weights) == pytest.approx(1.0, abs=1e-9)
        assert first >= 0


@settings(max_examples=200, deadline=None)
@given(
    servers=st.integers(1, 80),
    load=st.floats(0.01, 100.0),
    target=st.floats(0.0, 120.0),
)
def test_erlang_c_is_a_probability_and_monotone(servers, load, target):
    c = erlang.erlang_c(servers, load)
    assert 0.0 <= c <= 1.0
    assert erlang.erlang_c(servers + 1, load) <= c + 1e-12  # one more agent never hurts
    assert erlang.erlang_c(servers, load * 1.1) >= c - 1e-12  # more traffic never helps
    sl = erlang.service_level(servers, load, target, 180)
    assert 0.0 <= sl <= 1.0
    assert erlang.service_level(servers + 1, load, target, 180) >= sl - 1e-12
    assert erlang.service_level(servers, load, target + 5, 180) >= sl - 1e-12


@settings(max_examples=100, deadline=None)
@given(
    servers=st.integers(1, 40),
    mu=st.floats(1 / 900, 1 / 30),
    theta=st.floats(0.0, 1 / 20),
    ahead=st.integers(0, 25),
    t=st.floats(0.0, 300.0),
)
def test_reach_within_is_a_probability_decreasing_with_the_line(servers, mu, theta, ahead, t):
    reach = erlang.reach_within(servers, mu, theta, ahead, t)
    assert all(0.0 <= p <= 1.0 for p in reach)
    assert all(b <= a + 1e-12 for a, b in pairwise(reach))
    later = erlang.reach_within(servers, mu, theta, ahead, t + 10)
    assert all(b >= a - 1e-9 for a, b in zip(reach, later, strict=True))
