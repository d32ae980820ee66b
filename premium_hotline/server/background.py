"""The FastAGI server's background work: the spool replay and the reaper, on one loop.

Both wake every so often, run their store/ function in a worker thread through the server's own
store (same transport, URL, TLS and deadline as the calls; file reads, fsyncs and the reaper's
round trips stay off the event loop, so a call arriving meanwhile is served as usual), say what
they did in the log, and stop at `stop()` after their current step.

- `SpoolReplayer` (every 5 s, `serve --replay-every`): when the spool directory holds batches it
  runs store/spool_replay.py. While Redis stays unavailable it waits 1, 2, 4 ... up to 60 s
  between attempts, so an outage costs one PING per interval, not a storm. Plain AGI scripts that
  share the spool directory have their batches replayed too; the replay's lock keeps it from
  running alongside another (a second server, or an operator's `premium-hotline replay`).
- `BackgroundReaper` (every 30 s, `serve --reap-every`): closes as `lost` the calls no hang-up
  closed (store/reaper.py). Several servers on one Redis take turns through the reaper's Redis
  lock; while Redis is away it just waits for the next turn (nothing to spool: it only acts on
  Redis).
"""

from __future__ import annotations

import asyncio
import threading
import time

from ..redis.errors import RedisUnavailable
from ..store.reaper import ReapRefused, reap
from ..store.spool_replay import has_work, replay

DEFAULT_EVERY_S = 5.0
DEFAULT_REAP_EVERY_S = 30.0
MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class Periodic:
    """`run()` calls `turn(store, log)` every `delay` seconds until `stop()`; `get_store()` and
    `get_log()` give the server's current ones (a SIGHUP may replace them)."""

    def __init__(self, get_store, get_log, every_s: float) -> None:
        self.get_store = get_store
        self.get_log = get_log
        self.every_s = every_s
        self.delay = every_s  # until the next turn; a turn may change it
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None

    def stop(self) -> None:
        self._stopping.set()
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.delay)
            except TimeoutError:
                pass
            if self._stopping.is_set():
                return
            log = self.get_log()
            try:
                await self.turn(self.get_store(), log)
            except Exception as exc:  # a bug or a disk error: say so, keep serving calls
                self.failed()
                log.error(f"{self.name}_failed", error=repr(exc), exc_info=True)

    def executor(self, store):
        return thread_executor(store, asyncio.get_running_loop(), self._stopping)

    name = "background"  # the prefix of its log events

    async def turn(self, store, log) -> None:
        raise NotImplementedError

    def failed(self) -> None:
        """After an unexpected error: what changes before the next turn (nothing by default)."""


class SpoolReplayer(Periodic):
    name = "replay"

    def __init__(self, get_store, get_log, every_s: float = DEFAULT_EVERY_S, max_backoff_s=MAX_BACKOFF_S):
        super().__init__(get_store, get_log, every_s)
        self.max_backoff_s = max_backoff_s
        self.backoff = MIN_BACKOFF_S
        self.replayed = 0  # batches, over the server's life
        self.attempts = 0

    def failed(self) -> None:
        self.delay = self.max_backoff_s

    async def turn(self, store, log) -> None:
        directory = store.general.spool_dir
        report = None
        if await asyncio.to_thread(has_work, directory):
            self.attempts += 1
            try:
                report = await asyncio.to_thread(replay, directory, self.executor(store))
            except RedisUnavailable as exc:
                self.delay = min(self.backoff, self.max_backoff_s)
                self.backoff = min(self.backoff * 2, self.max_backoff_s)
                log.info("replay_deferred", retry_in_s=self.delay, error=str(exc))
                return
        self.delay, self.backoff = self.every_s, MIN_BACKOFF_S
        if report is None or report.busy:
            return
        self.replayed += report.batches
        (log.warning if report.rejected else log.info)(
            "spool_replayed",
            batches=report.batches,
            skipped=report.skipped,
            rejected=len(report.rejected),
            first_rejected=report.rejected[0] if report.rejected else None,
        )


class BackgroundReaper(Periodic):
    name = "reap"

    def __init__(self, get_store, get_log, every_s: float = DEFAULT_REAP_EVERY_S) -> None:
        super().__init__(get_store, get_log, every_s)
        self.lost = 0  # calls closed as lost over the server's life
        self.runs = 0
        self._refused_said = False

    async def turn(self, store, log) -> None:
        self.runs += 1
        now_ms = int(time.time() * 1000)
        try:
            report = await asyncio.to_thread(reap, self.executor(store), store.general, now_ms=now_ms)
        except RedisUnavailable as exc:
            log.debug("reap_deferred", error=str(exc))
            return
        except ReapRefused as exc:  # an ACL without the reaper's commands: say it once
            if not self._refused_said:
                self._refused_said = True
                log.warning("reap_refused", error=str(exc), detail="calls left open are not closed")
            return
        if report.lost or report.already_closed or report.unknown:
            self.lost += report.lost
            log.warning(
                "calls_lost",
                lost=report.lost,
                already_closed=report.already_closed,
                without_record=report.unknown,
                detail=str(report),
            )


def thread_executor(store, loop, stopping=None):
    """`execute(commands)` for a worker thread (the replay, the reaper): the store's own transport
    (same URL, TLS, deadline as the calls), run on the server's loop, bounded by its deadline plus
    a second."""
    return from_loop(store.execute, loop, store.general.redis_timeout_ms / 1000 + 1.0, stopping)


def from_loop(pipeline, loop, timeout_s: float, stopping=None):
    """`execute(commands)` for `replay` in a worker thread: `await pipeline(commands)` on `loop`.

    The FastAGI server's background replay and `premium-hotline replay` both send the spool
    through an asyncio client this way, while the file work stays off the event loop.
    """

    def execute(commands: list[list]) -> list:
        if stopping is not None and stopping.is_set():
            raise RedisUnavailable("the server is stopping; the rest waits for the next run")
        future = asyncio.run_coroutine_threadsafe(pipeline(commands), loop)
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise RedisUnavailable("Redis batch timed out") from None
        except RuntimeError as exc:  # the loop is closing
            raise RedisUnavailable(str(exc)) from None

    return execute
