"""`premium-hotline agi [-c FILE] ROUTE`: run one route as a plain AGI script on stdin/stdout.

For dialplans that call the console script directly: `AGI(/usr/local/bin/premium-hotline,agi,...)`
is not how Asterisk passes arguments, so prefer the scripts from `install-agi`; this exists for
testing a route by hand against a recorded AGI exchange.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] in ("-c", "--config"):
        import os

        os.environ["PREMIUM_HOTLINE_CONFIG"] = argv[1]
        argv = argv[2:]
    if len(argv) != 1 or argv[0].startswith("-"):
        print(
            "usage: premium-hotline agi [-c FILE] ROUTE   (decide_tariff, agent_answered, call_ended)",
            file=sys.stderr,
        )
        return 2
    from ..plain import main as run

    return run(argv[0])
