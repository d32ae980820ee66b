"""Redis Cluster and Sentinel for the plain AGI script and `replay`: the RESP client, routed.

Why not redis-py's RedisCluster and Sentinel here: importing `redis.cluster` costs a plain AGI
process about 270 ms before the caller hears anything, against about 50 ms for the whole
`decide_tariff.py` on one Redis (docs/scaling.md has the measurement). Routing is little code
on top of the plain script's own client (store/resp.py): a CRC16, a slot map from one
`CLUSTER SLOTS`, one pipeline per node, MOVED/ASK followed (store/topology.py). A sentinel
answers one `SENTINEL GET-MASTER-ADDR-BY-NAME`, then it is the single-node client again.

Both clients have the RespConnection interface the store and `replay` use: `pipeline(commands)`
returns the replies in order, error replies as RespError, and raises RedisUnavailable when the
data cannot be reached within `timeout_s`, which bounds the whole call, discovery included.
"""

from __future__ import annotations

import time

from .resp import RedisUnavailable, RespConnection, RespError
from .topology import Node, Routing, SlotMap, Topology, parse_cluster_slots, parse_topology_url, transient


def connect(url: str, timeout_s: float):
    """A blocking client for any `redis_url`: RespConnection, ClusterClient or SentinelClient.

    Raises ValueError for a URL it cannot use (the store turns that into RedisUnavailable).
    """
    if url.startswith("redis+"):
        topology = parse_topology_url(url)
        if topology.kind == "cluster":
            return ClusterClient(topology, timeout_s)
        return SentinelClient(topology, timeout_s)
    return RespConnection(url, timeout_s)


class _Deadline:
    __slots__ = ("at", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.at = time.monotonic() + timeout_s

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms")
        return left


class ClusterClient:
    """A Redis Cluster through one RespConnection per master, for one process.

    The slot map comes from the first seed (or known node) that answers CLUSTER SLOTS, once per
    client; a route's pipeline then goes out as one sub-pipeline per master, in turn (this is
    the blocking client: the plain script writes after Asterisk has been released). A MOVED
    reply corrects the map for that slot; a node that fails drops the map, so the next pipeline
    asks again.
    """

    def __init__(self, topology: Topology, timeout_s: float) -> None:
        self.topology = topology
        self.timeout_s = timeout_s
        self.slots: SlotMap | None = None
        self._conns: dict[Node, RespConnection] = {}
        self.round_trips = 0  # node pipelines sent, CLUSTER SLOTS included

    def pipeline(self, commands: list[list]) -> list:
        deadline = _Deadline(self.timeout_s)
        if self.slots is None:
            self.slots = self._load_slots(deadline)
        routing = Routing(commands, self.slots)
        try:
            while groups := routing.plan():
                for node, indexes in groups.items():
                    replies = self._send(node, routing.commands_for(node, indexes), deadline)
                    routing.take(node, indexes, replies)
            replies = routing.result()
        except RedisUnavailable:
            self.slots = None  # a node failed or the cluster is reconfiguring: ask again next time
            raise
        if routing.redirected:
            self.slots = None
        return replies

    def _send(self, node: Node, commands: list[list], deadline: _Deadline) -> list:
        left = deadline.left()
        conn = self._conns.get(node)
        if conn is None:
            conn = self._conns[node] = RespConnection(self.topology.node_url(node), left)
        conn.timeout_s = left
        self.round_trips += 1
        try:
            return conn.pipeline(commands)
        except RedisUnavailable:
            self._conns.pop(node, None)
            conn.close()
            raise

    def _load_slots(self, deadline: _Deadline) -> SlotMap:
        """CLUSTER SLOTS from the seeds in order, each given an even share of the time left."""
        candidates = list(dict.fromkeys([*self.topology.nodes, *self._conns]))
        problems = []
        for position, node in enumerate(candidates):
            share = _Deadline(deadline.left() / (len(candidates) - position))
            try:
                reply = self._send(node, [["CLUSTER", "SLOTS"]], share)[0]
            except RedisUnavailable as exc:
                problems.append(str(exc))
                continue
            if isinstance(reply, RespError):
                problems.append(f"{node[0]}:{node[1]}: {reply}")
                continue
            ranges = parse_cluster_slots(reply, node)
            if ranges:
                return SlotMap(ranges)
            problems.append(f"{node[0]}:{node[1]}: no slot assigned")
        raise RedisUnavailable("no cluster node gave its slot map: " + "; ".join(problems))

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


class SentinelClient:
    """A Sentinel-managed master: ask the sentinels where it is, then talk to it directly.

    The master's address is asked once per client (the sentinel that answered goes first next
    time). A connection failure forgets it; a READONLY reply means the sentinels have moved the
    master since (this node was demoted): ask again and, if time is left, send once more.
    Nothing was written on a replica, so sending again is safe.
    """

    def __init__(self, topology: Topology, timeout_s: float) -> None:
        self.topology = topology
        self.timeout_s = timeout_s
        self.sentinels = list(topology.nodes)
        self.master: Node | None = None
        self._conn: RespConnection | None = None
        self.round_trips = 0

    def pipeline(self, commands: list[list]) -> list:
        deadline = _Deadline(self.timeout_s)
        for attempt in (1, 2):
            if self.master is None:
                self.master = self._discover(deadline)
            replies = self._send(commands, deadline)
            if any(isinstance(r, RespError) and str(r).startswith("READONLY") for r in replies):
                stale = self.master
                self._forget()
                if attempt == 1:
                    self.master = self._discover(deadline)
                    if self.master != stale:
                        continue
                raise RedisUnavailable(f"{stale[0]}:{stale[1]} is a replica now; no master yet")
            for reply in replies:
                if transient(reply):
                    raise RedisUnavailable(f"the master cannot serve this now: {reply}")
            return replies
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, commands: list[list], deadline: _Deadline) -> list:
        left = deadline.left()
        if self._conn is None:
            self._conn = RespConnection(self.topology.node_url(self.master), left)
        self._conn.timeout_s = left
        self.round_trips += 1
        try:
            return self._conn.pipeline(commands)
        except RedisUnavailable:
            self._forget()
            raise

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.master = None

    def _discover(self, deadline: _Deadline) -> Node:
        name = self.topology.master
        problems = []
        for position, sentinel in enumerate(list(self.sentinels)):
            share = deadline.left() / (len(self.sentinels) - position)
            conn = RespConnection(f"redis://{_shown(sentinel[0])}:{sentinel[1]}/0", share)
            self.round_trips += 1
            try:
                reply = conn.pipeline([["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]])[0]
            except RedisUnavailable as exc:
                problems.append(str(exc))
                continue
            finally:
                conn.close()
            if isinstance(reply, list) and len(reply) == 2:
                self.sentinels.remove(sentinel)
                self.sentinels.insert(0, sentinel)
                return reply[0], int(reply[1])
            problems.append(f"sentinel {sentinel[0]}:{sentinel[1]} does not know {name!r}: {reply!r:.60}")
        raise RedisUnavailable(f"no sentinel gave the address of {name!r}: " + "; ".join(problems))

    def close(self) -> None:
        self._forget()


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host
