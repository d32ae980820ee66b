"""Reading from Asterisk: deadlines, bounded lines, bytes that are not UTF-8, the env block."""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.agi.lines import FdLines, read_env
from premium_hotline.agi.protocol import AgiHangup, AgiProtocolError, AgiTimeout


def pipe_with(data: bytes, close: bool = True) -> FdLines:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    if close:
        os.close(write_fd)
    return FdLines(read_fd, timeout_s=0.2)


def test_a_silent_asterisk_times_out_instead_of_holding_the_caller():
    reader = pipe_with(b"", close=False)
    start = time.monotonic()
    with pytest.raises(AgiTimeout):
        reader.readline()
    assert time.monotonic() - start < 1


def test_lines_come_back_with_their_newline_and_eof_is_empty():
    reader = pipe_with(b"a\r\nb\n")
    assert [reader.readline(), reader.readline(), reader.readline()] == ["a\n", "b\n", ""]


def test_over_long_line_is_refused():
    reader = pipe_with(b"x" * 20000 + b"\n")
    with pytest.raises(AgiProtocolError):
        reader.readline()


def test_env_without_blank_line_is_not_agi():
    reader = pipe_with(b"agi_request: x\n")
    with pytest.raises(AgiProtocolError):
        read_env(reader.readline)


def test_no_env_at_all_is_a_hangup():
    with pytest.raises(AgiHangup):
        read_env(pipe_with(b"").readline)


def test_env_is_bounded():
    reader = pipe_with(b"agi_x: y\n" * 500 + b"\n")
    with pytest.raises(AgiProtocolError):
        read_env(reader.readline)


@given(st.binary(max_size=300))
def test_any_bytes_in_the_env_block_parse_or_fail_cleanly(data):
    reader = pipe_with(data.replace(b"\n\n", b"\n") + b"\n\n")
    try:
        env = read_env(reader.readline)
    except (AgiProtocolError, AgiHangup):
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
