"""The FastAGI server's stores against a real redis-server: the plain script's replies exactly,
a deadline on every operation, and connections that survive a Redis restart."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from premium_hotline.config import General
from premium_hotline.log import Log
from premium_hotline.store.async_backend import make_store
from premium_hotline.store.resp import RedisUnavailable, RespConnection, RespError

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


@pytest.mark.parametrize("client", ["resp", "redis-py"])
def test_replies_are_the_plain_clients_reply_for_reply(redis_url, redis_server, tmp_path, client):
    plain = RespConnection(redis_url, 1).pipeline(COMMANDS)
    redis_server.client().flushall()

    async def scenario():
        store = make_store(general(redis_url, tmp_path), Log("error"), client)
        try:
            return await store._execute(COMMANDS)
        finally:
            await store.close()

    ours = asyncio.run(scenario())
    assert same(ours, plain), (ours, plain)
    assert isinstance(ours[1], RespError) and isinstance(ours[2], RespError)


@pytest.mark.parametrize("client", ["resp", "redis-py"])
def test_a_redis_that_never_answers_costs_the_timeout_and_no_more(tmp_path, client):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"

    async def scenario():
        store = make_store(general(url, tmp_path, timeout_ms=200), Log("error"), client)
        try:
            start = time.monotonic()
            with pytest.raises(RedisUnavailable):
                await store._execute([["PING"]])
            return time.monotonic() - start
        finally:
            await store.close()

    try:
        assert asyncio.run(scenario()) < 0.6
    finally:
        silent.close()


def test_the_pool_recovers_after_redis_restarts(redis_url, redis_server, tmp_path):
    async def scenario():
        store = make_store(general(redis_url, tmp_path), Log("error"))
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


def test_many_concurrent_operations_share_a_bounded_pool(redis_url, redis_server, tmp_path):
    async def scenario():
        store = make_store(general(redis_url, tmp_path, timeout_ms=2000), Log("error"), pool_size=4)
        try:
            replies = await asyncio.gather(*(store.read([["INCR", "n"]]) for _ in range(200)))
            return replies, store.pool.open_connections
        finally:
            await store.close()

    replies, connections = asyncio.run(scenario())
    assert sorted(r[0] for r in replies) == list(range(1, 201))
    assert connections <= 4


def test_an_outage_is_logged_once_a_second_not_once_per_call(tmp_path, capsys):
    from tests.support.redis_server import free_port

    dead = general(f"redis://127.0.0.1:{free_port()}/0", tmp_path, timeout_ms=50)

    async def scenario():
        store = make_store(dead, Log("warning"))
        try:
            for _ in range(50):
                assert await store.read([["PING"]]) is None
        finally:
            await store.close()

    asyncio.run(scenario())
    lines = [line for line in capsys.readouterr().err.splitlines() if "redis_read_failed" in line]
    assert len(lines) == 1
