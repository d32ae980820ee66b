"""The wait predictor: backward compatible, consistent with stationary Erlang A, cheap, and fed by
exactly what store.records writes."""

from __future__ import annotations

import statistics
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.core import erlang
from premium_hotline.core.predict import History, p_within, predict
from premium_hotline.core.tariff import QueueState
from premium_hotline.store import records
from premium_hotline.store.keys import Keys

NOW = 1_772_438_400_000


def _history(**overrides) -> History:
    fields = {
        "arrival_rate": 150 / 3600,
        "talk_s": [30.0, 60.0, 90.0, 150.0, 200.0, 240.0, 300.0, 420.0, 600.0, 900.0],  # CV about 0.9
        "queue_s": 600.0,
        "abandons": 3,
        "pre_queue_s": [12.0] * 8 + [5.0, 0.0],
        "free_share": 0.2,
        "in_message": 0,
    }
    fields.update(overrides)
    return History(**fields)


# ---- backward compatibility: the original call site, without history ------------------------


def test_without_history_the_empirical_rule_is_unchanged():
    assert predict(QueueState(2, 5, 0), [], commitment_s=60, confidence=0.95).method == "no_history"
    assert predict(QueueState(2, 5, 0), [], commitment_s=60, confidence=0.95).keeps_promise
    assert not predict(QueueState(1, 5, 1), [], commitment_s=60, confidence=0.95).keeps_promise
    waits = [10_000] * 19 + [90_000]
    got = predict(QueueState(3, 5, 0), waits, commitment_s=60, confidence=0.95)
    assert (got.method, got.p_within, got.keeps_promise, got.samples) == ("empirical", 0.95, True, 20)


def test_history_too_thin_to_fit_falls_back_to_the_recent_waits():
    got = predict(
        QueueState(3, 5, 0), [10_000] * 10, commitment_s=60, confidence=0.95, history=_history(talk_s=[200.0])
    )
    assert got.method == "empirical"
    got = predict(
        QueueState(3, 5, 0), [], commitment_s=60, confidence=0.95, history=_history(arrival_rate=None)
    )
    assert got.method == "no_history"


# ---- the model --------------------------------------------------------------------------------


def test_model_answers_with_its_name():
    calm = predict(QueueState(3, 5, 0), [10_000] * 10, commitment_s=60, confidence=0.95, history=_history())
    assert calm.method == "erlang_a" and calm.keeps_promise and calm.p_within > 0.99
    no_abandons = _history(abandons=0)
    busy = predict(QueueState(0, 5, 4), [], commitment_s=60, confidence=0.95, history=no_abandons)
    assert busy.method == "erlang_c" and not busy.keeps_promise


def test_talk_times_far_from_exponential_let_the_waits_veto():
    constant = _history(talk_s=[240.0] * 20)  # CV 0: nothing like an exponential
    slow_waits = [80_000] * 10
    got = predict(QueueState(1, 5, 0), slow_waits, commitment_s=60, confidence=0.95, history=constant)
    assert got.method == "erlang_a+empirical"
    assert got.p_within == 0.0


def test_no_budget_left_after_the_price_message_means_no_promise():
    got = predict(QueueState(5, 5, 0), [], commitment_s=12, confidence=0.5, history=_history())
    assert got.p_within == 0.0


def test_callers_in_their_price_message_count_as_ahead():
    alone = p_within(
        QueueState(1, 5, 0), arrival_rate=0, service_rate=1 / 240, abandon_rate=0, pre_queue_s=12, budget_s=45
    )
    behind_two = p_within(
        QueueState(1, 5, 0),
        arrival_rate=0,
        service_rate=1 / 240,
        abandon_rate=0,
        pre_queue_s=12,
        budget_s=45,
        in_message=2,
    )
    assert alone == pytest.approx(1.0)
    assert behind_two < 0.7


@pytest.mark.parametrize(("servers", "per_hour", "patience_s"), [(5, 50, 0), (12, 150, 180), (20, 330, 120)])
def test_averaged_over_the_stationary_queue_it_is_the_erlang_a_service_level(servers, per_hour, patience_s):
    """With no price message, the conditional prediction averaged over the stationary number in
    the system is, by PASTA, the stationary probability of an agent within the budget."""
    lam, mu = per_hour / 3600, 1 / 240
    theta = 1 / patience_s if patience_s else 0.0
    budget = 30.0
    model = erlang.ErlangA(servers, lam, mu, theta)
    load = lam / mu
    # P(x in system) for x < n, from the Erlang B terms, scaled like queue_probs.
    below = [load**x / _factorial(x) for x in range(servers + 1)]
    p_all_busy_empty = model.queue_probs[0]
    below = [b / below[servers] * p_all_busy_empty for b in below[:servers]]
    total = 0.0
    for x, p in enumerate(below):
        total += p * p_within(
            QueueState(servers - x, servers, 0),
            arrival_rate=lam,
            service_rate=mu,
            abandon_rate=theta,
            pre_queue_s=0.0,
            budget_s=budget,
        )
    for j, p in enumerate(model.queue_probs):
        if p < 1e-13:
            break
        total += p * p_within(
            QueueState(0, servers, j),
            arrival_rate=lam,
            service_rate=mu,
            abandon_rate=theta,
            pre_queue_s=0.0,
            budget_s=budget,
        )
    assert total == pytest.approx(model.within(budget), abs=1e-9)
    if not theta:
        assert total == pytest.approx(erlang.service_level(servers, load, budget, 240), abs=1e-9)


def _factorial(n: int) -> float:
    out = 1.0
    for i in range(2, n + 1):
        out *= i
    return out


@settings(max_examples=150, deadline=None)
@given(
    logged=st.integers(1, 40),
    ready_share=st.floats(0.0, 1.0),
    waiting=st.integers(0, 30),
    per_hour=st.floats(0.0, 600.0),
    talk=st.floats(30.0, 900.0),
    patience=st.one_of(st.just(0.0), st.floats(20.0, 900.0)),
    pre=st.floats(0.0, 20.0),
)
def test_probabilities_and_monotonicity(logged, ready_share, waiting, per_hour, talk, patience, pre):
    ready = round(logged * ready_share)
    kwargs = {
        "arrival_rate": per_hour / 3600,
        "service_rate": 1 / talk,
        "abandon_rate": 1 / patience if patience else 0.0,
        "pre_queue_s": pre,
        "budget_s": 60 - pre - 3,
    }
    p = p_within(QueueState(ready, logged, waiting), **kwargs)
    assert 0.0 <= p <= 1.0
    assert p_within(QueueState(ready, logged, waiting + 1), **kwargs) <= p + 1e-9  # one more ahead
    if ready < logged:
        assert p_within(QueueState(ready + 1, logged, waiting), **kwargs) >= p - 1e-9  # one more free


# ---- the history, as store.records writes it -----------------------------------------------------


def _lists(batches: list[list[list]]) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for batch in batches:
        for command in records.live_commands(batch):
            if command[0] == "LPUSH":
                lists.setdefault(command[1], []).insert(0, command[2])
            elif command[0] == "LTRIM":
                del lists.setdefault(command[1], [])[int(command[3]) + 1 :]
    return lists


def test_history_from_what_the_routes_write():
    keys = Keys("ph:")
    batches = []
    for i in range(30):
        arrived = NOW - 600_000 + i * 20_000
        tariff = "premium" if i % 4 else "free"
        batches.append(
            records.decided(
                keys,
                uniqueid=f"c{i}",
                record={"decided_tariff": tariff},
                queue="support",
                arrived_ms=arrived,
                ttl_s=60,
                events_maxlen=10,
            )
        )
        outcome = "abandoned" if i % 10 == 0 else "answered"
        if outcome == "answered":
            batches.append(
                records.human_reached(
                    keys,
                    uniqueid=f"c{i}",
                    record={},
                    queue="support",
                    human_ms=arrived + 20_000,
                    time_to_human_ms=20_000,
                    in_queue_ms=8_000 if tariff == "premium" else 20_000,
                    ttl_s=60,
                    events_maxlen=10,
                )
            )
        record = {
            "ended_at": arrived + 200_000,
            "outcome": outcome,
            "in_queue_ms": 30_000 if outcome == "abandoned" else 8_000,
            "talk_s": 180 if outcome == "answered" else 0,
        }
        batches.append(
            records.call_closed(
                keys,
                uniqueid=f"c{i}",
                record=record,
                queue="support",
                arrived_ms=arrived,
                kpis={"offered:free": 1},
                ttl_s=60,
                events_maxlen=10,
            )
        )
    lists = _lists(batches)
    now = NOW + 200_000
    history = History.from_lists(
        [item.encode() for item in lists[keys.recent("support")]],  # bytes, as a raw client may give
        lists[keys.ended("support")],
        lists[keys.arrivals("support")] + ["garbage", "12:x:y"],
        now,
    )
    assert history.fits
    assert history.talk_s == [180.0] * 27
    assert history.abandons == 3
    assert history.queue_s == pytest.approx(27 * 8 + 3 * 30)
    assert history.abandon_rate() == pytest.approx(3 / (27 * 8 + 3 * 30))
    arrivals_in_window = sum(1 for i in range(30) if NOW - 600_000 + i * 20_000 >= now - 600_000)
    assert history.arrival_rate == pytest.approx(arrivals_in_window / 600)
    assert history.pre_queue() == 12.0
    assert 0.2 < history.free_share < 0.3


def test_lists_are_bounded_and_live_only():
    keys = Keys("ph:")
    batch = records.decided(
        keys,
        uniqueid="u",
        record={"decided_tariff": "premium"},
        queue="q",
        arrived_ms=5,
        ttl_s=9,
        events_maxlen=9,
    )
    pushes = [c for c in batch if c[:2] == [records.LIVE_ONLY, "LPUSH"]]
    assert [c[3] for c in pushes if c[2] == keys.arrivals("q")] == ["5:p"]
    assert [records.LIVE_ONLY, "LTRIM", keys.arrivals("q"), "0", "199"] in batch
    assert all(c[0] != "LPUSH" for c in records.replay_commands(batch))
    closed = records.call_closed(
        keys,
        uniqueid="u",
        record={"ended_at": 9, "outcome": "abandoned", "in_queue_ms": None, "talk_s": 0},
        queue="q",
        arrived_ms=5,
        kpis={},
        ttl_s=9,
        events_maxlen=9,
    )
    assert [records.LIVE_ONLY, "LPUSH", keys.ended("q"), "9:abandoned::0"] in closed
    assert [records.LIVE_ONLY, "EXPIRE", keys.ended("q"), "3600"] in closed


def test_a_prediction_costs_well_under_a_millisecond():
    """Full lists parsed and the model run, as decide_tariff does on every call, for a team of 20
    at 240 calls/h (the simulator's busy day). Median, so a busy CI machine does not flake it."""
    recent = [f"{NOW - i * 5000}:{15000 + i * 100}:{3000 + i * 100}" for i in range(100)]
    ended = [
        f"{NOW - i * 5000}:{'abandoned' if i % 20 == 0 else 'answered'}:{4000 + i}:{(i * 37) % 600 + 20}"
        for i in range(100)
    ]
    arrivals = [f"{NOW - i * 15000}:{'p' if i % 5 else 'f'}" for i in range(100)]  # 240 calls/h
    waits = [15000 + i * 100 for i in range(100)]
    costs = []
    for state in (QueueState(2, 20, 0), QueueState(0, 20, 3), QueueState(0, 20, 0), QueueState(1, 20, 1)):
        for _ in range(30):
            began = time.perf_counter()
            history = History.from_lists(recent, ended, arrivals, NOW)
            predict(state, waits, commitment_s=60, confidence=0.95, history=history)
            costs.append(time.perf_counter() - began)
    assert statistics.median(costs) < 0.001
