"""`premium-hotline tail`: follow the plugin's event stream, like `tail -f`.

Examples:
    premium-hotline tail                       # new events from now on, until Ctrl-C
    premium-hotline tail -n 20                 # the last 20, then follow
    premium-hotline tail --from 1764147600000-0 --no-follow --json   # resume a script's read
    premium-hotline tail --from 0 --no-follow  # everything still in the stream

Lines show the call's own time (Asterisk's clock) in the config's timezone; `--ids` adds the
stream id to resume from. `--from ID` is inclusive. Read-only: it never acknowledges or trims.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..config import config_path, load_config

BLOCK_MS = 1000
BATCH = 500


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="premium-hotline tail",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--config", help="config file (default: $PREMIUM_HOTLINE_CONFIG or /etc/...)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--from", dest="from_id", metavar="ID", help="start at this stream id (inclusive); 0 = oldest"
    )
    start.add_argument("-n", "--lines", type=int, metavar="N", help="first show the last N events")
    parser.add_argument("--no-follow", action="store_true", help="print what is there, then exit")
    parser.add_argument("--json", action="store_true", help="one JSON object per line (with its id)")
    parser.add_argument("--ids", action="store_true", help="prefix readable lines with the stream id")
    parser.add_argument(
        "--timeout", type=float, default=2.0, metavar="SECONDS", help="Redis timeout (default 2)"
    )
    return parser


def _next_id(entry_id: str) -> str:
    """The smallest id after `entry_id` (XRANGE is inclusive; `(id` needs Redis 6.2)."""
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


class _Printer:
    def __init__(self, args, tz: str) -> None:
        from ..ops import events

        self.events = events
        self.args = args
        self.tz = tz

    def __call__(self, entry_id: str, fields: dict) -> None:
        if self.args.json:
            line = json.dumps(self.events.as_json(entry_id, fields), ensure_ascii=False)
        else:
            line = self.events.format_line(entry_id, fields, self.tz, with_id=self.args.ids)
        sys.stdout.write(line + "\n")


def _history(client, stream: str, args, show) -> str:
    """Print the requested past entries; return the id to follow from (the last one seen)."""
    if args.from_id is not None:
        cursor = "-" if args.from_id in ("0", "-", "0-0") else args.from_id
        last = "0-0" if cursor == "-" else _previous(args.from_id)
        while True:
            entries = client.xrange(stream, min=cursor, max="+", count=BATCH)
            for entry_id, fields in entries:
                show(entry_id, fields)
                last = entry_id
            sys.stdout.flush()
            if len(entries) < BATCH:
                return last
            cursor = _next_id(last)
    newest = client.xrevrange(stream, max="+", min="-", count=max(1, args.lines or 1))
    if args.lines:
        for entry_id, fields in reversed(newest):
            show(entry_id, fields)
        sys.stdout.flush()
    return newest[0][0] if newest else "0-0"


def _previous(entry_id: str) -> str:
    """An id just before `entry_id`, so following from it includes `entry_id` itself."""
    ms, _, seq = entry_id.partition("-")
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{max(0, int(ms) - 1)}-{2**64 - 1}" if int(ms) > 0 else "0-0"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.from_id is not None and args.from_id not in ("-",):
        head = args.from_id.partition("-")[0]
        if not head.isdigit():
            print(
                f"premium-hotline tail: {args.from_id!r} is not a stream id (e.g. 1764147600000-0)",
                file=sys.stderr,
            )
            return 2
    config = load_config(config_path(args.config))
    general = config.general
    import redis

    from ..ops.client import connect
    from ..store.keys import Keys

    stream = Keys(general.key_prefix).events()
    show = _Printer(args, general.timezone)
    try:
        client = connect(general, timeout_s=args.timeout, extra_read_s=BLOCK_MS / 1000)
        last = _history(client, stream, args, show)
    except (ValueError, redis.RedisError) as exc:
        print(f"premium-hotline tail: cannot read Redis at {general.redis_url}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    if args.no_follow:
        return 0
    return _follow(client, stream, last, show, general.redis_url)


def _follow(client, stream: str, last: str, show, url: str) -> int:
    """Block on XREAD from `last`; ride out Redis restarts with a note on stderr."""
    import redis

    failures = 0
    try:
        while True:
            try:
                reply = client.xread({stream: last}, count=BATCH, block=BLOCK_MS)
            except redis.RedisError as exc:
                failures += 1
                if failures == 1:
                    print(f"premium-hotline tail: lost Redis at {url} ({exc}); retrying", file=sys.stderr)
                time.sleep(min(5.0, 0.2 * failures))
                continue
            if failures:
                print("premium-hotline tail: Redis is back", file=sys.stderr)
                failures = 0
            for _name, entries in reply or ():
                for entry_id, fields in entries:
                    show(entry_id, fields)
                    last = entry_id
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """The reader went away (`tail | head`): drop what is left instead of a traceback at exit."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
