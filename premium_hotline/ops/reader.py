"""Reading the plugin's KPI data out of Redis, fast and read-only.

One queue's minute hashes all carry the queue's hash tag (`ph:kpi:{support}:YYYYMMDDHHMM`),
so a window is one pipeline of HGETALLs per queue: one round trip, one Cluster slot, whatever
the window's length (a day is 1,440 keys). Missing minutes (no call ended yet, or expired) read
as empty hashes and cost nothing else.
"""

from __future__ import annotations

from ..core.agents import AgentTally
from ..core.agents import accumulate as accumulate_agents
from ..core.kpi import Tally, accumulate, add_by_tariff, parse_minute
from ..store.keys import Keys, minute_stamp
from .window import Window

DAY_MS = 86_400_000
PIPELINE_CHUNK = 2000  # commands per round trip: bounds the reply buffered in memory


def list_queues(client, keys: Keys, only: list[str] | None = None) -> list[str]:
    """Queues with KPI data (the `ph:queues` set), sorted; `only` restricts to those named."""
    if only:
        return list(dict.fromkeys(only))
    return sorted(client.smembers(keys.queues()))


def _minute_hashes(client, keys: Keys, queue: str, window: Window):
    """(minute_ms, fields) for each minute of the window that holds data, one queue."""
    minutes = window.minutes()
    stamps = [minute_stamp(minute) for minute in minutes]
    for start in range(0, len(stamps), PIPELINE_CHUNK):
        pipe = client.pipeline(transaction=False)
        for stamp in stamps[start : start + PIPELINE_CHUNK]:
            pipe.hgetall(keys.kpi_minute_at(queue, stamp))
        for offset, fields in enumerate(pipe.execute()):
            if fields:
                yield minutes[start + offset], fields


def read_minutes(
    client, keys: Keys, queues: list[str], window: Window
) -> dict[str, dict[int, dict[str, Tally]]]:
    """{queue: {minute_ms: {tariff: Tally}}} for the minutes of `window` that hold data."""
    return {
        queue: {
            minute: parse_minute(fields) for minute, fields in _minute_hashes(client, keys, queue, window)
        }
        for queue in queues
    }


def totals(per_minute: dict[int, dict[str, Tally]]) -> dict[str, Tally]:
    """Sum a queue's minutes into one Tally per tariff."""
    total: dict[str, Tally] = {}
    for by_tariff in per_minute.values():
        add_by_tariff(total, by_tariff)
    return total


def read_window(client, keys: Keys, queues: list[str], window: Window) -> dict[str, dict[str, Tally]]:
    """{queue: {tariff: Tally}} summed over the window (one pass over the fields)."""
    out: dict[str, dict[str, Tally]] = {}
    for queue in queues:
        total: dict[str, Tally] = {}
        for _, fields in _minute_hashes(client, keys, queue, window):
            accumulate(total, fields)
        out[queue] = total
    return out


def read_window_and_agents(
    client, keys: Keys, queues: list[str], window: Window
) -> tuple[dict[str, dict[str, Tally]], dict[str, dict[str, AgentTally]]]:
    """({queue: {tariff: Tally}}, {queue: {agent: AgentTally}}) over the window, from the same
    one read of the minute hashes (the agents' counters live in them)."""
    by_queue: dict[str, dict[str, Tally]] = {}
    by_agent: dict[str, dict[str, AgentTally]] = {}
    for queue in queues:
        total: dict[str, Tally] = {}
        crew: dict[str, AgentTally] = {}
        for _, fields in _minute_hashes(client, keys, queue, window):
            accumulate(total, fields)
            accumulate_agents(crew, fields)
        by_queue[queue] = total
        by_agent[queue] = crew
    return by_queue, by_agent


class Waiting:
    """Calls of a queue that arrived and have neither reached a person nor hung up."""

    __slots__ = ("count", "oldest_ms")

    def __init__(self, count: int, oldest_ms: int | None) -> None:
        self.count = count
        self.oldest_ms = oldest_ms

    def longest_wait_s(self, now_ms: int) -> float | None:
        return None if self.oldest_ms is None else max(0, now_ms - self.oldest_ms) / 1000

    def as_dict(self, now_ms: int) -> dict:
        return {"count": self.count, "longest_wait_s": self.longest_wait_s(now_ms)}


def read_waiting(client, keys: Keys, queues: list[str], now_ms: int) -> dict[str, Waiting]:
    """Calls waiting now per queue, from the `ph:waiting:{queue}` sorted sets (score = arrival).

    Entries older than a day are calls whose hang-up was never recorded (the writer prunes them
    at the next arrival); they are not counted. Each remaining entry is checked against its call
    hash: one that already has `human_at` or `outcome` is over (its ZREM was lost, or landed
    before a late ZADD from the arrival's detached writer), and must not show as a phantom
    caller waiting for hours on a wallboard. Waiting sets are small, so this is one more round
    trip of a few HMGETs.
    """
    since = now_ms - DAY_MS
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.zrangebyscore(keys.waiting(queue), since, "+inf", withscores=True)
    entries = dict(zip(queues, pipe.execute(), strict=True))
    candidates = [(queue, uid, int(score)) for queue in queues for uid, score in entries[queue]]
    over: list = []
    if candidates:
        pipe = client.pipeline(transaction=False)
        for _, uid, _ in candidates:
            pipe.hmget(keys.call(uid), "human_at", "outcome")
        over = [any(fields) for fields in pipe.execute()]
    out = {queue: Waiting(0, None) for queue in queues}
    for (queue, _, arrived), done in zip(candidates, over, strict=True):
        if done:
            continue
        waiting = out[queue]
        waiting.count += 1
        if waiting.oldest_ms is None or arrived < waiting.oldest_ms:
            waiting.oldest_ms = arrived
    return out
