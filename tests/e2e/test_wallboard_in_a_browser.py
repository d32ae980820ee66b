"""The wallboard in a real headless Chromium, on calls placed through the real Asterisk 22.

Calls go through the shipped dialplan (price message, queue, Local agents answering after a
delay); the page is read from its DOM and checked against `stats --json`; one more call is
placed and the page must show it without being reloaded. The screenshot is kept (path printed).
`stats --by agent`, `report` and `export` are checked against a hand count of the same calls.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.support import ops_calls
from tests.support.audit_count import assert_export_is_records, assert_report_is_hand_count, parse_export
from tests.support.browser import Browser
from tests.support.served import Wallboard

SHOTS = Path("/tmp/premium-hotline-screenshots")

READ = """(() => {
  const out = {tiles: {}, agents: {}, generated: document.body.dataset.generated,
               marker: window.__phMarker || null};
  for (const t of document.querySelectorAll('.tile'))
    (out.tiles[t.dataset.queue] ||= {})[t.dataset.figure] = t.dataset.value;
  for (const tr of document.querySelectorAll('tr[data-agent]')) {
    const row = {name: tr.cells[0].textContent};
    for (const td of tr.querySelectorAll('td[data-figure]')) row[td.dataset.figure] = td.dataset.value;
    (out.agents[tr.dataset.queue] ||= {})[tr.dataset.agent] = row;
  }
  return out;
})()"""

FIGURES = ("offered", "answered", "abandoned", "asa_s", "service_level", "tth_p90_s", "premium_share")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", *args], capture_output=True, text=True, timeout=60
    )


def stats_json(config: str) -> dict:
    result = run("stats", "-c", config, "--json", "--by", "agent")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_page_is_stats(page: dict, report: dict) -> None:
    for queue, entry in report["queues"].items():
        tiles = page["tiles"][queue]
        for figure in FIGURES:
            expected = entry["all"][figure]
            shown = None if tiles[figure] == "" else float(tiles[figure])
            assert (shown is None) if expected is None else math.isclose(shown, expected), (queue, figure)
        assert float(tiles["commitments_broken"]) == entry["all"]["commitments_broken"]
        assert math.isclose(float(tiles["refunds_due"]), entry["all"]["refund_due"]), queue
        assert float(tiles["lost"]) == entry["all"]["lost"], queue
        for agent, figures in entry.get("agents", {}).items():
            row = page["agents"][queue][agent]
            assert int(row["agent_answered"]) == figures["answered"], agent
            assert math.isclose(float(row["ring_mean_s"]), figures["ring_mean_s"]), agent


def test_the_wallboard_shows_real_calls_and_follows_a_new_one_without_reloading(hotline, tmp_path):
    hotline.agent_delay("agent1", 2)
    calls = [
        hotline.call("0899123456", hangup_after=6),  # premium, answered by agent1
        hotline.call("0805123456", hangup_after=5),  # free, answered by agent1 (after the first)
        hotline.call("0899300000", hangup_after=4),  # queue with nobody: abandoned
    ]
    records = [hotline.record(call, timeout=60) for call in calls]
    answered = [r for r in records if r["outcome"] == "answered"]
    assert answered and all(r["agent"] == "Local/agent1@agents/n" for r in answered)
    assert all(r["agent_name"] == "Local/agent1@agents/n" for r in answered)  # static member: no name
    # The ring time comes from Asterisk (the agent's channel's CDR start): the agent rings 2 s.
    assert all(1_500 <= int(r["ring_ms"]) <= 3_500 for r in answered), [r.get("ring_ms") for r in answered]

    config = tmp_path / "ops.conf"
    now = int(records[-1]["ended_at"])
    config.write_text(
        f"[general]\nredis_url = {hotline.redis_server.url}\ntimezone = {ops_calls.noon_timezone(now)}\n"
    )
    SHOTS.mkdir(exist_ok=True)
    shot = SHOTS / "wallboard-e2e.png"
    with Wallboard(str(config), "--refresh", "1") as board, Browser(board.url) as browser:
        assert browser.wait_for("document.querySelectorAll('.tile').length > 0", timeout=20)
        before = browser.evaluate(READ)
        report = stats_json(str(config))
        assert_page_is_stats(before, report)
        offered = int(before["tiles"]["support"]["offered"])
        browser.evaluate("window.__phMarker = 'same page'")

        hotline.record(hotline.call("0899123456", hangup_after=7), timeout=60)
        changed = browser.wait_for(
            f'document.querySelector(\'.tile[data-queue="support"][data-figure="offered"]\')'
            f".dataset.value === '{offered + 1}'",
            timeout=20,
        )
        after = browser.evaluate(READ)
        browser.screenshot(shot)
    print(f"\nscreenshot: {shot}")
    assert changed, after["tiles"]["support"]
    assert after["marker"] == "same page"  # updated in place: no reload
    assert after["generated"] != before["generated"]
    assert_page_is_stats(after, stats_json(str(config)))
    assert int(after["agents"]["support"]["Local/agent1@agents/n"]["agent_answered"]) == len(answered) + 1
    hotline.assert_clean()


def test_agents_report_and_export_are_the_hand_count_of_real_calls(hotline, tmp_path):
    hotline.agent_delay("agent1", 2)
    hotline.agent_delay("agent2", 4)  # 0899200000 promises 4 s: the 2 s price message breaks it
    calls = [
        hotline.call("0899123456", hangup_after=8),  # premium, agent1
        hotline.call("0899200000", hangup_after=12),  # premium, agent2, commitment broken
        hotline.call("0805123456", hangup_after=7),  # free, agent1
        hotline.call("0826100200", hangup_after=1),  # short abandon
    ]
    for call in calls:
        hotline.record(call, timeout=60)
    records = ops_calls.call_records(hotline.redis)
    assert any(r.get("sla_breached") == "1" for r in records)
    now = max(int(r["ended_at"]) for r in records)
    timezone = ops_calls.noon_timezone(now)
    config = tmp_path / "ops.conf"
    config.write_text(f"[general]\nredis_url = {hotline.redis_server.url}\ntimezone = {timezone}\n")

    report = stats_json(str(config))
    hand = ops_calls.hand_count_agents(records)
    assert set(hand) == {"Local/agent1@agents/n", "Local/agent2@agents/n"} == set(report["agents"])
    for agent, counted in hand.items():
        figures = report["agents"][agent]
        assert figures["answered"] == counted["answered"]
        assert figures["talk_s"] == counted["talk_s"]
        assert figures["premium_kept"] == counted["premium_kept"]
        assert figures["amount_cents"] == counted["amount_cents"]
        assert math.isclose(figures["ring_mean_s"], sum(counted["ring_ms"]) / len(counted["ring_ms"]) / 1000)

    day = dt.datetime.fromtimestamp(now / 1000, ZoneInfo(timezone)).date().isoformat()
    page = tmp_path / "day.html"
    result = run("report", "-c", str(config), "--day", day, "-o", str(page))
    assert result.returncode == 0, result.stderr
    assert_report_is_hand_count(page.read_text(), records, day, timezone)
    result = run("export", "-c", str(config), "--since", day, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert_export_is_records(parse_export(result.stdout, "csv"), records)
    hotline.assert_clean()
