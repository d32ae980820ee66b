"""`premium-hotline exporter` scraped over HTTP, on calls written by the real AGI scripts."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from premium_hotline.core import kpi
from tests.support import ops_calls

ROOT = Path(__file__).resolve().parent.parent.parent
DASHBOARD = ROOT / "dashboards" / "premium-hotline.json"


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


@pytest.fixture(scope="module")
def scraped(data):
    with ops_calls.Exporter(data.config) as exporter:
        text = exporter.scrape()
        yield text, ops_calls.samples(text)


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_scrape_counts_equal_the_hand_count_per_queue_tariff_and_outcome(data, scraped):
    _, samples = scraped
    assert value(samples, "premium_hotline_up") == 1
    hand = data.hand_count()
    for queue in ("support", "sales"):
        for tariff in ("premium", "free"):
            counted = hand.get((queue, tariff))
            assert counted, (queue, tariff)  # the data set covers every pair
            labels = {"queue": queue, "tariff": tariff}
            for outcome, key in (
                ("answered", "answered"),
                ("abandoned", "abandoned"),
                ("unanswered", "unanswered"),
                ("short_abandon", "short_abandoned"),
            ):
                got = value(samples, "premium_hotline_calls_total", outcome=outcome, **labels)
                assert got == counted[key], (queue, tariff, outcome)
            assert value(samples, "premium_hotline_calls_offered_total", **labels) == counted["offered"]
            assert value(samples, "premium_hotline_commitments_broken_total", **labels) == counted["breached"]
            assert (
                value(samples, "premium_hotline_answered_within_service_level_total", **labels)
                == counted["within_sl"]
            )
            assert value(samples, "premium_hotline_billable_seconds_total", **labels) == counted["billable_s"]
            assert (
                round(value(samples, "premium_hotline_billed_euros_total", **labels) * 100)
                == (counted["amount_cents"])
            )
            in_queue = value(samples, "premium_hotline_time_to_human_in_queue_seconds_total", **labels)
            assert in_queue == pytest.approx(counted["in_queue_ms"] / 1000)


def test_time_to_human_histogram_is_exact_at_its_edges_and_quantiles_are_within_the_bound(data, scraped):
    _, samples = scraped
    for (queue, tariff), counted in data.hand_count().items():
        labels = {"queue": queue, "tariff": tariff}
        waits = counted["tth"]
        assert value(samples, "premium_hotline_time_to_human_seconds_count", **labels) == len(waits)
        assert value(samples, "premium_hotline_time_to_human_seconds_sum", **labels) == pytest.approx(
            sum(waits) / 1000
        )
        buckets = {
            dict(key[1])["le"]: v
            for key, v in samples.items()
            if key[0] == "premium_hotline_time_to_human_seconds_bucket"
            and labels.items() <= dict(key[1]).items()
        }
        assert buckets["+Inf"] == len(waits)
        for le, count in buckets.items():
            if le != "+Inf":
                assert count == sum(1 for w in waits if w < float(le) * 1000), (queue, tariff, le)
        for q in kpi.QUANTILES:
            if not waits:
                continue
            exact = ops_calls.nearest_rank(waits, q)
            got = value(
                samples, "premium_hotline_time_to_human_quantile_seconds", quantile=f"{q:g}", **labels
            )
            assert abs(got * 1000 - exact) <= kpi.percentile_error_bound_ms(exact)


def test_scrape_shows_the_calls_waiting_now_and_the_config_targets(data, scraped):
    _, samples = scraped
    assert value(samples, "premium_hotline_calls_waiting", queue="support") == 1
    assert value(samples, "premium_hotline_calls_waiting", queue="sales") == 0
    assert value(samples, "premium_hotline_longest_wait_seconds", queue="support") >= 90
    assert value(samples, "premium_hotline_service_level_target_seconds") == 20
    assert value(samples, "premium_hotline_commitment_seconds") == 60


def test_metric_names_follow_prometheus_conventions(scraped):
    text, _ = scraped
    families = {}
    for line in text.splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if match:
            families[match.group(1)] = match.group(2)
    assert families
    for name, kind in families.items():
        assert re.fullmatch(r"premium_hotline_[a-z_]+", name), name
        assert "_ms" not in name and "millis" not in name  # base units only: seconds, euros
        if kind == "counter":
            assert name.endswith("_total"), name
    assert families["premium_hotline_time_to_human_seconds"] == "histogram"
    assert families["premium_hotline_calls_total"] == "counter"
    assert families["premium_hotline_calls_waiting"] == "gauge"
    assert families["premium_hotline_up"] == "gauge"


def test_every_metric_the_dashboard_queries_is_exported(scraped):
    _, samples = scraped
    names = {name for name, _ in samples}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = {m for expr in exprs for m in re.findall(r"premium_hotline_[a-z_]+", expr)}
    missing = sorted(used - names)
    assert not missing, missing


def test_a_scrape_while_redis_is_down_answers_at_once_with_up_0(tmp_path):
    from sandbox.redis_server import free_port

    config = tmp_path / "ph.conf"
    config.write_text(f"[general]\nredis_url = redis://127.0.0.1:{free_port()}/0\n")
    with ops_calls.Exporter(str(config), "--timeout", "0.5") as exporter:
        started = time.monotonic()
        samples = ops_calls.samples(exporter.scrape())
        took = time.monotonic() - started
    assert value(samples, "premium_hotline_up") == 0
    assert not any(name.startswith("premium_hotline_calls") for name, _ in samples)
    assert took < 3


def test_the_exporter_listens_on_loopback_by_default_and_stops_cleanly_on_sigterm(data):
    from premium_hotline.commands.exporter import DEFAULT_LISTEN
    from premium_hotline.commands.http import parse_listen

    assert parse_listen(DEFAULT_LISTEN)[0] == "127.0.0.1"
    assert parse_listen(":9797") == ("127.0.0.1", 9797)
    assert parse_listen("[::1]:9797") == ("::1", 9797)
    exporter = ops_calls.Exporter(data.config)
    assert exporter.host == "127.0.0.1"
    assert exporter.stop() == 0
