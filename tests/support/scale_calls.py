"""Calls driven through the routes while Redis fails over, and what must hold afterwards.

A `CallRun` places numbered calls, each as Asterisk runs them: `decide_tariff`, then (for most)
`agent_answered`, then the `call_ended` hang-up handler, through the plain AGI scripts or a
FastAGI server (sandbox/agi_peer.py and sandbox/fastagi.py play Asterisk's side). The
call's moments are planned (its Asterisk clock is pinned), so its outcome is known in advance;
the decided tariff is what the channel got, Redis or no Redis. Every route's wall time is what
the caller waited.

After the run and a `premium-hotline replay`, `check` asserts that:
- every call has its closed record in Redis (nothing lost);
- the KPI minute counters, read as `stats` reads them, equal the count of the calls as driven
  (queue, decided tariff, outcome), and the sums equal a hand count from the per-call hashes;
- no route kept Asterisk waiting past `redis_timeout_ms` plus the AGI exchange itself.

`figures` gives the failover figures printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sandbox.agi_peer import ChannelModel, default_env, run_script
from sandbox.fastagi import FastAgiServerProcess, run_fastagi

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "ph:"

NUMBERS = {"0899123456": "support", "0899100200": "sales", "0805123456": "support"}
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
"""
FUNCTIONS = {
    f"QUEUE_MEMBER({queue},{what})": value
    for queue in ("support", "sales")
    for what, value in (("ready", "2"), ("logged", "3"))
}
FUNCTIONS.update({f"QUEUE_WAITING_COUNT({queue})": "0" for queue in ("support", "sales")})


def write_config(path: Path, redis_url: str, spool: Path, timeout_ms: int = 200) -> str:
    path.write_text(
        "\n".join(
            [
                "[general]",
                f"redis_url = {redis_url}",
                f"redis_timeout_ms = {timeout_ms}",
                f"spool_dir = {spool}",
                "caller_hash_key = test-key-0123456789abcdef",
                "holidays = none",
                "commitment_s = 60",
                "service_level_s = 20",
                "short_abandon_s = 5",
                "timezone = UTC",
                "log_level = warning",
            ]
        )
        + "\n"
        + CONFIG_NUMBERS
    )
    return str(path)


class RouteRun:
    __slots__ = ("elapsed_s", "ok", "route", "started")

    def __init__(self, route: str, started: float, elapsed_s: float, ok: bool) -> None:
        self.route = route
        self.started = started  # time.monotonic() at the start
        self.elapsed_s = elapsed_s  # what Asterisk waited
        self.ok = ok  # the AGI exchange completed (AGISTATUS=SUCCESS)


class PlacedCall:
    def __init__(self, index: int, uid: str, number: str, arrived: int) -> None:
        self.index = index
        self.uid = uid
        self.number = number
        self.queue = NUMBERS[number]
        self.arrived = arrived
        self.kind = ("abandoned", "answered", "answered", "short")[index % 4]
        self.decided = ""
        self.reason = ""
        self.outcome = ""
        self.runs: list[RouteRun] = []

    @property
    def started(self) -> float:
        return self.runs[0].started if self.runs else 0.0


def fastagi_transport(ports):
    """Run a route on the first FastAGI server of `ports` that takes it, as the dialplan's
    PH_AGI_BASE then PH_AGI_FALLBACK would (a refused connection is AGISTATUS=FAILURE)."""

    def run(route: str, env: dict, channel: ChannelModel):
        result = None
        for port in ports() if callable(ports) else ports:
            try:
                result = run_fastagi(port, route, env, channel, timeout_s=10)
            except OSError:
                continue
            if result.returncode == 0:
                return result
        return result

    return run


def plain_transport(config: str):
    scripts = ROOT / "agi_scripts"

    def run(route: str, env: dict, channel: ChannelModel):
        return run_script(str(scripts / f"{route}.py"), env, channel, config=config)

    return run


class CallRun:
    """Numbered calls, placed back to back by a few workers, until told to stop."""

    def __init__(
        self, transport, *, base_ms: int, uid_prefix: str, workers: int = 4, pace_s: float = 0.0
    ) -> None:
        self.transport = transport
        self.pace_s = pace_s  # pause between two calls of one worker
        self.base_ms = base_ms
        self.uid_prefix = uid_prefix
        self.workers = workers
        self.calls: list[PlacedCall] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next = 0
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list = []
        self.events: dict[str, float] = {}  # name -> time.monotonic()

    def _take(self) -> PlacedCall:
        with self._lock:
            index = self._next
            self._next += 1
            number = list(NUMBERS)[index % len(NUMBERS)]
            # Arrivals 100 ms apart on the Asterisk clock: a few KPI minutes, a known window.
            call = PlacedCall(index, f"{self.uid_prefix}.{index}", number, self.base_ms + index * 100)
            self.calls.append(call)
            return call

    def _route(self, call: PlacedCall, route: str, env: dict, channel: ChannelModel) -> bool:
        started = time.monotonic()
        result = self.transport(route, env, channel)
        ok = result is not None and result.returncode == 0
        call.runs.append(RouteRun(route, started, time.monotonic() - started, ok))
        return ok

    def place(self, call: PlacedCall) -> None:
        arrived = call.arrived
        queued = arrived + 500
        human = arrived + 8_000 if call.kind == "answered" else None
        ended = arrived + {"answered": 48_000, "abandoned": 30_000, "short": 2_000}[call.kind]
        clock = {"ms": arrived}
        channel = ChannelModel(
            variables={"PH_ARRIVED_MS": str(arrived)}, functions=dict(FUNCTIONS), clock_ms=lambda: clock["ms"]
        )
        env = default_env(call.uid, call.number)
        if not self._route(call, "decide_tariff", env, channel) or not channel.variables.get("PH_TARIFF"):
            # The dialplan's own fallback when no AGI could decide.
            channel.variables.update(PH_TARIFF="free", PH_DECIDED="free", PH_REASON="agi_failure")
        call.decided = channel.variables.get("PH_DECIDED") or channel.variables["PH_TARIFF"]
        call.reason = channel.variables.get("PH_REASON", "")
        if call.kind != "short":
            channel.variables["PH_QUEUED_MS"] = str(queued)
        if human is not None:
            channel.functions["SHARED(PH_HUMAN_MS)"] = str(human)
            channel.variables["MEMBERINTERFACE"] = "Local/agent1@agents/n"
            clock["ms"] = human + 40
            self._route(call, "agent_answered", default_env(call.uid, call.number), channel)
        clock["ms"] = ended
        channel.dead = True
        self._route(call, "call_ended", default_env(call.uid, call.number), channel)
        call.outcome = channel.variables.get("PH_OUTCOME", "")

    def _worker(self) -> None:
        while not self._stop.is_set():
            self.place(self._take())
            if self.pace_s:
                self._stop.wait(self.pace_s)

    def start(self) -> CallRun:
        self.events["start"] = time.monotonic()
        self._pool = ThreadPoolExecutor(self.workers)
        self._futures = [self._pool.submit(self._worker) for _ in range(self.workers)]
        return self

    def mark(self, name: str) -> None:
        self.events[name] = time.monotonic()

    def completed_since(self, name: str) -> int:
        at = self.events[name]
        with self._lock:
            calls = list(self.calls)
        return sum(1 for call in calls if call.started > at and call.outcome)

    def wait_calls_after(self, name: str, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.completed_since(name) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} calls completed after {name}")
            for future in self._futures:
                if future.done():
                    future.result()  # a worker died: show why
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()
        self.events["stop"] = time.monotonic()


# ---- after the run ----------------------------------------------------------------------------


def spooled(spool_dir: Path) -> list[dict]:
    """Every batch waiting in the spool (live file and files a replay left), oldest first."""
    out = []
    if not spool_dir.exists():
        return out
    for path in sorted(spool_dir.iterdir()):
        if path.suffix == ".jsonl":
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def replay(config: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "premium_hotline.cli", "replay", "--config", config],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )


def wait_settled(client, calls: list[PlacedCall], spool_dir: Path, timeout_s: float = 20) -> None:
    """Until every call is closed in Redis or its hang-up batch is in the spool: the plain
    scripts write from a detached child after Asterisk has been released."""
    deadline = time.monotonic() + timeout_s
    while True:
        spool_uids = {(b["uniqueid"], b["route"]) for b in spooled(spool_dir)}
        pipe = client.pipeline(transaction=False)
        for call in calls:
            pipe.hget(f"{PREFIX}call:{{{call.uid}}}", "outcome")
        outcomes = pipe.execute()
        missing = [
            call.uid
            for call, outcome in zip(calls, outcomes, strict=True)
            if not outcome and (call.uid, "call_ended") not in spool_uids
        ]
        if not missing:
            time.sleep(0.3)  # the KPI script rides in the same pipeline as the hash
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(missing)} calls neither closed nor spooled: {missing[:5]}")
        time.sleep(0.1)


def figures(run: CallRun, batches: list[dict], event: str) -> dict:
    """Failover figures: how long calls were affected after `event`, how many, how many spooled."""
    at = run.events[event]
    wall_at = time.time() - (time.monotonic() - at)
    failed_decisions = [c for c in run.calls if c.reason in ("store_unavailable", "agi_failure")]
    spooled_uids = {b["uniqueid"] for b in batches}
    affected = {c.uid for c in failed_decisions} | spooled_uids
    last_failure = max(
        [b["t"] / 1000 - wall_at for b in batches]
        + [c.runs[0].started + c.runs[0].elapsed_s - at for c in failed_decisions],
        default=0.0,
    )
    waits = [r.elapsed_s for c in run.calls for r in c.runs]
    return {
        "calls": len(run.calls),
        "calls_affected": len(affected),
        "calls_spooled": len(spooled_uids),
        "batches_spooled": len(batches),
        "fail_tariff_decisions": len(failed_decisions),
        "recovered_after_s": round(max(0.0, last_failure), 2),
        "longest_agi_wait_ms": round(max(waits, default=0) * 1000, 1),
        "run_s": round(run.events["stop"] - run.events["start"], 1),
    }


def expected_counts(calls: list[PlacedCall]) -> dict[tuple[str, str], dict[str, int]]:
    """{(queue, decided tariff): {counter: n}} for the calls as driven."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for call in calls:
        row = out.setdefault((call.queue, call.decided), {})
        outcome = call.outcome
        row[outcome] = row.get(outcome, 0) + 1
        if outcome != "short_abandon":
            row["offered"] = row.get("offered", 0) + 1
    return out


def check(client, calls: list[PlacedCall], *, timeout_ms: int, agi_overhead_s: float) -> None:
    """Nothing lost, KPIs exact, nobody waited past the timeout (plus the exchange itself)."""
    check_waits(calls, timeout_ms=timeout_ms, agi_overhead_s=agi_overhead_s)
    check_records_and_kpis(client, calls)


def check_waits(calls: list[PlacedCall], *, timeout_ms: int, agi_overhead_s: float) -> None:
    """No route kept Asterisk waiting longer than `redis_timeout_ms` plus the AGI exchange
    (and, for a plain script, its Python start-up)."""
    slow = [(c.uid, r.route, round(r.elapsed_s * 1000)) for c in calls for r in c.runs]
    slow = [s for s in slow if s[2] > timeout_ms + agi_overhead_s * 1000]
    assert not slow, f"routes that kept Asterisk waiting past the timeout: {slow[:10]}"


def check_records_and_kpis(client, calls: list[PlacedCall]) -> None:
    """Every call closed in Redis as driven, and the KPI minutes equal to the calls: all the
    calls that arrived in those minutes must be given, whatever the transport."""
    from premium_hotline.ops.reader import read_window
    from premium_hotline.ops.window import Window
    from premium_hotline.store.keys import Keys
    from tests.support.ops_calls import hand_count

    assert calls, "no call was placed"
    assert all(c.outcome for c in calls), [c.uid for c in calls if not c.outcome][:10]
    pipe = client.pipeline(transaction=False)
    for call in calls:
        pipe.hgetall(f"{PREFIX}call:{{{call.uid}}}")
    records = pipe.execute()
    lost = [c.uid for c, r in zip(calls, records, strict=True) if r.get("outcome") != c.outcome]
    assert not lost, f"calls without their closed record after the replay: {lost[:10]}"
    wrong = [
        (c.uid, c.decided, r.get("decided_tariff"))
        for c, r in zip(calls, records, strict=True)
        if r.get("decided_tariff") != c.decided
    ]
    assert not wrong, f"decided tariff in Redis differs from the channel's: {wrong[:10]}"

    window = Window(min(c.arrived for c in calls), max(c.arrived for c in calls) + 60_000)
    totals = read_window(client, Keys(PREFIX), ["support", "sales"], window)
    got = {
        (queue, tariff): {k: v for k, v in tally.counts.items() if v}
        for queue, by_tariff in totals.items()
        for tariff, tally in by_tariff.items()
    }
    for key, counts in expected_counts(calls).items():
        row = got.get(key, {})
        for name, value in counts.items():
            assert row.get(name, 0) == value, f"{key} {name}: KPI {row.get(name, 0)}, calls {value}"
    hand = hand_count(records, window.start_ms, window.end_ms)
    for (queue, tariff), row in hand.items():
        counts = got.get((queue, tariff), {})
        assert counts.get("tth_sum_ms", 0) == sum(row["tth"]), (queue, tariff)
        assert counts.get("inq_sum_ms", 0) == row["in_queue_ms"], (queue, tariff)
        assert counts.get("billable_s", 0) == row["billable_s"], (queue, tariff)
        assert counts.get("amount_cents", 0) == row["amount_cents"], (queue, tariff)
        assert counts.get("breached", 0) == row["breached"], (queue, tariff)


def through_failover(
    url: str,
    client,
    tmp_path: Path,
    record_figures,
    *,
    failover,
    recovered,
    base_ms: int,
    timeout_ms: int = 200,
) -> None:
    """Calls through a FastAGI server and through plain scripts at once, `failover()` in the
    middle; once `recovered()` returns and a few more calls went through, replay the spool and
    check that nothing was lost, the KPIs are exact and nobody waited past the timeout.

    `client()` gives a redis-py client for the checks (RedisCluster, or the sentinels' master).
    """
    spool = tmp_path / "spool"
    config = write_config(tmp_path / "ph.conf", url, spool, timeout_ms)
    # The server's own background replay is off here, so the figures can count what was
    # spooled; `premium-hotline replay` then sends it (test_scale_cluster tests the former).
    server = FastAgiServerProcess(config, "--replay-every", "0").start()
    runs = {
        "fastagi": CallRun(
            fastagi_transport([server.port]), base_ms=base_ms, uid_prefix="1790000300", workers=3, pace_s=0.02
        ),
        "plain": CallRun(plain_transport(config), base_ms=base_ms, uid_prefix="1790000301", workers=2),
    }
    try:
        for run in runs.values():
            run.start()
        for run in runs.values():
            run.wait_calls_after("start", 5)
        for run in runs.values():
            run.mark("failover")
        failover()
        recovered()
        for run in runs.values():
            run.mark("recovered")
        for run in runs.values():
            run.wait_calls_after("recovered", 8)
    finally:
        for run in runs.values():
            run.stop()
        stopped = server.stop()
    assert stopped == 0, server.stderr[-2000:]
    calls = [call for run in runs.values() for call in run.calls]
    with client() as redis:
        wait_settled(redis, calls, spool)
        batches = spooled(spool)
        for name, run in runs.items():
            mine = {c.uid for c in run.calls}
            record_figures(
                {"transport": name, **figures(run, [b for b in batches if b["uniqueid"] in mine], "failover")}
            )
        replayed = replay(config)
        assert replayed.returncode == 0, replayed.stderr + replayed.stdout
        assert spooled(spool) == []
        for name, run in runs.items():
            # The FastAGI bound is the one that shows redis_timeout_ms; a plain route also pays a
            # Python start-up, several hundred ms on a 2-core CI box running all of this at once.
            overhead = 0.3 if name.startswith("fastagi") else 2.0
            check_waits(run.calls, timeout_ms=timeout_ms, agi_overhead_s=overhead)
        check_records_and_kpis(redis, calls)
