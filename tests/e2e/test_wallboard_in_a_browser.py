"""The wallboard in a real headless Chromium, on calls placed through the real Asterisk 22.

Calls go through the shipped dialplan (price message, queue, Local agents answering after a
delay); the page is read from its DOM and checked against `stats --json`; one more call is
placed and the page must show it without being reloaded. The screenshot is kept (path printed).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from tests.support import ops_calls
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


def stats_json(config: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "stats", "-c", config, "--json", "--by", "agent"],
        capture_output=True,
        text=True,
        timeout=30,
    )
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
        assert float(tiles["refunds_due"]) == 0 and float(tiles["lost"]) == 0
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
