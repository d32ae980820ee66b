"""`premium-hotline replay [--config FILE] [--watch SECONDS]`: send spooled writes to Redis.

Run it after an outage (the FastAGI server also does it by itself). Safe to run twice, or
alongside calls: a call already counted is never counted again.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..config import load_config
from ..log import scrub
from ..store.cluster import connect
from ..store.replay import replay
from ..store.resp import RedisUnavailable, RespConnection


def redis_connection(general, timeout_s: float):
    """A blocking client for the config's Redis: a RESP connection (with `redis_ca_file`), or the
    routed client of store/cluster.py for Cluster/Sentinel. Raises ValueError for a bad URL."""
    if general.redis_url.startswith("redis+"):
        return connect(general.redis_url, timeout_s)
    return RespConnection(general.redis_url, timeout_s, general.redis_ca_file)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="premium-hotline replay", description=__doc__)
    parser.add_argument(
        "--config", help="config file (default: $PREMIUM_HOTLINE_CONFIG or /etc/asterisk/...)"
    )
    parser.add_argument("--watch", type=float, metavar="SECONDS", help="keep replaying every SECONDS")
    args = parser.parse_args(argv)
    general = load_config(args.config).general
    timeout_s = max(general.redis_timeout_ms / 1000, 2.0)
    while True:
        try:
            connection = redis_connection(general, timeout_s)
        except ValueError as exc:
            print(f"premium-hotline replay: {scrub(str(exc))}; the spool is kept", file=sys.stderr)
            return 2
        try:
            report = replay(general.spool_dir, connection.pipeline)
            print(f"{general.spool_dir}: {report}")
            status = 0 if not report.rejected else 1
        except RedisUnavailable as exc:
            why = scrub(str(exc))
            print(f"premium-hotline replay: Redis unavailable ({why}); the spool is kept", file=sys.stderr)
            status = 1
        finally:
            connection.close()
        if not args.watch:
            return status
        time.sleep(args.watch)
