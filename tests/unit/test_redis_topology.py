"""Cluster and Sentinel without a server: URL forms, hash slots, and how a pipeline is routed.

The real engines are in tests/scale; here each rule of redis/url.py and redis/slots.py is pinned
down on its own, with a fake cluster whose nodes answer from a table.
"""

from __future__ import annotations

import pytest

from premium_hotline.redis.errors import RedisUnavailable, RespError
from premium_hotline.redis.slots import (
    MAX_REDIRECTS,
    Routing,
    SlotMap,
    command_key,
    key_slot,
    parse_cluster_slots,
    parse_redirect,
)
from premium_hotline.redis.url import parse_url
from premium_hotline.store import records
from premium_hotline.store.keys import Keys

A, B, C = ("10.0.0.1", 7000), ("10.0.0.2", 7001), ("10.0.0.3", 7002)
THREE = SlotMap([(0, 5460, A), (5461, 10922, B), (10923, 16383, C)])


# -- slots ----------------------------------------------------------------------------------------


def test_key_slot_is_redis_crc16_of_the_hash_tag():
    # Values from the Redis Cluster specification and `CLUSTER KEYSLOT` on Redis 7.
    assert key_slot("123456789") == 0x31C3 % 16384
    assert key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers") == key_slot("user1000")
    assert key_slot("foo{}{bar}") != key_slot("bar")  # an empty first tag: the whole key counts
    assert key_slot("foo{{bar}}zap") == key_slot("{bar")
    assert key_slot("foo{bar}{zap}") == key_slot("bar")
    assert key_slot(b"foo") == key_slot("foo")


def test_every_key_of_one_queue_shares_a_slot_and_calls_spread():
    keys = Keys("ph:")
    for queue in ("support", "sales", "q.1-x/y"):
        slots = {
            key_slot(keys.kpi_minute(queue, 1_790_000_000_000)),
            key_slot(keys.counted(queue, 1_790_000_000_000)),
            key_slot(keys.waiting(queue)),
            key_slot(keys.recent(queue)),
            key_slot(keys.arrivals(queue)),
            key_slot(keys.ended(queue)),
        }
        assert slots == {key_slot(queue)}
    calls = {key_slot(keys.call(f"1790000000.{i}")) for i in range(1000)}
    assert len(calls) > 900  # uniqueids spread over the cluster


def test_the_key_that_routes_a_command():
    assert command_key(["HSET", "ph:call:{1.2}", "a", "1"]) == "ph:call:{1.2}"
    assert command_key(["XADD", "ph:events", "MAXLEN", "~", "10", "*", "a", "1"]) == "ph:events"
    assert command_key(["EVAL", "return 1", "2", "k1", "k2", "argv"]) == "k1"
    assert command_key(["EVAL", "return 1", "0", "argv"]) is None
    assert command_key(["XREAD", "COUNT", "5", "STREAMS", "ph:events", "$"]) == "ph:events"
    assert command_key(["PING"]) is None
    assert command_key(["cluster", "slots"]) is None


# -- URLs -----------------------------------------------------------------------------------------


def test_cluster_url_lists_seed_nodes_and_database_zero_only():
    topology = parse_url("redis+cluster://u:p%40ss@h1:7000,h2:7001,[::1]:7002/0")
    assert topology.kind == "cluster"
    assert topology.nodes == [("h1", 7000), ("h2", 7001), ("::1", 7002)]
    assert (topology.username, topology.password, topology.db) == ("u", "p@ss", 0)
    assert parse_url("redis+cluster://h1").nodes == [("h1", 6379)]
    with pytest.raises(ValueError, match="database 0 only"):
        parse_url("redis+cluster://h1:7000/3")


def test_sentinel_url_lists_sentinels_then_master_name_and_database():
    topology = parse_url("redis+sentinel://:secret@s1,s2:26380/mymaster/2")
    assert topology.kind == "sentinel"
    assert topology.nodes == [("s1", 26379), ("s2", 26380)]
    assert (topology.master, topology.db, topology.username, topology.password) == (
        "mymaster",
        2,
        None,
        "secret",
    )
    for bad in ("redis+sentinel://s1:26379", "redis+sentinel://s1/m/x", "redis+sentinel://s1:port/m"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_each_node_gets_the_data_credentials_and_each_sentinel_its_own():
    target = parse_url(
        "rediss+sentinel://user:p%3Aw@s1/m/4?sentinel_username=su&sentinel_password=s%26p", "/ca"
    )
    node = target.node(("10.1.1.1", 6380))
    assert (node.nodes, node.db, node.username, node.password) == ([("10.1.1.1", 6380)], 4, "user", "p:w")
    assert (node.tls, node.ca_file) == (True, "/ca")
    sentinel = target.sentinel(("s1", 26379))
    assert (sentinel.username, sentinel.password, sentinel.tls, sentinel.db) == ("su", "s&p", True, 0)
    assert parse_url("redis+cluster://h").node(("::1", 7000)).nodes == [("::1", 7000)]
    assert parse_url("redis+sentinel://:pw@s1/m").sentinel(("s1", 1)).password is None  # data password only


def test_check_config_names_a_malformed_sentinel_url(write_config):
    from premium_hotline.config import load_config

    path = write_config(redis_url="redis+sentinel://127.0.0.1:26379")
    errors = [str(error) for error in load_config(path).errors]
    assert any("redis_url" in error and "master-name" in error for error in errors), errors


# -- the slot map and redirects ---------------------------------------------------------------------


def test_cluster_slots_reply_becomes_a_map_and_an_empty_host_is_the_node_asked():
    reply = [
        [5461, 10922, ["", 7001, "id2"], ["10.0.0.5", 7004, "id5"]],
        [0, 5460, ["10.0.0.1", 7000, "id1"]],
    ]
    ranges = parse_cluster_slots(reply, ("10.0.0.2", 7001))
    assert ranges == [(0, 5460, A), (5461, 10922, ("10.0.0.2", 7001))]
    assert SlotMap(ranges).node(16000) is None  # not covered
    with pytest.raises(RedisUnavailable):
        parse_cluster_slots(RespError("ERR This instance has cluster support disabled"), A)


def test_redirect_replies_name_the_slot_and_the_node():
    assert parse_redirect("MOVED 3999 10.0.0.3:7002", A) == ("MOVED", 3999, C)
    assert parse_redirect("ASK 3999 :7002", A) == ("ASK", 3999, ("10.0.0.1", 7002))
    assert parse_redirect("WRONGTYPE Operation against a key", A) is None


# -- routing ----------------------------------------------------------------------------------------


class FakeCluster:
    """Nodes that answer from `owner` (slot -> node), with MOVED/ASK where told."""

    def __init__(self, owner, asks=None, errors=None) -> None:
        self.owner = owner
        self.asks = asks or {}  # slot -> node that has it while it migrates
        self.errors = errors or {}  # key -> error text
        self.sent: list[tuple] = []

    def run(self, routing: Routing) -> list:
        while groups := routing.plan():
            for node, indexes in groups.items():
                commands = routing.commands_for(node, indexes)
                self.sent.append((node, [c[0] for c in commands]))
                routing.take(node, indexes, self.answer(node, commands))
        return routing.result()

    def answer(self, node, commands) -> list:
        replies = []
        asking = False
        for command in commands:
            if command == ["ASKING"]:
                asking = True
                replies.append("OK")
                continue
            key = command_key(command)
            slot = key_slot(key)
            if key in self.errors:
                replies.append(RespError(self.errors[key]))
            elif slot in self.asks and not (asking and node == self.asks[slot]):
                target = self.asks[slot]
                replies.append(RespError(f"ASK {slot} {target[0]}:{target[1]}"))
            elif slot not in self.asks and self.owner(slot) != node:
                target = self.owner(slot)
                replies.append(RespError(f"MOVED {slot} {target[0]}:{target[1]}"))
            else:
                replies.append(f"{command[0]} {key} on {node[1]}")
            asking = False
        return replies


def _batch(uid: str) -> list[list]:
    return records.live_commands(
        records.decided(
            Keys("ph:"),
            uniqueid=uid,
            record={"uniqueid": uid, "queue": "support"},
            queue="support",
            arrived_ms=1_790_000_000_000,
            ttl_s=60,
            events_maxlen=1000,
        )
    )


def test_a_route_batch_is_one_pipeline_per_node_with_replies_in_command_order():
    batch = _batch("1790000000.7")
    cluster = FakeCluster(THREE.node)
    replies = cluster.run(Routing(batch, THREE))
    nodes = {THREE.node(key_slot(command_key(command))) for command in batch}
    assert len(cluster.sent) == len(nodes) <= 3  # one round trip per node, in one round
    assert [reply.split()[1] for reply in replies] == [command_key(c) for c in batch]


def test_moved_sends_again_only_the_moved_commands_and_corrects_the_map():
    moved_slot = key_slot("ph:events")
    new_owner = next(node for node in (A, B, C) if node != THREE.node(moved_slot))
    slots = SlotMap(THREE.ranges)
    cluster = FakeCluster(lambda slot: new_owner if slot == moved_slot else THREE.node(slot))
    routing = Routing(_batch("1790000000.8"), slots)
    replies = cluster.run(routing)
    assert routing.rounds == 2 and routing.redirected == 1
    assert cluster.sent[-1] == (new_owner, ["XADD"])
    assert slots.node(moved_slot) == new_owner
    assert not any(isinstance(reply, RespError) for reply in replies)


def test_ask_goes_once_to_the_importing_node_with_asking_and_leaves_the_map_alone():
    slot = key_slot("{support}")
    target = next(node for node in (A, B, C) if node != THREE.node(slot))
    slots = SlotMap(THREE.ranges)
    cluster = FakeCluster(THREE.node, asks={slot: target})
    routing = Routing([["LRANGE", "ph:recent:{support}", "0", "9"]], slots)
    assert cluster.run(routing) == [f"LRANGE ph:recent:{{support}} on {target[1]}"]
    assert cluster.sent[-1] == (target, ["ASKING", "LRANGE"])
    assert slots.node(slot) == THREE.node(slot) and routing.redirected == 0


def test_a_cluster_that_is_down_is_an_outage_but_a_wrong_type_stays_an_error_reply():
    down = FakeCluster(THREE.node, errors={"ph:events": "CLUSTERDOWN The cluster is down"})
    with pytest.raises(RedisUnavailable, match="CLUSTERDOWN"):
        down.run(Routing(_batch("1790000000.9"), THREE))
    wrong = FakeCluster(THREE.node, errors={"ph:events": "WRONGTYPE Operation against a key"})
    replies = wrong.run(Routing(_batch("1790000000.9"), THREE))
    assert [str(r) for r in replies if isinstance(r, RespError)] == ["WRONGTYPE Operation against a key"]


def test_endless_redirects_give_up_instead_of_looping():
    class PingPong(FakeCluster):  # every node says the slot is the other's
        def answer(self, node, commands):
            other = A if node == B else B
            return [RespError(f"MOVED 1 {other[0]}:{other[1]}") for _ in commands]

    cluster = PingPong(THREE.node)
    with pytest.raises(RedisUnavailable, match="redirected"):
        cluster.run(Routing([["GET", "k"]], SlotMap(THREE.ranges)))
    assert len(cluster.sent) == MAX_REDIRECTS + 1


def test_a_slot_no_node_serves_is_an_outage_not_a_crash():
    with pytest.raises(RedisUnavailable, match="no cluster node"):
        Routing([["GET", "k"]], SlotMap([(0, 100, A)])).plan()


def test_a_malformed_url_is_reported_without_its_password():
    for bad in ("redis+cluster://u:s3cr3t-pw@h1:7000/2", "redis+sentinel://:s3cr3t-pw@s1:x/m"):
        with pytest.raises(ValueError) as error:
            parse_url(bad)
        assert "s3cr3t-pw" not in str(error.value) and "***" in str(error.value)
