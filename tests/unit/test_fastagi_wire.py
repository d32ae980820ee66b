"""What a FastAGI request asks for (script path, query string) and who may make one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.server.app import _script_path, general_errors
from premium_hotline.server.wire import MAX_QUERY_ITEMS, AllowList, apply_script, parse_script


def test_the_route_is_the_last_path_part_whatever_the_prefix_or_suffix():
    for script in (
        "decide_tariff",
        "/decide_tariff",
        "hotline/decide_tariff",
        "decide_tariff.py",
        "decide_tariff/",
    ):
        assert parse_script(script).route == "decide_tariff"


def test_positional_query_items_become_the_next_agi_arguments():
    env = {"agi_arg_1": "first"}
    apply_script(env, parse_script("decide_tariff?0899123456&second"))
    assert (env["agi_arg_1"], env["agi_arg_2"], env["agi_arg_3"]) == ("first", "0899123456", "second")


def test_the_query_form_and_the_argument_form_give_the_same_arguments():
    from_query = {}
    apply_script(from_query, parse_script("decide_tariff?0899123456"))
    assert from_query == {"agi_arg_1": "0899123456"}


def test_named_query_items_are_in_the_environment_under_agi_query():
    env = {}
    apply_script(env, parse_script("decide_tariff?site=FR&queue=sales%20desk"))
    assert env == {"agi_query_site": "FR", "agi_query_queue": "sales desk"}


def test_a_plus_sign_is_kept_for_international_numbers():
    assert parse_script("decide_tariff?+33899123456").args == ["+33899123456"]


def test_hostile_query_names_are_dropped_and_values_bounded():
    script = parse_script("decide_tariff?a%0Ab=1&{x}=2&ok=" + "9" * 5000 + "&v=%0D%0Ainjected")
    assert set(script.query) == {"ok", "v"}
    assert len(script.query["ok"]) == 256
    assert "\n" not in script.query["v"] and "\r" not in script.query["v"]


def test_at_most_a_bounded_number_of_query_items_is_kept():
    script = parse_script("decide_tariff?" + "&".join(str(i) for i in range(100)))
    assert len(script.args) == MAX_QUERY_ITEMS


@given(st.text(max_size=300))
def test_any_script_path_parses_without_error_and_yields_one_line_values(text):
    script = parse_script(text)
    for value in [*script.args, *script.query.values()]:
        assert "\n" not in value and "\r" not in value and "\0" not in value


def test_the_script_comes_from_agi_network_script_else_from_agi_request():
    assert _script_path({"agi_network_script": "decide_tariff?1", "agi_request": "x"}) == "decide_tariff?1"
    assert _script_path({"agi_request": "agi://127.0.0.1:4573/call_ended?a=1"}) == "call_ended?a=1"


@pytest.mark.parametrize(
    ("allow", "address", "permitted"),
    [
        ("127.0.0.0/8,::1", "127.0.0.1", True),
        ("127.0.0.0/8,::1", "::1", True),
        ("127.0.0.0/8,::1", "10.1.2.3", False),
        ("10.0.0.0/8", "::ffff:10.1.2.3", True),  # an IPv4 peer on a dual-stack socket
        ("192.0.2.10", "192.0.2.10", True),
        ("192.0.2.10", "192.0.2.11", False),
        ("any", "203.0.113.9", True),
        ("127.0.0.1", "", False),  # no peer address (not TCP): refused
        ("127.0.0.1", "not-an-address", False),
    ],
)
def test_the_allow_list_admits_listed_networks_only(allow, address, permitted):
    assert AllowList.parse(allow).permits(address) is permitted


@pytest.mark.parametrize("text", ["", " , ", "10.0.0.0/33", "pbx.example.com"])
def test_an_allow_list_that_admits_nobody_or_cannot_be_read_is_refused(text):
    with pytest.raises(ValueError):
        AllowList.parse(text)


def test_a_config_whose_general_section_is_broken_is_told_from_one_with_a_broken_number(write_config):
    from premium_hotline.config import load_config

    number_only = load_config(write_config("[0899123456]\nqueue = support\nrate = nonsense\n"))
    assert number_only.errors and general_errors(number_only) == []
    general = load_config(write_config("[0899123456]\nqueue = support\n", redis_timeout_ms="soon"))
    assert [error.key for error in general_errors(general)] == ["redis_timeout_ms"]
    missing = load_config("/nonexistent/premium-hotline.conf")
    assert general_errors(missing)
