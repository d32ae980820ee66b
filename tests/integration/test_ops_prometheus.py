"""A real Prometheus (Debian's package) scraping the exporter on loopback, queried through its
HTTP API, agrees with the hand count from the per-call hashes and with `stats`.

When the `prometheus` binary is missing the fixture installs it (scripts/setup-prometheus, as
root, from Debian): CI on a new machine tests this too, it never skips.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from premium_hotline.core import kpi
from premium_hotline.ops.metrics import EXPORT_EDGES_MS
from tests.support import ops_calls
from tests.support.ops_calls import Prometheus, prometheus_binary

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


@pytest.fixture(scope="module")
def prometheus(data, tmp_path_factory):
    binary = prometheus_binary()
    with ops_calls.Exporter(data.config) as exporter:
        server = Prometheus(binary, f"127.0.0.1:{exporter.port}", tmp_path_factory.mktemp("prometheus"))
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if server.query('premium_hotline_up{job="premium-hotline"} == 1') and server.query(
                    "premium_hotline_calls_total"
                ):
                    break
                time.sleep(0.5)
            else:
                pytest.fail("Prometheus never scraped the exporter: " + json.dumps(server.query("up")))
            yield server
        finally:
            server.stop()


def test_prometheus_sees_exactly_the_hand_counted_calls_per_queue_tariff_and_outcome(data, prometheus):
    got = prometheus.by_labels(
        "sum by (queue, tariff, outcome) (premium_hotline_calls_total)", "queue", "tariff", "outcome"
    )
    hand = data.hand_count()
    names = {
        "answered": "answered",
        "abandoned": "abandoned",
        "unanswered": "unanswered",
        "short_abandon": "short_abandoned",
        "lost": "lost",
    }
    expected = {
        (queue, tariff, outcome): counted[key]
        for (queue, tariff), counted in hand.items()
        for outcome, key in names.items()
    }
    assert got == expected
    offered = prometheus.by_labels(
        "sum by (queue, tariff) (premium_hotline_calls_offered_total)", "queue", "tariff"
    )
    assert offered == {key: counted["offered"] for key, counted in hand.items()}
    broken = prometheus.by_labels(
        "sum by (queue, tariff) (premium_hotline_commitments_broken_total)", "queue", "tariff"
    )
    assert broken == {key: counted["breached"] for key, counted in hand.items()}
    assert sum(broken.values()) >= 2


def test_asa_and_service_level_through_promql_equal_the_hand_count(data, prometheus):
    asa = prometheus.by_labels(
        "sum by (queue, tariff) (premium_hotline_time_to_human_in_queue_seconds_total)"
        ' / sum by (queue, tariff) (premium_hotline_calls_total{outcome="answered"})',
        "queue",
        "tariff",
    )
    sl = prometheus.by_labels(
        "sum by (queue, tariff) (premium_hotline_answered_within_service_level_total)"
        ' / sum by (queue, tariff) (premium_hotline_calls_total{outcome="answered"})',
        "queue",
        "tariff",
    )
    for key, counted in data.hand_count().items():
        if counted["answered"]:
            assert asa[key] == pytest.approx(counted["in_queue_ms"] / counted["answered"] / 1000)
            assert sl[key] == pytest.approx(counted["within_sl"] / counted["answered"])
        else:
            assert math.isnan(asa.get(key, math.nan))


def test_percentiles_through_prometheus_are_within_the_published_bound(data, prometheus):
    fine = prometheus.by_labels(
        "premium_hotline_time_to_human_quantile_seconds", "queue", "tariff", "quantile"
    )
    edges = [0.0] + [edge / 1000 for edge in EXPORT_EDGES_MS]
    for (queue, tariff), counted in data.hand_count().items():
        waits = counted["tth"]
        if not waits:
            continue
        for q in kpi.QUANTILES:
            exact = ops_calls.nearest_rank(waits, q)
            assert abs(fine[(queue, tariff, f"{q:g}")] * 1000 - exact) <= kpi.percentile_error_bound_ms(exact)
        # histogram_quantile interpolates inside the exported bucket holding the rank: check it
        # stays inside that bucket's edges.
        ordered = sorted(waits)
        at_rank = ordered[math.ceil(0.9 * len(ordered)) - 1] / 1000
        buckets = f'premium_hotline_time_to_human_seconds_bucket{{queue="{queue}", tariff="{tariff}"}}'
        (coarse,) = prometheus.by_labels(f"histogram_quantile(0.9, sum by (le) ({buckets}))").values()
        upper = next(edge for edge in edges[1:] if at_rank < edge)
        lower = edges[edges.index(upper) - 1]
        assert lower <= coarse <= upper, (queue, tariff, at_rank, coarse)


def test_prometheus_and_stats_agree_on_the_day(data, prometheus):
    result = subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "stats", "-c", data.config, "--json"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    report = json.loads(result.stdout)
    for name, expr in (
        ("offered", "sum(premium_hotline_calls_offered_total)"),
        ("answered", 'sum(premium_hotline_calls_total{outcome="answered"})'),
        ("abandoned", 'sum(premium_hotline_calls_total{outcome="abandoned"})'),
        ("commitments_broken", "sum(premium_hotline_commitments_broken_total)"),
    ):
        (value,) = prometheus.by_labels(expr).values()
        assert value == report["total"]["all"][name], name


def test_every_dashboard_query_runs_in_prometheus(prometheus):
    dashboard = json.loads((ROOT / "dashboards" / "premium-hotline.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$queue", ".*").replace("$tariff", ".*")
            prometheus.query(expr)  # asserts status success: the PromQL parses and evaluates
