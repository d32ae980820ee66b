"""The FastAGI server's background reaper: calls no hang-up closed, closed as `lost`.

Every `every_s` seconds (30 by default, `serve --reap-every`) the task runs store/reaper.py in a
worker thread through the server's own store, so it never holds the event loop: a call arriving
meanwhile is served as usual, and the reaper's few round trips share the pool with the calls
like any batch. Several servers on one Redis take turns through the reaper's Redis lock; while
Redis is away the task just waits for the next turn (nothing to spool: it only acts on Redis).
"""

from __future__ import annotations

import asyncio
import threading
import time

from ..redis.errors import RedisUnavailable
from ..store.reaper import ReapRefused, reap
from .replayer import thread_executor

DEFAULT_EVERY_S = 30.0


class BackgroundReaper:
    """`run()` loops until `stop()`; `get_store()` gives the server's current store."""

    def __init__(self, get_store, get_log, every_s: float = DEFAULT_EVERY_S) -> None:
        self.get_store = get_store
        self.get_log = get_log
        self.every_s = every_s
        self.lost = 0  # calls closed as lost over the server's life
        self.runs = 0
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None
        self._refused_said = False

    def stop(self) -> None:
        self._stopping.set()
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.every_s)
            except TimeoutError:
                pass
            if self._stopping.is_set():
                return
            store = self.get_store()
            execute = thread_executor(store, loop, self._stopping)
            log = self.get_log()
            self.runs += 1
            try:
                report = await asyncio.to_thread(reap, execute, store.general, now_ms=int(time.time() * 1000))
            except RedisUnavailable as exc:
                log.debug("reap_deferred", error=str(exc))
                continue
            except ReapRefused as exc:  # an ACL without the reaper's commands: say it once
                if not self._refused_said:
                    self._refused_said = True
                    log.warning("reap_refused", error=str(exc), detail="calls left open are not closed")
                continue
            except Exception as exc:  # a bug: say so, keep serving calls
                log.error("reap_failed", error=repr(exc), exc_info=True)
                continue
            if report.lost or report.already_closed or report.unknown:
                self.lost += report.lost
                log.warning(
                    "calls_lost",
                    lost=report.lost,
                    already_closed=report.already_closed,
                    without_record=report.unknown,
                    detail=str(report),
                )
