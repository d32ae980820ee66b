"""Redis Cluster routing for the plain script's client, without I/O (the server has RedisCluster).

A command's slot is its first key's (`key_slot`: CRC16/XMODEM of the hash tag, by
`binascii.crc_hqx`; docs/redis-schema.md). `Routing` splits one pipeline into one sub-pipeline
per node, follows MOVED and ASK a bounded number of times, and turns "try later" errors
(CLUSTERDOWN, TRYAGAIN...) into RedisUnavailable: the route falls back and spools, as when one
Redis is down. Any other error reply stays a RespError in its place, as on one node.
"""

from __future__ import annotations

from binascii import crc_hqx
from bisect import bisect_right

from .errors import RedisUnavailable, RespError, raise_transient
from .url import Node

SLOTS = 16384
MAX_REDIRECTS = 3  # MOVED/ASK hops per command and pipeline: a fourth means the map is in flux

# Commands with no key: any node can take them.
KEYLESS = frozenset("PING INFO CONFIG CLUSTER SCRIPT ASKING READONLY READWRITE COMMAND TIME ROLE".split())  # noqa: SIM905
# Commands whose key comes after a key count: EVAL script numkeys key...
NUMKEYS_AT_2 = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


def key_slot(key: str | bytes) -> int:
    """The cluster slot of a key: CRC16/XMODEM of its hash tag (the first non-empty `{...}`)."""
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return crc_hqx(data, 0) & (SLOTS - 1)


def command_key(command: list) -> str | None:
    """The key that decides where a command runs, or None when any node will do."""
    if not command:
        return None
    name = str(command[0]).upper()
    if name in KEYLESS:
        return None
    if name in NUMKEYS_AT_2:
        return command[3] if len(command) > 3 and int(command[2]) > 0 else None
    if name in ("XREAD", "XREADGROUP"):
        for index, arg in enumerate(command):
            if str(arg).upper() == "STREAMS" and index + 1 < len(command):
                return command[index + 1]
        return None
    return command[1] if len(command) > 1 else None


def parse_cluster_slots(reply: object, asked: Node) -> list[tuple[int, int, Node]]:
    """CLUSTER SLOTS into sorted (first slot, last slot, master); an empty host is `asked`'s."""
    if not isinstance(reply, list):
        raise RedisUnavailable(f"CLUSTER SLOTS from {asked[0]}:{asked[1]} answered {reply!r:.80}")
    # A master "?": Redis 7's node that does not know its own address yet.
    return sorted((int(a), int(b), (m[0] or asked[0], int(m[1]))) for a, b, m, *_ in reply if m[0] != "?")


class SlotMap:
    """Slot -> master, from CLUSTER SLOTS, with single-slot corrections learnt from MOVED."""

    def __init__(self, ranges: list[tuple[int, int, Node]]) -> None:
        self.ranges = ranges
        self.starts = [start for start, _, _ in ranges]
        self.moved: dict[int, Node] = {}

    def node(self, slot: int | None) -> Node | None:
        """The master serving `slot` (any master for a keyless command); None if uncovered."""
        if slot is None:
            return self.ranges[0][2] if self.ranges else None
        if slot in self.moved:
            return self.moved[slot]
        index = bisect_right(self.starts, slot) - 1
        if index >= 0:
            start, end, owner = self.ranges[index]
            if start <= slot <= end:
                return owner
        return None


def parse_redirect(text: str, replied: Node) -> tuple[str, int, Node] | None:
    """`MOVED 3999 127.0.0.1:6381` or `ASK ...` into (kind, slot, node); else None."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in ("MOVED", "ASK"):
        return None
    kind, slot, address = parts
    host, _, port = address.rpartition(":")
    try:
        return kind, int(slot), (host.strip("[]") or replied[0], int(port))
    except ValueError:
        return None


class Routing:
    """One pipeline's way through a cluster, round by round: `plan()` gives {node: [command
    index...]}, the client sends each node's `commands_for(node, indexes)` and hands the replies
    to `take`. Only commands answered MOVED or ASK go round again: one round trip per node."""

    def __init__(self, commands: list[list], slots: SlotMap) -> None:
        self.commands = commands
        self.slots = slots
        self.replies: list = [None] * len(commands)
        self.slot_of = [None if (key := command_key(c)) is None else key_slot(key) for c in commands]
        self.pending = list(range(len(commands)))
        self.asking: dict[int, Node] = {}
        self.rounds = 0
        self.redirected = 0  # MOVED seen: the caller's slot map is out of date

    def plan(self) -> dict[Node, list[int]]:
        if not self.pending:
            return {}
        if self.rounds > MAX_REDIRECTS:
            raise RedisUnavailable(f"the cluster redirected a command more than {MAX_REDIRECTS} times")
        self.rounds += 1
        groups: dict[Node, list[int]] = {}
        for index in self.pending:
            node = self.asking.get(index) or self.slots.node(self.slot_of[index])
            if node is None:
                raise RedisUnavailable(f"no cluster node serves slot {self.slot_of[index]} (map incomplete)")
            groups.setdefault(node, []).append(index)
        self.pending = []
        return groups

    def commands_for(self, node: Node, indexes: list[int]) -> list[list]:
        out: list[list] = []
        for index in indexes:
            if self.asking.get(index) == node:
                out.append(["ASKING"])
            out.append(self.commands[index])
        return out

    def take(self, node: Node, indexes: list[int], replies: list) -> None:
        position = 0
        for index in indexes:
            if self.asking.pop(index, None) == node:
                position += 1  # the ASKING reply (+OK)
            reply = replies[position]
            position += 1
            redirect = parse_redirect(str(reply), node) if isinstance(reply, RespError) else None
            if redirect is None:
                self.replies[index] = reply
                continue
            kind, slot, target = redirect
            if kind == "MOVED":
                self.slots.moved[slot] = target
                self.redirected += 1
            else:
                self.asking[index] = target
            self.pending.append(index)

    def result(self) -> list:
        """The replies in command order; RedisUnavailable if the cluster said "not now"."""
        return raise_transient(self.replies)
