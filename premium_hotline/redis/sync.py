"""The plain AGI script's own blocking client: one connection per node, one deadline per call.

Why not redis-py here: importing it costs a plain AGI process 100 to 300 ms before the caller
hears anything (bench/README.md). It needs only to connect, authenticate, send one pipeline and
read its replies (hiredis parses them), on one Redis, a Cluster or behind sentinels. Every
client has one interface: `pipeline(commands)` returns the replies in order, error replies as
RespError in place, and raises RedisUnavailable when the data cannot be reached within
`timeout_s`, which bounds the whole call, discovery and redirects included.
"""

from __future__ import annotations

import _socket
import time

import hiredis

from .errors import RedisUnavailable, RespError, raise_transient
from .url import CLUSTER, SENTINEL, Node, RedisTarget

TYPE_CHECKING = False  # not `typing`'s: importing typing costs a plain AGI process milliseconds
if TYPE_CHECKING:
    from .slots import SlotMap


class Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.at = time.monotonic() + timeout_s

    def left(self, share: int = 1) -> float:
        """The time left (divided by `share`: one of several nodes to try in turn)."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms")
        return left / share


class Connection:
    """One blocking connection to one node; every operation of a pipeline shares one deadline."""

    def __init__(self, target: RedisTarget, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.sock = self.reader = None
        self.deadline = Deadline(timeout_s)

    def pipeline(self, commands: list[list], deadline: Deadline | None = None) -> list:
        """Send all commands at once and read every reply; error replies come back as RespError."""
        self.deadline = deadline or Deadline(self.timeout_s)
        try:
            if self.sock is None:
                self.connect()
            self.sock.settimeout(self.deadline.left())
            self.sock.sendall(b"".join(hiredis.pack_command(tuple(command)) for command in commands))
            return [self.read_reply() for _ in commands]
        except (OSError, hiredis.ProtocolError) as exc:
            self.close()
            raise RedisUnavailable(f"Redis at {self.target.where()} failed: {exc}") from None
        except RedisUnavailable:  # out of time mid-reply: what is left of it must not be read later
            self.close()
            raise

    def connect(self) -> None:
        target = self.target
        if target.path:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            address: object = target.path
        else:
            address = target.nodes[0]
            sock = _socket.socket(
                _socket.AF_INET6 if ":" in address[0] else _socket.AF_INET, _socket.SOCK_STREAM
            )
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        self.sock = sock
        sock.settimeout(self.deadline.left())
        try:
            sock.connect(address)
        except OSError as exc:
            raise RedisUnavailable(f"cannot connect to Redis at {target.where()}: {exc}") from None
        if target.tls:  # the server's certificate and its name (or IP) verified
            import socket
            import ssl

            self.sock = socket.socket(fileno=sock.detach())
            self.sock.settimeout(self.deadline.left())
            context = ssl.create_default_context(cafile=target.ca_file)
            self.sock = context.wrap_socket(self.sock, server_hostname=address[0])
        self.reader = hiredis.Reader(encoding="utf-8", errors="replace", replyError=RespError)
        hello = [["AUTH", target.username, target.password] if target.username else ["AUTH", target.password]]
        hello = (hello if target.password is not None else []) + (
            [["SELECT", target.db]] if target.db else []
        )
        if hello:
            self.sock.sendall(b"".join(hiredis.pack_command(tuple(command)) for command in hello))
            for reply in [self.read_reply() for _ in hello]:
                if isinstance(reply, RespError):
                    raise RedisUnavailable(f"Redis refused the connection setup: {reply}")

    def read_reply(self):
        reply = self.reader.gets()
        while reply is False:
            self.sock.settimeout(self.deadline.left())
            chunk = self.sock.recv(65536)
            if not chunk:
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


def first_answer(nodes: list[Node], ask, deadline: Deadline, what: str):
    """`ask(node, deadline)` of each node in turn, each given an even share of the time left,
    until one gives an answer (not None); RedisUnavailable naming every node's problem if none."""
    problems = []
    for position, node in enumerate(nodes):
        try:
            answer = ask(node, Deadline(deadline.left(len(nodes) - position)))
        except RedisUnavailable as exc:
            answer = exc
        if answer is not None and not isinstance(answer, Exception):
            return answer
        problems.append(f"{node[0]}:{node[1]}: {answer or 'no answer'}")
    raise RedisUnavailable(f"no {what}: " + "; ".join(problems))


class ClusterClient:
    """A Redis Cluster through one Connection per master: the slot map from the first seed that
    answers CLUSTER SLOTS, then one sub-pipeline per master, in turn. A MOVED reply or a failed
    node drops the map, so the next pipeline asks again."""

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
                candidates = list(dict.fromkeys([*self.target.nodes, *self.conns]))
                self.slots = first_answer(
                    candidates, self.ask_slots, deadline, "cluster node gave its slot map"
                )
            from .slots import Routing  # a cluster only: a plain call to one Redis never pays it

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

    def ask_slots(self, node: Node, deadline: Deadline) -> SlotMap | None:
        reply = self.send(node, [["CLUSTER", "SLOTS"]], deadline)[0]
        if isinstance(reply, RespError):
            raise RedisUnavailable(str(reply))
        from .slots import SlotMap, parse_cluster_slots

        ranges = parse_cluster_slots(reply, node)
        return SlotMap(ranges) if ranges else None  # None: no slot assigned yet

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

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()


class SentinelClient:
    """A Sentinel-managed master: the sentinels name it (the one that answered goes first next
    time), then it is a Connection. A failure forgets it; READONLY means it was demoted: ask
    again and, if time is left, send once more (nothing was written on a replica)."""

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
            self.master = self.master or self.discover(deadline)
            if self.conn is None:
                self.conn = Connection(self.target.node(self.master), self.timeout_s)
            self.round_trips += 1
            try:
                replies = self.conn.pipeline(commands, deadline)
            except RedisUnavailable:
                self.forget()
                raise
            if not any(isinstance(r, RespError) and str(r).startswith("READONLY") for r in replies):
                return raise_transient(replies)
            stale = self.master
            self.forget()
            if attempt == 1 and (master := self.discover(deadline)) != stale:
                self.master = master
                continue
            raise RedisUnavailable(f"{stale[0]}:{stale[1]} is a replica now; no master yet")
        raise AssertionError("unreachable")  # pragma: no cover

    def discover(self, deadline: Deadline) -> Node:
        return first_answer(self.sentinels, self.ask_master, deadline, "sentinel named the master")

    def ask_master(self, sentinel: Node, deadline: Deadline) -> Node | None:
        conn = Connection(self.target.sentinel(sentinel), self.timeout_s)
        self.round_trips += 1
        try:
            reply = conn.pipeline([["SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.target.master]], deadline)[0]
        finally:
            conn.close()
        if not (isinstance(reply, list) and len(reply) == 2):
            return None  # this sentinel does not know the master (yet)
        self.sentinels.remove(sentinel)
        self.sentinels.insert(0, sentinel)
        return reply[0], int(reply[1])

    def forget(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = self.master = None

    def close(self) -> None:
        self.forget()


def client_for(target: RedisTarget, timeout_s: float) -> Connection | ClusterClient | SentinelClient:
    if target.kind == CLUSTER:
        return ClusterClient(target, timeout_s)
    if target.kind == SENTINEL:
        return SentinelClient(target, timeout_s)
    return Connection(target, timeout_s)
