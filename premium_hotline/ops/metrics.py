"""The Prometheus view of the KPIs: a collector that reads Redis on every scrape.

No state lives in the exporter: each scrape sums today's KPI minutes per queue (one pipeline
per queue, like `stats`), so several exporters, restarts or a scrape missed change nothing.

Counters count the calls that ARRIVED since local midnight (config timezone) and have ended;
they only grow during the day, and start again from zero at midnight, which Prometheus's
`rate()` and `increase()` treat as a counter reset (the `_created` sample says when the count
started). A call that arrived before midnight and ends after it adds to yesterday's minute, so
`increase()` across midnight misses it; `stats --since` over the two days does not.

Labels: `queue`, `tariff` (the tariff decided at arrival: premium or free) and, on the call
counter, `outcome` (answered, abandoned, short_abandon, unanswered: PH_OUTCOME's values; and
lost: calls the reaper closed because no hang-up ever came, store/reaper.py).
Every figure of docs/kpis.md is a ratio of these counters; the dashboard
(dashboards/premium-hotline.json) shows the PromQL for each.
"""

from __future__ import annotations

import time

from ..core import histogram, kpi
from ..store.keys import Keys
from . import reader
from .window import Window, local_midnight_ms

NAMESPACE = "premium_hotline"

# Histogram bucket edges exported to Prometheus, each an exact edge of the stored buckets so
# every exported count is exact: 250 ms steps to 1 s, then 4 per octave (x1.19) up to 2048 s.
EXPORT_EDGES_MS: tuple[int, ...] = (
    250,
    500,
    750,
    1000,
    *(
        histogram.UPPER[i]
        for i in range(histogram.UPPER.index(1000) + 4, histogram.LAST, 4)
        if histogram.UPPER[i] <= 2_048_000
    ),
)

# (metric name without namespace, stored counter, divisor to base units, help)
_COUNTERS = (
    ("calls_offered", "offered", 1, "Calls offered: every ended or lost call except short abandons."),
    (
        "time_to_human_before_queue_seconds",
        "bq_sum_ms",
        1000,
        "Sum over answered calls of the time before the queue (price message, menus).",
    ),
    (
        "time_to_human_in_queue_seconds",
        "inq_sum_ms",
        1000,
        "Sum over answered calls of the time in the queue and ringing (ASA numerator).",
    ),
    (
        "abandoned_wait_seconds",
        "wait_sum_ms",
        1000,
        "Sum of the waits of abandoned and unanswered (queue time-out) calls.",
    ),
    (
        "answered_within_service_level",
        "sl_answered",
        1,
        "Answered calls whose time to human was within service_level_s.",
    ),
    (
        "abandoned_within_service_level",
        "sl_abandoned",
        1,
        "Abandoned calls whose caller gave up within service_level_s.",
    ),
    (
        "unanswered_within_service_level",
        "sl_unanswered",
        1,
        "Unanswered calls (the queue gave up) that ended within service_level_s.",
    ),
    (
        "commitments_broken",
        "breached",
        1,
        "Premium calls whose wait exceeded the committed time (answered late or abandoned after it).",
    ),
    ("downgraded_calls", "downgraded", 1, "Calls decided premium whose final tariff is free."),
    ("talk_seconds", "talk_s", 1, "Seconds talked with a person, answered calls."),
    ("billable_seconds", "billable_s", 1, "Seconds billed at the premium rate."),
    ("billed_euros", "amount_cents", 100, "Amount billed at the premium rate."),
    (
        "wire_billable_seconds",
        "wire_billable_s",
        1,
        "Seconds from the network's answer to the hang-up: what the caller's operator bills S over.",
    ),
    (
        "refund_due_euros",
        "refund_cents",
        100,
        "Surcharge billed on the wire beyond what is owed (free or downgraded calls, pre-person time).",
    ),
)


# Per agent, labels queue and agent (the member interface): (metric, counter, divisor, help).
_AGENT_COUNTERS = (
    ("agent_calls_answered", "answered", 1, "Calls answered by the agent."),
    ("agent_talk_seconds", "talk_s", 1, "Seconds the agent talked with callers."),
    (
        "agent_ring_seconds",
        "ring_sum_ms",
        1000,
        "Sum of the time the agent's phone rang before the answer (over agent_rung_calls).",
    ),
    ("agent_rung_calls", "rung", 1, "Answered calls whose ring time is known."),
    ("agent_premium_calls", "premium", 1, "Calls decided premium that the agent answered."),
    (
        "agent_premium_kept_calls",
        "premium_kept",
        1,
        "Premium calls the agent answered within the promise (billed premium).",
    ),
    ("agent_billable_seconds", "billable_s", 1, "Seconds billed at the premium rate, the agent's calls."),
    ("agent_billed_euros", "amount_cents", 100, "Amount billed at the premium rate, the agent's calls."),
)


def agent_families(crews: dict, created: float):
    """The per-agent counters, and `agent_info` naming each agent (MEMBERNAME) as a label."""
    families = {
        name: _family("counter", name, help_text, ["queue", "agent"])
        for name, _, _, help_text in _AGENT_COUNTERS
    }
    info = _family("gauge", "agent_info", "1 per agent seen today, with its member name.", ["agent", "name"])
    names: dict[str, str] = {}
    for queue in sorted(crews):
        for agent in sorted(crews[queue]):
            tally = crews[queue][agent]
            for name, field, divisor, _ in _AGENT_COUNTERS:
                families[name].add_metric([queue, agent], tally[field] / divisor, created=created)
            names.setdefault(agent, tally.name)
    for agent in sorted(names):
        info.add_metric([agent, names[agent]], 1)
    yield from families.values()
    yield info


def _family(kind: str, name: str, help_text: str, labels: list[str], unit: str = ""):
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    cls = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily, "histogram": HistogramMetricFamily}[
        kind
    ]
    return cls(f"{NAMESPACE}_{name}", help_text, labels=labels)


def histogram_buckets(tth: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative counts at EXPORT_EDGES_MS plus +Inf, from stored bucket counts (exact)."""
    from prometheus_client.utils import floatToGoString

    ordered = sorted(tth.items())
    out = []
    running = 0
    position = 0
    for edge in EXPORT_EDGES_MS:
        while position < len(ordered) and histogram.UPPER[ordered[position][0]] <= edge:
            running += ordered[position][1]
            position += 1
        out.append((floatToGoString(edge / 1000), running))
    out.append(("+Inf", sum(tth.values())))
    return out


class KpiCollector:
    """prometheus-client collector: today's KPI counters per queue and tariff, read on scrape."""

    def __init__(self, client, general, *, queues: list[str] | None = None, clock=time.time) -> None:
        self.client = client
        self.general = general
        self.keys = Keys(general.key_prefix)
        self.queues = queues
        self.clock = clock

    def describe(self):
        return []  # no read at registration time

    def collect(self):
        import redis

        started = time.monotonic()
        now_ms = int(self.clock() * 1000)
        midnight_ms = local_midnight_ms(now_ms, self.general.timezone)
        try:
            names = reader.list_queues(self.client, self.keys, self.queues)
            data, crews = reader.read_window_and_agents(
                self.client, self.keys, names, Window(midnight_ms, now_ms + 1, "today")
            )
            waiting = reader.read_waiting(self.client, self.keys, names, now_ms)
            ok = True
        except (redis.RedisError, OSError):
            ok = False
        if ok:
            yield from self._families(data, waiting, midnight_ms / 1000, now_ms)
            yield from agent_families(crews, midnight_ms / 1000)
        up = _family("gauge", "up", "1 if the last read of Redis succeeded, else 0.", [])
        up.add_metric([], 1 if ok else 0)
        yield up
        took = _family("gauge", "scrape_duration_seconds", "Time this scrape spent reading Redis.", [])
        took.add_metric([], time.monotonic() - started)
        yield took

    def _families(self, data, waiting, created: float, now_ms: int):
        general = self.general
        calls = _family(
            "counter",
            "calls",
            "Ended calls by outcome, counted in their arrival minute.",
            ["queue", "tariff", "outcome"],
        )
        simple = {
            name: _family("counter", name, help_text, ["queue", "tariff"])
            for name, _, _, help_text in _COUNTERS
        }
        tth = _family(
            "histogram",
            "time_to_human_seconds",
            "Time to reach a person, from arrival to the agent's answer (price message included), "
            "answered calls.",
            ["queue", "tariff"],
        )
        quantiles = _family(
            "gauge",
            "time_to_human_quantile_seconds",
            f"Today's time-to-human percentile from the fine stored buckets "
            f"(error <= {kpi.RELATIVE_BOUND:.2%} or {kpi.ABSOLUTE_BOUND_MS} ms).",
            ["queue", "tariff", "quantile"],
        )
        for queue in sorted(data):
            tallies = data[queue]
            for tariff in kpi.TARIFFS:
                tally = tallies.get(tariff, kpi.Tally())
                for outcome in kpi.OUTCOMES:
                    calls.add_metric([queue, tariff, outcome], tally[outcome], created=created)
                for name, field, divisor, _ in _COUNTERS:
                    simple[name].add_metric([queue, tariff], tally[field] / divisor, created=created)
                tth.add_metric([queue, tariff], histogram_buckets(tally.tth), tally["tth_sum_ms"] / 1000)
                for q in kpi.QUANTILES:
                    value = histogram.percentile(tally.tth, q)
                    if value is not None:
                        quantiles.add_metric([queue, tariff, f"{q:g}"], value / 1000)
        yield calls
        yield from simple.values()
        yield tth
        yield quantiles
        count = _family(
            "gauge",
            "calls_waiting",
            "Calls in the queue now: arrived, not yet answered nor ended.",
            ["queue"],
        )
        longest = _family(
            "gauge", "longest_wait_seconds", "How long the oldest waiting call has waited.", ["queue"]
        )
        for queue in sorted(waiting):
            count.add_metric([queue], waiting[queue].count)
            longest.add_metric([queue], waiting[queue].longest_wait_s(now_ms) or 0)
        yield count
        yield longest
        for name, value, help_text in (
            ("service_level_target_seconds", general.service_level_s, "service_level_s from the config."),
            (
                "commitment_seconds",
                general.commitment_s,
                "commitment_s from the config (the default promise).",
            ),
            ("short_abandon_seconds", general.short_abandon_s, "short_abandon_s from the config."),
        ):
            family = _family("gauge", name, help_text, [])
            family.add_metric([], value)
            yield family
        start = _family(
            "gauge", "counting_since_timestamp_seconds", "Start of the counters' window: local midnight.", []
        )
        start.add_metric([], created)
        yield start
