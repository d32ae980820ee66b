"""Realistic KPI data for the ops tests: calls driven through the real AGI scripts.

Each planned call runs decide_tariff, then (if a person answers) agent_answered, then the
call_ended hang-up handler, as subprocesses against sandbox.agi_peer's ChannelModel, with
the Asterisk clock pinned to the planned moments. What lands in Redis is therefore exactly what
the plugin writes in production: per-call hashes, the event stream, the waiting sets and the
per-minute KPI counters via the Lua script. `hand_count` then recounts from the per-call hashes
alone, the independent reference the stats, the exporter and Prometheus are checked against.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

from sandbox.agi_peer import ChannelModel, default_env, run_script
from tests.support.served import ServedCommand

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "ph:"

# number -> queue; the 0899 numbers are premium when the queue has a ready agent, 0805 never.
NUMBERS = {
    "0899123456": "support",
    "0899100200": "sales",
    "0805123456": "support",
    "0805100200": "sales",
}

CONFIG_NUMBERS = """
[0899123456]
queue = support
rate = 0.80/min
hours = always

[0899100200]
queue = sales
rate = 2.99/call
hours = always

[0805123456]
queue = support

[0805100200]
queue = sales
"""


def noon_timezone(now_ms: int) -> str:
    """A fixed-offset zone where it is about noon now, so "today" holds the last hours whatever
    the hour the tests run at (the exporter and `stats` default to the local day)."""
    utc_hour = dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).hour
    offset = 12 - utc_hour  # hours east of UTC, -11 ... 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def write_ops_config(path: Path, redis_url: str, timezone: str, spool: Path) -> str:
    path.write_text(
        "\n".join(
            [
                "[general]",
                f"redis_url = {redis_url}",
                f"spool_dir = {spool}",
                "caller_hash_key = test-key-0123456789abcdef",
                "holidays = none",
                "commitment_s = 60",
                "service_level_s = 20",
                "short_abandon_s = 5",
                f"timezone = {timezone}",
            ]
        )
        + "\n"
        + CONFIG_NUMBERS
    )
    return str(path)


class Plan:
    """One call's timeline in epoch ms. `human` None: nobody answered; `ended` None: still on."""

    def __init__(
        self,
        uid: str,
        number: str,
        arrived: int,
        queued: int | None,
        human: int | None,
        ended: int | None,
        queue_status: str = "",
    ) -> None:
        self.uid = uid
        self.number = number
        self.arrived = arrived
        self.queued = queued
        self.human = human
        self.ended = ended
        self.queue_status = queue_status

    @property
    def queue(self) -> str:
        return NUMBERS[self.number]

    def __repr__(self) -> str:
        return (
            f"Plan({self.uid}, {self.number}, arrived={self.arrived}, human={self.human}, ended={self.ended})"
        )


def make_plans(now_ms: int, count: int = 36, seed: int = 5) -> list[Plan]:
    """A mixed hour: answered fast and late (broken commitments), abandoned, short abandons,
    queue time-outs, over both queues and tariffs, arrivals spread over ~45 minutes; plus one
    call still waiting and one still talking. Every call has ended by `now_ms` unless planned not to."""
    rng = random.Random(seed)
    plans: list[Plan] = []
    base = now_ms - 50 * 60_000
    kinds = ["answered"] * 18 + ["abandoned"] * 7 + ["short"] * 4 + ["unanswered"] * 3 + ["edge"] * 4
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds[:count]):
        number = rng.choice(list(NUMBERS))
        arrived = base + rng.randrange(0, 45 * 60_000)
        before_queue = rng.choice([0, 2_500, 10_400, 12_000])  # no menu, or the price message
        queued = arrived + before_queue
        uid = f"1790000000.{i + 1}"
        if kind == "answered":
            wait = rng.choice([3_000, 8_000, 15_000, 25_000, 40_000, 55_000, 75_000, 130_000])
            wait += rng.randrange(0, 2_000)
            human = arrived + max(wait, before_queue + 500)
            plans.append(Plan(uid, number, arrived, queued, human, human + rng.randrange(20_000, 300_000)))
        elif kind == "edge":  # right on the service-level and commitment thresholds
            wait = [20_000, 20_001, 60_000, 60_001][i % 4]
            human = arrived + wait
            plans.append(Plan(uid, number, arrived, arrived + 1_000, human, human + 61_000))
        elif kind == "abandoned":
            plans.append(Plan(uid, number, arrived, queued, None, arrived + rng.randrange(6_000, 150_000)))
        elif kind == "short":
            plans.append(Plan(uid, number, arrived, None, None, arrived + rng.randrange(500, 4_900)))
        else:
            plans.append(Plan(uid, number, arrived, queued, None, queued + 120_000, "TIMEOUT"))
    plans.append(Plan("1790000000.900", "0899123456", now_ms - 90_000, now_ms - 80_000, None, None))
    plans.append(
        Plan("1790000000.901", "0805100200", now_ms - 200_000, now_ms - 190_000, now_ms - 100_000, None)
    )
    return plans


AGENTS = (("Local/agent1@agents/n", "Alice Martin"), ("Local/agent2@agents/n", "Bruno Petit"))


def agent_of(plan: Plan) -> tuple[str, str, int]:
    """(MEMBERINTERFACE, MEMBERNAME, ring start ms) of the agent who answers an answered plan:
    the agents take turns by uniqueid, and the phone rang 1 to 5 s before the answer (never
    before the queue entry)."""
    index = int(plan.uid.rpartition(".")[2])
    agent, name = AGENTS[index % len(AGENTS)]
    ring = 1_000 + (index % 5) * 1_000
    rang = max(plan.queued or plan.arrived, plan.human - ring)
    return agent, name, rang


_FUNCTIONS = {
    f"QUEUE_MEMBER({q},{what})": value
    for q in ("support", "sales")
    for what, value in (("ready", "2"), ("logged", "3"))
}
_FUNCTIONS.update({f"QUEUE_WAITING_COUNT({q})": "0" for q in ("support", "sales")})


def _wait_for(client, key: str, field: str, timeout_s: float = 10.0) -> None:
    """The scripts write Redis from a detached child after releasing Asterisk: wait for it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.hexists(key, field):
            return
        time.sleep(0.01)
    raise TimeoutError(f"{key} never got {field}")


def _check(result, step: str, plan: Plan) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{step} failed for {plan}: rc={result.returncode}\n{result.stderr[-2000:]}")


def drive(plan: Plan, config: str, client) -> None:
    """Run the call's AGI scripts in order, each after the previous one's Redis write landed."""
    scripts = ROOT / "agi_scripts"
    key = f"{PREFIX}call:{{{plan.uid}}}"
    # The wait predictor is not under test: no history (recent waits, arrivals, ended calls)
    # keeps every 0899 call premium when an agent is ready, so premium calls break commitments.
    client.delete(*(f"{PREFIX}{name}:{{{plan.queue}}}" for name in ("recent", "arrivals", "ended")))
    channel = ChannelModel(functions=dict(_FUNCTIONS), clock_ms=lambda: plan.arrived)
    env = default_env(plan.uid, plan.number)
    _check(run_script(str(scripts / "decide_tariff.py"), env, channel, config=config), "decide_tariff", plan)
    _wait_for(client, key, "decided_at")
    variables = dict(channel.variables)
    if plan.queued is not None:
        variables["PH_QUEUED_MS"] = str(plan.queued)
    functions = dict(_FUNCTIONS)
    if plan.human is not None:
        functions["SHARED(PH_HUMAN_MS)"] = str(plan.human)
        agent, name, rang = agent_of(plan)
        variables["MEMBERINTERFACE"] = agent
        variables["MEMBERNAME"] = name
        functions["SHARED(PH_RANG_AT)"] = f"{rang / 1000:.6f}"
        channel = ChannelModel(variables, functions, clock_ms=lambda: plan.human + 40)
        env = default_env(plan.uid, plan.number, agi_request="agent_answered.py")
        _check(
            run_script(str(scripts / "agent_answered.py"), env, channel, config=config),
            "agent_answered",
            plan,
        )
        _wait_for(client, key, "human_at")
        variables = dict(channel.variables)
    if plan.ended is None:
        return
    if plan.queue_status:
        variables["QUEUESTATUS"] = plan.queue_status
    channel = ChannelModel(variables, functions, clock_ms=lambda: plan.ended, dead=True)
    env = default_env(plan.uid, plan.number, agi_request="call_ended.py")
    _check(run_script(str(scripts / "call_ended.py"), env, channel, config=config), "call_ended", plan)
    _wait_for(client, key, "outcome")
    # The KPI counters go in the same pipeline, after the hash: wait for the Lua script too.
    stamp = time.strftime("%Y%m%d%H", time.gmtime(plan.arrived // 1000))
    deadline = time.monotonic() + 10
    while not client.sismember(f"{PREFIX}counted:{{{plan.queue}}}:{stamp}", plan.uid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{plan} never counted")
        time.sleep(0.01)


def drive_all(plans: list[Plan], config: str, client, workers: int = 3) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(drive, plan, config, client) for plan in plans]:
            future.result()


# ---- the independent reference: a hand count from the per-call hashes ----------------------


def call_records(client) -> list[dict]:
    """Every per-call hash (SCAN, as an ops person would with redis-cli --scan)."""
    records = []
    for key in client.scan_iter(match=f"{PREFIX}call:*", count=1000):
        records.append(client.hgetall(key))
    return records


def nearest_rank(values: list[int], q: float) -> int:
    """The exact nearest-rank percentile: the smallest value with at least q of them at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Fraction(str(q)) * len(ordered)))
    return ordered[rank - 1]


def hand_count(records: list[dict], start_ms: int, end_ms: int, service_level_s: int = 20) -> dict:
    """{(queue, tariff): counts} over ended calls that arrived in [start_ms, end_ms), counted the
    way docs/kpis.md defines them, from the per-call fields alone."""
    out: dict[tuple[str, str], dict] = {}
    for record in records:
        if "outcome" not in record:
            continue  # still waiting or talking: not counted anywhere yet
        arrived = int(record["arrived_at"])
        minute = arrived - arrived % 60_000
        if not start_ms <= minute < end_ms:
            continue
        tariff = record["decided_tariff"]
        row = out.setdefault(
            (record["queue"], tariff),
            {
                "offered": 0,
                "answered": 0,
                "abandoned": 0,
                "unanswered": 0,
                "short_abandoned": 0,
                "lost": 0,
                "breached": 0,
                "within_sl": 0,
                "tth": [],
                "in_queue_ms": 0,
                "billable_s": 0,
                "amount_cents": 0,
            },
        )
        outcome = record["outcome"]
        if outcome == "short_abandon":
            row["short_abandoned"] += 1
        else:
            row["offered"] += 1
            row[outcome] += 1
        if record.get("sla_breached") == "1":
            row["breached"] += 1
        if outcome == "answered":
            tth = int(record["time_to_human_ms"])
            row["tth"].append(tth)
            row["in_queue_ms"] += int(record["in_queue_ms"])
            row["within_sl"] += tth <= service_level_s * 1000
            row["billable_s"] += int(record["billable_s"])
            row["amount_cents"] += round(float(record["amount"]) * 100)
    return out


def hand_count_agents(records: list[dict], start_ms: int = 0, end_ms: int = 2**62) -> dict:
    """{agent: counts} over answered ended calls that arrived in [start_ms, end_ms), from the
    per-call fields alone (agent, agent_name, ring_ms, talk_s, the tariffs, the bill)."""
    out: dict[str, dict] = {}
    for record in records:
        if record.get("outcome") != "answered" or not record.get("agent"):
            continue
        arrived = int(record["arrived_at"])
        if not start_ms <= arrived - arrived % 60_000 < end_ms:
            continue
        row = out.setdefault(
            record["agent"],
            {
                "names": set(),
                "answered": 0,
                "talk_s": 0,
                "ring_ms": [],
                "premium": 0,
                "premium_kept": 0,
                "billable_s": 0,
                "amount_cents": 0,
            },
        )
        row["names"].add(record.get("agent_name", ""))
        row["answered"] += 1
        row["talk_s"] += int(record["talk_s"])
        if "ring_ms" in record:
            row["ring_ms"].append(int(record["ring_ms"]))
        if record["decided_tariff"] == "premium":
            row["premium"] += 1
            row["premium_kept"] += record["tariff"] == "premium"
        row["billable_s"] += int(record["billable_s"])
        row["amount_cents"] += round(float(record["amount"]) * 100)
    return out


# ---- one shared data set per test session ------------------------------------------------


class Dataset:
    """A redis-server of its own holding the planned calls, driven once and then only read.

    Its own server (not the `redis_url` fixture's, which other tests flush) so the stats,
    exporter and Prometheus tests can share one set of real calls.
    """

    def __init__(self) -> None:
        import atexit
        import shutil
        import tempfile

        from sandbox.redis_server import RedisServer

        self.dir = Path(tempfile.mkdtemp(prefix="ph-ops-"))
        self.server = RedisServer().start()
        atexit.register(self.server.cleanup)
        atexit.register(shutil.rmtree, self.dir, True)
        self.client = self.server.client()
        self.now_ms = int(time.time() * 1000)
        self.timezone = noon_timezone(self.now_ms)
        self.config = write_ops_config(
            self.dir / "ph.conf", self.server.url, self.timezone, self.dir / "spool"
        )
        self.plans = make_plans(self.now_ms)
        drive_all(self.plans, self.config, self.client)
        self.records = call_records(self.client)

    def hand_count(self, start_ms: int = 0, end_ms: int = 2**62) -> dict:
        return hand_count(self.records, start_ms, end_ms)


_DATASET: Dataset | None = None


def dataset() -> Dataset:
    """The session's data set, driven on first use (about 10 s of real AGI runs)."""
    global _DATASET
    if _DATASET is None:
        _DATASET = Dataset()
    return _DATASET


# ---- the exporter as a process ------------------------------------------------------------


class Exporter(ServedCommand):
    """`premium-hotline exporter` on a free loopback port, as ops would run it."""

    def __init__(self, config: str, *args: str) -> None:
        super().__init__("exporter", config, *args)

    def scrape(self, timeout: float = 10) -> str:
        return self.get(timeout=timeout)[2].decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} from an exposition text, parsed by prometheus-client."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


# ---- a real Prometheus server ----------------------------------------------------------------


def prometheus_binary() -> str:
    """Debian's prometheus; installed by scripts/setup-prometheus (root, apt) when missing."""
    import shutil
    import subprocess

    found = shutil.which("prometheus")
    if found:
        return found
    result = subprocess.run([str(ROOT / "scripts" / "setup-prometheus")], capture_output=True, text=True)
    found = shutil.which("prometheus")
    if not found:
        raise RuntimeError(
            f"could not install Prometheus (scripts/setup-prometheus):\n{result.stderr[-2000:]}"
        )
    return found


class Prometheus:
    """A Prometheus on a free loopback port scraping one target every second, with its own
    throw-away storage, queried through its HTTP API."""

    def __init__(self, binary: str, target: str, workdir: Path) -> None:
        import subprocess
        import urllib.request

        from sandbox.redis_server import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
            "scrape_configs:\n"
            "  - job_name: premium-hotline\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        self.log = open(workdir / "prometheus.log", "w")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.base}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def query(self, expr: str) -> list[dict]:
        import json
        import urllib.parse
        import urllib.request

        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        if body["status"] != "success":
            raise AssertionError(body)
        return body["data"]["result"]

    def by_labels(self, expr: str, *labels: str) -> dict[tuple, float]:
        return {
            tuple(item["metric"].get(label, "") for label in labels): float(item["value"][1])
            for item in self.query(expr)
        }

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def wait_for(self, expr: str, timeout: float = 60) -> list[dict]:
        """Query until `expr` returns something (the first scrapes take a second or two)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.5)
