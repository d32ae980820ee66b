"""The same call, through the plain AGI script and through `premium-hotline serve`, must leave the
same channel and the same Redis: same command lines on the wire, same variables, and every Redis
key and field equal (stream entry IDs and TTL seconds aside), call by call."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.agi_peer import ChannelModel, default_env, run_script
from sandbox.fastagi import FastAgiServerProcess, run_fastagi
from sandbox.redis_server import free_port
from tests.support.hotline_numbers import NUMBERS, READY, T0

NOBODY = {**READY, "QUEUE_MEMBER(support,ready)": "0"}


def _config(directory, redis_url: str, **general) -> str:
    general = {
        "redis_url": redis_url,
        "redis_timeout_ms": 300,
        "spool_dir": str(directory / "spool"),
        "caller_hash_key": "test-key-0123456789abcdef",
        "default_queue": "support",
        **general,
    }
    path = directory / "premium-hotline.conf"
    path.write_text("[general]\n" + "".join(f"{k} = {v}\n" for k, v in general.items()) + NUMBERS)
    return str(path)


@pytest.fixture(scope="module")
def server(redis_server, tmp_path_factory):
    """The server, on redis-py's asyncio client: it must give the plain script's results."""
    config = _config(tmp_path_factory.mktemp("fastagi"), redis_server.url)
    with FastAgiServerProcess(config) as process:
        yield process, config
    assert process.stop() == 0


@pytest.fixture
def redis(redis_url, redis_server):
    client = redis_server.client()
    yield client
    client.close()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def snapshot(client, settle_s: float = 3.0) -> dict:
    """Every key with its value, stream entries without their IDs; after the writes settle."""
    deadline = time.monotonic() + settle_s
    last = None
    while time.monotonic() < deadline:  # the write happens after Asterisk is released
        state = _dump(client)
        if state == last and state:
            return state
        last = state
        time.sleep(0.15)
    return last or {}


def _dump(client) -> dict:
    state = {}
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key)
        if kind == "hash":
            value = client.hgetall(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "stream":
            value = [fields for _id, fields in client.xrange(key)]
        else:
            value = client.get(key)
        ttl = client.ttl(key)
        state[key] = (kind, value, "no ttl" if ttl < 0 else "ttl")
    return state


def both_ways(server, redis, tmp_path, steps, *, fresh_db=True):
    """Run `steps` [(route, env, channel_setup)] once through the scripts, once through the
    server, each on a clean database; return (script_result, server_result) as
    (channels' command lines, variables set, Redis snapshot)."""
    process, config = server
    results = []
    for transport in ("script", "server"):
        if fresh_db:
            redis.flushall()
        clock = Clock(T0)
        channel = ChannelModel(functions=dict(READY), clock_ms=clock)
        lines: list[list[str]] = []
        for route, env, setup in steps:
            setup(channel, clock)
            before = len(channel.commands)
            if transport == "script":
                from tests.conftest import ROOT

                result = run_script(str(ROOT / "agi_scripts" / f"{route}.py"), env, channel, config=config)
            else:
                script = env.pop("_script", route)
                result = run_fastagi(process.port, script, env, channel)
            assert result.returncode == 0, result.stderr
            lines.append(channel.commands[before:])
        results.append((lines, list(channel.sets), snapshot(redis)))
    return results


def _noop(channel, clock):
    pass


def _with(functions=None, variables=None, at=None):
    def setup(channel, clock):
        channel.functions.update(functions or {})
        channel.variables.update(variables or {})
        if at is not None:
            clock.now = at

    return setup


@pytest.mark.parametrize(
    ("extension", "functions", "variables"),
    [
        ("0899123456", READY, {}),  # premium
        ("0899123456", NOBODY, {}),  # free: nobody ready
        ("0899000009", READY, {}),  # free: IVR on the path
        ("0805000000", READY, {}),  # free range
        ("0123456789", READY, {}),  # not a hotline number
        ("0899123456", READY, {"PH_IVR": "1", "PH_ARRIVED_MS": str(T0 - 4000)}),  # dialplan marks
    ],
)
def test_a_decision_is_the_same_through_the_script_and_the_server(
    server, redis, tmp_path, extension, functions, variables
):
    steps = [("decide_tariff", default_env(extension=extension), _with(functions, variables))]
    (script_lines, script_sets, script_db), (server_lines, server_sets, server_db) = both_ways(
        server, redis, tmp_path, steps
    )
    assert server_lines == script_lines  # byte for byte on the wire
    assert server_sets == script_sets
    assert server_db == script_db
    assert any(key.startswith("ph:call:") for key in server_db)


def test_a_whole_call_is_the_same_through_the_script_and_the_server(server, redis, tmp_path):
    uid = "1700000000.7"
    steps = [
        ("decide_tariff", default_env(uniqueid=uid), _noop),
        (
            "agent_answered",
            default_env(uniqueid=uid, agi_request="agent_answered.py"),
            _with(
                variables={"PH_QUEUED_MS": str(T0 + 12_000), "MEMBERINTERFACE": "Local/agent1@agents/n"},
                at=T0 + 25_000,
            ),
        ),
        (
            "call_ended",
            default_env(uniqueid=uid, agi_request="call_ended.py"),
            _with(variables={"QUEUESTATUS": ""}, at=T0 + 145_000),
        ),
    ]
    (script_lines, script_sets, script_db), (server_lines, server_sets, server_db) = both_ways(
        server, redis, tmp_path, steps
    )
    assert server_lines == script_lines
    assert server_sets == script_sets
    assert server_db == script_db
    record = server_db[f"ph:call:{{{uid}}}"][1]
    assert (record["outcome"], record["tariff"], record["billable_s"]) == ("answered", "premium", "120")


def test_the_query_string_form_is_the_argument_form(server, redis, tmp_path):
    """`AGI(decide_tariff.py,0899123456)` and `agi://.../decide_tariff?0899123456` with an
    extension that is not a number: the dialled number can only come from the argument."""
    script_env = default_env(extension="s", agi_arg_1="0899123456")
    server_env = default_env(extension="s", _script="decide_tariff?0899123456")
    process, config = server
    results = []
    for transport, env in (("script", script_env), ("server", server_env)):
        redis.flushall()
        channel = ChannelModel(functions=dict(READY), clock_ms=Clock(T0))
        if transport == "script":
            from tests.conftest import ROOT

            run_script(str(ROOT / "agi_scripts" / "decide_tariff.py"), env, channel, config=config)
        else:
            run_fastagi(process.port, env.pop("_script"), env, channel)
        results.append((channel.sets, snapshot(redis)))
    assert results[0] == results[1]
    assert dict(results[1][0])["PH_TARIFF"] == "premium"


def test_a_hang_up_in_the_middle_ends_both_without_a_record(server, redis, tmp_path, agi_script):
    """Plain: SIGHUP from Asterisk; FastAGI: the `HANGUP` line. Either way the route stops.

    The middle of decide_tariff is between its two exchanges: after the read, before the set."""
    process, config = server
    redis.flushall()
    plain = ChannelModel(functions=dict(READY), clock_ms=Clock(T0))
    result = run_script(agi_script("decide_tariff"), default_env(), plain, config=config, sighup_after=1)
    assert result.returncode == 0
    fast = ChannelModel(functions=dict(READY), clock_ms=Clock(T0))
    run_fastagi(process.port, "decide_tariff", default_env(uniqueid="1700000000.2"), fast, hangup_after=1)
    time.sleep(0.5)
    assert list(redis.scan_iter("ph:call:*")) == []
    assert len(fast.commands) <= 2 and len(plain.commands) <= 1


def test_redis_down_falls_back_and_spools_the_same_batch(redis_server, tmp_path, agi_script):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    spools = {}
    variables = {}
    for transport in ("script", "server"):
        directory = tmp_path / transport
        directory.mkdir()
        config = _config(directory, dead, redis_timeout_ms=200)
        channel = ChannelModel(functions=dict(READY), clock_ms=Clock(T0))
        if transport == "script":
            run_script(agi_script("decide_tariff"), default_env(), channel, config=config)
        else:
            with FastAgiServerProcess(config) as process:
                run_fastagi(process.port, "decide_tariff", default_env(), channel)
                assert process.stop() == 0  # the drain waits for the spool write
        spool = directory / "spool" / "spool.jsonl"
        deadline = time.monotonic() + 3
        while not spool.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        spools[transport] = [
            {k: v for k, v in json.loads(line).items() if k != "t"} for line in spool.read_text().splitlines()
        ]
        variables[transport] = channel.sets
    assert variables["server"] == variables["script"]
    assert dict(variables["server"])["PH_REASON"] == "store_unavailable"
    assert spools["server"] == spools["script"] and len(spools["server"]) == 1
