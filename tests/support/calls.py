"""Whole hotline calls (decide_tariff, maybe agent_answered, call_ended) through either transport.

`Transport` runs one route either as Asterisk runs a plain AGI script (a subprocess, via
agi_peer.run_script) or through a FastAGI server (agi_peer's twin, sandbox.fastagi.run_fastagi),
against the same ChannelModel, so a test can mix both in one run. `one_call` places a call whose
every moment is pinned (Asterisk's clock is the model's), so the same call placed twice leaves
the same Redis state: what the outage and hang-up tests compare.
"""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.agi_peer import ChannelModel, default_env, run_script
from sandbox.fastagi import run_fastagi

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPTS = ROOT / "agi_scripts"

# A fixed hour two hours ago, on a minute boundary: KPI minutes are deterministic.
T0 = (int(time.time() * 1000) // 60_000) * 60_000 - 7_200_000

# No agent ready: the decision needs no Redis read, so it is the same with or without an outage.
NOT_READY = {
    "QUEUE_MEMBER(support,ready)": "0",
    "QUEUE_MEMBER(support,logged)": "1",
    "QUEUE_WAITING_COUNT(support)": "0",
}
READY = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "2",
    "QUEUE_WAITING_COUNT(support)": "0",
}
NUMBERS = "[0899123456]\nqueue = support\nrate = 0.80/min\n"


class Transport:
    """`plain` (config path) or `fastagi` (server port): `run(route, env, channel, **faults)`."""

    def __init__(self, config: str, port: int | None = None) -> None:
        self.config = config
        self.port = port

    @property
    def name(self) -> str:
        return "plain" if self.port is None else "fastagi"

    def run(self, route: str, env: dict, channel: ChannelModel, **faults):
        if self.port is None:
            return run_script(str(SCRIPTS / f"{route}.py"), env, channel, config=self.config, **faults)
        return run_fastagi(self.port, route, env, channel, **faults)


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def call_channel(start_ms: int, functions: dict | None = None) -> tuple[ChannelModel, Clock]:
    clock = Clock(start_ms)
    channel = ChannelModel(
        variables={"PH_ARRIVED_MS": str(start_ms)}, functions=dict(functions or NOT_READY), clock_ms=clock
    )
    return channel, clock


def one_call(
    transport: Transport, index: int, *, uid_base: str = "1700000100", functions=None, t0: int = T0
) -> str:
    """Call `index`: arrives at t0 + 17 s * index; answered unless index % 3 == 0; 30 s of talk
    or of waiting before the hang-up. Returns the uniqueid."""
    start = t0 + index * 17_000
    uid = f"{uid_base}.{index}"
    channel, clock = call_channel(start, functions)
    _check(transport.run("decide_tariff", default_env(uniqueid=uid), channel), transport, uid, "decide")
    channel.variables["PH_QUEUED_MS"] = str(start + 500)
    if index % 3:
        clock.now = start + 4000 + index * 1000
        channel.functions["SHARED(PH_HUMAN_MS)"] = str(clock.now)
        env = default_env(uniqueid=uid, agi_request="agent_answered.py")
        _check(transport.run("agent_answered", env, channel), transport, uid, "answer")
    clock.now += 30_000
    channel.dead = True
    env = default_env(uniqueid=uid, agi_request="call_ended.py")
    _check(transport.run("call_ended", env, channel), transport, uid, "end")
    return uid


def _check(result, transport: Transport, uid: str, step: str) -> None:
    if result.returncode != 0:
        raise AssertionError(
            f"{transport.name} {step} {uid}: exit {result.returncode}: {result.stderr[-800:]}"
        )


def dump(client, *, skip=(":replayed:",)) -> dict:
    """Every key under ph: with its value; lists (the predictor's, live-only by design) left out.

    Stream entries become sorted (type, uniqueid) pairs without their IDs, each pair once. A pair
    may be in the stream twice in one case only, checked here: Redis applied a live write whose
    reply never came back (killed mid-pipeline), the batch was spooled, and the replay added its
    event again; that copy must carry `replayed=1`, and no pair may be there more than twice.
    """
    state = {}
    for key in sorted(client.scan_iter("ph:*", count=1000)):
        if any(part in key for part in skip):
            continue
        kind = client.type(key)
        if kind == "hash":
            state[key] = client.hgetall(key)
        elif kind == "set":
            state[key] = sorted(client.smembers(key))
        elif kind == "zset":
            state[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            seen: dict[tuple, list[str]] = {}
            for _, fields in client.xrange(key):
                seen.setdefault((fields["type"], fields["uniqueid"]), []).append(fields.get("replayed", ""))
            for pair, tags in seen.items():
                assert len(tags) <= 2 and (len(tags) == 1 or sorted(tags) == ["", "1"]), (pair, tags)
            state[key] = sorted(seen)
    return state


def wait_closed(client, uids, timeout_s: float = 10.0) -> None:
    """Until every call in `uids` has its outcome and its KPI guard entry (the writes settle)."""
    deadline = time.monotonic() + timeout_s
    missing = list(uids)
    while time.monotonic() < deadline:
        missing = [uid for uid in uids if not client.hget(f"ph:call:{{{uid}}}", "outcome")]
        if not missing:
            time.sleep(0.2)  # the last writes of the same calls (events, sets) land too
            return
        time.sleep(0.05)
    raise AssertionError(f"calls never closed: {missing}")
