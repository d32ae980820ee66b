"""The bill on the wire: the caller's operator charges S from the network's answer, whatever the
PBX decided, so a call decided free or downgraded on a surcharged number carries a refund due."""

from __future__ import annotations

import textwrap
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.config import EARLY_MEDIA_MAX_S, load_config
from premium_hotline.core.kpi import counters
from premium_hotline.core.timeline import refund_due, wire_billable_s, wire_charge
from premium_hotline.routes.call_ended import epoch_seconds_ms
from tests.unit.test_timeline_billing import T0
from tests.unit.test_timeline_billing import end as timeline_end


def end(**kw):
    """tests/unit/test_timeline_billing.py's call (premium 0.80/min, person at 25 s, end at 85 s),
    on a number whose surcharge S is that same 0.80/min."""
    return timeline_end(**{"surcharge": "0.80/min", **kw})


def test_wire_seconds_run_from_the_network_answer_to_the_hang_up():
    assert wire_billable_s(T0, T0 + 60_400) == 60
    assert wire_billable_s(T0, T0 + 60_500) == 61
    assert wire_billable_s(None, T0 + 60_000) == 0


def test_a_per_minute_surcharge_is_charged_per_second_from_the_first_second():
    assert wire_charge("0.80/min", True, 1) == Decimal("0.01")
    assert wire_charge("0.80/min", True, 90) == Decimal("1.20")
    assert wire_charge("0.80/min", False, 90) == Decimal("0.00")


def test_a_per_call_surcharge_is_the_flat_amount_once_answered_on_the_wire():
    assert wire_charge("2.99/call", True, 0) == Decimal("2.99")
    assert wire_charge("2.99/call", False, 0) == Decimal("0.00")


def test_early_answer_premium_call_owes_no_refund():
    # The network answered 40 ms after the person: what the wire billed is what is owed.
    e = end(wire_answered_ms=T0 + 25_040)
    assert (e.billable_s, e.wire_billable_s, e.amount, e.refund_due) == (60, 60, Decimal("0.80"), 0)


def test_a_downgraded_call_refunds_the_whole_surcharge_the_wire_billed():
    e = end(human_ms=T0 + 70_000, ended_ms=T0 + 130_000, wire_answered_ms=T0 + 70_030)
    assert (e.tariff, e.reason, e.billable_s) == ("free", "commitment_broken", 0)
    assert e.wire_billable_s == 60
    assert e.refund_due == Decimal("0.80")


def test_a_call_decided_free_on_a_surcharged_number_refunds_what_the_operator_charged():
    e = end(
        decided_tariff="free", tariff="free", reason="no_agent_ready", rate="", wire_answered_ms=T0 + 25_000
    )
    assert (e.amount, e.wire_billable_s, e.refund_due) == (Decimal("0.00"), 60, Decimal("0.80"))
    flat = end(
        decided_tariff="free", tariff="free", rate="", surcharge="2.99/call", wire_answered_ms=T0 + 25_000
    )
    assert flat.refund_due == Decimal("2.99")


def test_immediate_answer_premium_call_refunds_the_wait_the_wire_billed():
    # Answered on the wire at arrival: the 25 s before the person were charged at S too.
    e = end(wire_answered_ms=T0)
    assert (e.billable_s, e.wire_billable_s) == (60, 85)
    assert e.refund_due == Decimal("1.13") - Decimal("0.80")


def test_a_caller_never_answered_on_the_wire_owes_and_is_owed_nothing():
    e = end(human_ms=None, ended_ms=T0 + 30_000)
    assert (e.outcome, e.wire_answered_ms, e.wire_billable_s, e.refund_due) == ("abandoned", None, 0, 0)


def test_a_caller_answered_at_early_media_max_who_then_leaves_is_refunded():
    e = end(human_ms=None, ended_ms=T0 + 150_000, wire_answered_ms=T0 + 120_000)
    assert (e.outcome, e.wire_billable_s, e.refund_due) == ("abandoned", 30, Decimal("0.40"))
    fields = counters(e, "premium")
    assert (fields["wire_billable_s:premium"], fields["refund_cents:premium"]) == (30, 40)


def test_a_number_without_surcharge_has_no_refund():
    e = end(decided_tariff="free", tariff="free", rate="", surcharge="", wire_answered_ms=T0)
    assert e.refund_due == 0 and "refund_cents:free" not in counters(e, "free")


@given(
    st.integers(0, 3_600_000),
    st.integers(0, 3_600_000),
    st.sampled_from(["0.80/min", "0.06/min", "3.00/call"]),
)
def test_the_refund_is_never_negative_nor_more_than_the_wire_charge(talk_ms, wait_ms, rate):
    human = T0 + wait_ms
    for wire in (T0, human, None):
        e = end(human_ms=human, ended_ms=human + talk_ms, wire_answered_ms=wire, rate=rate, surcharge=rate)
        charged = wire_charge(rate, wire is not None, e.wire_billable_s)
        assert Decimal("0.00") <= e.refund_due <= charged
        assert e.refund_due == refund_due(rate, wire, e.wire_billable_s, e.amount)


def test_cdr_answer_time_reads_as_epoch_ms_and_unanswered_as_zero():
    assert epoch_seconds_ms("1796196222.823110") == 1796196222823
    assert epoch_seconds_ms("0.000000") == 0
    assert epoch_seconds_ms("") == 0
    assert epoch_seconds_ms("nan") == 0 and epoch_seconds_ms("inf") == 0


def test_answer_mode_defaults_to_early_and_is_set_per_number(tmp_path):
    path = tmp_path / "ph.conf"
    path.write_text(
        textwrap.dedent("""\
            [general]
            early_media_max_s = 90

            [0899123456]
            queue = support
            rate = 0.80/min

            [0899000001]
            queue = support
            rate = 0.80/min
            answer = immediate
            early_media_max_s = 30
            """)
    )
    config = load_config(str(path))
    assert config.errors == []
    assert config.answer_for(config.lookup("0899123456")) == ("early", 90)
    assert config.answer_for(config.lookup("0899000001")) == ("immediate", 30)
    assert load_config(str(tmp_path / "missing.conf")).answer_for(None) == ("early", EARLY_MEDIA_MAX_S)


def test_a_bad_answer_mode_names_file_line_and_key(tmp_path):
    path = tmp_path / "ph.conf"
    path.write_text("[general]\nanswer = later\nearly_media_max_s = 1\n")
    errors = [str(e) for e in load_config(str(path)).errors]
    assert errors == [
        f"{path}:2: answer: 'later' is not one of: early, immediate",
        f"{path}:3: early_media_max_s: 1 is out of range (5 to 3600)",
    ]


def test_tail_shows_the_wire_seconds_and_the_refund_of_an_ended_call():
    from premium_hotline.ops import events

    fields = {
        "type": "ended",
        "uniqueid": "1790000000.8",
        "queue": "support",
        "decided_tariff": "premium",
        "tariff": "free",
        "reason": "commitment_broken",
        "outcome": "answered",
        "time_to_human_ms": "70000",
        "talk_s": "60",
        "billable_s": "0",
        "amount": "0.00",
        "wire_answered_ms": str(T0 + 70_040),
        "wire_billable_s": "60",
        "refund_due": "0.80",
        "ended_at": str(T0 + 130_000),
    }
    line = events.format_line("1800000130000-0", fields, "Europe/Paris")
    assert "  wire=60s  refund_due=0.80" in line
    never = {
        **fields,
        "outcome": "abandoned",
        "wire_answered_ms": "",
        "wire_billable_s": "0",
        "refund_due": "0.00",
    }
    assert "wire=" not in events.format_line("1800000130000-0", never, "Europe/Paris")
    assert "refund_due" not in events.format_line("1800000130000-0", never, "Europe/Paris")
