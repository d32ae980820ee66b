"""TLS and passwords reach every topology: a TLS-only Redis Cluster with a password, and a
TLS-only master behind a sentinel that has a password of its own, all real redis-servers.

Each client the plugin has (the plain script's, the server's and replay's redis-py asyncio
client, the ops commands' redis-py client) is built from the one URL, and must get through;
a wrong CA, or a sentinel asked without its password, must not.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from premium_hotline.redis.connect import async_client, ops_client, plain_client
from premium_hotline.redis.errors import RedisUnavailable
from sandbox.redis_server import redis_binary, stop_process
from sandbox.redis_topology import _cluster_port
from tests.support.tls_redis import make_pki

DATA_PASSWORD = "data-pw-8f3b"
SENTINEL_PASSWORD = "sentinel-pw-41c7"


class TlsProcesses:
    """redis-server processes speaking TLS only, sharing one throwaway PKI; stopped together."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ph-tls-topology-")
        self.pki = make_pki(self.dir)
        self.processes: list[subprocess.Popen] = []

    def tls_args(self) -> list[str]:
        pki = self.pki
        return [
            "--tls-cert-file", pki["cert"], "--tls-key-file", pki["key"], "--tls-ca-cert-file", pki["ca"],
            "--tls-auth-clients", "no", "--bind", "127.0.0.1", "--port", "0",
        ]  # fmt: skip

    def start(self, port: int, *args: str, conf: str | None = None) -> int:
        workdir = tempfile.mkdtemp(dir=self.dir)
        argv = [redis_binary(), *([conf] if conf else []), "--tls-port", str(port), *self.tls_args()]
        argv += ["--dir", workdir, "--save", "", "--appendonly", "no", "--loglevel", "warning", *args]
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes.append(process)
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {process.stderr.read().decode()[:800]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                assert time.monotonic() < deadline, f"redis-server (TLS) did not listen on {port}"
                time.sleep(0.05)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "--tls", "--cacert", self.pki["ca"], *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout[-1500:] + result.stderr
        return result.stdout

    def cleanup(self) -> None:
        for process in self.processes:
            stop_process(process)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_cluster():
    """Three TLS-only masters with a password, joined by `redis-cli --tls --cluster create`."""
    procs = TlsProcesses()
    try:
        ports = [_cluster_port() for _ in range(3)]
        for port in ports:
            procs.start(
                port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--tls-cluster", "yes", "--requirepass", DATA_PASSWORD, "--masterauth", DATA_PASSWORD,
            )  # fmt: skip
        nodes = [f"127.0.0.1:{port}" for port in ports]
        procs.cli("-a", DATA_PASSWORD, "--no-auth-warning", "--cluster", "create", *nodes, "--cluster-yes")
        deadline = time.monotonic() + 30
        for port in ports:  # every node agrees, not just the first
            while "cluster_state:ok" not in procs.cli(
                "-p", str(port), "-a", DATA_PASSWORD, "--no-auth-warning", "CLUSTER", "INFO"
            ):
                assert time.monotonic() < deadline, "the TLS cluster did not become ok"
                time.sleep(0.2)
        yield procs, ports
    finally:
        procs.cleanup()


@pytest.fixture(scope="module")
def tls_sentinel():
    """A TLS-only master with a password, watched by a TLS-only sentinel with another password."""
    procs = TlsProcesses()
    try:
        master = procs.start(_cluster_port(), "--requirepass", DATA_PASSWORD, "--masterauth", DATA_PASSWORD)
        sentinel_port = _cluster_port()
        conf = f"{procs.dir}/sentinel.conf"
        with open(conf, "w") as handle:
            handle.write(
                f"sentinel monitor phmaster 127.0.0.1 {master} 1\n"
                f"sentinel auth-pass phmaster {DATA_PASSWORD}\n"
                f"requirepass {SENTINEL_PASSWORD}\ntls-replication yes\n"
            )
        procs.start(sentinel_port, "--sentinel", conf=conf)
        yield procs, master, sentinel_port
    finally:
        procs.cleanup()


KEYS = [f"ph:call:{{1790000900.{i}}}" for i in range(12)]  # spread over the three masters


def _writes() -> list[list]:
    return [["HSET", key, "tariff", "premium"] for key in KEYS] + [["HGET", key, "tariff"] for key in KEYS]


def _through_every_client(url: str, ca_file: str) -> None:
    expected = [1] * len(KEYS) + ["premium"] * len(KEYS)
    plain = plain_client(url, 2.0, ca_file)
    try:
        plain.pipeline([["DEL", key] for key in KEYS])
        assert plain.pipeline(_writes()) == expected
    finally:
        plain.close()

    async def server_side():
        client = async_client(url, 2.0, ca_file)
        try:
            await client.pipeline([["DEL", key] for key in KEYS])
            return await client.pipeline(_writes())
        finally:
            await client.close()

    assert asyncio.run(server_side()) == expected
    ops = ops_client(url, timeout_s=2.0, ca_file=ca_file)
    try:
        assert [ops.hget(key, "tariff") for key in KEYS] == ["premium"] * len(KEYS)
    finally:
        ops.close()


def _refused(url: str, ca_file: str) -> None:
    plain = plain_client(url, 1.0, ca_file)
    with pytest.raises(RedisUnavailable):
        plain.pipeline([["PING"]])

    async def server_side():
        client = async_client(url, 1.0, ca_file)
        try:
            await client.pipeline([["PING"]])
        finally:
            await client.close()

    with pytest.raises(RedisUnavailable):
        asyncio.run(server_side())


def test_a_tls_cluster_with_a_password_is_reached_by_every_client(tls_cluster):
    procs, ports = tls_cluster
    seeds = ",".join(f"127.0.0.1:{port}" for port in ports[:2])
    _through_every_client(f"rediss+cluster://:{DATA_PASSWORD}@{seeds}/0", procs.pki["ca"])


def test_a_tls_cluster_is_refused_under_a_ca_that_did_not_sign_it(tls_cluster):
    procs, ports = tls_cluster
    _refused(f"rediss+cluster://:{DATA_PASSWORD}@127.0.0.1:{ports[0]}/0", procs.pki["other_ca"])


def test_a_tls_sentinel_with_its_own_password_names_the_master_to_every_client(tls_sentinel):
    procs, _, sentinel_port = tls_sentinel
    url = f"rediss+sentinel://:{DATA_PASSWORD}@127.0.0.1:{sentinel_port}/phmaster/0"
    _through_every_client(f"{url}?sentinel_password={SENTINEL_PASSWORD}", procs.pki["ca"])


def test_a_sentinel_asked_without_its_password_gives_no_master(tls_sentinel):
    procs, _, sentinel_port = tls_sentinel
    url = f"rediss+sentinel://:{DATA_PASSWORD}@127.0.0.1:{sentinel_port}/phmaster/0"
    _refused(url, procs.pki["ca"])
    _refused(f"{url}?sentinel_password=wrong-password", procs.pki["ca"])
