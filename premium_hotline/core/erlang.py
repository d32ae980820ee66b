"""Erlang C and Erlang A: the queueing models call centres staff and promise with.

Pure arithmetic (``math`` only), cheap enough to run inside the plain AGI script on every call.

Erlang C is the M/M/n queue: Poisson arrivals, exponential handling times, ``n`` agents, callers
who wait for ever. Erlang A (Palm's M/M/n+M) adds callers who give up after an exponential
patience; with abandonment the queue stays stable when overloaded, which is exactly when a
promise is at risk, so the predictor uses it whenever the history shows abandons.

Two kinds of results live here:

* stationary figures (probability of waiting, service level, ASA, abandonment), what workforce
  tools print and what the tests check against maintained references and published examples;
* ``reach_within``: the probability that a caller with ``m`` callers ahead reaches an agent within
  ``t`` seconds while every agent is busy, the conditional ("state-dependent") wait that the live
  predictor needs. Averaging it over the stationary queue length gives the stationary service
  level back, which the tests verify.

Times are in seconds and rates per second throughout; ``load`` is offered traffic in Erlangs
(arrival rate x mean handling time).
"""

from __future__ import annotations

import math

# Poisson tails and truncated sums below this are dropped: far below any promise_confidence.
EPS = 1e-10


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/n/n: the stable recursion B(k) = A B(k-1) / (k + A B(k-1))."""
    if servers < 0 or load < 0:
        raise ValueError("servers and load must be non-negative")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arriving caller waits at all (Erlang C). 1 when the queue is unstable."""
    if servers <= 0 or load >= servers:
        return 1.0
    if load <= 0:
        return 0.0
    b = erlang_b(servers, load)
    return servers * b / (servers - load * (1.0 - b))


def service_level(servers: int, load: float, target_s: float, aht_s: float) -> float:
    """Share of callers answered within ``target_s`` under Erlang C: 1 - C e^{-(n-A) t / AHT}."""
    if servers <= 0 or load >= servers:
        return 0.0
    return max(0.0, 1.0 - erlang_c(servers, load) * math.exp(-(servers - load) * target_s / aht_s))


def average_speed_of_answer(servers: int, load: float, aht_s: float) -> float:
    """Mean wait of all callers under Erlang C (ASA): C AHT / (n - A); infinite when unstable."""
    if servers <= 0 or load >= servers:
        return math.inf
    return erlang_c(servers, load) * aht_s / (servers - load)


def agents_for(load: float, aht_s: float, target_s: float, level: float) -> int:
    """Fewest agents whose Erlang C service level reaches ``level`` (e.g. 80 % within 20 s)."""
    if not 0.0 <= level < 1.0:
        raise ValueError("level must be in [0, 1)")
    servers = max(1, math.floor(load) + 1)
    while service_level(servers, load, target_s, aht_s) < level:
        servers += 1
    return servers


# ---- Poisson weights for uniformization ---------------------------------------------------------


def poisson_weights(mean: float) -> tuple[int, list[float]]:
    """Poisson(mean) probabilities holding all but ``EPS`` of the mass: (first index, weights).

    Starts from the mode in log space, so a large mean neither underflows ``exp(-mean)`` nor
    costs a sum from zero.
    """
    if mean <= 0.0:
        return 0, [1.0]
    mode = int(mean)
    log_mode = -mean + mode * math.log(mean) - math.lgamma(mode + 1)
    weights = [math.exp(log_mode)]
    w, k = weights[0], mode
    while w > EPS and k < mode + 10_000:
        k += 1
        w *= mean / k
        weights.append(w)
    left: list[float] = []
    w, k = weights[0], mode
    while w > EPS and k > 0:
        w *= k / mean
        k -= 1
        left.append(w)
    left.reverse()
    return mode - len(left), left + weights


# ---- the conditional wait: all agents busy, m callers ahead ---------------------------------------


def reach_within(
    servers: int, service_rate: float, abandon_rate: float, ahead_max: int, t: float
) -> list[float]:
    """P(reach an agent within ``t``) for a caller with m = 0..ahead_max callers ahead, all busy.

    The caller needs m+1 "advances" of the line. With j callers ahead the line advances at rate
    n mu (an agent frees up) + j theta (someone ahead gives up): a sum of exponentials with those
    rates (Erlang(m+1, n mu) when theta = 0, the M/M/n case). Computed by uniformization, which
    is stable for any m, unlike the closed form of a hypoexponential with close rates. The
    caller's own patience is left out on purpose: what the promise needs is an agent in time.
    """
    if t <= 0.0 or servers <= 0 or service_rate <= 0.0:
        return [0.0] * (ahead_max + 1)
    base = servers * service_rate
    top = base + ahead_max * abandon_rate
    advance = [(base + j * abandon_rate) / top for j in range(ahead_max + 1)]
    stay = [1.0 - a for a in advance]
    first, weights = poisson_weights(top * t)
    reached = [0.0] * (ahead_max + 1)  # u_k(j): reached within k uniformized steps
    result = [0.0] * (ahead_max + 1)
    for k in range(first + len(weights)):
        if k >= first:
            w = weights[k - first]
            result = [r + w * u for r, u in zip(result, reached, strict=True)]
        # One uniformized step: from j ahead, advance to j-1 (j = 0: to an agent) or stay.
        reached = [
            a * before + s * here
            for a, s, before, here in zip(advance, stay, [1.0, *reached[:-1]], reached, strict=True)
        ]
    # Mass beyond the truncated Poisson tail counts as "not reached": never optimistic.
    return [min(1.0, max(0.0, p)) for p in result]


# ---- Erlang A (M/M/n+M), stationary -------------------------------------------------------------


class ErlangA:
    """Stationary figures of M/M/n+M, from its birth-death distribution truncated at ``EPS``.

    ``wait_prob``: P(an arriving caller finds every agent busy); ``abandon_prob``: P(caller gives
    up); ``within(t)``: P(an agent is free for the caller within ``t``, patience aside), the
    service level of the "virtual" wait. With ``abandon_rate`` 0 and load < n this is Erlang C.
    """

    __slots__ = ("abandon_rate", "arrival_rate", "queue_probs", "servers", "service_rate", "wait_prob")

    def __init__(self, servers: int, arrival_rate: float, service_rate: float, abandon_rate: float) -> None:
        if servers <= 0 or arrival_rate < 0 or service_rate <= 0 or abandon_rate < 0:
            raise ValueError("need servers > 0, service_rate > 0, rates >= 0")
        if abandon_rate == 0 and arrival_rate >= servers * service_rate:
            raise ValueError("Erlang C (no abandonment) has no steady state at load >= servers")
        self.servers = servers
        self.arrival_rate = arrival_rate
        self.service_rate = service_rate
        self.abandon_rate = abandon_rate
        if arrival_rate == 0:
            self.queue_probs = [0.0]
            self.wait_prob = 0.0
            return
        load = arrival_rate / service_rate
        # P(x agents busy, nobody waiting) relative to P(all busy, nobody waiting): Erlang B's terms.
        below = 0.0
        term = 1.0
        for x in range(servers, 0, -1):
            term *= x / load
            below += term
        queue = [1.0]
        ratio = 1.0
        j = 0
        while True:
            j += 1
            ratio *= arrival_rate / (servers * service_rate + j * abandon_rate)
            queue.append(ratio)
            if ratio < EPS * (1.0 + below) or j > 100_000:
                break
        total = below + sum(queue)
        self.queue_probs = [q / total for q in queue]  # P(all busy, j waiting), j = 0, 1, ...
        self.wait_prob = sum(self.queue_probs)

    @property
    def abandon_prob(self) -> float:
        """An arrival with j ahead is served with probability n mu / (n mu + (j+1) theta)."""
        n_mu = self.servers * self.service_rate
        theta = self.abandon_rate
        return sum(p * (j + 1) * theta / (n_mu + (j + 1) * theta) for j, p in enumerate(self.queue_probs))

    def within(self, t: float) -> float:
        """Service level of the virtual wait: P(an agent would be free within t)."""
        probs = self.queue_probs
        reach = reach_within(self.servers, self.service_rate, self.abandon_rate, len(probs) - 1, t)
        return (1.0 - self.wait_prob) + sum(p * r for p, r in zip(probs, reach, strict=True))
