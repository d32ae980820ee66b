"""Secrets out of logs and messages, at the source (redact_url) and as a net (the log scrubber)."""

from __future__ import annotations

import json

import pytest

from premium_hotline import log as log_module
from premium_hotline.config import load_config
from premium_hotline.log import Log, redact_url, register_secret, scrub, url_password
from premium_hotline.redis.url import parse_url

PASSWORD = "S3cret-p@ss%2Fword"  # percent-encoded '/' in the URL: both forms are secret


@pytest.mark.parametrize(
    ("url", "password", "shown"),
    [
        ("rediss://ph:pw1234@127.0.0.1:6380/0", "pw1234", "rediss://ph:***@127.0.0.1:6380/0"),
        ("redis://pw1234@host/1", "pw1234", "redis://***@host/1"),
        ("redis://host:6379/0", None, "redis://host:6379/0"),
        ("redis://ph:p@ss:word@host/0", "p@ss:word", "redis://ph:***@host/0"),
        ("redis+sentinel://u:pw1234@a:1,b:2/m/0", "pw1234", "redis+sentinel://u:***@a:1,b:2/m/0"),
        ("unix://:pw1234@/run/redis.sock", "pw1234", "unix://:***@/run/redis.sock"),
    ],
)
def test_a_url_is_shown_without_its_password(url, password, shown):
    assert url_password(url) == password
    assert redact_url(url) == shown
    if password:
        assert password not in redact_url(url)


def test_an_unusable_url_is_refused_without_quoting_its_password():
    with pytest.raises(ValueError) as refused:
        parse_url(f"ftp://ph:{PASSWORD}@127.0.0.1/0")
    assert PASSWORD not in str(refused.value) and "***" in str(refused.value)


def test_every_log_line_is_scrubbed_of_registered_secrets(tmp_path, monkeypatch):
    monkeypatch.setattr(log_module, "_SECRETS", set())
    register_secret(PASSWORD)
    register_secret(b"caller-hash-key-0123456789")
    register_secret("abc")  # too short to scrub without mangling ordinary words
    path = tmp_path / "log.jsonl"
    log = Log("debug", str(path))
    log.error(
        "redis_write_failed",
        error=f"cannot connect to redis://ph:{PASSWORD}@h/0",
        decoded="S3cret-p@ss/word",  # what urllib.parse.unquote gives
        quoted='key "caller-hash-key-0123456789"',
        other="abc stays",
    )
    try:
        raise RuntimeError(f"boom {PASSWORD}")
    except RuntimeError:
        log.error("route_crashed", exc_info=True)
    log_module._FILES.pop(str(path)).close()
    text = path.read_text()
    for secret in (PASSWORD, "S3cret-p@ss/word", "caller-hash-key-0123456789"):
        assert secret not in text
    first = json.loads(text.splitlines()[0])
    assert first["error"] == "cannot connect to redis://ph:***@h/0" and first["other"] == "abc stays"
    assert "boom ***" in text


def test_the_config_registers_its_secrets_and_its_errors_never_quote_them(tmp_path, monkeypatch):
    monkeypatch.setattr(log_module, "_SECRETS", set())
    key_file = tmp_path / "hash.key"
    key_file.write_text("file-held-hash-key-0123456789\n")
    path = tmp_path / "c.conf"
    path.write_text(
        "[general]\n"
        f"redis_url = redis+cluster://ph:{PASSWORD}@127.0.0.1:notaport/0\n"
        f"caller_hash_key_file = {key_file}\n"
    )
    config = load_config(str(path))
    assert len(config.errors) == 1 and config.errors[0].key == "redis_url"
    assert PASSWORD not in str(config.errors[0]) and "***" in str(config.errors[0])
    assert scrub(f"x {PASSWORD} file-held-hash-key-0123456789 y") == "x *** *** y"


def test_nothing_is_scrubbed_when_nothing_is_registered(monkeypatch):
    monkeypatch.setattr(log_module, "_SECRETS", set())
    assert scrub("plain text with pw1234") == "plain text with pw1234"
