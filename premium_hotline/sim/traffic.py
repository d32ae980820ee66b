"""Scenarios and the calls they generate, drawn up front so every policy sees the same traffic.

A scenario is one business day of a hotline with a premium number (0899, surcharged) and a free
number (0805) sharing one queue. Arrivals are Poisson with a half-hourly daily profile (a morning
and an afternoon hump); agents are staffed per half hour by Erlang C to the usual 80 % within
20 s on the *forecast*, then scaled by the scenario (understaffed) while a surge adds traffic
nobody forecast. Talk times and patience are lognormal, as measured in real call centres (Brown
et al., "Statistical analysis of a telephone call center", JASA 2005): the predictor's
exponential assumptions are deliberately not those of the traffic.

Common random numbers: each call carries its own patience, talk and ring times, so two policies
differ only by their decisions, not by luck.
"""

from __future__ import annotations

import math
import random

from ..core import erlang

PREMIUM_NUMBER = "0899123456"
FREE_NUMBER = "0805123456"
PREMIUM_RATE = "0.80/min"
QUEUE = "support"
DAY_START_H = 8.0
DAY_HOURS = 12.0
SLOT_S = 1800  # staffing and profile resolution: half an hour

# Relative arrival rate per half hour from 08:00 to 20:00 (peak = 1).
PROFILE = (
    0.35, 0.55, 0.75, 0.90, 1.00, 1.00, 0.95, 0.85, 0.70, 0.60, 0.65, 0.75,
    0.85, 0.90, 0.85, 0.80, 0.70, 0.60, 0.50, 0.45, 0.40, 0.35, 0.30, 0.25,
)  # fmt: skip


class Scenario:
    """One day's traffic and staffing. Rates per hour, times in seconds."""

    __slots__ = (
        "description",
        "message_s",
        "name",
        "patience_median_s",
        "patience_sigma",
        "peak_per_hour",
        "premium_share",
        "retry_s",
        "ring_s",
        "ring_timeout_s",
        "rna_share",
        "skip_share",
        "staffing",
        "surge",
        "talk_cv",
        "talk_mean_s",
        "wrapup_s",
    )

    def __init__(self, name: str, description: str, peak_per_hour: float, **options) -> None:
        self.name = name
        self.description = description
        self.peak_per_hour = peak_per_hour
        self.staffing = options.pop("staffing", 1.0)  # agents planned x this
        self.surge = options.pop("surge", None)  # (start hour, duration h, factor)
        self.premium_share = options.pop("premium_share", 0.8)  # calls to the premium number
        self.talk_mean_s = options.pop("talk_mean_s", 240.0)
        self.talk_cv = options.pop("talk_cv", 1.0)
        self.patience_median_s = options.pop("patience_median_s", 150.0)
        self.patience_sigma = options.pop("patience_sigma", 0.9)
        self.wrapup_s = options.pop("wrapup_s", 5.0)
        self.ring_s = options.pop("ring_s", (2.0, 7.0))
        # Ring-no-answer: share of ring attempts an agent lets ring out, queues.conf's `timeout`
        # (seconds a member rings) and `retry` (seconds before the next attempt).
        self.rna_share = options.pop("rna_share", 0.02)
        self.ring_timeout_s = options.pop("ring_timeout_s", 15.0)
        self.retry_s = options.pop("retry_s", 5.0)
        self.message_s = options.pop("message_s", 12.0)  # the price message, full length
        self.skip_share = options.pop("skip_share", 0.25)  # callers who press # to skip it
        if options:
            raise TypeError(f"unknown scenario options: {sorted(options)}")

    @property
    def aht_s(self) -> float:
        """Handling time for staffing: ring, talk and wrap-up all hold the agent."""
        return sum(self.ring_s) / 2 + self.talk_mean_s + self.wrapup_s

    def forecast_per_s(self, t: float) -> float:
        slot = min(max(int(t // SLOT_S), 0), len(PROFILE) - 1)
        return self.peak_per_hour * PROFILE[slot] / 3600

    def rate_per_s(self, t: float) -> float:
        """The actual arrival rate at t seconds after 08:00: the forecast, times the surge if any."""
        rate = self.forecast_per_s(t)
        if self.surge:
            start_h, hours, factor = self.surge
            if (start_h - DAY_START_H) * 3600 <= t < (start_h - DAY_START_H + hours) * 3600:
                rate *= factor
        return rate

    def staffing_plan(self, start_s: float, end_s: float) -> list[tuple[float, int]]:
        """(time, agents) per half hour: Erlang C for 80 % within 20 s on the forecast, x staffing."""
        plan = []
        slot = int(start_s // SLOT_S)
        while slot * SLOT_S < end_s:
            load = self.forecast_per_s(slot * SLOT_S) * self.aht_s
            agents = erlang.agents_for(load, self.aht_s, 20.0, 0.8) if load > 0 else 1
            plan.append((max(slot * SLOT_S, start_s), max(1, round(agents * self.staffing))))
            slot += 1
        return plan


SCENARIOS = {
    "calm": Scenario("calm", "quiet day, 45 calls/h at peak, staffed to 80/20", 45),
    "peak": Scenario("peak", "busy day, 240 calls/h at peak, staffed to 80/20", 240),
    "understaffed": Scenario(
        "understaffed", "busy day with a quarter of the agents missing", 240, staffing=0.75
    ),
    "surge": Scenario(
        "surge",
        "busy day, traffic x2.5 from 14:00 to 14:45 (an outage), not forecast",
        240,
        surge=(14.0, 0.75, 2.5),
    ),
}


class Call:
    """One caller: when, which number, and everything chance decides about them up front."""

    __slots__ = ("arrival_s", "cid", "message_s", "number", "patience_s", "ring_s", "talk_s", "unanswered")

    def __init__(self, cid: int, arrival_s: float, number: str, **drawn: float) -> None:
        self.cid = cid
        self.arrival_s = arrival_s
        self.number = number
        self.patience_s = drawn["patience_s"]
        self.talk_s = drawn["talk_s"]
        self.ring_s = drawn["ring_s"]
        self.message_s = drawn["message_s"]  # how long this caller would hear the price message
        self.unanswered = int(drawn.get("unanswered", 0))  # ring attempts that ring out first

    @property
    def premium_number(self) -> bool:
        return self.number == PREMIUM_NUMBER


def _lognormal(rng: random.Random, mean: float, cv: float) -> float:
    sigma = math.sqrt(math.log(1 + cv * cv))
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def _ring_outs(rng: random.Random, share: float) -> int:
    """Ring attempts let ring out before one is answered (geometric, at most 3)."""
    count = 0
    while count < 3 and rng.random() < share:
        count += 1
    return count


def generate_calls(
    scenario: Scenario, seed: int, start_s: float, end_s: float, *, first_id: int = 0
) -> list[Call]:
    """Non-homogeneous Poisson arrivals in [start_s, end_s) by thinning, with their draws.

    Ids count from `first_id`, so the calls of several days can share one set of ids."""
    rng = random.Random(seed)
    top = max(scenario.rate_per_s(t) for t in range(int(start_s), int(end_s) + 1, 60)) or 1e-9
    calls = []
    t = start_s
    while True:
        t += rng.expovariate(top)
        if t >= end_s:
            break
        if rng.random() * top > scenario.rate_per_s(t):
            continue
        number = PREMIUM_NUMBER if rng.random() < scenario.premium_share else FREE_NUMBER
        skip = rng.random() < scenario.skip_share
        calls.append(
            Call(
                first_id + len(calls),
                t,
                number,
                patience_s=rng.lognormvariate(math.log(scenario.patience_median_s), scenario.patience_sigma),
                talk_s=max(5.0, _lognormal(rng, scenario.talk_mean_s, scenario.talk_cv)),
                ring_s=rng.uniform(*scenario.ring_s),
                message_s=rng.uniform(3.0, scenario.message_s) if skip else scenario.message_s,
                unanswered=_ring_outs(rng, scenario.rna_share),
            )
        )
    return calls
