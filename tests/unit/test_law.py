"""The law in force: which numbers may be surcharged, and a price message that is lawful (docs/law.md)."""

from __future__ import annotations

import datetime as dt
import struct
import textwrap
import wave

import pytest

from premium_hotline.commands import check_config
from premium_hotline.config import FRANCE, load_config
from premium_hotline.core.predict import Prediction
from premium_hotline.core.tariff import QueueState, live_rules, static_rules
from premium_hotline.price_message import find_sound, lookup_bases, price_message_problems

WEDNESDAY_NOON = dt.datetime(2026, 11, 25, 12, 0)


def write(tmp_path, text, name="ph.conf"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def make_wav(path, seconds, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<h", 0) * round(seconds * rate))


def check(path, capsys) -> tuple[int, list[str]]:
    code = check_config.main([path])
    captured = capsys.readouterr()
    return code, [line for line in (captured.err + captured.out).splitlines() if line]


def static(config, number, *, fail_tariff="free"):
    return static_rules(
        number,
        config.lookup(number),
        weekday=WEDNESDAY_NOON.weekday(),
        minute_of_day=12 * 60,
        local_date=WEDNESDAY_NOON.date(),
        holidays={},
        closed_dates=frozenset(),
        ivr_seen=False,
        default_queue="support",
        fail_tariff=fail_tariff,
        commitment_s=60,
        france=FRANCE,
    )


# ---- the done-when of issue 12 ---------------------------------------------------------------


def line_at_080(tmp_path, *, purpose: str, message_s: float) -> str:
    """A 0899 line at 0.80/min with its price message of `message_s` under sounds/fr/."""
    make_wav(tmp_path / "sounds" / "fr" / "ph" / "price.wav", message_s)
    return write(
        tmp_path,
        f"""\
        [general]
        sounds_dir = {tmp_path}/sounds
        sounds_language = fr
        [0899123456]
        queue = support
        purpose = {purpose}
        rate = 0.80/min
        announce = ph/price
        """,
    )


def test_check_config_refuses_a_complaints_line_at_080_per_minute_in_one_line_naming_the_article(
    tmp_path, capsys
):
    path = line_at_080(tmp_path, purpose="complaint", message_s=12)
    code, lines = check(path, capsys)
    assert code == 1
    assert lines[0] == (
        f"{path}:7: rate: 0.80/min on a complaint number: no surcharge is allowed on a number for the "
        "performance of a contract or for complaints (consumer code L.121-16)"
    )
    assert len(lines) == 2 and "never premium" in lines[1]  # the one problem, then the summary


def test_check_config_refuses_a_5_second_price_message_in_one_line_naming_the_arrete(tmp_path, capsys):
    path = line_at_080(tmp_path, purpose="sales", message_s=5)
    code, lines = check(path, capsys)
    assert code == 1
    assert lines[0] == (
        f"{path}:8: announce: {tmp_path}/sounds/fr/ph/price.wav lasts 5.0 s; a price message lasts "
        "at least 10 s (arrêté of 10 June 2009)"
    )
    assert len(lines) == 2


def test_check_config_accepts_a_sales_line_with_a_12_second_message(tmp_path, capsys):
    code, lines = check(line_at_080(tmp_path, purpose="sales", message_s=12), capsys)
    assert code == 0
    assert len(lines) == 1 and ": OK, 1 number section(s)" in lines[0]


# ---- purpose and regime ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "article"),
    [
        ("after_sales", "L.121-16"),
        ("complaint", "L.121-16"),
        ("contract", "L.121-16"),
        ("operator_support", "L.224-38"),
    ],
)
def test_a_surcharge_on_a_purpose_the_law_protects_is_one_error_naming_its_article(
    tmp_path, purpose, article
):
    path = write(tmp_path, f"[0812345678]\nqueue = q\npurpose = {purpose}\nrate = 0.05/min\n")
    (error,) = load_config(path).errors
    assert (error.line, error.key) == (4, "rate") and f"consumer code {article}" in error.problem


@pytest.mark.parametrize("purpose", ["sales", "information", "advice"])
def test_sales_information_and_paid_advice_may_be_surcharged(tmp_path, purpose):
    path = write(tmp_path, f"[0812345678]\nqueue = q\npurpose = {purpose}\nrate = 0.05/min\n")
    config = load_config(path)
    assert config.errors == [] and config.warnings == []


def test_the_purpose_comes_from_general_and_templates_and_the_number_wins(tmp_path):
    path = write(
        tmp_path,
        """\
        [general]
        purpose = complaint
        [centre](!)
        queue = q
        purpose = sales
        [0812000001]
        queue = q
        rate = 0.05/min
        [0812000002](centre)
        rate = 0.05/min
        [0812000003](centre)
        purpose = contract
        rate = 0.05/min
        """,
    )
    config = load_config(path)
    assert {(e.line, e.key) for e in config.errors} == {(8, "rate"), (13, "rate")}
    assert [config.lookup(n).purpose for n in ("0812000001", "0812000002", "0812000003")] == [
        "complaint",
        "sales",
        "contract",
    ]


def test_an_unknown_purpose_is_refused_with_the_choices(tmp_path):
    (error,) = load_config(write(tmp_path, "[0805000000]\nqueue = q\npurpose = hotline\n")).errors
    assert error.key == "purpose" and "sales, information, advice" in error.problem


def test_a_surcharged_number_without_a_purpose_gets_a_warning_naming_the_rule(tmp_path, capsys):
    path = write(tmp_path, "[0812345678]\nqueue = q\nrate = 0.05/min\n")
    config = load_config(path)
    assert config.errors == []
    (warning,) = config.warnings
    assert str(warning).startswith(f"{path}:3: purpose: warning: 0.05/min is a surcharge")
    assert "consumer code L.121-16" in warning.problem
    code, lines = check(path, capsys)
    assert code == 0 and lines[0] == str(warning)


def test_a_free_number_without_a_purpose_needs_none(tmp_path):
    config = load_config(write(tmp_path, "[0805000000]\nqueue = q\n"))
    assert config.errors == [] and config.warnings == []


def test_a_complaints_number_without_surcharge_is_lawful(tmp_path):
    config = load_config(write(tmp_path, "[0805000000]\nqueue = q\npurpose = complaint\n"))
    assert config.errors == [] and config.warnings == []


def test_proposal_2012_allows_operator_support_and_says_it_is_not_the_law(tmp_path, capsys):
    path = write(
        tmp_path,
        """\
        [general]
        regime = proposal-2012
        [0812345678]
        queue = q
        purpose = operator_support
        rate = 0.05/min
        [0812345679]
        queue = q
        purpose = complaint
        rate = 0.05/min
        """,
    )
    config = load_config(path)
    assert [(e.line, e.key) for e in config.errors] == [(10, "rate")]  # L.121-16 still applies
    (warning,) = config.warnings
    assert warning.line == 2 and warning.key == "regime"
    assert "never became law" in warning.problem and "regime = fr is the law in force" in warning.problem
    assert config.lookup("0812345678").needs_proof


def test_an_unknown_regime_is_refused(tmp_path):
    (error,) = load_config(write(tmp_path, "[general]\nregime = 2012\n")).errors
    assert error.key == "regime" and "fr, proposal-2012" in error.problem


# ---- at run time -----------------------------------------------------------------------------

PROTECTED = """\
[general]
fail_tariff = premium
[0899000001]
queue = support
purpose = complaint
rate = 0.80/min
announce = ph/price
[0899000002]
queue = support
purpose = complaint
rate = 0.80/min
announce = ph/price
hours = lundi
"""


@pytest.fixture
def protected(tmp_path):
    return load_config(write(tmp_path, PROTECTED))


def test_a_refused_complaints_number_still_loads_and_is_decided_free_not_surchargeable(protected):
    assert not protected.lookup("0899000001").broken  # the law's refusal leaves the number working
    decision = static(protected, "0899000001", fail_tariff="premium").decision
    assert (decision.tariff, decision.reason, decision.rate, decision.announce) == (
        "free",
        "not_surchargeable",
        None,
        "",
    )


def test_a_broken_complaints_section_with_fail_tariff_premium_is_still_free(protected):
    assert protected.lookup("0899000002").broken
    decision = static(protected, "0899000002", fail_tariff="premium").decision
    assert (decision.tariff, decision.reason) == ("free", "not_surchargeable")


def test_a_number_at_015_needs_no_price_message(tmp_path):
    config = load_config(write(tmp_path, "[0826000000]\nqueue = q\npurpose = sales\nrate = 0.15/min\n"))
    assert static(config, "0826000000").needs_live
    assert price_message_problems(config) == []


OPERATOR = """\
[general]
regime = proposal-2012
[0899000001]
queue = support
purpose = operator_support
rate = 0.80/min
announce = ph/price
ivr = yes
[0899000002]
queue = support
purpose = operator_support
rate = 0.80/min
announce = ph/price
"""


def test_proposal_2012_operator_support_is_premium_only_when_every_criterion_is_proven(tmp_path):
    config = load_config(write(tmp_path, OPERATOR))
    assert static(config, "0899000001").decision.reason == "ivr"
    entry = config.lookup("0899000002")
    assert static(config, "0899000002").needs_live
    kept = Prediction(0.99, True, "test", 10)
    proven = live_rules(
        entry, queue_state=QueueState(1, 1, 0), prediction=kept, store_ok=True, fail_tariff="premium",
        commitment_s=60,
    )  # fmt: skip
    assert (proven.tariff, proven.reason) == ("premium", "premium")
    for state, prediction, store_ok, reason in (
        (None, None, True, "agi_error"),
        (QueueState(1, 1, 0), None, False, "store_unavailable"),
    ):
        unproven = live_rules(
            entry, queue_state=state, prediction=prediction, store_ok=store_ok, fail_tariff="premium",
            commitment_s=60,
        )  # fmt: skip
        assert (unproven.tariff, unproven.reason) == ("free", reason)


def test_under_the_law_in_force_operator_support_is_never_premium(tmp_path):
    config = load_config(write(tmp_path, OPERATOR.replace("regime = proposal-2012", "regime = fr")))
    assert static(config, "0899000002").decision.reason == "not_surchargeable"


# ---- the rate belongs to the number ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["0.80/min 08:00-20:00", "0.80/min, 0.50/min", "0.80/min mon-fri", "0.80/min night", "0.80/min 8h00"],
)
def test_a_rate_that_varies_with_the_time_of_day_is_refused_naming_arcep(tmp_path, text):
    (error,) = load_config(write(tmp_path, f"[0899000001]\nqueue = q\nrate = {text}\n")).errors
    assert error.key == "rate" and "one fixed rate per number" in error.problem
    assert "Arcep decision 2012-0856" in error.problem


@pytest.mark.parametrize("key", ["rate_night", "peak_rate", "offpeak_rate", "rate2"])
def test_a_second_rate_key_is_refused_naming_arcep(tmp_path, key):
    (error,) = load_config(write(tmp_path, f"[0812000001]\nqueue = q\n{key} = 0.05/min\n")).errors
    assert error.key == key and "Arcep decision 2012-0856" in error.problem


def test_a_second_rate_for_the_same_number_is_refused(tmp_path):
    path = write(tmp_path, "[0812000001]\nqueue = q\nrate = 0.05/min\n[0812000001](+)\nrate = 0.06/min\n")
    (error,) = load_config(path).errors
    assert (error.line, error.key) == (5, "rate") and "set twice" in error.problem


# ---- finding the message where Asterisk would ------------------------------------------------


def test_asterisk_looks_in_the_language_then_without_region_then_no_language_then_en():
    assert lookup_bases("ph/price", "/s", "fr_CA") == [
        "/s/fr_CA/ph/price",
        "/s/fr/ph/price",
        "/s/ph/price",
        "/s/en/ph/price",
    ]
    assert lookup_bases("ph/price", "/s", "en") == ["/s/en/ph/price", "/s/ph/price"]
    assert lookup_bases("/var/lib/sounds/price", "/s", "fr") == ["/var/lib/sounds/price"]


def test_the_first_place_holding_the_name_wins_with_every_format_there(tmp_path):
    make_wav(tmp_path / "fr" / "ph" / "price.wav", 12)
    (tmp_path / "fr" / "ph" / "price.ulaw").write_bytes(b"\xff" * 8000 * 12)
    make_wav(tmp_path / "ph" / "price.wav", 3)
    assert find_sound("ph/price", str(tmp_path), "fr") == [
        f"{tmp_path}/fr/ph/price.wav",
        f"{tmp_path}/fr/ph/price.ulaw",
    ]
    assert find_sound("ph/price", str(tmp_path), "de") == [f"{tmp_path}/ph/price.wav"]


def _priced(tmp_path, announce, **general):
    lines = "".join(f"{k} = {v}\n" for k, v in general.items())
    number = f"[0899000001]\nqueue = q\npurpose = sales\nrate = 2.99/call\nannounce = {announce}\n"
    return load_config(write(tmp_path, f"[general]\n{lines}{number}"))


def test_an_absolute_announce_is_taken_as_playback_takes_it_without_extension(tmp_path):
    (tmp_path / "price.gsm").write_bytes((b"\xd0" + b"\0" * 32) * 550)  # 11 s
    assert price_message_problems(_priced(tmp_path, f"{tmp_path}/price")) == []


def test_a_missing_message_names_every_place_asterisk_looks(tmp_path):
    config = _priced(tmp_path, "ph/none", sounds_dir=tmp_path, sounds_language="fr")
    (error,) = price_message_problems(config)
    assert error.key == "announce" and error.line == 8
    assert f"{tmp_path}/fr/ph/none, {tmp_path}/ph/none, {tmp_path}/en/ph/none" in error.problem
    assert "arrêté of 10 June 2009" in error.problem


def test_a_message_asterisk_cannot_play_is_refused(tmp_path):
    make_wav(tmp_path / "ph" / "price.wav", 12, rate=44100)
    (error,) = price_message_problems(_priced(tmp_path, "ph/price", sounds_dir=tmp_path))
    assert "44100 Hz" in error.problem


def test_a_number_above_015_without_announce_is_refused_by_check_config(tmp_path, capsys):
    path = write(tmp_path, "[0899000001]\nqueue = q\npurpose = advice\nrate = 3.00/call\n")
    code, lines = check(path, capsys)
    assert code == 1
    assert lines[0] == (
        f"{path}:4: announce: required: 3.00/call is above 0.15 EUR, so calls must start with a free "
        "price message of at least 10 s, skippable with # (arrêté of 10 June 2009)"
    )


def test_a_template_shared_message_is_reported_once(tmp_path):
    path = write(
        tmp_path,
        f"""\
        [general]
        sounds_dir = {tmp_path}
        [centre](!)
        queue = q
        purpose = sales
        announce = ph/short
        [0899000001](centre)
        rate = 0.80/min
        [0899000002](centre)
        rate = 0.80/min
        """,
    )
    make_wav(tmp_path / "ph" / "short.wav", 4)
    (error,) = price_message_problems(load_config(path))
    assert error.line == 6


# ---- the caps on S (Arcep 2012-0856) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cap", "above"),
    [("0812000000", "0.06/min", "0.07/min"), ("0812000000", "0.15/call", "0.16/call"),
     ("0822000000", "0.20/min", "0.21/min"), ("0822000000", "0.50/call", "0.51/call"),
     ("0892000000", "0.80/min", "0.81/min"), ("0892000000", "3.00/call", "3.01/call")],
)  # fmt: skip
def test_each_cap_of_arcep_2012_0856_is_allowed_and_a_cent_above_is_one_error_naming_it(
    tmp_path, number, cap, above
):
    section = f"[{number}]\nqueue = q\npurpose = sales\nannounce = ph/price\nrate = "
    assert load_config(write(tmp_path, section + cap + "\n")).errors == []
    (error,) = load_config(write(tmp_path, section + above + "\n")).errors
    assert (error.line, error.key) == (5, "rate")
    assert (
        error.problem
        == f"{above} is above the legal cap of {cap} for {number[:3]} numbers (Arcep decision 2012-0856)"
    )


def test_check_config_quiet_prints_errors_only_not_warnings(tmp_path, capsys):
    path = write(tmp_path, "[0812345678]\nqueue = q\nrate = 0.05/min\n")
    assert check_config.main(["-q", path]) == 0
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""
