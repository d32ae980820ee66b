"""The plain AGI runner: what `agi_scripts/*.py` call, one process per call.

Asterisk waits for a plain AGI script without any limit, and stdout is the protocol. So: stray
prints go to stderr, every read has a deadline, SIGHUP marks the hang-up instead of killing the
process mid-write, and once the route has told Asterisk everything it needs, stdout is closed
(Asterisk goes on with the dialplan at its end of file) and the process forks: the parent exits at
once while the child writes to Redis, or to the spool when Redis is down.

Start-up is most of a plain AGI call's cost (bench/README.md): everything is imported inside
`main`, only what the route needs, and pyst2 comes through agi.protocol without its debug-only
imports.
"""

from __future__ import annotations

# `_signal`, not `signal`: the latter wraps the same functions in enums, and importing enum
# costs a plain AGI process milliseconds on every call for nothing.
import _signal
import gc
import os
import sys


def _detach() -> None:
    """Release Asterisk now and go on in a child process; inline if fork is impossible.

    Asterisk goes on with the dialplan when the script's stdout reaches end of file, so stdout
    (and stdin) are pointed at /dev/null first, before the fork: the caller's wait does not
    include the fork, nor the child being scheduled to close its copy of the pipe.
    """
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.dup2(null, 0)
    os.close(null)
    try:
        pid = os.fork()
    except OSError:
        return  # Asterisk is released already; the write goes on here, within its deadline.
    if pid > 0:
        os._exit(0)
    os.setsid()
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)


def main(route: str) -> int:
    # A process that lives for one call needs no cycle collector: without it, the imports below
    # (most of this process's life) run a few percent faster.
    gc.disable()
    sys.stdout = sys.stderr  # a stray print() must never reach Asterisk as a command
    # pyst2 comes through agi.protocol, without its costly debug-only imports (see there).
    from .agi.lines import FdLines, read_env
    from .agi.session import PlainSession, PystAGI, run_sync
    from .config import load_config
    from .log import Log
    from .routes import get_handler
    from .routes.call import Call
    from .routes.runner import FAILED, run_route
    from .store.backend import PlainStore

    config = load_config()
    general = config.general
    log = Log(general.log_level, general.log_file, route=route)
    if config.errors:
        log.warning("config_errors", path=config.path, count=len(config.errors), first=str(config.errors[0]))
    for warning in config.said_at_load:
        log.warning("config_warning", warning=str(warning))
    lines = FdLines(0, general.agi_timeout_ms / 1000)
    store = PlainStore(general, log)
    current = {"log": log}

    async def call() -> None:
        env = read_env(lines.readline)
        agi = PystAGI(lines, 1, env)
        _signal.signal(_signal.SIGHUP, agi.hangup_signalled)
        current["log"] = log.bind(uniqueid=env.get("agi_uniqueid", ""))
        await get_handler(route)(Call(PlainSession(agi, _detach), store, config, current["log"], route=route))

    try:
        return 1 if run_sync(run_route(call(), lambda: current["log"])) == FAILED else 0
    finally:
        run_sync(store.close())
