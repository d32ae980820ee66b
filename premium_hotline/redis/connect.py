"""The one place a `redis_url` (and `redis_ca_file`) becomes a client, for each kind of caller:
`plain_client` (the plain AGI script's own, redis/sync.py), `async_client` (redis-py's asyncio
client, redis/aio.py: the FastAGI server and `replay`), `ops_client` (redis-py, blocking: the ops
commands). A URL that cannot be used is a ValueError (redis/url.py).
"""

from __future__ import annotations

from .url import CLUSTER, SENTINEL, RedisTarget, parse_url

DEFAULT_POOL_SIZE = 32


def plain_client(url: str, timeout_s: float, ca_file: str | None = None):
    """Connection, ClusterClient or SentinelClient: `pipeline(commands)` within `timeout_s`."""
    from .sync import client_for

    return client_for(parse_url(url, ca_file), timeout_s)


def async_client(url: str, timeout_s: float, ca_file: str | None = None, pool_size: int = DEFAULT_POOL_SIZE):
    """redis/aio.py's AsyncRedis on redis-py's asyncio client: `await pipeline(commands)`, `close()`."""
    from .aio import AsyncRedis

    options = {"max_connections": pool_size, "health_check_interval": 0, "encoding_errors": "replace"}
    options["protocol"] = 2  # RESP2, as the plain client reads: RESP3 would turn HGETALL into a dict
    target = parse_url(url, ca_file)
    if target.kind != CLUSTER:
        # Every batch is bounded by one deadline of its caller's (the store's asyncio.timeout, the
        # replay's wait): a socket timeout of redis-py's own would wrap every send in a task
        # (asyncio.wait_for) and every reply in a timeout, the largest item of the server's own
        # per call under cProfile (bench/README.md). A cluster keeps it: redis-py retries
        # another node after one.
        options["socket_timeout"] = None
    return AsyncRedis(redis_py(target, timeout_s, aio=True, **options), pool_size)


def ops_client(url: str, *, timeout_s: float, extra_read_s: float = 0.0, ca_file: str | None = None):
    """A blocking redis-py client, replies as str; `extra_read_s` lengthens the read timeout for
    callers that block on purpose (XREAD BLOCK in `tail`). redis.ConnectionError: no cluster node."""
    import redis

    try:
        return redis_py(
            parse_url(url, ca_file), timeout_s, aio=False, read_timeout_s=timeout_s + extra_read_s
        )
    except redis.exceptions.RedisClusterException as exc:  # not a RedisError: callers catch those
        raise redis.ConnectionError(f"no cluster node answered: {exc}") from None


def redis_py(
    target: RedisTarget, timeout_s: float, *, aio: bool, read_timeout_s: float | None = None, **extra
):
    """redis-py's Redis, RedisCluster or sentinel master for `target`, asyncio or blocking, with
    credentials and TLS for every node and sentinel. Retries off, or short for a cluster (after
    a slot map refresh): the deadline is the caller's."""
    if aio:
        import redis.asyncio as flavour
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
        from redis.asyncio.sentinel import Sentinel
    else:
        import redis as flavour
        from redis.cluster import ClusterNode, RedisCluster
        from redis.retry import Retry
        from redis.sentinel import Sentinel
    from redis.backoff import NoBackoff

    options = {
        **quiet_connect(),
        **redis_py_options(target.username, target.password, target, timeout_s, read_timeout_s),
        "decode_responses": True,
        **extra,
    }
    if target.kind == CLUSTER:
        nodes = [ClusterNode(host, port) for host, port in target.nodes]
        return RedisCluster(startup_nodes=nodes, retry=Retry(NoBackoff(), 1 if aio else 2), **options)
    options["retry"] = Retry(NoBackoff(), 0)  # an unreachable Redis answers "down" at once, not in 3 s
    if target.kind == SENTINEL:
        sentinel_options = redis_py_options(
            target.sentinel_username, target.sentinel_password, target, timeout_s
        )
        sentinel = Sentinel(target.nodes, sentinel_kwargs=sentinel_options)
        return sentinel.master_for(target.master, redis_class=flavour.Redis, db=target.db, **options)
    if target.path:
        return flavour.Redis(unix_socket_path=target.path, db=target.db, **options)
    host, port = target.nodes[0]
    return flavour.Redis(host=host, port=port, db=target.db, **options)


def quiet_connect() -> dict:
    """No CLIENT SETINFO at each new connection: two round trips redis-py spends announcing itself."""
    try:
        import redis.driver_info  # noqa: F401 - redis-py 8 and later
    except ImportError:
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": None}


def redis_py_options(
    username, password, target: RedisTarget, timeout_s: float, read_s: float | None = None
) -> dict:
    """One side's redis-py options (the data nodes', or the sentinels'): credentials, timeouts, TLS."""
    options = {
        "username": username,
        "password": password,
        "socket_timeout": timeout_s if read_s is None else read_s,
        "socket_connect_timeout": timeout_s,
    }
    if target.tls:
        options.update(
            ssl=True, ssl_ca_certs=target.ca_file, ssl_cert_reqs="required", ssl_check_hostname=True
        )
    return options
