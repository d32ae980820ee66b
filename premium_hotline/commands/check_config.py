"""`premium-hotline check-config [FILE]`: every problem as `file:line: key: problem`, exit 1 if any.

Beyond what every call's config load checks, it looks at what only a deployment can show: the
price messages, found and measured where Asterisk's Playback would find them. Warnings (lawful
but worth a look: no purpose declared, the never-enacted 2012 regime) print the same way and do
not fail the check.
"""

from __future__ import annotations

import sys

from ..config import LawError, config_path, load_config
from ..ini import UNREADABLE
from ..log import redact_url
from ..price_message import price_message_problems
from .options import command_parser


def main(argv: list[str]) -> int:
    parser = command_parser("check-config", __doc__)
    parser.add_argument("file", nargs="?", help="the config file, as -c gives it (either one)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    args = parser.parse_args(argv)
    if args.file and args.config and args.file != args.config:
        parser.error("give the config file once: FILE or -c FILE")
    config = load_config(config_path(args.file or args.config))
    unreadable = [e for e in config.errors if (e.path, e.line, e.key) == (config.path, 0, UNREADABLE)]
    if unreadable:  # nothing else to say about a file that is not there
        print(
            f"premium-hotline check-config: cannot read {config.path}: {unreadable[0].problem}",
            file=sys.stderr,
        )
        return 1
    errors = sorted([*config.errors, *price_message_problems(config)], key=lambda e: (e.path, e.line))
    for error in errors:
        print(error, file=sys.stderr)
    for warning in () if args.quiet else config.warnings:
        print(warning, file=sys.stderr)
    if errors:
        broken = sum(1 for entry in config.entries if entry.broken)
        never = sum(1 for entry in config.entries if entry.surcharge_bar)
        unlawful = sum(1 for error in errors if isinstance(error, LawError))
        print(
            f"{config.path}: {len(errors)} problem(s), {unlawful} of them against the law; {broken} "
            f"number section(s) will fall to fail_tariff={config.general.fail_tariff}; {never} never "
            "premium (not_surchargeable)",
            file=sys.stderr,
        )
        return 1
    if not args.quiet:
        general = config.general
        redis = redact_url(general.redis_url)
        print(
            f"{config.path}: OK, {len(config.entries)} number section(s); redis {redis}; "
            f"commitment {general.commitment_s}s; caller numbers stored as {general.caller_privacy}"
        )
    return 0
