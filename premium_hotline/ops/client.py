"""A redis-py client for the ops commands, from the plugin's own `redis_url` (redis/connect.py).

The ops commands are long-lived or interactive, so they use redis-py, which speaks Cluster and
Sentinel itself. Every client gets a socket timeout: an ops read must never hang a terminal or
a Prometheus scrape behind an unreachable Redis. On a cluster the readers' pipelines
(ops/reader.py) go through redis-py's ClusterPipeline, which groups commands by node and writes
to every node before reading: a day of one queue's KPI minutes is still one round trip to the
node holding the queue's hash tag.
"""

from __future__ import annotations


def connect(general, *, timeout_s: float, extra_read_s: float = 0.0):
    """A client for the config's `redis_url` (any form redis/url.py takes) with its
    `redis_ca_file`, so no command can reach a TLS Redis without it; see redis.connect.ops_client."""
    from ..redis.connect import ops_client

    return ops_client(
        general.redis_url, timeout_s=timeout_s, extra_read_s=extra_read_s, ca_file=general.redis_ca_file
    )


def is_cluster(client) -> bool:
    return type(client).__name__ == "RedisCluster"
