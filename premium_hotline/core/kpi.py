"""Call-centre KPIs from the per-minute counters the plugin writes: pure arithmetic, no I/O.

The plugin counts each ended call once into the KPI hash of its queue and ARRIVAL minute
(`counters`, written by store/records.py): integer counters and sums, plus a count per time-to-human
histogram bucket. Every figure here is a ratio of such sums, so a window of minutes, several
queues, or both tariffs merge exactly by adding integers first and dividing last; nothing is
averaged twice, and percentiles come from summed bucket counts (core/histogram.py), never from
per-minute percentiles. docs/kpis.md gives each formula in words; this module is the one place
they are implemented, shared by `stats`, the exporter and `plot`.

A `Tally` is the summed counters of some set of calls of one tariff. `parse_minute` turns one
Redis hash into a Tally per tariff; `figures` turns a Tally into the published numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import histogram
from .codes import ABANDONED, ANSWERED, FREE, OUTCOMES, PREMIUM, SHORT_ABANDON, TARIFFS, UNANSWERED

ALL = "all"

# Counters written per call and tariff (the part of the field name before ":<tariff>").
COUNTERS = (
    "offered",
    *OUTCOMES,
    "tth_sum_ms",
    "bq_sum_ms",
    "inq_sum_ms",
    "wait_sum_ms",
    "sl_answered",
    "sl_abandoned",
    "sl_unanswered",
    "breached",
    "downgraded",
    "talk_s",
    "billable_s",
    "amount_cents",
    "wire_billable_s",  # network answer to hang-up: what the caller's operator bills S over
    "refund_cents",  # S charged on the wire beyond what is owed (free, downgraded, pre-person)
)
HISTOGRAM_FIELD = "tth_h"

QUANTILES = (0.5, 0.9, 0.99)

# The error of a percentile read from the buckets, against the exact nearest-rank percentile of
# the same calls: at most ABSOLUTE_BOUND_MS below one second, RELATIVE_BOUND of the value above,
# for waits under BOUND_VALID_BELOW_MS (the last bucket is open-ended). These are the bounds the
# histogram states; tests/unit/test_kpi_percentiles.py recomputes them from the bucket edges.
ABSOLUTE_BOUND_MS = histogram.ABSOLUTE_ERROR_MS
RELATIVE_BOUND = histogram.RELATIVE_ERROR
BOUND_VALID_BELOW_MS = histogram.LOWER[histogram.LAST]


def percentile_error_bound_ms(exact_ms: float) -> float:
    """The largest gap between a bucket percentile and the exact one, for an exact value."""
    return max(ABSOLUTE_BOUND_MS, RELATIVE_BOUND * exact_ms)


class Tally:
    """Summed counters of a set of calls (one tariff, or merged): adding two gives the union's.

    `counts` maps a counter name (`answered`, `tth_sum_ms`, ...) to its integer sum; `tth` maps a
    histogram bucket index to the number of answered calls whose time to human fell in it.
    Unknown counter names are kept and summed too, so a newer writer's fields survive a merge.
    """

    __slots__ = ("counts", "tth")

    def __init__(self, counts: Mapping[str, int] | None = None, tth: Mapping[int, int] | None = None) -> None:
        self.counts: dict[str, int] = dict(counts or {})
        self.tth: dict[int, int] = dict(tth or {})

    def add(self, other: Tally) -> Tally:
        """Add `other` into this tally (in place) and return it."""
        counts = self.counts
        for name, value in other.counts.items():
            counts[name] = counts.get(name, 0) + value
        tth = self.tth
        for index, value in other.tth.items():
            tth[index] = tth.get(index, 0) + value
        return self

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.counts, self.tth).add(other)

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tally):
            return NotImplemented
        return _nonzero(self.counts) == _nonzero(other.counts) and _nonzero(self.tth) == _nonzero(other.tth)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Tally({_nonzero(self.counts)}, tth={_nonzero(self.tth)})"

    @property
    def empty(self) -> bool:
        return not any(self.counts.values()) and not any(self.tth.values())


def _nonzero(mapping: Mapping) -> dict:
    return {key: value for key, value in mapping.items() if value}


def merged(tallies: Iterable[Tally]) -> Tally:
    """The sum of several tallies (minutes, queues or tariffs): exact, order-free."""
    total = Tally()
    for tally in tallies:
        total.add(tally)
    return total


def counters(ending, decided_tariff: str) -> dict[str, int]:
    """The counters one ended call adds to its arrival minute, per decided tariff: what
    `parse_minute` reads back, written here beside it so that the names are spelled once.

    Short abandons are counted apart and not as offered (the caller hung up before the service
    had a fair chance, usually a misdial).
    """
    t = decided_tariff if decided_tariff in TARIFFS else FREE
    fields: dict[str, int] = {f"{ending.outcome}:{t}": 1}
    if ending.outcome != SHORT_ABANDON:
        fields[f"offered:{t}"] = 1
    if ending.outcome == ANSWERED:
        tth = ending.time_to_human_ms
        fields[f"tth_sum_ms:{t}"] = tth
        fields[f"tth_h:{t}:{histogram.bucket(tth)}"] = 1
        fields[f"bq_sum_ms:{t}"] = ending.before_queue_ms or 0
        fields[f"inq_sum_ms:{t}"] = ending.in_queue_ms or 0
        fields[f"talk_s:{t}"] = ending.talk_s
        fields[f"billable_s:{t}"] = ending.billable_s
        fields[f"amount_cents:{t}"] = int(ending.amount * 100)
        if ending.within_sl:
            fields[f"sl_answered:{t}"] = 1
    elif ending.outcome in (ABANDONED, UNANSWERED):
        fields[f"wait_sum_ms:{t}"] = ending.wait_ms
        if ending.within_sl:
            # Apart: SL2 counts callers who gave up within T, not calls the queue turned away.
            fields[f"sl_{ending.outcome}:{t}"] = 1
    # The wire's bill, whatever the outcome: a caller answered at early_media_max_s who then
    # left was billed by the operator too. Zero counters are not written.
    refund_cents = int(ending.refund_due * 100)
    if ending.wire_billable_s:
        fields[f"wire_billable_s:{t}"] = ending.wire_billable_s
    if refund_cents:
        fields[f"refund_cents:{t}"] = refund_cents
    if ending.sla_breached:
        fields[f"breached:{t}"] = 1
    if decided_tariff == PREMIUM and ending.tariff != PREMIUM:
        fields[f"downgraded:{t}"] = 1
    return fields


def parse_minute(fields: Mapping[str, str | bytes]) -> dict[str, Tally]:
    """Split one `ph:kpi:{queue}:<minute>` hash into a Tally per tariff.

    Fields are `<counter>:<tariff>` and `tth_h:<tariff>:<bucket>`. A value that is not an
    integer (a hand edit, a foreign writer) is skipped rather than failing the whole window.
    """
    return accumulate({}, fields)


# Field name -> ("c", tariff, counter) or ("h", tariff, bucket) or None (not ours). The same few
# hundred names recur in every minute, so each is parsed once: a day is ~125,000 fields.
_FIELD_NAMES: dict[str, tuple | None] = {}
_FIELD_NAMES_MAX = 50_000


def _field_name(name: str | bytes) -> tuple | None:
    spec = _FIELD_NAMES.get(name, False)
    if spec is not False:
        return spec
    text = name.decode() if isinstance(name, bytes) else name
    parts = text.split(":")
    spec = None
    if len(parts) == 3 and parts[0] == HISTOGRAM_FIELD:
        try:
            spec = ("h", parts[1], int(parts[2]))
        except ValueError:
            spec = None
    elif len(parts) == 2:
        spec = ("c", parts[1], parts[0])
    if len(_FIELD_NAMES) < _FIELD_NAMES_MAX:
        _FIELD_NAMES[name] = spec
    return spec


def accumulate(into: dict[str, Tally], fields: Mapping[str, str | bytes]) -> dict[str, Tally]:
    """Add one minute hash's fields straight into per-tariff tallies (in place) and return them:
    summing a window this way costs one pass over the fields, no per-minute objects."""
    for name, raw_value in fields.items():
        spec = _field_name(name)
        if spec is None:
            continue
        try:
            value = int(raw_value)
        except (TypeError, ValueError):
            continue
        kind, tariff, key = spec
        tally = into.get(tariff)
        if tally is None:
            tally = into[tariff] = Tally()
        target = tally.tth if kind == "h" else tally.counts
        target[key] = target.get(key, 0) + value
    return into


def add_by_tariff(into: dict[str, Tally], more: Mapping[str, Tally]) -> dict[str, Tally]:
    """Add per-tariff tallies into `into` (in place) and return it."""
    for tariff, tally in more.items():
        into.setdefault(tariff, Tally()).add(tally)
    return into


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _seconds(total_ms: int, count: int) -> float | None:
    return total_ms / count / 1000 if count > 0 else None


def figures(tally: Tally, *, premium_offered: int | None = None) -> dict:
    """The published KPIs of one tally, as a flat dict of plain numbers (None where undefined).

    `premium_offered` is the premium offered count of the same calls, for the premium share and
    the broken-commitment rate of a tally that mixes tariffs (defaults to this tally's `offered`,
    right for a premium-only tally). Times are seconds, money is in the rate's currency units.
    """
    offered = tally["offered"]
    answered = tally["answered"]
    abandoned = tally["abandoned"]
    unanswered = tally["unanswered"]
    lost = tally["lost"]
    premium = offered if premium_offered is None else premium_offered
    quantiles = {q: histogram.percentile(tally.tth, q) for q in QUANTILES}
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "unanswered": unanswered,
        "short_abandoned": tally["short_abandon"],
        "lost": lost,
        "answer_rate": _ratio(answered, offered),
        "abandon_rate": _ratio(abandoned, offered),
        "unanswered_rate": _ratio(unanswered, offered),
        "lost_rate": _ratio(lost, offered),
        "asa_s": _seconds(tally["inq_sum_ms"], answered),
        "tth_mean_s": _seconds(tally["tth_sum_ms"], answered),
        "tth_p50_s": _ms_to_s(quantiles[0.5]),
        "tth_p90_s": _ms_to_s(quantiles[0.9]),
        "tth_p99_s": _ms_to_s(quantiles[0.99]),
        "before_queue_mean_s": _seconds(tally["bq_sum_ms"], answered),
        "in_queue_mean_s": _seconds(tally["inq_sum_ms"], answered),
        "abandon_wait_mean_s": _seconds(tally["wait_sum_ms"], abandoned + unanswered),
        "answered_within_sl": tally["sl_answered"],
        "abandoned_within_sl": tally["sl_abandoned"],
        "service_level": _ratio(tally["sl_answered"], answered),
        # Asterisk's SL2: callers who gave up within T count as served in time; calls the queue
        # turned away (unanswered) are in neither the numerator nor the denominator.
        "service_level_2": _ratio(tally["sl_answered"] + tally["sl_abandoned"], answered + abandoned),
        "premium_offered": premium,
        "premium_share": _ratio(premium, offered),
        "commitments_broken": tally["breached"],
        "commitment_broken_rate": _ratio(tally["breached"], premium),
        "downgraded": tally["downgraded"],
        "talk_min": tally["talk_s"] / 60,
        "billable_min": tally["billable_s"] / 60,
        "amount": tally["amount_cents"] / 100,
        "amount_cents": tally["amount_cents"],
        "wire_billable_min": tally["wire_billable_s"] / 60,
        "refund_due": tally["refund_cents"] / 100,
        "refund_cents": tally["refund_cents"],
    }


def _ms_to_s(value: float | None) -> float | None:
    return None if value is None else value / 1000


def summarize(by_tariff: Mapping[str, Tally]) -> dict[str, dict]:
    """Figures for each tariff present plus `all` (the tariffs merged), with the premium share.

    Both tariffs always appear, zero-filled, so a table or a JSON consumer sees a stable shape.
    """
    tallies = {tariff: by_tariff.get(tariff, Tally()) for tariff in TARIFFS}
    for tariff, tally in by_tariff.items():
        tallies.setdefault(tariff, tally)
    total = merged(tallies.values())
    premium_offered = tallies[PREMIUM]["offered"]
    out = {
        tariff: figures(tally, premium_offered=tally["offered"] if tariff == PREMIUM else 0)
        for tariff, tally in tallies.items()
    }
    out[ALL] = figures(total, premium_offered=premium_offered)
    return out


def error_bound() -> dict:
    """The percentile error bound, as published next to the figures (JSON, docs)."""
    return {
        "absolute_ms": ABSOLUTE_BOUND_MS,
        "relative": RELATIVE_BOUND,
        "valid_below_s": BOUND_VALID_BELOW_MS / 1000,
        "definition": "nearest-rank percentile; |reported - exact| <= max(absolute_ms, relative * exact)",
    }
