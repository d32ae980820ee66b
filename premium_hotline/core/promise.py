"""The daily promise: "`promise_target` of a day's premium calls answered within the commitment".

Operators are judged on the day, not on each call. A fixed per-call confidence (0.95) ends most
days at 98 to 99 % and leaves premium share on the table; this policy spends the day's slack
instead. Its state is one small count per number and day (`DayCount`, a Redis hash, see
store/records.py): premium calls decided, kept, broken, and, per band of predicted probability,
how many eligible calls fell in it and how many of them kept (or, made free, would have kept) the
promise; and the last threshold used. From it and a forecast of the calls the rest of the day
brings, `daily_threshold` picks the probability the predictor must reach for the next call to be
premium.

Why a threshold: every premium call counts the same in the share, and a call whose promise holds
with probability q adds q - target of expected slack (kept - target x premium). Maximising the
calls kept under "slack >= 0 at the end of the day" is a fractional knapsack whose optimum takes
the calls by decreasing q: a threshold on the prediction. The day's bands say how many future
calls each threshold would take and how often such calls really keep the promise today (the
predictor's own probability, corrected by the band's outcomes so far: free callers count with
the wait they had plus the price message they did not hear). The threshold is the lowest that
keeps the day's expected final slack above a margin: z standard deviations of the outcomes that
could not be corrected any more. The calls pending now are out of reach; of the rest of the day,
only the last stretch is: a shortfall met earlier is made up by a stricter threshold later, and
the stricter the safest threshold is than this one (in expected slack per call), the shorter that
stretch (at 60 s the safest threshold keeps 99 % against 96 % at 0, and the morning's bad luck is
made up by noon; at 30 s both keep 96 to 97 % and nearly every outcome counts in the margin).
When no threshold keeps the margin, the one that comes closest does (the ceiling when it is the
top band): a threshold stricter than it loses share without keeping more promises.
The threshold so planned moves at most one band from the last decision's (`LAST`, kept in the
hash): re-planned on every call, it swung between bands (calm, 30 s: 0.5, then 0.95 within the
hour, then 0.5), taking a call predicted 0.4 one hour and refusing one predicted 0.93 the next,
which no fixed threshold does. One band per decision keeps the plan's direction and damps the
swings: over 360 simulated days, 288 ok against 282, with the same 9 days under the target.
Realised outcomes feed back through the count on every call; the margin shrinks as the day ends.
From the day's second call on the day is planned this way (the predictions alone, at first);
a band's prior is the predictor's own probability, strong (PRIOR_CALLS) so that a few early
breaks, mostly luck, do not send the threshold to the ceiling for hours. No day-wide correction
of the predictor: its breaks are not proportional to 1 - p (calls it is sure of break 2 to 3 %
at 30 s, a ring-out; calls it gives 0.5 keep 60 to 90 %), and a factor learnt on the first sent
every other band to the ceiling (scripts/promise-seeds, docs/promise.md).

Pure: no I/O, no clock; `math` only.
"""

from __future__ import annotations

import math

# Bands of predicted probability, finer where the predictor puts most calls (near 1).
EDGES = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)
BINS = len(EDGES)
Q_FLOOR = 0.01  # even a call the model is sure of breaks now and then (a ring unanswered)
WARMUP = 1  # the day's first eligible call: nothing to plan from yet
START_THRESHOLD = 0.95  # for it: the per-call default
CEILING = 0.999  # the strictest threshold: only calls the model is sure of
SAFETY_Z = 2.0  # margin, in standard deviations of the outcomes not correctable any more
# A prior strong enough that a morning's few unlucky breaks do not swing the day (measured on
# seeds 1 to 10, docs/promise.md: weaker ones sent calm days to the ceiling for hours).
PRIOR_CALLS = 50.0  # a band's own outcomes outweigh the prediction after about this many
PRICE_MESSAGE_S = 12.0  # what a free caller would have heard first, had the call been premium

# Field names of the Redis hash (short: the key is read on every eligible call).
ELIGIBLE = "e"  # calls to the number that passed the static rules (tariff was up to the queue)
DECIDED = "d"  # premium decisions
KEPT = "k"  # premium calls answered within the commitment
BROKEN = "b"  # premium calls answered late, or abandoned
SHORT = "s"  # premium calls abandoned within short_abandon_s: not counted either way
RISK = "r"  # sum over premium decisions of 1 - p, in thousandths
FIRST = "t0"  # first eligible call of the day, epoch ms
LAST = "th"  # the last daily threshold used, as its index in LADDER (set, not incremented)
SET = "="  # before a field name in the transitions: HSET its value, do not add it
LADDER = (*EDGES, CEILING)  # every threshold daily_threshold returns, loosest first


def band_of(p: float) -> int:
    """Index of the band holding p: the last edge at or below it."""
    i = 0
    for k, edge in enumerate(EDGES):
        if p >= edge:
            i = k
    return i


def band_fields(i: int) -> tuple[str, str, str, str]:
    """Band i's fields: eligible calls, their predictions summed (thousandths), settled calls,
    settled calls that kept (or would have kept) the promise."""
    return f"h{i}", f"p{i}", f"n{i}", f"y{i}"


def would_keep(outcome: str, time_to_human_ms: int | None, commitment_s: int, premium: bool) -> bool | None:
    """Did this eligible call keep the promise, or would it have, made premium? None: says
    nothing (short abandon). A free caller heard no price message: it is added to the wait."""
    if outcome == "short_abandon":
        return None
    if outcome != "answered" or time_to_human_ms is None:
        return False
    extra = 0.0 if premium else PRICE_MESSAGE_S * 1000
    return time_to_human_ms + extra <= commitment_s * 1000


class DayCount:
    """One number's day so far, as read from its hash (missing fields are 0)."""

    __slots__ = ("band_kept", "band_n", "bands", "broken", "decided", "eligible", "first_ms", "kept",
                 "last", "psum", "risk", "short")  # fmt: skip

    def __init__(self) -> None:
        self.eligible = 0
        self.decided = 0
        self.kept = 0
        self.broken = 0
        self.short = 0
        self.risk = 0.0  # expected breaks of the premium decisions (sum of 1 - p)
        self.first_ms = 0
        self.bands = [0] * BINS  # eligible calls per band
        self.psum = [0.0] * BINS  # their predictions summed
        self.band_n = [0] * BINS  # settled
        self.band_kept = [0] * BINS  # settled and kept, or would have kept
        self.last: int | None = None  # index in LADDER of the last daily threshold, if any

    @classmethod
    def from_hash(cls, fields) -> DayCount:
        """From HGETALL's reply (a dict, or a flat list of str/bytes); bad values count as 0."""
        if not isinstance(fields, dict):
            items = list(fields or ())
            fields = dict(zip(items[::2], items[1::2], strict=False))
        values: dict[str, int] = {}
        for key, value in fields.items():
            name = key.decode("ascii", "replace") if isinstance(key, bytes) else str(key)
            try:
                values[name] = max(0, int(value))
            except (TypeError, ValueError):
                continue
        count = cls()
        count.eligible = values.get(ELIGIBLE, 0)
        count.decided = values.get(DECIDED, 0)
        count.kept = values.get(KEPT, 0)
        count.broken = values.get(BROKEN, 0)
        count.short = values.get(SHORT, 0)
        count.risk = values.get(RISK, 0) / 1000
        count.first_ms = values.get(FIRST, 0)
        if LAST in values:
            count.last = min(values[LAST], len(LADDER) - 1)
        for i in range(BINS):
            h, p, n, y = band_fields(i)
            count.bands[i] = values.get(h, 0)
            count.psum[i] = values.get(p, 0) / 1000
            count.band_n[i] = values.get(n, 0)
            count.band_kept[i] = min(values.get(y, 0), count.band_n[i])
        return count

    # ---- the transitions: what the routes write (store/records.py), what the simulator applies

    @staticmethod
    def eligible_fields(p: float | None, premium: bool, threshold: float | None = None) -> dict[str, int]:
        """HINCRBY increments for an eligible call's decision (FIRST is set once, apart), and
        the daily threshold it was held to, when it was (SET + LAST: a value, not an increment)."""
        fields = {ELIGIBLE: 1}
        if threshold in LADDER:
            fields[SET + LAST] = LADDER.index(threshold)
        if p is not None:
            h, s, _, _ = band_fields(band_of(p))
            fields[h] = 1
            fields[s] = int(p * 1000)
        if premium:
            fields[DECIDED] = 1
            fields[RISK] = round((1.0 - (p if p is not None else 1.0)) * 1000)
        return fields

    @staticmethod
    def settled_fields(p: float | None, premium: bool, keeps: bool | None) -> dict[str, int]:
        """HINCRBY increments once the call's promise is settled (`keeps` from would_keep)."""
        fields: dict[str, int] = {}
        if premium:
            fields[SHORT if keeps is None else KEPT if keeps else BROKEN] = 1
        if p is not None and keeps is not None:
            _, _, n, y = band_fields(band_of(p))
            fields[n] = 1
            if keeps:
                fields[y] = 1
        return fields

    def apply(self, fields: dict[str, int], now_ms: int = 0) -> None:
        """Adds increments as Redis would (the simulator's in-memory copy of the hash)."""
        if now_ms and not self.first_ms:
            self.first_ms = now_ms
        names = {ELIGIBLE: "eligible", DECIDED: "decided", KEPT: "kept", BROKEN: "broken", SHORT: "short"}
        for key, value in fields.items():
            if key == SET + LAST:
                self.last = value
            elif key in names:
                setattr(self, names[key], getattr(self, names[key]) + value)
            elif key == RISK:
                self.risk += value / 1000
            else:
                kind, i = key[0], int(key[1:])
                if kind == "h":
                    self.bands[i] += value
                elif kind == "p":
                    self.psum[i] += value / 1000
                elif kind == "n":
                    self.band_n[i] += value
                elif kind == "y":
                    self.band_kept[i] += value

    @property
    def pending(self) -> int:
        """Premium calls decided whose promise is not settled yet (in the message, queue, ring)."""
        return max(0, self.decided - self.kept - self.broken - self.short)

    @property
    def kept_share(self) -> float:
        settled = self.kept + self.broken
        return self.kept / settled if settled else 1.0

    def band_keep(self, i: int) -> float:
        """How often a call of band i keeps the promise today: its prediction, corrected by the
        band's own settled outcomes (a beta posterior mean, PRIOR_CALLS pseudo-calls of prior)."""
        prior = self.psum[i] / self.bands[i] if self.bands[i] else (EDGES[i] + 1.0) / 2
        kept = (self.band_kept[i] + PRIOR_CALLS * prior) / (self.band_n[i] + PRIOR_CALLS)
        return min(1.0 - Q_FLOOR, kept)

    def __repr__(self) -> str:
        return (
            f"DayCount(eligible={self.eligible}, decided={self.decided}, kept={self.kept}, "
            f"broken={self.broken}, short={self.short}, risk={self.risk:.2f})"
        )


def remaining_calls(count: DayCount, now_ms: int, open_left_s: float) -> float:
    """Eligible calls the rest of the day should bring: the day's pace so far over the opening
    time left. Overestimating is the prudent side while the day is ahead of its target."""
    if open_left_s <= 0 or not count.first_ms or count.eligible <= 0:
        return 0.0
    elapsed_s = max(60.0, (now_ms - count.first_ms) / 1000)
    return count.eligible / elapsed_s * open_left_s


def daily_threshold(count: DayCount, *, target: float, remaining: float, z: float | None = None) -> float:
    """The planned threshold (`planned_threshold`), at most one band from the last decision's
    (the module's docstring says why)."""
    planned = planned_threshold(count, target=target, remaining=remaining, z=z)
    if count.last is None or planned not in LADDER:
        return planned
    step = LADDER.index(planned)
    return LADDER[max(count.last - 1, min(count.last + 1, step))]


def planned_threshold(count: DayCount, *, target: float, remaining: float, z: float | None = None) -> float:
    """The lowest per-call threshold that keeps the day's expected final kept share at or above
    `target` with a margin of `z` standard deviations of the outcomes no later threshold could
    correct; when none does, the one closest to it (CEILING if that is the top band).

    `remaining`: eligible calls still to come today (see `remaining_calls`).
    """
    z = SAFETY_Z if z is None else z
    total = sum(count.bands)
    if count.eligible < WARMUP or total <= 0:
        return START_THRESHOLD
    settled = count.kept + count.broken
    pending = count.pending
    # The pending calls at what their predictions said, corrected as the settled ones were.
    announced = settled * count.risk / count.decided if count.decided else 0.0
    factor = (count.broken + 1.0) / (announced + 1.0)
    q_pending = min(1.0, factor * count.risk / count.decided) if count.decided else 0.0
    slack = count.kept + pending * (1.0 - q_pending) - target * (settled + pending)
    var_pending = pending * q_pending * (1.0 - q_pending)
    # A future eligible call falls in band i as often as today's did; calls that got no
    # prediction (nobody ready) are eligible but never premium, so they dilute the bands.
    # plans[i]: expected slack and variance the rest of the day adds at threshold EDGES[i].
    scale = remaining / max(count.eligible, 1)
    plans = [(0.0, 0.0)] * BINS
    gain = var = 0.0
    for i in range(BINS - 1, -1, -1):
        n = count.bands[i] * scale
        if n > 0:
            keep = count.band_keep(i)
            gain += n * (keep - target)
            var += n * keep * (1.0 - keep)
        plans[i] = (gain, var)
    safest = max(g for g, _ in plans)
    lowest = None
    scores = []
    for i, (gain, var) in enumerate(plans):
        sd = math.sqrt(var_pending + _exposed(gain, var, safest, z) * var)
        expected = slack + gain
        if lowest is None and expected >= z * sd:
            lowest = i  # taking every call predicted at EDGES[i] or more keeps the margin
        scores.append(expected / sd if sd > 0 else math.copysign(math.inf, expected))
    if lowest is not None:
        return EDGES[lowest]
    # The best ratio is the plan most likely to end at or above the target; on a day short of
    # it even on the safest plan that is the widest spread, a gamble that beat taking the
    # safest plan (2 fewer days under the target of 360, scripts/promise-seeds --seeds 1-30).
    # Bands with no call today add nothing to a plan, so thresholds tie. A day that ends under
    # its target whatever it does now (even the safest plan leaves it short, in expectation)
    # takes the strictest of them, the calls the model is sure of; any other day the lowest (its
    # margin is about luck still to come, and nothing says such calls would break).
    doomed = slack + safest < 0
    closest = max(range(BINS), key=lambda i: (scores[i], i if doomed else -i))
    return CEILING if closest == BINS - 1 and doomed else EDGES[closest]


def _exposed(gain: float, var: float, safest: float, z: float) -> float:
    """Share of the rest of the day's variance that no later threshold could make up: the last
    stretch, as long as it takes the safest threshold's extra slack (`safest` - `gain` over the
    whole rest) to cover z standard deviations of the rest's outcomes. 1: all of it."""
    room = safest - gain
    if room <= 0 or var <= 0:
        return 1.0
    return min(1.0, z * math.sqrt(var) / room)
