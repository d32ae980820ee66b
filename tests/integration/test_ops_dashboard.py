"""The Grafana dashboard, checked for what can be checked without Grafana.

Grafana cannot be installed here, so dashboards/premium-hotline.json has never been loaded. What
can be checked: every metric its queries name is one the exporter really exposes (a scrape of a
real exporter over calls written by the real AGI scripts), every label its selectors and
`by (...)` clauses use is on that metric, and every query, with the dashboard's variables set to
"All", is valid PromQL that a real Prometheus scraping that exporter answers with data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import ops_calls

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "premium-hotline.json"
METRIC = re.compile(r"\b(premium_hotline_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
VARIABLES = {"$queue": ".*", "$tariff": ".*", "${queue}": ".*", "${tariff}": ".*"}


def queries() -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and templating queries."""
    board = json.loads(DASHBOARD.read_text())
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append(value)
                elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                    found.append(value["query"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(board)
    return found


def promql(expr: str) -> str:
    """A templating `label_values(metric, label)` as the metric itself; variables set to All."""
    match = re.fullmatch(r"\s*label_values\(\s*([^,]+?)\s*,\s*\w+\s*\)\s*", expr)
    if match:
        expr = match.group(1)
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


@pytest.fixture(scope="module")
def scrape():
    data = ops_calls.dataset()
    with ops_calls.Exporter(data.config) as exporter:
        text = exporter.scrape()
    labels: dict[str, set[str]] = {}
    for (name, sample_labels), _ in ops_calls.samples(text).items():
        labels.setdefault(name, set()).update(label for label, _ in sample_labels)
    return labels


def test_the_dashboard_has_queries_for_every_panel():
    board = json.loads(DASHBOARD.read_text())
    panels = [p for p in board["panels"] if p.get("type") != "row"]
    assert panels and all(p.get("targets") for p in panels)
    assert len(queries()) >= len(panels)


def test_every_metric_the_dashboard_names_is_exposed_with_the_labels_it_uses(scrape):
    named = set()
    for expr in queries():
        metrics = METRIC.findall(expr)
        assert metrics, f"a query that names no premium_hotline metric: {expr}"
        grouped = {label.strip() for clause in GROUPING.findall(expr) for label in clause.split(",")}
        available = set()
        for metric, selector in metrics:
            named.add(metric)
            assert metric in scrape, f"{metric} (in {expr}) is not exposed by the exporter"
            for label, _ in MATCHER.findall(selector):
                assert label in scrape[metric], f"{metric} has no label {label!r} (in {expr})"
            available |= scrape[metric]
        template = re.fullmatch(r"\s*label_values\([^,]+,\s*(\w+)\s*\)\s*", expr)
        if template:
            grouped.add(template.group(1))
        assert grouped - {""} <= available, f"grouping by {grouped - available} in {expr}"
    # The check is not vacuous: the headline figures are among them.
    assert {"premium_hotline_calls_total", "premium_hotline_time_to_human_seconds_bucket"} <= named


def test_a_real_prometheus_answers_every_dashboard_query_with_data(tmp_path):
    data = ops_calls.dataset()
    with ops_calls.Exporter(data.config) as exporter:
        prometheus = ops_calls.Prometheus(
            ops_calls.prometheus_binary(), f"127.0.0.1:{exporter.port}", tmp_path
        )
        try:
            assert prometheus.wait_for("premium_hotline_calls_total"), "Prometheus never scraped the exporter"
            # increase() needs two samples of each series inside its range.
            assert prometheus.wait_for("increase(premium_hotline_calls_total[5m])")
            empty = [expr for expr in queries() if not prometheus.query(promql(expr))]
        finally:
            prometheus.stop()
    assert empty == []
