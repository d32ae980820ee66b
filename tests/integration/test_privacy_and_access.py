"""Privacy and access: TLS and an ACL user against a real redis-server, secrets out of every log,
caller numbers only as a keyed hash, the FastAGI allow-list applied before a byte is read.

The TLS server here has no plaintext port, its default user is disabled, and the plugin's user
`ph` may only touch `ph:*` with the commands the plugin sends (tests/support/tls_redis.py): a
route that needed anything else would fail these tests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sandbox.agi_peer import ChannelModel, default_env, env_block, run_script
from sandbox.fastagi import FastAgiServerProcess, fastagi_env, run_fastagi
from sandbox.redis_server import RedisServer, free_port
from tests.support.calls import NUMBERS, READY, T0, Transport, call_channel, one_call, wait_closed
from tests.support.tls_redis import PLUGIN_PASSWORD, PLUGIN_USER, TlsRedisServer

HASH_KEY = "caller-hash-key-7f3e91b2c4d5"  # a secret too: never in a log line
CALLER = "0612345678"
CLI = Path(sys.executable).with_name("premium-hotline")


@pytest.fixture(scope="module")
def tls_redis():
    server = TlsRedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def admin(tls_redis):
    client = tls_redis.admin()
    client.flushall()
    yield client
    client.close()


def tls_config(write_config, tls_redis, tmp_path, **general) -> str:
    settings = {
        "redis_url": tls_redis.url(),
        "redis_ca_file": tls_redis.pki["ca"],
        "redis_timeout_ms": 1000,  # a TLS handshake per plain process, on a loaded CI machine
        "caller_hash_key": HASH_KEY,
        "log_level": "debug",
        "log_file": str(tmp_path / "plugin.log"),
        **general,
    }
    return write_config(NUMBERS, **settings)


def no_secret_anywhere(*texts: str) -> None:
    for text in texts:
        for secret in (PLUGIN_PASSWORD, HASH_KEY):
            assert secret not in text, f"secret {secret[:4]}... found in: {text[:300]}"


def premium_call(transport: Transport, uid: str) -> ChannelModel:
    """A call whose decision reads Redis (an agent is ready: the recent waits are fetched)."""
    channel, clock = call_channel(T0, READY)
    result = transport.run("decide_tariff", default_env(uniqueid=uid), channel)
    assert result.returncode == 0, result.stderr
    channel.variables["PH_QUEUED_MS"] = str(T0 + 500)
    clock.now = T0 + 6000
    channel.functions["SHARED(PH_HUMAN_MS)"] = str(clock.now)
    assert transport.run("agent_answered", default_env(uniqueid=uid), channel).returncode == 0
    clock.now += 60_000
    channel.dead = True
    assert transport.run("call_ended", default_env(uniqueid=uid), channel).returncode == 0
    return channel


def test_plain_routes_work_over_tls_as_the_least_privileged_acl_user(
    tls_redis, admin, write_config, tmp_path
):
    config = tls_config(write_config, tls_redis, tmp_path)
    channel = premium_call(Transport(config), "1700000200.1")
    assert (channel.variables["PH_TARIFF"], channel.variables["PH_REASON"]) == ("premium", "premium")
    wait_closed(admin, ["1700000200.1"])
    record = admin.hgetall("ph:call:{1700000200.1}")
    assert (record["outcome"], record["billable_s"], record["decided_tariff"]) == (
        "answered",
        "60",
        "premium",
    )
    assert not (tmp_path / "spool" / "spool.jsonl").exists()  # nothing failed, nothing spooled
    no_secret_anywhere((tmp_path / "plugin.log").read_text())


def test_the_fastagi_server_works_over_tls_as_the_acl_user(tls_redis, admin, write_config, tmp_path):
    config = tls_config(write_config, tls_redis, tmp_path, log_file="")
    with FastAgiServerProcess(config) as server:
        channel = premium_call(Transport(config, server.port), "1700000200.2")
        wait_closed(admin, ["1700000200.2"])
        assert server.stop() == 0
    assert channel.variables["PH_REASON"] == "premium"
    kpis = [k for k in admin.scan_iter("ph:kpi:*")]
    assert len(kpis) == 1 and admin.hget(kpis[0], "answered:premium") == "1"
    assert not (tmp_path / "spool" / "spool.jsonl").exists()
    no_secret_anywhere(server.stderr)


def test_an_unknown_ca_is_refused_then_the_spool_is_replayed_over_tls(
    tls_redis, admin, write_config, tmp_path
):
    """The certificate is checked: with another CA nothing reaches Redis (fail_tariff, spool);
    with the right one, `premium-hotline replay` delivers the spool through TLS and the ACL."""
    wrong = tls_config(write_config, tls_redis, tmp_path, redis_ca_file=tls_redis.pki["other_ca"])
    channel = premium_call(Transport(wrong), "1700000200.3")
    assert channel.variables["PH_REASON"] == "store_unavailable"
    assert admin.keys("ph:*") == []
    log = (tmp_path / "plugin.log").read_text()
    assert "CERTIFICATE_VERIFY_FAILED" in log or "certificate verify failed" in log
    assert (tmp_path / "spool" / "spool.jsonl").read_text().count("\n") == 3

    right = tls_config(write_config, tls_redis, tmp_path)
    proc = subprocess.run([str(CLI), "replay", "--config", right], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "replayed 3 batch" in proc.stdout
    record = admin.hgetall("ph:call:{1700000200.3}")
    assert record["outcome"] == "answered" and record["decided_reason"] == "store_unavailable"
    no_secret_anywhere(proc.stdout, proc.stderr, log)


def test_the_acl_user_can_reach_nothing_but_its_keys_and_commands(tls_redis, admin):
    import redis

    client = tls_redis.client(PLUGIN_USER, PLUGIN_PASSWORD)
    try:
        assert client.ping()
        for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("HSET", "other:x", "a", "1")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
    finally:
        client.close()


# -- secrets never in logs ---------------------------------------------------------------------


def _plain_decide(config: str, uid: str = "1700000300.1"):
    channel, _ = call_channel(T0, READY)
    return run_script(
        str(Path(__file__).resolve().parents[2] / "agi_scripts" / "decide_tariff.py"),
        default_env(uniqueid=uid),
        channel,
        config=config,
    )


BAD_URLS = {
    "wrong password": lambda tls: tls.url(password="Not-the-" + PLUGIN_PASSWORD),
    "redis down": lambda tls: f"redis://{PLUGIN_USER}:{PLUGIN_PASSWORD}@127.0.0.1:{free_port()}/0",
    "plaintext to a TLS port": lambda tls: f"redis://{PLUGIN_USER}:{PLUGIN_PASSWORD}@127.0.0.1:{tls.port}/0",
    "bad port": lambda tls: f"redis://{PLUGIN_USER}:{PLUGIN_PASSWORD}@127.0.0.1:notaport/0",
    "cluster seed down": lambda tls: (
        f"redis+cluster://{PLUGIN_USER}:{PLUGIN_PASSWORD}@127.0.0.1:{free_port()}/0"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_URLS))
def test_the_redis_password_and_the_hash_key_never_reach_a_log_or_an_error(
    tls_redis, write_config, tmp_path, case
):
    """Every way a Redis URL can fail, at debug level: the plain script's log (stderr and file),
    the FastAGI server's log, `check-config`, `replay`: the password and the caller hash key
    appear nowhere, although the password is written in the URL and errors quote URLs."""
    url = BAD_URLS[case](tls_redis)
    log_file = tmp_path / "plugin.log"
    config = write_config(
        NUMBERS,
        redis_url=url,
        redis_ca_file=tls_redis.pki["ca"],
        redis_timeout_ms=300,
        caller_hash_key=HASH_KEY,
        log_level="debug",
        log_file=str(log_file),
    )
    plain = _plain_decide(config)
    with FastAgiServerProcess(config, "--replay-every", "0.2") as server:
        channel, _ = call_channel(T0, READY)
        run_fastagi(server.port, "decide_tariff", default_env(uniqueid="1700000300.2"), channel)
        time.sleep(0.5)  # a background replay attempt or two
        assert server.stop() == 0
    checked = subprocess.run([str(CLI), "check-config", config], capture_output=True, text=True)
    replayed = subprocess.run([str(CLI), "replay", "--config", config], capture_output=True, text=True)
    log = log_file.read_text()
    assert log.count("\n") >= 2  # the failures were logged: there was something to leak
    no_secret_anywhere(plain.stderr, log, server.stderr, checked.stdout, checked.stderr)
    no_secret_anywhere(replayed.stdout, replayed.stderr)


def test_a_config_error_never_quotes_a_secret_typed_with_the_wrong_separator(tmp_path):
    path = tmp_path / "bad.conf"
    path.write_text(f"[general]\ncaller_hash_key: {HASH_KEY}\nredis_url = ftp://u:{PLUGIN_PASSWORD}@h/0\n")
    proc = subprocess.run([str(CLI), "check-config", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == f"{path}:2: caller_hash_key: expected key = value"
    assert lines[1].startswith(f"{path}:3: redis_url: 'ftp://u:***@h/0' is not a ")
    no_secret_anywhere(proc.stdout, proc.stderr)


# -- caller numbers ----------------------------------------------------------------------------


def _everything(client) -> str:
    """Every key, field, member and stream entry of the database, as one text."""
    parts = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        parts.append(key)
        if kind == "hash":
            parts.append(json.dumps(client.hgetall(key)))
        elif kind == "set":
            parts += client.smembers(key)
        elif kind == "zset":
            parts += client.zrange(key, 0, -1)
        elif kind == "list":
            parts += client.lrange(key, 0, -1)
        elif kind == "stream":
            parts += [json.dumps(fields) for _, fields in client.xrange(key)]
        else:
            parts.append(str(client.get(key)))
    return "\n".join(parts)


@pytest.mark.parametrize("transport", ["plain", "fastagi"])
def test_the_caller_number_is_stored_only_as_a_keyed_hash(write_config, tmp_path, transport):
    """Half the calls while Redis is down (so through the spool and a replay), at debug level:
    the number is in no Redis value, no spool line, no log line; the call hash holds exactly
    HMAC-SHA256(key, number), which another key would not give."""
    log_file = tmp_path / "plugin.log"
    redis_server = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    config = write_config(
        NUMBERS,
        redis_url=redis_server.url,
        caller_hash_key=HASH_KEY,
        log_level="debug",
        log_file=str(log_file),
    )
    client = redis_server.client()
    server = FastAgiServerProcess(config, "--replay-every", "0").start() if transport == "fastagi" else None
    try:
        driver = Transport(config, server.port if server else None)
        one_call(driver, 1, uid_base="1700000400")
        redis_server.stop()
        one_call(driver, 2, uid_base="1700000400")
        spool_text = (tmp_path / "spool" / "spool.jsonl").read_text()
        redis_server.start()
    finally:
        if server is not None:
            assert server.stop() == 0
    subprocess.run([str(CLI), "replay", "--config", config], check=True, capture_output=True)
    wait_closed(client, ["1700000400.1", "1700000400.2"])
    expected = hmac.new(HASH_KEY.encode(), CALLER.encode(), hashlib.sha256).hexdigest()[:20]
    other = hmac.new(b"another-key-0123456789", CALLER.encode(), hashlib.sha256).hexdigest()[:20]
    for uid in ("1700000400.1", "1700000400.2"):
        assert client.hget(f"ph:call:{{{uid}}}", "caller") == expected != other
    stored = _everything(client)
    assert "1700000400.2" in stored and "1700000400.2" in spool_text  # what is searched is there
    for text in (stored, spool_text, log_file.read_text(), server.stderr if server else ""):
        assert CALLER not in text
    client.close()
    redis_server.cleanup()


def test_caller_privacy_clear_is_what_puts_the_number_in_redis(redis_server, redis_url, write_config):
    """The control for the test above: with the operator's opt-in the number is found."""
    config = write_config(NUMBERS, redis_url=redis_url, caller_privacy="clear")
    one_call(Transport(config), 1, uid_base="1700000401")
    client = redis_server.client()
    wait_closed(client, ["1700000401.1"])
    assert client.hget("ph:call:{1700000401.1}", "caller") == CALLER
    client.close()


def test_caller_privacy_hash_without_a_key_is_said_at_every_load(redis_server, redis_url, tmp_path):
    """The plain script (each call) and the server (at start) log it in one line."""
    config = tmp_path / "nokey.conf"
    config.write_text(
        f"[general]\nredis_url = {redis_url}\nspool_dir = {tmp_path / 'spool'}\ncaller_privacy = hash\n\n"
        + textwrap.dedent(NUMBERS)
    )
    channel, _ = call_channel(T0)
    plain = Transport(str(config)).run("decide_tariff", default_env(uniqueid="1700000402.1"), channel)
    server = FastAgiServerProcess(str(config), "--replay-every", "0").start()
    assert server.stop() == 0
    for stderr in (plain.stderr, server.stderr):
        (line,) = [json.loads(text) for text in stderr.splitlines() if '"config_warning"' in text]
        assert line["level"] == "warning"
        assert f"{config}:4: caller_privacy: warning: hash needs caller_hash_key" in line["warning"]
    assert plain.returncode == 0, plain.stderr


# -- the FastAGI allow-list ----------------------------------------------------------------------


def _closed_within(port: int, payload: bytes, limit_s: float) -> float:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(limit_s + 5)
    start = time.monotonic()
    try:
        if payload:
            sock.sendall(payload)
        data = sock.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    finally:
        sock.close()
    assert data == b""
    return time.monotonic() - start


def test_a_client_outside_the_allow_list_is_cut_before_the_server_reads_anything(
    write_config, redis_url, redis_server
):
    """A silent stranger is dropped at once, not after the environment deadline (5 s here):
    the check is on the address, before the first read. A listed silent client, the control,
    is held until that deadline."""
    config = write_config(NUMBERS, redis_url=redis_url, agi_timeout_ms=3000)
    with FastAgiServerProcess(config, "--allow", "192.0.2.0/24") as server:
        assert _closed_within(server.port, b"", 3) < 1.0
        hostile = env_block(fastagi_env(default_env(), "decide_tariff"))
        assert _closed_within(server.port, hostile, 3) < 1.0
        assert server.stop() == 0
    assert redis_server.client().keys("ph:*") == []
    with FastAgiServerProcess(config) as server:  # 127.0.0.0/8 allowed: held to the deadline
        assert _closed_within(server.port, b"", 3) > 2.5
        assert server.stop() == 0
    assert os.environ.get("PREMIUM_HOTLINE_CONFIG") is None
