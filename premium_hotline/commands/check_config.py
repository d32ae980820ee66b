"""`premium-hotline check-config [FILE]`: every problem as `file:line: key: problem`, exit 1 if any."""

from __future__ import annotations

import sys

from ..config import config_path, load_config
from ..log import redact_url
from .options import command_parser


def main(argv: list[str]) -> int:
    parser = command_parser("check-config", __doc__)
    parser.add_argument("file", nargs="?", help="the config file, as -c gives it (either one)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    args = parser.parse_args(argv)
    if args.file and args.config and args.file != args.config:
        parser.error("give the config file once: FILE or -c FILE")
    config = load_config(config_path(args.file or args.config))
    for error in config.errors:
        print(error, file=sys.stderr)
    if config.errors:
        broken = sum(1 for entry in config.entries if entry.broken)
        print(
            f"{config.path}: {len(config.errors)} problem(s); {broken} number section(s) will fall to "
            f"fail_tariff={config.general.fail_tariff}",
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
