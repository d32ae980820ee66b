"""Shared fixtures. Tiers by directory: tests/unit (marker `unit`), tests/integration (`redis`:
a real redis-server started here), tests/e2e (`e2e`: the sandbox Asterisk 22), tests/scale
(`scale`: a Redis Cluster and a Sentinel set-up, tests/scale/conftest.py)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.redis_server import RedisServer  # noqa: E402

_TIERS = {"unit": "unit", "integration": "redis", "e2e": "e2e", "scale": "scale"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        marker = _TIERS.get(parts[0]) if parts else None
        if marker:
            item.add_marker(getattr(pytest.mark, marker))


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server):
    """A clean database on the session's redis-server, restarted if a test stopped it."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def write_config(tmp_path):
    """write_config(text, **general) -> path: a config file with a [general] section filled in."""

    def write(numbers: str = "", **general) -> str:
        general.setdefault("spool_dir", str(tmp_path / "spool"))
        general.setdefault("caller_hash_key", "test-key-0123456789abcdef")
        lines = ["[general]"] + [f"{key} = {value}" for key, value in general.items()]
        path = tmp_path / "premium-hotline.conf"
        path.write_text("\n".join(lines) + "\n\n" + textwrap.dedent(numbers))
        return str(path)

    return write


@pytest.fixture
def agi_script():
    """Path of a route's AGI script in the repository (what Asterisk would run)."""
    return lambda route: str(ROOT / "agi_scripts" / f"{route}.py")


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch):
    # Never let a test read the machine's /etc/asterisk/premium-hotline.conf by accident.
    if "PREMIUM_HOTLINE_CONFIG" in os.environ:
        monkeypatch.delenv("PREMIUM_HOTLINE_CONFIG")
