"""The plain AGI runner: what `agi_scripts/*.py` call, one process per call.

Asterisk waits for a plain AGI script without any limit, and stdout is the protocol. So: stray
prints go to stderr, every read has a deadline, SIGHUP marks the hang-up instead of killing the
process mid-write, and once the route has told Asterisk everything it needs the process forks:
the parent exits at once (Asterisk waits for it before the dialplan goes on) while the child
writes to Redis, or to the spool when Redis is down.
"""

from __future__ import annotations

import os
import signal
import sys


def _detach() -> None:
    """Release Asterisk now and go on in a child process; inline if fork is impossible."""
    try:
        pid = os.fork()
    except OSError:
        return  # Asterisk waits a little longer; the write still has its deadline.
    if pid > 0:
        os._exit(0)
    os.setsid()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)


def main(route: str) -> int:
    sys.stdout = sys.stderr  # a stray print() must never reach Asterisk as a command
    from asterisk.agi import AGIError, AGIHangup

    from .agi.lines import FdLines, read_env_lines
    from .agi.protocol import parse_env
    from .agi.session import PlainSession, PystAGI, run_sync
    from .config import load_config
    from .log import Log
    from .routes import get_handler
    from .routes.call import Call
    from .store.backend import PlainStore

    config = load_config()
    general = config.general
    log = Log(general.log_level, general.log_file, route=route)
    if config.errors:
        log.warning("config_errors", path=config.path, count=len(config.errors), first=str(config.errors[0]))
    lines = FdLines(0, general.agi_timeout_ms / 1000)
    store = PlainStore(general, log)
    try:
        env = parse_env(read_env_lines(lines.readline))
        agi = PystAGI(lines, 1, env)
        signal.signal(signal.SIGHUP, agi.hangup_signalled)
        log = log.bind(uniqueid=env.get("agi_uniqueid", ""))
        call = Call(PlainSession(agi, _detach), store, config, log, route=route)
        run_sync(get_handler(route)(call))
        return 0
    except AGIHangup as exc:
        log.info("hangup", detail=str(exc))
        return 0
    except AGIError as exc:
        log.warning("agi_failed", error=f"{type(exc).__name__}: {exc}")
        return 1
    except Exception as exc:
        log.error("route_crashed", error=repr(exc), exc_info=True)
        return 1
    finally:
        run_sync(store.close())
