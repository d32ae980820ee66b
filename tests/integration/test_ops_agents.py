"""Figures per agent on calls written by the real AGI scripts, against a hand count.

The hand count reads only the per-call hashes (`agent`, `agent_name`, `ring_ms`, `talk_s`, the
tariffs and the bill); `stats --by agent` and the exporter read only the per-minute counters.
They must agree exactly, over any window, and a replayed hang-up must not count an agent twice.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys

import pytest

from tests.support import ops_calls


@pytest.fixture(scope="module")
def data():
    return ops_calls.dataset()


def stats(config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "stats", "-c", config, "--by", "agent", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_agent_figures(figures: dict, counted: dict, agent: str) -> None:
    assert figures["answered"] == counted["answered"], agent
    assert figures["talk_s"] == counted["talk_s"], agent
    assert figures["premium_answered"] == counted["premium"], agent
    assert figures["premium_kept"] == counted["premium_kept"], agent
    assert figures["billable_min"] * 60 == counted["billable_s"], agent
    assert figures["amount_cents"] == counted["amount_cents"], agent
    assert figures["name"] in counted["names"], agent
    if counted["ring_ms"]:
        exact = sum(counted["ring_ms"]) / len(counted["ring_ms"]) / 1000
        assert math.isclose(figures["ring_mean_s"], exact), agent
    else:
        assert figures["ring_mean_s"] is None


def test_each_answered_call_records_its_agent_name_and_ring_time(data):
    answered = [r for r in data.records if r.get("outcome") == "answered"]
    assert answered
    for record in answered:
        assert record["agent"] in {a for a, _ in ops_calls.AGENTS}
        assert record["agent_name"] in {n for _, n in ops_calls.AGENTS}
        assert 0 <= int(record["ring_ms"]) <= 5_000


def test_stats_by_agent_json_matches_a_hand_count_from_the_call_hashes(data):
    result = stats(data.config, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    hand = ops_calls.hand_count_agents(data.records)
    assert set(report["agents"]) == set(hand) == {a for a, _ in ops_calls.AGENTS}
    for agent, counted in hand.items():
        assert_agent_figures(report["agents"][agent], counted, agent)
    # Per queue, the agents' answered calls add up to the queue's answered calls.
    for queue, entry in report["queues"].items():
        assert sum(f["answered"] for f in entry["agents"].values()) == entry["all"]["answered"], queue


def test_stats_by_agent_over_a_partial_window_is_the_hand_count_of_that_window(data):
    start = data.now_ms - 30 * 60_000
    start -= start % 60_000
    since = dt.datetime.fromtimestamp(start / 1000, dt.UTC).isoformat()
    result = stats(data.config, "--json", "--since", since)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    hand = ops_calls.hand_count_agents(data.records, start)
    assert set(report["agents"]) == set(hand)
    for agent, counted in hand.items():
        assert_agent_figures(report["agents"][agent], counted, agent)


def test_stats_by_agent_table_names_each_agent_and_its_member_name(data):
    result = stats(data.config)
    assert result.returncode == 0, result.stderr
    hand = ops_calls.hand_count_agents(data.records)
    for agent, counted in hand.items():
        line = next(line for line in result.stdout.splitlines() if line.startswith(agent) and " all " in line)
        assert next(iter(counted["names"])) in line
        assert f" {counted['answered']} " in line


def test_the_exporter_serves_the_same_per_agent_counters(data):
    hand = ops_calls.hand_count_agents(data.records)
    with ops_calls.Exporter(data.config) as exporter:
        samples = ops_calls.samples(exporter.scrape())

    def total(metric: str, agent: str) -> float:
        return sum(
            value
            for (name, labels), value in samples.items()
            if name == f"premium_hotline_{metric}_total" and dict(labels)["agent"] == agent
        )

    for agent, counted in hand.items():
        assert total("agent_calls_answered", agent) == counted["answered"]
        assert total("agent_talk_seconds", agent) == counted["talk_s"]
        assert total("agent_premium_kept_calls", agent) == counted["premium_kept"]
        assert total("agent_rung_calls", agent) == len(counted["ring_ms"])
        assert math.isclose(total("agent_ring_seconds", agent), sum(counted["ring_ms"]) / 1000)
        name = next(iter(counted["names"]))
        assert samples[("premium_hotline_agent_info", frozenset({("agent", agent), ("name", name)}))] == 1


def test_a_replayed_hang_up_does_not_count_its_agent_twice(data, tmp_path, redis_url):
    import shutil

    import redis as redis_py

    plan = next(p for p in data.plans if p.human is not None and p.ended is not None)
    config = tmp_path / "ph.conf"
    shutil.copy(data.config, config)
    text = config.read_text().replace(data.server.url, redis_url)
    config.write_text(text)
    client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    ops_calls.drive(plan, str(config), client)
    before = stats(str(config), "--json", "--last", "2h")
    ops_calls.drive(plan, str(config), client)  # the same call again: decide, answer, hang-up
    after = stats(str(config), "--json", "--last", "2h")
    assert before.returncode == after.returncode == 0, after.stderr
    agent = ops_calls.agent_of(plan)[0]
    first, second = json.loads(before.stdout)["agents"], json.loads(after.stdout)["agents"]
    assert first[agent]["answered"] == second[agent]["answered"] == 1
