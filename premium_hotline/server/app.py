"""`premium-hotline serve`: the FastAGI server, one asyncio task per call, the scripts' handlers.

Dialplan: `AGI(agi://127.0.0.1:4573/decide_tariff,${EXTEN})` (or `...decide_tariff?${EXTEN}`);
`agent_answered` and `call_ended` the same way. Every route runs the very handler a plain AGI
script runs, on an AsyncSession and a pooled store instead of pyst2 and a one-shot connection.

Operational choices, and why:
- 127.0.0.1 by default, and an allow-list checked before reading a byte: FastAGI has no
  authentication, and a stranger's connection costs nothing but a closed socket.
- A listen backlog of 512 (at least 128): wazo-agid saw a backlog of 20 drop SYNs at about 64
  connections/s, each a second or more of extra post-dial delay for the caller.
- A cap on sessions in progress (`--max-sessions`): above it a new connection is closed at
  once, and Asterisk fails open (AGISTATUS=FAILURE, the dialplan goes on) instead of queueing.
- Nothing blocks the loop: the route modules, the logger and the time-zone code are imported
  before the first call; spool writes (fsync) go to a worker thread.
- Writes spooled during a Redis outage (by this server or by plain AGI scripts sharing the
  spool directory) are replayed in the background once Redis answers again (server/background.py:
  a check every `--replay-every` seconds, backoff up to a minute while Redis stays away).
- Calls no hang-up closed (Asterisk died under them) are closed as `lost` in the background
  once `max_call_s` has passed (server/background.py: every `--reap-every` seconds, one reaper at
  a time across servers).
- SIGTERM (and SIGINT): stop accepting, let the calls in flight finish (bounded by
  `--drain-s`), flush the spool, exit 0. SIGHUP: reload the config; a file whose [general]
  section has errors (or that cannot be read) is refused and the running config kept, since
  those settings apply to every call, while errors in one number's section only make that
  number fall to fail_tariff, as in the plain scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time

from ..agi.protocol import AgiError
from ..config import config_path, load_config
from ..local_time import local_time
from ..log import Log, OncePerSecond
from ..redis.connect import DEFAULT_POOL_SIZE
from ..routes import ROUTES, get_handler
from ..routes.call import Call
from ..routes.runner import run_route
from ..store.durability import warn_if_not_durable
from ..store.server_store import ServerStore
from .background import (
    DEFAULT_EVERY_S,
    DEFAULT_REAP_EVERY_S,
    BackgroundReaper,
    SpoolReplayer,
    thread_executor,
)
from .session import READ_LIMIT, AsyncSession
from .wire import DEFAULT_ALLOW, AllowList, apply_script, parse_script

DEFAULT_PORT = 4573
DEFAULT_BACKLOG = 512
DEFAULT_MAX_SESSIONS = 2000
DEFAULT_DRAIN_S = 10.0

# Settings that shape the store: a reload that changes one of them builds a new store.
_STORE_KEYS = ("redis_url", "redis_ca_file", "redis_timeout_ms", "spool_dir", "spool_max_mb")


def general_errors(config) -> list:
    """The config's errors outside number sections: they would apply to every call."""
    in_entries = {id(error) for entry in config.entries for error in entry.errors}
    return [error for error in config.errors if id(error) not in in_entries]


class FastAgiServer:
    """The listener and its calls. `run()` serves until SIGTERM, then drains."""

    def __init__(
        self,
        config_file: str | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        allow: AllowList | None = None,
        *,
        backlog: int = DEFAULT_BACKLOG,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        drain_s: float = DEFAULT_DRAIN_S,
        pool_size: int = DEFAULT_POOL_SIZE,
        replay_every_s: float = DEFAULT_EVERY_S,
        reap_every_s: float = DEFAULT_REAP_EVERY_S,
    ) -> None:
        self.config_file = config_path(config_file)
        self.host = host
        self.port = port
        self.allow = allow or AllowList.parse(DEFAULT_ALLOW)
        self.backlog = max(128, backlog)
        self.max_sessions = max_sessions
        self.drain_s = drain_s
        self.pool_size = pool_size
        self.replay_every_s = replay_every_s
        self.replayer: SpoolReplayer | None = None
        self._replay_task: asyncio.Task | None = None
        self.reap_every_s = reap_every_s
        self.reaper: BackgroundReaper | None = None
        self._reap_task: asyncio.Task | None = None
        self._durability_task: asyncio.Task | None = None
        self.config = load_config(self.config_file)
        general = self.config.general
        self.log = Log(general.log_level, general.log_file, component="fastagi")
        self.store = None
        self._handlers = {name: get_handler(name) for name in ROUTES}
        self._active: set[asyncio.Task] = set()
        self._retired: list[tuple[object, set[asyncio.Task]]] = []
        self._server: asyncio.base_events.Server | None = None
        self._stop: asyncio.Event | None = None
        self._stopping = False
        self._notes = OncePerSecond(self.log)  # connection trouble a flood would repeat
        self.stats = {"calls": 0, "completed": 0, "hangups": 0, "failed": 0, "dropped": 0, "rejected": 0}

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address is taken."""
        _warm_up(self.config)
        self.store = ServerStore(self.config.general, self.log, self.pool_size)
        self._stop = asyncio.Event()
        self._server = await asyncio.start_server(
            self._client,
            self.host,
            self.port,
            backlog=self.backlog,
            limit=READ_LIMIT,
            reuse_address=True,
        )
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        if self.replay_every_s > 0:
            self.replayer = SpoolReplayer(lambda: self.store, lambda: self.log, self.replay_every_s)
            self._replay_task = asyncio.get_running_loop().create_task(self.replayer.run())
        if self.reap_every_s > 0:
            self.reaper = BackgroundReaper(lambda: self.store, lambda: self.log, self.reap_every_s)
            self._reap_task = asyncio.get_running_loop().create_task(self.reaper.run())
        # One line if Redis is seen not to persist what it takes (store/durability.py), asked from
        # a worker thread: the first calls are served meanwhile.
        execute = thread_executor(self.store, asyncio.get_running_loop(), threading.Event())
        self._durability_task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(warn_if_not_durable, execute, self.log)
        )
        self._report_config(self.config, at_start=True)
        self.log.info(
            "serving",
            host=self.host,
            port=self.port,
            allow=str(self.allow),
            backlog=self.backlog,
            max_sessions=self.max_sessions,
            redis_pool=self.pool_size,
        )

    def install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)

    def stop(self) -> None:
        if self._stop is not None and not self._stop.is_set():
            self.log.info("stopping", in_flight=len(self._active))
            self._stop.set()

    async def run(self) -> int:
        await self.start()
        self.install_signals()
        await self._stop.wait()
        await self.drain()
        return 0

    async def drain(self) -> None:
        """Stop accepting, let calls in flight finish (bounded), close the stores."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        if self.replayer is not None:
            self.replayer.stop()  # a replay in progress stops after its current batch
        if self.reaper is not None:
            self.reaper.stop()
        pending = set(self._active)
        cancelled = 0
        if pending:
            _, pending = await asyncio.wait(pending, timeout=self.drain_s)
            for task in pending:
                task.cancel()
            cancelled = len(pending)
            if pending:
                await asyncio.wait(pending, timeout=2)
        tasks = (self._replay_task, self._reap_task, self._durability_task)
        background = [task for task in tasks if task is not None]
        if background:
            await asyncio.wait(background, timeout=5)
        for store, _ in self._retired:
            await store.close()
        self._retired.clear()
        if self.store is not None:
            await self.store.close()
        self.log.info("stopped", cancelled=cancelled, **self.stats, **self._store_stats())

    def _store_stats(self) -> dict:
        store = self.store
        return {
            "redis_round_trips": getattr(store, "round_trips", 0),
            "redis_failures": getattr(store, "failures", 0),
            "replayed_batches": self.replayer.replayed if self.replayer is not None else 0,
            "reaped_lost": self.reaper.lost if self.reaper is not None else 0,
        }

    # -- SIGHUP ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Load the config again; keep the running one if the new [general] has errors."""
        new = load_config(self.config_file)
        bad = general_errors(new)
        if bad:
            self.log.error(
                "reload_rejected",
                path=new.path,
                count=len(bad),
                errors=[str(error) for error in bad[:10]],
                detail="the running config is kept",
            )
            return
        old = self.config.general
        general = new.general
        if any(getattr(old, key) != getattr(general, key) for key in _STORE_KEYS):
            # Calls in flight keep the store they started with; it closes once they are done.
            self._retired.append((self.store, set(self._active)))
            self.store = ServerStore(general, self.log, self.pool_size)
            asyncio.get_running_loop().create_task(self._close_retired())
        if (old.log_level, old.log_file) != (general.log_level, general.log_file):
            self.log = self._notes.log = Log(general.log_level, general.log_file, component="fastagi")
        self.config = new
        self._report_config(new, at_start=False)

    async def _close_retired(self) -> None:
        while self._retired:
            store, users = self._retired[0]
            users = {task for task in users if not task.done()}
            if users:
                await asyncio.wait(users)
            if self._retired and self._retired[0][0] is store:
                self._retired.pop(0)
                await store.close()

    def _report_config(self, config, *, at_start: bool) -> None:
        if config.errors:
            bad = general_errors(config)
            (self.log.error if bad else self.log.warning)(
                "config_errors",
                path=config.path,
                count=len(config.errors),
                general=len(bad),
                first=str(config.errors[0]),
            )
        for warning in config.said_at_load:
            self.log.warning("config_warning", warning=str(warning))
        if not at_start:
            self.log.info("reloaded", path=config.path, numbers=len(config.entries))

    # -- one connection -------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else ""
        if not self.allow.permits(address):
            writer.transport.abort()
            self.stats["rejected"] += 1
            self._note("client_rejected", address=address, reason="not in the allow-list")
            return
        if self._stopping or len(self._active) >= self.max_sessions:
            writer.transport.abort()
            self.stats["rejected"] += 1
            self._note(
                "client_rejected",
                address=address,
                reason="stopping" if self._stopping else f"{self.max_sessions} sessions in progress",
            )
            return
        task = asyncio.current_task()
        self._active.add(task)
        try:
            await self._call(reader, writer, address)
        finally:
            self._active.discard(task)

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        config = self.config  # a reload swaps these for the next calls, not this one
        store = self.store
        session = AsyncSession(reader, writer, config.general.agi_timeout_ms / 1000, address)
        try:
            env = await session.read_env()
        except AgiError as exc:
            session.abort()
            self.stats["dropped"] += 1
            self._note("client_dropped", level="info", address=address, error=f"{type(exc).__name__}: {exc}")
            return
        script = parse_script(_script_path(env))
        apply_script(env, script)
        handler = self._handlers.get(script.route)
        self.stats["calls"] += 1
        if handler is None:
            await session.close()
            self.stats["failed"] += 1
            self._note("unknown_route", route=script.route[:80], address=address, known=sorted(ROUTES))
            return
        log = self.log.bind(route=script.route, uniqueid=env.get("agi_uniqueid", "")[:64])
        call = Call(session, store, config, log, route=script.route)
        try:
            self.stats[await run_route(handler(call), lambda: log)] += 1
        finally:
            if not session.closed:  # the route failed before its close(): release Asterisk now
                try:
                    await session.close()  # the sets it buffered, best effort
                except AgiError:
                    pass  # the route's own failure is recorded already

    def _note(self, event: str, level: str = "warning", **fields) -> None:
        getattr(self._notes, level)(event, **fields)


def _script_path(env: dict[str, str]) -> str:
    """`agi_network_script`, or the path part of `agi_request` (`agi://host:port/path?query`)."""
    script = env.get("agi_network_script", "")
    if script:
        return script
    request = env.get("agi_request", "")
    if "://" in request:
        return request.split("://", 1)[1].partition("/")[2]
    return request


def _warm_up(config) -> None:
    """Import and load now what a first call would otherwise load inside the loop, stalling
    every other call: the logger, the caller hash, the time zones."""
    import hashlib  # noqa: F401 - caller identity
    import hmac  # noqa: F401
    import zoneinfo

    import structlog  # noqa: F401 - the logger, imported on its first line otherwise

    zones = {config.general.timezone, *(entry.timezone for entry in config.entries if entry.timezone)}
    now_ms = int(time.time() * 1000)
    for zone in zones:
        try:
            zoneinfo.ZoneInfo(zone)
            local_time(now_ms, zone)  # the zone's file read now, not by the first call
        except Exception:
            pass


# [server] keys of the config file (config.py checks them), their flags and defaults: a flag given
# on the command line wins over the file, the file over the default. Read at start (not on SIGHUP).
SETTINGS = {
    "host": "127.0.0.1",
    "port": DEFAULT_PORT,
    "allow": DEFAULT_ALLOW,
    "backlog": DEFAULT_BACKLOG,
    "max_sessions": DEFAULT_MAX_SESSIONS,
    "drain_s": DEFAULT_DRAIN_S,
    "redis_pool": DEFAULT_POOL_SIZE,
    "replay_every": DEFAULT_EVERY_S,
    "reap_every": DEFAULT_REAP_EVERY_S,
    "loop": "auto",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="premium-hotline serve",
        description="FastAGI server: agi://HOST:PORT/decide_tariff, agent_answered, call_ended. "
        "Each setting can also be set in the config file's [server] section (same name, with _ for -); "
        "a flag overrides it.",
    )
    add = parser.add_argument
    add("-c", "--config", help="config file (default: $PREMIUM_HOTLINE_CONFIG, else /etc/asterisk)")
    add("--host", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, help=f"TCP port (default {DEFAULT_PORT})")
    add(
        "--allow",
        help=f"client addresses or CIDR networks allowed to connect, comma-separated ({DEFAULT_ALLOW})",
    )
    add("--backlog", type=int, help=f"listen backlog (at least 128; default {DEFAULT_BACKLOG})")
    add(
        "--max-sessions",
        type=int,
        help="AGI sessions in progress above which new connections are refused (Asterisk fails open; "
        f"default {DEFAULT_MAX_SESSIONS})",
    )
    add("--drain-s", type=float, help=f"on SIGTERM, longest wait for calls in flight ({DEFAULT_DRAIN_S:g})")
    add("--redis-pool", type=int, help=f"pooled Redis connections (default {DEFAULT_POOL_SIZE})")
    add(
        "--replay-every",
        type=float,
        metavar="SECONDS",
        help=f"look at the spool this often and replay it into Redis ({DEFAULT_EVERY_S:g}; 0: never)",
    )
    add(
        "--reap-every",
        type=float,
        metavar="SECONDS",
        help=f"close as lost the calls no hang-up closed within max_call_s, this often "
        f"({DEFAULT_REAP_EVERY_S:g}; 0: never, e.g. when `premium-hotline reap` runs from a timer)",
    )
    add(
        "--loop",
        choices=("asyncio", "uvloop", "auto"),
        help="event loop: auto (the default): uvloop when installed (the `fast` extra), else "
        "asyncio's own; or either by name. uvloop spends about a tenth less CPU per call "
        "(bench/README.md)",
    )
    add("--redis-client", help=argparse.SUPPRESS)  # deprecated: one transport now (redis-py)
    return parser


def settings(args: argparse.Namespace, from_file: dict) -> dict:
    """Each setting from the flag, else the file's [server] section, else the default."""
    given = {key: getattr(args, key) for key in SETTINGS}
    return {
        key: given[key] if given[key] is not None else from_file.get(key, SETTINGS[key]) for key in SETTINGS
    }


def event_loop_factory(choice: str):
    """uvloop's loop for `uvloop`, and for `auto` (the default) when it is importable; None:
    asyncio's own.

    The default since it pays: measured in bench/ (README), the same server on uvloop spent 1.08x
    to 1.16x fewer CPU-seconds per decision than on asyncio's selector loop over five runs, and
    decided 0.99x to 1.06x the calls per second on a 2-core machine whose other core drives the
    load. (Before the server's per-call deadlines were cut it did not pay: 0.81x to 1.14x.)
    """
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.redis_client is not None:
        print(
            "premium-hotline serve: --redis-client is deprecated and ignored: the server always uses "
            "redis-py's asyncio client (with hiredis)",
            file=sys.stderr,
        )
    config = load_config(args.config)
    chosen = settings(args, config.server)
    try:
        allow = AllowList.parse(chosen["allow"])
    except ValueError as exc:
        print(f"premium-hotline serve: --allow: {exc}", file=sys.stderr)
        return 2
    server = FastAgiServer(
        args.config,
        chosen["host"],
        chosen["port"],
        allow,
        backlog=chosen["backlog"],
        max_sessions=chosen["max_sessions"],
        drain_s=chosen["drain_s"],
        pool_size=chosen["redis_pool"],
        replay_every_s=chosen["replay_every"],
        reap_every_s=chosen["reap_every"],
    )
    try:
        loop_factory = event_loop_factory(chosen["loop"])
    except ImportError:
        print(
            "premium-hotline serve: --loop uvloop: uvloop is not installed "
            "(pip install premium-hotline[fast])",
            file=sys.stderr,
        )
        return 2
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(server.run())
    except OSError as exc:
        print(
            f"premium-hotline serve: cannot listen on {chosen['host']}:{chosen['port']}: {exc}",
            file=sys.stderr,
        )
        return 1
