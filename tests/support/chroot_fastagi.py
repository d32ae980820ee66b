"""`premium-hotline serve` inside the sandbox chroot, for the e2e tests that run FastAGI servers
of their own (several, one killed): started as the PBX's own shell would, its per-route log
lines read back to tell which server served which call."""

from __future__ import annotations

import json
import signal
import subprocess

from sandbox.fastagi import wait_port


class ChrootServer:
    """`premium-hotline serve` inside the sandbox chroot, as the PBX's own shell would start it."""

    def __init__(self, pbx, port: int) -> None:
        self.port = port
        command = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        command += ["HOME=/root", "LANG=C.UTF-8", "chroot", str(pbx.root), "premium-hotline", "serve"]
        command += ["--port", str(port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.stderr = ""
        wait_port(port, process=self.process)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        _, err = self.process.communicate(timeout=10)
        self.stderr = err.decode("utf-8", "replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        self.stderr = err.decode("utf-8", "replace")
        return self.process.returncode

    def served(self) -> dict[str, set[str]]:
        """{uniqueid: routes} from the server's log (log_level = info: a line per route)."""
        out: dict[str, set[str]] = {}
        for line in self.stderr.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("uniqueid") and event.get("route"):
                out.setdefault(event["uniqueid"], set()).add(event["route"])
        return out
