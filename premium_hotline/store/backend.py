"""The store as routes see it: reads that give up in time, writes that never get lost.

Routes call `read` (None when Redis cannot answer within `redis_timeout_ms`: `fail_tariff`) and
`write` (a batch from store.records; on failure it is spooled). Under it, a client from
redis/connect.py: the plain script's own (`PlainStore`) or redis-py's asyncio one (`ServerStore`).
"""

from __future__ import annotations

from ..log import Log, redact_url
from ..redis.errors import RedisUnavailable, RespError
from .spool import Spool, SpoolFull


class Store:
    """Shared logic; subclasses provide `execute(commands) -> replies` (async)."""

    def __init__(self, general, log: Log) -> None:
        self.general = general
        self.log = log
        self.spool = Spool(general.spool_dir, general.spool_max_mb * 1_000_000)
        self.timeout_s = general.redis_timeout_ms / 1000
        self.client = None

    def connect(self, factory, **options):
        """The client for `redis_url` (made once); an unusable URL is an outage, named in the log."""
        url = self.general.redis_url
        try:
            self.client = self.client or factory(url, self.timeout_s, self.general.redis_ca_file, **options)
        except ValueError as exc:
            raise RedisUnavailable(f"unusable Redis URL {redact_url(url)!r}: {exc}") from None
        return self.client

    async def execute(self, commands: list[list]) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    async def read(self, commands: list[list]) -> list | None:
        try:
            replies = await self.execute(commands)
        except RedisUnavailable as exc:
            self.log.warning("redis_read_failed", error=str(exc))
            return None
        if any(isinstance(reply, RespError) for reply in replies):
            self.log.warning("redis_read_error", errors=[str(r) for r in replies if isinstance(r, RespError)])
            return None
        return replies

    async def write(self, batch: list[list], *, route: str, uniqueid: str) -> bool:
        """One pipeline; on failure the batch is spooled. True when Redis took it."""
        from .records import live_commands  # a plain AGI process writes once Asterisk is released

        try:
            replies = await self.execute(live_commands(batch))
        except RedisUnavailable as exc:
            self.log.warning("redis_write_failed", route=route, uniqueid=uniqueid, error=str(exc))
            self.to_spool(batch, route, uniqueid)
            return False
        errors = [str(reply) for reply in replies if isinstance(reply, RespError)]
        if errors:
            # Redis answered but refused something (OOM, ACL, wrong type): retrying will not help,
            # so keep the batch for an operator to replay once the cause is fixed.
            self.log.error("redis_write_rejected", route=route, uniqueid=uniqueid, errors=errors)
            self.to_spool(batch, route, uniqueid)
            return False
        return True

    def to_spool(self, batch: list[list], route: str, uniqueid: str) -> None:
        try:
            self.spool.append(batch, route, uniqueid)
        except (OSError, SpoolFull) as exc:
            # Last resort: the batch goes into the log, where an operator can still find it.
            self.log.error("spool_failed", route=route, uniqueid=uniqueid, error=str(exc), batch=batch)

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()


class PlainStore(Store):
    """One short-lived client for one AGI process (blocking; the coroutine never suspends)."""

    async def execute(self, commands: list[list]) -> list:
        from ..redis.connect import plain_client

        return self.connect(plain_client).pipeline(commands)
