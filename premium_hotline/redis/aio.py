"""The FastAGI server's Redis (and the replay's): redis-py's asyncio client, hiredis parsing.

`AsyncRedis.pipeline(commands)` answers as the plain script's client does: raw replies,
RespError in the place of a refused command, RedisUnavailable for "cannot reach the data now".
A cluster is redis-py's RedisCluster (it routes, follows MOVED/ASK), sentinels its Sentinel.
"""

from __future__ import annotations

import asyncio

from hiredis import pack_command
from redis import exceptions as errors

from .errors import RedisUnavailable, RespError, raise_transient

PIPELINE_ERROR = " of pipeline caused error: "  # redis-py's prefix to an error reply's text


class AsyncRedis:
    """A redis-py asyncio client (made by redis/connect.py) as the store uses it: `pipeline`, `close`."""

    def __init__(self, client, pool_size: int) -> None:
        self.client = client
        # At most `pool_size` pipelines at once, the others wait (within the caller's deadline):
        # redis-py's asyncio pools raise "Too many connections" instead of waiting.
        self.slots = asyncio.Semaphore(pool_size)
        self.idle: list = []  # connections taken from the pool, free for the next batch
        # Raw replies, as the plain client reads them (EXPIRE gives 1, not True). RedisCluster
        # shares its dictionary with its nodes and parses its own COMMAND and CLUSTER SLOTS
        # through it: there only the commands we send get the identity, as we send them.
        self.raw_only: dict | None = None
        if type(client).__name__ == "RedisCluster":
            self.raw_only = client.response_callbacks
        else:
            client.response_callbacks.clear()

    async def pipeline(self, commands: list[list]) -> list:
        async with self.slots:
            return await self.send(commands)

    async def send(self, commands: list[list]) -> list:
        try:
            replies = await (self.on_cluster if self.raw_only is not None else self.on_connection)(commands)
        except errors.ResponseError as exc:  # e.g. NOAUTH while connecting
            raise RedisUnavailable(f"Redis refused: {exc}") from None
        except (errors.RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # redis-py's RedisClusterException is not a RedisError
            if type(exc).__module__.startswith("redis."):
                raise RedisUnavailable(f"Redis cluster client: {exc}") from None
            raise
        return raise_transient([from_redis_py(reply) for reply in replies])

    async def on_cluster(self, commands: list[list]) -> list:
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            if self.raw_only.get(command[0]) is not raw:
                self.raw_only[command[0]] = raw
            pipe.execute_command(*command)
        return await pipe.execute(raise_on_error=False)

    async def on_connection(self, commands: list[list]) -> list:
        """One Redis or the sentinels' master: a pooled Connection costs less than a Pipeline.

        A connection that answered a whole batch is kept here (the newest first) rather than
        given back to redis-py's pool, whose lock, counters and events were about 3% of the
        server's busy time (py-spy under bench/driver.py); the semaphore keeps them within
        pool_size. The pool's own check runs before each reuse: a Redis restarted (or a
        sentinel's new master) is reconnected to, as the pool would."""
        pool = self.client.connection_pool
        conn = self.idle.pop() if self.idle else None
        try:
            if conn is None:
                conn = await pool.get_connection()
            else:
                await pool.ensure_connection(conn)
            await conn.send_packed_command(pack(conn, commands), check_health=False)
            replies = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except errors.ResponseError as exc:  # an error reply, in its place
                    replies.append(exc)
        except BaseException:
            if conn is not None:
                await conn.disconnect(nowait=True)  # replies may still be on their way: never reuse it
                await pool.release(conn)
            raise
        self.idle.append(conn)
        return replies

    async def close(self) -> None:
        self.idle.clear()  # the pool closes them, taken or not
        try:
            await self.client.aclose()
        except Exception:
            pass


def pack(conn, commands: list[list]) -> bytes | list[bytes]:
    """RESP for a batch, by hiredis's C packer: redis-py's own, in Python, was the largest single
    cost of a decision in the server (bench/README.md). A value hiredis does not take (a type
    redis-py would encode its own way) falls back to redis-py's packer."""
    try:
        return b"".join([pack_command(tuple(command)) for command in commands])
    except TypeError:
        return conn.pack_commands(commands)


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
