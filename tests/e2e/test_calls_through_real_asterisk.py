"""Real calls through the shipped dialplan in a real Asterisk 22, with Local-channel agents.

Each test places calls with AMI Originate, lets Asterisk run dialplan/premium-hotline.conf (the
plain AGI scripts installed with `premium-hotline install-agi`), and checks what the dialplan
saw, what Redis recorded, and that Asterisk logged no warning and no traceback.
"""

from __future__ import annotations

import socket
import time

from tests.e2e.conftest import PRICE_SECONDS


def cdr_of(pbx, predicate):
    rows = [row for row in pbx.cdr_rows() if predicate(row)]
    assert rows, "no matching CDR"
    return rows


def ms(text) -> float:
    """CDR time ('2026-11-26 04:40:01.123' or epoch) as epoch milliseconds."""
    import datetime as dt

    if isinstance(text, int | float):
        return float(text) * 1000
    return dt.datetime.fromisoformat(str(text)).timestamp() * 1000


def test_premium_call_answered_after_two_seconds(hotline):
    call = hotline.call("0899123456", hangup_after=9)
    assert hotline.decision_line("0899123456").endswith("tariff=premium reason=premium")
    record = hotline.record(call)
    assert (record["outcome"], record["tariff"], record["decided_tariff"], record["rate"]) == (
        "answered",
        "premium",
        "premium",
        "0.80/min",
    )
    # The true wait, measured by Asterisk's own CDRs: from the caller's channel creation to the
    # agent's answer (price message and queue included), against what the plugin recorded.
    caller = cdr_of(hotline.pbx, lambda r: r.get("uniqueid") == call.uniqueid)[0]
    agent = cdr_of(hotline.pbx, lambda r: "agent1@agents" in str(r.get("channel", "")) and r.get("answer"))[
        -1
    ]
    true_wait = ms(agent["answer"]) - ms(caller["start"])
    assert abs(int(record["time_to_human_ms"]) - true_wait) <= 500
    assert int(record["time_to_human_ms"]) >= 2000 + PRICE_SECONDS * 1000
    # Billable seconds run from the human's answer to the hang-up, not from the channel's answer.
    talk = (int(record["ended_at"]) - int(record["human_at"])) / 1000
    assert abs(int(record["billable_s"]) - talk) <= 1
    assert int(record["billable_s"]) < 9
    hotline.assert_clean()


def test_an_agent_slower_than_the_commitment_downgrades_the_call(hotline):
    hotline.agent_delay("agent2", 4)  # commitment_s = 4 for 0899200000, price message 2 s on top
    call = hotline.call("0899200000", hangup_after=12)
    assert hotline.decision_line("0899200000").endswith("tariff=premium reason=premium")
    record = hotline.record(call)
    assert (record["outcome"], record["tariff"], record["reason"], record["sla_breached"]) == (
        "answered",
        "free",
        "commitment_broken",
        "1",
    )
    assert (record["billable_s"], record["amount"]) == ("0", "0.00")
    hotline.assert_clean()


def test_no_member_ready_is_free(hotline):
    call = hotline.call("0899300000", hangup_after=3)
    assert hotline.decision_line("0899300000").endswith("tariff=free reason=no_agent_ready")
    assert hotline.record(call)["outcome"] in ("abandoned", "short_abandon")
    hotline.assert_clean()


def test_ivr_path_and_free_range_are_free_with_their_reasons(hotline):
    # One after the other: the queue has one agent, and a second caller would wait for the first.
    for number, reason in (("0826100200", "ivr"), ("0805123456", "free_range")):
        call = hotline.call(number, hangup_after=5)
        assert hotline.decision_line(number).endswith(f"tariff=free reason={reason}")
        record = hotline.record(call)
        assert (record["outcome"], record["tariff"], record["billable_s"]) == ("answered", "free", "0")
    hotline.assert_clean()


def test_caller_hanging_up_while_waiting_is_abandoned_or_short_abandon(hotline):
    hotline.agent_delay("agent1", 60)
    long_wait = hotline.call("0899123456", hangup_after=6)
    short = hotline.call("0805123456", hangup_after=0.5)
    assert hotline.record(long_wait)["outcome"] == "abandoned"
    assert hotline.record(short)["outcome"] == "short_abandon"
    hotline.assert_clean()


def test_hanging_up_during_the_price_message_closes_the_record_without_traceback(hotline):
    call = hotline.call("0899123456", hangup_after=PRICE_SECONDS / 2)
    record = hotline.record(call)
    assert record["outcome"] in ("short_abandon", "abandoned") and record["decided_tariff"] == "premium"
    hotline.assert_clean()


def test_hanging_up_during_the_decision_closes_the_record_without_traceback(hotline):
    # A Redis that accepts and never answers makes the decision last redis_timeout_ms (1.5 s):
    # the caller leaves in the middle of it.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        hotline.configure(redis_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0", redis_timeout_ms="1500")
        call = hotline.call("0899123456", hangup_after=0.4)
        hotline.pbx.wait_idle(timeout=20)
        time.sleep(2)
    finally:
        silent.close()
        hotline.configure()
    # Redis never answered during that call, so its record went to the spool: replay it.
    hotline.pbx.run("premium-hotline", "replay", check=False)
    record = hotline.record(call)
    assert record["outcome"] in ("short_abandon", "abandoned")
    hotline.assert_clean()


def test_redis_stopped_calls_still_reach_the_agent_as_free_within_the_timeout(hotline):
    hotline.redis_server.stop()
    try:
        started = time.monotonic()
        call = hotline.call("0899123456", hangup_after=6)
        line = hotline.decision_line("0899123456")
        decided_after = time.monotonic() - started
        assert line.endswith("tariff=free reason=store_unavailable")
        assert decided_after < 3.0  # Answer, Python start-up and a 300 ms Redis timeout
        hotline.pbx.wait_idle(timeout=30)
    finally:
        hotline.redis_server.start()
    agent = [
        r for r in hotline.pbx.cdr_rows() if "agent1@agents" in str(r.get("channel", "")) and r.get("answer")
    ]
    assert agent, "the agent never answered"
    hotline.pbx.run("premium-hotline", "replay", check=False)
    record = hotline.record(call)
    assert (record["outcome"], record["tariff"], record["decided_reason"]) == (
        "answered",
        "free",
        "store_unavailable",
    )
    hotline.assert_clean()


def test_the_shipped_dialplan_reloads_without_errors(hotline):
    hotline.pbx.dialplan_reload()
    time.sleep(0.5)
    hotline.assert_clean()


def test_an_unreachable_agi_server_still_connects_the_caller_as_free(hotline):
    """AGISTATUS=FAILURE (nothing listens on the FastAGI port): the dialplan's own fallback."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    hotline.pbx.set_global("PH_AGI_BASE", f"agi://127.0.0.1:{port}/")
    try:
        call = hotline.call("0899123456", hangup_after=6)
        line = hotline.decision_line("0899123456")
        hotline.pbx.wait_idle(timeout=30)
    finally:
        hotline.pbx.set_global("PH_AGI_BASE", "")
    assert line.endswith("tariff=free reason=agi_failure")
    rows = [r for r in hotline.pbx.cdr_rows() if r.get("uniqueid") == call.uniqueid]
    assert any(r.get("userfield") == "ph;tariff=free;reason=agi_failure;did=0899123456" for r in rows)
    agent = [
        r for r in hotline.pbx.cdr_rows() if "agent1@agents" in str(r.get("channel", "")) and r.get("answer")
    ]
    assert agent, "the caller never reached the agent"
    # Asterisk warns that it could not reach the FastAGI server: expected here, and only that.
    assert all("agi" in line.lower() for line in hotline.pbx.problems_since(hotline.mark))
