"""The per-call records of a window, as billing and audit read them: each call's whole bill.

`report` and `export` are built from the per-call hashes (`ph:call:{uid}`), not from the KPI
minutes: an auditor must be able to put a finger on each call. They find the calls the way the
hand-count recipe of docs/redis-schema.md does, by SCAN over `ph:call:*` (on every master of a
cluster: redis-py's scan_iter does that), then one pipeline of HGETALLs per batch; read only.
A day of a busy centre is a few thousand calls among the month of records the TTL keeps: the
scan is a batch job's cost (seconds to a minute), never a live path's.

Calls count in the window of their ARRIVAL, as the KPIs do; a call still in progress (no
`outcome` yet) is not billed yet and is counted apart. Fields the other parts of the plugin add
(`refund_due`, `wire_billable_s`, `wire_answered_ms`, outcome `lost`) are read when present
and taken as 0 / empty when absent.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

SCAN_COUNT = 1000

# The columns of `export`, in order: the call, the decision and its criteria, the timeline,
# the outcome and the whole bill. Epoch milliseconds (Asterisk's clock) as stored.
COLUMNS = (
    "uniqueid",
    "did",
    "queue",
    "decided_tariff",
    "decided_reason",
    "rate",
    "commitment_s",
    "site",
    "ivr",
    "ready",
    "waiting",
    "p_within",
    "arrived_at",
    "arrived_local",
    "queued_at",
    "human_at",
    "ended_at",
    "before_queue_ms",
    "in_queue_ms",
    "time_to_human_ms",
    "wait_ms",
    "outcome",
    "queue_status",
    "agent",
    "agent_name",
    "ring_ms",
    "talk_s",
    "tariff",
    "reason",
    "sla_breached",
    "billable_s",
    "amount",
    "wire_answered_ms",
    "wire_billable_s",
    "refund_due",
)


def cents(text: str | None) -> int:
    """`"1.20"` euros -> 120; empty or absent -> 0; a malformed amount raises ValueError."""
    if text is None or text == "":
        return 0
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    return int((value * 100).to_integral_value())


def as_int(text: str | None) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        return 0


def read(client, prefix: str, start_ms: int, end_ms: int) -> list[dict]:
    """Every call record whose `arrived_at` is in [start_ms, end_ms), oldest first."""
    found: list[dict] = []
    batch: list[str] = []

    def flush() -> None:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hgetall(key)
        for record in pipe.execute():
            arrived = as_int(record.get("arrived_at"))
            if record and start_ms <= arrived < end_ms:
                found.append(record)
        batch.clear()

    for key in client.scan_iter(match=f"{prefix}call:*", count=SCAN_COUNT):
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            flush()
    if batch:
        flush()
    found.sort(key=lambda r: (as_int(r.get("arrived_at")), r.get("uniqueid", "")))
    return found


def row(record: dict, tz: str) -> dict:
    """One call's export line: every column, empty when the record does not have it."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    out = {column: record.get(column, "") for column in COLUMNS}
    arrived = as_int(record.get("arrived_at"))
    out["arrived_local"] = (
        dt.datetime.fromtimestamp(arrived / 1000, ZoneInfo(tz)).isoformat(timespec="milliseconds")
        if arrived
        else ""
    )
    if not out["uniqueid"]:
        out["uniqueid"] = record.get("uniqueid", "")
    return out
