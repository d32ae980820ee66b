"""The server's RESP codec says and reads exactly what the plain script's client does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.store.async_backend import _Incomplete, encode_pipeline, parse_reply
from premium_hotline.store.resp import RedisUnavailable, RespConnection, RespError, encode

args = st.one_of(st.text(max_size=30), st.integers(), st.binary(max_size=30))


@given(st.lists(st.lists(args, min_size=1, max_size=6), min_size=1, max_size=5))
def test_a_pipeline_is_encoded_byte_for_byte_as_the_plain_client_encodes_it(commands):
    assert encode_pipeline(commands) == b"".join(encode(command) for command in commands)


def _plain_client_reads(data: bytes):
    """What RespConnection._read_reply makes of `data` (its socket replaced by the bytes)."""
    conn = RespConnection("redis://127.0.0.1:1/0", 1)
    conn._buffer = data

    def no_more():
        raise AssertionError("the plain client wanted more bytes")

    conn._fill = no_more
    return conn._read_reply()


def _same(a, b) -> bool:
    if isinstance(a, RespError) or isinstance(b, RespError):
        return type(a) is type(b) and str(a) == str(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _resp(value) -> bytes:
    """Encode a reply as Redis sends it."""
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, RespError):
        return b"-" + str(value).encode() + b"\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, tuple):  # a status reply
        return b"+" + value[0].encode() + b"\r\n"
    return b"*%d\r\n" % len(value) + b"".join(_resp(item) for item in value)


replies = st.recursive(
    st.one_of(
        st.none(),
        st.integers(),
        st.binary(max_size=20),
        st.builds(lambda t: (t,), st.text(alphabet="ABCOKQUEUD", min_size=1, max_size=8)),
        st.builds(RespError, st.text(alphabet="ERR WRONGTYPE abc", min_size=1, max_size=20)),
    ),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


@given(replies)
def test_any_reply_is_read_as_the_plain_client_reads_it(value):
    data = _resp(value)
    ours, end = parse_reply(data, 0)
    assert end == len(data)
    assert _same(ours, _plain_client_reads(data))


@given(replies)
def test_a_reply_cut_anywhere_asks_for_more_instead_of_misreading(value):
    data = _resp(value)
    for cut in range(len(data)):
        with pytest.raises(_Incomplete):
            parse_reply(data[:cut], 0)


def test_an_error_reply_is_a_resp_error_object_in_its_place():
    data = b"*2\r\n:1\r\n-WRONGTYPE Operation against a key\r\n"
    reply, _ = parse_reply(data, 0)
    assert reply[0] == 1 and isinstance(reply[1], RespError)
    assert str(reply[1]) == "WRONGTYPE Operation against a key"


def test_bytes_that_are_not_resp_mean_redis_is_unusable():
    with pytest.raises(RedisUnavailable):
        parse_reply(b"HTTP/1.1 400 Bad Request\r\n", 0)
