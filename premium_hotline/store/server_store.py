"""The FastAGI server's store: redis-py's asyncio pool, deadlines, spooling off the event loop.

Every operation (taking a pooled connection included) is bounded by `redis_timeout_ms`, so a
slow Redis turns into `fail_tariff` or a spooled write, never into a caller waiting. A batch the
store could not write goes to the spool from a worker thread: an fsync on the event loop would
stall every call in flight. (Apart from store/backend.py: the plain script never imports asyncio.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from ..log import Log, OncePerSecond
from ..redis.connect import DEFAULT_POOL_SIZE, async_client
from ..redis.errors import RedisUnavailable
from .backend import Store

# What an outage repeats for every call (not spool_failed: its line is the batch's only copy).
REPEATED_EVENTS = frozenset(
    ("redis_read_failed", "redis_read_error", "redis_write_failed", "redis_write_rejected")
)


class ServerStore(Store):
    """The server's Store: one redis-py asyncio client, shared by every call in flight."""

    def __init__(self, general, log: Log, pool_size: int | None = None) -> None:
        super().__init__(general, OncePerSecond(log, REPEATED_EVENTS))
        self.pool_size = pool_size or DEFAULT_POOL_SIZE
        self.round_trips = 0
        self.failures = 0
        self.spooler = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self.spooling: set[asyncio.Future] = set()
        try:  # now, not in the first call: importing redis.asyncio would stall the event loop
            self.connect(async_client, pool_size=self.pool_size)
        except RedisUnavailable as exc:  # an unusable URL: every call fails open, and says why
            self.log.error("redis_url_unusable", error=str(exc))

    async def execute(self, commands: list[list]) -> list:
        self.round_trips += 1
        try:
            client = self.connect(async_client, pool_size=self.pool_size)
            async with asyncio.timeout(self.timeout_s):
                return await client.pipeline(commands)
        except TimeoutError:
            self.failures += 1
            raise RedisUnavailable(f"Redis did not answer within {self.timeout_s * 1000:.0f} ms") from None
        except RedisUnavailable:
            self.failures += 1
            raise

    async def write(self, batch: list[list], *, route: str, uniqueid: str) -> bool:
        try:
            return await super().write(batch, route=route, uniqueid=uniqueid)
        except asyncio.CancelledError:
            # Shutdown ran out of patience mid-write: whether Redis took it is unknown, and a
            # batch is safe to replay, so keep it rather than lose the call's record.
            Store.to_spool(self, batch, route, uniqueid)
            raise

    def to_spool(self, batch: list[list], route: str, uniqueid: str) -> None:
        try:
            future = asyncio.get_running_loop().run_in_executor(
                self.spooler, Store.to_spool, self, batch, route, uniqueid
            )
        except RuntimeError:  # no loop (or the executor is shut down): write it here
            Store.to_spool(self, batch, route, uniqueid)
            return
        self.spooling.add(future)
        future.add_done_callback(self.spooling.discard)

    async def close(self) -> None:
        """Wait for spool writes in progress, then close the connections."""
        if self.spooling:
            await asyncio.gather(*list(self.spooling), return_exceptions=True)
        self.spooler.shutdown(wait=True)
        if self.client is not None:
            await self.client.close()
