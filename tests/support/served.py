"""An ops command that serves HTTP (`exporter`, `wallboard`) as a process on a free loopback
port, as ops would run it: started with `--listen 127.0.0.1:0`, its address read from the
`serving http://...` line it prints, stopped with SIGTERM."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request


class ServedCommand:
    def __init__(self, command: str, config: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "premium_hotline.cli",
                command,
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
        match = re.search(r"http://([\d.]+):(\d+)(/\S*)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"the {command} did not start: {line!r}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}{match.group(3)}"

    def get(self, path: str = "", timeout: float = 10) -> tuple[int, dict, bytes]:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr and not self.proc.stderr.closed:
            self.proc.stderr.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Wallboard(ServedCommand):
    """`premium-hotline wallboard`; `url` is its page, `data()` its snapshot."""

    def __init__(self, config: str, *args: str) -> None:
        super().__init__("wallboard", config, *args)

    def data(self) -> dict:
        return json.loads(self.get("data.json")[2])
