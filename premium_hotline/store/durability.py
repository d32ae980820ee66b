"""Whether Redis itself keeps what the plugin writes: asked once at start, said in one line.

The spool covers Redis being away; it cannot cover Redis taking a write and then losing it (no
persistence and a restart, or a replica promoted before it caught up): such calls' records and
counts are simply gone (docs/reliability.md). What the plugin can see it says at start: with
`appendonly no`, or `appendfsync no`, one warning line. It asks `CONFIG GET`, else `INFO
persistence`; a least-privilege ACL user may be refused both, which is not an error (the
operator then checks the Redis side, as the doc says).
"""

from __future__ import annotations

from ..redis.errors import RespError


def _pairs(reply) -> dict:
    if isinstance(reply, dict):
        return {str(k): str(v) for k, v in reply.items()}
    reply = reply or []
    return {str(k): str(v) for k, v in zip(reply[::2], reply[1::2], strict=False)}


def persistence(execute) -> dict | None:
    """{'appendonly': 'yes'|'no', 'appendfsync': ...} as Redis reports them; None when not allowed
    to ask. `execute(commands) -> replies` as the replay's; transport errors go to the caller."""
    replies = execute([["CONFIG", "GET", "appendonly"], ["CONFIG", "GET", "appendfsync"]])
    if not any(isinstance(reply, RespError) for reply in replies):
        found = {**_pairs(replies[0]), **_pairs(replies[1])}
        if "appendonly" in found:
            return found
    reply = execute([["INFO", "persistence"]])[0]
    if isinstance(reply, RespError) or not isinstance(reply, str):
        return None
    info = dict(line.split(":", 1) for line in reply.splitlines() if ":" in line)
    if "aof_enabled" not in info:
        return None
    return {"appendonly": "yes" if info["aof_enabled"].strip() == "1" else "no"}


def weakness(settings: dict | None) -> str | None:
    """What a crash of Redis would lose with these settings, or None when durable enough."""
    if settings is None:
        return None
    if settings.get("appendonly") != "yes":
        return "appendonly is off: a Redis restart loses every write since its last snapshot"
    if settings.get("appendfsync") == "no":
        return "appendfsync no: a Redis host crash loses the writes the kernel had not flushed (~30 s)"
    return None


def warn_if_not_durable(execute, log) -> None:
    """One structlog line when Redis is seen not to persist; silence when it does or cannot tell."""
    try:
        settings = persistence(execute)
    except Exception as exc:  # Redis away: the routes and the spool deal with that
        log.debug("redis_persistence_unknown", error=str(exc))
        return
    problem = weakness(settings)
    if settings is None:
        log.debug("redis_persistence_unknown", error="CONFIG GET and INFO refused (ACL)")
    elif problem:
        log.warning(
            "redis_not_durable",
            appendonly=settings.get("appendonly"),
            appendfsync=settings.get("appendfsync"),
            detail=problem + "; set appendonly yes, appendfsync everysec (always for billing)",
        )
