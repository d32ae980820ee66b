"""`premium-hotline report`: the day's proof for billing and audit, as one HTML file.

Examples:
    premium-hotline report --day 2026-01-31                 # premium-hotline-2026-01-31.html
    premium-hotline report --day 2026-01-31 -o /srv/audit/2026-01-31.html --lang en

The calls that ARRIVED that local day (config timezone) and have ended, per dialled number and
decided tariff: the calls and their outcomes, the premium criteria as decided (site, voice
menu, agents ready, predicted probability, reason), time to a human (mean, exact p90), the
commitments kept and broken (each broken one listed with its call), billable seconds, the
amounts billed and refunded, and the totals; then the charts of the day (inline SVG) and one
line per call. French by default (`language` in the config). Read-only: a SCAN of the call
records and one read of the day's KPI minutes for the charts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from ..config import config_path, load_config
from .options import command_parser


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("report", __doc__)
    parser.add_argument("--day", required=True, metavar="YYYY-MM-DD", help="the local day to report")
    parser.add_argument("-o", "--output", metavar="FILE", help="default premium-hotline-YYYY-MM-DD.html")
    parser.add_argument("--lang", choices=("fr", "en"), help="language (default: the config's)")
    parser.add_argument(
        "--no-charts", action="store_true", help="leave the charts out (no matplotlib needed)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="Redis timeout (default 10)"
    )
    return parser


def _charts(client, general, span, title: str, lang: str) -> str:
    """The day's picture from ops/charts.py as inline SVG."""
    import os
    import tempfile

    from ..core import kpi
    from ..ops import charts, reader
    from ..store.keys import Keys

    keys = Keys(general.key_prefix)
    per_queue = reader.read_minutes(client, keys, reader.list_queues(client, keys), span)
    merged: dict = {}
    for minutes in per_queue.values():
        for minute, by_tariff in minutes.items():
            kpi.add_by_tariff(merged.setdefault(minute, {}), by_tariff)
    handle, path = tempfile.mkstemp(suffix=".svg")
    os.close(handle)
    try:
        charts.draw(
            path, per_minute=merged, window=span, general=general, title=title, interval_min=15, lang=lang
        )
        with open(path, encoding="utf-8") as svg:
            text = svg.read()
    finally:
        os.unlink(path)
    import re

    # The drawing alone: no XML prologue, no RDF metadata block (a date and a few namespaces).
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg") :], flags=re.S)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        day = dt.date.fromisoformat(args.day)
    except ValueError:
        print(f"premium-hotline report: {args.day!r} is not a day such as 2026-01-31", file=sys.stderr)
        return 2
    config = load_config(config_path(args.config))
    general = config.general
    lang = args.lang or general.language
    from ..ops import calls, day_report, window

    now_ms = int(time.time() * 1000)
    span = window.resolve(
        since=day.isoformat(),
        until=(day + dt.timedelta(days=1)).isoformat(),
        tz=general.timezone,
        now_ms=now_ms,
    )
    import redis

    from ..ops.client import connect

    try:
        client = connect(general, timeout_s=args.timeout)
        records = calls.read(client, general.key_prefix, span.start_ms, span.end_ms)
        svg = (
            ""
            if args.no_charts
            else _charts(client, general, span, f"premium-hotline · {day.isoformat()}", lang)
        )
    except (ValueError, redis.RedisError) as exc:
        print(f"premium-hotline report: cannot read Redis at {general.redis_url}: {exc}", file=sys.stderr)
        return 1
    except ImportError:
        print(
            "premium-hotline report: matplotlib is missing (pip install 'premium-hotline[ops]'), "
            "or use --no-charts",
            file=sys.stderr,
        )
        return 1
    summary = day_report.summarize(records)
    from zoneinfo import ZoneInfo

    generated = dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo(general.timezone)).isoformat(
        timespec="seconds"
    )
    page = day_report.render(
        summary, day=day.isoformat(), tz=general.timezone, lang=lang, generated_at=generated, charts_svg=svg
    )
    output = args.output or f"premium-hotline-{day.isoformat()}.html"
    with open(output, "w", encoding="utf-8") as out:
        out.write(page)
    total = summary["total"]
    print(
        f"premium-hotline report: {output}: {total['calls']} calls, {total['broken']} broken commitments, "
        f"billed {total['billed_cents'] / 100:.2f}, refunded {total['refund_cents'] / 100:.2f}",
        file=sys.stderr,
    )
    return 0
