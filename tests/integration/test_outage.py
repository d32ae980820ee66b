"""Redis outages lose nothing and count nothing twice.

The same N calls (plain AGI scripts and FastAGI calls, alternately) are placed three times on a
durable redis-server (AOF, fsync always, like a production one): once without a fault, the
reference; once with Redis SIGKILLed in the middle and restarted, the FastAGI server's own
background replay delivering the spool (its own batches and the plain scripts'); once with the
replay interrupted twice (after Redis took a whole batch, and in the middle of one) and finished
by `premium-hotline replay`, then run again. Each time every call hash, every KPI counter, every
guard set and the event stream (type and uniqueid of each entry, duplicates counted) must equal
the reference. The decisions need no Redis read (no agent ready), so they are the same with and
without Redis; the predictor's recent lists are live-only by design and not compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from premium_hotline.redis.connect import plain_client
from premium_hotline.store.spool_replay import has_work, replay
from sandbox.fastagi import FastAgiServerProcess
from sandbox.redis_server import RedisServer
from tests.support.calls import NUMBERS, Transport, dump, one_call, wait_closed

N = 12
CLI = Path(sys.executable).with_name("premium-hotline")


@pytest.fixture(scope="module")
def durable():
    server = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    yield server
    server.cleanup()


def _config(path: Path, url: str, timeout_ms: int, spool: Path) -> str:
    path.write_text(
        "[general]\n"
        f"redis_url = {url}\n"
        f"redis_timeout_ms = {timeout_ms}\n"
        f"spool_dir = {spool}\n"
        "caller_hash_key = test-key-0123456789abcdef\n"
        "log_level = info\n"
        "\n" + NUMBERS
    )
    return str(path)


@pytest.fixture(scope="module")
def setup(durable, tmp_path_factory):
    directory = tmp_path_factory.mktemp("outage")
    spool = directory / "spool"
    return _config(directory / "premium-hotline.conf", durable.url, 150, spool), spool


@pytest.fixture(scope="module")
def reference_config(durable, setup):
    """The fault-free run's config: the same spool, a deadline no loaded CI machine misses.

    The reference must not touch the spool. With fsync always, a busy machine can hold one write
    past 150 ms, which would spool it, and the reference would then not be fault-free. A refused
    connection does not wait on the deadline, so the outage runs keep their short one.
    """
    _, spool = setup
    return _config(spool.parent / "reference.conf", durable.url, 5000, spool)


def uids() -> list[str]:
    return [f"1700000100.{i}" for i in range(N)]


def place_calls(config: str, port: int, fault=None) -> None:
    for index in range(N):
        if fault:
            fault(index)
        transport = Transport(config, port if index % 2 else None)
        one_call(transport, index)


@pytest.fixture(scope="module")
def reference(durable, setup, reference_config):
    config, spool = reference_config, setup[1]
    client = durable.client()
    client.flushall()
    with FastAgiServerProcess(config, "--replay-every", "0") as server:
        place_calls(config, server.port)
        wait_closed(client, uids())
        assert server.stop() == 0
    assert not has_work(str(spool))
    state = dump(client)
    client.close()
    kpis = [key for key in state if key.startswith("ph:kpi:")]
    assert kpis and sum(int(state[k].get("offered:free", 0)) for k in kpis) == N
    return state


def kill_and_restart(durable, spooled: list):
    def fault(index: int) -> None:
        if index == 4:
            durable.process.kill()  # SIGKILL: no shutdown, no last save; the AOF is all there is
            durable.process.wait()
            durable.process = None
        if index == 8:
            spooled.append(time.monotonic())
            durable.start()

    return fault


def spool_lines(spool: Path) -> int:
    return sum(p.read_text().count("\n") for p in spool.glob("*.jsonl")) if spool.exists() else 0


def test_an_outage_then_the_servers_background_replay_ends_exactly_as_without_one(durable, setup, reference):
    config, spool = setup
    client = durable.client()
    client.flushall()
    client.close()
    restarted: list = []
    with FastAgiServerProcess(config, "--replay-every", "0.3") as server:
        place_calls(config, server.port, kill_and_restart(durable, restarted))
        client = durable.client()
        # Nobody runs `replay` here: the server finds the spool (its own batches and the plain
        # scripts') and replays it once Redis answers again (its backoff is at most a few s).
        deadline = time.monotonic() + 20
        while has_work(str(spool)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not has_work(str(spool)), "the server never replayed the spool"
        wait_closed(client, uids())
        assert server.stop() == 0
    assert dump(client) == reference
    events = [line for line in server.stderr.splitlines() if '"spool_replayed"' in line]
    assert events, server.stderr[-2000:]
    # The outage really went through the spool: replayed events are tagged.
    assert any(f.get("replayed") == "1" for _, f in client.xrange("ph:events"))
    client.close()


class Interrupted(BaseException):
    """The replay process killed: not an error any code path would catch."""


def test_a_replay_interrupted_and_restarted_counts_nothing_twice(durable, setup, reference):
    config, spool = setup
    client = durable.client()
    client.flushall()
    client.close()
    with FastAgiServerProcess(config, "--replay-every", "0") as server:  # no background replay
        place_calls(config, server.port, kill_and_restart(durable, []))
        assert server.stop() == 0  # its drain waits for its spool writes
    assert spool_lines(spool) >= 8  # four calls of two or three batches each
    connection = plain_client(durable.url, 2.0)
    sent = {"batches": 0}

    def dies_after_a_whole_batch(commands):
        replies = connection.pipeline(commands)  # Redis took the batch...
        sent["batches"] += 1
        if sent["batches"] == 3:
            raise Interrupted  # ...and the process died before saving its position
        return replies

    def dies_in_the_middle_of_a_batch(commands):
        if len(commands) > 2:
            connection.pipeline(commands[: len(commands) // 2])  # half the pipeline applied
            raise Interrupted
        return connection.pipeline(commands)

    with pytest.raises(Interrupted):
        replay(str(spool), dies_after_a_whole_batch)
    assert [p.name for p in spool.iterdir() if p.name.endswith(".pos")]  # progress was saved
    with pytest.raises(Interrupted):
        replay(str(spool), dies_in_the_middle_of_a_batch)
    connection.close()

    result = subprocess.run(
        [str(CLI), "replay", "--config", config], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0, result.stderr
    assert "replayed" in result.stdout and not has_work(str(spool))
    client = durable.client()
    wait_closed(client, uids())
    assert dump(client) == reference

    # Once more, and with the replayed spool put back as if nothing had been done: no change.
    again = subprocess.run([str(CLI), "replay", "--config", config], capture_output=True, text=True)
    assert again.returncode == 0 and "replayed 0 batch" in again.stdout
    assert dump(client) == reference
    client.close()


def test_replaying_the_same_spool_twice_adds_no_event_and_no_count(durable, setup, reference, tmp_path):
    """The strongest form of "interrupted anywhere": every batch of the outage sent twice."""
    config, spool = setup
    client = durable.client()
    client.flushall()
    client.close()
    with FastAgiServerProcess(config, "--replay-every", "0") as server:
        place_calls(config, server.port, kill_and_restart(durable, []))
        assert server.stop() == 0
    saved = (spool / "spool.jsonl").read_bytes()
    for _ in range(2):
        (spool / "spool.jsonl").write_bytes(saved)
        result = subprocess.run([str(CLI), "replay", "--config", config], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    client = durable.client()
    wait_closed(client, uids())
    assert dump(client) == reference
    client.close()
