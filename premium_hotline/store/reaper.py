"""Close the calls nobody closed: the Redis side of core/lost.py (the reaper).

How the store knows a call is open: `decide_tariff` adds it to its queue's open-call index
(`ph:open:{queue}`, a sorted set scored by arrival + `max_call_s`), `call_ended` removes it, in
the batches they already send. A reap is then a bounded walk over the entries whose deadline has
passed, a few hundred at a time:

1. read their call hashes (one pipeline);
2. write the lost record into each hash that still has no `outcome` (a Lua script: a real
   outcome, written by a hang-up that landed meanwhile, is never overwritten);
3. count each lost call into its arrival minute, guarded by the same per-hour `counted` set as
   every call (a second reap, a second reaper, a replay: nothing counted twice), keep what it
   added in the per-hour `lost` hash so that a late `call_ended` can move it to its real outcome
   exactly once (records.COUNT_CALL_LUA), and drop it from the index and the waiting set;
4. add a `lost` event for each call counted now.

The hash is written before the count: a reaper killed in between leaves the call in the index,
and the next reap finishes it. One reaper at a time across every server: a short Redis lock
(`ph:reaper`, a token, LOCK_TTL_MS), released by token. `execute(commands) -> replies` is the
sync transport the replay uses too (a RESP connection, or the server's store from a thread).
"""

from __future__ import annotations

from ..core import kpi
from ..core.lost import lost_ending, lost_record
from ..core.timeline import LOST
from ..redis.errors import RespError
from .keys import Keys
from .records import count_once, event, flat_fields

BATCH = 200  # open calls looked at per queue and per round
MAX_ROUNDS = 50  # bounds one reap; the rest waits for the next
LOCK_TTL_MS = 60_000

# KEYS: minute hash, counted set, lost hash, open index, waiting set. ARGV: uniqueid, KPI TTL,
# guard TTL, field/increment pairs. Returns 1 when counted now, 0 when already counted.
REAP_LUA = """
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
local added = {}
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  added[#added + 1] = ARGV[i]
  added[#added + 1] = ARGV[i + 1]
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], table.concat(added, ' '))
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 1
"""

# KEYS: the call hash. ARGV: TTL, field/value pairs. Writes only where no outcome is recorded yet;
# returns '' when written, else the outcome already there.
CLOSE_LOST_LUA = """
local outcome = redis.call('HGET', KEYS[1], 'outcome')
if outcome then return outcome end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return ''
"""

LOCK_LUA = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0"
UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class ReapRefused(Exception):
    """Redis answered with an error (an ACL without the reaper's commands, OOM): said once, kept."""


class ReapReport:
    def __init__(self) -> None:
        self.looked = 0  # index entries past their deadline
        self.lost = 0  # closed as lost and counted now
        self.already_closed = 0  # a real hang-up had closed them: dropped from the index
        self.already_counted = 0  # lost already (an earlier reap): nothing changed
        self.unknown = 0  # no call hash left (expired): dropped, nothing to count
        self.busy = False

    def __str__(self) -> str:
        if self.busy:
            return "another reaper holds the lock; nothing done"
        notes = [
            f"{count} {what}"
            for count, what in (
                (self.already_closed, "already closed by their hang-up"),
                (self.already_counted, "already counted"),
                (self.unknown, "without a record"),
            )
            if count
        ]
        text = f"closed {self.lost} call(s) as lost"
        return text + (f" ({', '.join(notes)})" if notes else "") + f"; {self.looked} past max_call_s"


def _checked(replies: list) -> list:
    errors = [reply for reply in replies if isinstance(reply, RespError | Exception)]
    if errors:
        raise ReapRefused(str(errors[0]))
    return replies


def _fields(flat) -> dict:
    if isinstance(flat, dict):
        return flat
    flat = flat or []
    return dict(zip(flat[::2], flat[1::2], strict=False))


def reap(execute, general, *, now_ms: int, batch: int = BATCH, max_rounds: int = MAX_ROUNDS) -> ReapReport:
    """Close every open call whose `max_call_s` has passed by `now_ms` (epoch ms). Raises
    RedisUnavailable (the transport's) or ReapRefused; safe to run any number of times."""
    import os

    keys = Keys(general.key_prefix)
    report = ReapReport()
    lock = keys.reaper_lock()
    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    got = _checked(execute([["EVAL", LOCK_LUA, "1", lock, token, str(LOCK_TTL_MS)]]))[0]
    if got != 1:
        report.busy = True
        return report
    try:
        queues = sorted(_checked(execute([["SMEMBERS", keys.queues()]]))[0] or [])
        for _ in range(max_rounds):
            if not queues:
                break
            due = _checked(
                execute(
                    [
                        ["ZRANGEBYSCORE", keys.open_calls(q), "-inf", str(now_ms), "LIMIT", "0", str(batch)]
                        for q in queues
                    ]
                )
            )
            candidates = [(q, uid) for q, uids in zip(queues, due, strict=True) for uid in uids or []]
            if not candidates:
                break
            _close(execute, general, keys, candidates, now_ms, report)
            queues = [q for q, uids in zip(queues, due, strict=True) if len(uids or []) >= batch]
    finally:
        try:
            execute([["EVAL", UNLOCK_LUA, "1", lock, token]])
        except Exception:  # the lock expires by itself
            pass
    return report


def _close(execute, general, keys: Keys, candidates: list, now_ms: int, report: ReapReport) -> None:
    report.looked += len(candidates)
    ttl_s = general.record_ttl_s
    hashes = _checked(execute([["HGETALL", keys.call(uid)] for _, uid in candidates]))
    plans = []  # (queue, uid, fields, ending) of the calls to close as lost
    drop = []
    for (queue, uid), flat in zip(candidates, hashes, strict=True):
        fields = _fields(flat)
        outcome = fields.get("outcome")
        if outcome and outcome != LOST:
            report.already_closed += 1
            drop.append((queue, uid))
        elif not (fields.get("arrived_at") or fields.get("decided_at")):
            report.unknown += 1
            drop.append((queue, uid))
        else:
            plans.append((queue, uid, fields, lost_ending(fields, commitment_s=general.commitment_s)))
    writes = []
    for _, uid, fields, ending in plans:
        record = lost_record(uid, fields, ending, reaped_ms=now_ms)
        writes.append(["EVAL", CLOSE_LOST_LUA, "1", keys.call(uid), str(ttl_s), *flat_fields(record)])
    written = _checked(execute(writes)) if writes else []
    counts = [["ZREM", keys.open_calls(q), uid] for q, uid in drop]
    counting = []
    for (queue, uid, fields, ending), previous in zip(plans, written, strict=True):
        if previous not in ("", LOST):  # a real hang-up landed between the read and the write
            report.already_closed += 1
            counts.append(["ZREM", keys.open_calls(queue), uid])
            continue
        arrived = int(fields.get("arrived_at") or fields.get("decided_at"))
        kpis = kpi.counters(ending, fields.get("decided_tariff") or "free")
        counting.append((uid, fields, ending, len(counts)))
        extra = (keys.open_calls(queue), keys.waiting(queue))
        counts.append(count_once(REAP_LUA, keys, queue, arrived, uid, kpis, ttl_s, *extra))
    replies = _checked(execute(counts)) if counts else []
    events = []
    for uid, fields, ending, index in counting:
        if replies[index] == 1:
            report.lost += 1
            record = lost_record(uid, fields, ending, reaped_ms=now_ms)
            events.append(event(keys, "lost", uid, record, general.events_maxlen))
        else:
            report.already_counted += 1
    if events:
        _checked(execute(events))
