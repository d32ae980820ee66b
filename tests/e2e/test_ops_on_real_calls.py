"""The ops view on calls placed through a real Asterisk 22 running the shipped dialplan.

A mix of real calls (premium answered, premium past its commitment, free answered, a queue with
nobody, a caller hanging up at once) goes through the sandbox PBX; then `stats --json`, the
exporter scraped by a real Prometheus, and a hand count from the per-call hashes must agree
exactly on offered, answered, abandoned and broken commitments, and within the stated bound on
percentiles.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time

from premium_hotline.core import kpi
from tests.support import ops_calls


def test_stats_prometheus_and_a_hand_count_agree_on_real_calls(hotline, tmp_path):
    started = int(time.time() * 1000)
    hotline.agent_delay("agent1", 2)
    hotline.agent_delay("agent2", 4)  # 0899200000 promises 4 s: the 2 s price message breaks it
    first = [
        hotline.call("0899123456", hangup_after=9),  # premium, answered after ~4 s
        hotline.call("0899200000", hangup_after=12),  # premium, answered after ~6 s: broken
        hotline.call("0899300000", hangup_after=7),  # queue with nobody: free, abandoned
    ]
    for call in first:
        hotline.record(call, timeout=40)
    second = [
        hotline.call("0805123456", hangup_after=8),  # free number, answered
        hotline.call("0826100200", hangup_after=1),  # hangs up at once: short abandon
    ]
    for call in second:
        hotline.record(call, timeout=40)
    calls = first + second

    client = hotline.redis
    records = ops_calls.call_records(client)
    assert {r["uniqueid"] for r in records} >= {c.uniqueid for c in calls}
    hand = ops_calls.hand_count(records, 0, 2**62)
    outcomes = {r["outcome"] for r in records if "outcome" in r}
    assert {"answered", "abandoned"} <= outcomes
    assert sum(c["breached"] for c in hand.values()) >= 1

    summary = {
        f"{q}/{t}": {k: c[k] for k in ("offered", "answered", "abandoned", "short_abandoned")}
        for (q, t), c in hand.items()
    }
    print("\nhand count:", summary, "broken:", {f"{q}/{t}": c["breached"] for (q, t), c in hand.items()})
    now = int(time.time() * 1000)
    timezone = ops_calls.noon_timezone(now)
    config = tmp_path / "ops.conf"
    config.write_text(f"[general]\nredis_url = {hotline.redis_server.url}\ntimezone = {timezone}\n")
    since = dt.datetime.fromtimestamp((started - 120_000) / 1000, dt.UTC).isoformat()
    report = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                "stats",
                "-c",
                str(config),
                "--json",
                "--since",
                since,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )
    for (queue, tariff), counted in hand.items():
        figures = report["queues"][queue][tariff]
        for name in ("offered", "answered", "abandoned", "unanswered", "short_abandoned"):
            assert figures[name] == counted[name], (queue, tariff, name)
        assert figures["commitments_broken"] == counted["breached"], (queue, tariff)
        for q in kpi.QUANTILES:
            if counted["tth"]:
                exact = ops_calls.nearest_rank(counted["tth"], q)
                reported = figures[f"tth_p{round(q * 100)}_s"] * 1000
                assert abs(reported - exact) <= kpi.percentile_error_bound_ms(exact)

    (tmp_path / "prometheus").mkdir()
    with ops_calls.Exporter(str(config)) as exporter:
        prometheus = ops_calls.Prometheus(
            ops_calls.prometheus_binary(), f"127.0.0.1:{exporter.port}", tmp_path / "prometheus"
        )
        try:
            assert prometheus.wait_for("premium_hotline_calls_total"), "Prometheus never scraped the exporter"
            got = prometheus.by_labels(
                "sum by (queue, tariff, outcome) (premium_hotline_calls_total)", "queue", "tariff", "outcome"
            )
            broken = prometheus.by_labels(
                "sum by (queue, tariff) (premium_hotline_commitments_broken_total)", "queue", "tariff"
            )
            quantiles = prometheus.by_labels(
                "premium_hotline_time_to_human_quantile_seconds", "queue", "tariff", "quantile"
            )
        finally:
            prometheus.stop()
    names = {"answered": "answered", "abandoned": "abandoned", "unanswered": "unanswered"}
    names["short_abandon"] = "short_abandoned"
    for (queue, tariff), counted in hand.items():
        for outcome, key in names.items():
            assert got[(queue, tariff, outcome)] == counted[key], (queue, tariff, outcome)
        assert broken[(queue, tariff)] == counted["breached"]
        for q in kpi.QUANTILES:
            if counted["tth"]:
                exact = ops_calls.nearest_rank(counted["tth"], q)
                value = quantiles[(queue, tariff, f"{q:g}")] * 1000
                assert abs(value - exact) <= kpi.percentile_error_bound_ms(exact)
    hotline.assert_clean()
