"""A call nobody closed, closed: what its record and its counters are (pure, no I/O).

When Asterisk dies under its calls (a crash, a SIGKILL, an upgrade restart) their hang-up
handlers never run, so `call_ended` never comes. The reaper (store/reaper.py) closes such a call
once `max_call_s` has passed since its arrival, with outcome `lost`, from what the plugin saw of
it in Redis: the decision (`arrived_at`, `decided_at`) and, if a person answered, the answer
(`human_at` and its split). Its wait and talk run up to the last of those marks, since nothing
later is known; it is billed nothing (no hang-up, no proof of the talk time), and it is counted,
once, as an offered call the system failed, never as a caller's abandon.
"""

from __future__ import annotations

from decimal import Decimal

from .tariff import FREE
from .timeline import LOST, Ending, late, unbilled


def _ms(fields: dict, name: str) -> int | None:
    try:
        value = int(fields.get(name) or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def lost_ending(fields: dict, *, commitment_s: int) -> Ending:
    """The Ending of a call from its hash `fields` (as Redis returns them, text values)."""
    arrived = _ms(fields, "arrived_at") or _ms(fields, "decided_at")
    human = _ms(fields, "human_at")
    marks = [ms for ms in (arrived, _ms(fields, "decided_at"), human) if ms is not None]
    last_seen = max(marks) if marks else 0
    start = arrived or last_seen
    decided = fields.get("decided_tariff") or FREE
    commitment_s = _ms(fields, "commitment_s") or commitment_s
    if human is not None:
        wait = max(0, human - start)
        breached = fields.get("sla_breached") == "1" or late(decided, wait, commitment_s)
        before = _ms(fields, "before_queue_ms")
        in_queue = _ms(fields, "in_queue_ms")
        time_to_human = wait
    else:
        wait = max(0, last_seen - start)
        breached = late(decided, wait, commitment_s)
        before = in_queue = time_to_human = None
    return unbilled(
        outcome=LOST,
        ended_ms=last_seen,
        wait_ms=wait,
        time_to_human_ms=time_to_human,
        before_queue_ms=before,
        in_queue_ms=in_queue,
        tariff=decided,
        reason=fields.get("decided_reason") or "undecided",
        breached=breached,
        within_sl=False,
        # What the wire billed is not known: the PBX died with the call, before any hang-up said
        # when the network's answer ended. Nothing is claimed (docs/kpis.md, lost calls).
        wire_answered_ms=None,
        wire_billable_s=0,
        refund_due=Decimal("0.00"),
    )


def lost_record(uniqueid: str, fields: dict, ending: Ending, *, reaped_ms: int) -> dict:
    """The fields the reaper writes into the call's hash (only if it has no outcome yet).

    `last_seen_at` and `reaped_at` stay if a late hang-up later corrects the outcome: the audit
    trail of a call that was closed as lost, then found.
    """
    return {
        "uniqueid": uniqueid,
        "queue": fields.get("queue") or None,
        "decided_tariff": fields.get("decided_tariff") or FREE,
        "tariff": ending.tariff,
        "reason": ending.reason,
        "arrived_at": _ms(fields, "arrived_at") or ending.ended_ms or None,
        "last_seen_at": ending.ended_ms or None,
        "reaped_at": reaped_ms,
        "time_to_human_ms": ending.time_to_human_ms,
        "wait_ms": ending.wait_ms,
        "outcome": LOST,
        "talk_s": 0,
        "billable_s": 0,
        "amount": "0.00",
        "sla_breached": ending.sla_breached,
    }
