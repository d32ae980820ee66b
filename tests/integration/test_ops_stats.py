"""`premium-hotline stats` on calls written by the real AGI scripts, against a hand count.

The hand count reads only the per-call hashes (`ph:call:{uid}`): outcome, decided tariff,
arrival, time to human. `stats` reads only the per-minute KPI counters. They must agree exactly
on counts, and within the published bound on percentiles.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import signal
import subprocess
import sys
import time

import pytest

from premium_hotline.core import kpi
from tests.support import ops_calls


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def run_stats(config: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "stats", "-c", config, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stats_json(config: str, *args: str) -> dict:
    result = run_stats(config, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_agrees_with_hand_count(report: dict, hand: dict) -> None:
    assert hand, "the hand count is empty: the data set did not land"
    queues = {queue for queue, _ in hand}
    assert queues <= set(report["queues"])
    for (queue, tariff), counted in hand.items():
        figures = report["queues"][queue][tariff]
        where = f"{queue}/{tariff}"
        for name in ("offered", "answered", "abandoned", "unanswered", "short_abandoned"):
            assert figures[name] == counted[name], (where, name)
        assert figures["commitments_broken"] == counted["breached"], where
        assert figures["answered_within_sl"] == counted["within_sl"], where
        assert figures["billable_min"] * 60 == counted["billable_s"], where
        assert figures["amount_cents"] == counted["amount_cents"], where
        if counted["answered"]:
            assert math.isclose(figures["asa_s"], counted["in_queue_ms"] / counted["answered"] / 1000)
            assert math.isclose(figures["tth_mean_s"], sum(counted["tth"]) / counted["answered"] / 1000)
            for q in kpi.QUANTILES:
                exact = ops_calls.nearest_rank(counted["tth"], q)
                reported = figures[f"tth_p{round(q * 100)}_s"] * 1000
                assert abs(reported - exact) <= kpi.percentile_error_bound_ms(exact), (where, q)
    for tariff in ("premium", "free", "all"):
        total = report["total"][tariff]
        rows = [c for (_, t), c in hand.items() if tariff in ("all", t)]
        assert total["offered"] == sum(r["offered"] for r in rows)
        assert total["answered"] == sum(r["answered"] for r in rows)
        assert total["abandoned"] == sum(r["abandoned"] for r in rows)
        assert total["commitments_broken"] == sum(r["breached"] for r in rows)


def test_stats_json_for_today_matches_a_hand_count_from_the_call_hashes(data):
    report = stats_json(data.config)
    assert report["window"]["label"] == "today"
    assert_agrees_with_hand_count(report, data.hand_count())
    total = report["total"]["all"]
    # The plan has every kind of call: the comparison above exercised each counter.
    assert total["answered"] and total["abandoned"] and total["unanswered"] and total["short_abandoned"]
    assert report["total"]["premium"]["commitments_broken"] >= 2
    assert 0 < total["premium_share"] < 1


def test_stats_over_an_explicit_window_counts_only_calls_that_arrived_in_it(data):
    zone = dt.timezone(dt.timedelta(0))
    start = data.now_ms - data.now_ms % 60_000 - 30 * 60_000
    end = start + 15 * 60_000
    since = dt.datetime.fromtimestamp(start / 1000, zone).isoformat()
    until = dt.datetime.fromtimestamp(end / 1000, zone).isoformat()
    report = stats_json(data.config, "--since", since, "--until", until)
    assert report["window"]["minutes"] == 15
    hand = data.hand_count(start, end)
    assert_agrees_with_hand_count(report, hand)
    assert report["total"]["all"]["offered"] < sum(c["offered"] for c in data.hand_count().values())


def test_stats_since_alone_runs_up_to_now(data):
    since = dt.datetime.fromtimestamp((data.now_ms - 3_600_000) / 1000, dt.UTC).isoformat()
    report = stats_json(data.config, "--since", since)
    assert report["window"]["label"] == ""
    assert_agrees_with_hand_count(report, data.hand_count())


def test_stats_shows_the_calls_waiting_now_from_the_waiting_set(data):
    report = stats_json(data.config)
    waiting = [p for p in data.plans if p.ended is None and p.human is None]
    assert report["total"]["waiting"]["count"] == len(waiting) == 1
    assert report["queues"][waiting[0].queue]["waiting"]["count"] == 1
    longest = report["queues"][waiting[0].queue]["waiting"]["longest_wait_s"]
    assert longest >= (data.now_ms - waiting[0].arrived) / 1000


def test_stats_queue_filter_reports_that_queue_only(data):
    report = stats_json(data.config, "--queue", "sales")
    assert list(report["queues"]) == ["sales"]
    hand = {key: value for key, value in data.hand_count().items() if key[0] == "sales"}
    assert_agrees_with_hand_count(report, hand)


def test_stats_table_is_readable_text_with_every_queue(data):
    result = run_stats(data.config)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "premium-hotline stats" in text
    for queue in ("sales", "support", "ALL"):
        assert any(line.startswith(queue) for line in text.splitlines()), queue
    assert "waiting now: sales 0, support 1" in text


def test_stats_runs_with_a_read_only_redis_user(data):
    """Redis itself enforces "reads only": an ACL user without write commands gets the report."""
    client = data.client
    client.execute_command("ACL", "SETUSER", "ops", "on", ">ops-pass", "~*", "&*", "+@read", "+@connection")
    try:
        config = data.dir / "readonly.conf"
        text = open(data.config).read().replace("redis://", "redis://ops:ops-pass@", 1)
        config.write_text(text)
        report = stats_json(str(config))
        assert_agrees_with_hand_count(report, data.hand_count())
        denied = subprocess.run(
            [
                "redis-cli",
                "-u",
                data.server.url.replace("redis://", "redis://ops:ops-pass@"),
                "SET",
                "x",
                "1",
            ],
            capture_output=True,
            text=True,
        )
        assert "NOPERM" in denied.stdout + denied.stderr  # the user really cannot write
    finally:
        client.execute_command("ACL", "DELUSER", "ops")


def test_stats_watch_redraws_in_place_until_interrupted(data):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "premium_hotline.cli",
            "stats",
            "-c",
            data.config,
            "--watch",
            "0.3",
            "--last",
            "1h",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    frames = out.split("\x1b[H")[1:]
    assert len(frames) >= 3
    assert out.startswith("\x1b[2J")
    for frame in frames[:-1]:
        assert "premium-hotline stats" in frame and frame.rstrip("\n").endswith("\x1b[J")


def test_stats_says_why_when_redis_cannot_be_reached(tmp_path):
    from sandbox.redis_server import free_port

    config = tmp_path / "ph.conf"
    config.write_text(f"[general]\nredis_url = redis://127.0.0.1:{free_port()}/0\n")
    started = time.monotonic()
    result = run_stats(str(config), "--timeout", "0.5")
    assert result.returncode == 1
    assert "cannot read Redis" in result.stderr
    assert time.monotonic() - started < 10


def test_stats_refuses_a_bad_window_before_touching_redis(data):
    result = run_stats(data.config, "--last", "15m", "--since", "08:00")
    assert result.returncode == 2
    assert "cannot be combined" in result.stderr


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    import random
    import socket

    for _ in range(200):
        port = random.randrange(20_000, 45_000)
        try:
            with socket.socket() as one, socket.socket() as bus:
                one.bind(("127.0.0.1", port))
                bus.bind(("127.0.0.1", port + 10_000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


def test_stats_reads_a_redis_cluster_because_a_queue_keys_share_one_hash_slot(tmp_path):
    """One cluster node holding every slot: redis-py's cluster client routes each queue's
    pipeline by the {queue} hash tag; a key without it would raise a cross-slot error."""
    from sandbox.redis_server import RedisServer

    args = ["--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf")]
    server = RedisServer(port=cluster_port(), extra_args=args)
    server.start()
    try:
        plain = server.client()
        plain.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        deadline = time.monotonic() + 10
        while plain.execute_command("CLUSTER", "INFO").find("cluster_state:ok") < 0:
            assert time.monotonic() < deadline, "cluster did not come up"
            time.sleep(0.1)
        data = ops_calls.dataset()
        # Copy the data set's KPI minutes and waiting sets into the cluster, key by key.
        for key in data.client.scan_iter(match="ph:*"):
            kind = data.client.type(key)
            if kind == "hash":
                plain.hset(key, mapping=data.client.hgetall(key))
            elif kind == "set":
                plain.sadd(key, *data.client.smembers(key))
            elif kind == "zset":
                plain.zadd(key, dict(data.client.zrange(key, 0, -1, withscores=True)))
        config = tmp_path / "cluster.conf"
        text = open(data.config).read().replace(data.server.url, f"redis+cluster://127.0.0.1:{server.port}/0")
        config.write_text(text)
        assert_agrees_with_hand_count(stats_json(str(config)), data.hand_count())
    finally:
        server.cleanup()


def test_a_call_left_in_the_waiting_set_after_it_ended_is_not_shown_as_waiting(redis_url, tmp_path):
    """The arrival's detached writer can land its ZADD after the hang-up's ZREM: the call hash
    says the call is over, so `stats` does not show a phantom caller waiting for hours."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    config = ops_calls.write_ops_config(tmp_path / "ph.conf", redis_url, "UTC", tmp_path / "spool")
    now_ms = int(time.time() * 1000)
    over = ops_calls.Plan(
        "1790000000.70", "0899123456", now_ms - 600_000, now_ms - 590_000, None, now_ms - 500_000
    )
    still = ops_calls.Plan("1790000000.71", "0899123456", now_ms - 30_000, now_ms - 20_000, None, None)
    for plan in (over, still):
        ops_calls.drive(plan, config, client)
    client.zadd("ph:waiting:{support}", {over.uid: over.arrived})  # the late ZADD
    report = stats_json(config)
    assert report["queues"]["support"]["waiting"]["count"] == 1
    assert report["queues"]["support"]["waiting"]["longest_wait_s"] < 60
    client.close()
