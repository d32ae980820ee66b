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

# Talk time and patience for the announcement: everything the lists hold (their last 100
# calls), up to two hours. A quiet queue has few calls in the predictor's 15 minutes, and a
# noisy patience rate costs the announcement more than a stale one.
HISTORY_WINDOW_MS = 2 * 3600 * 1000
# The callers ahead of a waiting caller have waited a while already; measured patience is not
# exponential (its hazard rises over the first minutes), so their abandon rate is the one of
# callers who already waited this long: abandons after it over the time waited beyond it.
PATIENCE_AFTER_S = 20.0
MIN_ABANDONS = 3
# A caller who must wait hears the queue-length estimate blended with the wait of the last
# caller who reached a person (LES): the model's error and the last wait's are far from the same,
# and a combination of two forecasts with unlike errors is closer than either (Bates & Granger
# 1969). Weight from the simulator (20 seeds x 4 scenarios, docs/promise.md): 0.8 halved the
# calm days' misses of the 25 % goal and lowered the mean RMSE ratio in every scenario.
QUEUE_LENGTH_WEIGHT = 0.8


def patience_rate_after(ended, now_ms: int, after_s: float = PATIENCE_AFTER_S) -> float | None:
    """Abandon rate of callers who already waited `after_s`, from the ended-calls list
    ("ended_ms:outcome:in_queue_ms:talk_s", newest first); None with too few abandons."""
    since = now_ms - HISTORY_WINDOW_MS
    after_ms = after_s * 1000
    abandons = 0
    exposure_s = 0.0
    for item in ended or ():
        text = item.decode("ascii", "replace") if isinstance(item, bytes) else str(item)
        parts = text.split(":", 3)
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        try:
            if int(parts[0]) < since:
                continue
        except ValueError:
            continue
        waited = int(parts[2])
        if waited > after_ms:
            exposure_s += (waited - after_ms) / 1000
            abandons += parts[1] == "abandoned"
    return abandons / exposure_s if abandons >= MIN_ABANDONS and exposure_s > 0 else None


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
    pre_queue_s: float = 0.0,
    in_wrapup: int = 0,
    abandon_rate: float | None = None,
) -> float:
    """Seconds from queue entry to a person answering, for a caller who joins the queue
    `pre_queue_s` from now (a premium caller hears the price message first; 0 for the others).

    `state.logged` is the serving capacity (paused members already left out by the caller).
    Callers counted in QUEUE_WAITING_COUNT include those whose agent is already ringing: they
    hold an agent that is not ready, so about busy x ring / (ring + talk + wrap-up) of the
    waiting count are not ahead in the line. Premium callers hearing their price message join
    ahead of a caller who hears one too (`in_message`, from the history by default); a caller
    who hears none joins before them (counting them raised the plugin / Asterisk RMSE ratio by
    up to 0.01 in the surge, 0.1 on calm days, seeds 1 to 10). While this caller hears its own message
    the line moves on (s mu + k theta per second) and callers who hear none join ahead of it:
    the number ahead at entry is taken at its mean (fluid approximation). Members in wrap-up
    (QUEUE_MEMBER(q,free) minus ready: free of calls, not yet ready) are busy agents whose
    call is over: they take the first callers ahead within the wrap-up time, not after a whole
    talk. With no history the
    talk time is taken as 4 minutes, a common call-centre value, and nobody abandons.
    """
    servers = max(state.logged, state.ready, 0)
    if servers <= 0:
        return float("inf")
    if history is not None and history.talk_s:
        talk = history.mean_talk_s()
        theta = history.abandon_rate() if abandon_rate is None else abandon_rate
        joining = history.in_message if in_message is None else in_message
        if pre_queue_s <= 0:
            # A caller who hears no message joins now, before everyone still hearing theirs.
            joining = 0
        arriving = (history.arrival_rate or 0.0) * history.ahead_share()
    else:
        talk, theta, joining, arriving = 240.0, 0.0, in_message or 0, 0.0
    hold = talk + ring_s + wrapup_s
    busy = max(0, servers - state.ready)
    ringing = round(busy * ring_s / hold) if hold > 0 else 0
    ahead = max(0, state.waiting - ringing) + max(0, joining)
    # Callers still ahead once the ready agents took theirs (negative: agents left free).
    n_ahead = float(ahead - state.ready)
    if pre_queue_s > 0:
        advance = (servers / hold + max(n_ahead, 0.0) * theta) if n_ahead >= 0 else 0.0
        n_ahead += (arriving - advance) * pre_queue_s
    if n_ahead < 0:
        return ring_s  # an agent is free for this caller at once: only the ring remains
    soon = min(max(in_wrapup, 0), busy)
    if n_ahead < soon:
        # A member finishing wrap-up takes this caller: about half a wrap-up away, on average.
        return wrapup_s / 2 + ring_s
    # The fluid number ahead is fractional: interpolate between the whole numbers around it.
    low = int(n_ahead)
    below = queue_length_wait(low - soon, servers, 1.0 / hold, theta)
    above = queue_length_wait(low + 1 - soon, servers, 1.0 / hold, theta)
    wait = below + (above - below) * (n_ahead - low) + ring_s
    last = history.last_wait_s if history is not None else None
    if last is None:
        return wait
    return QUEUE_LENGTH_WEIGHT * wait + (1.0 - QUEUE_LENGTH_WEIGHT) * last
