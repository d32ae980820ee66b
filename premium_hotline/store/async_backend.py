"""The store for the FastAGI server: pooled asyncio Redis connections, the same replies as the script.

Routes see one `Store` interface (store/backend.py); this module gives the server two transports:

- `AsyncStore` (the default): a small pool of asyncio connections speaking RESP2 with the very
  encoder and decoding rules of the plain script's client (store/resp.py). Replies are therefore
  the same objects in both modes, byte for byte: `str` for bulk and status replies, `int`, `None`,
  lists, and `RespError` instances for error replies. It exists because redis-py's asyncio
  pipeline costs about 3 times the CPU per call of a bare RESP exchange (pool bookkeeping,
  observability hooks, a per-reply timeout context and its pure-Python parser); at FastAGI rates
  that is most of a core (bench/README.md has the figures).
- `RedisPyStore`: the same through redis-py's `redis.asyncio` connection pool, for operators who
  want redis-py's connection handling; its response callbacks are removed so that it, too,
  returns raw replies, and its exceptions become `RedisUnavailable` or `RespError`.

Both bound every operation (taking a pooled connection included) by `redis_timeout_ms`, so a
slow Redis turns into `fail_tariff` or a spooled write, never into a caller waiting. A batch the
store could not write goes to the spool from a worker thread: the spool fsyncs, and an fsync on
the event loop would stall every other call in flight.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures

from ..log import LevelMethods, Log, redact_url
from .backend import Store
from .resp import RedisUnavailable, RedisURL, RespError, tls_context

DEFAULT_POOL_SIZE = 32


class _Incomplete(Exception):
    """The buffer ends inside a reply: read more and parse again from the same place."""


def parse_reply(buf: bytes, pos: int) -> tuple[object, int]:
    """One RESP2 reply from `buf` at `pos`: (reply, position after it); raises _Incomplete.

    Decodes exactly as RespConnection._read_reply does, so both transports agree. Arrays of
    bulk strings (LRANGE: hundreds of items per call) take an inlined path: this parser runs
    for every reply of every call and is one of the server's top costs per call.
    """
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    rest = buf[pos + 1 : end]
    pos = end + 2
    if kind == 36:  # $ bulk string
        size = int(rest)
        if size < 0:
            return None, pos
        stop = pos + size
        if len(buf) < stop + 2:
            raise _Incomplete
        return buf[pos:stop].decode("utf-8", "replace"), stop + 2
    if kind == 58:  # : integer
        return int(rest), pos
    if kind == 43:  # + status
        return rest.decode("utf-8", "replace"), pos
    if kind == 45:  # - error
        return RespError(rest.decode("utf-8", "replace")), pos
    if kind == 42:  # * array
        count = int(rest)
        if count < 0:
            return None, pos
        items: list = []
        append = items.append
        length = len(buf)
        find = buf.find
        for _ in range(count):
            if pos >= length:
                raise _Incomplete
            if buf[pos] != 36:
                item, pos = parse_reply(buf, pos)
                append(item)
                continue
            end = find(b"\r\n", pos)
            if end < 0:
                raise _Incomplete
            size = int(buf[pos + 1 : end])
            pos = end + 2
            if size < 0:
                append(None)
                continue
            stop = pos + size
            if length < stop + 2:
                raise _Incomplete
            append(buf[pos:stop].decode("utf-8", "replace"))
            pos = stop + 2
        return items, pos
    raise RedisUnavailable(f"unexpected reply from Redis: {bytes(buf[pos - len(rest) - 3 : end])[:40]!r}")


def encode_pipeline(commands: list[list]) -> bytes:
    """The RESP encoding of several commands, byte for byte what resp.encode gives each one."""
    out: list[bytes] = []
    append = out.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for arg in command:
            kind = type(arg)
            data = arg if kind is bytes else arg.encode() if kind is str else str(arg).encode()
            append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection:
    """One asyncio connection; `exchange` sends a pipeline and reads all its replies."""

    __slots__ = ("_buffer", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buffer = b""

    @property
    def stale(self) -> bool:
        """Redis closed it while it sat in the pool (restart, `timeout` setting)."""
        return self.reader.at_eof() or self.writer.transport.is_closing()

    async def exchange(self, payload: bytes, count: int) -> list:
        self.writer.write(payload)
        buf = self._buffer
        pos = 0
        replies = []
        while len(replies) < count:
            try:
                reply, pos = parse_reply(buf, pos)
            except _Incomplete:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise RedisUnavailable("Redis closed the connection") from None
                buf = buf[pos:] + chunk if pos else buf + chunk
                pos = 0
                continue
            replies.append(reply)
        self._buffer = buf[pos:]
        return replies

    def close(self) -> None:
        try:
            self.writer.transport.abort()
        except Exception:
            pass


class RespPool:
    """At most `size` connections to one Redis, handed out last-in first-out.

    LIFO keeps a few connections hot and lets the rest sit idle; a caller that finds every
    connection busy waits for one (within the operation's deadline, enforced by the caller).
    A connection whose exchange failed or was cancelled is closed, never reused: its replies
    might still be on the way and would be read as the next caller's.
    """

    def __init__(
        self, url: str, size: int = DEFAULT_POOL_SIZE, connect_timeout_s: float = 1.0, ca_file: str = ""
    ) -> None:
        self.url = RedisURL(url)
        self.ca_file = ca_file
        self.size = size
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Connection] = []
        self._open = 0  # connections open or being opened
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._closed = False

    async def pipeline(self, commands: list[list]) -> list:
        payload = encode_pipeline(commands)
        conn = await self._acquire()
        healthy = False
        try:
            replies = await conn.exchange(payload, len(commands))
            healthy = True
            return replies
        except OSError as exc:
            raise RedisUnavailable(f"Redis at {self._where()} failed: {exc}") from None
        finally:
            self._release(conn, healthy)

    async def _acquire(self) -> _Connection:
        if self._closed:
            raise RedisUnavailable("the Redis pool is closed")
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale:
                return conn
            conn.close()
            self._open -= 1
        if self._open < self.size:
            return await self._open_one()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            conn = await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection (or a slot) just as we were cancelled: pass it on.
                handed = waiter.result()
                if handed is None:
                    self._open -= 1
                    self._wake_one()
                else:
                    self._release(handed, True)
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise
        if conn is None:  # a slot freed by a closed connection: open our own
            self._open -= 1
            return await self._open_one()
        return conn

    async def _open_one(self) -> _Connection:
        self._open += 1
        try:
            return await self._connect()
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    def _wake_one(self) -> None:
        """A slot is free: let the first live waiter open a connection in it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1  # the slot is the waiter's until it opens or gives it back
                waiter.set_result(None)
                return

    def _release(self, conn: _Connection, healthy: bool) -> None:
        if not healthy or self._closed:
            conn.close()
            self._open -= 1
            self._wake_one()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def _connect(self) -> _Connection:
        url = self.url
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if url.scheme == "unix":
                    reader, writer = await asyncio.open_unix_connection(url.path, limit=1 << 20)
                else:
                    ssl = tls_context(self.ca_file) if url.scheme == "rediss" else None
                    reader, writer = await asyncio.open_connection(url.host, url.port, ssl=ssl, limit=1 << 20)
                conn = _Connection(reader, writer)
                hello = []
                if url.password is not None:
                    hello.append(
                        ["AUTH", url.username, url.password] if url.username else ["AUTH", url.password]
                    )
                if url.db:
                    hello.append(["SELECT", url.db])
                if hello:
                    for reply in await conn.exchange(encode_pipeline(hello), len(hello)):
                        if isinstance(reply, RespError):
                            conn.close()
                            raise RedisUnavailable(f"Redis refused the connection setup: {reply}")
                return conn
        except TimeoutError:
            raise RedisUnavailable(f"cannot connect to Redis at {self._where()}: timed out") from None
        except OSError as exc:
            raise RedisUnavailable(f"cannot connect to Redis at {self._where()}: {exc}") from None

    def _where(self) -> str:
        return self.url.path if self.url.scheme == "unix" else f"{self.url.host}:{self.url.port}"

    @property
    def open_connections(self) -> int:
        return self._open

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
            self._open -= 1


# Store events that a Redis outage repeats for every call: at hundreds of calls a second they
# would flood the log (and block the loop on its writes). spool_failed is not here: its line is
# the only copy of the batch.
_REPEATED = frozenset({"redis_read_failed", "redis_read_error", "redis_write_failed", "redis_write_rejected"})


class _OncePerSecond(LevelMethods):
    """The store's log, with each repeated event written at most once a second, plus a count."""

    def __init__(self, log: Log) -> None:
        self._log = log
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def _emit(self, level: str, event: str, fields: dict) -> None:
        if event in _REPEATED:
            import time

            now = time.monotonic()
            if now - self._last.get(event, -10.0) < 1.0:
                self._held[event] = self._held.get(event, 0) + 1
                return
            self._last[event] = now
            held = self._held.pop(event, 0)
            if held:
                fields = {**fields, "similar_suppressed": held}
        getattr(self._log, level)(event, **fields)


class _SpoolingStore(Store):
    """What both server stores share: deadlines, spooling off the loop, counters, clean shutdown."""

    def __init__(self, general, log: Log) -> None:
        super().__init__(general, _OncePerSecond(log))
        self.timeout_s = general.redis_timeout_ms / 1000
        self.round_trips = 0
        self.failures = 0
        self._spooler = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._spooling: set[asyncio.Future] = set()

    async def _execute(self, commands: list[list]) -> list:
        self.round_trips += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._transport(commands)
        except TimeoutError:
            self.failures += 1
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms") from None
        except RedisUnavailable:
            self.failures += 1
            raise

    async def _transport(self, commands: list[list]) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    async def write(self, batch: list[list], *, route: str, uniqueid: str) -> bool:
        try:
            return await super().write(batch, route=route, uniqueid=uniqueid)
        except asyncio.CancelledError:
            # Shutdown ran out of patience mid-write: whether Redis took it is unknown, and a
            # batch is safe to replay, so keep it rather than lose the call's record.
            Store._to_spool(self, batch, route, uniqueid)
            raise

    def _to_spool(self, batch: list[list], route: str, uniqueid: str) -> None:
        try:
            future = asyncio.get_running_loop().run_in_executor(
                self._spooler, Store._to_spool, self, batch, route, uniqueid
            )
        except RuntimeError:  # no loop (or the executor is shut down): write it here
            Store._to_spool(self, batch, route, uniqueid)
            return
        self._spooling.add(future)
        future.add_done_callback(self._spooling.discard)

    async def close(self) -> None:
        """Wait for spool writes in progress, then close the connections."""
        if self._spooling:
            await asyncio.gather(*list(self._spooling), return_exceptions=True)
        self._spooler.shutdown(wait=True)
        await self._close_transport()

    async def _close_transport(self) -> None:
        pass


class AsyncStore(_SpoolingStore):
    """The server's default store: a RespPool (see the module doc for why not redis-py)."""

    def __init__(self, general, log: Log, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        super().__init__(general, log)
        try:
            self.pool: RespPool | None = RespPool(
                general.redis_url, pool_size, self.timeout_s, general.redis_ca_file
            )
        except ValueError as exc:
            # A URL RespPool cannot parse (make_store sent redis+cluster/sentinel elsewhere): fail open.
            log.error("redis_url_unsupported", url_scheme=general.redis_url.partition(":")[0], error=str(exc))
            self.pool = None

    async def _transport(self, commands: list[list]) -> list:
        if self.pool is None:
            raise RedisUnavailable(
                f"unsupported Redis URL for this store: {redact_url(self.general.redis_url)!r}"
            )
        return await self.pool.pipeline(commands)

    async def _close_transport(self) -> None:
        if self.pool is not None:
            await self.pool.close()


class RedisPyStore(_SpoolingStore):
    """The same through redis-py's asyncio pool (`serve --redis-client redis-py`)."""

    def __init__(self, general, log: Log, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        super().__init__(general, log)
        import redis.asyncio as aioredis
        from redis import exceptions
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._errors = exceptions
        try:
            self._client = aioredis.Redis.from_url(
                general.redis_url,
                decode_responses=True,
                encoding_errors="replace",
                max_connections=pool_size,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 0),  # the deadline is ours; a retry would blow it
                health_check_interval=0,
                protocol=2,  # RESP2, as the plain client speaks: RESP3 would turn HGETALL into a dict
                **({"ssl_ca_certs": general.redis_ca_file} if general.redis_ca_file else {}),
            )
        except ValueError as exc:  # a URL scheme redis.asyncio.Redis does not take
            log.error("redis_url_unsupported", url_scheme=general.redis_url.partition(":")[0], error=str(exc))
            self._client = None
            return
        # Raw replies, as the RESP client returns them (EXPIRE gives 1, not True; and so on).
        self._client.response_callbacks.clear()

    async def _transport(self, commands: list[list]) -> list:
        errors = self._errors
        if self._client is None:
            raise RedisUnavailable(
                f"unsupported Redis URL for this store: {redact_url(self.general.redis_url)!r}"
            )
        try:
            pipe = self._client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        except errors.ResponseError as exc:  # e.g. NOAUTH while connecting
            raise RedisUnavailable(f"Redis refused: {exc}") from None
        except (errors.ConnectionError, errors.TimeoutError, OSError) as exc:
            raise RedisUnavailable(f"Redis failed: {exc}") from None
        except errors.RedisError as exc:
            raise RedisUnavailable(f"Redis client error: {exc}") from None
        return [_from_redis_py(reply, errors) for reply in replies]

    async def _close_transport(self) -> None:
        if self._client is None:
            return
        try:
            await self._client.aclose()
        except Exception:
            pass


def _from_redis_py(reply, errors):
    if isinstance(reply, errors.ResponseError):
        # redis-py prefixes the command position ("Command # 3 (EVAL ...) of pipeline caused
        # error: "); the RESP client returns Redis's text alone.
        text = str(reply.args[0]) if reply.args else str(reply)
        marker = " of pipeline caused error: "
        if marker in text:
            text = text.split(marker, 1)[1]
        return RespError(text)
    if isinstance(reply, errors.RedisError):
        raise RedisUnavailable(f"Redis failed mid-pipeline: {reply}")
    return reply


def make_store(general, log: Log, client: str = "resp", pool_size: int = DEFAULT_POOL_SIZE) -> _SpoolingStore:
    """The server's store: `resp` (default, fastest) or `redis-py`."""
    if general.redis_url.startswith("redis+"):  # a cluster or sentinels: store/async_cluster.py
        from .async_cluster import make_topology_store

        return make_topology_store(general, log, client, pool_size)
    if client == "redis-py":
        return RedisPyStore(general, log, pool_size)
    return AsyncStore(general, log, pool_size)


__all__ = ["AsyncStore", "RedisPyStore", "RespPool", "encode_pipeline", "make_store", "parse_reply"]
