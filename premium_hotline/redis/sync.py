"""The plain AGI script's own blocking client: one connection per node, one deadline per call.

Why not redis-py here: importing it (and `redis.cluster`) costs a plain AGI process 100 to 300
ms before the caller hears anything, against about 50 ms for the whole `decide_tariff.py`
(bench/README.md, docs/scaling.md). A plain process needs only to connect, authenticate, send
one pipeline and read its replies within `redis_timeout_ms`, on one Redis, a Cluster or behind
sentinels: that is this module, with hiredis (the Redis project's C parser) for RESP.

Every client here has one interface: `pipeline(commands)` returns the replies in order, error
replies as RespError in their place, and raises RedisUnavailable when the data cannot be
reached within `timeout_s`, which bounds the whole call, discovery and redirects included.
"""

from __future__ import annotations

import _socket
import time

import hiredis

from .errors import RedisUnavailable, RespError, raise_transient
from .slots import Routing, SlotMap, parse_cluster_slots
from .url import CLUSTER, SENTINEL, Node, RedisTarget, tls_context


class Deadline:
    __slots__ = ("at", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.at = time.monotonic() + timeout_s

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms")
        return left


class Connection:
    """One blocking connection to one node; every operation of a pipeline shares one deadline."""

    def __init__(self, target: RedisTarget, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.sock = None
        self.reader = None
        self.deadline = Deadline(timeout_s)

    def pipeline(self, commands: list[list], deadline: Deadline | None = None) -> list:
        """Send all commands at once and read every reply; error replies come back as RespError."""
        self.deadline = deadline or Deadline(self.timeout_s)
        if self.sock is None:
            self.connect()
        return self.exchange(commands)

    def connect(self) -> None:
        target = self.target
        try:
            if target.path:
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.settimeout(self.deadline.left())
                sock.connect(target.path)
            else:
                host, port = target.nodes[0]
                sock = _socket.socket(
                    _socket.AF_INET6 if ":" in host else _socket.AF_INET, _socket.SOCK_STREAM
                )
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.settimeout(self.deadline.left())
                sock.connect((host, port))
                if target.tls:
                    import socket

                    sock = socket.socket(fileno=sock.detach())
                    sock.settimeout(self.deadline.left())
                    sock = tls_context(target.ca_file).wrap_socket(sock, server_hostname=host)
        except OSError as exc:
            raise RedisUnavailable(f"cannot connect to Redis at {target.where()}: {exc}") from None
        self.sock = sock
        self.reader = hiredis.Reader(encoding="utf-8", errors="replace", replyError=RespError)
        hello = []
        if target.password is not None:
            hello.append(
                ["AUTH", target.username, target.password] if target.username else ["AUTH", target.password]
            )
        if target.db:
            hello.append(["SELECT", target.db])
        for reply in self.exchange(hello) if hello else ():
            if isinstance(reply, RespError):
                self.close()
                raise RedisUnavailable(f"Redis refused the connection setup: {reply}")

    def exchange(self, commands: list[list]) -> list:
        payload = b"".join(hiredis.pack_command(tuple(command)) for command in commands)
        try:
            self.sock.settimeout(self.deadline.left())
            self.sock.sendall(payload)
            return [self.read_reply() for _ in commands]
        except (OSError, hiredis.ProtocolError) as exc:
            self.close()
            raise RedisUnavailable(f"Redis at {self.target.where()} failed: {exc}") from None
        except RedisUnavailable:  # out of time mid-reply: what is left of it must not be read later
            self.close()
            raise

    def read_reply(self):
        reply = self.reader.gets()
        while reply is False:
            self.sock.settimeout(self.deadline.left())
            chunk = self.sock.recv(65536)
            if not chunk:
                self.close()
                raise RedisUnavailable(f"Redis at {self.target.where()} closed the connection")
            self.reader.feed(chunk)
            reply = self.reader.gets()
        return reply

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class ClusterClient:
    """A Redis Cluster through one Connection per master, for one process.

    The slot map comes from the first seed (or known node) that answers CLUSTER SLOTS, once per
    client; a route's pipeline then goes out as one sub-pipeline per master, in turn (the plain
    script writes after Asterisk has been released). A MOVED reply corrects the map for that
    slot; a node that fails drops the map, so the next pipeline asks again.
    """

    def __init__(self, target: RedisTarget, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.slots: SlotMap | None = None
        self.conns: dict[Node, Connection] = {}
        self.round_trips = 0  # node pipelines sent, CLUSTER SLOTS included

    def pipeline(self, commands: list[list]) -> list:
        deadline = Deadline(self.timeout_s)
        try:
            if self.slots is None:
                self.slots = self.load_slots(deadline)
            routing = Routing(commands, self.slots)
            while groups := routing.plan():
                for node, indexes in groups.items():
                    replies = self.send(node, routing.commands_for(node, indexes), deadline)
                    routing.take(node, indexes, replies)
            replies = routing.result()
        except RedisUnavailable:
            self.slots = None  # a node failed or the cluster is reconfiguring: ask again next time
            raise
        if routing.redirected:
            self.slots = None
        return replies

    def send(self, node: Node, commands: list[list], deadline: Deadline) -> list:
        conn = self.conns.get(node)
        if conn is None:
            conn = self.conns[node] = Connection(self.target.node(node), self.timeout_s)
        self.round_trips += 1
        try:
            return conn.pipeline(commands, deadline)
        except RedisUnavailable:
            self.conns.pop(node, None)
            raise

    def load_slots(self, deadline: Deadline) -> SlotMap:
        """CLUSTER SLOTS from the seeds in order, each given an even share of the time left."""
        candidates = list(dict.fromkeys([*self.target.nodes, *self.conns]))
        problems = []
        for position, node in enumerate(candidates):
            try:
                share = Deadline(deadline.left() / (len(candidates) - position))
                reply = self.send(node, [["CLUSTER", "SLOTS"]], share)[0]
            except RedisUnavailable as exc:
                problems.append(str(exc))
                continue
            ranges = [] if isinstance(reply, RespError) else parse_cluster_slots(reply, node)
            if ranges:
                return SlotMap(ranges)
            problems.append(
                f"{node[0]}:{node[1]}: {reply if isinstance(reply, RespError) else 'no slot assigned'}"
            )
        raise RedisUnavailable("no cluster node gave its slot map: " + "; ".join(problems))

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()


class SentinelClient:
    """A Sentinel-managed master: ask the sentinels where it is, then talk to it directly.

    The master's address is asked once per client (the sentinel that answered goes first next
    time). A connection failure forgets it; a READONLY reply means the sentinels have moved the
    master since (this node was demoted): ask again and, if time is left, send once more.
    Nothing was written on a replica, so sending again is safe.
    """

    def __init__(self, target: RedisTarget, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.sentinels = list(target.nodes)
        self.master: Node | None = None
        self.conn: Connection | None = None
        self.round_trips = 0

    def pipeline(self, commands: list[list]) -> list:
        deadline = Deadline(self.timeout_s)
        for attempt in (1, 2):
            if self.master is None:
                self.master = self.discover(deadline)
            replies = self.send(commands, deadline)
            if not any(isinstance(r, RespError) and str(r).startswith("READONLY") for r in replies):
                return raise_transient(replies)
            stale = self.master
            self.forget()
            if attempt == 1:
                self.master = self.discover(deadline)
                if self.master != stale:
                    continue
            raise RedisUnavailable(f"{stale[0]}:{stale[1]} is a replica now; no master yet")
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, commands: list[list], deadline: Deadline) -> list:
        if self.conn is None:
            self.conn = Connection(self.target.node(self.master), self.timeout_s)
        self.round_trips += 1
        try:
            return self.conn.pipeline(commands, deadline)
        except RedisUnavailable:
            self.forget()
            raise

    def forget(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.master = None

    def discover(self, deadline: Deadline) -> Node:
        name = self.target.master
        problems = []
        for position, sentinel in enumerate(list(self.sentinels)):
            conn = Connection(self.target.sentinel(sentinel), self.timeout_s)
            self.round_trips += 1
            try:
                share = Deadline(deadline.left() / (len(self.sentinels) - position))
                reply = conn.pipeline([["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]], share)[0]
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
        self.forget()


def client_for(target: RedisTarget, timeout_s: float) -> Connection | ClusterClient | SentinelClient:
    if target.kind == CLUSTER:
        return ClusterClient(target, timeout_s)
    if target.kind == SENTINEL:
        return SentinelClient(target, timeout_s)
    return Connection(target, timeout_s)
