"""The load driver: Asterisk's side of full FastAGI calls, at a fixed arrival rate or flat out.

Each call is what res_agi.c does for `AGI(agi://127.0.0.1:PORT/decide_tariff,0899123456)`:
connect, send the `agi_network*` lines and the `agi_*` block, answer every command line
(GET FULL VARIABLE from a table of channel values, SET VARIABLE with `200 result=1`), and when
the server closes the connection (the moment the dialplan would continue) send the closing
`HANGUP`. A call's latency is connect to close: the silence the caller hears.

The answers are computed cheaply (no regex, no argument parser) because the driver shares the
machine's two cores with the server it measures and with redis-server.

Run as a process: `python -m bench.driver --port P --mode flat|rate ...`; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

NUMBER = "0899123456"
ENV_TEMPLATE = (
    "agi_network: yes\n"
    "agi_network_script: decide_tariff\n"
    "agi_request: agi://127.0.0.1/decide_tariff\n"
    "agi_channel: Local/100@hotline-00000001;2\n"
    "agi_language: en\n"
    "agi_type: Local\n"
    "agi_uniqueid: {uid}\n"
    "agi_version: 22.0.0\n"
    "agi_callerid: 0612345678\n"
    "agi_calleridname: Jean Dupont\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: unknown\n"
    "agi_rdnis: unknown\n"
    "agi_context: premium-hotline\n"
    f"agi_extension: {NUMBER}\n"
    "agi_priority: 2\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 1\n"
    f"agi_arg_1: {NUMBER}\n"
    "\n"
)

CHANNEL = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "3",
    "QUEUE_WAITING_COUNT(support)": "0",
}


def answer_get(line: bytes) -> bytes:
    """`GET FULL VARIABLE "${A}|${B}"` -> `200 result=1 (a|b)`, expanding each `${...}` part."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")[len("GET FULL VARIABLE ") :].strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    values = []
    for part in text.split("|"):
        if part.startswith("${") and part.endswith("}"):
            name = part[2:-1]
            if name == "STRFTIME(,,%s%3q)":
                values.append(str(int(time.time() * 1000)))
            else:
                values.append(CHANNEL.get(name, ""))
        else:
            values.append(part)
    return f"200 result=1 ({'|'.join(values)})\n".encode()


def set_count(line: bytes) -> int:
    """Variables one SET VARIABLE sets: one, or the names of `"ARRAY(A,B,CDR(userfield))"`."""
    if not line.startswith(b'SET VARIABLE "ARRAY('):
        return 1
    names = line[len(b'SET VARIABLE "ARRAY(') : line.find(b')" ', 20)]
    depth = 0
    count = 1
    for ch in names:
        depth += ch == 40  # (
        depth -= ch == 41  # )
        count += ch == 44 and depth == 0  # ,
    return count


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.short = 0  # calls that ended without the expected SETs
        self.first_error = ""


async def one_call(port: int, uid: str, tally: Tally, expect_sets: int, timeout_s: float) -> None:
    start = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ENV_TEMPLATE.format(uid=uid).encode())
            sets = 0
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line.startswith(b"SET VARIABLE"):
                    sets += set_count(line)
                    writer.write(b"200 result=1\n")
                elif line.startswith(b"GET FULL VARIABLE"):
                    writer.write(answer_get(line))
                else:
                    writer.write(b"510 Invalid or unknown command\n")
        tally.latencies.append(time.perf_counter() - start)
        if sets < expect_sets:
            tally.short += 1
        try:
            writer.write(b"HANGUP\n")
        except Exception:
            pass
    except Exception as exc:
        tally.errors += 1
        if not tally.first_error:
            tally.first_error = f"{type(exc).__name__}: {exc}"
    finally:
        if writer is not None:
            writer.close()


async def flat_out(port: int, seconds: float, concurrency: int, tag: str, expect_sets: int) -> dict:
    tally = Tally()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            await one_call(port, f"{tag}.{next(counter)}", tally, expect_sets, 10)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return _summary(tally, elapsed, mode="flat", concurrency=concurrency)


async def fixed_rate(port: int, seconds: float, rate: float, tag: str, expect_sets: int) -> dict:
    """Open loop: call i starts at t0 + i/rate whatever the server's state (as callers do)."""
    tally = Tally()
    total = int(seconds * rate)
    tasks = []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05
    for i in range(total):
        delay = t0 + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one_call(port, f"{tag}.{i}", tally, expect_sets, 10)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - t0
    return _summary(tally, elapsed, mode="rate", rate=rate)


def _summary(tally: Tally, elapsed: float, **extra) -> dict:
    lat = sorted(tally.latencies)

    def pct(p: float) -> float | None:
        if not lat:
            return None
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000

    return {
        **extra,
        "calls": len(lat),
        "errors": tally.errors,
        "short": tally.short,
        "first_error": tally.first_error,
        "elapsed_s": elapsed,
        "per_s": len(lat) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": lat[-1] * 1000 if lat else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("flat", "rate"), required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--tag", default="b")
    parser.add_argument("--expect-sets", type=int, default=10)
    args = parser.parse_args()
    if args.mode == "flat":
        result = asyncio.run(flat_out(args.port, args.seconds, args.concurrency, args.tag, args.expect_sets))
    else:
        result = asyncio.run(fixed_rate(args.port, args.seconds, args.rate, args.tag, args.expect_sets))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
