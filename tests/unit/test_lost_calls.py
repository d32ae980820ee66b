"""A call nobody closed: what it is once closed as `lost` (core/lost.py), how it counts
(kpi.counters, core/kpi.py), how the store finds it (the open-call index in the arrival's
batch), and `max_call_s` in the config."""

from __future__ import annotations

from premium_hotline.commands.stats import COLUMNS
from premium_hotline.config import DEFAULT_MAX_CALL_S, load_config
from premium_hotline.core import kpi
from premium_hotline.core.lost import lost_ending, lost_record
from premium_hotline.store import records
from premium_hotline.store.keys import Keys

T = 1_700_000_000_000


def waiting_call(**more) -> dict:
    fields = {
        "arrived_at": str(T),
        "decided_at": str(T + 40),
        "decided_tariff": "premium",
        "decided_reason": "premium",
        "commitment_s": "60",
        "queue": "support",
    }
    return {**fields, **more}


def test_a_lost_call_never_answered_waited_up_to_its_decision_and_bills_nothing():
    ending = lost_ending(waiting_call(), commitment_s=60)
    assert (ending.outcome, ending.wait_ms, ending.talk_s, ending.billable_s, str(ending.amount)) == (
        "lost",
        40,
        0,
        0,
        "0.00",
    )
    assert (ending.tariff, ending.reason, ending.sla_breached) == ("premium", "premium", False)
    assert ending.time_to_human_ms is None


def test_a_lost_call_that_reached_a_person_keeps_its_wait_and_talks_nothing_past_the_answer():
    fields = waiting_call(human_at=str(T + 9000), before_queue_ms="2500", in_queue_ms="6500")
    ending = lost_ending(fields, commitment_s=60)
    assert (ending.wait_ms, ending.time_to_human_ms, ending.before_queue_ms, ending.in_queue_ms) == (
        9000,
        9000,
        2500,
        6500,
    )
    assert (ending.ended_ms, ending.talk_s, ending.billable_s) == (T + 9000, 0, 0)
    record = lost_record("1.1", fields, ending, reaped_ms=T + 4 * 3_600_000)
    assert (record["last_seen_at"], record["reaped_at"], record["outcome"]) == (
        T + 9000,
        T + 14_400_000,
        "lost",
    )
    assert "ended_at" not in record  # nobody knows when it ended


def test_a_broken_commitment_seen_at_the_answer_stays_broken_when_lost():
    fields = waiting_call(human_at=str(T + 90_000), sla_breached="1")
    ending = lost_ending(fields, commitment_s=60)
    assert (ending.tariff, ending.reason, ending.sla_breached) == ("free", "commitment_broken", True)
    assert kpi.counters(ending, "premium") == {
        "lost:premium": 1,
        "offered:premium": 1,
        "breached:premium": 1,
        "downgraded:premium": 1,
    }


def test_a_lost_call_counts_as_offered_and_lost_and_nothing_else():
    fields = kpi.counters(lost_ending(waiting_call(decided_tariff="free"), commitment_s=60), "free")
    assert fields == {"lost:free": 1, "offered:free": 1}


def test_lost_is_an_outcome_of_its_own_in_the_figures_and_the_stats_table():
    tally = kpi.Tally({"offered": 10, "answered": 6, "abandoned": 2, "unanswered": 1, "lost": 1})
    figures = kpi.figures(tally)
    assert (figures["lost"], figures["lost_rate"], figures["abandon_rate"]) == (1, 0.1, 0.2)
    assert figures["offered"] == figures["answered"] + figures["abandoned"] + figures["unanswered"] + 1
    assert "lost" in kpi.OUTCOMES and ("lost", "lost", "int") in COLUMNS
    assert kpi.figures(kpi.Tally())["lost_rate"] is None


def test_the_arrival_puts_the_call_in_its_queues_open_index_until_max_call_s_replayed_too():
    batch = records.decided(
        Keys("ph:"),
        uniqueid="1.1",
        record={"queue": "support"},
        queue="support",
        arrived_ms=T,
        ttl_s=86400,
        events_maxlen=1000,
        max_call_s=600,
    )
    assert ["ZADD", "ph:open:{support}", str(T + 600_000), "1.1"] in batch
    assert ["EXPIRE", "ph:open:{support}", str(records.COUNTED_TTL_S)] in batch
    assert ["ZADD", "ph:open:{support}", str(T + 600_000), "1.1"] in records.replay_commands(batch)


def test_the_hang_up_takes_the_call_out_of_the_index_and_counts_it_with_the_lost_marker():
    batch = records.call_closed(
        Keys("ph:"),
        uniqueid="1.1",
        record={},
        queue="support",
        arrived_ms=T,
        kpis={"answered:free": 1},
        ttl_s=86400,
        events_maxlen=1000,
    )
    assert ["ZREM", "ph:open:{support}", "1.1"] in batch
    count = next(command for command in batch if command[0] == "EVAL")
    assert count[2:6] == [
        "3",
        Keys().kpi_minute("support", T),
        Keys().counted("support", T),
        Keys().lost("support", T),
    ]


def test_max_call_s_has_a_default_a_per_number_value_and_a_bound(tmp_path):
    path = tmp_path / "ph.conf"
    path.write_text(
        "[general]\nmax_call_s = 7200\n\n"
        "[0899123456]\nqueue = q\nmax_call_s = 600\n\n"
        "[0899000000]\nqueue = q\n"
    )
    config = load_config(str(path))
    assert config.errors == []
    assert config.max_call_for(config.lookup("0899123456")) == 600
    assert config.max_call_for(config.lookup("0899000000")) == 7200
    assert config.max_call_for(None) == 7200
    assert load_config(str(tmp_path / "missing.conf")).general.max_call_s == DEFAULT_MAX_CALL_S == 4 * 3600
    path.write_text("[general]\nmax_call_s = 9999999\n")
    assert [str(e).split(": ", 1)[1] for e in load_config(str(path)).errors] == [
        "max_call_s: 9999999 is out of range (1 to 518400)"
    ]
