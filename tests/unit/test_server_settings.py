"""`serve`'s settings from the config file's [server] section, flags overriding; -c everywhere."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys

import pytest

from premium_hotline.cli import COMMANDS, module_of
from premium_hotline.config import load_config
from premium_hotline.server.app import SETTINGS, build_parser, settings

SERVER = """
[server]
port = 4600
max_sessions = 300
redis_pool = 8
drain_s = 2.5
allow = 127.0.0.1,10.0.0.0/8
"""


def test_the_server_section_sets_what_the_flags_do_and_a_flag_wins(write_config):
    config = load_config(write_config(SERVER))
    assert config.errors == []
    chosen = settings(build_parser().parse_args(["--redis-pool", "16"]), config.server)
    assert chosen["port"] == 4600 and chosen["max_sessions"] == 300 and chosen["drain_s"] == 2.5
    assert chosen["redis_pool"] == 16  # the flag
    assert chosen["allow"] == "127.0.0.1,10.0.0.0/8"
    assert chosen["backlog"] == SETTINGS["backlog"]  # neither: the default


def test_a_bad_server_setting_is_reported_as_file_line_key_problem(write_config, capsys):
    path = write_config("[server]\nredis_pool = lots\nmax_session = 10\nallow = 300.1.1.1\n")
    errors = [str(error) for error in load_config(path).errors]
    assert any(e.startswith(f"{path}:") and "redis_pool: 'lots' is not a whole number" in e for e in errors)
    assert any("max_session: unknown key (did you mean max_sessions?)" in e for e in errors), errors
    assert any(": allow: " in e for e in errors), errors
    from premium_hotline.commands.check_config import main

    assert main(["-c", path]) == 1
    assert "redis_pool" in capsys.readouterr().err


def test_the_deprecated_redis_client_flag_is_accepted_with_a_warning(write_config):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    path = write_config(f"[server]\nport = {port}\n")  # a port in use: serve exits at once
    try:
        run = subprocess.run(
            [sys.executable, "-m", "premium_hotline.cli", "serve", "-c", path, "--redis-client", "resp"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        taken.close()
    assert "--redis-client is deprecated" in run.stderr
    assert run.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in run.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_dash_c(command):
    if command == "agi":
        from premium_hotline.commands.agi import main

        assert main(["-c", "/nonexistent.conf"]) == 2  # the usage, naming -c: a route is missing
        return
    module = importlib.import_module(module_of(command))
    with pytest.raises(SystemExit) as shown:
        module.main(["--help"])
    assert shown.value.code == 0


def test_the_server_runs_on_uvloop_by_default_when_it_is_installed_else_on_asyncios_loop(monkeypatch):
    from premium_hotline.server.app import event_loop_factory

    assert SETTINGS["loop"] == "auto"
    assert event_loop_factory("asyncio") is None  # asked for by name: asyncio's own
    try:
        import uvloop
    except ImportError:
        assert event_loop_factory("auto") is None
        with pytest.raises(ImportError):
            event_loop_factory("uvloop")
    else:
        assert event_loop_factory("auto") is uvloop.new_event_loop
        assert event_loop_factory("uvloop") is uvloop.new_event_loop
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert event_loop_factory("auto") is None
    with pytest.raises(ImportError):
        event_loop_factory("uvloop")
