"""The FastAGI server's store (redis-py's asyncio client) against a real redis-server: the plain
script's replies exactly, a deadline on every operation, connections that survive a restart."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from premium_hotline.config import General
from premium_hotline.log import Log
from premium_hotline.redis.connect import plain_client
from premium_hotline.redis.errors import RedisUnavailable, RespError
from premium_hotline.store.server_store import ServerStore

COMMANDS = [
    ["SET", "text", "x"],
    ["LPUSH", "text", "a"],  # WRONGTYPE: an error reply in its place
    ["EVAL", "return redis.call('HSET', KEYS[1], 'a', 1)", "1", "text"],  # error inside a script
    ["EVAL", "return {1, 'two', {3}}", "0"],
    ["HSET", "h", "f", "é"],
    ["HGETALL", "h"],
    ["HGETALL", "missing"],
    ["EXPIRE", "h", "100"],
    ["GET", "missing"],
    ["ZADD", "z", "1.5", "m"],
    ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["PING"],
]


def general(url: str, tmp_path, timeout_ms: int = 300) -> General:
    g = General()
    g.redis_url = url
    g.redis_timeout_ms = timeout_ms
    g.spool_dir = str(tmp_path / "spool")
    return g


def same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and str(a) == str(b)


def test_replies_are_the_plain_clients_reply_for_reply(redis_url, redis_server, tmp_path):
    plain = plain_client(redis_url, 1).pipeline(COMMANDS)
    redis_server.client().flushall()

    async def scenario():
        store = ServerStore(general(redis_url, tmp_path), Log("error"))
        try:
            return await store.execute(COMMANDS)
        finally:
            await store.close()

    ours = asyncio.run(scenario())
    assert same(ours, plain), (ours, plain)
    assert isinstance(ours[1], RespError) and isinstance(ours[2], RespError)


def test_a_redis_that_never_answers_costs_the_timeout_and_no_more(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"

    async def scenario():
        store = ServerStore(general(url, tmp_path, timeout_ms=200), Log("error"))
        try:
            start = time.monotonic()
            with pytest.raises(RedisUnavailable):
                await store.execute([["PING"]])
            return time.monotonic() - start
        finally:
            await store.close()

    try:
        assert asyncio.run(scenario()) < 0.6
    finally:
        silent.close()


def test_the_pool_recovers_after_redis_restarts(redis_url, redis_server, tmp_path):
    async def scenario():
        store = ServerStore(general(redis_url, tmp_path), Log("error"))
        try:
            assert await store.read([["PING"]]) == ["PONG"]
            redis_server.stop()
            assert await store.read([["PING"]]) is None  # down: the route falls back
            redis_server.start()
            await asyncio.sleep(0.1)
            assert await store.read([["PING"]]) == ["PONG"]  # the stale connection was replaced
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_connection_kept_idle_across_a_redis_restart_is_replaced_before_the_next_call(
    redis_url, redis_server, tmp_path
):
    """Connections are kept between batches (redis/aio.py): one whose Redis went away while it
    sat idle must not cost the next call its read (the pool's check reconnects it first)."""

    async def scenario():
        store = ServerStore(general(redis_url, tmp_path), Log("error"))
        try:
            assert await store.read([["PING"]]) == ["PONG"]
            redis_server.stop()
            redis_server.start()
            await asyncio.sleep(0.1)  # the loop sees the old connection's end meanwhile
            return await store.read([["PING"]]), store.failures
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (["PONG"], 0)


def test_many_concurrent_operations_wait_for_a_bounded_pool(redis_url, redis_server, tmp_path):
    observer = redis_server.client()

    async def scenario():
        store = ServerStore(general(redis_url, tmp_path, timeout_ms=2000), Log("error"), pool_size=4)
        try:
            slow = [["EVAL", "local t = redis.call('TIME') return redis.call('INCR', KEYS[1])", "1", "n"]]
            replies = await asyncio.gather(*(store.read(slow) for _ in range(200)))
            return replies, int(observer.info("clients")["connected_clients"]) - 1
        finally:
            await store.close()

    replies, connections = asyncio.run(scenario())
    observer.close()
    assert sorted(r[0] for r in replies) == list(range(1, 201))  # none refused: they waited
    assert connections <= 4


def test_an_outage_is_logged_once_a_second_not_once_per_call(tmp_path, capsys):
    from sandbox.redis_server import free_port

    dead = general(f"redis://127.0.0.1:{free_port()}/0", tmp_path, timeout_ms=50)

    async def scenario():
        store = ServerStore(dead, Log("warning"))
        try:
            for _ in range(50):
                assert await store.read([["PING"]]) is None
        finally:
            await store.close()

    asyncio.run(scenario())
    lines = [line for line in capsys.readouterr().err.splitlines() if "redis_read_failed" in line]
    assert len(lines) == 1
