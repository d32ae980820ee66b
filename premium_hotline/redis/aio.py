"""The FastAGI server's Redis (and the replay's): redis-py's asyncio clients, one interface.

`AsyncRedis.pipeline(commands)` answers as the plain script's client does (redis/sync.py): raw
replies (str, int, None, lists; redis-py's response callbacks removed, RESP2 asked for),
RespError in the place of a refused command, and RedisUnavailable for anything that means
"cannot reach the data now": connection trouble, a cluster or sentinel failover, CLUSTERDOWN.
redis-py parses with hiredis when it is installed (a runtime dependency). One Redis gets
`redis.asyncio.Redis`, a cluster `RedisCluster` (it routes, follows MOVED/ASK and refreshes its
slot map itself), sentinels `Sentinel.master_for`; TLS and credentials reach every node and
every sentinel. redis-py's own retries are turned off or down: the deadline is the caller's
(`redis_timeout_ms`, enforced by the store), and a retry would blow it.
"""

from __future__ import annotations

import asyncio

from redis import exceptions as errors

from .errors import RedisUnavailable, RespError, raise_transient
from .url import CLUSTER, SENTINEL, RedisTarget

PIPELINE_ERROR = " of pipeline caused error: "  # redis-py's prefix to an error reply's text


class AsyncRedis:
    """One redis-py asyncio client for any target; `pipeline` and `close`."""

    def __init__(self, target: RedisTarget, options: dict, sentinel_options: dict, pool_size: int) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.target = target
        # At most `pool_size` pipelines at once, the others wait (within the caller's deadline):
        # redis-py's asyncio pools raise "Too many connections" instead of waiting.
        self.slots = asyncio.Semaphore(pool_size)
        options = {  # connect.py's, for every client of this target
            **options,
            "decode_responses": True,
            "encoding_errors": "replace",
            "protocol": 2,  # RESP2, as the plain client reads: RESP3 would turn HGETALL into a dict
        }
        self.raw_only: dict | None = None
        if target.kind == CLUSTER:
            from redis.asyncio.cluster import ClusterNode, RedisCluster

            self.client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
                max_connections=pool_size,
                retry=Retry(NoBackoff(), 1),  # once, after a slot map refresh (failover)
                **options,
            )
            # RedisCluster shares this dictionary with its nodes and parses its own COMMAND and
            # CLUSTER SLOTS through it: only the commands we send get the identity, as we send them.
            self.raw_only = self.client.response_callbacks
            return
        common = {"max_connections": pool_size, "retry": Retry(NoBackoff(), 0), "health_check_interval": 0}
        if target.kind == SENTINEL:
            from redis.asyncio.sentinel import Sentinel

            sentinel = Sentinel(target.nodes, sentinel_kwargs=sentinel_options)
            self.client = sentinel.master_for(
                target.master, redis_class=aioredis.Redis, db=target.db, **common, **options
            )
        elif target.path:
            self.client = aioredis.Redis(unix_socket_path=target.path, db=target.db, **common, **options)
        else:
            host, port = target.nodes[0]
            self.client = aioredis.Redis(host=host, port=port, db=target.db, **common, **options)
        self.client.response_callbacks.clear()  # raw replies: EXPIRE gives 1, not True; this client is ours

    async def pipeline(self, commands: list[list]) -> list:
        async with self.slots:
            return await self.send(commands)

    async def send(self, commands: list[list]) -> list:
        callbacks = self.raw_only
        try:
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                if callbacks is not None and callbacks.get(command[0]) is not raw:
                    callbacks[command[0]] = raw
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        except errors.ResponseError as exc:  # e.g. NOAUTH while connecting
            raise RedisUnavailable(f"Redis refused: {exc}") from None
        except (errors.RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # redis-py's RedisClusterException is not a RedisError
            if type(exc).__module__.startswith("redis."):
                raise RedisUnavailable(f"Redis cluster client: {exc}") from None
            raise
        return raise_transient([from_redis_py(reply) for reply in replies])

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception:
            pass


def raw(response, **_options):
    return response


def from_redis_py(reply):
    """A pipeline reply as the plain client gives it: an error reply as RespError, Redis's text."""
    if isinstance(reply, errors.ResponseError):
        text = str(reply.args[0]) if reply.args else str(reply)
        return RespError(text.split(PIPELINE_ERROR, 1)[1] if PIPELINE_ERROR in text else text)
    if isinstance(reply, errors.RedisError):
        raise RedisUnavailable(f"Redis failed mid-pipeline: {reply}")
    return reply
