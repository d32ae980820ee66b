"""One parser for every `redis_url` form: what each form carries to the clients, and its errors."""

from __future__ import annotations

import string
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.log import redact_url
from premium_hotline.redis.url import CLUSTER, SENTINEL, SINGLE, parse_url


def test_single_node_forms_carry_host_port_database_and_credentials():
    target = parse_url("redis://ph:pw@10.0.0.1:6380/3")
    assert (target.kind, target.nodes, target.db, target.username, target.password, target.tls) == (
        SINGLE, [("10.0.0.1", 6380)], 3, "ph", "pw", False,
    )  # fmt: skip
    assert (
        parse_url("redis://secret@h").password == "secret" and parse_url("redis://secret@h").username is None
    )
    assert parse_url("redis://[::1]:7000/0").nodes == [("::1", 7000)]
    assert parse_url("redis://h?db=5").db == 5
    assert parse_url("redis:///0").nodes == [("127.0.0.1", 6379)]
    unix = parse_url("unix://:pw@/run/redis/redis.sock?db=2")
    assert (unix.path, unix.db, unix.password, unix.nodes) == ("/run/redis/redis.sock", 2, "pw", [])


def test_tls_is_a_scheme_for_every_topology_and_takes_the_configured_ca():
    for url, kind in (
        ("rediss://h:6380/0", SINGLE),
        ("rediss+cluster://h1:7000,h2:7001", CLUSTER),
        ("rediss+sentinel://s1,s2/m", SENTINEL),
    ):
        target = parse_url(url, "/etc/ssl/redis-ca.pem")
        assert (target.kind, target.tls, target.ca_file) == (kind, True, "/etc/ssl/redis-ca.pem")
    assert not parse_url("redis+cluster://h1:7000").tls


def test_the_ca_file_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("PREMIUM_HOTLINE_REDIS_CA", "/env/ca.pem")
    assert parse_url("rediss://h").ca_file == "/env/ca.pem"
    assert parse_url("rediss://h", "/config/ca.pem").ca_file == "/config/ca.pem"


def test_sentinels_get_their_own_password_from_the_query_and_only_that():
    target = parse_url("redis+sentinel://ph:data-pw@s1:26379/m/1?sentinel_password=sent-pw")
    assert (target.password, target.sentinel_password, target.sentinel_username) == (
        "data-pw",
        "sent-pw",
        None,
    )
    assert target.sentinel(("s1", 26379)).password == "sent-pw"


@pytest.mark.parametrize(
    "url, problem",
    [
        ("redis://h/0?timeout=3", "unknown option 'timeout'"),
        ("redis+cluster://h1/0?db=1", "unknown option 'db'"),
        ("redis+sentinel://s1/m?sentinel_pass=x", "unknown option"),
        ("redis://h1,h2/0", "one host"),
        ("redis://h:99999/0", "bad port"),
        ("redis://h:port/0", "bad port"),
        ("redis://h/x", "not a database number"),
        ("unix://relative.sock", "absolute socket path"),
        ("http://h/0", "is not a"),
    ],
)
def test_a_malformed_url_says_what_is_wrong(url, problem):
    with pytest.raises(ValueError, match=problem):
        parse_url(url)


def test_a_sentinel_password_never_shows_in_a_message():
    url = "redis+sentinel://:data-pw-1@s1/m?sentinel_password=sent-pw-2"
    shown = redact_url(url)
    assert "data-pw-1" not in shown and "sent-pw-2" not in shown and shown.count("***") == 2
    with pytest.raises(ValueError) as refused:
        parse_url(url + "&other=1")
    assert "sent-pw-2" not in str(refused.value) and "data-pw-1" not in str(refused.value)


hosts = st.text(alphabet=string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=20)
secrets = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)


@given(hosts, st.integers(1, 65535), st.integers(0, 15), st.none() | secrets, secrets)
def test_any_url_built_from_parts_parses_back_to_those_parts(host, port, db, user, password):
    auth = f"{quote(user, safe='') if user else ''}:{quote(password, safe='')}@"
    target = parse_url(f"redis://{auth}{host}:{port}/{db}")
    assert (target.nodes, target.db, target.username, target.password) == ([(host, port)], db, user, password)
    nodes = parse_url(f"rediss+cluster://{auth}{host}:{port},{host}:{port % 65535 + 1}/0").nodes
    assert nodes == [(host, port), (host, port % 65535 + 1)]


def test_check_config_names_an_unknown_url_option(write_config):
    from premium_hotline.config import load_config

    path = write_config(redis_url="redis://127.0.0.1:6379/0?socket_timeout=2")
    errors = [str(error) for error in load_config(path).errors]
    assert any("redis_url" in error and "socket_timeout" in error for error in errors), errors
