"""The tariff decision, rule by rule: each free outcome carries its own reason code."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from premium_hotline.config import FRANCE, load_config
from premium_hotline.core.hours import parse_hours, public_holidays
from premium_hotline.core.predict import Prediction
from premium_hotline.core.tariff import QueueState, live_rules, static_rules

CONFIG = """\
[general]
default_queue = fallback
fail_tariff = free
[_0899XXXXXX]
queue = support
rate = 0.80/min
hours = mon-fri 08:00-20:00
announce = ph/price
[0899000009]
queue = support
rate = 0.80/min
ivr = yes
[0899000008]
queue = support
rate = 0.80/min
site = BE
[0892000000]
queue = support
rate = 0.80/min
[0826000000]
queue = support
[0805000000]
queue = support
[0809000000]
queue = support
"""

WEDNESDAY_NOON = dt.datetime(2026, 11, 25, 12, 0)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "ph.conf"
    path.write_text(textwrap.dedent(CONFIG))
    return load_config(str(path))


def static(config, number, when=WEDNESDAY_NOON, ivr_seen=False):
    entry = config.lookup(number)
    return static_rules(
        number,
        entry,
        weekday=when.weekday(),
        minute_of_day=when.hour * 60 + when.minute,
        local_date=when.date(),
        holidays=public_holidays(when.year),
        closed_dates=frozenset(),
        ivr_seen=ivr_seen,
        default_queue="fallback",
        fail_tariff="free",
        commitment_s=60,
        france=FRANCE,
    )


def keeps(p=1.0):
    return Prediction(p, p >= 0.95, "test", 10)


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("0123456789", "unknown_number"),
        ("0805000000", "free_range"),
        ("0826000000", "free_rate"),
        ("0809000000", "free_rate"),
        ("0899000009", "ivr"),
        ("0899000008", "site_abroad"),
    ],
)
def test_static_rules_give_free_with_their_reason(config, number, reason):
    decision = static(config, number).decision
    assert (decision.tariff, decision.reason) == ("free", reason)
    assert decision.rate is None and decision.announce == ""


def test_a_rate_over_the_cap_of_the_dialled_range_is_never_charged(config):
    """Defence in depth: the config refuses such rates, the decision re-checks the dialled number."""
    entry = config.lookup("0899000001")
    from premium_hotline.core.numbers import parse_rate

    entry_081 = type(entry).__new__(type(entry))
    for name in type(entry).__slots__:
        setattr(entry_081, name, getattr(entry, name))
    entry_081.rate = parse_rate("0.80/min")
    verdict = static_rules(
        "0812000000",
        entry_081,
        weekday=2,
        minute_of_day=720,
        local_date=WEDNESDAY_NOON.date(),
        holidays={},
        closed_dates=frozenset(),
        ivr_seen=False,
        default_queue="",
        fail_tariff="free",
        commitment_s=60,
        france=FRANCE,
    )
    assert (verdict.decision.tariff, verdict.decision.reason) == ("free", "free_rate")


def test_unknown_number_goes_to_the_default_queue(config):
    assert static(config, "0123456789").decision.queue == "fallback"


def test_the_dialplan_ivr_mark_counts_like_the_config(config):
    assert static(config, "0899000001", ivr_seen=True).decision.reason == "ivr"


def test_outside_hours_is_closed(config):
    assert static(config, "0899000001", when=dt.datetime(2026, 11, 25, 21, 0)).decision.reason == "closed"
    assert static(config, "0899000001", when=dt.datetime(2026, 11, 28, 12, 0)).decision.reason == "closed"


def test_public_holiday_is_free(config):
    christmas = dt.datetime(2026, 12, 25, 12, 0)  # a Friday
    assert static(config, "0899000001", when=christmas).decision.reason == "holiday"


def test_open_hours_pass_to_the_live_rules(config):
    assert static(config, "0899000001").needs_live


def live(config, state, prediction=None, store_ok=True):
    return live_rules(
        config.lookup("0899000001"),
        queue_state=state,
        prediction=prediction,
        store_ok=store_ok,
        fail_tariff="free",
        commitment_s=60,
    )


def test_premium_only_when_every_rule_passes(config):
    decision = live(config, QueueState(2, 3, 0), keeps())
    assert (decision.tariff, decision.reason, decision.rate_text) == ("premium", "premium", "0.80/min")
    assert decision.announce == "ph/price" and decision.queue == "support"


def test_no_agent_ready_is_free(config):
    assert live(config, QueueState(0, 3, 0), keeps()).reason == "no_agent_ready"


def test_predicted_wait_above_commitment_is_free(config):
    assert live(config, QueueState(1, 3, 4), keeps(0.5)).reason == "predicted_wait"


def test_redis_unavailable_falls_to_fail_tariff(config):
    decision = live(config, QueueState(1, 1, 0), None, store_ok=False)
    assert (decision.tariff, decision.reason) == ("free", "store_unavailable")


def test_unreadable_queue_state_falls_to_fail_tariff(config):
    assert live(config, None).reason == "agi_error"


def test_fail_tariff_premium_is_honoured_on_failure(config):
    decision = live_rules(
        config.lookup("0899000001"),
        queue_state=None,
        prediction=None,
        store_ok=True,
        fail_tariff="premium",
        commitment_s=60,
    )
    assert (decision.tariff, decision.reason, decision.rate_text) == ("premium", "agi_error", "0.80/min")


def test_broken_section_falls_to_fail_tariff(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text("[0899000001]\nqueue = q\nrate = 5/min\n")
    config = load_config(str(path))
    decision = static(config, "0899000001").decision
    assert (decision.tariff, decision.reason, decision.queue) == ("free", "config_error", "q")


class TestHours:
    def test_spans_and_days(self):
        hours = parse_hours("mon-fri 08:00-12:00 14:00-18:00, sat 09:00-12:00")
        assert hours.is_open(0, 8 * 60) and not hours.is_open(0, 12 * 60) and hours.is_open(4, 17 * 60 + 59)
        assert hours.is_open(5, 9 * 60) and not hours.is_open(6, 10 * 60)

    def test_wrapping_day_ranges_and_midnight(self):
        hours = parse_hours("sat-mon 00:00-24:00")
        assert (
            hours.is_open(5, 0)
            and hours.is_open(6, 1439)
            and hours.is_open(0, 600)
            and not hours.is_open(1, 600)
        )

    @pytest.mark.parametrize(
        "bad", ["mon-fri", "funday 08:00-09:00", "mon 8-9", "mon 08:00-25:00", "mon 10:00-09:00"]
    )
    def test_bad_hours_raise_with_the_faulty_part(self, bad):
        with pytest.raises(ValueError):
            parse_hours(bad)

    def test_french_holidays_2026(self):
        days = public_holidays(2026)
        assert dt.date(2026, 4, 6) in days  # Easter Monday
        assert dt.date(2026, 5, 14) in days  # Ascension
        assert dt.date(2026, 5, 25) in days  # Whit Monday
        assert len(days) == 11
        alsace = public_holidays(2026, "FR-67")
        assert dt.date(2026, 4, 3) in alsace and dt.date(2026, 12, 26) in alsace
