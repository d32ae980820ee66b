"""Redis cost per call: round trips, commands, and bytes of memory per call record.

Full calls (decide_tariff, agent_answered, call_ended, as Asterisk runs them on one channel)
go through `premium-hotline serve`, whose pooled connections make redis-server's own counters
exact: `total_reads_processed` counts request reads, one per pipeline (round trip), and
`total_commands_processed` the commands. Memory is `used_memory` after the calls, minus before,
once "the TTL has settled": the keys that expire within a day (the predictor's lists, the
waiting set) are deleted, as time would delete them, leaving what stays for record_ttl_days: the
call hash, the KPI minute and its counted set, and the event stream, which is capped at
events_maxlen entries so its share per call ends when the cap is reached.
"""

from __future__ import annotations

import time

from sandbox.agi_peer import ChannelModel, default_env
from sandbox.fastagi import FastAgiServerProcess, run_fastagi

READY = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "3",
    "QUEUE_WAITING_COUNT(support)": "0",
}


def full_call(port: int, uid: str, t0: int, waits: dict | None = None) -> None:
    """One call's three routes on one channel; `waits[route]` gets how long Asterisk waited."""
    clock = {"now": t0}
    channel = ChannelModel(functions=READY, clock_ms=lambda: clock["now"])
    steps = [
        ("decide_tariff", {}, t0),
        (
            "agent_answered",
            {"PH_QUEUED_MS": str(t0 + 12_000), "MEMBERINTERFACE": "Local/agent1@agents/n"},
            t0 + 30_000,
        ),
        ("call_ended", {"QUEUESTATUS": ""}, t0 + 150_000),
    ]
    for route, variables, now in steps:
        channel.variables.update(variables)
        clock["now"] = now
        channel.dead = route == "call_ended"
        result = run_fastagi(port, route, default_env(uniqueid=uid, agi_request=route), channel)
        if waits is not None:
            waits.setdefault(route, []).append(result.elapsed_s * 1000)


def _key_bytes(client) -> int:
    return sum(client.memory_usage(key, samples=0) or 0 for key in client.scan_iter(count=5000))


def _stats(client) -> dict:
    info = client.info("stats")
    return {k: int(info[k]) for k in ("total_reads_processed", "total_commands_processed")}


def run(redis, config: str, calls: int) -> list[str]:
    client = redis.client()
    client.flushall()
    # One call a minute (2 erlangs for the 3 agents the channel reports): a small hotline's pace,
    # in the past so that every call's Asterisk clock is believed.
    spacing_ms = 60_000
    t0 = (int(time.time() * 1000) // 60_000) * 60_000 - (calls + 10) * spacing_ms
    with FastAgiServerProcess(config) as server:
        full_call(server.port, "warm.0", t0)  # pools open, queues set and stream created
        time.sleep(0.2)
        base_mem = _key_bytes(client)
        before = _stats(client)
        waits: dict[str, list[float]] = {}
        for i in range(calls):
            full_call(server.port, f"1700000000.{i}", t0 + (i + 1) * spacing_ms, waits)
        time.sleep(0.3)
        after = _stats(client)
        # One decide alone, for its own count.
        single0 = _stats(client)
        channel = ChannelModel(functions=READY, clock_ms=lambda: t0)
        run_fastagi(server.port, "decide_tariff", default_env(uniqueid="single.0"), channel)
        time.sleep(0.2)
        single1 = _stats(client)
    # The stats calls themselves are one read and one command each.
    trips = (after["total_reads_processed"] - before["total_reads_processed"] - 1) / calls
    commands = (after["total_commands_processed"] - before["total_commands_processed"] - 1) / calls
    decide_trips = single1["total_reads_processed"] - single0["total_reads_processed"] - 1
    decide_cmds = single1["total_commands_processed"] - single0["total_commands_processed"] - 1
    client.delete("ph:call:{single.0}")
    live_mem = _key_bytes(client)
    expiring = [key for key in client.scan_iter(count=5000) if 0 <= client.ttl(key) <= 86_400]
    if expiring:
        client.delete(*expiring)
    settled = _key_bytes(client)
    call_hash = [
        client.memory_usage(f"ph:call:{{1700000000.{i}}}") or 0 for i in range(0, calls, max(1, calls // 50))
    ]
    stream = client.memory_usage("ph:events", samples=0) or 0
    stream_len = client.xlen("ph:events")
    client.close()
    hash_avg = sum(call_hash) / len(call_hash)
    per_entry = stream / stream_len if stream_len else 0
    return [
        f"Redis cost, {calls} full calls (decide_tariff + agent_answered + call_ended) through the server",
        "",
        f"round trips per full call   {trips:6.2f}   (decide_tariff alone: {decide_trips}, "
        f"with {decide_cmds} commands)",
        f"commands per full call      {commands:6.2f}",
        f"memory per call, live       {(live_mem - base_mem) / calls:8.0f} B  (every key, before any TTL)",
        f"memory per call, settled    {(settled - base_mem) / calls:8.0f} B  (kept for record_ttl_days)",
        f"  of which the call hash    {hash_avg:8.0f} B  (MEMORY USAGE, mean)",
        f"  event stream per entry    {per_entry:8.0f} B  x3 per call, until events_maxlen entries",
        f"memory per call, stream full{(settled - base_mem) / calls - 3 * per_entry:7.0f} B  "
        "(past events_maxlen: the stream no longer grows)",
        f"expiring keys deleted       {len(expiring)}",
        "",
        "what Asterisk waits per route through the server (one call at a time, the test client's "
        "Python included):",
        *(
            f"  {route:15s} p50 {_pct(ms, 50):5.2f} ms  p99 {_pct(ms, 99):5.2f} ms"
            for route, ms in waits.items()
        ),
    ]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]
