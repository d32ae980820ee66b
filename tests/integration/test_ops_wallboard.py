"""The wallboard on calls written by the real AGI scripts, looked at in a real headless Chromium.

The page's numbers are read from its DOM (`data-value` of each tile, the raw figure) and must
be `stats --json`'s for today; the work a refresh costs Redis is counted by Redis itself.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support import ops_calls
from tests.support.browser import Browser
from tests.support.served import Wallboard

SHOTS = Path("/tmp/premium-hotline-screenshots")

# wallboard figure -> (stats --json key under the queue's `all`, or None for the waiting set)
FROM_STATS = {
    "offered": "offered",
    "answered": "answered",
    "abandoned": "abandoned",
    "asa_s": "asa_s",
    "service_level": "service_level",
    "tth_p90_s": "tth_p90_s",
    "premium_share": "premium_share",
    "commitments_broken": "commitments_broken",
}

READ_TILES = """(() => {
  const out = {};
  for (const t of document.querySelectorAll('.tile')) {
    (out[t.dataset.queue] ||= {})[t.dataset.figure] = {value: t.dataset.value, level: t.dataset.level,
      text: t.querySelector('.value').textContent, label: t.querySelector('.label').textContent,
      background: getComputedStyle(t).backgroundColor};
  }
  return out;
})()"""

READ_AGENTS = """(() => {
  const out = {};
  for (const tr of document.querySelectorAll('tr[data-agent]')) {
    const row = {name: tr.cells[0].textContent};
    for (const td of tr.querySelectorAll('td[data-figure]')) row[td.dataset.figure] = td.dataset.value;
    (out[tr.dataset.queue] ||= {})[tr.dataset.agent] = row;
  }
  return out;
})()"""


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def stats_json(config: str, *args: str) -> dict:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "premium_hotline.cli",
            "stats",
            "-c",
            config,
            "--json",
            "--by",
            "agent",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def assert_tiles_match_stats(tiles: dict, report: dict) -> None:
    assert set(tiles) == set(report["queues"])
    for queue, entry in report["queues"].items():
        for figure, key in FROM_STATS.items():
            expected = entry["all"][key]
            shown = number(tiles[queue][figure]["value"])
            if expected is None:
                assert shown is None, (queue, figure)
            else:
                assert math.isclose(shown, expected, rel_tol=1e-9), (queue, figure, shown, expected)
        assert number(tiles[queue]["waiting"]["value"]) == entry["waiting"]["count"], queue
        assert number(tiles[queue]["refunds_due"]["value"]) == 0  # no refund counter on these calls
        assert number(tiles[queue]["lost"]["value"]) == 0


def test_the_page_in_chromium_shows_the_figures_of_stats_json(data):
    SHOTS.mkdir(exist_ok=True)
    with Wallboard(data.config, "--refresh", "1") as board, Browser(board.url) as browser:
        assert browser.wait_for("document.querySelectorAll('.tile').length > 0", timeout=20)
        tiles = browser.evaluate(READ_TILES)
        crew = browser.evaluate(READ_AGENTS)
        shot = browser.screenshot(SHOTS / "wallboard-integration.png")
        lang = browser.evaluate("document.documentElement.lang")
    print(f"\nscreenshot: {shot}")
    report = stats_json(data.config)
    assert_tiles_match_stats(tiles, report)
    for queue, entry in report["queues"].items():
        assert set(crew[queue]) == set(entry["agents"])
        for agent, figures in entry["agents"].items():
            row = crew[queue][agent]
            assert row["name"] == figures["name"]
            assert int(row["agent_answered"]) == figures["answered"]
            assert int(row["premium_kept"]) == figures["premium_kept"]
            assert math.isclose(float(row["ring_mean_s"]), figures["ring_mean_s"])
    # French by default, with kpis.md's names; a figure past its threshold is in red.
    assert lang == "fr"
    support = tiles["support"]
    assert support["offered"]["label"] == "Appels présentés"
    assert support["offered"]["text"] == str(report["queues"]["support"]["all"]["offered"])
    broken = [t for q in tiles.values() for t in [q["commitments_broken"]] if number(t["value"])]
    assert broken and all(t["level"] == "alert" for t in broken)
    assert {t["background"] for t in broken} == {"rgb(185, 28, 28)"}
    assert shot.stat().st_size > 20_000


def test_english_on_request_with_the_same_figures(data):
    with Wallboard(data.config, "--refresh", "1") as board, Browser(board.url + "?lang=en") as browser:
        assert browser.wait_for("document.querySelectorAll('.tile').length > 0", timeout=20)
        tiles = browser.evaluate(READ_TILES)
        assert browser.evaluate("document.documentElement.lang") == "en"
    assert tiles["support"]["offered"]["label"] == "Offered"
    assert tiles["support"]["asa_s"]["label"] == "ASA (average speed of answer)"
    assert_tiles_match_stats(tiles, stats_json(data.config))


def test_one_redis_read_per_interval_whatever_the_number_of_viewers(data):
    client = data.client

    def processed() -> int:
        return int(client.info("stats")["total_commands_processed"])

    with Wallboard(data.config, "--refresh", "60") as board:
        before = processed()
        board.data()  # the first viewer builds the snapshot
        one_build = processed() - before - 1  # minus the INFO itself
        assert one_build > 0
        before = processed()
        bodies = []

        def viewer() -> None:
            for _ in range(5):
                bodies.append(board.get("data.json")[2])

        threads = [threading.Thread(target=viewer) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(bodies) == 100 and len(set(bodies)) == 1
        assert processed() - before == 1  # only the INFO: 100 views cost Redis nothing more


def test_the_page_loads_nothing_from_elsewhere_and_says_so_in_its_policy(data):
    with Wallboard(data.config) as board:
        status, headers, body = board.get()
    assert status == 200
    page = body.decode()
    assert "http://" not in page and "https://" not in page and "src=" not in page
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy


def test_a_dead_redis_leaves_the_page_up_and_says_the_figures_are_stale(tmp_path):
    config = tmp_path / "dead.conf"
    config.write_text("[general]\nredis_url = redis://127.0.0.1:9/0\nredis_timeout_ms = 100\n")
    with Wallboard(str(config), "--timeout", "0.3") as board:
        snapshot = board.data()
        status, _, _ = board.get()
    assert status == 200
    assert snapshot["ok"] is False and "Connection" in snapshot["error"]
