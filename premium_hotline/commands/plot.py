"""`premium-hotline plot`: the report picture (PNG or SVG) of a window, from Redis.

Examples:
    premium-hotline plot                                  # today, every queue -> premium-hotline-<date>.png
    premium-hotline plot --last 4h --queue support -o support.png
    premium-hotline plot --since 2026-01-31 --until 2026-02-01 --interval 15m -o day.svg

What it shows: time to reach a person, premium against free, with the commitment; ASA and mean
time to a person per 5 or 15 minutes of arrival with the volume behind; the service level
against its target. Needs the `ops` extra (matplotlib). Read-only.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..config import config_path, load_config
from .options import add_window, command_parser, missing_extra, window_from


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("plot", __doc__)
    add_window(parser)
    parser.add_argument(
        "--interval", choices=("auto", "5m", "15m"), default="auto", help="time step of the lower charts"
    )
    parser.add_argument(
        "--sl-target", type=float, default=0.8, metavar="SHARE", help="target line (default 0.8)"
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="PNG or SVG (default premium-hotline-<date>.png)"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="Redis timeout (default 5)"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = load_config(config_path(args.config))
    general = config.general
    from ..ops import window

    now_ms = int(time.time() * 1000)
    try:
        span = window_from(args, general.timezone, now_ms)
    except ValueError as exc:
        print(f"premium-hotline plot: {exc}", file=sys.stderr)
        return 2
    try:
        from ..ops import charts
    except ImportError:
        return missing_extra("plot", "matplotlib")
    import redis

    from ..core.kpi import add_by_tariff
    from ..ops import reader
    from ..ops.client import connect
    from ..store.keys import Keys

    keys = Keys(general.key_prefix)
    try:
        client = connect(general, timeout_s=args.timeout)
        queues = reader.list_queues(client, keys, args.queue)
        per_queue = reader.read_minutes(client, keys, queues, span)
    except (ValueError, redis.RedisError) as exc:
        print(f"premium-hotline plot: cannot read Redis at {general.redis_url}: {exc}", file=sys.stderr)
        return 1
    per_minute: dict = {}
    for minutes in per_queue.values():
        for minute, by_tariff in minutes.items():
            add_by_tariff(per_minute.setdefault(minute, {}), by_tariff)
    interval = charts.auto_interval_min(span) if args.interval == "auto" else int(args.interval[:-1])
    output = args.output or time.strftime("premium-hotline-%Y%m%d-%H%M.png")
    which = ", ".join(queues) if queues else "no queue with data"
    title = f"premium-hotline · {which} · {window.describe(span, general.timezone)}"
    try:
        charts.draw(
            output,
            per_minute=per_minute,
            window=span,
            general=general,
            title=title,
            interval_min=interval,
            sl_target=args.sl_target,
        )
    except (OSError, ValueError) as exc:
        print(f"premium-hotline plot: cannot write {output}: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0
