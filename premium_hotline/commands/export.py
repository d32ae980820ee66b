"""`premium-hotline export`: one line per call with its whole bill, for a billing system.

Examples:
    premium-hotline export --since 2026-01-31 --until 2026-02-01 --format csv -o day.csv
    premium-hotline export --last 1h --format jsonl

Calls that ARRIVED in the window (times local to the config's timezone unless they carry an
offset, as for `stats`), oldest first, ended or not (`outcome` empty: still in progress, nothing
billed yet). The columns (premium_hotline.ops.calls.COLUMNS): the call, the decision and its
criteria, the timeline in epoch ms (Asterisk's clock), the outcome, the agent, and the bill:
`billable_s`, `amount` (euros billed at the premium rate), and the wire fields when present
(`wire_answered_ms`, `wire_billable_s`, `refund_due`). Read-only; a SCAN of the call records.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys

from ..config import config_path, load_config
from .options import add_window, command_parser, window_from


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("export", __doc__)
    add_window(parser)
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default csv")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="Redis timeout (default 10)"
    )
    return parser


def write(rows: list[dict], out, fmt: str) -> None:
    from ..ops.calls import COLUMNS

    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = load_config(config_path(args.config))
    general = config.general
    from ..ops import calls

    try:
        span = window_from(args, general.timezone)
    except ValueError as exc:
        print(f"premium-hotline export: {exc}", file=sys.stderr)
        return 2
    import redis

    from ..ops.client import connect

    try:
        client = connect(general, timeout_s=args.timeout)
        records = calls.read(client, general.key_prefix, span.start_ms, span.end_ms)
    except (ValueError, redis.RedisError) as exc:
        print(f"premium-hotline export: cannot read Redis at {general.redis_url}: {exc}", file=sys.stderr)
        return 1
    if args.queue:
        records = [r for r in records if r.get("queue") in args.queue]
    rows = [calls.row(r, general.timezone) for r in records]
    if args.output:
        with open(args.output, "w", newline="", encoding="utf-8") as out:
            write(rows, out, args.format)
        print(f"premium-hotline export: {len(rows)} calls written to {args.output}", file=sys.stderr)
    else:
        write(rows, sys.stdout, args.format)
    return 0
