"""The `premium-hotline` command: one subcommand per module, imported only when used.

Each entry maps a subcommand to `module:function`; the function takes the argv after the
subcommand and returns an exit code. Subcommands parse their own options (argparse).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "check-config": (
        "premium_hotline.commands.check_config:main",
        "validate the config file; errors as file:line: key: problem",
    ),
    "install-agi": (
        "premium_hotline.commands.install_agi:main",
        "write the AGI scripts into Asterisk's agi-bin",
    ),
    "replay": ("premium_hotline.commands.replay:main", "send writes spooled during a Redis outage to Redis"),
    "reap": (
        "premium_hotline.commands.reap:main",
        "close as `lost` the calls no hang-up closed within max_call_s (the PBX died)",
    ),
    "agi": ("premium_hotline.commands.agi:main", "run one AGI route on stdin/stdout (what the scripts do)"),
    "simulate": ("premium_hotline.commands.simulate:main", "compare tariff policies on simulated traffic"),
    "serve": (
        "premium_hotline.server.app:main",
        "FastAGI server for every route (agi://127.0.0.1:4573/ROUTE)",
    ),
    "stats": (
        "premium_hotline.commands.stats:main",
        "KPIs per queue and tariff over a window (--json, --watch)",
    ),
    "tail": (
        "premium_hotline.commands.tail:main",
        "follow the event stream like tail -f (--json, --from ID)",
    ),
    "exporter": (
        "premium_hotline.commands.exporter:main",
        "Prometheus exporter of the KPIs (127.0.0.1:9797)",
    ),
    "wallboard": (
        "premium_hotline.commands.wallboard:main",
        "live web page of today's figures per queue and agent (127.0.0.1:9798)",
    ),
    "report": (
        "premium_hotline.commands.report:main",
        "the day's proof for billing and audit: an HTML report (--day YYYY-MM-DD)",
    ),
    "export": (
        "premium_hotline.commands.export:main",
        "one line per call with its whole bill (--since, --until, --format csv|jsonl)",
    ),
    "plot": ("premium_hotline.commands.plot:main", "PNG/SVG report: time to human, ASA and service level"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: premium-hotline COMMAND [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in sorted(COMMANDS.items())]
    lines.append("\n`premium-hotline COMMAND --help` for a command's options.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"premium-hotline {__version__}")
        return 0
    entry = COMMANDS.get(argv[0])
    if entry is None:
        print(f"premium-hotline: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, _, function = entry[0].partition(":")
    try:
        return getattr(importlib.import_module(module), function)(argv[1:]) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `premium-hotline stats | head`: the reader left, nothing to report
        sys.stderr.close()
        return 141


if __name__ == "__main__":
    sys.exit(main())
