"""The `premium-hotline` command: one subcommand per module, imported only when used.

Each subcommand's `main` takes the argv after the subcommand and returns an exit code;
subcommands parse their own options (argparse).
"""

from __future__ import annotations

import importlib
import sys

# Subcommand -> its help line. Its `main(argv) -> exit code` is in commands/<name>.py (dashes
# as underscores), but for those listed in ELSEWHERE.
COMMANDS = {
    "check-config": "validate the config file; errors as file:line: key: problem",
    "install-agi": "write the AGI scripts into Asterisk's agi-bin",
    "replay": "send writes spooled during a Redis outage to Redis",
    "reap": "close as `lost` the calls no hang-up closed within max_call_s (the PBX died)",
    "agi": "run one AGI route on stdin/stdout (what the scripts do)",
    "simulate": "compare tariff policies on simulated traffic",
    "serve": "FastAGI server for every route (agi://127.0.0.1:4573/ROUTE)",
    "stats": "KPIs per queue and tariff over a window (--json, --watch)",
    "tail": "follow the event stream like tail -f (--json, --from ID)",
    "exporter": "Prometheus exporter of the KPIs (127.0.0.1:9797)",
    "wallboard": "live web page of today's figures per queue and agent (127.0.0.1:9798)",
    "report": "the day's proof for billing and audit: an HTML report (--day YYYY-MM-DD)",
    "export": "one line per call with its whole bill (--since, --until, --format csv|jsonl)",
    "plot": "PNG/SVG report: time to human, ASA and service level",
}
ELSEWHERE = {"serve": "premium_hotline.server.app"}


def module_of(command: str) -> str:
    return ELSEWHERE.get(command) or "premium_hotline.commands." + command.replace("-", "_")


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: premium-hotline COMMAND [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, help_text in sorted(COMMANDS.items())]
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
    if argv[0] not in COMMANDS:
        print(f"premium-hotline: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        return importlib.import_module(module_of(argv[0])).main(argv[1:]) or 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `premium-hotline stats | head`: the reader left, nothing to report
        sys.stderr.close()
        return 141


if __name__ == "__main__":
    sys.exit(main())
