"""The redis-cli recipes of docs/redis-schema.md, run as written, give the numbers of `stats`.

Each recipe is the fenced `sh` block after a `<!-- recipe: NAME -->` marker; the variables the
doc sets once (R, Q, T, HOUR) come from the environment here. So the doc an ops person copies
from is tested against calls driven through the real AGI scripts.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ops_calls

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "redis-schema.md"


def recipes() -> dict[str, str]:
    text = DOC.read_text()
    found = re.findall(r"<!-- recipe: ([\w-]+) -->.*?```sh\n(.*?)```", text, flags=re.S)
    return dict(found)


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    assert shutil.which("redis-cli"), "redis-cli comes with redis-server (scripts/setup)"
    data = ops_calls.dataset()
    # The UTC hour holding most of the data set's ended support calls.
    hours = collections.Counter(
        dt.datetime.fromtimestamp(int(r["arrived_at"]) / 1000, dt.UTC).strftime("%Y%m%d%H")
        for r in data.records
        if r.get("outcome") and r.get("queue") == "support"
    )
    hour = hours.most_common(1)[0][0]
    start = dt.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=dt.UTC)
    env = {
        "R": f"redis-cli -u {data.server.url}",
        "Q": "support",
        "T": "premium",
        "HOUR": hour,
        "PATH": "/usr/bin:/bin",
    }
    workdir = tmp_path_factory.mktemp("recipes")
    report = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                "stats",
                "-c",
                data.config,
                "--json",
                "--queue",
                "support",
                "--since",
                start.isoformat(),
                "--until",
                (start + dt.timedelta(hours=1)).isoformat(),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )
    return data, env, workdir, report, start


def run(name: str, env: dict, workdir: Path) -> str:
    script = recipes()[name]
    result = subprocess.run(
        ["bash", "-c", script], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"recipe {name}: {result.stderr}"
    return result.stdout


def pairs(text: str) -> dict[str, str]:
    words = text.split()
    out = {}
    for i, word in enumerate(words[:-1]):
        if re.fullmatch(r"[a-z_0-9]+", word) and not re.fullmatch(r"[\d.]+", word):
            out[word] = words[i + 1]
    return out


def test_the_doc_has_every_recipe_the_ops_team_needs():
    assert {"sum", "figures", "percentile", "waiting", "hand-count", "events"} <= set(recipes())


def test_recipes_sum_then_figures_equal_stats_for_the_hour(setting):
    _, env, workdir, report, _ = setting
    run("sum", env, workdir)
    got = pairs(run("figures", env, workdir))
    figures = report["queues"]["support"]["premium"]
    assert figures["offered"] > 0
    for name in (
        "offered",
        "answered",
        "abandoned",
        "unanswered",
        "short_abandoned",
        "commitments_broken",
        "downgraded",
    ):
        assert int(got[name]) == figures[name], name
    for name in (
        "abandon_rate",
        "asa_s",
        "tth_mean_s",
        "before_queue_mean_s",
        "service_level",
        "service_level_2",
        "billable_min",
    ):
        if figures[name] is None:
            assert got[name] == "-", name
        else:
            assert float(got[name]) == pytest.approx(figures[name], rel=1e-5), name
    assert float(got["amount"]) == figures["amount"]


def test_recipe_percentile_equals_stats(setting):
    _, env, workdir, report, _ = setting
    run("sum", env, workdir)
    got = pairs(run("percentile", env, workdir))
    assert float(got["p90_s"]) == pytest.approx(report["queues"]["support"]["premium"]["tth_p90_s"], abs=5e-4)


def test_recipe_waiting_counts_the_call_still_in_the_queue(setting):
    _, env, workdir, report, _ = setting
    lines = run("waiting", env, workdir).splitlines()
    assert int(lines[0]) == report["queues"]["support"]["waiting"]["count"] == 1
    assert lines[1].startswith("longest_wait_s ")


def test_recipe_hand_count_equals_the_python_hand_count(setting):
    data, env, workdir, _, start = setting
    start_ms = int(start.timestamp() * 1000)
    hand = ops_calls.hand_count(data.records, start_ms, start_ms + 3_600_000)
    expected = []
    for (queue, tariff), counted in hand.items():
        if queue != "support":
            continue
        for outcome, key in (
            ("answered", "answered"),
            ("abandoned", "abandoned"),
            ("unanswered", "unanswered"),
            ("short_abandon", "short_abandoned"),
        ):
            if counted[key]:
                expected.append(f"{tariff} {outcome} {counted[key]}")
        if counted["breached"]:
            expected.append(f"{tariff} commitments_broken {counted['breached']}")
    assert run("hand-count", env, workdir).splitlines() == sorted(expected)


def test_recipe_events_shows_the_latest_call_record(setting):
    _, env, workdir, _, _ = setting
    out = run("events", env, workdir)
    assert "uniqueid" in out and "decided_tariff" in out
