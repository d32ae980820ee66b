"""`premium-hotline wallboard` as a process on a free loopback port, as ops would run it."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request


class Wallboard:
    def __init__(self, config: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                "wallboard",
                "-c",
                config,
                "--listen",
                "127.0.0.1:0",
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if ready:
                line = self.proc.stderr.readline()
                if "serving" in line or not line:
                    break
        match = re.search(r"http://([\d.]+):(\d+)/", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the wallboard did not start: {line!r}")
        self.url = f"http://{match.group(1)}:{match.group(2)}/"

    def get(self, path: str = "", timeout: float = 10) -> tuple[int, dict, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()

    def data(self) -> dict:
        return json.loads(self.get("data.json")[2])

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()
        return self.proc.returncode

    def __enter__(self) -> Wallboard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
