"""Hang-ups at every step of every route, both transports.

For each route, a full run first counts the commands it sends. Then the exchange is cut after
each command in turn, every way Asterisk (or a dying PBX) can cut it:

- plain AGI script: end of input (EOF on stdin), SIGHUP (what Asterisk sends on hang-up), a 511
  reply (the command is refused on a dead channel);
- FastAGI server: the `HANGUP` line, the connection closed (EOF), a 511 reply.

Every time: the script exits 0 within a bound (the server ends the session, and stops at the end
with nothing in flight), nothing but AGI commands reached stdout / the socket, nothing but JSON
log lines reached stderr (no traceback), and no command was sent after the cut. Then the call
is closed as Asterisk would close it: the hang-up handler (call_ended) runs on the channel as the
cut left it, and the record must carry the right outcome and be counted in the KPIs exactly
once. A cut inside call_ended itself must still close the record when its one read was answered
(it has everything it needs by then).
"""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox.agi_peer import PREMIUM_MARKS, ChannelModel, default_env, env_block, parse_args
from sandbox.fastagi import FastAgiServerProcess, fastagi_env
from tests.support.calls import NUMBERS, READY, T0, Clock, Transport

DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
BOUND_S = 6.0  # a plain script's start-up on a loaded 2-core CI machine included; no wait is longer
ROUTES = ("decide_tariff", "agent_answered", "call_ended")


def channel_before(route: str) -> tuple[ChannelModel, Clock]:
    """The caller's channel as it is when Asterisk runs `route` in a normal call."""
    clock = Clock(T0 + 1000)
    channel = ChannelModel(variables={"PH_ARRIVED_MS": str(T0)}, functions=dict(READY), clock_ms=clock)
    if route == "decide_tariff":
        return channel, clock
    channel.variables.update(PREMIUM_MARKS, PH_QUEUED_MS=str(T0 + 2000))
    if route == "agent_answered":  # answered after 75 s: the promise is broken, 5 commands
        channel.functions["SHARED(PH_HUMAN_MS)"] = str(T0 + 75_000)
        clock.now = T0 + 75_500
        return channel, clock
    channel.functions["SHARED(PH_HUMAN_MS)"] = str(T0 + 20_000)  # call_ended: answered in 20 s
    channel.variables["PH_HUMAN_MS"] = str(T0 + 20_000)
    clock.now = T0 + 80_000
    channel.dead = True
    return channel, clock


# What call_ended must record, per route cut: (outcome, tariff, billable_s).
EXPECTED = {
    "decide_tariff": ("abandoned", None, "0"),  # hung up before reaching anyone: nothing billed
    "agent_answered": ("answered", "free", "0"),  # reached a person, too late: free
    "call_ended": ("answered", "premium", "60"),
}


def assert_protocol_only(commands: list[str], limit: int) -> None:
    assert len(commands) <= limit, commands
    for line in commands:
        args = parse_args(line)
        get = args[:3] == ["GET", "FULL", "VARIABLE"]
        assert get or (args[:2] == ["SET", "VARIABLE"] and args[2].startswith(("PH_", "CDR(", "ARRAY("))), (
            line
        )
        assert len(args) == 4, line


def assert_clean_stderr(stderr: str) -> None:
    assert "Traceback" not in stderr
    for line in stderr.splitlines():
        if line.strip():
            json.loads(line)  # a log line, nothing else


def fastagi_eof(port: int, route: str, env: dict, channel: ChannelModel, close_after: int) -> float:
    """Asterisk's side of a FastAGI call that vanishes once `close_after` commands arrived."""
    start = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        sock.sendall(env_block(fastagi_env(env, route)))
        buffer = b""
        count = 0
        while count < close_after:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer and count < close_after:
                line, buffer = buffer.split(b"\n", 1)
                count += 1
                reply = channel.reply(line.decode("utf-8", "replace"))
                if count < close_after:
                    sock.sendall((reply + "\n").encode())
    finally:
        sock.close()
    return time.monotonic() - start


def count_commands(transport: Transport, route: str) -> int:
    channel, _ = channel_before(route)
    result = transport.run(route, default_env(uniqueid=f"1700000600.{route}"), channel)
    assert result.returncode == 0, result.stderr
    return len(channel.commands)


@pytest.fixture
def config(write_config, redis_url):
    # default_queue: a call cut before decide_tariff named its queue is still a KPI row.
    return write_config(
        NUMBERS, redis_url=redis_url, log_level="info", agi_timeout_ms=1500, default_queue="support"
    )


def close_and_check(
    redis, transport: Transport, route: str, uid: str, channel, clock, read_answered: bool
) -> bool:
    """Run the hang-up handler on the cut channel (unless call_ended itself was cut); check the
    record. Returns whether a record is expected."""
    if route != "call_ended":
        clock.now = (T0 + 40_000) if route == "decide_tariff" else (T0 + 135_500)
        channel.dead = True
        result = transport.run("call_ended", default_env(uniqueid=uid), channel)
        assert result.returncode == 0, result.stderr
    elif not read_answered:  # call_ended's one read never answered: nothing known, nothing written
        assert not redis.exists(f"ph:call:{{{uid}}}")
        return False
    key = f"ph:call:{{{uid}}}"
    deadline = time.monotonic() + 5
    while not redis.hget(key, "outcome") and time.monotonic() < deadline:
        time.sleep(0.02)
    record = redis.hgetall(key)
    outcome, tariff, billable = EXPECTED[route]
    assert record.get("outcome") == outcome, (route, record)
    assert record["billable_s"] == billable, (route, record)
    if tariff:
        assert record["tariff"] == tariff, (route, record)
    return True


def kpi_totals(redis) -> tuple[int, int]:
    offered = counted = 0
    for key in redis.scan_iter("ph:kpi:*"):
        for field, value in redis.hgetall(key).items():
            if field.startswith(("offered:", "short_abandon:")):
                offered += int(value)
    for key in redis.scan_iter("ph:counted:*"):
        counted += redis.scard(key)
    return offered, counted


@pytest.mark.parametrize("route", ROUTES)
def test_a_plain_script_cut_at_every_step(agi_script, config, redis_server, route):
    redis = redis_server.client()
    transport = Transport(config)
    total = count_commands(transport, route)
    assert total >= 2
    redis.flushall()

    def cut(kind: str, step: int) -> bool:
        uid = f"17000006{ROUTES.index(route)}{'es5'.index(kind[0])}.{step}"
        channel, clock = channel_before(route)
        faults = {
            "eof": {"cut_after": step},
            "sighup": {"sighup_after": step},
            "511": {"raw_replies": {step: DEAD}},
        }
        result = transport.run(route, default_env(uniqueid=uid), channel, **faults[kind])
        assert result.returncode == 0, (kind, step, result.stderr)
        assert result.elapsed_s < BOUND_S, (kind, step, result.elapsed_s)
        # Nothing after the cut: EOF is noticed on the next command's read, SIGHUP and 511
        # before the next command is sent.
        assert_protocol_only(channel.commands, step + 1 if kind == "eof" else step)
        assert_clean_stderr(result.stderr)
        # For a cut inside call_ended: was its one read (command 1) answered before the cut?
        read_answered = step >= (1 if kind in ("eof", "sighup") else 2)
        return close_and_check(redis, transport, route, uid, channel, clock, read_answered)

    jobs = [
        (kind, step)
        for kind in ("eof", "sighup", "511")
        for step in range(total + 1)
        if step or kind == "eof"
    ]
    with ThreadPoolExecutor(3) as pool:  # the scripts are processes: two cores stay busy
        closed = sum(pool.map(lambda job: cut(*job), jobs))
    time.sleep(0.3)
    assert kpi_totals(redis) == (closed, closed)  # each closed call counted once, no more
    redis.close()


@pytest.mark.parametrize("route", ROUTES)
def test_a_fastagi_session_cut_at_every_step(config, redis_server, route):
    redis = redis_server.client()
    with FastAgiServerProcess(config) as server:
        transport = Transport(config, server.port)
        total = count_commands(transport, route)
        redis.flushall()
        closed = cuts = 0
        for kind in ("eof", "hangup", "511"):
            for step in range(total + 1):
                if kind != "eof" and step == 0:
                    continue
                uid = f"17000007{ROUTES.index(route)}{'eh5'.index(kind[0])}.{step}"
                channel, clock = channel_before(route)
                env = default_env(uniqueid=uid)
                if kind == "eof":
                    elapsed = fastagi_eof(server.port, route, env, channel, step)
                    limit = step
                else:
                    faults = {"hangup": {"hangup_after": step}, "511": {"raw_replies": {step: DEAD}}}
                    result = transport.run(route, env, channel, **faults[kind])
                    elapsed, limit = result.elapsed_s, step
                    assert result.returncode == 0
                cuts += 1
                assert elapsed < BOUND_S, (kind, step, elapsed)
                assert_protocol_only(channel.commands, limit)
                # HANGUP and 511 replace the reply to command `step`; EOF comes before it.
                answered_read = step >= 2  # the reply to command 1 (the read) came before the cut
                closed += close_and_check(redis, transport, route, uid, channel, clock, answered_read)
        # Still serving, with nothing stuck: a normal call goes through.
        assert count_commands(transport, route) == total
        assert server.stop() == 0
    assert_clean_stderr(server.stderr)
    events = [json.loads(line) for line in server.stderr.splitlines() if line.strip()]
    stopped = next(e for e in events if e["event"] == "stopped")
    assert stopped["cancelled"] == 0 and stopped["failed"] == 0
    assert stopped["hangups"] + stopped["dropped"] >= cuts
    time.sleep(0.3)
    assert kpi_totals(redis)[0] == kpi_totals(redis)[1]
    redis.close()
