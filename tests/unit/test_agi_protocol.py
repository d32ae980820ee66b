"""The AGI wire rules: what a value becomes on the line, and how Asterisk's replies are read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.agi.protocol import (
    MAX_VALUE_BYTES,
    AgiDeadChannel,
    AgiHangup,
    AgiInvalidCommand,
    AgiProtocolError,
    AgiUsageError,
    format_command,
    parse_env,
    quote,
    read_reply,
)
from sandbox.agi_peer import parse_args


def lines(*texts):
    it = iter([t + "\n" for t in texts] + [""])
    return lambda: next(it)


@given(st.text())
def test_any_value_is_one_argument_and_one_line_for_asterisk(value):
    line = format_command("SET VARIABLE", "PH_NAME", value)
    assert line.count("\n") == 1 and line.endswith("\n")
    args = parse_args(line[:-1])
    assert args[:3] == ["SET", "VARIABLE", "PH_NAME"]
    assert len(args) == 4


@given(st.text(alphabet=st.characters(blacklist_characters="\r\n\0"), max_size=200))
def test_a_value_without_line_breaks_reaches_asterisk_unchanged(value):
    line = format_command("SET VARIABLE", "X", value)
    assert parse_args(line[:-1])[3] == value


@given(st.text(min_size=1))
def test_values_are_cut_below_asterisks_2048_byte_command_buffer(value):
    long_value = value * (3000 // len(value) + 1)
    line = format_command("SET VARIABLE", "PH_A", long_value)
    assert len(line.encode()) < 2048
    assert len(parse_args(line[:-1])) == 4


def test_a_hostile_caller_name_cannot_inject_a_command():
    name = 'Evil" "x"\nEXEC Dial SIP/premium\r\nHANGUP \\'
    line = format_command("SET VARIABLE", "CALLERID(name)", name)
    assert line.count("\n") == 1
    assert parse_args(line[:-1]) == [
        "SET",
        "VARIABLE",
        "CALLERID(name)",
        'Evil" "x" EXEC Dial SIP/premium HANGUP \\',
    ]


def test_quote_escapes_backslashes_and_quotes():
    assert quote('a"b\\c') == '"a\\"b\\\\c"'


def test_utf8_values_are_cut_on_a_character_boundary():
    cut = quote("é" * 2000)
    assert len(cut.encode()) <= MAX_VALUE_BYTES + 2
    cut.encode("utf-8")  # no broken surrogate


def test_env_block_keeps_values_with_colons_and_ignores_junk():
    env = parse_env(["agi_channel: Local/100@hotline-0001;2", "agi_callerid: 33:1", "garbage", ": x"])
    assert env == {"agi_channel": "Local/100@hotline-0001;2", "agi_callerid": "33:1"}


class TestReplies:
    def test_200_with_data_keeps_parentheses_inside_the_value(self):
        reply = read_reply(lines("200 result=1 (a (b) c)"))
        assert (reply.result, reply.data) == ("1", "a (b) c")

    def test_200_with_endpos(self):
        reply = read_reply(lines("200 result=0 endpos=12345"))
        assert reply.result == "0" and reply.endpos == "12345"

    def test_get_data_timeout_flag_is_kept(self):
        assert read_reply(lines("200 result= (timeout)")).timed_out

    def test_gosub_trying_line_is_skipped(self):
        assert read_reply(lines("100 result=0 Trying...", "200 result=0")).result == "0"

    def test_end_of_input_is_a_hangup(self):
        with pytest.raises(AgiHangup):
            read_reply(lines())

    def test_fastagi_hangup_line_is_a_hangup(self):
        with pytest.raises(AgiHangup):
            read_reply(lines("HANGUP", "200 result=1"))

    def test_result_minus_one_is_a_hangup(self):
        with pytest.raises(AgiHangup):
            read_reply(lines("200 result=-1"))

    def test_511_is_a_dead_channel(self):
        with pytest.raises(AgiDeadChannel):
            read_reply(lines("511 Command Not Permitted on a dead channel or intercept routine"))

    def test_510_is_an_invalid_command(self):
        with pytest.raises(AgiInvalidCommand):
            read_reply(lines("510 Invalid or unknown command"))

    def test_one_line_520_does_not_read_forever(self):
        with pytest.raises(AgiUsageError):
            read_reply(lines("520 Invalid command syntax.  Proper usage not available."))

    def test_multi_line_520_reads_to_its_end(self):
        with pytest.raises(AgiUsageError) as err:
            read_reply(
                lines(
                    "520-Invalid command syntax.  Proper usage follows:",
                    "Usage: ...",
                    "520 End of proper usage.",
                )
            )
        assert "Usage: ..." in str(err.value)

    def test_multi_line_520_cut_short_is_a_hangup(self):
        with pytest.raises(AgiHangup):
            read_reply(lines("520-Invalid command syntax.", "Usage"))

    @given(
        st.text(max_size=50).filter(lambda s: not s.startswith(("200", "100", "HANGUP", "5")) and s.strip())
    )
    def test_garbage_is_a_protocol_error_never_a_crash(self, junk):
        with pytest.raises((AgiProtocolError, AgiHangup)):
            read_reply(lines(junk.replace("\n", " ").replace("\r", " ")))

    def test_200_without_result_is_a_protocol_error(self):
        with pytest.raises(AgiProtocolError):
            read_reply(lines("200 ok"))
