"""The one place a `redis_url` becomes a client, for each kind of caller.

- `plain_client`: the plain AGI script's own blocking client (redis/sync.py), for one call.
- `async_client`: redis-py's asyncio client (redis/aio.py), for the FastAGI server and `replay`.
- `ops_client`: redis-py's blocking client, decoded to str, for the ops commands (stats, tail,
  exporter...): long-lived or interactive, where redis-py's import cost does not matter.

All take the URL and the config's `redis_ca_file`, parse it with redis/url.py (ValueError for a
URL that cannot be used), and give TLS and credentials to every node and sentinel alike.
"""

from __future__ import annotations

from .url import CLUSTER, SENTINEL, RedisTarget, parse_url

DEFAULT_POOL_SIZE = 32


def plain_client(url: str, timeout_s: float, ca_file: str | None = None):
    """Connection, ClusterClient or SentinelClient: `pipeline(commands)` within `timeout_s`."""
    from .sync import client_for

    return client_for(parse_url(url, ca_file), timeout_s)


def async_client(url: str, timeout_s: float, ca_file: str | None = None, pool_size: int = DEFAULT_POOL_SIZE):
    """redis/aio.py's AsyncRedis: `await pipeline(commands)`, `await close()`."""
    from .aio import AsyncRedis

    target = parse_url(url, ca_file)
    return AsyncRedis(
        target, redis_py_options(target, timeout_s), sentinel_options(target, timeout_s), pool_size
    )


def ops_client(url: str, *, timeout_s: float, extra_read_s: float = 0.0, ca_file: str | None = None):
    """A redis-py client (Redis, RedisCluster or a sentinel's master), replies decoded to str.

    `timeout_s` bounds connecting and each reply; `extra_read_s` lengthens the read timeout for
    callers that block on purpose (XREAD BLOCK in `tail`). Raises ValueError for a malformed URL
    and redis.ConnectionError when no cluster node answers.
    """
    import redis

    target = parse_url(url, ca_file)
    options = {**redis_py_options(target, timeout_s, timeout_s + extra_read_s), "decode_responses": True}
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if target.kind == CLUSTER:
        from redis.cluster import ClusterNode, RedisCluster

        try:  # redis-py's own retries kept short: a dead seed must not cost ten timeouts
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
                retry=Retry(NoBackoff(), 2),
                **options,
            )
        except redis.exceptions.RedisClusterException as exc:  # not a RedisError: callers catch those
            raise redis.ConnectionError(f"no cluster node answered: {exc}") from None
    options["retry"] = Retry(NoBackoff(), 0)  # an unreachable Redis answers "down" at once, not in 3 s
    if target.kind == SENTINEL:
        from redis.sentinel import Sentinel

        sentinel = Sentinel(target.nodes, sentinel_kwargs=sentinel_options(target, timeout_s))
        return sentinel.master_for(target.master, db=target.db, **options)
    if target.path:
        return redis.Redis(unix_socket_path=target.path, db=target.db, **options)
    host, port = target.nodes[0]
    return redis.Redis(host=host, port=port, db=target.db, **options)


def tls_options(target: RedisTarget) -> dict:
    if not target.tls:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": target.ca_file,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }


def quiet_connect() -> dict:
    """No CLIENT SETINFO at each new connection: two round trips redis-py spends announcing itself."""
    try:
        import redis.driver_info  # noqa: F401 - redis-py 8 and later
    except ImportError:
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": None}


def redis_py_options(target: RedisTarget, timeout_s: float, read_timeout_s: float | None = None) -> dict:
    """The data nodes' redis-py options: credentials, timeouts, TLS."""
    return {
        **quiet_connect(),
        "username": target.username,
        "password": target.password,
        "socket_timeout": timeout_s if read_timeout_s is None else read_timeout_s,
        "socket_connect_timeout": timeout_s,
        **tls_options(target),
    }


def sentinel_options(target: RedisTarget, timeout_s: float) -> dict:
    """The sentinels' own: their credentials (none unless the URL gives them), TLS as the nodes."""
    return {
        "username": target.sentinel_username,
        "password": target.sentinel_password,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        **tls_options(target),
    }
