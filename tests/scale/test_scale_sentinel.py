"""The plugin behind Redis Sentinel: a master, a replica and three sentinels (quorum 2).

The routes, `stats` and `replay` reach the master the sentinels name; when the master is
killed in the middle of calls, the sentinels promote the replica, no call waits past
`redis_timeout_ms` meanwhile, and once the spool is replayed nothing is lost and the KPIs are
exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from sandbox.fastagi import FastAgiServerProcess
from tests.support import scale_calls

TIMEOUT_MS = 200


def _base_ms() -> int:
    now_minute = int(time.time() * 1000) // 60_000
    return max(now_minute - 10, now_minute - now_minute % 1440) * 60_000


@pytest.mark.parametrize("transport", ["plain", "fastagi"])
def test_calls_reach_the_master_the_sentinels_name_through_every_transport(sentinel, tmp_path, transport):
    spool = tmp_path / "spool"
    config = scale_calls.write_config(tmp_path / "ph.conf", sentinel.url, spool, TIMEOUT_MS)
    server = None
    if transport == "plain":
        run = scale_calls.plain_transport(config)
    else:
        server = FastAgiServerProcess(config).start()
        run = scale_calls.fastagi_transport([server.port])
    try:
        driver = scale_calls.CallRun(run, base_ms=_base_ms(), uid_prefix="1790000400")
        for _ in range(8):
            driver.place(driver._take())
    finally:
        if server is not None:
            assert server.stop() == 0, server.stderr[-2000:]
    with sentinel.client() as client:
        scale_calls.wait_settled(client, driver.calls, spool)
        assert scale_calls.spooled(spool) == []
        assert all(c.reason not in ("store_unavailable", "agi_failure") for c in driver.calls)
        scale_calls.check(client, driver.calls, timeout_ms=TIMEOUT_MS, agi_overhead_s=1.0)
    stats = subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "stats", "--json", "--last", "1h"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PREMIUM_HOTLINE_CONFIG": config},
    )
    assert stats.returncode == 0, stats.stderr
    offered = sum(row.get("offered", 0) for row in scale_calls.expected_counts(driver.calls).values())
    assert json.loads(stats.stdout)["total"]["all"]["offered"] == offered


def test_the_master_killed_during_calls_blocks_no_call_and_loses_nothing(sentinel, tmp_path, record_figures):
    killed = {}

    def kill() -> None:
        killed["port"] = sentinel.kill_master().port

    def promoted() -> None:
        deadline = time.monotonic() + 30
        while sentinel.master_port() == killed["port"]:
            assert time.monotonic() < deadline, "the sentinels did not promote the replica"
            time.sleep(0.05)

    scale_calls.through_failover(
        sentinel.url,
        sentinel.client,
        tmp_path,
        record_figures,
        failover=kill,
        recovered=promoted,
        base_ms=_base_ms(),
    )
