"""The two ways a Redis operation fails, the same for every client and topology.

`RedisUnavailable` is raised: Redis cannot be reached or serve now (down, past the deadline,
failing over): the route falls back to `fail_tariff` and spools. `RespError` is returned in the
place of a command Redis refused (WRONGTYPE, OOM, NOPERM...); the others keep their replies.
"""

from __future__ import annotations


class RedisUnavailable(Exception):
    """Connecting, sending or reading failed or timed out, or the topology said "not now"."""


class RespError(Exception):
    """An error reply from Redis (`-ERR ...`), returned in place of that command's result."""


# Error replies that say "not now" rather than "never": the whole batch falls back (spool).
TRANSIENT_ERRORS = ("CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "READONLY")


def raise_transient(replies: list) -> list:
    """`replies`, unless one says "not now" (failover, loading...): then the batch is unavailable."""
    for reply in replies:
        if isinstance(reply, RespError) and str(reply).startswith(TRANSIENT_ERRORS):
            raise RedisUnavailable(f"Redis cannot serve this now: {reply}")
    return replies
