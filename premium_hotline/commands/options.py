"""Options shared by the ops commands, so `stats`, `plot` and `exporter` read them alike."""

from __future__ import annotations

import argparse
import sys
import time


def command_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """A subcommand's parser with the `--config` option every command takes."""
    parser = argparse.ArgumentParser(
        prog=f"premium-hotline {name}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-c", "--config", help="config file (default: $PREMIUM_HOTLINE_CONFIG or /etc/...)")
    return parser


def missing_extra(command: str, module: str) -> int:
    """An optional dependency of the `ops` extra is not installed: say how to get it (exit 1)."""
    print(
        f"premium-hotline {command}: {module} is missing: pip install 'premium-hotline[ops]'", file=sys.stderr
    )
    return 1


def add_window(parser: argparse.ArgumentParser) -> None:
    """The window of arrival times and the queue filter, as `stats` and `plot` take them."""
    when = parser.add_argument_group("window (arrival time; default: today since local midnight)")
    when.add_argument("--last", metavar="DURATION", help="the last 15m, 2h, 1d ... up to now")
    when.add_argument("--since", metavar="TIME", help="08:00, 2026-01-31, 2026-01-31T08:00[+01:00]")
    when.add_argument("--until", metavar="TIME", help="end, exclusive (default: now)")
    parser.add_argument("-q", "--queue", action="append", help="only this queue (repeatable)")


def window_from(args: argparse.Namespace, tz, now_ms: int | None = None):
    """The window `add_window`'s options name (ops/window.py); ValueError when they name none."""
    from ..ops import window

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return window.resolve(last=args.last, since=args.since, until=args.until, tz=tz, now_ms=now_ms)
