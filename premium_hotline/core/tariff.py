"""The tariff decision at call arrival: premium only when every rule says the service earns it.

Pure: the route gathers the facts (config entry, local time, queue state, recent waits) and this
module turns them into a Decision. Rules run in a fixed order and the first that says "free"
gives its reason code, so the dialplan, the CDR and the ops view all see one short, stable code.

Reason codes (PH_REASON) and which of them are failures: core/codes.py.
"""

from __future__ import annotations

from .codes import FREE, NOT_SURCHARGEABLE, PREMIUM
from .numbers import FREE_RANGE, SURCHARGED_RANGE, Rate, number_range, surcharge_problem


class QueueState:
    """Live queue figures as Asterisk reports them (QUEUE_MEMBER, QUEUE_WAITING_COUNT)."""

    __slots__ = ("logged", "ready", "waiting")

    def __init__(self, ready: int, logged: int, waiting: int) -> None:
        self.ready = ready
        self.logged = logged
        self.waiting = waiting

    def __repr__(self) -> str:
        return f"QueueState(ready={self.ready}, logged={self.logged}, waiting={self.waiting})"


class Decision:
    __slots__ = ("announce", "commitment_s", "predicted", "queue", "rate", "reason", "tariff")

    def __init__(
        self,
        tariff: str,
        reason: str,
        *,
        queue: str = "",
        rate: Rate | None = None,
        announce: str = "",
        commitment_s: int = 0,
        predicted: object = None,
    ) -> None:
        self.tariff = tariff
        self.reason = reason
        self.rate = rate if tariff == PREMIUM else None
        self.queue = queue
        self.announce = announce if tariff == PREMIUM else ""
        self.commitment_s = commitment_s
        self.predicted = predicted

    @property
    def rate_text(self) -> str:
        return str(self.rate) if self.rate else ""

    def __repr__(self) -> str:
        return f"Decision({self.tariff}, {self.reason}, rate={self.rate_text!r}, queue={self.queue!r})"


class StaticVerdict:
    """What the rules that need no live data say: a final Decision, or 'go on to the live checks'."""

    __slots__ = ("decision", "needs_live")

    def __init__(self, decision: Decision | None) -> None:
        self.decision = decision
        self.needs_live = decision is None


def static_rules(
    number: str,
    entry,
    *,
    weekday: int,
    minute_of_day: int,
    local_date,
    holidays: dict,
    closed_dates: frozenset,
    ivr_seen: bool,
    default_queue: str,
    fail_tariff: str,
    commitment_s: int,
    france: frozenset,
) -> StaticVerdict:
    """Rules decided from the config and the clock alone, before any I/O to Asterisk or Redis.

    `entry` is the config's NumberEntry (or None); `holidays` maps dates to names for the entry's
    calendar; the weekday, minute of day and date are local to the entry's time zone.
    """
    if entry is None:
        return StaticVerdict(Decision(FREE, "unknown_number", queue=default_queue))
    queue = entry.queue or default_queue

    def free(reason: str) -> StaticVerdict:
        return StaticVerdict(Decision(FREE, reason, queue=queue, commitment_s=commitment_s))

    if entry.surcharge_bar and entry.rate is not None:
        # Before the broken-section rule: a refused config must not surcharge what the law forbids.
        return free(NOT_SURCHARGEABLE)
    if entry.broken:
        return StaticVerdict(
            Decision(
                FREE if entry.needs_proof else fail_tariff,
                "config_error",
                queue=queue,
                rate=entry.rate,
                announce=entry.announce,
                commitment_s=commitment_s,
            )
        )
    if number_range(number) == FREE_RANGE:
        return free("free_range")
    if entry.rate is None or number_range(number) != SURCHARGED_RANGE:
        return free("free_rate")
    if surcharge_problem(number, entry.rate):
        # A pattern matched a number whose range caps the rate lower: never overcharge.
        return free("free_rate")
    if entry.ivr or ivr_seen:
        return free("ivr")
    if entry.site not in france:
        return free("site_abroad")
    if local_date in holidays or local_date in closed_dates:
        return free("holiday")
    if not entry.hours.is_open(weekday, minute_of_day):
        return free("closed")
    return StaticVerdict(None)


def live_rules(
    entry,
    *,
    queue_state: QueueState | None,
    prediction,
    store_ok: bool,
    fail_tariff: str,
    commitment_s: int,
    default_queue: str = "",
) -> Decision:
    """Rules on the queue's live state and the predicted wait; called only after static_rules passed.

    `prediction` is a core.predict.Prediction (or None when it could not be made).
    """
    queue = entry.queue or default_queue
    if entry.needs_proof:  # premium only on evidence: a failure to check is never premium
        fail_tariff = FREE
    common = {"queue": queue, "rate": entry.rate, "announce": entry.announce, "commitment_s": commitment_s}
    if queue_state is None:
        return Decision(fail_tariff, "agi_error", **common)
    if queue_state.ready <= 0:
        return Decision(FREE, "no_agent_ready", **common)
    if not store_ok or prediction is None:
        return Decision(fail_tariff, "store_unavailable", **common)
    if not prediction.keeps_promise:
        return Decision(FREE, "predicted_wait", predicted=prediction, **common)
    return Decision(PREMIUM, "premium", predicted=prediction, **common)
