"""The plugin on a real Redis Cluster: three masters, three replicas, Debian's redis-server.

What is pinned down: our slot computation is the cluster's; a route's batch costs one round
trip per node its keys live on; the plain scripts, the FastAGI server (both Redis clients),
`stats`, `tail`, the exporter and `replay` all work on a cluster; and a failover in the middle
of calls (a master killed, or CLUSTER FAILOVER) blocks no call past `redis_timeout_ms`, loses
nothing once the spool is replayed, and leaves the KPIs exact.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from premium_hotline.redis.slots import key_slot
from premium_hotline.store import records
from premium_hotline.store.keys import Keys
from sandbox.fastagi import FastAgiServerProcess
from tests.support import scale_calls

TIMEOUT_MS = 200


def _base_ms() -> int:
    """Arrivals a few minutes back, on a minute boundary: the calls fill known KPI minutes."""
    now_minute = int(time.time() * 1000) // 60_000
    midnight = now_minute - now_minute % 1440  # "today" for the exporter, config timezone UTC
    return max(now_minute - 10, midnight) * 60_000


def test_our_slots_are_the_clusters_for_every_key_the_plugin_writes(cluster):
    keys = Keys("ph:")
    from premium_hotline.store.spool_replay import guard_key

    names = [keys.events(), guard_key(keys.events()), keys.queues(), "plain", "{}", "a{}b", "{{x}}"]
    names += ["x{y}z{w}", "é{ü}", keys.call("1700000000.1}{x")]
    for queue in ("support", "sales", "q-1.2_x"):
        names += [
            keys.kpi_minute(queue, 1_790_000_000_000),
            keys.counted(queue, 1_790_000_000_000),
            keys.waiting(queue),
            keys.recent(queue),
            keys.arrivals(queue),
            keys.ended(queue),
        ]
    names += [keys.call(f"1790000000.{i}") for i in range(50)]
    with cluster.client() as client:
        node = client.get_random_node()
        for name in names:
            assert key_slot(name) == client.execute_command("CLUSTER", "KEYSLOT", name, target_nodes=node)


def _decided_batch(uid: str, queue: str = "support") -> list[list]:
    batch = records.decided(
        Keys("ph:"),
        uniqueid=uid,
        record={"uniqueid": uid, "queue": queue, "decided_tariff": "premium"},
        queue=queue,
        arrived_ms=1_790_000_000_000,
        ttl_s=3600,
        events_maxlen=1000,
    )
    return records.live_commands(batch)


def _owners(cluster, batch: list[list]) -> set[int]:
    from premium_hotline.redis.slots import command_key

    return {cluster.owner_of(command_key(command)).port for command in batch}


def test_a_route_batch_costs_one_round_trip_per_node_its_keys_live_on(cluster):
    from premium_hotline.redis.connect import async_client, plain_client

    batches = [_decided_batch(f"1790000001.{i}") for i in range(6)]
    sync = plain_client(cluster.url, 1.0)
    try:
        sync.pipeline([["PING"]])  # the slot map (CLUSTER SLOTS) and one node, once per client
        for batch in batches:
            before = sync.round_trips
            replies = sync.pipeline(batch)
            assert sync.round_trips - before == len(_owners(cluster, batch))
            assert not any(isinstance(r, Exception) for r in replies), replies
    finally:
        sync.close()

    async def through_the_server_client():
        # redis-py's ClusterPipeline groups by node itself: counted here on the nodes' side,
        # as the commands each master processed (INFO commandstats would do too).
        client = async_client(cluster.url, 1.0)
        try:
            await client.pipeline([["PING"]])
            for batch in batches:
                replies = await client.pipeline(batch)
                assert not any(isinstance(r, Exception) for r in replies), replies
            keys = Keys("ph:")
            lists = [["LRANGE", key, "0", "99"] for key in (keys.recent("support"), keys.ended("support"))]
            assert len(await client.pipeline(lists)) == 2
        finally:
            await client.close()

    asyncio.run(through_the_server_client())


def test_error_replies_stay_in_place_and_a_wrong_type_is_not_an_outage(cluster):
    from premium_hotline.redis.connect import plain_client
    from premium_hotline.redis.errors import RespError

    client = plain_client(cluster.url, 1.0)
    try:
        replies = client.pipeline([["SET", "a{x}", "1"], ["LPUSH", "a{x}", "z"], ["GET", "a{x}"]])
    finally:
        client.close()
    assert replies[0] == "OK" and replies[2] == "1"
    assert isinstance(replies[1], RespError) and str(replies[1]).startswith("WRONGTYPE")


@pytest.mark.parametrize("transport", ["plain", "fastagi"])
def test_calls_land_whole_on_a_cluster_through_every_transport(cluster, tmp_path, transport):
    spool = tmp_path / "spool"
    config = scale_calls.write_config(tmp_path / "ph.conf", cluster.url, spool, TIMEOUT_MS)
    server = None
    if transport == "plain":
        run = scale_calls.plain_transport(config)
    else:
        server = FastAgiServerProcess(config).start()
        run = scale_calls.fastagi_transport([server.port])
    try:
        driver = scale_calls.CallRun(run, base_ms=_base_ms(), uid_prefix="1790000100", workers=2)
        for _ in range(12):
            driver.place(driver._take())
    finally:
        if server is not None:
            assert server.stop() == 0, server.stderr[-2000:]
    with cluster.client() as client:
        scale_calls.wait_settled(client, driver.calls, spool)
        assert scale_calls.spooled(spool) == []
        assert all(c.reason not in ("store_unavailable", "agi_failure") for c in driver.calls)
        scale_calls.check(client, driver.calls, timeout_ms=TIMEOUT_MS, agi_overhead_s=1.0)


def _cli(config: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PREMIUM_HOTLINE_CONFIG": config},
    )


def test_stats_tail_exporter_and_replay_work_on_a_cluster(cluster, tmp_path):
    from tests.support.ops_calls import Exporter, samples

    spool = tmp_path / "spool"
    config = scale_calls.write_config(tmp_path / "ph.conf", cluster.url, spool, TIMEOUT_MS)
    driver = scale_calls.CallRun(
        scale_calls.plain_transport(config), base_ms=_base_ms(), uid_prefix="1790000200"
    )
    for _ in range(8):
        driver.place(driver._take())
    with cluster.client() as client:
        scale_calls.wait_settled(client, driver.calls, spool)
    # A batch left in the spool by an outage: replay sends it to the nodes its keys live on.
    lost = scale_calls.CallRun(
        scale_calls.plain_transport(config), base_ms=_base_ms(), uid_prefix="1790000201"
    )
    call = lost._take()
    from premium_hotline.store.spool import Spool

    Spool(str(spool), 10**6).append(_decided_batch(call.uid), "decide_tariff", call.uid)
    replayed = _cli(config, "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 batch" in replayed.stdout
    answered = sum(1 for c in driver.calls if c.outcome == "answered")
    with cluster.client() as client:
        assert client.hget(f"ph:call:{{{call.uid}}}", "decided_tariff") == "premium"
        # decided and ended for every call, human for the answered ones, and the replayed one.
        assert client.xlen("ph:events") == 2 * len(driver.calls) + answered + 1

    expected = scale_calls.expected_counts(driver.calls)
    offered = sum(row.get("offered", 0) for row in expected.values())
    stats = _cli(config, "stats", "--json", "--last", "1h")
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    assert report["total"]["all"]["offered"] == offered
    for (queue, tariff), row in expected.items():
        for name in ("offered", "answered", "abandoned"):
            assert report["queues"][queue][tariff][name] == row.get(name, 0), (queue, tariff, name)

    tail = _cli(config, "tail", "--no-follow", "-n", "5")
    assert tail.returncode == 0, tail.stderr
    assert len(tail.stdout.strip().splitlines()) == 5

    with Exporter(config) as exporter:
        values = samples(exporter.scrape())
    exported = sum(v for (name, labels), v in values.items() if name == "premium_hotline_calls_offered_total")
    assert exported == offered


def test_a_master_killed_during_calls_blocks_no_call_and_loses_nothing(cluster, tmp_path, record_figures):
    victim = cluster.owner_of("ph:events")  # every route's batch writes the event stream

    def kill() -> None:
        victim.kill()

    scale_calls.through_failover(
        cluster.url,
        cluster.client,
        tmp_path,
        record_figures,
        failover=kill,
        recovered=cluster.wait_healthy_slots,
        base_ms=_base_ms(),
    )


def test_a_manual_failover_during_calls_loses_nothing(cluster, tmp_path, record_figures):
    master = cluster.owner_of("ph:kpi:{support}:0")

    def failover() -> None:
        cluster.manual_failover(master)

    scale_calls.through_failover(
        cluster.url,
        cluster.client,
        tmp_path,
        record_figures,
        failover=failover,
        recovered=cluster.wait_healthy_slots,
        base_ms=_base_ms(),
    )


def test_the_servers_own_background_replay_drains_the_spool_into_the_cluster(cluster, tmp_path):
    from premium_hotline.store.spool import Spool

    spool = tmp_path / "spool"
    config = scale_calls.write_config(tmp_path / "ph.conf", cluster.url, spool, TIMEOUT_MS)
    uids = [f"1790000600.{i}" for i in range(20)]
    for uid in uids:
        Spool(str(spool), 10**7).append(
            _decided_batch(uid, ("support", "sales")[len(uid) % 2]), "decide_tariff", uid
        )
    with FastAgiServerProcess(config, "--replay-every", "0.2") as server, cluster.client() as client:
        deadline = time.monotonic() + 20
        while not all(client.exists(f"ph:call:{{{uid}}}") for uid in uids):
            assert time.monotonic() < deadline, server.stderr[-2000:]
            time.sleep(0.1)
        assert server.stop() == 0
    assert scale_calls.spooled(spool) == []
    with cluster.client() as client:
        assert client.xlen("ph:events") == len(uids)


def test_a_frozen_master_costs_a_call_at_most_the_timeout_and_loses_nothing(
    cluster, tmp_path, record_figures
):
    """SIGSTOP: the master accepts connections and never answers (a hung host, a full disk),
    the case a refused connection does not cover. Thawed before the cluster fails it over."""
    import signal

    frozen = cluster.owner_of("ph:recent:{support}")  # decide_tariff's read waits on it

    def freeze() -> None:
        frozen.process.send_signal(signal.SIGSTOP)

    def thaw() -> None:
        time.sleep(0.7)  # under cluster-node-timeout (1 s): no failover, just silence
        frozen.process.send_signal(signal.SIGCONT)

    try:
        scale_calls.through_failover(
            cluster.url,
            cluster.client,
            tmp_path,
            record_figures,
            failover=freeze,
            recovered=thaw,
            base_ms=_base_ms(),
        )
    finally:
        frozen.process.send_signal(signal.SIGCONT)
