"""The store as routes see it: reads that give up in time, writes that never get lost.

Routes call `read` (None when Redis cannot answer within `redis_timeout_ms`: the decision falls
to `fail_tariff`) and `write` (a batch from store.records; on failure it goes to the spool). The
transport under it differs by mode: the plain AGI script uses the small RESP client (routed by
store/cluster.py for a Redis Cluster or Sentinel), the FastAGI server an asyncio pool; all raise
RedisUnavailable on any connection trouble.
"""

from __future__ import annotations

from ..log import Log
from .records import live_commands
from .resp import RedisUnavailable, RespConnection, RespError
from .spool import Spool, SpoolFull


class Store:
    """Shared logic; subclasses provide `_execute(commands) -> replies` (async)."""

    def __init__(self, general, log: Log) -> None:
        self.general = general
        self.log = log
        self.spool = Spool(general.spool_dir, general.spool_max_mb * 1_000_000)

    async def _execute(self, commands: list[list]) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    async def read(self, commands: list[list]) -> list | None:
        try:
            replies = await self._execute(commands)
        except RedisUnavailable as exc:
            self.log.warning("redis_read_failed", error=str(exc))
            return None
        if any(isinstance(reply, RespError) for reply in replies):
            self.log.warning("redis_read_error", errors=[str(r) for r in replies if isinstance(r, RespError)])
            return None
        return replies

    async def write(self, batch: list[list], *, route: str, uniqueid: str) -> bool:
        """One pipeline; on failure the batch is spooled. True when Redis took it."""
        try:
            replies = await self._execute(live_commands(batch))
        except RedisUnavailable as exc:
            self.log.warning("redis_write_failed", route=route, uniqueid=uniqueid, error=str(exc))
            self._to_spool(batch, route, uniqueid)
            return False
        errors = [str(reply) for reply in replies if isinstance(reply, RespError)]
        if errors:
            # Redis answered but refused something (OOM, ACL, wrong type): retrying will not help,
            # so keep the batch for an operator to replay once the cause is fixed.
            self.log.error("redis_write_rejected", route=route, uniqueid=uniqueid, errors=errors)
            self._to_spool(batch, route, uniqueid)
            return False
        return True

    def _to_spool(self, batch: list[list], route: str, uniqueid: str) -> None:
        try:
            self.spool.append(batch, route, uniqueid)
        except (OSError, SpoolFull) as exc:
            # Last resort: the batch goes into the log, where an operator can still find it.
            self.log.error("spool_failed", route=route, uniqueid=uniqueid, error=str(exc), batch=batch)

    async def close(self) -> None:
        pass


class PlainStore(Store):
    """One short-lived connection for one AGI process (blocking; the coroutine never suspends)."""

    def __init__(self, general, log: Log) -> None:
        super().__init__(general, log)
        self._conn: RespConnection | None = None

    async def _execute(self, commands: list[list]) -> list:
        if self._conn is None:
            url = self.general.redis_url
            try:
                if url.startswith("redis+"):  # a cluster or sentinels: routed, imported only then
                    from .cluster import connect

                    self._conn = connect(url, self.general.redis_timeout_ms / 1000)
                else:
                    self._conn = RespConnection(
                        url, self.general.redis_timeout_ms / 1000, self.general.redis_ca_file
                    )
            except ValueError as exc:
                raise RedisUnavailable(str(exc)) from None
        return self._conn.pipeline(commands)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
