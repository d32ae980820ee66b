"""`stats` over a full day at 50 calls a minute reads what a day is made of, and nothing more.

A day of 72,000 ended calls is written through the writer's own Lua counting script
(store/records.py call_closed's EVAL), 1,440 minute hashes per queue, then `stats --json` runs over
that day as an operator runs it: a new process, config load, one pipeline per queue, arithmetic,
JSON. The totals must be exact, and the cost is pinned by what Redis itself counts (commands and
connections), which a shared machine's load does not change: one read per minute hash, one
connection, no scan of the calls. The wall time is printed for the reader, never asserted (the
guide: speed is claimed from bench/, not from a timed test).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
import time

import pytest

from premium_hotline.core import kpi
from premium_hotline.core.timeline import ended
from premium_hotline.store import records
from premium_hotline.store.keys import Keys

CALLS_PER_MINUTE = 50
MINUTES = 1440
QUEUES = ("support", "sales")
# Besides one read per minute hash: the handshake and the live state (4 today); a handful, never one
# per call.
READS_BESIDE_THE_MINUTES = 20


def synthetic_day(now_ms: int, seed: int = 7):
    """(queue, arrival ms, Ending, decided tariff) for 50 calls a minute over the last 24 hours."""
    rng = random.Random(seed)
    first = now_ms - now_ms % 60_000 - (MINUTES - 1) * 60_000
    for minute in range(MINUTES):
        for n in range(CALLS_PER_MINUTE):
            arrived = first + minute * 60_000 + rng.randrange(60_000)
            tariff = "premium" if n % 3 == 0 else "free"
            queued = arrived + (10_500 if tariff == "premium" else 0)
            roll = rng.random()
            human = queued + int(rng.expovariate(1 / 25_000)) if roll < 0.85 else None
            end = (
                (human + rng.randrange(30_000, 600_000)) if human else queued + rng.randrange(1_000, 200_000)
            )
            ending = ended(
                arrived_ms=arrived,
                queued_ms=queued,
                human_ms=human,
                ended_ms=end,
                decided_tariff=tariff,
                tariff=tariff,
                reason=tariff,
                rate="0.80/min",
                commitment_s=60,
                short_abandon_s=5,
                service_level_s=20,
                queue_status="TIMEOUT" if roll > 0.98 else "",
            )
            yield QUEUES[n % 2], arrived, ending, tariff


def utc_iso(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC).isoformat()


@pytest.fixture(scope="module")
def day_of_calls(tmp_path_factory):
    """A redis-server of this module's own (filled once, ~10 s) holding a day of KPI minutes."""
    from sandbox.redis_server import RedisServer

    server = RedisServer().start()
    client = server.client()
    tmp_path = tmp_path_factory.mktemp("speed")
    redis_url = server.url
    keys = Keys("ph:")
    now_ms = int(time.time() * 1000)
    offered = answered = 0
    pipe = client.pipeline(transaction=False)
    for count, (queue, arrived, ending, tariff) in enumerate(synthetic_day(now_ms), 1):
        batch = records.call_closed(
            keys,
            uniqueid=f"{arrived}.{count}",
            record={},
            queue=queue,
            arrived_ms=arrived,
            kpis=kpi.counters(ending, tariff),
            ttl_s=86_400 * 31,
            events_maxlen=1000,
        )
        for command in records.live_commands(batch):
            if command[0] in ("EVAL", "SADD"):
                pipe.execute_command(*command)
        offered += ending.outcome != "short_abandon"
        answered += ending.outcome == "answered"
        if count % 5000 == 0:
            pipe.execute()
    pipe.execute()
    config = tmp_path / "ph.conf"
    config.write_text(f"[general]\nredis_url = {redis_url}\ntimezone = UTC\n")
    first = now_ms - now_ms % 60_000 - (MINUTES - 1) * 60_000
    yield str(config), offered, answered, client, first
    client.close()
    server.cleanup()


def redis_counters(client) -> tuple[int, int]:
    info = client.info("stats")
    return int(info["total_commands_processed"]), int(info["total_connections_received"])


def test_stats_for_a_day_at_50_calls_a_minute_reads_each_minute_hash_once_over_one_connection(day_of_calls):
    config, offered, answered, client, first = day_of_calls
    since, until = utc_iso(first), utc_iso(first + MINUTES * 60_000)
    assert sum(1 for _ in client.scan_iter(match="ph:kpi:*", count=5000)) == MINUTES * len(QUEUES)
    timings = []
    for _ in range(3):
        commands0, connections0 = redis_counters(client)
        started = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                "stats",
                "-c",
                config,
                "--json",
                "--since",
                since,
                "--until",
                until,
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        timings.append(time.perf_counter() - started)
        assert result.returncode == 0, result.stderr
        commands1, connections1 = redis_counters(client)
        # The INFO call that reads the counters is itself one command.
        assert commands1 - commands0 - 1 <= MINUTES * len(QUEUES) + READS_BESIDE_THE_MINUTES
        assert connections1 - connections0 == 1
    report = json.loads(result.stdout)
    assert report["window"]["minutes"] == MINUTES
    assert report["total"]["all"]["offered"] == offered
    assert report["total"]["all"]["answered"] == answered
    best = min(timings)
    print(f"\nstats --json over a day, {offered} offered calls, 2 x 1440 minute hashes: best {best:.3f}s")


def test_reading_and_computing_a_day_in_process_sends_one_read_per_minute_hash(day_of_calls):
    """The part that grows with the data (pipelines, parsing, arithmetic), without process start-up."""
    from premium_hotline.config import load_config
    from premium_hotline.ops import report, window
    from premium_hotline.ops.client import connect

    config, offered, _, _, first = day_of_calls
    general = load_config(config).general
    client = connect(general, timeout_s=5)
    now_ms = int(time.time() * 1000)
    span = window.Window(first, first + MINUTES * 60_000)
    watcher = day_of_calls[3]
    commands0, _ = redis_counters(watcher)
    started = time.perf_counter()
    data = report.build(client, general, span, now_ms=now_ms)
    elapsed = time.perf_counter() - started
    commands1, _ = redis_counters(watcher)
    assert data["total"]["all"]["offered"] == offered
    assert commands1 - commands0 - 1 <= MINUTES * len(QUEUES) + READS_BESIDE_THE_MINUTES
    print(f"\nread + compute a day: {elapsed:.3f}s")
