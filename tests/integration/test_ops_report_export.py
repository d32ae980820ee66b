"""`report --day` and `export` on calls written by the real AGI scripts, against a hand count.

The hand count walks the per-call hashes itself (SCAN, as docs/redis-schema.md's recipe does)
and counts per dialled number and decided tariff; the report's cells (read back from its HTML
by their `data-figure` attributes) and the export's lines must be exactly that.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from tests.support import ops_calls
from tests.support.audit_count import (
    Cells,
    assert_export_is_records,
    assert_report_is_hand_count,
    parse_export,
)


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", *args], capture_output=True, text=True, timeout=60
    )


def local_day(data) -> str:
    return dt.datetime.fromtimestamp(data.now_ms / 1000, ZoneInfo(data.timezone)).date().isoformat()


def test_the_day_report_is_exactly_the_hand_count_of_the_day(data, tmp_path):
    day = local_day(data)
    out = tmp_path / "day.html"
    result = cli("report", "-c", data.config, "--day", day, "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert_report_is_hand_count(page, ops_calls.call_records(data.client), day, data.timezone)
    # French by default, charts inline, nothing from outside.
    assert '<html lang="fr">' in page and "Engagements non tenus" in page
    assert "<svg" in page and "<metadata>" not in page
    assert "src=" not in page and 'href="http' not in page and "url(http" not in page
    still_open = sum(1 for p in data.plans if p.ended is None)
    assert f"data-value='{still_open}'" in page


def test_the_report_reads_refunds_from_the_sip_fields_when_present(data, tmp_path, redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    records = ops_calls.call_records(data.client)
    refunded = 0
    for index, record in enumerate(records):
        if record.get("outcome") == "answered" and index % 3 == 0:
            record["refund_due"] = "0.37"
            record["wire_billable_s"] = str(int(record["talk_s"]) + 12)
            refunded += 1
        client.hset(f"ph:call:{{{record['uniqueid']}}}", mapping=record)
    assert refunded
    config = tmp_path / "ph.conf"
    config.write_text(open(data.config).read().replace(data.server.url, redis_url))
    day = local_day(data)
    out = tmp_path / "day-en.html"
    result = cli("report", "-c", str(config), "--day", day, "-o", str(out), "--lang", "en", "--no-charts")
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert_report_is_hand_count(page, records, day, data.timezone)
    assert '<html lang="en">' in page and "Broken commitments" in page
    assert f'data-figure="refund_cents" data-value="{37 * refunded}"' in page


def test_a_day_with_no_call_is_a_report_that_says_so(data, tmp_path):
    out = tmp_path / "empty.html"
    result = cli("report", "-c", data.config, "--day", "2020-01-01", "-o", str(out), "--no-charts")
    assert result.returncode == 0, result.stderr
    cells = Cells()
    cells.feed(out.read_text())
    total = next(f for a, f in cells.tables["groups"] if a.get("data-total"))
    assert total["calls"] == "0"


def test_a_malformed_day_is_one_clear_error(data):
    result = cli("report", "-c", data.config, "--day", "31/01/2026")
    assert result.returncode == 2
    assert result.stderr.strip() == "premium-hotline report: '31/01/2026' is not a day such as 2026-01-31"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_writes_one_line_per_call_with_its_whole_bill(data, fmt):
    start = data.now_ms - 40 * 60_000
    start -= start % 60_000
    since = dt.datetime.fromtimestamp(start / 1000, dt.UTC).isoformat()
    result = cli("export", "-c", data.config, "--since", since, "--format", fmt)
    assert result.returncode == 0, result.stderr
    records = [r for r in ops_calls.call_records(data.client) if int(r["arrived_at"]) >= start]
    assert_export_is_records(parse_export(result.stdout, fmt), records)
