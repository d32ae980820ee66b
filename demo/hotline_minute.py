"""A realistic minute of hotline traffic through a real Asterisk 22, then the ops report.

What it runs: the project's own dialplan in the sandbox Asterisk (plain AGI scripts installed
as on a PBX), a redis-server of its own, three agents who pick up after varied delays and talk
for varied times, callers arriving at random (Poisson), some of whom give up while waiting, on
premium and free numbers. A progress line while it runs; then the KPIs per queue and tariff as
`premium-hotline stats` reads them from Redis, and a cross-check of those figures against what
Asterisk itself logged (queue_log CONNECT/ABANDON, CDRs) and a hand count of the per-call hashes.

Everything it started is stopped at the end; the Redis data stays on disk in var/demo/redis
(`scripts/demo --redis` serves it again for the ops commands).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.asterisk_sandbox import AsteriskSandbox  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

VAR = ROOT / "var" / "demo"
REDIS_PORT = 6391
# The shipped price messages (scripts/price-messages), installed where a PBX keeps them.
SOUNDS = ROOT / "sounds" / "premium-hotline"
SOUNDS_IN_PBX = "/usr/share/asterisk/sounds/premium-hotline"
AGENTS = ("agent1", "agent2", "agent3", "agent4")

NUMBERS = {
    # number: (weight, what it is)
    "0899123456": (5, "premium 0.80/min"),
    "0899777001": (3, "premium 2.99/call"),
    "0805123456": (2, "free range"),
    "0826100200": (1, "voice menu, free"),
}


def plugin_config(redis_url: str, spool: str) -> str:
    return f"""\
[general]
redis_url = {redis_url}
redis_timeout_ms = 300
commitment_s = 25
service_level_s = 15
short_abandon_s = 3
default_queue = support
caller_hash_key = demo-secret-key-0123456789
spool_dir = {spool}
holidays = none

[centre](!)
queue = support
site = FR

[0899123456](centre)
purpose = advice
rate = 0.80/min
announce = premium-hotline/price-0899123456

[_0899777XXX](centre)
purpose = information
rate = 2.99/call
announce = premium-hotline/price-0899-per-call

[0805123456](centre)
purpose = after_sales

[0826100200](centre)
purpose = sales
rate = 0.15/min
ivr = yes
announce = premium-hotline/price-0826100200
"""


QUEUES = """\
[support]
strategy = rrmemory
timeout = 20
retry = 1
ringinuse = no
setinterfacevar = yes
joinempty = yes
leavewhenempty = no
servicelevel = 15
""" + "".join(f"member => Local/{agent}@demo-agents/n\n" for agent in AGENTS)

# Each agent picks up after the delay the caller's schedule chose (inherited variables), talks,
# then hangs up: the caller's phone side only decides when an impatient caller gives up.
AGENT_DIALPLAN = "[demo-agents]\n" + "".join(
    f'exten => {agent},1,Wait(${{IF($["${{AGENT_DELAY}}" = ""]?2:${{AGENT_DELAY}})}})\n'
    " same => n,Answer()\n"
    f' same => n,Wait(${{IF($["${{TALK}}" = ""]?10:${{TALK}})}})\n'
    " same => n,Hangup()\n"
    for agent in AGENTS
)


class Arrival:
    __slots__ = ("agent_delay", "at", "number", "patience", "talk")

    def __init__(self, at: float, number: str, agent_delay: float, talk: float, patience: float) -> None:
        self.at = at
        self.number = number
        self.agent_delay = agent_delay
        self.talk = talk
        self.patience = patience


def schedule(seconds: float, rate_per_s: float, seed: int) -> list[Arrival]:
    """Poisson arrivals; agent pick-up delays 1-8 s; talk 4-15 s; one caller in five impatient."""
    rng = random.Random(seed)
    numbers = list(NUMBERS)
    weights = [NUMBERS[n][0] for n in numbers]
    arrivals = []
    t = rng.expovariate(rate_per_s)
    while t < seconds:
        patience = rng.uniform(2, 15) if rng.random() < 0.2 else 300.0
        arrivals.append(
            Arrival(
                at=t,
                number=rng.choices(numbers, weights)[0],
                agent_delay=round(rng.uniform(1, 8), 1),
                talk=round(rng.uniform(4, 15), 1),
                patience=round(patience, 1),
            )
        )
        t += rng.expovariate(rate_per_s)
    return arrivals


def from_file(path: str) -> list[Arrival]:
    """A schedule written by `premium-hotline simulate --replay` (JSON lines; `call` lines used).

    Numbers the demo's config does not know are played on its per-minute premium number.
    """
    arrivals = []
    with open(path) as handle:
        for line in handle:
            item = json.loads(line) if line.strip() else {}
            if item.get("kind") != "call":
                continue
            number = str(item.get("number", ""))
            arrivals.append(
                Arrival(
                    at=float(item["at_s"]),
                    number=number if number in NUMBERS else "0899123456",
                    agent_delay=float(item.get("ring_s", 2)),
                    talk=float(item.get("talk_s", 10)),
                    patience=float(item.get("patience_s", 300)),
                )
            )
    return arrivals


def cli(*args: str, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "premium-hotline"), *args, "--config", str(config)],
        capture_output=True,
        text=True,
    )


def progress(pbx: AsteriskSandbox, redis, placed: int, total: int, elapsed: float) -> str:
    closed = [redis.hgetall(k) for k in redis.scan_iter("ph:call:*")]
    outcomes = {}
    for record in closed:
        if record.get("outcome"):
            outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    waiting = sum(redis.zcard(k) for k in redis.scan_iter("ph:waiting:*"))
    return (
        f"\r  {elapsed:5.1f}s  calls placed {placed:3d}/{total}  waiting {waiting:2d}  "
        f"answered {outcomes.get('answered', 0):3d}  abandoned {outcomes.get('abandoned', 0):2d}  "
        f"short {outcomes.get('short_abandon', 0):2d}  "
    )


def reasons(redis) -> str:
    """How the calls were decided: premium, or free and why."""
    counts: dict[str, int] = {}
    for key in redis.scan_iter("ph:call:*"):
        reason = redis.hget(key, "decided_reason") or "undecided"
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(f"{reason} {count}" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def hand_count(redis) -> dict[str, int]:
    """Figures counted one call at a time from the per-call hashes, for the cross-check."""
    counts = {"offered": 0, "answered": 0, "abandoned": 0, "unanswered": 0, "short_abandon": 0, "breached": 0}
    for key in redis.scan_iter("ph:call:*"):
        record = redis.hgetall(key)
        outcome = record.get("outcome")
        if not outcome:
            continue
        counts[outcome] += 1
        if outcome != "short_abandon":
            counts["offered"] += 1
        counts["breached"] += record.get("sla_breached") == "1"
    return counts


def asterisk_count(pbx: AsteriskSandbox) -> dict[str, int]:
    """What Asterisk itself says happened in the queue."""
    events: dict[str, int] = {}
    for row in pbx.queue_log():
        if len(row) > 4:
            events[row[4]] = events.get(row[4], 0) + 1
    return events


def run(args: argparse.Namespace) -> int:
    VAR.mkdir(parents=True, exist_ok=True)
    (VAR / "redis").mkdir(exist_ok=True)
    config_path = VAR / "premium-hotline.conf"
    arrivals = from_file(args.schedule) if args.schedule else schedule(args.seconds, args.rate, args.seed)
    print(
        f"demo: {len(arrivals)} calls over {args.seconds:.0f}s, {len(AGENTS)} agents, numbers: "
        + ", ".join(f"{n} ({what})" for n, (_, what) in NUMBERS.items())
    )
    redis_server = RedisServer(port=REDIS_PORT, extra_args=["--dir", str(VAR / "redis"), "--save", "3600 1"])
    redis_server.dir = str(VAR / "redis")
    redis_server.start()
    redis = redis_server.client()
    redis.flushall()
    config_text = plugin_config(redis_server.url, "/var/spool/asterisk/premium-hotline")
    config_path.write_text(plugin_config(redis_server.url, str(VAR / "spool")))
    pbx = AsteriskSandbox()
    try:
        pbx.configure(
            dialplan_includes=[ROOT / "dialplan" / "premium-hotline.conf"],
            extensions=AGENT_DIALPLAN,
            queues=QUEUES,
        )
        for message in sorted(SOUNDS.glob("*.gsm")):
            pbx.put_file(f"{SOUNDS_IN_PBX}/{message.name}", src=message)
        pbx.put_file("/etc/asterisk/premium-hotline.conf", config_text)
        boot = pbx.start()
        print(f"demo: Asterisk 22 up in {boot:.1f}s, redis-server on 127.0.0.1:{REDIS_PORT}; placing calls")
        mark = pbx.mark()
        start = time.monotonic()
        placed = 0
        last_line = 0.0
        pending = list(arrivals)
        while pending or time.monotonic() - start < args.seconds:
            now = time.monotonic() - start
            while pending and pending[0].at <= now:
                call = pending.pop(0)
                pbx.call(
                    call.number,
                    "premium-hotline",
                    caller_id=f"06{random.randrange(10**8):08d}",
                    caller_name="Demo caller",
                    variables={"__AGENT_DELAY": str(call.agent_delay), "__TALK": str(call.talk)},
                    hangup_after=call.patience,
                )
                placed += 1
            if now - last_line >= 1:
                print(progress(pbx, redis, placed, len(arrivals), now), end="", flush=True)
                last_line = now
            time.sleep(0.05)
        print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start), end="", flush=True)
        print("\ndemo: last calls arrived; waiting for the calls in progress to end")
        deadline = time.monotonic() + 120
        while pbx.channels() and time.monotonic() < deadline:
            print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start), end="", flush=True)
            time.sleep(1)
        time.sleep(1.5)  # the hang-up handlers' writes land after Asterisk is released
        print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start))
        problems = pbx.problems_since(mark)
        tracebacks = pbx.console_output().count("Traceback")
        asterisk = asterisk_count(pbx)
    finally:
        pbx.close()

    print("\n== Ops report (premium-hotline stats, read from Redis) ==")
    stats = cli("stats", "--last", "30m", config=config_path)
    print(stats.stdout or stats.stderr)
    print(f"decisions at arrival: {reasons(redis)}\n")
    figures = cli("stats", "--last", "30m", "--json", config=config_path)
    hand = hand_count(redis)
    print("== Cross-check ==")
    print(f"  per-call hashes: {hand}")
    print(
        f"  Asterisk queue_log: CONNECT {asterisk.get('CONNECT', 0)}, ABANDON {asterisk.get('ABANDON', 0)}, "
        f"ENTERQUEUE {asterisk.get('ENTERQUEUE', 0)}, EXITWITHTIMEOUT {asterisk.get('EXITWITHTIMEOUT', 0)}"
    )
    ok = True
    try:
        totals = _totals(json.loads(figures.stdout))
        for key in ("offered", "answered", "abandoned", "commitments_broken"):
            hand_key = {"commitments_broken": "breached"}.get(key, key)
            same = totals.get(key) == hand[hand_key]
            ok &= same
            verdict = "OK" if same else "MISMATCH"
            print(f"  {key:>20}: stats {totals.get(key)}  hand count {hand[hand_key]}  {verdict}")
    except (ValueError, KeyError) as exc:
        print(f"  could not read stats --json: {exc}: {figures.stderr[:300]}")
        ok = False
    answered_vs_connect = hand["answered"] == asterisk.get("CONNECT", 0)
    ok &= answered_vs_connect
    print(
        f"  {'answered':>20}: Redis {hand['answered']}  Asterisk CONNECT {asterisk.get('CONNECT', 0)}  "
        f"{'OK' if answered_vs_connect else 'MISMATCH'}"
    )
    ok &= _agents_and_bill(redis, config_path)
    print(f"  Asterisk warnings/errors: {len(problems)}; Python tracebacks on its console: {tracebacks}")
    for line in problems[:5]:
        print(f"    {line}")
    ok &= not problems and not tracebacks
    redis_server.stop()  # SIGTERM: redis-server saves its data (save points are set) and exits
    print(f"\ndemo: stopped Asterisk and redis-server; the data stays in {VAR / 'redis'}.")
    print("      Serve it again for the ops commands:  scripts/demo --redis   then e.g.")
    print(f"      .venv/bin/premium-hotline stats --config {config_path.relative_to(ROOT)} --last 1h")
    print(f"      .venv/bin/premium-hotline wallboard --config {config_path.relative_to(ROOT)}")
    return 0 if ok else 1


def _agents_and_bill(redis, config_path: Path) -> bool:
    """Per agent (`stats --by agent`), the day's report and the export, each against the per-call
    hashes counted one by one; the report and the export are kept next to the demo's data."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    records = [redis.hgetall(key) for key in redis.scan_iter("ph:call:*")]
    ended = [r for r in records if r.get("outcome")]
    answered: dict[str, int] = {}
    for record in ended:
        if record["outcome"] == "answered" and record.get("agent"):
            answered[record["agent"]] = answered.get(record["agent"], 0) + 1
    billed = sum(round(float(r.get("amount") or 0) * 100) for r in ended)
    ok = True
    by_agent = cli("stats", "--last", "30m", "--by", "agent", config=config_path)
    print("\n== Per agent (premium-hotline stats --by agent) ==")
    print(by_agent.stdout or by_agent.stderr)
    try:
        agents = json.loads(
            cli("stats", "--last", "30m", "--by", "agent", "--json", config=config_path).stdout
        )
        shown = {agent: row["answered"] for agent, row in agents["agents"].items()}
    except (ValueError, KeyError) as exc:
        print(f"  could not read stats --by agent --json: {exc}")
        shown = {}
    same = shown == answered
    ok &= same
    print(
        f"  {'answered per agent':>20}: stats {shown}  hand count {answered}  {'OK' if same else 'MISMATCH'}"
    )
    day = dt.datetime.now(ZoneInfo("Europe/Paris")).date().isoformat()
    report_path = VAR / f"report-{day}.html"
    report = cli("report", "--day", day, "-o", str(report_path), config=config_path)
    print(f"  {'day report':>20}: {report.stderr.strip() or report.stdout.strip()}")
    ok &= report.returncode == 0
    export_path = VAR / "calls.csv"
    export = cli("export", "--last", "30m", "--format", "csv", "-o", str(export_path), config=config_path)
    if export.returncode == 0:
        import csv

        with open(export_path, encoding="utf-8") as lines:
            rows = list(csv.DictReader(lines))
        exported = sum(round(float(row["amount"] or 0) * 100) for row in rows if row["outcome"])
        same = len(rows) == len(records) and exported == billed
        print(
            f"  {'export':>20}: {len(rows)} lines, billed {exported / 100:.2f}; "
            f"hand count {len(records)} calls, billed {billed / 100:.2f}  {'OK' if same else 'MISMATCH'}"
            f"  ({export_path.relative_to(ROOT)})"
        )
    else:
        same = False
        print(f"  {'export':>20}: {export.stderr.strip()}")
    return ok and same


def _totals(report) -> dict:
    """Sum the JSON report's rows (per queue and tariff) into call-centre totals."""
    totals: dict[str, int] = {}
    for by_tariff in report["queues"].values():
        for tariff, row in by_tariff.items():
            if tariff == "all":
                continue
            for key in ("offered", "answered", "abandoned", "commitments_broken"):
                totals[key] = totals.get(key, 0) + int(row.get(key) or 0)
    return totals


def serve_redis() -> int:
    """Serve the demo's saved Redis data in the foreground (Ctrl-C stops it)."""
    os.execvp(
        "redis-server",
        [
            "redis-server",
            "--port",
            str(REDIS_PORT),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(VAR / "redis"),
            "--save",
            "",
        ],
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="how long calls keep arriving (default 60)")
    parser.add_argument("--rate", type=float, default=0.22, help="calls per second on average (default 0.22)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="random seed (default: the clock)")
    parser.add_argument("--schedule", help="JSON lines from `premium-hotline simulate --replay` instead")
    parser.add_argument(
        "--redis", action="store_true", help="only serve the saved demo data with redis-server"
    )
    args = parser.parse_args()
    if args.redis:
        return serve_redis()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
