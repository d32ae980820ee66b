"""The expected wait until a person, announced to the caller (PH_EWT_S).

Asterisk announces QUEUEHOLDTIME, a moving average of past holds ((3 old + new) / 4): it lags
the queue by many calls and ignores how many callers are ahead of this one. For a caller who
finds n callers ahead with every agent busy, the best predictor in the M/M/s+M model is the
queue-length one with abandonment (Ibrahim & Whitt, "Real-time delay estimation in overloaded
multiserver queues with abandonments", Management Science 55(10), 2009): the line advances at
rate s mu + k theta while k callers are ahead, so the expected wait is

    sum over k = 0..n of 1 / (s mu + k theta).

The same live state (QUEUE_MEMBER, QUEUE_WAITING_COUNT) and history (talk times, patience)
as the promise predictor feed it; pure, `math` only.
"""

from __future__ import annotations

from .predict import DEFAULT_RING_S, History
from .tariff import QueueState


def queue_length_wait(ahead: int, servers: int, service_rate: float, abandon_rate: float) -> float:
    """Expected time until an agent is free for a caller with `ahead` callers before it, every
    one of `servers` agents busy: sum_{k=0..ahead} 1 / (s mu + k theta). Infinite with no
    capacity at all."""
    base = servers * service_rate
    if base <= 0:
        return float("inf")
    theta = max(abandon_rate, 0.0)
    return sum(1.0 / (base + k * theta) for k in range(max(ahead, 0) + 1))


def expected_wait(
    state: QueueState,
    history: History | None,
    *,
    ring_s: float = DEFAULT_RING_S,
    wrapup_s: float = 0.0,
    in_message: int | None = None,
) -> float:
    """Seconds from queue entry to a person answering, for a caller joining now.

    `state.logged` is the serving capacity (paused members already left out by the caller).
    Callers counted in QUEUE_WAITING_COUNT include those whose agent is already ringing: they
    hold an agent that is not ready, so about busy x ring / (ring + talk + wrap-up) of the
    waiting count are not ahead in the line. Premium callers hearing their price message join
    ahead (`in_message`, from the history by default). With no history the talk time is taken as
    4 minutes, a common call-centre value, and nobody abandons.
    """
    servers = max(state.logged, state.ready, 0)
    if servers <= 0:
        return float("inf")
    if history is not None and history.talk_s:
        talk = history.mean_talk_s()
        theta = history.abandon_rate()
        joining = history.in_message if in_message is None else in_message
    else:
        talk, theta, joining = 240.0, 0.0, in_message or 0
    hold = talk + ring_s + wrapup_s
    busy = max(0, servers - state.ready)
    ringing = round(busy * ring_s / hold) if hold > 0 else 0
    ahead = max(0, state.waiting - ringing) + max(0, joining)
    if ahead < state.ready:
        return ring_s  # an agent is free for this caller at once: only the ring remains
    n_ahead = ahead - state.ready  # callers still ahead once the ready agents took theirs
    return queue_length_wait(n_ahead, servers, 1.0 / hold, theta) + ring_s
