"""`premium-hotline install-agi [--dir DIR] [-c FILE]`: write the three AGI scripts where Asterisk looks.

The scripts are written with this Python's path in their first line, so Asterisk runs them with
the interpreter (or virtualenv) the package was installed into; the copies in the repository's
agi_scripts/ use `/usr/bin/env python3` and are otherwise identical. With `-c FILE` the scripts
read that config file (unless $PREMIUM_HOTLINE_CONFIG says otherwise) instead of the default.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..routes import ROUTES

DEFAULT_DIR = "/usr/share/asterisk/agi-bin"  # Debian's astagidir
PURPOSE = {
    "decide_tariff": "premium or free at call arrival",
    "agent_answered": "a person answered, from Queue()'s AGI argument",
    "call_ended": "hang-up handler closing the record and the bill",
}


def script_text(route: str, interpreter: str = "/usr/bin/env python3", config: str = "") -> str:
    setting = f'os.environ.setdefault("PREMIUM_HOTLINE_CONFIG", {config!r})\n' if config else ""
    return (
        f"#!{interpreter}\n"
        f'"""AGI route {route}: {PURPOSE[route]} (see premium_hotline.routes)."""\n'
        f"\n{'import os' + chr(10) if config else ''}import sys\n\n"
        "from premium_hotline.plain import main\n\n"
        f"{setting}"
        f'sys.exit(main("{route}"))\n'
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="premium-hotline install-agi", description=__doc__)
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"Asterisk's astagidir (default {DEFAULT_DIR})")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the scripts' #! line")
    parser.add_argument(
        "-c", "--config", default="", help="the config file the scripts read (default: theirs)"
    )
    args = parser.parse_args(argv)
    config = os.path.abspath(args.config) if args.config else ""
    try:
        os.makedirs(args.dir, exist_ok=True)
        for route in ROUTES:
            path = os.path.join(args.dir, f"{route}.py")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(script_text(route, args.python, config))
            os.chmod(path, 0o755)
            print(path)
    except OSError as exc:
        print(f"premium-hotline install-agi: {exc}", file=sys.stderr)
        return 1
    return 0
