"""Redis Cluster and Sentinel, the parts without I/O: URLs, hash slots, and routing a pipeline.

Both the plain AGI script's client (store/cluster.py, blocking) and the FastAGI server's
(store/async_cluster.py, asyncio) route the same way, so the rules live here once and the unit
tests pin them down without a server:

- `redis_url` forms (config/premium-hotline.conf documents them for operators):
  `redis+cluster://[user:password@]host:port[,host:port...][/0]`: seed nodes of a cluster,
  any subset of its masters or replicas (the client asks the first that answers for the slot
  map); a cluster has database 0 only.
  `redis+sentinel://[user:password@]host:port[,host:port...]/master-name[/db]`: the sentinels,
  then the monitored master's name. The password is the data nodes' (sentinels are asked
  without one, as in a default Sentinel set-up).
- A command's slot is its first key's (`key_slot`: CRC16 of the hash tag, docs/redis-schema.md),
  and `Routing` turns one pipeline into one sub-pipeline per node, follows `MOVED` and `ASK`
  replies a bounded number of times, and turns the cluster's "try later" errors (CLUSTERDOWN,
  TRYAGAIN, ...) into RedisUnavailable: a route then falls back and spools, as it does when a
  single Redis is down. Every other error reply stays a RespError in its place, as on one node.

Imported only when `redis_url` names a cluster or sentinels: the single-node path never pays
for it.
"""

from __future__ import annotations

from bisect import bisect_right

from .resp import RedisUnavailable, RespError

SLOTS = 16384
CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
MAX_REDIRECTS = 3  # MOVED/ASK hops per command and pipeline: a fourth means the map is in flux

# Error replies that say "not now" rather than "never": the whole batch falls back (spool).
TRANSIENT_ERRORS = ("CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "READONLY")

# Commands with no key: any node can take them.
_KEYLESS = frozenset(
    {
        "PING",
        "INFO",
        "CONFIG",
        "CLUSTER",
        "SCRIPT",
        "ASKING",
        "READONLY",
        "READWRITE",
        "COMMAND",
        "TIME",
        "ROLE",
    }
)
# Commands whose key comes after a key count: EVAL script numkeys key...
_NUMKEYS_AT_2 = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})

Node = tuple[str, int]


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def key_slot(key: str | bytes) -> int:
    """The cluster slot of a key: CRC16/XMODEM of its hash tag (the first non-empty `{...}`)."""
    data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    crc = 0
    table = _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc & (SLOTS - 1)


def command_key(command: list) -> str | None:
    """The key that decides where a command runs, or None when any node will do."""
    if not command:
        return None
    name = str(command[0]).upper()
    if name in _KEYLESS:
        return None
    if name in _NUMKEYS_AT_2:
        if len(command) > 3 and int(command[2]) > 0:
            return command[3]
        return None
    if name in ("XREAD", "XREADGROUP"):
        for index, arg in enumerate(command):
            if str(arg).upper() == "STREAMS" and index + 1 < len(command):
                return command[index + 1]
        return None
    return command[1] if len(command) > 1 else None


def command_slot(command: list) -> int | None:
    key = command_key(command)
    return None if key is None else key_slot(key)


def transient(reply: object) -> bool:
    """An error reply that means "the cluster cannot serve this now" (failover, loading...)."""
    return isinstance(reply, RespError) and str(reply).startswith(TRANSIENT_ERRORS)


# -- URLs -----------------------------------------------------------------------------------------


class Topology:
    """A parsed `redis+cluster://` or `redis+sentinel://` URL."""

    __slots__ = ("db", "kind", "master", "nodes", "password", "url", "username")

    def __init__(
        self,
        kind: str,
        nodes: list[Node],
        *,
        username: str | None = None,
        password: str | None = None,
        master: str = "",
        db: int = 0,
        url: str = "",
    ) -> None:
        self.kind = kind
        self.nodes = nodes
        self.username = username
        self.password = password
        self.master = master
        self.db = db
        self.url = url

    def node_url(self, node: Node) -> str:
        """A plain `redis://` URL for one data node, with the credentials and database."""
        host, port = node
        auth = ""
        if self.password is not None:
            user = _quote(self.username) if self.username else ""
            auth = f"{user}:{_quote(self.password)}@"
        elif self.username:
            auth = f"{_quote(self.username)}@"
        shown = f"[{host}]" if ":" in host else host
        return f"redis://{auth}{shown}:{port}/{self.db}"

    def __repr__(self) -> str:
        where = ",".join(f"{h}:{p}" for h, p in self.nodes)
        return f"Topology({self.kind}, {where}{'/' + self.master if self.master else ''}, db={self.db})"


def _quote(text: str) -> str:
    """Percent-encode only when needed: urllib.parse costs a plain AGI process ~15 ms to import."""
    if not any(ch in text for ch in "%?@:/#[] "):
        return text
    from urllib.parse import quote

    return quote(text, safe="")


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def _shown(url: str) -> str:
    """The URL as an error message may show it: password as `***` (config errors are printed)."""
    from ..log import redact_url

    return redact_url(url)


def is_topology_url(url: str) -> bool:
    return url.startswith((CLUSTER_SCHEME + "://", SENTINEL_SCHEME + "://"))


def _host_port(item: str, default_port: int, url: str) -> Node:
    item = item.strip()
    if not item:
        raise ValueError(f"{_shown(url)!r}: empty host in the list")
    if item.startswith("["):  # [::1]:7000
        host, _, rest = item[1:].partition("]")
        port = rest.lstrip(":")
    elif item.count(":") == 1:
        host, _, port = item.partition(":")
    else:
        host, port = item, ""
    if not host:
        raise ValueError(f"{_shown(url)!r}: {item!r} has no host")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise ValueError(f"{_shown(url)!r}: {item!r} has a bad port") from None
    if not 0 < number < 65536:
        raise ValueError(f"{_shown(url)!r}: {item!r} has a bad port")
    return host, number


def parse_topology_url(url: str) -> Topology:
    """Parse a cluster or sentinel URL; ValueError says what is wrong (check-config shows it)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in (CLUSTER_SCHEME, SENTINEL_SCHEME):
        raise ValueError(f"{_shown(url)!r} is not a {CLUSTER_SCHEME}:// or {SENTINEL_SCHEME}:// URL")
    if "?" in rest:
        raise ValueError(f"{_shown(url)!r}: no query options are understood here")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, colon, secret = auth.partition(":")
        username = _unquote(user) if colon and user else None
        password = _unquote(secret if colon else user) or None
    segments = [segment for segment in path.split("/") if segment]
    if scheme == CLUSTER_SCHEME:
        nodes = [_host_port(item, 6379, url) for item in netloc.split(",")]
        if segments not in ([], ["0"]):
            raise ValueError(f"{_shown(url)!r}: a Redis Cluster has database 0 only (…/0 or nothing)")
        return Topology("cluster", nodes, username=username, password=password, url=url)
    nodes = [_host_port(item, DEFAULT_SENTINEL_PORT, url) for item in netloc.split(",")]
    if not segments or len(segments) > 2:
        raise ValueError(f"{_shown(url)!r}: a sentinel URL ends with /master-name or /master-name/db")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError(f"{_shown(url)!r}: {segments[1]!r} is not a database number")
        db = int(segments[1])
    return Topology(
        "sentinel", nodes, username=username, password=password, master=segments[0], db=db, url=url
    )


# -- the slot map -----------------------------------------------------------------------------------


def parse_cluster_slots(reply: object, asked: Node) -> list[tuple[int, int, Node]]:
    """CLUSTER SLOTS into sorted (first slot, last slot, master); an empty host is `asked`'s."""
    if not isinstance(reply, list):
        raise RedisUnavailable(f"CLUSTER SLOTS from {asked[0]}:{asked[1]} answered {reply!r:.80}")
    ranges = []
    for item in reply:
        master = item[2]
        host = master[0] or asked[0]
        if host == "?":  # Redis 7: the node does not know its own address yet
            continue
        ranges.append((int(item[0]), int(item[1]), (host, int(master[1]))))
    ranges.sort()
    return ranges


class SlotMap:
    """Slot -> master, from CLUSTER SLOTS, with single-slot corrections learnt from MOVED."""

    __slots__ = ("_moved", "_starts", "ranges")

    def __init__(self, ranges: list[tuple[int, int, Node]]) -> None:
        self.ranges = ranges
        self._starts = [start for start, _, _ in ranges]
        self._moved: dict[int, Node] = {}

    def node(self, slot: int | None) -> Node | None:
        """The master serving `slot` (any master for a keyless command); None if uncovered."""
        if slot is None:
            return self.ranges[0][2] if self.ranges else None
        moved = self._moved.get(slot)
        if moved is not None:
            return moved
        index = bisect_right(self._starts, slot) - 1
        if index >= 0:
            start, end, owner = self.ranges[index]
            if start <= slot <= end:
                return owner
        return None

    def moved(self, slot: int, node: Node) -> None:
        self._moved[slot] = node

    def nodes(self) -> list[Node]:
        """Every master, in slot order, without repeats."""
        return list(dict.fromkeys(owner for _, _, owner in self.ranges))


def parse_redirect(text: str, replied: Node) -> tuple[str, int, Node] | None:
    """`MOVED 3999 127.0.0.1:6381` or `ASK ...` into (kind, slot, node); else None."""
    if not text.startswith(("MOVED ", "ASK ")):
        return None
    parts = text.split()
    if len(parts) != 3:
        return None
    kind, slot, address = parts
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or replied[0]
    try:
        return kind, int(slot), (host, int(port))
    except ValueError:
        return None


class Routing:
    """One pipeline's way through a cluster: which commands go to which node, round by round.

    A driver (blocking or asyncio) loops: `plan()` gives {node: [command index, ...]} for the
    commands still unanswered, it sends each node's `commands_for(node, indexes)` as one
    pipeline (to all nodes at once when it can), and hands the replies back to `take`. The
    first round sends every command; only commands answered MOVED or ASK go round again, to
    the node named, so one route costs one round trip per node its keys live on.
    """

    def __init__(self, commands: list[list], slots: SlotMap) -> None:
        self.commands = commands
        self.slots = slots
        self.replies: list = [None] * len(commands)
        self._slot = [command_slot(command) for command in commands]
        self._pending = list(range(len(commands)))
        self._asking: dict[int, Node] = {}
        self.rounds = 0
        self.redirected = 0  # MOVED seen: the caller's slot map is out of date
        self.failed_nodes: list[Node] = []

    def plan(self) -> dict[Node, list[int]]:
        if not self._pending:
            return {}
        if self.rounds > MAX_REDIRECTS:
            raise RedisUnavailable(f"the cluster redirected a command more than {MAX_REDIRECTS} times")
        self.rounds += 1
        groups: dict[Node, list[int]] = {}
        for index in self._pending:
            node = self._asking.get(index) or self.slots.node(self._slot[index])
            if node is None:
                raise RedisUnavailable(f"no cluster node serves slot {self._slot[index]} (map incomplete)")
            groups.setdefault(node, []).append(index)
        self._pending = []
        return groups

    def commands_for(self, node: Node, indexes: list[int]) -> list[list]:
        out: list[list] = []
        for index in indexes:
            if self._asking.get(index) == node:
                out.append(["ASKING"])
            out.append(self.commands[index])
        return out

    def take(self, node: Node, indexes: list[int], replies: list) -> None:
        position = 0
        for index in indexes:
            asked = self._asking.pop(index, None) == node
            if asked:
                position += 1  # the ASKING reply (+OK)
            reply = replies[position]
            position += 1
            if isinstance(reply, RespError):
                redirect = parse_redirect(str(reply), node)
                if redirect is not None:
                    kind, slot, target = redirect
                    if kind == "MOVED":
                        self.slots.moved(slot, target)
                        self.redirected += 1
                    else:
                        self._asking[index] = target
                    self._pending.append(index)
                    continue
            self.replies[index] = reply

    def result(self) -> list:
        """The replies in command order; RedisUnavailable if the cluster said "not now"."""
        for reply in self.replies:
            if transient(reply):
                raise RedisUnavailable(f"the cluster cannot serve this now: {reply}")
        return self.replies
