"""Will this caller reach a person within the committed time?

The decision charges premium only when the answer is "yes" with at least `promise_confidence`.
Inputs are the queue's live state from Asterisk and the recent waits the plugin recorded in
Redis: time to a human, as callers lived it (price message included), for calls of this queue
answered in the last minutes.
"""

from __future__ import annotations

from .tariff import QueueState

MIN_SAMPLES = 5  # fewer recent calls than this say nothing about the queue


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


def predict(
    state: QueueState,
    recent_waits_ms: list[int],
    *,
    commitment_s: int,
    confidence: float,
) -> Prediction:
    """Probability of a human within the commitment, from the recent waits of this queue.

    With members ready and nobody ahead, the caller is offered to an agent at once and only ring
    time remains: recent waits measured in the same queue say how long that takes. With callers
    ahead, each of them needs an agent first, so only the recent waits of calls that queued behind
    others are relevant; lacking those, the empirical spread of all recent waits is used.
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
