"""The config file: Asterisk syntax, one line per problem with file and line, bad sections isolated."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.config import load_config


def write(tmp_path, text, name="ph.conf"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_the_shipped_sample_config_is_valid():
    from pathlib import Path

    config = load_config(str(Path(__file__).parents[2] / "config" / "premium-hotline.conf"))
    assert config.errors == []
    assert str(config.lookup("0899123456").rate) == "0.80/min"


def test_a_089_rate_above_the_cap_is_refused_with_file_and_line(tmp_path):
    path = write(
        tmp_path,
        """\
        [general]
        commitment_s = 30

        [0899123456]
        queue = support
        rate = 0.90/min
        """,
    )
    config = load_config(path)
    assert [str(e) for e in config.errors] == [
        f"{path}:6: rate: 0.90/min is above the legal cap of 0.80/min for 089 numbers "
        "(Arcep decision 2012-0856)"
    ]


def test_caps_per_range(tmp_path):
    path = write(
        tmp_path,
        """\
        [0812000000]
        queue = q
        rate = 0.07/min
        [0822000000]
        queue = q
        rate = 0.51/call
        [0892000000]
        queue = q
        rate = 3.00/call
        [0810000000]
        queue = q
        rate = 0.15/call
        """,
    )
    problems = {(e.line, e.key) for e in load_config(path).errors}
    assert problems == {(3, "rate"), (6, "rate")}


def test_a_surcharge_on_a_free_range_is_refused(tmp_path):
    path = write(tmp_path, "[0800123456]\nqueue = q\nrate = 0.10/min\n")
    (error,) = load_config(path).errors
    assert (error.line, error.key) == (3, "rate") and "free range" in error.problem


def test_a_surcharge_on_a_pattern_spanning_ranges_is_refused(tmp_path):
    path = write(tmp_path, "[_08XXXXXXXX]\nqueue = q\nrate = 0.10/min\n")
    (error,) = load_config(path).errors
    assert error.key == "rate"


def test_one_bad_section_does_not_take_the_other_numbers_down(tmp_path):
    path = write(
        tmp_path,
        """\
        [0899000001]
        queue = q
        rate = 9.99/min
        [0899000002]
        queue = q
        rate = 0.50/min
        """,
    )
    config = load_config(path)
    assert config.lookup("0899000001").broken
    good = config.lookup("0899000002")
    assert not good.broken and str(good.rate) == "0.50/min"


def test_unknown_keys_suggest_the_right_one(tmp_path):
    path = write(tmp_path, "[general]\ncomitment_s = 30\n")
    (error,) = load_config(path).errors
    assert str(error) == f"{path}:2: comitment_s: unknown key (did you mean commitment_s?)"


def test_templates_and_inheritance(tmp_path):
    path = write(
        tmp_path,
        """\
        [centre](!)
        queue = paris
        hours = mon-fri 09:00-18:00
        ivr = yes
        [0899000001](centre)
        rate = 0.80/min
        ivr = no
        """,
    )
    config = load_config(path)
    entry = config.lookup("0899000001")
    assert (entry.queue, entry.ivr, entry.hours.text) == ("paris", False, "mon-fri 09:00-18:00")
    assert config.lookup("centre") is None


def test_most_specific_pattern_wins_and_exact_beats_patterns(tmp_path):
    path = write(
        tmp_path,
        """\
        [_08.]
        queue = generic
        [_0899XXXXXX]
        queue = q089
        [0899000001]
        queue = exact
        """,
    )
    config = load_config(path)
    assert config.lookup("0899000001").queue == "exact"
    assert config.lookup("0899000002").queue == "q089"
    assert config.lookup("0812345678").queue == "generic"
    assert config.lookup("0123456789") is None


def test_international_forms_find_the_national_section(tmp_path):
    path = write(tmp_path, "[0899000001]\nqueue = q\n")
    config = load_config(path)
    assert config.lookup("+33899000001").queue == "q"
    assert config.lookup("0033899000001").queue == "q"


def test_a_missing_file_is_one_error_at_line_zero(tmp_path):
    config = load_config(str(tmp_path / "nope.conf"))
    (error,) = config.errors
    assert error.line == 0 and error.key == "file"
    assert config.general.fail_tariff == "free"


def test_general_errors_keep_the_default(tmp_path):
    config = load_config(write(tmp_path, "[general]\nredis_timeout_ms = lots\nfail_tariff = maybe\n"))
    assert {e.key for e in config.errors} == {"redis_timeout_ms", "fail_tariff"}
    assert config.general.redis_timeout_ms == 200 and config.general.fail_tariff == "free"


def test_duplicate_keys_and_sections_are_reported(tmp_path):
    path = write(tmp_path, "[0899000001]\nqueue = a\nqueue = b\n[0899000001]\nqueue = c\n")
    problems = [(e.line, e.key) for e in load_config(path).errors]
    assert (3, "queue") in problems and (4, "[0899000001]") in problems


def test_comments_arrows_and_escaped_semicolons(tmp_path):
    path = write(
        tmp_path,
        """\
        ; a comment
        [0899000001] ; trailing
        queue => support ; arrow form
        announce = custom/price\\;v2
        """,
    )
    entry = load_config(path).lookup("0899000001")
    assert entry.queue == "support"
    assert entry.errors and entry.errors[0].key == "announce"  # ';' is not a sound name character


def test_includes_are_followed_relative_to_the_file(tmp_path):
    write(tmp_path, "[0899000001]\nqueue = inc\n", name="numbers.conf")
    config = load_config(write(tmp_path, "[general]\ncommitment_s = 30\n#include numbers.conf\n"))
    assert config.errors == [] and config.lookup("0899000001").queue == "inc"


def test_queue_is_required(tmp_path):
    (error,) = load_config(write(tmp_path, "[0899000001]\nrate = 0.10/min\n")).errors
    assert error.key == "queue" and error.line == 1


def test_hours_and_timezone_errors_name_the_faulty_part(tmp_path):
    config = load_config(
        write(tmp_path, "[0899000001]\nqueue = q\nhours = mon-fri 20:00-08:00\ntimezone = Mars/Olympus\n")
    )
    assert {e.key for e in config.errors} == {"hours", "timezone"}
    assert "ends before it starts" in next(e.problem for e in config.errors if e.key == "hours")


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_any_text_loads_without_raising_and_errors_are_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "x.conf"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    config = load_config(str(path))
    for error in config.errors:
        line = str(error)
        assert "\n" not in line and "\r" not in line
        assert line.startswith(f"{path}:")


def test_a_line_of_punctuation_alone_is_one_error_not_a_crash(tmp_path):
    (error,) = load_config(write(tmp_path, "[general]\n:\n")).errors
    assert (error.line, error.key) == (2, "(line)")


def test_a_typo_in_a_template_is_one_error_on_the_templates_line(tmp_path):
    path = write(
        tmp_path,
        """\
        [centre](!)
        queue = paris
        horus = mon-fri 09:00-18:00
        [0899000001](centre)
        [0899000002](centre)
        [0899000003](centre)
        """,
    )
    config = load_config(path)
    assert [str(e) for e in config.errors] == [f"{path}:3: horus: unknown key (did you mean hours?)"]
    assert all(entry.broken for entry in config.entries)  # each section still falls to fail_tariff


def test_caller_privacy_hash_without_a_key_stores_no_number_and_says_so(tmp_path):
    path = write(tmp_path, "[general]\ncaller_privacy = hash\n")
    config = load_config(path)
    assert config.general.caller_privacy == "none"
    assert config.errors == []
    assert [str(w) for w in config.said_at_load] == [
        f"{path}:2: caller_privacy: warning: hash needs caller_hash_key or caller_hash_key_file "
        "(16 bytes or more): no caller number is stored (as with none)"
    ]
    assert config.said_at_load[0] in config.warnings  # check-config prints it with the others


def test_caller_privacy_hash_with_a_key_in_a_later_general_section_is_kept(tmp_path):
    path = write(
        tmp_path, "[general]\ncaller_privacy = hash\n[general]\ncaller_hash_key = k-0123456789abcdef\n"
    )
    config = load_config(path)
    assert (config.general.caller_privacy, config.said_at_load) == ("hash", [])


def test_the_default_privacy_without_a_key_loads_quietly_as_none(tmp_path):
    config = load_config(write(tmp_path, "[general]\ncommitment_s = 30\n"))
    assert (config.general.caller_privacy, config.said_at_load) == ("none", [])


def test_check_config_names_the_privacy_fallback(tmp_path, capsys):
    from premium_hotline.commands import check_config

    path = write(tmp_path, "[general]\ncaller_privacy = hash\n")
    assert check_config.main([path]) == 0
    out, err = capsys.readouterr()
    assert f"{path}:2: caller_privacy: warning: hash needs caller_hash_key" in err
    assert out.strip().endswith("caller numbers stored as none")


def test_check_config_on_a_missing_file_says_so_in_one_line(tmp_path, capsys):
    from premium_hotline.commands import check_config

    missing = tmp_path / "nowhere.conf"
    assert check_config.main([str(missing)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        f"premium-hotline check-config: cannot read {missing}: No such file or directory\n",
    )
