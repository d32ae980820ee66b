"""The plugin on one redis-server, a Redis Cluster and behind Sentinel: what each costs.

`python -m bench.topology [RUNS] [CALLS]` starts a 3-master/3-replica cluster and a Sentinel
set-up (sandbox/redis_topology.py, Debian's redis-server) next to a single redis-server,
then measures, for each:

- **plain start-up**: cold `decide_tariff.py` runs, timed as bench/plain.py does (spawn to the
  end of the script's stdout and the process's exit, the deployed layout), interleaved with
  `python -c pass` and with `python -c "import redis.cluster"` / `"import redis.sentinel"`: what
  a plain script would pay before its first byte if it used redis-py for these modes. This is
  the measurement behind store/cluster.py's choice (docs/scaling.md);
- **per full call through the FastAGI server** (decide_tariff, agent_answered, call_ended, as
  bench/redis_cost.py plays them, 8 channels at a time, one call a second of Asterisk time):
  the server's CPU, and on the Redis side, summed over the masters, round trips
  (`total_reads_processed`), commands, bytes received and CPU, the busiest master's CPU (on a
  cluster, the one holding `ph:events`, which every route appends to), then the replicas' CPU.
  The calls/s column is the Python test driver's pace, not a capacity.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.__main__ import bench_config, cpu_s  # noqa: E402
from bench.plain import child_environ, deployed_python, run_agi, run_pass  # noqa: E402


def _run_import(python: str, module: str) -> float:
    import subprocess

    start = time.perf_counter()
    subprocess.run([python, "-c", f"import {module}"], check=True)
    return time.perf_counter() - start


def _node_stats(ports: list[int]) -> dict:
    import redis

    total = {"reads": 0, "commands": 0, "net_in": 0}
    for port in ports:
        with redis.Redis(port=port, decode_responses=True) as client:
            info = client.info("stats")
        total["reads"] += int(info["total_reads_processed"])
        total["commands"] += int(info["total_commands_processed"])
        total["net_in"] += int(info["total_net_input_bytes"])
    return total


def per_call(
    url: str, masters: list, replicas: list, workdir: str, calls: int, client: str = "redis-py"
) -> dict:
    """Full calls through `serve`; costs per call on the server and on the Redis nodes."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.redis_cost import full_call
    from sandbox.fastagi import FastAgiServerProcess

    sub = Path(workdir, f"serve-{abs(hash((url, client)))}")
    sub.mkdir()
    config = bench_config(str(sub), url)
    t0 = (int(time.time() * 1000) // 60_000) * 60_000 - (calls + 600) * 1000
    with FastAgiServerProcess(config) as server:  # one transport: redis-py's asyncio client
        for i in range(8):  # pools, slot map, sentinel answer, queues and stream created
            full_call(server.port, f"warm.{i}", t0)
        time.sleep(0.3)
        ports = [node.port for node in masters]
        before, cpu0 = _node_stats(ports), cpu_s(server.process.pid)
        redis_cpu0 = [cpu_s(n.process.pid) for n in masters]
        replica_cpu0 = [cpu_s(n.process.pid) for n in replicas]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: full_call(server.port, f"1790000000.{i}", t0 + i * 1000), range(calls)))
        elapsed = time.perf_counter() - started
        time.sleep(0.3)
        after, cpu1 = _node_stats(ports), cpu_s(server.process.pid)
        per_master = [cpu_s(n.process.pid) - c0 for n, c0 in zip(masters, redis_cpu0, strict=True)]
        redis_cpu = sum(per_master)
        replica_cpu = sum(cpu_s(n.process.pid) for n in replicas) - sum(replica_cpu0)
    stats_reads = len(ports)  # our own INFO, one read and one command per node
    return {
        "server_cpu_ms": (cpu1 - cpu0) * 1000 / calls,
        "round_trips": (after["reads"] - before["reads"] - stats_reads) / calls,
        "commands": (after["commands"] - before["commands"] - stats_reads) / calls,
        "bytes_in": (after["net_in"] - before["net_in"]) / calls,
        "redis_cpu_us": redis_cpu * 1e6 / calls,
        "busiest_master_us": max(per_master) * 1e6 / calls,
        "replica_cpu_us": replica_cpu * 1e6 / calls,
        "calls_per_s": calls / elapsed,
    }


def main() -> None:
    import redis

    from sandbox.redis_server import RedisServer
    from sandbox.redis_topology import LocalCluster, LocalSentinel

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    script = str(ROOT / "agi_scripts" / "decide_tariff.py")
    with tempfile.TemporaryDirectory(prefix="ph-bench-topology-") as workdir:
        single = RedisServer().start()
        cluster = LocalCluster().start()
        sentinel = LocalSentinel().start()
        try:
            python = deployed_python(workdir)
            urls = {"one redis-server": single.url, "cluster (3+3)": cluster.url, "sentinel": sentinel.url}
            environs = {}
            for name, url in urls.items():
                sub = Path(workdir, name.split()[0])
                sub.mkdir()
                environs[name] = child_environ(bench_config(str(sub), url), url)
            times: dict[str, list[float]] = {
                name: [] for name in [*urls, "pass", "redis.cluster", "redis.sentinel"]
            }
            problems = []
            for name, environ in environs.items():  # warm the page cache and the .pyc files
                run_agi(python, script, f"warm.{name}", environ)
            for i in range(runs):
                times["pass"].append(run_pass(python)[0])
                for module in ("redis.cluster", "redis.sentinel"):
                    times[module].append(_run_import(python, module))
                for name, environ in environs.items():
                    elapsed, _, sets = run_agi(python, script, f"b{i}.{name[:3]}", environ)
                    times[name].append(elapsed)
                    if sets != 10:
                        problems.append(f"{name}: {sets} SETs")
            masters = cluster.masters()
            layouts = {
                "one redis-server": (single.url, [single], []),
                "cluster (3+3)": (cluster.url, masters, [n for n in cluster.nodes if n not in masters]),
                "sentinel": (
                    sentinel.url,
                    [sentinel.current_master()],
                    [s for s in sentinel.servers if s is not sentinel.current_master()],
                ),
            }
            costs = {}
            for name, (url, on, replicas) in layouts.items():
                for client in ("redis-py",):
                    for node in on:
                        with redis.Redis(port=node.port) as plain:
                            plain.flushall()
                    costs[(name, client)] = per_call(url, on, replicas, workdir, calls, client)
        finally:
            sentinel.cleanup()
            cluster.cleanup()
            single.cleanup()
    base = statistics.median(times["pass"]) * 1000
    print(f"Plain AGI, deployed layout, medians of {runs} interleaved runs (python -c pass: {base:.1f} ms)")
    for name, values in times.items():
        if name == "pass":
            continue
        label = f"python -c 'import {name}'" if name.startswith("redis.") else f"decide_tariff.py, {name}"
        median = statistics.median(values) * 1000
        print(f"  {label:40s} {median:7.1f} ms  ({median / base:.2f}x -c pass)")
    if problems:
        print("problems:", problems[:5])
    print()
    print(f"Per full call through premium-hotline serve, {calls} calls, 8 channels at a time")
    print(
        f"  {'Redis':18s} {'client':9s} {'serve CPU ms':>12s} {'round trips':>11s} {'commands':>8s} "
        f"{'bytes in':>8s} {'Redis CPU us':>12s} {'busiest':>8s} {'replicas us':>11s} {'calls/s':>8s}"
    )
    for (name, client), c in costs.items():
        row = f"  {name:18s} {client:9s} {c['server_cpu_ms']:12.2f} {c['round_trips']:11.2f} "
        row += f"{c['commands']:8.1f} {c['bytes_in']:8.0f} {c['redis_cpu_us']:12.0f} "
        row += f"{c['busiest_master_us']:8.0f} "
        print(row + f"{c['replica_cpu_us']:11.0f} {c['calls_per_s']:8.0f}")


if __name__ == "__main__":
    main()
