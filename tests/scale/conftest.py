"""Fixtures of the `scale` tier: a real Redis Cluster and a real Sentinel set-up on loopback.

Each is started once per session (the cluster takes about 10 s to create and settle) and
brought back to health before each test: nodes a test killed are restarted, the tests wait
until every master has an in-sync replica again, and the data is flushed. The failover figures
each test records are printed at the end of the run, passed or not.
"""

from __future__ import annotations

import pytest

from sandbox.redis_topology import LocalCluster, LocalSentinel

FIGURES: list[tuple[str, dict]] = []
SETUP: dict[str, float] = {}


@pytest.fixture(scope="session")
def cluster_engine():
    cluster = LocalCluster().start()
    SETUP["cluster (6 nodes, redis-cli --cluster create, in sync)"] = cluster.setup_s
    yield cluster
    cluster.cleanup()


@pytest.fixture
def cluster(cluster_engine):
    cluster_engine.restart_dead()
    cluster_engine.wait_healthy()
    cluster_engine.flushall()
    return cluster_engine


@pytest.fixture(scope="session")
def sentinel_engine():
    sentinel = LocalSentinel().start()
    SETUP["sentinel (master, replica, 3 sentinels)"] = sentinel.setup_s
    yield sentinel
    sentinel.cleanup()


@pytest.fixture
def sentinel(sentinel_engine):
    sentinel_engine.restart_dead()
    sentinel_engine.wait_healthy()
    sentinel_engine.flushall()
    return sentinel_engine


@pytest.fixture
def record_figures(request):
    """record_figures(dict): keep this test's failover figures for the summary."""
    return lambda figures: FIGURES.append((request.node.name, figures))


def pytest_terminal_summary(terminalreporter):
    if not FIGURES and not SETUP:
        return
    terminalreporter.section("scale: failover figures")
    for name, seconds in SETUP.items():
        terminalreporter.write_line(f"set-up {name}: {seconds:.1f} s")
    for test, figures in FIGURES:
        terminalreporter.write_line(f"{test}:")
        terminalreporter.write_line("    " + "  ".join(f"{key}={value}" for key, value in figures.items()))
