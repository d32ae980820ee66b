"""Redis outages lose nothing: writes spooled while Redis is down are replayed exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.agi_peer import ChannelModel, default_env, run_script
from sandbox.redis_server import RedisServer
from tests.support.calls import wait_closed

T0 = (int(time.time() * 1000) // 60_000) * 60_000 - 7_200_000
# No agent ready: the decision needs no Redis read, so it is the same with or without an outage.
NOT_READY = {
    "QUEUE_MEMBER(support,ready)": "0",
    "QUEUE_MEMBER(support,logged)": "1",
    "QUEUE_WAITING_COUNT(support)": "0",
}
NUMBERS = "[0899123456]\nqueue = support\nrate = 0.80/min\n"


UIDS = [f"1700000100.{index}" for index in range(6)]


def one_call(agi_script, config, index: int) -> None:
    start = T0 + index * 17_000
    now = {"ms": start}
    uid = f"1700000100.{index}"
    channel = ChannelModel(
        variables={"PH_ARRIVED_MS": str(start)}, functions=NOT_READY, clock_ms=lambda: now["ms"]
    )
    run_script(agi_script("decide_tariff"), default_env(uniqueid=uid), channel, config=config)
    channel.variables["PH_QUEUED_MS"] = str(start + 500)
    if index % 3:
        now["ms"] = start + 4000 + index * 1000
        channel.functions["SHARED(PH_HUMAN_MS)"] = str(now["ms"])
        run_script(agi_script("agent_answered"), default_env(uniqueid=uid), channel, config=config)
    now["ms"] += 30_000
    channel.dead = True
    run_script(agi_script("call_ended"), default_env(uniqueid=uid), channel, config=config)


def snapshot(client) -> dict:
    state = {}
    for key in sorted(client.keys("ph:*")):
        if ":replayed:" in key:  # the replay's own bookkeeping (batch ids whose event it added)
            continue
        kind = client.type(key)
        if kind == "hash":
            state[key] = client.hgetall(key)
        elif kind == "set":
            state[key] = sorted(client.smembers(key))
        elif kind == "stream":
            state[key] = sorted((f["type"], f["uniqueid"]) for _, f in client.xrange(key))
    return state


def replay(config: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("premium-hotline")
    return subprocess.run(
        [str(cli), "replay", "--config", config], capture_output=True, text=True, env=os.environ
    )


@pytest.fixture
def durable_redis():
    """A redis-server that keeps its data across a stop and start (AOF), like a production one."""
    server = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    yield server
    server.cleanup()


def test_calls_during_an_outage_end_up_exactly_as_without_one(
    agi_script, durable_redis, write_config, tmp_path
):
    redis_server = durable_redis
    # The reference runs with a deadline no loaded machine misses (a write held past 150 ms would
    # spool it, and it would not be fault-free); the outage run's refused connections never wait on it.
    config = write_config(NUMBERS, redis_url=redis_server.url, redis_timeout_ms=5000)
    client = redis_server.client()
    for index in range(6):
        one_call(agi_script, config, index)
    wait_closed(client, UIDS)
    reference = snapshot(client)
    client.flushall()

    config = write_config(NUMBERS, redis_url=redis_server.url, redis_timeout_ms=150)

    for index in range(6):
        if index == 2:
            redis_server.stop()
        if index == 5:
            redis_server.start()
        one_call(agi_script, config, index)
    spool = tmp_path / "spool" / "spool.jsonl"
    assert spool.exists() and spool.read_text().count("\n") >= 6
    result = replay(config)
    assert result.returncode == 0, result.stderr
    wait_closed(redis_server.client(), UIDS)
    client = redis_server.client()
    assert snapshot(client) == reference

    # A second replay (or one interrupted and restarted) changes nothing.
    result = replay(config)
    assert result.returncode == 0 and "replayed 0 batch" in result.stdout
    assert snapshot(client) == reference


def test_replay_with_redis_still_down_keeps_the_spool(agi_script, redis_server, write_config, tmp_path):
    from sandbox.redis_server import free_port

    config = write_config(NUMBERS, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_ms=100)
    one_call(agi_script, config, 1)
    time.sleep(0.5)
    result = replay(config)
    assert result.returncode == 1 and "the spool is kept" in result.stderr
    # Redis is asked first (PING): while it is down the spool is left exactly as it was.
    assert (tmp_path / "spool" / "spool.jsonl").read_text().count("\n") >= 1
    assert not [p for p in (tmp_path / "spool").iterdir() if p.name.startswith("replaying-")]
