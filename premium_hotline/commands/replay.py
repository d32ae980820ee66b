"""`premium-hotline replay [-c FILE] [--watch SECONDS]`: send spooled writes to Redis.

Run it after an outage (the FastAGI server also does it by itself). Safe to run twice, or
alongside calls: a call already counted is never counted again. It reaches Redis as the server
does (redis-py's asyncio client, any topology, TLS and credentials from `redis_url`).
"""

from __future__ import annotations

import asyncio
import sys
import time

from ..config import load_config
from ..log import scrub
from ..redis.connect import async_client
from ..redis.errors import RedisUnavailable
from ..server.background import from_loop
from ..store.spool_replay import ReplayReport, replay
from .options import command_parser


async def replay_once(general, timeout_s: float) -> ReplayReport:
    """One replay of `general.spool_dir`; raises ValueError (bad URL) or RedisUnavailable."""
    client = async_client(general.redis_url, timeout_s, general.redis_ca_file, pool_size=1)
    try:
        execute = from_loop(client.pipeline, asyncio.get_running_loop(), timeout_s + 1.0)
        return await asyncio.to_thread(replay, general.spool_dir, execute)
    finally:
        await client.close()


def main(argv: list[str]) -> int:
    parser = command_parser("replay", __doc__)
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="keep replaying every SECONDS")
    args = parser.parse_args(argv)
    general = load_config(args.config).general
    timeout_s = max(general.redis_timeout_ms / 1000, 2.0)
    while True:
        try:
            report = asyncio.run(replay_once(general, timeout_s))
            print(f"{general.spool_dir}: {report}")
            status = 0 if not report.rejected else 1
        except ValueError as exc:
            print(f"premium-hotline replay: {scrub(str(exc))}; the spool is kept", file=sys.stderr)
            return 2
        except RedisUnavailable as exc:
            why = scrub(str(exc))
            print(f"premium-hotline replay: Redis unavailable ({why}); the spool is kept", file=sys.stderr)
            status = 1
        if not args.watch:
            return status
        time.sleep(args.watch)
