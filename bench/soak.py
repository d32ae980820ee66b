"""A bounded soak through the FastAGI server: steady calls, stalled clients, Redis hung and restarted.

    .venv/bin/python -m bench.soak                 # 60 s, 25 calls/s (what CI runs)
    .venv/bin/python -m bench.soak --seconds 180   # longer; --rate, --stalled, --json

Everything runs on 127.0.0.1 and stops by itself: a redis-server started here (AOF, fsync every
second), `premium-hotline serve` (its spool replayed in the background), and this process as
Asterisk, placing whole calls at a fixed arrival rate: decide_tariff (an agent is ready, so it
reads Redis), agent_answered for two calls in three, call_ended. Meanwhile `--stalled` clients
send their environment and never answer, and one sends nothing at all; each is reopened as soon
as the server cuts it. At 40 % of the run Redis is frozen (SIGSTOP) for 1.5 s: every read and
write times out; at 60 % it is stopped and started again 2 s later: every connection fails.

Checked, and printed: no AGI connection held past `redis_timeout_ms` plus a margin (the caller
never waits on Redis), stalled clients cut at `agi_timeout_ms`, every call of the run closed in
Redis at the end (the outage's writes spooled and replayed: nothing lost), the server's RSS and
open file descriptors flat (start of the steady state against the end), Redis memory bounded:
`ph:events` trimmed to about `events_maxlen`, every key but two with a TTL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from premium_hotline.store.spool_replay import has_work  # noqa: E402
from sandbox.redis_server import RedisServer, free_port  # noqa: E402

REDIS_TIMEOUT_MS = 200
AGI_TIMEOUT_MS = 1000
EVENTS_MAXLEN = 1000  # the smallest the config takes: the soak writes several times that
LATENCY_MARGIN_MS = 600  # scheduling on a shared 2-core machine, on top of the Redis deadline
RSS_GROWTH_LIMIT_KB = 12_000
FD_GROWTH_LIMIT = 4
READY = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "3",
    "QUEUE_WAITING_COUNT(support)": "0",
}


def env_block(route: str, uid: str) -> bytes:
    lines = {
        "agi_network": "yes",
        "agi_network_script": route,
        "agi_request": f"agi://127.0.0.1/{route}",
        "agi_channel": "Local/100@hotline-00000001;2",
        "agi_uniqueid": uid,
        "agi_callerid": "0612345678",
        "agi_calleridname": "Soak Caller",
        "agi_context": "premium-hotline",
        "agi_extension": "0899123456",
        "agi_priority": "2",
        "agi_arg_1": "0899123456",
    }
    return "".join(f"{k}: {v}\n" for k, v in lines.items()).encode() + b"\n"


def _unquote(text: str) -> str:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text.replace('\\"', '"').replace("\\\\", "\\")


class Figures:
    def __init__(self) -> None:
        self.latency_ms: dict[str, list[float]] = {
            "decide_tariff": [],
            "agent_answered": [],
            "call_ended": [],
        }
        self.calls = 0
        self.errors = 0
        self.first_error = ""
        self.stalled_cut_s: list[float] = []
        self.silent_cut_s: list[float] = []
        self.tariffs: dict[str, int] = {}
        self.samples: list[dict] = []


async def route(port: int, name: str, uid: str, channel: dict, figures: Figures) -> None:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(env_block(name, uid))
        while True:
            line = await reader.readline()
            if not line:
                break
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text.startswith("GET FULL VARIABLE "):
                values = []
                for part in _unquote(text[18:]).split("|"):
                    key = part[2:-1] if part.startswith("${") else part
                    if key == "STRFTIME(,,%s%3q)":
                        values.append(str(int(time.time() * 1000)))
                    else:
                        values.append(channel.get(key, ""))
                writer.write(f"200 result=1 ({'|'.join(values)})\n".encode())
            elif text.startswith("SET VARIABLE "):
                rest = text[13:]
                name_part, _, value = rest.partition('" "')
                channel[_unquote(name_part + '"')] = _unquote('"' + value)
                writer.write(b"200 result=1\n")
            else:
                writer.write(b"510 Invalid or unknown command\n")
        figures.latency_ms[name].append((time.perf_counter() - start) * 1000)
        writer.write(b"HANGUP\n")
    finally:
        writer.close()


async def one_call(port: int, index: int, figures: Figures, base: str = "1790000000") -> None:
    uid = f"{base}.{index}"
    channel = dict(READY)
    try:
        await route(port, "decide_tariff", uid, channel, figures)
        tariff = channel.get("PH_TARIFF", "?") + "/" + channel.get("PH_REASON", "?")
        figures.tariffs[tariff] = figures.tariffs.get(tariff, 0) + 1
        channel["PH_QUEUED_MS"] = str(int(time.time() * 1000))
        if index % 3:
            channel["SHARED(PH_HUMAN_MS)"] = str(int(time.time() * 1000))
            await route(port, "agent_answered", uid, channel, figures)
        await route(port, "call_ended", uid, channel, figures)
        figures.calls += 1
    except Exception as exc:
        figures.errors += 1
        figures.first_error = figures.first_error or f"{type(exc).__name__}: {exc}"


async def stalled_client(port: int, index: int, silent: bool, stop: asyncio.Event, figures: Figures) -> None:
    """Connects, sends its environment (or nothing), never answers; reconnects once cut."""
    n = 0
    while not stop.is_set():
        n += 1
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        start = time.perf_counter()
        if not silent:
            writer.write(env_block("decide_tariff", f"stalled.{index}.{n}"))
        try:
            while await reader.read(4096):  # the GET it will never answer, then the close
                pass
        except OSError:
            pass
        (figures.silent_cut_s if silent else figures.stalled_cut_s).append(time.perf_counter() - start)
        writer.close()


def proc_figures(pid: int) -> tuple[int, int]:
    """(RSS in kB, open file descriptors) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def redis_figures(redis: RedisServer) -> dict:
    try:
        client = redis.client()
        info = client.info("memory")
        figures = {
            "used_memory": info["used_memory"],
            "events": client.xlen("ph:events"),
            "keys": client.dbsize(),
        }
        client.close()
        return figures
    except Exception:
        return {"used_memory": None, "events": None, "keys": None}


async def drive(
    port: int, server_pid: int, redis: RedisServer, seconds: float, rate: float, stalled: int
) -> Figures:
    figures = Figures()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    clients = [asyncio.ensure_future(stalled_client(port, i, False, stop, figures)) for i in range(stalled)]
    clients.append(asyncio.ensure_future(stalled_client(port, stalled, True, stop, figures)))
    total = int(seconds * rate)
    t0 = loop.time() + 0.05
    calls = []
    frozen_at, restart_at = 0.4 * total, 0.6 * total
    next_sample = 0.0
    for i in range(total):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if i == int(frozen_at):
            os.kill(redis.process.pid, signal.SIGSTOP)
            loop.call_later(1.5, os.kill, redis.process.pid, signal.SIGCONT)
        if i == int(restart_at):
            loop.run_in_executor(None, _restart, redis)
        calls.append(asyncio.ensure_future(one_call(port, i, figures)))
        now = loop.time() - t0
        if now >= next_sample:
            next_sample = now + 1.0
            rss, fds = proc_figures(server_pid)
            figures.samples.append(
                {
                    "t": round(now, 1),
                    "rss_kb": rss,
                    "fds": fds,
                    "in_flight": len([c for c in calls if not c.done()]),
                }
            )
        calls = [c for c in calls if not c.done()] if len(calls) > 500 else calls
    await asyncio.gather(*calls)
    stop.set()
    await asyncio.sleep(AGI_TIMEOUT_MS / 1000 + 0.5)  # the stalled clients get cut one last time
    for client in clients:
        client.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    return figures


def _restart(redis: RedisServer) -> None:
    redis.stop()  # SIGTERM: Redis writes its AOF and exits
    time.sleep(2.0)
    redis.start()


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def idle_fds(pid: int, settle_s: float = 1.0) -> int:
    """The server's descriptors once nothing is in flight (the lowest of a few samples)."""
    lowest = None
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        fds = proc_figures(pid)[1]
        lowest = fds if lowest is None else min(lowest, fds)
        time.sleep(0.1)
    return lowest


def run_soak(seconds: float = 60.0, rate: float = 25.0, stalled: int = 4, workdir: str | None = None) -> dict:
    """The whole soak; returns its figures with `problems` (empty when every check held)."""
    workdir = workdir or tempfile.mkdtemp(prefix="ph-soak-")
    redis = RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "everysec"]).start()
    config = Path(workdir) / "premium-hotline.conf"
    config.write_text(
        "[general]\n"
        f"redis_url = {redis.url}\n"
        f"redis_timeout_ms = {REDIS_TIMEOUT_MS}\n"
        f"agi_timeout_ms = {AGI_TIMEOUT_MS}\n"
        f"events_maxlen = {EVENTS_MAXLEN}\n"
        f"spool_dir = {workdir}/spool\n"
        "caller_hash_key = soak-key-0123456789abcdef\n"
        "log_level = warning\n"
        f"log_file = {workdir}/server.log\n"
        "\n[0899123456]\nqueue = support\nrate = 0.80/min\n"
    )
    port = free_port()
    server_err = open(Path(workdir) / "server.stderr", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "premium_hotline.cli", "serve", "--config", str(config), "--port", str(port),
         "--replay-every", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=server_err, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    problems: list[str] = []
    try:
        from sandbox.fastagi import wait_port

        wait_port(port, process=server)
        # Warm-up: a few calls so the pool, the imports and the allocator reach their steady state.
        warm = Figures()
        asyncio.run(_warm(port, warm))
        fds_start = idle_fds(server.pid)
        rss_start = proc_figures(server.pid)[0]
        redis_start = redis_figures(redis)
        started = time.monotonic()
        figures = asyncio.run(drive(port, server.pid, redis, seconds, rate, stalled))
        driven_s = time.monotonic() - started
        # The outage's writes: replayed by the server in the background (backoff at most 60 s).
        deadline = time.monotonic() + 90
        while has_work(f"{workdir}/spool") and time.monotonic() < deadline:
            time.sleep(0.5)
        spool_left = has_work(f"{workdir}/spool")
        fds_end = idle_fds(server.pid)
        rss_end = proc_figures(server.pid)[0]
        rss_steady = figures.samples[len(figures.samples) // 5]["rss_kb"] if figures.samples else rss_start
        redis_end = redis_figures(redis)
        client = redis.client()
        closed = 0
        no_ttl = []
        for key in client.scan_iter("ph:*", count=2000):
            if key.startswith("ph:call:{1790000000.") and client.hexists(key, "outcome"):
                closed += 1
            if client.ttl(key) < 0 and key not in ("ph:events", "ph:queues"):
                no_ttl.append(key)
        client.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            problems.append("the server did not stop within 30 s of SIGTERM")
        server_err.close()
        redis.cleanup()
    all_latency = [v for values in figures.latency_ms.values() for v in values]
    result = {
        "seconds": round(driven_s, 1),
        "rate_per_s": rate,
        "calls_placed": int(seconds * rate),
        "calls_completed": figures.calls,
        "agi_connections": len(all_latency),
        "errors": figures.errors,
        "first_error": figures.first_error,
        "tariffs": figures.tariffs,
        "latency_ms": {
            name: {
                "p50": round(pct(v, 50), 1),
                "p99": round(pct(v, 99), 1),
                "max": round(max(v, default=0), 1),
            }
            for name, v in figures.latency_ms.items()
        },
        "stalled_cuts": len(figures.stalled_cut_s),
        "stalled_cut_s": {
            "min": round(min(figures.stalled_cut_s, default=0), 2),
            "max": round(max(figures.stalled_cut_s, default=0), 2),
        },
        "silent_cut_s_max": round(max(figures.silent_cut_s, default=0), 2),
        "server_rss_kb": {"start": rss_start, "steady": rss_steady, "end": rss_end},
        "server_fds_idle": {"start": fds_start, "end": fds_end},
        "redis": {"start": redis_start, "end": redis_end},
        "calls_closed_in_redis": closed,
        "keys_without_ttl": no_ttl[:5],
        "spool_left": spool_left,
        "server_exit": server.returncode,
    }
    limit_ms = REDIS_TIMEOUT_MS + LATENCY_MARGIN_MS
    if figures.errors:
        problems.append(f"{figures.errors} calls failed ({figures.first_error})")
    if max(all_latency, default=0) > limit_ms:
        problems.append(f"an AGI connection lasted {max(all_latency):.0f} ms > {limit_ms} ms")
    if figures.stalled_cut_s and max(figures.stalled_cut_s) > AGI_TIMEOUT_MS / 1000 + 1.0:
        problems.append(f"a stalled client was held {max(figures.stalled_cut_s):.1f} s")
    if not figures.stalled_cut_s:
        problems.append("no stalled client was ever cut")
    if closed != figures.calls or figures.calls != int(seconds * rate):
        problems.append(
            f"{figures.calls} calls completed, {closed} closed in Redis, {int(seconds * rate)} placed"
        )
    if spool_left:
        problems.append("the spool was not replayed")
    if rss_end - rss_steady > RSS_GROWTH_LIMIT_KB:
        problems.append(f"server RSS grew {rss_end - rss_steady} kB during the steady state")
    if fds_end - fds_start > FD_GROWTH_LIMIT:
        problems.append(f"server fds grew from {fds_start} to {fds_end}")
    if (redis_end["events"] or 0) > EVENTS_MAXLEN + 200:
        problems.append(f"ph:events holds {redis_end['events']} entries (MAXLEN ~{EVENTS_MAXLEN})")
    if no_ttl:
        problems.append(f"keys without a TTL: {no_ttl[:5]}")
    if server.returncode != 0:
        problems.append(f"the server exited with {server.returncode}")
    result["problems"] = problems
    return result


async def _warm(port: int, figures: Figures) -> None:
    await asyncio.gather(*(one_call(port, i, figures, base="1790000001") for i in range(40)))


def report(result: dict) -> str:
    r = result
    lat, rss, fds, cut = r["latency_ms"], r["server_rss_kb"], r["server_fds_idle"], r["stalled_cut_s"]
    start, end = r["redis"]["start"], r["redis"]["end"]
    lines = [
        f"soak: {r['seconds']} s at {r['rate_per_s']} calls/s; Redis frozen 1.5 s at 40 %, restarted at 60 %",
        f"  calls placed {r['calls_placed']}, completed {r['calls_completed']}, errors {r['errors']}, "
        f"closed in Redis after the replay {r['calls_closed_in_redis']}, spool left: {r['spool_left']}",
        f"  tariffs: {r['tariffs']}",
        "  AGI connection (the caller's silence), ms: "
        + "; ".join(f"{name} p50 {v['p50']} p99 {v['p99']} max {v['max']}" for name, v in lat.items()),
        f"  stalled clients cut {r['stalled_cuts']} times, after {cut['min']}-{cut['max']} s; "
        f"the silent one after at most {r['silent_cut_s_max']} s",
        f"  server RSS kB: start {rss['start']}, steady {rss['steady']}, end {rss['end']}; "
        f"open fds at idle: {fds['start']} -> {fds['end']}",
        f"  redis: used_memory {start['used_memory']} -> {end['used_memory']} bytes, keys {end['keys']}, "
        f"ph:events {end['events']} (MAXLEN ~{EVENTS_MAXLEN}), "
        f"other keys without TTL: {len(r['keys_without_ttl'])}",
        "  " + ("OK" if not r["problems"] else "PROBLEMS: " + "; ".join(r["problems"])),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady load (60)")
    parser.add_argument(
        "--rate", type=float, default=25.0, help="calls per second (25; each is 2-3 AGI sessions)"
    )
    parser.add_argument("--stalled", type=int, default=4, help="stalled clients, reopened as soon as cut (4)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    result = run_soak(args.seconds, args.rate, args.stalled)
    print(json.dumps(result) if args.json else report(result))
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
