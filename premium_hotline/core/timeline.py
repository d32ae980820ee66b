"""A call's timeline and its billing consequence: pure arithmetic on millisecond timestamps.

By law (consumer code L.224-38) waiting is free: nothing is billable until a person takes the
call. So billable time starts at the human's answer, never at the channel's answer (which is
what CDR(billsec) counts: IVR, price message and queue included). A premium caller who reached
a person later than the committed time gets the call free: the promise was broken.

The wire tells a second story. The caller's operator charges the number's service price S from
the network's answer (the 200 OK the caller got), per second from the first second or per call,
whatever the PBX decided (Arcep 2012-0856): `wire_billable_s` runs from that answer to the
hang-up, and `refund_due` is what the operator charged beyond what the service is owed (all of
it for a call decided free or downgraded), which the service owes back to the caller.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .codes import (  # noqa: F401
    ABANDONED,
    ANSWERED,
    COMMITMENT_BROKEN,
    FREE,
    LOST,
    OUTCOMES,
    PREMIUM,
    SHORT_ABANDON,
    UNANSWERED,
)
from .numbers import parse_rate

# QUEUESTATUS values meaning the queue, not the caller, ended the wait.
_QUEUE_GAVE_UP = frozenset({"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"})


def _ms(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    return ms if ms > 0 else None


class _Fields:
    """A record whose every field is given by name: a missing one is a KeyError, not a None."""

    __slots__ = ()

    def __init__(self, **fields) -> None:
        for name in self.__slots__:
            setattr(self, name, fields[name])


class Answer(_Fields):
    """What agent_answered learns: the caller's wait, split, and whether the promise held."""

    __slots__ = (
        "before_queue_ms",
        "breached",
        "human_ms",
        "in_queue_ms",
        "reason",
        "tariff",
        "time_to_human_ms",
    )


def answered(
    *,
    arrived_ms: str | int | None,
    queued_ms: str | int | None,
    human_ms: int,
    tariff: str,
    reason: str,
    commitment_s: int,
) -> Answer:
    """The moment a person answered. Unknown marks fall back to the nearest known one."""
    arrived = _ms(arrived_ms)
    queued = _ms(queued_ms)
    start = arrived or queued or human_ms
    queued = queued or start
    time_to_human = max(0, human_ms - start)
    breached = late(tariff, time_to_human, commitment_s)
    return Answer(
        human_ms=human_ms,
        time_to_human_ms=time_to_human,
        before_queue_ms=max(0, queued - start),
        in_queue_ms=max(0, human_ms - queued),
        breached=breached,
        tariff=FREE if breached else tariff,
        reason=COMMITMENT_BROKEN if breached else reason,
    )


def late(tariff: str, wait_ms: int, commitment_s: int) -> bool:
    """A premium caller who waited past the commitment: the promise is broken, the call free."""
    return tariff == PREMIUM and commitment_s > 0 and wait_ms > commitment_s * 1000


def unbilled(*, tariff: str, reason: str, breached: bool, **fields) -> Ending:
    """An ending in which nobody talked (abandoned, unanswered, lost): nothing billed, and a
    premium caller who waited past the commitment downgraded all the same."""
    return Ending(
        talk_s=0,
        billable_s=0,
        amount=Decimal("0.00"),
        tariff=FREE if breached else tariff,
        reason=COMMITMENT_BROKEN if breached else reason,
        sla_breached=breached,
        **fields,
    )


class Ending(_Fields):
    """What call_ended settles: the outcome, the billable time and the amount, and the same
    seen from the wire (the network's answer, the seconds and the surcharge from it, the refund)."""

    __slots__ = (
        "amount",
        "before_queue_ms",
        "billable_s",
        "ended_ms",
        "in_queue_ms",
        "outcome",
        "reason",
        "refund_due",
        "sla_breached",
        "talk_s",
        "tariff",
        "time_to_human_ms",
        "wait_ms",
        "wire_answered_ms",
        "wire_billable_s",
        "within_sl",
    )


def billable_amount(rate_text: str, billable_s: int) -> Decimal:
    """Per minute: pro rata of the seconds, to the cent. Per call: the flat rate once answered."""
    if billable_s <= 0:
        return Decimal("0.00")
    try:
        rate = parse_rate(rate_text)
    except ValueError:
        rate = None
    if rate is None:
        return Decimal("0.00")
    if rate.unit == "call":
        return rate.amount
    return (rate.amount * billable_s / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def wire_billable_s(wire_answered_ms: int | None, ended_ms: int) -> int:
    """Seconds from the network's answer to the hang-up (rounded as Asterisk's billsec); 0 if the
    caller was never answered."""
    if wire_answered_ms is None:
        return 0
    return max(0, (ended_ms - wire_answered_ms + 500) // 1000)


def wire_charge(rate_text: str, wire_answered: bool, seconds: int) -> Decimal:
    """What the caller's operator charges as S: per minute, the rate per second from the first
    second; per call, the flat amount as soon as the network answered; nothing unanswered."""
    if not wire_answered or not rate_text:
        return Decimal("0.00")
    try:
        rate = parse_rate(rate_text)
    except ValueError:
        return Decimal("0.00")
    if rate is None:
        return Decimal("0.00")
    if rate.unit == "call":
        return rate.amount
    return (rate.amount * seconds / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def refund_due(surcharge: str, wire_answered_ms: int | None, wire_seconds: int, owed: Decimal) -> Decimal:
    """The surcharge charged on the wire beyond what the service is owed (never below zero): the
    whole charge for a call decided free or downgraded on a surcharged number, and for a premium
    call the time the wire billed before the person answered."""
    charged = wire_charge(surcharge, wire_answered_ms is not None, wire_seconds)
    return max(Decimal("0.00"), charged - owed)


def ended(
    *,
    arrived_ms: str | int | None,
    queued_ms: str | int | None,
    human_ms: str | int | None,
    ended_ms: int,
    decided_tariff: str,
    tariff: str,
    reason: str,
    rate: str,
    commitment_s: int,
    short_abandon_s: int,
    service_level_s: int,
    queue_status: str = "",
    wire_answered_ms: str | int | None = None,
    surcharge: str = "",
) -> Ending:
    """Close a call. `decided_tariff` is the tariff chosen at arrival; `tariff` the current one
    (free if agent_answered downgraded it). `wire_answered_ms` is when the network answered the
    caller (None: never); `surcharge` the number's service price S, whatever the decision."""
    wire = _ms(wire_answered_ms)
    wire_s = wire_billable_s(wire, ended_ms)
    arrived = _ms(arrived_ms)
    queued = _ms(queued_ms)
    human = _ms(human_ms)
    start = arrived or queued or human or ended_ms
    if human is not None:
        answer = answered(
            arrived_ms=start,
            queued_ms=queued,
            human_ms=human,
            tariff=decided_tariff,
            reason=reason,
            commitment_s=commitment_s,
        )
        # Asterisk rounds billsec to the nearest second; billing does the same from the human's answer.
        talk_s = max(0, (ended_ms - human + 500) // 1000)
        final_tariff = FREE if answer.breached or tariff != PREMIUM else PREMIUM
        billable_s = talk_s if final_tariff == PREMIUM else 0
        amount = billable_amount(rate, billable_s) if final_tariff == PREMIUM else Decimal("0.00")
        return Ending(
            outcome=ANSWERED,
            ended_ms=ended_ms,
            wait_ms=answer.time_to_human_ms,
            time_to_human_ms=answer.time_to_human_ms,
            before_queue_ms=answer.before_queue_ms,
            in_queue_ms=answer.in_queue_ms,
            talk_s=talk_s,
            billable_s=billable_s,
            amount=amount,
            tariff=final_tariff,
            reason=COMMITMENT_BROKEN if answer.breached else reason,
            sla_breached=answer.breached,
            within_sl=answer.time_to_human_ms <= service_level_s * 1000,
            wire_answered_ms=wire,
            wire_billable_s=wire_s,
            refund_due=refund_due(surcharge or rate, wire, wire_s, amount),
        )
    wait = max(0, ended_ms - start)
    if queue_status.upper() in _QUEUE_GAVE_UP:
        outcome = UNANSWERED
    elif wait < short_abandon_s * 1000:
        outcome = SHORT_ABANDON
    else:
        outcome = ABANDONED
    return unbilled(
        outcome=outcome,
        ended_ms=ended_ms,
        wait_ms=wait,
        time_to_human_ms=None,
        before_queue_ms=max(0, (queued - start)) if queued else None,
        in_queue_ms=max(0, ended_ms - queued) if queued else None,
        tariff=tariff,
        reason=reason,
        breached=late(decided_tariff, wait, commitment_s),
        within_sl=wait <= service_level_s * 1000,
        wire_answered_ms=wire,
        wire_billable_s=wire_s,
        refund_due=refund_due(surcharge or rate, wire, wire_s, Decimal("0.00")),
    )
