"""What each route writes to Redis, as plain command lists (pure: no connection here).

A route's writes go out as one pipeline, one round trip. Each batch is also what the spool keeps
when Redis is down, so it must be safe to replay: hashes and sorted sets are overwritten, the
KPI counters are guarded by a per-call "counted" set inside one Lua script, and the few commands
that only make sense live (the predictor's recent-waits list) are marked and skipped on replay.
"""

from __future__ import annotations

from .keys import Keys

DAY_S = 86_400
RECENT_KEEP = 200  # waits kept per queue for the predictor
RECENT_TTL_S = 3600


# Counts one ended call into its arrival minute, once: SADD on the per-hour "counted" set is the
# guard, so replaying a spooled batch (or a retried pipeline) never counts a call twice.
# A call the reaper already counted as lost (store/reaper.py: its counters are kept in the
# per-hour "lost" hash) is moved instead: the lost counters taken back (a field back at 0 is
# deleted), the real ones added, the marker deleted, all in this one script: exactly once.
# KEYS: minute hash, counted set, lost hash. ARGV: uniqueid, KPI TTL, guard TTL, field/increment
# pairs. Returns 1 counted, 2 corrected from lost, 0 already counted.
COUNT_CALL_LUA = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  local lost = KEYS[3] and redis.call('HGET', KEYS[3], ARGV[1])
  if not lost then return 0 end
  redis.call('HDEL', KEYS[3], ARGV[1])
  local taken = {}
  for word in string.gmatch(lost, '%S+') do taken[#taken + 1] = word end
  for i = 1, #taken - 1, 2 do
    if redis.call('HINCRBY', KEYS[1], taken[i], -tonumber(taken[i + 1])) == 0 then
      redis.call('HDEL', KEYS[1], taken[i])
    end
  end
  for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 2
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# The guard only has to outlive the longest a spool may wait for its replay, not the KPIs.
COUNTED_TTL_S = 7 * DAY_S

# Open-call index entries whose deadline passed this long ago are dropped at each arrival: a
# reaper that long away could no longer close them safely (the guard above may be gone).
OPEN_KEEP_MS = 6 * DAY_S * 1000

LIVE_ONLY = "live-only"  # marker: first element of a command that a replay must skip


def flat_fields(fields: dict) -> list[str]:
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
    return [
        ["HSET", call_key, *flat_fields(record)],
        ["EXPIRE", call_key, str(ttl_s)],
        event(keys, kind, uniqueid, record, maxlen),
    ]


def count_once(script: str, keys: Keys, queue: str, at: int, uniqueid: str, kpis: dict, ttl_s: int, *more):
    """The EVAL that counts a call into its arrival minute `at` once (call_ended's script, the
    reaper's): KEYS minute hash, counted set, lost hash, `more`; ARGV uniqueid, TTLs, increments."""
    all_keys = [keys.kpi_minute(queue, at), keys.counted(queue, at), keys.lost(queue, at), *more]
    ttls = [str(ttl_s), str(min(ttl_s, COUNTED_TTL_S))]  # the KPIs', the guard's
    return ["EVAL", script, str(len(all_keys)), *all_keys, uniqueid, *ttls, *flat_fields(kpis)]


def event(keys: Keys, kind: str, uniqueid: str, record: dict, maxlen: int) -> list:
    """The XADD of one event to the stream: its kind, the call and the record's public fields."""
    fields = {"type": kind, "uniqueid": uniqueid, **public_fields(record)}
    return ["XADD", keys.events(), "MAXLEN", "~", str(maxlen), "*", *flat_fields(fields)]


def _capped_list(key: str, item: str) -> list[list]:
    """A live-only push onto one of the predictor's lists, kept short and expiring."""
    return [
        [LIVE_ONLY, "LPUSH", key, item],
        [LIVE_ONLY, "LTRIM", key, "0", str(RECENT_KEEP - 1)],
        [LIVE_ONLY, "EXPIRE", key, str(RECENT_TTL_S)],
    ]


def decided(
    keys: Keys,
    *,
    uniqueid: str,
    record: dict,
    queue: str,
    arrived_ms: int,
    ttl_s: int,
    events_maxlen: int,
    max_call_s: int | None = None,
) -> list[list]:
    """At arrival: the call's hash, a `decided` event, the call in the queue's waiting set, and
    in its open-call index until `max_call_s` after arrival (the reaper's, store/reaper.py)."""
    batch = _call_and_event(keys, "decided", uniqueid, record, ttl_s, events_maxlen)
    if queue:
        waiting = keys.waiting(queue)
        if max_call_s:
            # Replayed too: a call decided while Redis was away may still die with its PBX.
            open_calls = keys.open_calls(queue)
            batch += [
                ["ZREMRANGEBYSCORE", open_calls, "-inf", str(arrived_ms - OPEN_KEEP_MS)],
                ["ZADD", open_calls, str(arrived_ms + max_call_s * 1000), uniqueid],
                ["EXPIRE", open_calls, str(COUNTED_TTL_S)],
            ]
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
            ["ZREM", keys.open_calls(queue), uniqueid],
            ["SADD", keys.queues(), queue],
            count_once(COUNT_CALL_LUA, keys, queue, arrived_ms, uniqueid, kpis, ttl_s),
        ]
        # Live only, for the predictor's talk time and patience: outcome, queue time, talk time.
        in_queue = record.get("in_queue_ms")
        item = f"{record.get('ended_at', '')}:{record.get('outcome', '')}:"
        item += f"{'' if in_queue is None else in_queue}:{record.get('talk_s') or 0}"
        batch += _capped_list(keys.ended(queue), item)
    return batch


# The daily promise count (core/promise.py): increments at decision and at settlement, each
# counted once however often it is sent (a retried pipeline, agent_answered and call_ended both
# reporting an answer, a spool replay): a member `d:<uniqueid>` or `s:<uniqueid>` of a per-hour
# guard set decides, as the KPIs' "counted" set does for them. The day's first call (`t0`) is the
# earliest decision time seen, whatever the order of arrival of the increments.
# KEYS: the count, the guard. ARGV: TTL, guard member, first_ms or "", then field/increment pairs
# (a field named "=<name>" is set to its value instead: the last daily threshold).
PROMISE_LUA = """
if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[1])
if ARGV[3] ~= '' then
  local first = redis.call('HGET', KEYS[1], 't0')
  if not first or tonumber(first) > tonumber(ARGV[3]) then redis.call('HSET', KEYS[1], 't0', ARGV[3]) end
end
for i = 4, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 1) == '=' then redis.call('HSET', KEYS[1], string.sub(ARGV[i], 2), ARGV[i + 1])
  else redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""
PROMISE_TTL_S = 2 * DAY_S  # a day's count (and its guard), read for a day; the second covers time zones


def _promise(key: str, guard_key: str, member: str, first_ms: str, fields: dict[str, int]) -> list[list]:
    ttl = str(PROMISE_TTL_S)
    return [["EVAL", PROMISE_LUA, "2", key, guard_key, ttl, member, first_ms, *flat_fields(fields)]]


def promise_decided(
    key: str, guard_key: str, uniqueid: str, fields: dict[str, int], now_ms: int
) -> list[list]:
    """decide_tariff: an eligible call into its number's day."""
    return _promise(key, guard_key, f"d:{uniqueid}", str(now_ms), fields)


def promise_settled(key: str, guard_key: str, uniqueid: str, fields: dict[str, int]) -> list[list]:
    """agent_answered or call_ended: the call's promise settled, counted once."""
    return _promise(key, guard_key, f"s:{uniqueid}", "", fields) if fields else []


_PRIVATE = ("caller",)


def public_fields(record: dict) -> dict:
    """Event fields: the record minus what only the call hash may hold (the caller's hash)."""
    return {k: v for k, v in record.items() if k not in _PRIVATE}


def live_commands(batch: list[list]) -> list[list]:
    """The batch as sent live: markers removed."""
    return [command[1:] if command and command[0] == LIVE_ONLY else command for command in batch]


def replay_commands(batch: list[list]) -> list[list]:
    """The batch as replayed from the spool: live-only commands dropped."""
    return [command for command in batch if not (command and command[0] == LIVE_ONLY)]
