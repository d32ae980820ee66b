"""The FastAGI server's background replay of the spool (store/replay.py), with backoff.

Every `every_s` seconds (5 by default, `serve --replay-every`) the task looks at the spool
directory; when there is something to replay it runs store.replay.replay in a worker thread (file
reads, fsyncs and position saves stay off the event loop) and sends each batch through the
server's own store, so the same transport, URL, TLS and deadline as the calls. While Redis stays
unavailable it waits 1, 2, 4 ... up to `max_backoff_s` (60 s) between attempts, so an outage costs
one PING per interval, not a storm. Plain AGI scripts that share the spool directory have their
batches replayed too. The lock in store/replay.py keeps it from running alongside another replay
(a second server, or an operator's `premium-hotline replay`).
"""

from __future__ import annotations

import asyncio
import threading

from ..redis.errors import RedisUnavailable
from ..store.replay import has_work, replay

DEFAULT_EVERY_S = 5.0
MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0


class SpoolReplayer:
    """`run()` loops until `stop()`; `get_store()` gives the server's current store."""

    def __init__(
        self, get_store, log, every_s: float = DEFAULT_EVERY_S, max_backoff_s: float = MAX_BACKOFF_S
    ) -> None:
        self.get_store = get_store
        self.log = log
        self.every_s = every_s
        self.max_backoff_s = max_backoff_s
        self.replayed = 0  # batches, over the server's life
        self.attempts = 0
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None

    def stop(self) -> None:
        self._stopping.set()
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        delay = self.every_s
        backoff = MIN_BACKOFF_S
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            if self._stopping.is_set():
                return
            store = self.get_store()
            directory = store.general.spool_dir
            if not await asyncio.to_thread(has_work, directory):
                delay, backoff = self.every_s, MIN_BACKOFF_S
                continue
            self.attempts += 1
            try:
                report = await asyncio.to_thread(replay, directory, self._executor(store))
            except RedisUnavailable as exc:
                delay = min(backoff, self.max_backoff_s)
                backoff = min(backoff * 2, self.max_backoff_s)
                self.log.info("replay_deferred", retry_in_s=delay, error=str(exc))
                continue
            except Exception as exc:  # a bug or a disk error: say so, keep serving calls
                delay = self.max_backoff_s
                self.log.error("replay_failed", error=repr(exc), exc_info=True)
                continue
            delay, backoff = self.every_s, MIN_BACKOFF_S
            if report.busy:
                continue
            self.replayed += report.batches
            (self.log.warning if report.rejected else self.log.info)(
                "spool_replayed",
                batches=report.batches,
                skipped=report.skipped,
                rejected=len(report.rejected),
                first_rejected=report.rejected[0] if report.rejected else None,
            )

    def _executor(self, store):
        return thread_executor(store, asyncio.get_running_loop(), self._stopping)


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
