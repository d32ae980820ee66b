"""`premium-hotline reap [-c FILE] [--watch SECONDS]`: close the calls nobody closed.

When Asterisk dies under its calls (crash, SIGKILL, restart) their hang-up handler never runs:
this closes every call still open `max_call_s` after its arrival with outcome `lost`, counted
once. The FastAGI server does it by itself (`serve --reap-every`); plain-script installs run
this from a timer (config/premium-hotline-reap.timer). Safe to run twice, on several machines
at once (one reaper at a time takes a lock in Redis), and alongside calls.
"""

from __future__ import annotations

import sys
import time

from ..config import load_config
from ..log import Log, scrub
from ..redis.connect import plain_client
from ..redis.errors import RedisUnavailable
from ..store.durability import warn_if_not_durable
from ..store.reaper import ReapRefused, reap
from .options import command_parser


def main(argv: list[str]) -> int:
    parser = command_parser("reap", __doc__)
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="keep reaping every SECONDS")
    args = parser.parse_args(argv)
    general = load_config(args.config).general
    log = Log(general.log_level, general.log_file, component="reap")
    timeout_s = max(general.redis_timeout_ms / 1000, 2.0)
    first = True
    while True:
        try:
            connection = plain_client(general.redis_url, timeout_s, general.redis_ca_file)
        except ValueError as exc:
            print(f"premium-hotline reap: {scrub(str(exc))}", file=sys.stderr)
            return 2
        try:
            if first:
                warn_if_not_durable(connection.pipeline, log)
                first = False
            report = reap(connection.pipeline, general, now_ms=int(time.time() * 1000))
            print(f"premium-hotline reap: {report}")
            status = 0
        except RedisUnavailable as exc:
            print(f"premium-hotline reap: Redis unavailable ({scrub(str(exc))})", file=sys.stderr)
            status = 1
        except ReapRefused as exc:
            print(f"premium-hotline reap: Redis refused ({scrub(str(exc))})", file=sys.stderr)
            status = 1
        finally:
            connection.close()
        if not args.watch:
            return status
        time.sleep(args.watch)
