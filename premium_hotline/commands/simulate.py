"""`premium-hotline simulate`: the tariff policies compared on simulated days of hotline traffic.

Needs the `sim` extra (simpy): `pip install premium-hotline[sim]`. One run plays the same traffic
(common random numbers) under every policy and prints the policy table, the day-by-day check of
the daily-target policy against the best fixed threshold in hindsight and the bound, and the
waiting-time accuracy; `--json` prints one JSON object per row instead (`kind`: policy, bound,
day, ewt). Exit status 3, with one line per case on stderr, when any run beats the bound.
`--replay` prints no table: it writes the traffic of one scenario as a schedule for the sandbox
demo (see docs/promise.md for the format).
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _confidences(text: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or not all(0.0 < v < 1.0 for v in values):
        raise argparse.ArgumentTypeError("a comma-separated list of confidences in (0, 1)")
    return values


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="premium-hotline simulate", description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        help="calm, peak, understaffed or surge; repeat for several (default: all four)",
    )
    parser.add_argument("--days", type=int, default=2, help="simulated days per scenario (default 2)")
    parser.add_argument("--start", type=float, default=8.0, help="first hour of the day simulated (8)")
    parser.add_argument("--hours", type=float, default=12.0, help="hours simulated per day (12)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "-c", "--config", help="take commitment_s from this config file's [general] (--commitment overrides)"
    )
    parser.add_argument("--commitment", type=int, help="commitment_s, seconds (default 60, or the config's)")
    parser.add_argument(
        "--confidence",
        type=_confidences,
        default=(0.80, 0.90, 0.95, 0.99),
        help="promise_confidence levels to compare (default 0.80,0.90,0.95,0.99)",
    )
    parser.add_argument(
        "--target", type=float, default=0.95, help="promise_target of the daily policy (default 0.95)"
    )
    parser.add_argument(
        "--commitments",
        default="",
        help="several commitment_s at once, comma-separated (e.g. 30,45,60): one section each",
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the clairvoyant replay (4 more runs)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of the table")
    parser.add_argument(
        "--calibration",
        action="store_true",
        help="instead of the table: predicted probability vs promises actually kept, per scenario",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="write one scenario's calls as a JSON-lines schedule for the demo instead",
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="with --replay: minutes of traffic (5)")
    args = parser.parse_args(argv)
    if args.commitment is None:
        if args.config:
            from ..config import load_config

            args.commitment = load_config(args.config).general.commitment_s
        else:
            args.commitment = 60

    try:
        from ..sim.traffic import SCENARIOS
    except ImportError as exc:  # simpy missing
        print(f"premium-hotline simulate: {exc}; install the `sim` extra (simpy)", file=sys.stderr)
        return 2
    names = args.scenario or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}")

    if args.replay:
        from ..sim.schedule import schedule

        if len(names) != 1:
            parser.error("--replay takes exactly one --scenario")
        for line in schedule(
            SCENARIOS[names[0]],
            seed=args.seed,
            start_h=args.start,
            minutes=args.minutes,
            commitment_s=args.commitment,
        ):
            print(json.dumps(line, separators=(",", ":")))
        return 0

    try:
        from ..sim.report import compare, day_table, default_policies, ewt_table, table
    except ImportError as exc:
        print(f"premium-hotline simulate: {exc}; install the `sim` extra (simpy)", file=sys.stderr)
        return 2
    began = time.perf_counter()
    if args.calibration:
        from ..sim.report import calibration

        print("| scenario | predicted p | calls | kept |\n|---|---|---:|---:|")
        for name in names:
            for low, high, calls, kept in calibration(
                SCENARIOS[name],
                seed=args.seed,
                days=args.days,
                start_h=args.start,
                hours=args.hours,
                commitment_s=args.commitment,
            ):
                print(f"| {name} | {low:.2f} to {high:.2f} | {calls} | {kept:.1%} |")
        return 0
    if not 0.5 <= args.target < 1.0:
        parser.error("--target must be in [0.5, 1)")
    try:
        commitments = [int(c) for c in args.commitments.split(",") if c.strip()] or [args.commitment]
    except ValueError:
        parser.error("--commitments takes whole seconds, comma-separated")
    violations: list[str] = []
    for commitment in commitments:
        began = time.perf_counter()
        rows, bounds, days, ewt = [], [], [], []
        for name in names:
            result = compare(
                SCENARIOS[name],
                default_policies(args.confidence, args.target),
                seed=args.seed,
                days=args.days,
                start_h=args.start,
                hours=args.hours,
                commitment_s=commitment,
                oracle=not args.no_oracle,
                target=args.target,
            )
            rows += result.rows
            bounds.append(result.bound)
            days += result.days
            ewt += result.ewt
            violations += result.violations
        elapsed = time.perf_counter() - began
        if args.json:
            for item in [*(r.as_dict() for r in rows), *bounds, *(d.as_dict() for d in days)]:
                print(json.dumps({**item, "commitment_s": commitment}))
            for row in ewt:
                print(json.dumps({**row.as_dict(), "commitment_s": commitment}))
            continue
        simulated = len(names) * args.days * args.hours
        if len(commitments) > 1:
            print(f"### commitment_s = {commitment}\n")
        print(table(rows, bounds))
        print()
        print(day_table(days))
        print()
        print(ewt_table(ewt))
        print(
            f"\n{len(names)} scenario(s) x {args.days} day(s) x {args.hours:g} h, seed {args.seed}, "
            f"commitment {commitment} s: {simulated:g} h of traffic per policy in {elapsed:.1f} s\n"
        )
    for line in violations:
        print(f"premium-hotline simulate: BOUND BEATEN: {line}", file=sys.stderr)
    return 3 if violations else 0
