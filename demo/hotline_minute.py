"""A realistic minute of hotline traffic through a real Asterisk 22, then the ops report.

What it runs: the project's own dialplan in the sandbox Asterisk (plain AGI scripts installed
as on a PBX, `answer = early`), a redis-server of its own, and real SIP calls over PJSIP on
loopback (sandbox/sip.py): four agents, each a sipp phone on its own 127.0.0.x address
picking up after its own delay (1.5 to 7 s), callers from the carrier's trunk (a sipp per call,
sending audio) arriving at random (Poisson) and talking for varied times, some of whom give up
while waiting, on premium and free numbers. A progress line while it runs (every call placed:
hearing the price message, in the queue, talking to a person, or ended); then the KPIs per
queue and tariff as `premium-hotline stats` reads them from Redis (its abbreviations spelled out
under the table; definitions in docs/kpis.md), the bill on the wire (per
tariff, the median gap between the network's answer and the person's, wire-billable minutes and
refunds due), and a cross-check of those figures against what Asterisk itself logged (queue_log
CONNECT/ABANDON), the SIP truth in sipp's traces and a hand count of the per-call hashes.

Everything it started is stopped at the end; the Redis data stays on disk in var/demo/redis
(`scripts/demo --redis` serves it again for the ops commands).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox import sip  # noqa: E402
from sandbox.asterisk import AsteriskSandbox  # noqa: E402
from sandbox.redis_server import RedisServer  # noqa: E402

VAR = ROOT / "var" / "demo"
REDIS_PORT = 6391
# The shipped price messages (scripts/price-messages), installed where a PBX keeps them.
SOUNDS = ROOT / "sounds" / "premium-hotline"
# Each agent's phone picks up after its own delay (a sipp UAS answers every call alike).
AGENTS = {"agent1": 1.5, "agent2": 3.0, "agent3": 5.0, "agent4": 7.0}

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
""" + "".join(f"member => PJSIP/{agent}\n" for agent in AGENTS)


class Arrival:
    __slots__ = ("at", "number", "patience", "talk")

    def __init__(self, at: float, number: str, talk: float, patience: float) -> None:
        self.at = at
        self.number = number
        self.talk = talk
        self.patience = patience


def schedule(seconds: float, rate_per_s: float, seed: int) -> list[Arrival]:
    """Poisson arrivals; talk 4-15 s; one caller in five impatient (the agents keep their delays)."""
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
                talk=round(rng.uniform(4, 15), 1),
                patience=round(patience, 1),
            )
        )
        t += rng.expovariate(rate_per_s)
    return arrivals


def from_file(path: str) -> list[Arrival]:
    """A schedule written by `premium-hotline simulate --replay` (JSON lines; `call` lines used).

    Numbers the demo's config does not know are played on its per-minute premium number; the
    ring times are the agents' own (each SIP phone answers after its delay).
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


def call_states(channels: list[dict[str, str]], outcomes: dict[str, int], placed: int) -> dict[str, int]:
    """Where every placed call is, so the progress columns add up to `placed`: each caller's
    channel (the carrier trunk's) hearing the price message, in the queue, or talking to a
    person (bridged); the ended ones by the outcome their hash holds; the rest in transit (not
    yet in the dialplan, or hung up with the record still on its way)."""
    callers = [c for c in channels if c.get("channel", "").startswith("PJSIP/trunk-")]
    message = sum(1 for c in callers if c.get("application") == "ControlPlayback")
    talking = sum(1 for c in callers if c.get("bridgeid"))
    states = {"message": message, "queue": len(callers) - message - talking, "talking": talking}
    states["ended"] = sum(outcomes.values())
    states["transit"] = max(0, placed - sum(states.values()))
    return states


def progress(pbx: AsteriskSandbox, redis, placed: int, total: int, elapsed: float) -> str:
    outcomes: dict[str, int] = {}
    for key in redis.scan_iter("ph:call:*"):
        outcome = redis.hget(key, "outcome")
        if outcome:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    states = call_states(pbx.channels(), outcomes, placed)
    answered, abandoned, short = (
        outcomes.get(name, 0) for name in ("answered", "abandoned", "short_abandon")
    )
    other = states["ended"] - answered - abandoned - short  # unanswered (turned away), lost
    return (
        f"\r  {elapsed:5.1f}s  placed {placed:3d}/{total} = price message {states['message']:2d} + queue "
        f"{states['queue']:2d} + talking {states['talking']:2d} + ended {states['ended']:3d} (answered "
        f"{answered:3d}, abandoned {abandoned:2d}, short {short:2d}, other {other}) "
        f"+ in transit {states['transit']:2d}  "
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
    counts.update(wire_billable_s=0, refund_cents=0)
    for key in redis.scan_iter("ph:call:*"):
        record = redis.hgetall(key)
        outcome = record.get("outcome")
        if not outcome:
            continue
        counts[outcome] += 1
        if outcome != "short_abandon":
            counts["offered"] += 1
        counts["breached"] += record.get("sla_breached") == "1"
        counts["wire_billable_s"] += int(record.get("wire_billable_s") or 0)
        counts["refund_cents"] += int(Decimal(record.get("refund_due") or "0") * 100)
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
    network = sip.SipNetwork(tempfile.mkdtemp(prefix="ph-demo-sip-"))
    for agent, delay in AGENTS.items():
        network.add_agent(agent, answer_after_s=delay)
    pbx = AsteriskSandbox(extra_modules=sip.PJSIP_MODULES)
    sip_calls: list[sip.SipCall] = []
    try:
        pbx.configure(
            dialplan_includes=[ROOT / "dialplan" / "premium-hotline.conf"],
            queues=QUEUES,
            configs={"pjsip.conf": network.pjsip_conf(), "rtp.conf": sip.RTP_CONF},
        )
        pbx.install_plugin_agi()
        for message in sorted(SOUNDS.glob("*.gsm")):
            pbx.put_file(f"{pbx.sounds_dir}/premium-hotline/{message.name}", src=message)
        pbx.put_file("/etc/asterisk/premium-hotline.conf", config_text)
        boot = pbx.start()
        network.start_agents()
        print(
            f"demo: Asterisk 22 up in {boot:.1f}s, PJSIP on 127.0.0.1:{network.port}, "
            f"redis-server on 127.0.0.1:{REDIS_PORT}; placing SIP calls"
        )
        mark = pbx.mark()
        start = time.monotonic()
        placed = 0
        last_line = 0.0
        pending = list(arrivals)
        while pending or time.monotonic() - start < args.seconds:
            now = time.monotonic() - start
            while pending and pending[0].at <= now:
                call = pending.pop(0)
                sip_calls.append(
                    network.call(
                        call.number,
                        caller=f"06{random.randrange(10**8):08d}",
                        caller_name="Demo caller",
                        patience_s=call.patience,
                        talk_s=call.talk,
                    )
                )
                placed += 1
            if now - last_line >= 1:
                print(progress(pbx, redis, placed, len(arrivals), now), end="", flush=True)
                last_line = now
            time.sleep(0.05)
        print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start), end="", flush=True)
        print("\ndemo: last calls arrived; waiting for the calls in progress to end")
        deadline = time.monotonic() + 120
        while (pbx.channels() or not all(c.done for c in sip_calls)) and time.monotonic() < deadline:
            print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start), end="", flush=True)
            time.sleep(1)
        time.sleep(1.5)  # the hang-up handlers' writes land after Asterisk is released
        print(progress(pbx, redis, placed, len(arrivals), time.monotonic() - start))
        problems = pbx.problems_since(mark)
        tracebacks = pbx.console_output().count("Traceback")
        asterisk = asterisk_count(pbx)
        truth = sip_truth(sip_calls, network)
    finally:
        network.stop()
        pbx.close()

    print("\n== Ops report (premium-hotline stats, read from Redis) ==")
    stats = cli("stats", "--last", "30m", config=config_path)
    print(stats.stdout or stats.stderr)
    print(f"decisions at arrival: {reasons(redis)}\n")
    print("== The bill on the wire (per decided tariff, from the per-call hashes) ==")
    print(wire_report(redis) + "\n")
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
    try:
        wire_totals = _totals(json.loads(figures.stdout), ("wire_billable_min", "refund_cents"))
        for key, reported in (
            ("wire_billable_s", round(wire_totals.get("wire_billable_min", 0) * 60)),
            ("refund_cents", round(wire_totals.get("refund_cents", 0))),
        ):
            same = reported == hand[key]
            ok &= same
            print(f"  {key:>20}: stats {reported}  hand count {hand[key]}  {'OK' if same else 'MISMATCH'}")
    except (ValueError, KeyError) as exc:
        print(f"  could not read the wire figures of stats --json: {exc}")
        ok = False
    early = truth["answered_before_person"] == 0 and truth["answered_with_nobody"] == 0
    ok &= early
    print(
        f"  {'SIP truth':>20}: {truth['answered']} callers got a 200 OK, {truth['answered_before_person']} "
        f"more than 300 ms before their agent's; {truth['unanswered']} left or reached nobody, "
        f"{truth['answered_with_nobody']} of them answered  {'OK' if early else 'MISMATCH'}"
    )
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


def _totals(report, keys=("offered", "answered", "abandoned", "commitments_broken")) -> dict:
    """Sum the JSON report's rows (per queue and tariff) into call-centre totals."""
    totals: dict[str, float] = {}
    for by_tariff in report["queues"].values():
        for tariff, row in by_tariff.items():
            if tariff == "all":
                continue
            for key in keys:
                totals[key] = totals.get(key, 0) + (row.get(key) or 0)
    return totals


def sip_truth(calls: list, network) -> dict[str, int]:
    """What the wire says, from sipp's traces: callers answered (200 OK), answered more than
    300 ms before their agent's 200 OK, and callers with no agent's answer who got one anyway."""
    out = {"answered": 0, "answered_before_person": 0, "unanswered": 0, "answered_with_nobody": 0}
    for call in calls:
        legs = [leg for agent in network.agents.values() for leg in agent.legs_for(call.caller)]
        person = min((leg.answered_at for leg in legs if leg.answered_at is not None), default=None)
        if call.answered_at is None:
            out["unanswered"] += 1
            continue
        out["answered"] += 1
        if person is None:
            out["answered_with_nobody"] += 1
        elif call.answered_at < person - 0.3:
            out["answered_before_person"] += 1
    return out


def wire_report(redis) -> str:
    """Per decided tariff: the median gap from the person's answer to the network's, the
    wire-billable minutes and the refunds due, from the per-call hashes."""
    rows = {}
    for key in redis.scan_iter("ph:call:*"):
        record = redis.hgetall(key)
        if not record.get("outcome"):
            continue
        row = rows.setdefault(
            record.get("decided_tariff", "free"), {"gaps": [], "wire_s": 0, "refund": Decimal(0)}
        )
        if record.get("wire_answered_ms") and record.get("human_at"):
            row["gaps"].append(int(record["wire_answered_ms"]) - int(record["human_at"]))
        row["wire_s"] += int(record.get("wire_billable_s") or 0)
        row["refund"] += Decimal(record.get("refund_due") or "0")
    lines = []
    for tariff, row in sorted(rows.items()):
        gap = f"{statistics.median(row['gaps']):.0f} ms" if row["gaps"] else "-"
        lines.append(
            f"  {tariff:>8}: network answer after the person's, median {gap} over {len(row['gaps'])} calls; "
            f"wire-billable {row['wire_s'] / 60:.1f} min; refunds due {row['refund']:.2f} EUR"
        )
    return "\n".join(lines)


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
