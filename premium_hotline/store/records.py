"""What each route writes to Redis, as plain command lists (pure: no connection here).

A route's writes go out as one pipeline, one round trip. Each batch is also what the spool keeps
when Redis is down, so it must be safe to replay: hashes and sorted sets are overwritten, the
KPI counters are guarded by a per-call "counted" set inside one Lua script, and the few commands
that only make sense live (the predictor's recent-waits list) are marked and skipped on replay.
"""

from __future__ import annotations

from ..core import histogram
from .keys import Keys

DAY_S = 86_400
RECENT_KEEP = 200  # waits kept per queue for the predictor
RECENT_TTL_S = 3600


# Counts one ended call into its arrival minute, once: SADD on the per-hour "counted" set is the
# guard, so replaying a spooled batch (or a retried pipeline) never counts a call twice.
# ARGV: uniqueid, KPI TTL, guard TTL, then field/increment pairs.
COUNT_CALL_LUA = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# The guard only has to outlive the longest a spool may wait for its replay, not the KPIs.
COUNTED_TTL_S = 7 * DAY_S

LIVE_ONLY = "live-only"  # marker: first element of a command that a replay must skip


def _flat(fields: dict) -> list[str]:
    flat: list[str] = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        flat.extend((key, str(value)))
    return flat


def _call_and_event(
    keys: Keys, kind: str, uniqueid: str, record: dict, ttl_s: int, maxlen: int
) -> list[list]:
    """What every route writes first: its fields of the call's hash (TTL renewed) and an event."""
    call_key = keys.call(uniqueid)
    event = {"type": kind, "uniqueid": uniqueid, **_public(record)}
    return [
        ["HSET", call_key, *_flat(record)],
        ["EXPIRE", call_key, str(ttl_s)],
        ["XADD", keys.events(), "MAXLEN", "~", str(maxlen), "*", *_flat(event)],
    ]


def _capped_list(key: str, item: str) -> list[list]:
    """A live-only push onto one of the predictor's lists, kept short and expiring."""
    return [
        [LIVE_ONLY, "LPUSH", key, item],
        [LIVE_ONLY, "LTRIM", key, "0", str(RECENT_KEEP - 1)],
        [LIVE_ONLY, "EXPIRE", key, str(RECENT_TTL_S)],
    ]


def decided(
    keys: Keys, *, uniqueid: str, record: dict, queue: str, arrived_ms: int, ttl_s: int, events_maxlen: int
) -> list[list]:
    """At arrival: the call's hash, a `decided` event, and the call in the queue's waiting set."""
    batch = _call_and_event(keys, "decided", uniqueid, record, ttl_s, events_maxlen)
    if queue:
        waiting = keys.waiting(queue)
        batch += [
            # Entries older than a day are calls whose hang-up was never recorded: drop them.
            ["ZREMRANGEBYSCORE", waiting, "-inf", str(arrived_ms - DAY_S * 1000)],
            # Live only: a replayed arrival is long over and must not show as waiting now.
            [LIVE_ONLY, "ZADD", waiting, str(arrived_ms), uniqueid],
            [LIVE_ONLY, "EXPIRE", waiting, str(DAY_S)],
            ["SADD", keys.queues(), queue],
        ]
        # Live only, for the predictor's arrival rate: a replayed arrival is not a recent one.
        tariff = str(record.get("decided_tariff") or "f")[:1]
        batch += _capped_list(keys.arrivals(queue), f"{arrived_ms}:{tariff}")
    return batch


def human_reached(
    keys: Keys,
    *,
    uniqueid: str,
    record: dict,
    queue: str,
    human_ms: int,
    time_to_human_ms: int,
    in_queue_ms: int,
    ttl_s: int,
    events_maxlen: int,
) -> list[list]:
    """When an agent answers: the timeline, an event, and the wait for the predictor."""
    batch = _call_and_event(keys, "human", uniqueid, record, ttl_s, events_maxlen)
    if queue:
        batch.append(["ZREM", keys.waiting(queue), uniqueid])
        batch += _capped_list(keys.recent(queue), f"{human_ms}:{time_to_human_ms}:{in_queue_ms}")
    return batch


def kpi_fields(ending, decided_tariff: str) -> dict[str, int]:
    """The counters one ended call adds to its arrival minute, per decided tariff.

    Short abandons are counted apart and not as offered (the caller hung up before the service
    had a fair chance, usually a misdial).
    """
    t = decided_tariff if decided_tariff in ("premium", "free") else "free"
    fields: dict[str, int] = {f"{ending.outcome}:{t}": 1}
    if ending.outcome != "short_abandon":
        fields[f"offered:{t}"] = 1
    if ending.outcome == "answered":
        tth = ending.time_to_human_ms
        fields[f"tth_sum_ms:{t}"] = tth
        fields[f"tth_h:{t}:{histogram.bucket(tth)}"] = 1
        fields[f"bq_sum_ms:{t}"] = ending.before_queue_ms or 0
        fields[f"inq_sum_ms:{t}"] = ending.in_queue_ms or 0
        fields[f"talk_s:{t}"] = ending.talk_s
        fields[f"billable_s:{t}"] = ending.billable_s
        fields[f"amount_cents:{t}"] = int(ending.amount * 100)
        if ending.within_sl:
            fields[f"sl_answered:{t}"] = 1
    elif ending.outcome in ("abandoned", "unanswered"):
        fields[f"wait_sum_ms:{t}"] = ending.wait_ms
        if ending.within_sl:
            # Apart: SL2 counts callers who gave up within T, not calls the queue turned away.
            fields[f"sl_{ending.outcome}:{t}"] = 1
    # The wire's bill, whatever the outcome: a caller answered at early_media_max_s who then
    # left was billed by the operator too. Zero counters are not written.
    wire_s = getattr(ending, "wire_billable_s", 0)
    refund_cents = int(getattr(ending, "refund_due", 0) * 100)
    if wire_s:
        fields[f"wire_billable_s:{t}"] = wire_s
    if refund_cents:
        fields[f"refund_cents:{t}"] = refund_cents
    if ending.sla_breached:
        fields[f"breached:{t}"] = 1
    if decided_tariff == "premium" and ending.tariff != "premium":
        fields[f"downgraded:{t}"] = 1
    return fields


def call_closed(
    keys: Keys,
    *,
    uniqueid: str,
    record: dict,
    queue: str,
    arrived_ms: int,
    kpis: dict[str, int],
    ttl_s: int,
    events_maxlen: int,
) -> list[list]:
    """At hang-up: the final record, an event, and the KPI counters of the arrival minute."""
    batch = _call_and_event(keys, "ended", uniqueid, record, ttl_s, events_maxlen)
    if queue:
        batch += [
            ["ZREM", keys.waiting(queue), uniqueid],
            ["SADD", keys.queues(), queue],
            [
                "EVAL",
                COUNT_CALL_LUA,
                "2",
                keys.kpi_minute(queue, arrived_ms),
                keys.counted(queue, arrived_ms),
                uniqueid,
                str(ttl_s),
                str(min(ttl_s, COUNTED_TTL_S)),
                *_flat(kpis),
            ],
        ]
        # Live only, for the predictor's talk time and patience: outcome, queue time, talk time.
        in_queue = record.get("in_queue_ms")
        item = f"{record.get('ended_at', '')}:{record.get('outcome', '')}:"
        item += f"{'' if in_queue is None else in_queue}:{record.get('talk_s') or 0}"
        batch += _capped_list(keys.ended(queue), item)
    return batch


_PRIVATE = ("caller",)


def _public(record: dict) -> dict:
    """Event fields: the record minus what only the call hash may hold (the caller's hash)."""
    return {k: v for k, v in record.items() if k not in _PRIVATE}


def live_commands(batch: list[list]) -> list[list]:
    """The batch as sent live: markers removed."""
    return [command[1:] if command and command[0] == LIVE_ONLY else command for command in batch]


def replay_commands(batch: list[list]) -> list[list]:
    """The batch as replayed from the spool: live-only commands dropped."""
    return [command for command in batch if not (command and command[0] == LIVE_ONLY)]
