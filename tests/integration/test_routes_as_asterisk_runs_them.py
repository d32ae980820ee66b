"""The three AGI scripts as Asterisk runs them: real subprocesses, a fake Asterisk side speaking
the protocol, and a real redis-server. These pin down what a call to the hotline produces."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sandbox.agi_peer import ChannelModel, default_env, parse_args, run_script
from tests.support.hotline_numbers import NUMBERS, READY, T0


def wait_for(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def config(write_config, redis_url):
    return write_config(NUMBERS, redis_url=redis_url, redis_timeout_ms=200)


@pytest.fixture
def redis(redis_server):
    client = redis_server.client()
    yield client
    client.close()


def decide(agi_script, config, channel, **env):
    return run_script(agi_script("decide_tariff"), default_env(**env), channel, config=config)


def test_premium_number_with_a_ready_agent_is_premium(agi_script, config, redis):
    channel = ChannelModel(functions=READY)
    result = decide(agi_script, config, channel)
    assert result.returncode == 0, result.stderr
    v = channel.variables
    assert (v["PH_TARIFF"], v["PH_REASON"], v["PH_RATE"], v["PH_QUEUE"], v["PH_ANNOUNCE"]) == (
        "premium",
        "premium",
        "0.80/min",
        "support",
        "ph/price",
    )
    assert v["CDR(userfield)"] == "ph;tariff=premium;reason=premium;rate=0.80/min;did=0899123456"
    record = wait_for(lambda: redis.hgetall("ph:call:{1700000000.1}"))
    assert (record["decided_tariff"], record["did"], record["queue"]) == ("premium", "0899123456", "support")
    assert "0612345678" not in str(record)  # the caller is stored as a keyed hash only
    assert redis.zscore("ph:waiting:{support}", "1700000000.1") is not None


@pytest.mark.parametrize(
    ("number", "functions", "reason"),
    [
        ("0899123456", {**READY, "QUEUE_MEMBER(support,ready)": "0"}, "no_agent_ready"),
        ("0899000009", READY, "ivr"),
        ("0805000000", READY, "free_range"),
        ("0123456789", READY, "unknown_number"),
    ],
)
def test_free_calls_carry_their_reason(agi_script, config, number, functions, reason):
    channel = ChannelModel(functions=functions)
    result = decide(agi_script, config, channel, extension=number)
    assert result.returncode == 0, result.stderr
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("free", reason)
    assert channel.variables["PH_RATE"] == "" and channel.variables["PH_ANNOUNCE"] == ""


def test_outside_business_hours_is_closed(agi_script, write_config, redis_url):
    tomorrow = (dt.datetime.now(ZoneInfo("Europe/Paris")).weekday() + 1) % 7
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[tomorrow]
    config = write_config(
        f"[0899123456]\nqueue = support\nrate = 0.80/min\nhours = {day} 00:00-24:00\n",
        redis_url=redis_url,
        holidays="none",
    )
    channel = ChannelModel(functions=READY)
    decide(agi_script, config, channel)
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("free", "closed")


def test_the_dialplan_ivr_mark_makes_the_call_free(agi_script, config):
    channel = ChannelModel(variables={"PH_IVR": "1"}, functions=READY)
    decide(agi_script, config, channel)
    assert channel.variables["PH_REASON"] == "ivr"


def test_redis_down_decides_fail_tariff_within_the_timeout_and_spools(agi_script, write_config, tmp_path):
    from sandbox.redis_server import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    config = write_config(NUMBERS, redis_url=dead, redis_timeout_ms=200)
    channel = ChannelModel(functions=READY)
    result = decide(agi_script, config, channel)
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("free", "store_unavailable")
    assert result.returncode == 0
    spool = tmp_path / "spool" / "spool.jsonl"
    assert wait_for(lambda: spool.exists() and spool.read_text().count("\n") == 1)
    assert '"route":"decide_tariff"' in spool.read_text()


def test_redis_that_accepts_but_never_answers_is_cut_at_the_timeout(agi_script, write_config):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        config = write_config(
            NUMBERS, redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0", redis_timeout_ms=300
        )
        channel = ChannelModel(functions=READY)
        result = decide(agi_script, config, channel)
        assert channel.variables["PH_REASON"] == "store_unavailable"
        assert result.elapsed_s < 0.3 + 1.5  # the timeout plus a Python start-up, never a hang
    finally:
        silent.close()


def test_a_broken_number_section_falls_to_fail_tariff_and_the_call_goes_on(
    agi_script, write_config, redis_url
):
    config = write_config("[0899123456]\nqueue = support\nrate = 0.90/min\n", redis_url=redis_url)
    channel = ChannelModel(functions=READY)
    result = decide(agi_script, config, channel)
    assert result.returncode == 0
    assert (
        channel.variables["PH_TARIFF"],
        channel.variables["PH_REASON"],
        channel.variables["PH_QUEUE"],
    ) == ("free", "config_error", "support")


def test_a_missing_config_file_still_decides(agi_script, tmp_path):
    channel = ChannelModel(functions=READY)
    result = decide(agi_script, str(tmp_path / "missing.conf"), channel)
    assert result.returncode == 0
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("free", "unknown_number")


def test_a_caller_name_with_quotes_and_newlines_changes_nothing_in_the_command_stream(agi_script, config):
    marks = {"PH_ARRIVED_MS": str(T0)}
    plain = ChannelModel(variables=marks, functions=READY, clock_ms=lambda: T0)
    hostile = ChannelModel(variables=marks, functions=READY, clock_ms=lambda: T0)
    decide(agi_script, config, plain, agi_calleridname="Jean Dupont")
    decide(agi_script, config, hostile, agi_calleridname='Jean "x"\nEXEC Dial SIP/evil\r\n\\')
    assert hostile.commands == plain.commands
    for line in hostile.commands:
        assert parse_args(line)[0] in ("GET", "SET")


def test_time_to_human_is_measured_from_arrival_to_the_answer(agi_script, config, redis):
    channel = ChannelModel(functions=READY)
    arrived = int(time.time() * 1000)
    channel.variables["PH_ARRIVED_MS"] = str(arrived)
    decide(agi_script, config, channel)
    channel.variables["PH_QUEUED_MS"] = str(int(time.time() * 1000))
    time.sleep(max(0.0, arrived / 1000 + 2.0 - time.time()))
    # The member gosub stamps the answer on the caller's channel, in Asterisk, at the true moment.
    channel.functions["SHARED(PH_HUMAN_MS)"] = str(int(time.time() * 1000))
    result = run_script(agi_script("agent_answered"), default_env(), channel, config=config)
    assert result.returncode == 0, result.stderr
    record = wait_for(
        lambda: (
            redis.hget("ph:call:{1700000000.1}", "time_to_human_ms")
            and redis.hgetall("ph:call:{1700000000.1}")
        )
    )
    assert abs(int(record["time_to_human_ms"]) - 2000) <= 100
    assert int(record["before_queue_ms"]) + int(record["in_queue_ms"]) == int(record["time_to_human_ms"])
    assert record["sla_breached"] == "0"
    assert redis.zscore("ph:waiting:{support}", "1700000000.1") is None


def test_agent_answered_without_the_gosub_stamp_uses_asterisks_clock(agi_script, config, redis):
    channel = ChannelModel(functions=READY)
    channel.variables.update(
        PH_ARRIVED_MS=str(int(time.time() * 1000) - 3000),
        PH_TARIFF="premium",
        PH_COMMITMENT_S="60",
        PH_QUEUE="support",
    )
    run_script(agi_script("agent_answered"), default_env(), channel, config=config)
    record = wait_for(lambda: redis.hgetall("ph:call:{1700000000.1}"))
    assert 3000 <= int(record["time_to_human_ms"]) < 3000 + 1500


def full_call(agi_script, config, *, wait_s, talk_s, commitment="60", answered=True, queue_status=""):
    """Arrival, queue, maybe an answer, hang-up: clock driven by the test, no real waiting."""
    t0 = T0
    now = {"ms": t0}
    channel = ChannelModel(functions=READY, clock_ms=lambda: now["ms"])
    channel.variables["PH_ARRIVED_MS"] = str(t0)
    decide(agi_script, config, channel)
    channel.variables["PH_COMMITMENT_S"] = commitment
    channel.variables["PH_QUEUED_MS"] = str(t0 + 1000)
    if answered:
        now["ms"] = t0 + int(wait_s * 1000)
        channel.functions["SHARED(PH_HUMAN_MS)"] = str(now["ms"])
        run_script(agi_script("agent_answered"), default_env(), channel, config=config)
        now["ms"] += int(talk_s * 1000)
    else:
        now["ms"] = t0 + int(wait_s * 1000)
    channel.variables["QUEUESTATUS"] = queue_status
    channel.dead = True
    result = run_script(agi_script("call_ended"), default_env(), channel, config=config)
    assert result.returncode == 0, result.stderr
    return channel


def closed_record(redis):
    return wait_for(
        lambda: redis.hget("ph:call:{1700000000.1}", "outcome") and redis.hgetall("ph:call:{1700000000.1}")
    )


def test_answered_premium_call_bills_from_the_human_answer(agi_script, config, redis):
    channel = full_call(agi_script, config, wait_s=12, talk_s=90)
    record = closed_record(redis)
    assert (record["outcome"], record["tariff"], record["billable_s"], record["amount"]) == (
        "answered",
        "premium",
        "90",
        "1.20",
    )
    assert channel.variables["CDR(userfield)"].endswith("outcome=answered;billable_s=90;amount=1.20")
    assert channel.variables["PH_BILLABLE_S"] == "90"
    from premium_hotline.store.keys import minute_stamp

    minute = wait_for(lambda: redis.hgetall(f"ph:kpi:{{support}}:{minute_stamp(T0)}"))
    assert minute["answered:premium"] == "1" and minute["offered:premium"] == "1"
    assert minute["billable_s:premium"] == "90"


def test_a_broken_promise_downgrades_the_call_and_bills_nothing(agi_script, config, redis):
    channel = full_call(agi_script, config, wait_s=75, talk_s=30)
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("free", "commitment_broken")
    record = closed_record(redis)
    assert (
        record["tariff"],
        record["reason"],
        record["sla_breached"],
        record["billable_s"],
        record["amount"],
    ) == ("free", "commitment_broken", "1", "0", "0.00")
    assert record["decided_tariff"] == "premium"


def test_caller_hanging_up_in_queue_is_abandoned_and_short_calls_are_short_abandons(
    agi_script, config, redis
):
    full_call(agi_script, config, wait_s=40, talk_s=0, answered=False)
    assert closed_record(redis)["outcome"] == "abandoned"
    redis.flushall()
    full_call(agi_script, config, wait_s=3, talk_s=0, answered=False)
    assert closed_record(redis)["outcome"] == "short_abandon"


def test_queue_timeout_is_unanswered(agi_script, config, redis):
    full_call(agi_script, config, wait_s=300, talk_s=0, answered=False, queue_status="TIMEOUT")
    assert closed_record(redis)["outcome"] == "unanswered"


def test_hangup_handler_closes_a_call_whose_decision_never_ran(agi_script, config, redis):
    channel = ChannelModel(variables={"PH_ARRIVED_MS": str(int(time.time() * 1000) - 8000)}, dead=True)
    result = run_script(agi_script("call_ended"), default_env(), channel, config=config)
    assert result.returncode == 0
    record = closed_record(redis)
    assert (record["outcome"], record["tariff"], record["reason"], record["queue"]) == (
        "abandoned",
        "free",
        "undecided",
        "",
    )


@pytest.mark.parametrize("cut_after", [0, 1, 3, 10])
def test_caller_vanishing_mid_decision_exits_cleanly(agi_script, config, cut_after):
    channel = ChannelModel(functions=READY)
    result = run_script(
        agi_script("decide_tariff"), default_env(), channel, config=config, cut_after=cut_after
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("after", [1, 2, 5])
def test_sighup_from_asterisk_ends_the_route_cleanly(agi_script, config, after):
    channel = ChannelModel(functions=READY)
    result = run_script(
        agi_script("decide_tariff"), default_env(), channel, config=config, sighup_after=after
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert len(channel.commands) <= after + 1


@pytest.mark.parametrize(
    "reply",
    [
        "511 Command Not Permitted on a dead channel or intercept routine",
        "520 Invalid command syntax.  Proper usage not available.",
        "garbage",
    ],
)
def test_odd_replies_never_hang_the_route(agi_script, config, reply):
    channel = ChannelModel(functions=READY)
    result = run_script(
        agi_script("decide_tariff"), default_env(), channel, config=config, raw_replies={2: reply}
    )
    assert "Traceback" not in result.stderr
    assert result.elapsed_s < 5


def test_asterisk_not_answering_is_cut_at_the_agi_deadline(agi_script, write_config, redis_url):
    config = write_config(NUMBERS, redis_url=redis_url, agi_timeout_ms=300)
    channel = ChannelModel(functions=READY)
    # No reply to the first command: the script must give up, not wait forever, and exit non-zero
    # so that AGISTATUS=FAILURE sends the dialplan down its free fallback.
    result = run_script(
        agi_script("decide_tariff"), default_env(), channel, config=config, unanswered=frozenset({1})
    )
    assert result.returncode == 1 and result.elapsed_s < 3
    assert len(channel.commands) == 1  # nothing sent after a timeout: the stream is out of step


def test_redis_stopped_mid_run_leaves_every_call_decided_within_the_timeout(
    agi_script, redis_server, write_config
):
    redis_server.start() if redis_server.process is None else None
    config = write_config(NUMBERS, redis_url=redis_server.url, redis_timeout_ms=200)
    outcomes = []
    for index in range(6):
        if index == 3:
            redis_server.stop()
        channel = ChannelModel(functions=READY)
        result = run_script(
            agi_script("decide_tariff"), default_env(uniqueid=f"1700000000.{index}"), channel, config=config
        )
        outcomes.append((channel.variables["PH_TARIFF"], channel.variables["PH_REASON"], result.elapsed_s))
    redis_server.start()
    assert [o[:2] for o in outcomes[:3]] == [("premium", "premium")] * 3
    assert [o[:2] for o in outcomes[3:]] == [("free", "store_unavailable")] * 3
    assert all(elapsed < 2.0 for _, _, elapsed in outcomes)


def test_check_config_names_file_line_and_key(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text("[general]\n\n[0899123456]\nqueue = support\nrate = 0.90/min\n")
    cli = Path(sys.executable).with_name("premium-hotline")
    proc = subprocess.run(
        [str(cli), "check-config", str(path)], capture_output=True, text=True, env=os.environ
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (
        f"{path}:5: rate: 0.90/min is above the legal cap of 0.80/min for 089 numbers "
        "(Arcep decision 2012-0856)"
    )


def test_agent_answered_sets_the_cdr_userfield_the_bridged_cdr_keeps(agi_script, config):
    """Asterisk's bridged CDR keeps what was set before the bridge: tariff, rate and answer time."""
    channel = ChannelModel(functions=READY)
    channel.variables.update(
        PH_ARRIVED_MS=str(T0), PH_TARIFF="premium", PH_REASON="premium", PH_RATE="0.80/min",
        PH_COMMITMENT_S="60", PH_QUEUE="support", PH_DID="0899123456",
    )  # fmt: skip
    channel.functions["SHARED(PH_HUMAN_MS)"] = str(T0 + 12_000)
    channel.clock_ms = lambda: T0 + 12_500
    run_script(agi_script("agent_answered"), default_env(), channel, config=config)
    assert channel.variables["CDR(userfield)"] == (
        "ph;tariff=premium;reason=premium;rate=0.80/min;did=0899123456;"
        f"human_ms={T0 + 12_000};time_to_human_ms=12000"
    )
