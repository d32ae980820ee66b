"""Redis key names: one place, so the schema doc, the writers and the ops readers agree.

Every key that one route or one KPI read touches together shares a Redis Cluster hash tag: the
call's keys are tagged with its uniqueid, a queue's keys with the queue's name. Under Cluster a
route then costs one round trip per slot group, and a queue's KPI read stays on one node.
See docs/redis-schema.md.

Every name is `<prefix><kind>:{<tag>}...` where the tag (a uniqueid or a queue name) is used as it
is only when it is plain (letters, digits, `. _ - /`, at most 128 characters), which every queue
name the config accepts and every uniqueid Asterisk makes are. Anything else, such as a value a
hostile peer slipped into a channel variable, becomes `x<sha256 prefix>`: it can then neither
close the hash tag early (`}`), nor grow a key without bound, nor reach a name outside the prefix.
"""

from __future__ import annotations

import time

from ..core.codes import PLAIN_NAME_CHARS

MAX_TAG = 128


def tag(text: str) -> str:
    """A hash-tag value safe in a key name: `text` itself when plain, else a fixed-size digest."""
    if text and len(text) <= MAX_TAG and PLAIN_NAME_CHARS.issuperset(text):
        return text
    import hashlib

    return "x" + hashlib.sha256(str(text).encode("utf-8", "replace")).hexdigest()[:24]


_STAMPS: dict[tuple[int, int], str] = {}  # (period in ms, index): its stamp, for the current few


def _stamp(epoch_ms: int, period_ms: int, fmt: str) -> str:
    """The period's UTC stamp, formatted once per period: a server names the same hour's and
    minute's keys for every call in it."""
    key = (period_ms, epoch_ms // period_ms)
    text = _STAMPS.get(key)
    if text is None:
        if len(_STAMPS) >= 64:
            _STAMPS.clear()
        text = _STAMPS[key] = time.strftime(fmt, time.gmtime(key[1] * period_ms // 1000))
    return text


def minute_stamp(epoch_ms: int) -> str:
    """UTC minute as YYYYMMDDHHMM: sorts as text, reads at a glance in redis-cli."""
    return _stamp(epoch_ms, 60_000, "%Y%m%d%H%M")


def hour_stamp(epoch_ms: int) -> str:
    return _stamp(epoch_ms, 3_600_000, "%Y%m%d%H")


class Keys:
    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "ph:") -> None:
        self.prefix = prefix

    def call(self, uniqueid: str) -> str:
        """Hash: one call's record."""
        return f"{self.prefix}call:{{{tag(uniqueid)}}}"

    def events(self) -> str:
        """Stream: every decision, answer and hang-up, for `tail` and audits (approximate MAXLEN)."""
        return f"{self.prefix}events"

    def queues(self) -> str:
        """Set: names of the queues that have KPI data, so readers need no SCAN."""
        return f"{self.prefix}queues"

    def kpi_minute(self, queue: str, epoch_ms: int) -> str:
        """Hash: a queue's counters and histogram buckets for the calls that arrived in one minute."""
        return f"{self.prefix}kpi:{{{tag(queue)}}}:{minute_stamp(epoch_ms)}"

    def kpi_minute_at(self, queue: str, stamp: str) -> str:
        return f"{self.prefix}kpi:{{{tag(queue)}}}:{stamp}"

    def counted(self, queue: str, epoch_ms: int) -> str:
        """Set: uniqueids already counted in the KPIs (per arrival hour), so a replay never counts twice."""
        return f"{self.prefix}counted:{{{tag(queue)}}}:{hour_stamp(epoch_ms)}"

    def waiting(self, queue: str) -> str:
        """Sorted set: calls of a queue not yet answered nor ended, scored by arrival (ms)."""
        return f"{self.prefix}waiting:{{{tag(queue)}}}"

    def recent(self, queue: str) -> str:
        """List: the latest answered calls' waits, newest first, read by the wait predictor."""
        return f"{self.prefix}recent:{{{tag(queue)}}}"

    def arrivals(self, queue: str) -> str:
        """List: "arrived_ms:p|f" per decided call, newest first (the predictor's arrival rate)."""
        return f"{self.prefix}arrivals:{{{tag(queue)}}}"

    def ended(self, queue: str) -> str:
        """List: "ended_ms:outcome:in_queue_ms:talk_s" per ended call, newest first (talk, patience)."""
        return f"{self.prefix}ended:{{{tag(queue)}}}"

    def open_calls(self, queue: str) -> str:
        """Sorted set: a queue's calls not yet closed, scored by the moment past which a call with
        no hang-up is closed as lost (arrival + max_call_s, ms). The reaper's index."""
        return f"{self.prefix}open:{{{tag(queue)}}}"

    def lost(self, queue: str, epoch_ms: int) -> str:
        """Hash: uniqueid -> the counters a call closed as lost added (per arrival hour), so a
        late hang-up can take them back exactly once."""
        return f"{self.prefix}lost:{{{tag(queue)}}}:{hour_stamp(epoch_ms)}"

    def reaper_lock(self) -> str:
        """String: held by the one reaper at work (a token, short TTL), across all servers."""
        return f"{self.prefix}reaper"

    def promise(self, queue: str, number: str, day: str) -> str:
        """Hash: one number's daily promise count (core/promise.py), tagged with its queue so it
        sits on the same node as the predictor's lists. `day` is YYYYMMDD, local to the number."""
        return f"{self.prefix}promise:{{{tag(queue)}}}:{tag(number)}:{day}"

    def promised(self, queue: str, epoch_ms: int) -> str:
        """Set: `d:<uniqueid>` and `s:<uniqueid>` of the calls whose decision or settlement is
        already in their number's promise count (per arrival hour), so nothing counts twice."""
        return f"{self.prefix}promised:{{{tag(queue)}}}:{hour_stamp(epoch_ms)}"
