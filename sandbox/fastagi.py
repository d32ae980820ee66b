"""Asterisk's side of a FastAGI call, over a socket, for tests: the twin of agi_peer.run_script.

res_agi.c, connecting to `agi://host:port/script?query`, sends `agi_network: yes` and
`agi_network_script: script?query` before the usual `agi_*` block, answers each command line,
and sends `HANGUP` when the channel hangs up, and again once the AGI is over. The same
ChannelModel answers the commands, so a call driven here and one driven through the plain
script can be compared field by field.

Also here: FastAgiServerProcess, `premium-hotline serve` as a subprocess on a free port.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sandbox.agi_peer import ChannelModel, RunResult, env_block
from sandbox.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def fastagi_env(env: dict[str, str], script: str) -> dict[str, str]:
    """The environment as Asterisk sends it over FastAGI: the network lines first."""
    network = {"agi_network": "yes", "agi_network_script": script}
    rest = dict(env)
    rest["agi_request"] = f"agi://127.0.0.1/{script}"
    return {**network, **rest}


def run_fastagi(
    port: int,
    script: str,
    env: dict[str, str],
    channel: ChannelModel,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 10,
    hangup_after: int | None = None,
    raw_replies: dict[int, str] | None = None,
    unanswered: frozenset = frozenset(),
) -> RunResult:
    """One call through a FastAGI server, as Asterisk places it; returns when the server closes.

    `hangup_after=N` sends `HANGUP` right after command N arrives (the caller hung up while the
    server was talking), then goes on answering as Asterisk does on a dead channel;
    `raw_replies={i: line}` answers command i with that line; commands in `unanswered` get no
    reply. `RunResult.returncode` is 0 when the server closed the connection cleanly.
    """
    start = time.monotonic()
    sock = socket.create_connection((host, port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    returncode = 0
    try:
        sock.sendall(env_block(fastagi_env(env, script)))
        buffer = b""
        count = 0
        deadline = start + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"FastAGI {script} did not finish in {timeout_s}s: {channel.commands}")
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                returncode = 1
                break
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                count += 1
                reply = (raw_replies or {}).get(count) or channel.reply(line.decode("utf-8", "replace"))
                out = b""
                if hangup_after is not None and count == hangup_after:
                    out += b"HANGUP\n"
                if count not in unanswered:
                    out += (reply + "\n").encode()
                try:
                    sock.sendall(out)
                except OSError:
                    pass
        try:  # the end of the AGI: Asterisk says HANGUP even when nobody hung up
            sock.sendall(b"HANGUP\n")
        except OSError:
            pass
    finally:
        sock.close()
    return RunResult(returncode, "", time.monotonic() - start, channel)


def wait_port(port: int, host: str = "127.0.0.1", timeout_s: float = 10, process=None) -> None:
    """Until something accepts on the port (the server is listening)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {process.stderr.read().decode()}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout_s}s")


class FastAgiServerProcess:
    """`premium-hotline serve` on a free loopback port, stopped (SIGTERM) by `stop()`."""

    def __init__(self, config: str, *extra: str, port: int | None = None) -> None:
        self.config = config
        self.port = port or free_port()
        self.extra = list(extra)
        self.process: subprocess.Popen | None = None
        self.stderr = ""

    def start(self) -> FastAgiServerProcess:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                "serve",
                "--config",
                self.config,
                "--port",
                str(self.port),
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        wait_port(self.port, process=self.process)
        return self

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout_s: float = 20) -> int:
        """SIGTERM, then the exit code; stderr (the JSON log) is kept in `self.stderr`."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        self.stderr = err.decode("utf-8", "replace")
        code = self.process.returncode
        self.process = None
        return code

    def __enter__(self) -> FastAgiServerProcess:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
