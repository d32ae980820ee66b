"""Every `redis_url` form, parsed once, into what any client needs to reach that Redis.

The forms (config/premium-hotline.conf shows them to operators): `redis://`, `rediss://` (TLS),
`unix://`; `redis+cluster://` (seed nodes, database 0 only), `redis+sentinel://` (the sentinels,
then /master-name[/db]; `?sentinel_password=` and `?sentinel_username=` for the sentinels' own
credentials), and their TLS forms `rediss+cluster://`, `rediss+sentinel://` (every node and
sentinel). TLS verifies the certificate and the host name or IP against `redis_ca_file`, else
$PREMIUM_HOTLINE_REDIS_CA, else the system's CAs. A malformed URL is a ValueError that shows the
password as `***`. Cheap to import: a plain AGI process parses its URL on every call.
"""

from __future__ import annotations

import os

Node = tuple[str, int]
SINGLE, CLUSTER, SENTINEL = "single", "cluster", "sentinel"
# scheme -> (topology, TLS, default port)
SCHEMES = {
    "redis": (SINGLE, False, 6379),
    "rediss": (SINGLE, True, 6379),
    "unix": (SINGLE, False, 0),
    "redis+cluster": (CLUSTER, False, 6379),
    "rediss+cluster": (CLUSTER, True, 6379),
    "redis+sentinel": (SENTINEL, False, 26379),
    "rediss+sentinel": (SENTINEL, True, 26379),
}
_QUERY = {SINGLE: ("db",), CLUSTER: (), SENTINEL: ("sentinel_username", "sentinel_password")}


class RedisTarget:
    """A parsed `redis_url`: the topology, its nodes, TLS, and the credentials of each side."""

    # What parse_url does not set keeps these defaults.
    tls, path, db, master = False, "", 0, ""
    username = password = sentinel_username = sentinel_password = ca_file = None

    def __init__(self, kind: str, nodes: list[Node], **fields) -> None:
        self.kind = kind
        self.nodes = nodes
        for name, value in fields.items():
            setattr(self, name, value)

    def node(self, node: Node) -> RedisTarget:
        """One data node of this topology: same credentials, database, TLS and CA."""
        return RedisTarget(SINGLE, [node], tls=self.tls, username=self.username, password=self.password,
                           db=self.db, ca_file=self.ca_file)  # fmt: skip

    def sentinel(self, node: Node) -> RedisTarget:
        """One sentinel: its own credentials (none by default), TLS as the data nodes."""
        return RedisTarget(SINGLE, [node], tls=self.tls, username=self.sentinel_username,
                           password=self.sentinel_password, ca_file=self.ca_file)  # fmt: skip

    def where(self) -> str:
        return self.path or ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nodes)


def parse_url(url: str, ca_file: str | None = None) -> RedisTarget:
    """Parse any `redis_url`; ValueError says what is wrong, without the password."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(f"{_shown(url)!r} is not a {', '.join(s + '://' for s in SCHEMES)} URL")
    kind, tls, default_port = SCHEMES[scheme]
    fields: dict = {"tls": tls, "ca_file": (ca_file or os.environ.get("PREMIUM_HOTLINE_REDIS_CA") or None)}
    rest, _, query = rest.partition("?")
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name not in _QUERY[kind]:
            raise ValueError(
                f"{_shown(url)!r}: unknown option {name!r} (known: {', '.join(_QUERY[kind]) or 'none'})"
            )
        fields[name] = _unquote(value) or None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        user, colon, secret = auth.partition(":")
        fields["username"] = _unquote(user) if colon and user else None
        fields["password"] = _unquote(secret if colon else user) or None
    if scheme == "unix":
        if not rest.startswith("/"):
            raise ValueError(f"{_shown(url)!r}: a unix:// URL names an absolute socket path")
        fields["path"] = rest
        nodes: list[Node] = []
    else:
        netloc, _, path = rest.partition("/")
        if kind == SINGLE and netloc.partition(":")[0] == "":
            netloc = "127.0.0.1" + netloc  # redis://:6380/0, redis:///0: this host
        nodes = [_host_port(item, default_port, url) for item in netloc.split(",")]
        segments = [segment for segment in path.split("/") if segment]
        if kind == SENTINEL:
            if not segments or len(segments) > 2:
                raise ValueError(f"{_shown(url)!r}: a sentinel URL ends with /master-name or /master-name/db")
            fields["master"] = segments.pop(0)
        elif kind == CLUSTER and segments not in ([], ["0"]):
            raise ValueError(f"{_shown(url)!r}: a Redis Cluster has database 0 only (…/0 or nothing)")
        if len(segments) > 1 or (kind == SINGLE and len(nodes) > 1):
            raise ValueError(f"{_shown(url)!r}: one host and one /db at most (a cluster is redis+cluster://)")
        if segments:
            fields["db"] = segments[0]
    if not str(db := fields.get("db", 0)).isdigit():
        raise ValueError(f"{_shown(url)!r}: {db!r} is not a database number")
    return RedisTarget(kind, nodes, **{**fields, "db": int(db)})


def _host_port(item: str, default_port: int, url: str) -> Node:
    item = item.strip()
    if item.startswith("["):  # [::1]:7000
        host, _, rest = item[1:].partition("]")
        port = rest.lstrip(":")
    elif item.count(":") == 1:
        host, _, port = item.partition(":")
    else:
        host, port = item, ""
    if not host:
        raise ValueError(f"{_shown(url)!r}: {item!r} has no host")
    number = int(port) if port.isdigit() else default_port if not port else 0
    if not 0 < number < 65536:
        raise ValueError(f"{_shown(url)!r}: {item!r} has a bad port")
    return host, number


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def _shown(url: str) -> str:
    from ..log import redact_url

    return redact_url(url)
