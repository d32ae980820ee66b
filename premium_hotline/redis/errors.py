"""The two ways a Redis operation fails, the same for every client and topology.

`RedisUnavailable` is raised: Redis cannot be reached or cannot serve now (down, slow past the
deadline, failing over); a route then falls back to `fail_tariff` and spools its writes.
`RespError` is returned, in the place of the command Redis refused (WRONGTYPE, OOM, NOPERM...),
as one node would answer it; the other commands of the pipeline keep their replies.
"""

from __future__ import annotations


class RedisUnavailable(Exception):
    """Connecting, sending or reading failed or timed out, or the topology said "not now"."""


class RespError(Exception):
    """An error reply from Redis (`-ERR ...`), returned in place of that command's result."""


# Error replies that say "not now" rather than "never": the whole batch falls back (spool).
TRANSIENT_ERRORS = ("CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "READONLY")


def transient(reply: object) -> bool:
    """An error reply that means "the cluster cannot serve this now" (failover, loading...)."""
    return isinstance(reply, RespError) and str(reply).startswith(TRANSIENT_ERRORS)


def raise_transient(replies: list) -> list:
    """`replies`, unless one of them says "not now": then the batch as a whole is unavailable."""
    for reply in replies:
        if transient(reply):
            raise RedisUnavailable(f"Redis cannot serve this now: {reply}")
    return replies
