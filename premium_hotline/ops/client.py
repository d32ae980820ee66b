"""A redis-py client for the ops commands, from the plugin's own `redis_url`.

The AGI scripts use a tiny RESP client (store/resp.py) to keep the per-call cost low; the ops
commands are long-lived or interactive, so they use redis-py, which also speaks Cluster and
Sentinel. Every client gets a socket timeout: an ops read must never hang a terminal or a
Prometheus scrape behind an unreachable Redis.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def connect(url: str, *, timeout_s: float, extra_read_s: float = 0.0):
    """A client for `url` (redis://, rediss://, unix://, redis+cluster://, redis+sentinel://).

    `timeout_s` bounds connecting and each reply; `extra_read_s` lengthens the read timeout for
    callers that block on purpose (XREAD BLOCK in `tail`). Replies are decoded to str.
    """
    import redis

    options = {
        "socket_timeout": timeout_s + extra_read_s,
        "socket_connect_timeout": timeout_s,
        "decode_responses": True,
    }
    if url.startswith("redis+cluster://"):
        from redis.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url[len("redis+cluster://") :], **options)
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url, options)
    return redis.Redis.from_url(url, **options)


def _sentinel_master(url: str, options: dict):
    """`redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]`.

    The password, if any, is the data nodes' password (the sentinels are asked without one).
    """
    from redis.sentinel import Sentinel

    parts = urlsplit(url)
    netloc = parts.netloc
    auth, _, hosts = netloc.rpartition("@")
    username = password = None
    if auth:
        user, colon, secret = auth.partition(":")
        username = unquote(user) if colon and user else None
        password = unquote(secret if colon else user) or None
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        sentinels.append((host or "127.0.0.1", int(port or 26379)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path:
        raise ValueError(f"{url!r}: a sentinel URL needs the master's name, e.g. .../mymaster/0")
    master = path[0]
    db = int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(
        sentinels,
        socket_timeout=options["socket_connect_timeout"],
        socket_connect_timeout=options["socket_connect_timeout"],
    )
    return sentinel.master_for(master, db=db, username=username, password=password, **options)


def is_cluster(client) -> bool:
    return type(client).__name__ == "RedisCluster"
