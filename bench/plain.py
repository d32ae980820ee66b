"""Plain AGI start-up: a cold `decide_tariff.py` per call, against `python -c pass`.

Each run is what Asterisk does for `AGI(decide_tariff.py,0899123456)`: spawn the script, write
the `agi_*` block, answer its commands, and wait until the dialplan may go on, that is until
the process it started has exited and its stdout is closed. `python -c pass` is timed from spawn
to exit. Runs of the three kinds are interleaved so that a burst of load elsewhere on the
machine hits them alike; medians are reported.

Two layouts are timed, because they differ at interpreter start-up, before any of our code:
- `dev venv`: the project's .venv, where the package is an editable install; every Python
  started there, `-c pass` included, runs setuptools' editable finder from a .pth file;
- `deployed`: a bare venv holding a compiled copy of the package and a plain path to the
  dependencies, as after `pip install premium-hotline` from a wheel (the PBX case).
In both, the processes run without PYTHONDONTWRITEBYTECODE, so .pyc files are used as on a PBX.
"""

from __future__ import annotations

import os
import select
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from bench.driver import CHANNEL, answer_get, set_count
from sandbox.agi_peer import default_env

ROOT = Path(__file__).resolve().parent.parent
# What Asterisk sends, as the tests' AGI peer does; the uniqueid filled in per run.
ENV_LINES = default_env(uniqueid="{uid}", agi_arg_1="0899123456")
assert CHANNEL  # the same channel values as the FastAGI driver


def env_block(uid: str) -> bytes:
    return "".join(f"{k}: {v.format(uid=uid)}\n" for k, v in ENV_LINES.items()).encode() + b"\n"


def _reap(proc: subprocess.Popen) -> float:
    """Wait for the process; its CPU seconds (user + system), the child it forks not included."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def run_agi(python: str, script: str, uid: str, environ: dict) -> tuple[float, float, int]:
    """Seconds until Asterisk could go on, CPU seconds of the process it started, SETs answered."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [python, script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environ,
    )
    proc.stdin.write(env_block(uid))
    proc.stdin.flush()
    fd = proc.stdout.fileno()
    buffer = b""
    sets = 0
    deadline = start + 20
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.perf_counter()))
        if not ready:
            proc.kill()
            raise TimeoutError(f"{script} did not finish")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.startswith(b"SET VARIABLE"):
                sets += set_count(line)
                reply = b"200 result=1\n"
            elif line.startswith(b"GET FULL VARIABLE"):
                reply = answer_get(line)
            else:
                reply = b"510 Invalid or unknown command\n"
            try:
                proc.stdin.write(reply)
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
    cpu = _reap(proc)
    elapsed = time.perf_counter() - start
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    proc.stdout.close()
    return elapsed, cpu, sets


def run_pass(python: str) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-c", "pass"])
    cpu = _reap(proc)
    return time.perf_counter() - start, cpu


def deployed_python(workdir: str) -> str:
    """A bare venv with a copy of the package, compiled, as a wheel install leaves it.

    The dependencies (pyst2, redis, structlog) come from the dev venv through a path entry: a
    .pth in a site dir adds paths, and .pth files inside those paths are not run, so the dev
    venv's editable finder stays out. pip compiled their .pyc files when it installed them.
    """
    import compileall
    import shutil

    target = Path(workdir) / "deployed-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(target)], check=True)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    shutil.copytree(
        ROOT / "premium_hotline", Path(site, "premium_hotline"), ignore=shutil.ignore_patterns("__pycache__")
    )
    compileall.compile_dir(Path(site, "premium_hotline"), quiet=1)
    Path(site, "premium_hotline_bench.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(python)


def child_environ(config: str, redis_url: str) -> dict:
    """The AGI process's environment: what Asterisk passes, not this shell's Python settings.
    PYTHONDONTWRITEBYTECODE (set in some dev shells) would make every run compile our modules."""
    environ = {**os.environ, "PREMIUM_HOTLINE_CONFIG": config, "BENCH_REDIS_URL": redis_url}
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
        environ.pop(name, None)
    return environ


def measure(layouts: dict[str, str], config: str, redis_url: str, runs: int) -> dict:
    """{layout: {kind: [seconds...], ...}}, interleaved."""
    environ = child_environ(config, redis_url)
    ours = str(ROOT / "agi_scripts" / "decide_tariff.py")
    naive = str(ROOT / "bench" / "naive_decide.py")
    kinds = ("pass", "ours", "naive", "pass_cpu", "ours_cpu", "naive_cpu")
    results: dict[str, dict[str, list[float]]] = {name: {kind: [] for kind in kinds} for name in layouts}
    problems: list[str] = []
    for python in layouts.values():  # warm the page cache and the .pyc files
        run_pass(python)
        run_agi(python, ours, "warm.0", environ)
        run_agi(python, naive, "warm.1", environ)
    for i in range(runs):
        for layout, python in layouts.items():
            into = results[layout]
            elapsed, cpu = run_pass(python)
            into["pass"].append(elapsed)
            into["pass_cpu"].append(cpu)
            for kind, script in (("ours", ours), ("naive", naive)):
                elapsed, cpu, sets = run_agi(python, script, f"{kind}.{layout}.{i}", environ)
                into[kind].append(elapsed)
                into[f"{kind}_cpu"].append(cpu)
                if sets < 10:
                    problems.append(f"{layout} {kind}: {sets} SETs")
    return {"results": results, "problems": problems}


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> None:
    """`python -m bench.plain`: this section alone, against a redis-server it starts."""
    from bench.__main__ import bench_config, start_redis

    with tempfile.TemporaryDirectory(prefix="ph-bench-") as workdir:
        redis = start_redis()
        try:
            config = bench_config(workdir, redis.url)
            layouts = {"dev venv": sys.executable, "deployed": deployed_python(workdir)}
            out = measure(layouts, config, redis.url, int(sys.argv[1]) if len(sys.argv) > 1 else 15)
        finally:
            redis.cleanup()
    for layout, kinds in out["results"].items():
        for suffix, what in (("", "wall"), ("_cpu", "CPU ")):
            base = median_ms(kinds["pass" + suffix])
            ours = median_ms(kinds["ours" + suffix])
            naive = median_ms(kinds["naive" + suffix])
            print(
                f"{layout:9s} {what} pass {base:6.1f} ms  ours {ours:6.1f} ms ({ours / base:.2f}x)  "
                f"naive {naive:6.1f} ms ({naive / base:.2f}x)"
            )
    for problem in out["problems"]:
        print("problem:", problem)


if __name__ == "__main__":
    main()
