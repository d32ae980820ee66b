"""The event stream (`ph:events`) as lines a person reads while it scrolls, or as JSON.

Each route adds one entry: `decided` at arrival, `human` when a person answers, `ended` at
hang-up, with the call's public fields (never the caller's number or its hash); the reaper adds
`lost` for a call no hang-up closed (store/reaper.py). The time shown
is the call's own moment from Asterisk's clock (`decided_at`, `human_at`, `ended_at`), which is
what the operator cares about; the stream id (Redis's clock when the write landed, later if the
write waited in the spool) is what `tail --from` resumes from.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

_MOMENT = {"decided": "decided_at", "human": "human_at", "ended": "ended_at", "lost": "reaped_at"}


def _int(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _s(ms_text) -> str:
    ms = _int(ms_text)
    return "-" if ms is None else f"{ms / 1000:.1f}s"


def event_ms(entry_id: str, fields: dict) -> int:
    """The call's moment for this event, else the stream id's time."""
    moment = _int(fields.get(_MOMENT.get(fields.get("type", ""), "")))
    return moment if moment is not None else int(entry_id.split("-", 1)[0])


def format_line(entry_id: str, fields: dict, tz: str, *, with_id: bool = False) -> str:
    """One readable line per event; unknown event types still show all their fields."""
    when = dt.datetime.fromtimestamp(event_ms(entry_id, fields) / 1000, ZoneInfo(tz))
    kind = fields.get("type", "?")
    uid = fields.get("uniqueid", "?")
    head = f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d}  {kind:<7}  {uid}"
    if with_id:
        head = f"{entry_id}  {head}"
    if kind == "decided":
        rate = f" {fields['rate']}" if fields.get("rate") else ""
        detail = (
            f"queue={fields.get('queue') or '-'}  did={fields.get('did') or '-'}  "
            f"{fields.get('decided_tariff', '?')}{rate} ({fields.get('decided_reason', '?')})"
        )
        if fields.get("p_within"):
            detail += f"  p_within={fields['p_within']}"
    elif kind == "human":
        detail = (
            f"time_to_human={_s(fields.get('time_to_human_ms'))} "
            f"(before queue {_s(fields.get('before_queue_ms'))}, in queue {_s(fields.get('in_queue_ms'))})"
            f"  agent={fields.get('agent') or '-'}"
        )
        detail += _bill_notes(fields)
    elif kind == "lost":
        detail = (
            f"queue={fields.get('queue') or '-'}  lost  {fields.get('decided_tariff', '?')}  "
            f"no hang-up by max_call_s; last seen waited={_s(fields.get('wait_ms'))}  billable=0s"
        )
    elif kind == "ended":
        tariff = fields.get("tariff", "?")
        decided = fields.get("decided_tariff", tariff)
        shown = tariff if decided == tariff else f"{decided}→{tariff}"
        detail = (
            f"queue={fields.get('queue') or '-'}  {fields.get('outcome', '?')}  "
            f"{shown} ({fields.get('reason', '?')})"
        )
        if fields.get("outcome") == "answered":
            detail += (
                f"  time_to_human={_s(fields.get('time_to_human_ms'))}  talk={fields.get('talk_s', '0')}s"
                f"  billable={fields.get('billable_s', '0')}s  amount={fields.get('amount', '0.00')}"
            )
        else:
            detail += f"  waited={_s(fields.get('wait_ms'))}"
        detail += _bill_notes(fields)
    else:
        detail = "  ".join(f"{k}={v}" for k, v in fields.items() if k not in ("type", "uniqueid"))
    return f"{head}  {detail}"


def as_json(entry_id: str, fields: dict) -> dict:
    """The entry as one JSON object: the stream id plus the fields as written (strings)."""
    return {"id": entry_id, **fields}


def _bill_notes(fields: dict) -> str:
    """What a `human` or `ended` line adds when there is something to say about the bill."""
    notes = ""
    if fields.get("wire_answered_ms"):
        notes += f"  wire={fields.get('wire_billable_s', '0')}s"
    if fields.get("refund_due") not in (None, "", "0.00"):
        notes += f"  refund_due={fields['refund_due']}"
    if fields.get("sla_breached") == "1":
        notes += "  COMMITMENT BROKEN"
    return notes
