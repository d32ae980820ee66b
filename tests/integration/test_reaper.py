"""Calls no hang-up closed (the PBX died under them) are closed as `lost`, once, and corrected
exactly once when their hang-up turns up late, live or replayed from the spool.

The routes run as Asterisk runs the plain AGI scripts; the reaper runs as `premium-hotline reap`
(or its function, where a test needs to step in between its round trips), against a real
redis-server. Calls arrive two hours ago (tests/support/calls.T0) with `max_call_s = 60`, so
every one still open is past its deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from premium_hotline.config import load_config
from premium_hotline.core.kpi import Tally, accumulate
from premium_hotline.redis.connect import plain_client
from premium_hotline.store import reaper
from premium_hotline.store.spool_replay import replay
from sandbox.agi_peer import default_env
from sandbox.fastagi import FastAgiServerProcess
from sandbox.redis_server import RedisServer
from tests.support.calls import NUMBERS, READY, T0, Transport, call_channel, dump

CLI = Path(sys.executable).with_name("premium-hotline")


@pytest.fixture
def config(write_config, redis_url):
    return write_config(NUMBERS, redis_url=redis_url, max_call_s=60, redis_timeout_ms=500)


@pytest.fixture
def client(redis_server):
    client = redis_server.client()
    yield client
    client.close()


class Line:
    """One call's channel, stepped by hand: arrive, maybe answered, maybe hung up."""

    def __init__(self, config: str, uid: str, start_ms: int) -> None:
        self.transport = Transport(config)
        self.uid = uid
        self.channel, self.clock = call_channel(start_ms, READY)
        self.start = start_ms

    def run(self, route: str, transport: Transport | None = None) -> None:
        env = default_env(uniqueid=self.uid, agi_request=f"{route}.py")
        result = (transport or self.transport).run(route, env, self.channel)
        assert result.returncode == 0, result.stderr

    def arrive(self) -> Line:
        self.run("decide_tariff")
        self.channel.variables["PH_QUEUED_MS"] = str(self.start + 2500)
        return self

    def answered(self, after_ms: int = 8000) -> Line:
        self.clock.now = self.start + after_ms
        self.channel.functions["SHARED(PH_HUMAN_MS)"] = str(self.clock.now)
        self.run("agent_answered")
        return self

    def hang_up(self, after_ms: int, transport: Transport | None = None) -> Line:
        self.clock.now = self.start + after_ms
        self.channel.dead = True
        self.run("call_ended", transport)
        return self


def unreachable(config: str) -> str:
    """The same config with Redis away (same spool): the routes' writes go to the spool."""
    path = Path(config).with_name("redis-down.conf")
    text = Path(config).read_text()
    url = next(line for line in text.splitlines() if line.startswith("redis_url"))
    path.write_text(text.replace(url, "redis_url = redis://127.0.0.1:1/0"))
    return str(path)


def reap_cli(config: str) -> str:
    proc = subprocess.run([str(CLI), "reap", "--config", config], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def kpis(client) -> Tally:
    """Every KPI minute of the test summed, premium and free apart, as `stats` sums them."""
    by_tariff: dict[str, Tally] = {}
    for key in client.scan_iter("ph:kpi:*"):
        accumulate(by_tariff, client.hgetall(key))
    return by_tariff


def test_calls_left_open_are_closed_as_lost_counted_once_and_a_second_reap_changes_nothing(config, client):
    waiting = Line(config, "1700000300.1", T0).arrive()
    talking = Line(config, "1700000300.2", T0 + 1000).arrive().answered()
    ended = Line(config, "1700000300.3", T0 + 2000).arrive().answered().hang_up(60_000)
    assert client.zcard("ph:open:{support}") == 2  # the ended call left the index at its hang-up

    out = reap_cli(config)
    assert "closed 2 call(s) as lost" in out

    for line in (waiting, talking):
        record = client.hgetall(f"ph:call:{{{line.uid}}}")
        assert (record["outcome"], record["billable_s"], record["amount"], record["talk_s"]) == (
            "lost",
            "0",
            "0.00",
            "0",
        )
        assert "ended_at" not in record and int(record["reaped_at"]) > T0
    talking_record = client.hgetall(f"ph:call:{{{talking.uid}}}")
    assert talking_record["last_seen_at"] == talking_record["human_at"]
    assert talking_record["wait_ms"] == talking_record["time_to_human_ms"] == "8000"
    assert client.hget(f"ph:call:{{{ended.uid}}}", "outcome") == "answered"
    premium = kpis(client)["premium"]
    assert (premium["offered"], premium["lost"], premium["answered"], premium["billable_s"]) == (3, 2, 1, 52)
    assert client.zcard("ph:open:{support}") == 0 and client.zcard("ph:waiting:{support}") == 0
    lost_events = [f for _, f in client.xrange("ph:events") if f["type"] == "lost"]
    assert sorted(f["uniqueid"] for f in lost_events) == [waiting.uid, talking.uid]

    before = dump(client)
    assert "closed 0 call(s) as lost" in reap_cli(config)
    assert dump(client) == before


def test_a_late_hang_up_moves_a_lost_call_to_its_real_outcome_exactly_once(config, client):
    line = Line(config, "1700000301.1", T0).arrive().answered()
    reap_cli(config)
    assert kpis(client)["premium"]["lost"] == 1

    line.hang_up(40 * 60_000)  # a very long call: its hang-up comes after max_call_s
    record = client.hgetall(f"ph:call:{{{line.uid}}}")
    assert (record["outcome"], record["billable_s"]) == ("answered", str(40 * 60 - 8))
    assert "reaped_at" in record  # the audit trail: closed as lost, then found
    premium = kpis(client)["premium"]
    assert (premium["offered"], premium["answered"], premium["lost"]) == (1, 1, 0)
    minute = client.hgetall(next(client.scan_iter("ph:kpi:*")))
    assert "lost:premium" not in minute  # taken back to 0: the field is gone, not left at "0"

    before = dump(client, skip=("ph:events",))
    line.hang_up(40 * 60_000)  # the same hang-up again (a retried live write: its event is added again)
    reap_cli(config)
    assert dump(client, skip=("ph:events",)) == before


def test_a_hang_up_spooled_during_an_outage_and_replayed_after_the_reap_corrects_once(
    config, client, redis_url
):
    line = Line(config, "1700000302.1", T0).arrive()
    down = unreachable(config)
    line.hang_up(30_000, Transport(down))  # Redis unreachable: call_ended spooled
    assert client.hget(f"ph:call:{{{line.uid}}}", "outcome") is None

    reap_cli(config)
    assert kpis(client)["premium"]["lost"] == 1

    general = load_config(config).general
    spool = Path(general.spool_dir) / "spool.jsonl"
    spooled = spool.read_text()
    connection = plain_client(redis_url, 2.0)
    try:
        assert replay(general.spool_dir, connection.pipeline).batches == 1
        after = dump(client)
        record = client.hgetall(f"ph:call:{{{line.uid}}}")
        assert record["outcome"] == "abandoned"
        premium = kpis(client)["premium"]
        assert (premium["offered"], premium["abandoned"], premium["lost"]) == (1, 1, 0)
        # The same line again (as a replay interrupted before saving its progress resends it).
        spool.write_text(spooled)
        assert replay(general.spool_dir, connection.pipeline).batches == 1
        assert dump(client) == after
    finally:
        connection.close()


def test_an_arrival_replayed_after_its_call_was_reaped_changes_nothing(config, client, redis_url):
    down = unreachable(config)
    line = Line(config, "1700000303.1", T0)
    line.run("decide_tariff", Transport(down))  # spooled; then the PBX dies
    general = load_config(config).general
    spool = Path(general.spool_dir) / "spool.jsonl"
    spooled = spool.read_text()
    connection = plain_client(redis_url, 2.0)
    try:
        assert replay(general.spool_dir, connection.pipeline).batches == 1
        assert client.zcard("ph:open:{support}") == 1  # replayed: a call decided in an outage may die too
        assert "closed 1 call(s) as lost" in reap_cli(config)
        after = dump(client)
        # The arrival's batch once more (a line an interrupted replay resends), then a reap.
        spool.write_text(spooled)
        assert replay(general.spool_dir, connection.pipeline).batches == 1
        assert "closed 0 call(s) as lost (1 already counted)" in reap_cli(config)
        assert dump(client) == after
    finally:
        connection.close()


def test_a_hang_up_landing_between_the_reapers_read_and_write_is_never_overwritten(config, client, redis_url):
    line = Line(config, "1700000304.1", T0).arrive().answered()
    general = load_config(config).general
    connection = plain_client(redis_url, 2.0)

    def execute(commands):
        replies = connection.pipeline(commands)
        if commands and commands[0][0] == "HGETALL":  # the reaper has read the hash: hang up now
            line.hang_up(50_000)
        return replies

    try:
        report = reaper.reap(execute, general, now_ms=T0 + 3_600_000)
    finally:
        connection.close()
    assert (report.lost, report.already_closed) == (0, 1)
    assert client.hget(f"ph:call:{{{line.uid}}}", "outcome") == "answered"
    premium = kpis(client)["premium"]
    assert (premium["offered"], premium["answered"], premium["lost"]) == (1, 1, 0)
    assert client.zcard("ph:open:{support}") == 0


def test_one_reaper_at_a_time_and_a_reaper_killed_half_way_is_finished_by_the_next(config, client, redis_url):
    line = Line(config, "1700000305.1", T0).arrive()
    general = load_config(config).general
    connection = plain_client(redis_url, 2.0)

    class Killed(Exception):
        pass

    def dies_after_the_hash_write(commands):
        replies = connection.pipeline(commands)
        if commands and commands[0][1] == reaper.CLOSE_LOST_LUA:
            raise Killed
        return replies

    try:
        client.set("ph:reaper", "someone-else", px=5000)
        assert reaper.reap(connection.pipeline, general, now_ms=T0 + 3_600_000).busy
        client.delete("ph:reaper")
        with pytest.raises(Killed):
            reaper.reap(dies_after_the_hash_write, general, now_ms=T0 + 3_600_000)
        assert client.hget(f"ph:call:{{{line.uid}}}", "outcome") == "lost"
        assert kpis(client) == {}  # written, not yet counted: still in the index
        assert client.zcard("ph:open:{support}") == 1
        report = reaper.reap(connection.pipeline, general, now_ms=T0 + 3_600_000)
    finally:
        connection.close()
    assert report.lost == 1
    assert kpis(client)["premium"]["lost"] == 1 and client.zcard("ph:open:{support}") == 0


def test_a_call_not_yet_past_max_call_s_is_left_open(write_config, redis_url, client):
    config = write_config(NUMBERS, redis_url=redis_url, max_call_s=6 * 3600)
    Line(config, "1700000306.1", T0).arrive()
    assert "closed 0 call(s) as lost" in reap_cli(config)
    assert client.hget("ph:call:{1700000306.1}", "outcome") is None
    assert client.zcard("ph:open:{support}") == 1


def test_the_fastagi_server_reaps_in_the_background_and_says_redis_does_not_persist(config, client):
    with FastAgiServerProcess(config, "--reap-every", "0.3") as server:
        line = Line(config, "1700000307.1", T0)
        line.run("decide_tariff", Transport(config, server.port))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and client.hget(f"ph:call:{{{line.uid}}}", "outcome") is None:
            time.sleep(0.1)
        assert server.stop() == 0
    assert client.hget(f"ph:call:{{{line.uid}}}", "outcome") == "lost"
    assert kpis(client)["premium"]["lost"] == 1
    events = [json.loads(text) for text in server.stderr.splitlines() if text.startswith("{")]
    warned = [e for e in events if e["event"] == "redis_not_durable"]
    assert len(warned) == 1 and warned[0]["appendonly"] == "no", server.stderr[-2000:]
    assert [e["lost"] for e in events if e["event"] == "calls_lost"] == [1]


def test_no_durability_warning_when_redis_persists_every_write(write_config, tmp_path):
    durable = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "everysec"]).start()
    try:
        config = write_config(NUMBERS, redis_url=durable.url, log_level="debug")
        proc = subprocess.run(
            [str(CLI), "reap", "--config", config], capture_output=True, text=True, timeout=30
        )
    finally:
        durable.cleanup()
    assert proc.returncode == 0, proc.stderr
    assert "redis_not_durable" not in proc.stderr
