"""A minimal RESP2 client for the plain AGI script: one connection, one pipeline, then exit.

Why not redis-py here: importing it costs about 280 ms on a PBX-class machine, paid by every
call before the caller hears anything (bench/README.md). A plain AGI process needs only to
connect, authenticate, send one pipeline and read the replies, within a deadline: that is this
module. The FastAGI server and the ops commands use redis-py (pooling, Cluster, Sentinel).
"""

from __future__ import annotations

import _socket
import time


class RespError(Exception):
    """An error reply from Redis (`-ERR ...`), returned in place of that command's result."""


class RedisUnavailable(Exception):
    """Connecting, sending or reading failed or timed out: the caller falls back or spools."""


class RedisURL:
    __slots__ = ("db", "host", "password", "path", "port", "scheme", "username")

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("redis", "rediss", "unix"):
            from ..log import redact_url

            raise ValueError(f"unsupported Redis URL {redact_url(url)!r}")
        self.scheme = scheme
        self.username = None
        self.password = None
        self.db = 0
        self.host = "127.0.0.1"
        self.port = 6379
        self.path = ""
        query = ""
        if "?" in rest:
            rest, query = rest.split("?", 1)
        if "@" in rest:
            auth, rest = rest.rsplit("@", 1)
            user, colon, password = auth.partition(":")
            self.username = _unquote(user) if colon and user else None
            self.password = _unquote(password if colon else user) or None
        if scheme == "unix":
            self.path = rest
        else:
            hostport, _, db = rest.partition("/")
            if db:
                self.db = int(db)
            if hostport.startswith("["):  # [::1]:6379
                host, _, port = hostport[1:].partition("]")
                self.host = host
                port = port.lstrip(":")
            else:
                host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
                self.host = host or "127.0.0.1"
            if port:
                self.port = int(port)
        for pair in query.split("&"):
            name, _, value = pair.partition("=")
            if name == "db" and value:
                self.db = int(value)


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def tls_context(ca_file: str | None = None):
    """The client TLS context for rediss://: certificate and host name verified."""
    import os
    import ssl

    return ssl.create_default_context(cafile=ca_file or os.environ.get("PREMIUM_HOTLINE_REDIS_CA") or None)


def encode(command: list) -> bytes:
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespConnection:
    """One blocking connection whose every operation shares a single deadline.

    `ca_file`: the CA bundle that signed a rediss:// server's certificate (config
    `redis_ca_file`; else $PREMIUM_HOTLINE_REDIS_CA; else the system's trusted CAs). The
    server's name or IP is always checked against its certificate.
    """

    def __init__(self, url: str, timeout_s: float, ca_file: str | None = None) -> None:
        self.url = RedisURL(url)
        self.timeout_s = timeout_s
        self.ca_file = ca_file
        self._sock = None
        self._buffer = b""
        self._deadline = 0.0

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms")
        return left

    def _connect(self) -> None:
        url = self.url
        try:
            if url.scheme == "unix":
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.settimeout(self._remaining())
                sock.connect(url.path)
            else:
                family = _socket.AF_INET6 if ":" in url.host else _socket.AF_INET
                sock = _socket.socket(family, _socket.SOCK_STREAM)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.settimeout(self._remaining())
                sock.connect((url.host, url.port))
                if url.scheme == "rediss":
                    sock = self._tls(sock)
        except OSError as exc:
            raise RedisUnavailable(f"cannot connect to Redis at {self._where()}: {exc}") from None
        self._sock = sock
        hello = []
        if url.password is not None:
            hello.append(["AUTH", url.username, url.password] if url.username else ["AUTH", url.password])
        if url.db:
            hello.append(["SELECT", url.db])
        if hello:
            for reply in self._exchange(hello):
                if isinstance(reply, RespError):
                    raise RedisUnavailable(f"Redis refused the connection setup: {reply}")

    def _tls(self, raw):
        import socket

        context = tls_context(self.ca_file)
        sock = socket.socket(fileno=raw.detach())
        sock.settimeout(self._remaining())
        return context.wrap_socket(sock, server_hostname=self.url.host)

    def _where(self) -> str:
        return self.url.path if self.url.scheme == "unix" else f"{self.url.host}:{self.url.port}"

    def pipeline(self, commands: list[list]) -> list:
        """Send all commands at once and read every reply; error replies come back as RespError."""
        self._deadline = time.monotonic() + self.timeout_s
        if self._sock is None:
            self._connect()
        return self._exchange(commands)

    def _exchange(self, commands: list[list]) -> list:
        payload = b"".join(encode(command) for command in commands)
        try:
            self._sock.settimeout(self._remaining())
            self._sock.sendall(payload)
            return [self._read_reply() for _ in commands]
        except OSError as exc:
            self.close()
            raise RedisUnavailable(f"Redis at {self._where()} failed: {exc}") from None

    def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
                return line
            self._fill()

    def _fill(self) -> None:
        self._sock.settimeout(self._remaining())
        chunk = self._sock.recv(65536)
        if not chunk:
            self.close()
            raise RedisUnavailable(f"Redis at {self._where()} closed the connection")
        self._buffer += chunk

    def _read_reply(self):
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self._buffer) < size + 2:
                self._fill()
            data, self._buffer = self._buffer[:size], self._buffer[size + 2 :]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._read_reply() for _ in range(count)]
        self.close()
        raise RedisUnavailable(f"unexpected reply from Redis: {line[:40]!r}")

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
            self._buffer = b""
