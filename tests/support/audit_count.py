"""Hand counts for the day's report and the export, from the per-call records alone.

Shared by the report tests on AGI-driven calls and on the sandbox Asterisk's real calls:
`Cells` reads a report's HTML back by its `data-figure` attributes, `hand_count` counts per
dialled number and decided tariff, `assert_report_is_hand_count` and `assert_export_is_records`
compare.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from premium_hotline.ops.calls import COLUMNS
from tests.support.ops_calls import nearest_rank


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
            assert math.isclose(float(f["tth_p90_s"]), nearest_rank(g["tth"], 0.9) / 1000), key
    total = next(f for a, f in cells.tables["groups"] if a.get("data-total"))
    assert int(total["calls"]) == sum(g["calls"] for g in hand.values())
    assert int(total["billed_cents"]) == sum(g["cents"] for g in hand.values())
    assert int(total["refund_cents"]) == sum(g["refund"] for g in hand.values())
    listed = {a["data-uniqueid"] for a, _ in cells.tables.get("broken", []) if "data-uniqueid" in a}
    assert listed == set().union(*(g["uids_broken"] for g in hand.values()))
    assert len([a for a, _ in cells.tables["calls"] if "data-uniqueid" in a]) == sum(
        g["calls"] for g in hand.values()
    )


def parse_export(text: str, fmt: str) -> list[dict]:
    if fmt == "csv":
        lines = list(csv.DictReader(io.StringIO(text)))
        assert not lines or list(lines[0]) == list(COLUMNS)
        return lines
    return [json.loads(line) for line in text.splitlines()]


def assert_export_is_records(lines: list[dict], records: list[dict]) -> None:
    """One line per record, oldest first, every column as stored (the local time aside)."""
    expected = sorted(records, key=lambda r: (int(r["arrived_at"]), r["uniqueid"]))
    assert [line["uniqueid"] for line in lines] == [r["uniqueid"] for r in expected]
    for line, record in zip(lines, expected, strict=True):
        for column in COLUMNS:
            if column != "arrived_local":
                assert line[column] == record.get(column, ""), (record["uniqueid"], column)
        arrived = dt.datetime.fromisoformat(line["arrived_local"])
        assert int(arrived.timestamp() * 1000) == int(record["arrived_at"])
    billed = sum(int(Decimal(line["amount"] or "0") * 100) for line in lines)
    assert billed == sum(int(Decimal(r.get("amount", "0")) * 100) for r in expected)
