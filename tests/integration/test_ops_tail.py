"""`premium-hotline tail` on the event stream written by the real AGI scripts."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from tests.support import ops_calls


@pytest.fixture
def config(redis_url, tmp_path):
    return ops_calls.write_ops_config(tmp_path / "ph.conf", redis_url, "Europe/Paris", tmp_path / "spool")


@pytest.fixture
def client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def one_call(uid: str, now_ms: int, *, answered: bool = True) -> ops_calls.Plan:
    arrived = now_ms - 120_000
    human = arrived + 25_000 if answered else None
    return ops_calls.Plan(uid, "0899123456", arrived, arrived + 10_000, human, arrived + 90_000)


def tail(config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "tail", "-c", config, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_tail_from_the_start_prints_each_route_event_of_a_call_in_order_as_json(config, client):
    ops_calls.drive(one_call("1790000000.1", int(time.time() * 1000)), config, client)
    result = tail(config, "--from", "0", "--no-follow", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["type"] for e in events] == ["decided", "human", "ended"]
    assert [e["id"] for e in events] == [entry_id for entry_id, _ in client.xrange("ph:events")]
    assert events[0]["decided_tariff"] == "premium"
    assert events[1]["time_to_human_ms"] == "25000"
    assert events[2]["outcome"] == "answered" and events[2]["billable_s"] == "65"
    assert all("caller" not in e for e in events)  # the caller's hash stays in the call record


def test_tail_lines_are_readable_with_the_call_time_in_the_config_timezone(config, client):
    now_ms = int(time.time() * 1000)
    plan = one_call("1790000000.2", now_ms, answered=False)
    ops_calls.drive(plan, config, client)
    result = tail(config, "--from", "0", "--no-follow")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    import datetime as dt
    from zoneinfo import ZoneInfo

    arrived = dt.datetime.fromtimestamp(plan.arrived / 1000, ZoneInfo("Europe/Paris"))
    assert lines[0].startswith(arrived.strftime("%Y-%m-%d %H:%M:%S"))
    assert "decided" in lines[0] and "0899123456" in lines[0] and "premium 0.80/min (premium)" in lines[0]
    assert "ended" in lines[1] and "abandoned" in lines[1] and "waited=90.0s" in lines[1]
    assert "COMMITMENT BROKEN" in lines[1]  # 90 s > 60 s committed, premium


def test_tail_from_an_id_includes_that_event_and_n_shows_the_last_ones(config, client):
    ops_calls.drive(one_call("1790000000.3", int(time.time() * 1000)), config, client)
    ids = [entry_id for entry_id, _ in client.xrange("ph:events")]
    from_second = tail(config, "--from", ids[1], "--no-follow", "--json")
    assert [json.loads(line)["id"] for line in from_second.stdout.splitlines()] == ids[1:]
    last_two = tail(config, "-n", "2", "--no-follow", "--json")
    assert [json.loads(line)["id"] for line in last_two.stdout.splitlines()] == ids[-2:]
    assert tail(config, "--no-follow").stdout == ""  # from now: nothing yet


def read_lines(proc: subprocess.Popen, count: int, timeout: float) -> list[str]:
    lines: list[str] = []
    buffer = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while len(lines) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines += [line.decode() for line in done]
    return lines


def test_tail_follows_new_events_like_tail_f_and_survives_a_redis_restart(config, client, redis_server):
    ops_calls.drive(one_call("1790000000.4", int(time.time() * 1000)), config, client)  # history
    proc = subprocess.Popen(
        [sys.executable, "-m", "premium_hotline.cli", "tail", "-c", config, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)  # started, at the end of the stream
        ops_calls.drive(one_call("1790000000.5", int(time.time() * 1000)), config, client)
        lines = read_lines(proc, 3, timeout=15)
        assert [json.loads(line)["uniqueid"] for line in lines] == ["1790000000.5"] * 3
        redis_server.stop()
        time.sleep(1.5)
        redis_server.start()  # same port, empty (no persistence): the stream starts again
        import redis

        fresh = redis.Redis.from_url(redis_server.url, decode_responses=True)
        time.sleep(1.5)
        fresh.xadd("ph:events", {"type": "decided", "uniqueid": "1790000000.6", "queue": "support"})
        later = read_lines(proc, 1, timeout=15)
        fresh.close()
        # A restarted, emptied Redis numbers entries from its clock again: still after our cursor.
        assert [json.loads(line)["uniqueid"] for line in later] == ["1790000000.6"]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        assert proc.returncode == 0
        assert b"lost Redis" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_tail_refuses_an_id_that_is_not_a_stream_id(config):
    result = tail(config, "--from", "yesterday")
    assert result.returncode == 2
    assert "not a stream id" in result.stderr
