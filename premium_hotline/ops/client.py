"""A redis-py client for the ops commands, from the plugin's own `redis_url`.

The AGI scripts use a tiny RESP client (store/resp.py, routed by store/cluster.py) to keep the
per-call cost low; the ops commands are long-lived or interactive, so they use redis-py, which
speaks Cluster and Sentinel itself. The URL forms are the plugin's (store/topology.py parses
them for both). Every client gets a socket timeout: an ops read must never hang a terminal or
a Prometheus scrape behind an unreachable Redis.

On a cluster the readers' pipelines (ops/reader.py) go through redis-py's ClusterPipeline,
which groups commands by node and writes to every node before reading: a day of one queue's
KPI minutes is still one round trip to the node holding the queue's hash tag.
"""

from __future__ import annotations


def connect(url: str, *, timeout_s: float, extra_read_s: float = 0.0):
    """A client for `url` (redis://, rediss://, unix://, redis+cluster://, redis+sentinel://).

    `timeout_s` bounds connecting and each reply; `extra_read_s` lengthens the read timeout for
    callers that block on purpose (XREAD BLOCK in `tail`). Replies are decoded to str. Raises
    ValueError for a malformed URL and redis.ConnectionError when no cluster node answers.
    """
    import redis

    options = {
        "socket_timeout": timeout_s + extra_read_s,
        "socket_connect_timeout": timeout_s,
        "decode_responses": True,
    }
    if url.startswith("redis+"):
        from ..store.topology import parse_topology_url

        topology = parse_topology_url(url)
        if topology.kind == "cluster":
            return _cluster(topology, options)
        return _sentinel_master(topology, options)
    return redis.Redis.from_url(url, **options)


def _cluster(topology, options: dict):
    """redis-py's RedisCluster from the seed list; its own retries kept short (an ops read is
    interactive: a dead seed must not cost ten timeouts)."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    try:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in topology.nodes],
            username=topology.username,
            password=topology.password,
            cluster_error_retry_attempts=2,
            **options,
        )
    except redis.exceptions.RedisClusterException as exc:  # not a RedisError: callers catch those
        raise redis.ConnectionError(f"no cluster node answered: {exc}") from None


def _sentinel_master(topology, options: dict):
    """The master the sentinels name (asked again by redis-py on each new connection)."""
    from redis.sentinel import Sentinel

    sentinel = Sentinel(
        topology.nodes,
        socket_timeout=options["socket_connect_timeout"],
        socket_connect_timeout=options["socket_connect_timeout"],
    )
    return sentinel.master_for(
        topology.master, db=topology.db, username=topology.username, password=topology.password, **options
    )


def is_cluster(client) -> bool:
    return type(client).__name__ == "RedisCluster"
