"""Will this caller reach a person within the committed time?

The decision charges premium only when the answer is "yes" with at least `promise_confidence`.
Inputs are the queue's live state from Asterisk (members ready and logged in, callers waiting)
and what Redis remembers of the queue's last minutes (see `History`): time to a human of answered
calls, talk times and abandons of ended calls, arrival times.

The model is Erlang A (M/M/n+M; Erlang C when nobody abandoned), used *conditionally on the live
state* rather than through its stationary formula: the live state is known, and the wait of a
caller who finds x calls in the system is far better predicted from x than from the long-run
average (Whitt, "Predicting queueing delays", Management Science 45(6), 1999; Ibrahim & Whitt,
"Real-time delay estimation in overloaded multiserver queues with abandonments", Management
Science 55(10), 2009). Averaged over the stationary queue length it is the textbook Erlang C / A
service level again (tests/unit/test_predict.py checks this).

A premium caller first hears the price message (`pre_queue_s`, at least 10 s by law) and only then
joins the queue, behind whoever joined meanwhile. So the prediction has two phases:

1. during the message, the number of calls in the system moves as the M/M/n+M birth-death
   process from the observed state (transient, by uniformization);
2. at queue entry with m callers ahead and every agent busy, the caller needs m+1 advances of
   the line, at rate n mu + j theta with j callers ahead (`erlang.reach_within`).

The promise holds if that happens within `commitment_s - pre_queue_s - ring_s`.

The model needs rates; with too little history, or when the history says its assumptions are far
off (talk times far from exponential), the empirical distribution of recent waits decides, alone
or as a floor under the model. Pure: no I/O, no clock, `math` only.
"""

from __future__ import annotations

import math

from . import erlang
from .codes import ABANDONED, ANSWERED, RECENT_WINDOW_MS
from .tariff import QueueState

MIN_SAMPLES = 5  # fewer recent calls than this say nothing about the queue
MIN_TALKS = 5  # fewer ended calls with a talk time than this cannot fit a service rate
ARRIVAL_WINDOW_MS = 10 * 60 * 1000  # arrival rate: shorter, to follow a surge sooner
DEFAULT_PRE_QUEUE_S = 12.0  # the price message: 10 s minimum by law, plus a margin
DEFAULT_RING_S = 3.0  # an agent's phone rings before the answer
TALK_CV_RANGE = (0.5, 2.0)  # coefficient of variation of talk times the model tolerates


class Prediction:
    __slots__ = ("keeps_promise", "method", "p_within", "samples")

    def __init__(self, p_within: float, keeps_promise: bool, method: str, samples: int) -> None:
        self.p_within = p_within
        self.keeps_promise = keeps_promise
        self.method = method
        self.samples = samples

    def __repr__(self) -> str:
        return (
            f"Prediction(p={self.p_within:.3f}, keeps={self.keeps_promise}, {self.method}, n={self.samples})"
        )


class History:
    """A queue's last minutes, parsed from the Redis lists (see `from_lists` for their formats).

    Times in seconds. `arrival_rate` is per second, `None` when no arrival was recorded (so the
    model cannot be fitted); `talk_s` the talk times of answered calls; `queue_s` the time every
    ended call spent in the queue and `abandons` how many of them gave up there (the maximum
    likelihood estimate of an exponential patience rate is abandons / total queue time, censored
    waits included); `pre_queue_s` the time answered callers spent before the queue;
    `last_wait_s` the time in the queue of the last caller who reached a person (None: nobody
    in the window).
    """

    __slots__ = (
        "abandons",
        "arrival_rate",
        "free_share",
        "in_message",
        "last_wait_s",
        "pre_queue_s",
        "queue_s",
        "talk_s",
    )

    def __init__(
        self,
        *,
        arrival_rate: float | None = None,
        talk_s: list[float] | None = None,
        queue_s: float = 0.0,
        abandons: int = 0,
        pre_queue_s: list[float] | None = None,
        free_share: float | None = None,
        in_message: int = 0,
        last_wait_s: float | None = None,
    ) -> None:
        self.arrival_rate = arrival_rate
        self.last_wait_s = last_wait_s
        self.in_message = in_message
        self.talk_s = talk_s or []
        self.queue_s = queue_s
        self.abandons = abandons
        self.pre_queue_s = pre_queue_s or []
        self.free_share = free_share

    @classmethod
    def from_lists(
        cls,
        recent: list | tuple | None,
        ended: list | tuple | None,
        arrivals: list | tuple | None,
        now_ms: int,
        *,
        read_limit: int = 100,
        window_ms: int = RECENT_WINDOW_MS,
    ) -> History:
        """Parse the three lists as LRANGE returns them (newest first, str or bytes items).

        recent:   "human_ms:time_to_human_ms:in_queue_ms"   (agent_answered, store.records)
        ended:    "ended_ms:outcome:in_queue_ms:talk_s"      (call_ended; in_queue_ms may be empty)
        arrivals: "arrived_ms:t" with t the decided tariff's initial, "p" or "f" (decide_tariff)
        Malformed items are skipped: a bad entry must never break a decision.
        """
        since = now_ms - window_ms
        pre_queue: list[float] = []
        last_wait = None
        for item in recent or ():
            try:
                human, tth, inq = _text(item).split(":", 2)
                if int(human) >= since:
                    pre_queue.append(max(0, int(tth) - int(inq)) / 1000)
                    if last_wait is None:
                        last_wait = max(0, int(inq)) / 1000  # newest first: the last one served
            except ValueError:
                continue  # malformed: skipped
        talks: list[float] = []
        abandons = 0
        queue_ms = 0
        for item in ended or ():
            try:
                stamp, outcome, inq, talk = _text(item).split(":", 3)
                if int(stamp) < since:
                    continue
                waited = int(inq) if inq else 0
                talked = int(talk) if talk else 0
            except ValueError:
                continue
            queue_ms += waited
            if outcome == ANSWERED:
                if talked > 0:
                    talks.append(float(talked))
            elif outcome == ABANDONED and waited > 0:
                abandons += 1
        rate = None
        free = 0
        counted = 0
        in_message = 0
        oldest = now_ms
        items = arrivals or ()
        # Premium callers who arrived less than a price message ago are hearing it now: invisible
        # in QUEUE_WAITING_COUNT, they join the queue ahead of this caller.
        message_since = now_ms - 1000 * cls(pre_queue_s=pre_queue).pre_queue()
        window_start = now_ms - ARRIVAL_WINDOW_MS
        for item in items:
            stamp, _, tariff = _text(item).partition(":")
            try:
                at = int(stamp)
            except ValueError:
                continue
            if at < window_start or at > now_ms:
                continue
            counted += 1
            oldest = min(oldest, at)
            if tariff == "f":
                free += 1
            elif tariff == "p" and at > message_since:
                in_message += 1
        if items:
            # A full read may not reach back to the window's start: the span it covers is the window.
            span_ms = now_ms - oldest if len(items) >= read_limit and counted > 1 else ARRIVAL_WINDOW_MS
            rate = counted / max(span_ms / 1000, 1.0)
        return cls(
            arrival_rate=rate,
            talk_s=talks,
            queue_s=queue_ms / 1000,
            abandons=abandons,
            pre_queue_s=pre_queue,
            free_share=free / counted if counted else None,
            in_message=in_message,
            last_wait_s=last_wait,
        )

    @property
    def fits(self) -> bool:
        """Enough history to fit the model's rates."""
        return self.arrival_rate is not None and len(self.talk_s) >= MIN_TALKS

    def mean_talk_s(self) -> float:
        return sum(self.talk_s) / len(self.talk_s) if self.talk_s else 0.0

    def talk_cv(self) -> float:
        """Coefficient of variation of talk times: 1 for the exponential the model assumes."""
        n = len(self.talk_s)
        mean = self.mean_talk_s()
        if n < 2 or mean <= 0:
            return 1.0
        var = sum((t - mean) ** 2 for t in self.talk_s) / (n - 1)
        return math.sqrt(var) / mean

    def abandon_rate(self) -> float:
        """Patience rate theta: abandons over total time spent waiting (exponential MLE)."""
        return self.abandons / self.queue_s if self.queue_s > 0 and self.abandons else 0.0

    def ahead_share(self) -> float:
        """Share of the callers arriving during this caller's price message who join the queue
        before it ends: free callers (no message) and premium callers who skip theirs (their
        pre-queue time well under the full message). 1, the safe side, when unknown."""
        if self.free_share is None:
            return 1.0
        full = self.pre_queue()
        times = [t for t in self.pre_queue_s if t >= 1.0]
        skipping = sum(1 for t in times if t < 0.8 * full) / len(times) if len(times) >= MIN_SAMPLES else 1.0
        return self.free_share + (1.0 - self.free_share) * skipping

    def pre_queue(self) -> float:
        """How long a premium caller spends before joining the queue: the slow end (90th
        percentile) of recent pre-queue times longer than a second (free callers, who hear no
        price message, show about 0); the legal minimum plus a margin when none was seen."""
        times = sorted(t for t in self.pre_queue_s if t >= 1.0)
        if len(times) < MIN_SAMPLES:
            return DEFAULT_PRE_QUEUE_S
        return max(10.0, times[min(len(times) - 1, int(0.9 * len(times)))])


def predict(
    state: QueueState,
    recent_waits_ms: list[int],
    *,
    commitment_s: int,
    confidence: float,
    history: History | None = None,
    pre_queue_s: float | None = None,
    ring_s: float = DEFAULT_RING_S,
    wrapup_s: float = 0.0,
) -> Prediction:
    """Probability of a human within the commitment, and whether it reaches `confidence`.

    Without `history` (or with too little of it) only the recent waits speak: the original
    empirical rule. With it, the conditional Erlang A model decides; when the talk times are far
    from exponential the empirical share also caps it. `pre_queue_s` defaults to what the
    history shows for the price message; `wrapup_s` is the queue's wrap-up time, if any.
    """
    samples = len(recent_waits_ms)
    if history is None or not history.fits:
        return _empirical(state, recent_waits_ms, commitment_s=commitment_s, confidence=confidence)
    theta = history.abandon_rate()
    mean_talk = history.mean_talk_s()
    mu = 1.0 / (mean_talk + ring_s + wrapup_s)
    pre = history.pre_queue() if pre_queue_s is None else pre_queue_s
    lam = (history.arrival_rate or 0.0) * history.ahead_share()
    p = p_within(
        state,
        arrival_rate=lam,
        in_message=history.in_message,
        service_rate=mu,
        abandon_rate=theta,
        pre_queue_s=pre,
        budget_s=commitment_s - pre - ring_s,
    )
    method = "erlang_a" if theta > 0 else "erlang_c"
    low, high = TALK_CV_RANGE
    if samples >= MIN_SAMPLES and not low <= history.talk_cv() <= high:
        # Talk times far from exponential: the model's departure rates are off; let the
        # measured waits veto an optimistic answer.
        p = min(
            p, _empirical(state, recent_waits_ms, commitment_s=commitment_s, confidence=confidence).p_within
        )
        method += "+empirical"
    return Prediction(p, p >= confidence, method, samples)


def p_within(
    state: QueueState,
    *,
    arrival_rate: float,
    service_rate: float,
    abandon_rate: float,
    pre_queue_s: float,
    budget_s: float,
    in_message: int = 0,
) -> float:
    """P(an agent is free for the caller within `budget_s` of joining the queue `pre_queue_s`
    from now), for the M/M/n+M queue seen now as `state`. `n` is the logged-in members; busy
    ones are those not ready, and they hold a call each. `arrival_rate` counts only the callers
    who will join ahead of this one; `in_message` callers already hearing their price message
    count as in the queue (they join before this caller)."""
    if budget_s <= 0:
        return 0.0
    servers = max(state.logged, state.ready, 0)
    if servers <= 0:
        return 0.0
    start = max(0, servers - state.ready) + max(0, state.waiting) + max(0, in_message)
    lam, mu, theta = max(arrival_rate, 0.0), service_rate, max(abandon_rate, 0.0)

    def death(x: int) -> float:
        return min(x, servers) * mu + max(x - servers, 0) * theta

    spread_up = lam * pre_queue_s
    spread_down = death(start) * pre_queue_s
    hi = start + math.ceil(spread_up + 5.0 * math.sqrt(spread_up) + 1.0)
    if hi < servers:
        return 1.0  # an agent stays free whatever happens during the price message
    lo = max(0, start - math.ceil(spread_down + 5.0 * math.sqrt(spread_down) + 1.0))
    at_entry = _transient(start - lo, hi - lo, lambda i: death(lo + i), lam, pre_queue_s)
    ahead_max = hi - servers
    reach = erlang.reach_within(servers, mu, theta, ahead_max, budget_s)
    p = 0.0
    for i, mass in enumerate(at_entry):
        x = lo + i
        p += mass * (1.0 if x < servers else reach[x - servers])
    return min(1.0, max(0.0, p))


def _transient(start: int, top: int, death, lam: float, t: float) -> list[float]:
    """Distribution at time t of a birth-death chain on 0..top started at `start`.

    Uniformization. Births beyond `top` stay at `top` and deaths below 0 at 0: `top` is the
    worst state and 0 is never reached below `lo` in practice, so truncation errs on the safe
    side. Mass of the dropped Poisson tail is given to the worst state for the same reason.
    """
    deaths = [death(i) for i in range(top + 1)]
    rate = lam + max(deaths)
    if rate <= 0 or t <= 0:
        dist = [0.0] * (top + 1)
        dist[start] = 1.0
        return dist
    up = [lam / rate] * top + [0.0]
    down = [0.0] + [d / rate for d in deaths[1:]]
    stay = [1.0 - u - d for u, d in zip(up, down, strict=True)]
    up_from = [0.0, *up[:-1]]  # probability that state i-1 moves up into i
    down_from = [*down[1:], 0.0]  # probability that state i+1 moves down into i
    first, weights = erlang.poisson_weights(rate * t)
    vec = [0.0] * (top + 1)
    vec[start] = 1.0
    out = [0.0] * (top + 1)
    for k in range(first + len(weights)):
        if k >= first:
            w = weights[k - first]
            out = [o + w * v for o, v in zip(out, vec, strict=True)]
        # One uniformized step: stay, one birth from below, or one death from above.
        below = [0.0, *vec[:-1]]
        above = [*vec[1:], 0.0]
        vec = [
            v * s + b * u + a * d
            for v, s, b, u, a, d in zip(vec, stay, below, up_from, above, down_from, strict=True)
        ]
    out[top] += max(0.0, 1.0 - sum(out))
    return out


def _empirical(
    state: QueueState, recent_waits_ms: list[int], *, commitment_s: int, confidence: float
) -> Prediction:
    """The recent waits alone: the share of them within the commitment.

    With members ready and nobody ahead, the caller is offered to an agent at once and only ring
    time remains: recent waits measured in the same queue say how long that takes. With callers
    ahead, each of them needs an agent first, so the waits are stretched by the number ahead per
    ready agent.
    """
    budget_ms = commitment_s * 1000
    samples = len(recent_waits_ms)
    if samples < MIN_SAMPLES:
        # No evidence of a slow queue: trust the ready agent only when nobody is ahead.
        p = 1.0 if state.waiting < state.ready else 0.0
        return Prediction(p, p >= confidence, "no_history", samples)
    within = sum(1 for wait in recent_waits_ms if wait <= budget_ms)
    p = within / samples
    if state.waiting >= state.ready:
        # Callers ahead: the caller's wait adds to theirs, so be as strict as the slowest decile.
        p = min(p, _tail_share(recent_waits_ms, budget_ms, state))
    return Prediction(p, p >= confidence, "empirical", samples)


def _tail_share(waits: list[int], budget_ms: int, state: QueueState) -> float:
    """Share of recent waits that, stretched by the number of callers ahead per ready agent,
    still fit the budget."""
    ahead_per_agent = (state.waiting + 1) / max(state.ready, 1)
    fitting = sum(1 for wait in waits if wait * ahead_per_agent <= budget_ms)
    return fitting / len(waits)


def _text(item) -> str:
    if isinstance(item, str):
        return item
    return item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
