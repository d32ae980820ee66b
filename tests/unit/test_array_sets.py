"""Many variables in one SET VARIABLE "ARRAY(...)": what Asterisk's two parsers make of the line.

Asterisk reads the line with res_agi.c parse_args, then func_strings' ARRAY() splits the names
and the value again with app.c __ast_app_separate_args; both are modelled in sandbox.agi_peer
line for line. Whatever the values, each must come out whole, and every line must stay within
Asterisk's command buffer and ARRAY()'s item limit.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from premium_hotline.agi.protocol import (
    MAX_ARRAY_ITEMS,
    MAX_COMMAND_BYTES,
    MAX_VALUE_BYTES,
    UncarriableValue,
    array_escape,
    format_sets,
)
from sandbox.agi_peer import ChannelModel, array_names, parse_args, separate_args

HOSTILE = "\",\\()[];= ${}|'é€ü日本\t"
values = st.text(
    alphabet=st.sampled_from(HOSTILE)
    | st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)),
    max_size=60,
)
names = st.sampled_from(
    ["PH_TARIFF", "PH_REASON", "PH_RATE", "PH_QUEUE", "PH_DID", "CDR(userfield)", "PH_X1", "HASH(h,k)"]
)


def received(lines: list[str]) -> dict[str, str]:
    """What a channel holds after Asterisk ran these command lines."""
    channel = ChannelModel()
    for line in lines:
        assert line.endswith("\n") and line.count("\n") == 1
        assert channel.reply(line[:-1]) == "200 result=1"
    return channel.variables


@given(st.lists(st.tuples(names, values), min_size=1, max_size=12))
def test_every_value_arrives_whole_whatever_it_holds(pairs):
    expected = dict(pairs)
    assert received(format_sets(pairs)) == {name: str(value) for name, value in expected.items()}


@given(st.lists(st.tuples(names, values), min_size=2, max_size=8, unique_by=lambda p: p[0]))
def test_several_variables_take_one_command(pairs):
    lines = format_sets(pairs)
    assert len(lines) == 1
    args = parse_args(lines[0][:-1])
    assert len(args) == 4 and args[:2] == ["SET", "VARIABLE"]
    assert array_names(args[2]) == [name for name, _ in pairs]


@given(values)
def test_array_escaping_is_undone_by_asterisks_argument_parser(value):
    assert separate_args(array_escape(value)) == ([value] if value else [])


def test_a_lone_variable_is_a_plain_set_without_the_second_escaping_layer():
    assert format_sets([("PH_RATE", "0,80 €/min")]) == ['SET VARIABLE "PH_RATE" "0,80 €/min"\n']


def test_a_value_set_twice_keeps_the_last_one_in_the_first_place():
    assert received(format_sets([("A", "1"), ("B", "2"), ("A", "3")])) == {"A": "3", "B": "2"}


@settings(deadline=None, max_examples=40)
@given(st.lists(st.text(alphabet=HOSTILE, min_size=200, max_size=300), min_size=1, max_size=40))
def test_long_batches_are_split_within_asterisks_buffer_and_arrays_item_limit(texts):
    pairs = [(f"PH_V{i}", text) for i, text in enumerate(texts)]
    lines = format_sets(pairs)
    for line in lines:
        assert len(line.encode("utf-8")) <= MAX_COMMAND_BYTES
        names_ = array_names(parse_args(line[:-1])[2])
        assert names_ is None or len(names_) <= MAX_ARRAY_ITEMS
    assert received(lines) == dict(pairs)


def test_more_names_than_array_takes_go_in_several_commands():
    pairs = [(f"V{i}", i) for i in range(MAX_ARRAY_ITEMS * 2 + 1)]
    lines = format_sets(pairs)
    assert len(lines) == 3
    assert received(lines) == {name: str(value) for name, value in pairs}


def test_a_value_that_is_not_valid_unicode_is_rejected():
    with pytest.raises(UncarriableValue, match="PH_S: the value is not valid Unicode"):
        format_sets([("PH_S", "\ud800")])


@pytest.mark.parametrize("value", ["a\nSET VARIABLE X 1", "a\rb", "nul\0byte"])
def test_a_value_with_a_line_break_or_nul_is_rejected_whole_not_cut(value):
    with pytest.raises(UncarriableValue, match="PH_B: the value holds a line break or NUL"):
        format_sets([("PH_A", "fine"), ("PH_B", value)])


def test_a_value_over_the_limit_is_rejected_with_its_name():
    with pytest.raises(UncarriableValue, match=f"PH_LONG: the value is over {MAX_VALUE_BYTES} bytes"):
        format_sets([("PH_LONG", "x" * (MAX_VALUE_BYTES + 1))])


def test_a_value_whose_escapes_cannot_fit_one_line_is_rejected():
    with pytest.raises(UncarriableValue, match="PH_SLASHES: the value is too long for one AGI command line"):
        format_sets([("PH_SLASHES", "\\" * MAX_VALUE_BYTES)])


@pytest.mark.parametrize("name", ["", "A,B", "A B", 'A"', "CDR(a", "F(a(b))", "X)"])
def test_a_name_array_could_split_is_rejected(name):
    with pytest.raises(UncarriableValue, match="is not NAME or FUNC"):
        format_sets([(name, "v")])
