"""`report --day` and `export` on calls written by the real AGI scripts, against a hand count.

The hand count walks the per-call hashes itself (SCAN, as docs/redis-schema.md's recipe does)
and counts per dialled number and decided tariff; the report's cells (read back from its HTML
by their `data-figure` attributes) and the export's lines must be exactly that.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from premium_hotline.ops.calls import COLUMNS
from tests.support import ops_calls


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", *args], capture_output=True, text=True, timeout=60
    )


def local_day(data) -> str:
    return dt.datetime.fromtimestamp(data.now_ms / 1000, ZoneInfo(data.timezone)).date().isoformat()


class Cells(HTMLParser):
    """{table id: [(row attributes, {figure: data-value or text})]} of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list] = defaultdict(list)
        self.table = None
        self.row = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.table = attrs.get("id")
        elif tag == "tr" and self.table:
            self.row = (attrs, {})
            self.tables[self.table].append(self.row)
        elif tag == "td" and self.row is not None and "data-figure" in attrs:
            self.cell = attrs["data-figure"]
            if "data-value" in attrs:
                self.row[1][self.cell] = attrs["data-value"]
                self.cell = None

    def handle_data(self, text):
        if self.cell and self.row is not None:
            self.row[1][self.cell] = self.row[1].get(self.cell, "") + text

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None
        elif tag == "table":
            self.table = None


def hand_count(records: list[dict], start_ms: int, end_ms: int) -> dict:
    out: dict[tuple, dict] = {}
    for r in records:
        if "outcome" not in r or not start_ms <= int(r["arrived_at"]) < end_ms:
            continue
        g = out.setdefault(
            (r["did"], r["decided_tariff"]),
            {
                "calls": 0,
                "answered": 0,
                "abandoned": 0,
                "broken": 0,
                "kept": 0,
                "billable_s": 0,
                "cents": 0,
                "refund": 0,
                "tth": [],
                "uids_broken": set(),
            },
        )
        g["calls"] += 1
        g["answered"] += r["outcome"] == "answered"
        g["abandoned"] += r["outcome"] == "abandoned"
        if r.get("sla_breached") == "1":
            g["broken"] += 1
            g["uids_broken"].add(r["uniqueid"])
        elif r["outcome"] == "answered" and r["decided_tariff"] == "premium":
            g["kept"] += 1
        g["billable_s"] += int(r["billable_s"])
        g["cents"] += int(Decimal(r["amount"]) * 100)
        g["refund"] += int(Decimal(r.get("refund_due", "0")) * 100)
        if r["outcome"] == "answered":
            g["tth"].append(int(r["time_to_human_ms"]))
    return out


def day_bounds(day: str, tz: str) -> tuple[int, int]:
    start = dt.datetime.fromisoformat(day).replace(tzinfo=ZoneInfo(tz))
    return int(start.timestamp() * 1000), int((start + dt.timedelta(days=1)).timestamp() * 1000)


def assert_report_is_hand_count(page: str, records: list[dict], day: str, tz: str) -> None:
    cells = Cells()
    cells.feed(page)
    hand = hand_count(records, *day_bounds(day, tz))
    assert hand
    rows = {(a["data-did"], a["data-tariff"]): f for a, f in cells.tables["groups"] if "data-did" in a}
    assert set(rows) == set(hand)
    for key, g in hand.items():
        f = rows[key]
        assert int(f["calls"]) == g["calls"], key
        assert int(f["answered"]) == g["answered"], key
        assert int(f["abandoned"]) == g["abandoned"], key
        assert int(f["commitments_broken"]) == g["broken"], key
        assert int(f["commitments_kept"]) == g["kept"], key
        assert int(f["billable_s"]) == g["billable_s"], key
        assert int(f["billed_cents"]) == g["cents"], key
        assert int(f["refund_cents"]) == g["refund"], key
        if g["tth"]:
            assert math.isclose(float(f["tth_p90_s"]), ops_calls.nearest_rank(g["tth"], 0.9) / 1000), key
    total = next(f for a, f in cells.tables["groups"] if a.get("data-total"))
    assert int(total["calls"]) == sum(g["calls"] for g in hand.values())
    assert int(total["billed_cents"]) == sum(g["cents"] for g in hand.values())
    assert int(total["refund_cents"]) == sum(g["refund"] for g in hand.values())
    listed = {a["data-uniqueid"] for a, _ in cells.tables.get("broken", []) if "data-uniqueid" in a}
    assert listed == set().union(*(g["uids_broken"] for g in hand.values()))
    assert len([a for a, _ in cells.tables["calls"] if "data-uniqueid" in a]) == sum(
        g["calls"] for g in hand.values()
    )


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
    if fmt == "csv":
        lines = list(csv.DictReader(io.StringIO(result.stdout)))
        assert list(lines[0]) == list(COLUMNS)
    else:
        lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = sorted(
        (r for r in ops_calls.call_records(data.client) if int(r["arrived_at"]) >= start),
        key=lambda r: (int(r["arrived_at"]), r["uniqueid"]),
    )
    assert [line["uniqueid"] for line in lines] == [r["uniqueid"] for r in expected]
    for line, record in zip(lines, expected, strict=True):
        for column in COLUMNS:
            if column != "arrived_local":
                assert line[column] == record.get(column, ""), (record["uniqueid"], column)
        arrived = dt.datetime.fromisoformat(line["arrived_local"])
        assert int(arrived.timestamp() * 1000) == int(record["arrived_at"])
    billed = sum(int(Decimal(line["amount"] or "0") * 100) for line in lines)
    assert billed == sum(int(Decimal(r.get("amount", "0")) * 100) for r in expected)
