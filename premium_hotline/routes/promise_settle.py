"""The daily promise count's settlement, shared by agent_answered and call_ended.

decide_tariff leaves `PH_PROMISE=<YYYYMMDD>:<p>` on an eligible call's channel (its number's day
and its predicted probability, empty when none was made). Whichever of the two routes learns the
outcome first counts it (a guard set, `Keys.promised`, makes the other and any replay no-ops).
"""

from __future__ import annotations

from ..core import promise
from ..core.numbers import national
from ..store import records
from ..store.keys import Keys


def settle(
    call,
    marks: dict[str, str],
    *,
    queue: str,
    arrived_ms: int,
    outcome: str,
    time_to_human_ms: int | None,
    commitment_s: int,
) -> list[list]:
    """The commands that settle this call's promise, or [] when there is nothing to settle.
    `marks` holds routes/call.py's CALL_MARKS, as the route read them."""
    did = marks["did"]
    premium = (marks["decided"] or marks["tariff"]) == "premium"
    day, _, p_text = marks["promise"].strip().partition(":")
    if not (queue and did and len(day) == 8 and day.isdigit()):
        return []
    try:
        p = float(p_text) if p_text else None
    except ValueError:
        p = None
    if p is not None and not 0.0 <= p <= 1.0:
        p = None
    keeps = promise.would_keep(outcome, time_to_human_ms, commitment_s, premium)
    fields = promise.DayCount.settled_fields(p, premium, keeps)
    keys = Keys(call.general.key_prefix)
    key = keys.promise(queue, national(did), day)
    return records.promise_settled(key, keys.promised(queue, arrived_ms), call.uniqueid, fields)
