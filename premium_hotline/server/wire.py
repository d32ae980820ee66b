"""Pure parts of the FastAGI server: what the script path asks for, and who may connect.

FastAGI has no authentication: anyone who can open the port can feed the handlers an
environment of their choosing and read back tariffs. The allow-list is checked on the peer's
address before a single byte is read.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote

from ..routes import route_name

MAX_QUERY_ITEMS = 20
MAX_QUERY_VALUE = 256
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

DEFAULT_ALLOW = "127.0.0.0/8,::1/128"


class Script:
    """`agi_network_script` split: the route, positional query items, named query items."""

    __slots__ = ("args", "path", "query", "route")

    def __init__(self, path: str, route: str, args: list[str], query: dict[str, str]) -> None:
        self.path = path
        self.route = route
        self.args = args
        self.query = query

    def __repr__(self) -> str:
        return f"Script({self.route!r}, args={self.args!r}, query={self.query!r})"


def parse_script(script: str) -> Script:
    """`decide_tariff?0899123456&site=FR` -> route decide_tariff, args [0899123456], query {site: FR}.

    Positional items (no `=`) become extra AGI arguments after the dialplan's own, so
    `agi://pbx/decide_tariff?${EXTEN}` and `AGI(agi://pbx/decide_tariff,${EXTEN})` are one call.
    Named items need a plain name (letters, digits, `_`): they become `agi_query_<name>` in the
    environment. Values are percent-decoded and bounded; at most MAX_QUERY_ITEMS are kept.
    """
    path, _, query = script.partition("?")
    path = path.strip("/")
    route = route_name(path)
    args: list[str] = []
    named: dict[str, str] = {}
    if query:
        for item in query.split("&")[:MAX_QUERY_ITEMS]:
            if not item:
                continue
            name, eq, value = item.partition("=")
            if eq:
                name = unquote(name, errors="replace")
                if name and len(name) <= 64 and all(ch in _NAME_CHARS for ch in name):
                    named[name] = _value(value)
            else:
                args.append(_value(item))
    return Script(path, route, args, named)


def _value(text: str) -> str:
    # Not form encoding: a `+` stays a `+` (E.164 numbers); only %XX escapes are decoded.
    value = unquote(text, errors="replace")
    value = value.replace("\r", " ").replace("\n", " ").replace("\0", "")
    return value[:MAX_QUERY_VALUE]


def apply_script(env: dict[str, str], script: Script) -> None:
    """Add the query's items to the environment, as the handlers read arguments from it."""
    index = 1
    while f"agi_arg_{index}" in env:
        index += 1
    for arg in script.args:
        env[f"agi_arg_{index}"] = arg
        index += 1
    for name, value in script.query.items():
        env[f"agi_query_{name}"] = value


class AllowList:
    """Client addresses allowed to connect: CIDR networks, IPv4 and IPv6 (v4-mapped handled)."""

    def __init__(self, networks: list) -> None:
        self.networks = networks
        self._seen: dict[str, bool] = {}

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """`127.0.0.1, 10.0.0.0/8, ::1`; raises ValueError naming the bad entry."""
        networks = []
        for item in text.replace(" ", ",").split(","):
            item = item.strip()
            if not item:
                continue
            if item.lower() in ("any", "all", "*"):
                networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        if not networks:
            raise ValueError("the allow-list is empty: no client could connect")
        return cls(networks)

    def permits(self, address: str) -> bool:
        """True when `address` (the peer's IP as the socket gives it) is in a listed network."""
        known = self._seen.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        allowed = any(ip in network for network in self.networks)
        if len(self._seen) < 4096:  # a scan from many addresses must not grow this without bound
            self._seen[address] = allowed
        return allowed

    def __str__(self) -> str:
        return ",".join(str(network) for network in self.networks)
