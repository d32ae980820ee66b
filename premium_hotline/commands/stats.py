"""`premium-hotline stats`: the call-centre KPIs per queue and tariff over a window, from Redis.

Examples:
    premium-hotline stats                      # today (config timezone), every queue
    premium-hotline stats --last 15m --queue support
    premium-hotline stats --since 08:00 --until 12:00 --json
    premium-hotline stats --watch 5            # refresh in place every 5 s (Ctrl-C to stop)
    premium-hotline stats --by agent           # per agent: answered, talk, ring time, premium kept

Calls count in the minute they ARRIVED, once they have hung up: the last minutes grow as their
calls end. Read-only. Definitions: docs/kpis.md. A day of minutes is ~125,000 hash fields: with
the `ops` extra (hiredis, redis-py's C parser) it reads in about 0.2 s, without it about 1 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time

from ..config import config_path, load_config
from .options import add_window, command_parser, window_from

DEFAULT_TIMEOUT_S = 2.0

# (heading, figure key, formatter name); the table keeps to ~150 columns.
COLUMNS = (
    ("offered", "offered", "int"),
    ("answ", "answered", "int"),
    ("aband", "abandoned", "int"),
    ("unans", "unanswered", "int"),
    ("short", "short_abandoned", "int"),
    ("lost", "lost", "int"),
    ("aband%", "abandon_rate", "pct"),
    ("ASA", "asa_s", "dur"),
    ("TTH avg", "tth_mean_s", "dur"),
    ("p50", "tth_p50_s", "dur"),
    ("p90", "tth_p90_s", "dur"),
    ("p99", "tth_p99_s", "dur"),
    ("pre-q", "before_queue_mean_s", "dur"),
    ("SL", "service_level", "pct"),
    ("SL2", "service_level_2", "pct"),
    ("prem%", "premium_share", "pct"),
    ("broken", "commitments_broken", "int"),
    ("downgr", "downgraded", "int"),
    ("bill min", "billable_min", "min"),
    ("amount", "amount", "money"),
    ("wire min", "wire_billable_min", "min"),
    ("refund", "refund_due", "money"),
)

# What the short headings stand for, under the table: a reader should not need the source.
LEGEND = (
    "answ/aband/unans answered, abandoned, turned away by the queue · ASA average wait in the queue · "
    "TTH time to a human (p50/p90/p99 its percentiles) · pre-q time before the queue (price message) · "
    "SL2 Asterisk's service level (abandons within SL count as in time) · prem% premium share of "
    "offered · broken premium commitments broken · downgr decided premium, billed free · "
    "definitions: docs/kpis.md"
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 100:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 100:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _format(kind: str, value) -> str:
    if value is None:
        return "-"
    if kind == "int":
        return str(value)
    if kind == "pct":
        return f"{value * 100:.1f}%"
    if kind == "dur":
        return _duration(value)
    if kind == "min":
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(report: dict) -> str:
    """The report as an aligned text table, one row per queue and tariff, then the totals."""
    settings = report["settings"]
    window = report["window"]
    head = (
        f"premium-hotline stats  {window['start'][:16].replace('T', ' ')} → "
        f"{window['end'][:19].replace('T', ' ')} {window['timezone']}"
        f"{' (' + window['label'] + ')' if window['label'] else ''}, by arrival minute"
    )
    bound = report["percentile_error"]
    notes = (
        f"SL: time to human ≤ {settings['service_level_s']}s · "
        f"short abandon < {settings['short_abandon_s']}s (not offered) · "
        f"commitment {settings['commitment_s']}s · percentiles ±"
        f"{bound['relative'] * 100:.2f}% (±{bound['absolute_ms']:.0f} ms under 1 s)"
    )
    rows = [["queue", "tariff", *(heading for heading, _, _ in COLUMNS)]]
    sections = [(queue, entry) for queue, entry in report["queues"].items()]
    if len(sections) != 1:
        sections.append(("ALL", report["total"]))
    for queue, entry in sections:
        for tariff in ("premium", "free", "all"):
            figures = entry[tariff]
            rows.append([queue, tariff, *(_format(kind, figures[key]) for _, key, kind in COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [head, notes, ""]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if number == 0 or (number % 3 == 0 and number < len(rows) - 1):
            lines.append("  ".join("-" * width for width in widths))
    lines.append("")
    waiting = []
    for queue, entry in report["queues"].items():
        wait = entry["waiting"]
        longest = f" (longest {_duration(wait.get('longest_wait_s'))})" if wait.get("count") else ""
        waiting.append(f"{queue} {wait.get('count', 0)}{longest}")
    lines.append("waiting now: " + (", ".join(waiting) if waiting else "no queue has data yet"))
    lines += textwrap.wrap(LEGEND, 150)
    return "\n".join(lines)


AGENT_COLUMNS = (
    ("answ", "answered", "int"),
    ("talk min", "talk_min", "min"),
    ("talk avg", "talk_mean_s", "dur"),
    ("ring avg", "ring_mean_s", "dur"),
    ("prem", "premium_answered", "int"),
    ("kept", "premium_kept", "int"),
    ("kept%", "premium_kept_rate", "pct"),
    ("bill min", "billable_min", "min"),
    ("amount", "amount", "money"),
)


def render_agents(report: dict) -> str:
    """The per-agent figures as a table, one row per agent and queue, then each agent's total."""
    window = report["window"]
    head = (
        f"premium-hotline stats by agent  {window['start'][:16].replace('T', ' ')} → "
        f"{window['end'][:19].replace('T', ' ')} {window['timezone']}"
        f"{' (' + window['label'] + ')' if window['label'] else ''}, by arrival minute"
    )
    rows = [["agent", "name", "queue", *(heading for heading, _, _ in AGENT_COLUMNS)]]
    for agent, figures in report["agents"].items():
        name = figures["name"] if figures["name"] != agent else ""  # a static member's name is its interface
        for queue, entry in report["queues"].items():
            mine = entry.get("agents", {}).get(agent)
            if mine is not None and len(report["queues"]) > 1:
                rows.append([agent, name, queue, *(_format(k, mine[f]) for _, f, k in AGENT_COLUMNS)])
        rows.append([agent, name, "all", *(_format(k, figures[f]) for _, f, k in AGENT_COLUMNS)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    notes = "ring avg: from the agent's phone ringing to the answer · kept: premium calls billed premium"
    lines = [head, notes, ""]
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True)]
        cells += [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    if len(rows) == 1:
        lines.append("no answered call with a known agent in this window")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("stats", __doc__)
    add_window(parser)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--by",
        choices=("queue", "agent"),
        default="queue",
        help="rows per queue and tariff (default), or per agent (JSON: adds `agents`)",
    )
    parser.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=5.0,
        metavar="SECONDS",
        help="refresh in place every SECONDS (default 5) until Ctrl-C",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up on Redis after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
    return parser


def _report(client, general, args) -> dict:
    from ..ops import report

    now_ms = int(time.time() * 1000)
    span = window_from(args, general.timezone, now_ms)
    return report.build(client, general, span, now_ms=now_ms, queues=args.queue, by_agent=args.by == "agent")


def _render(report: dict, as_json: bool) -> str:
    if as_json:
        return json.dumps(report, indent=2, ensure_ascii=False)
    return render_agents(report) if "agents" in report else render_table(report)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    config = load_config(config_path(args.config))
    general = config.general
    if config.errors:
        print(
            f"premium-hotline stats: {config.path}: {len(config.errors)} config problem(s)", file=sys.stderr
        )

    try:  # check the window options once, before any connection
        window_from(args, general.timezone)
    except ValueError as exc:
        print(f"premium-hotline stats: {exc}", file=sys.stderr)
        return 2
    import redis

    from ..ops.client import connect

    try:
        client = connect(general, timeout_s=args.timeout)
    except (ValueError, redis.RedisError) as exc:
        print(f"premium-hotline stats: cannot reach Redis at {general.redis_url}: {exc}", file=sys.stderr)
        return 1
    if args.watch is None:
        try:
            print(_render(_report(client, general, args), args.json))
        except redis.RedisError as exc:
            print(f"premium-hotline stats: cannot read Redis at {general.redis_url}: {exc}", file=sys.stderr)
            return 1
        return 0
    return _watch(client, general, args)


def _watch(client, general, args) -> int:
    """Redraw in place: cursor home, each line cleared to its end, the rest of the screen cleared."""
    import redis

    out = sys.stdout
    interval = max(0.1, args.watch)
    out.write("\x1b[2J")
    try:
        while True:
            try:
                text = _render(_report(client, general, args), args.json)
            except redis.RedisError as exc:
                text = f"premium-hotline stats: cannot read Redis at {general.redis_url}: {exc}"
            stamp = time.strftime("%H:%M:%S")
            frame = f"every {interval:g}s · {stamp} · Ctrl-C to stop\n{text}"
            out.write("\x1b[H" + "\n".join(line + "\x1b[K" for line in frame.split("\n")) + "\n\x1b[J")
            out.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        out.write("\n")
        return 0
