"""A real redis-server that speaks TLS only and knows the plugin's least-privilege ACL user.

`make_pki(directory)` makes a throwaway CA and a server certificate for 127.0.0.1 with the
`openssl` command (scripts/setup installs it); `TlsRedisServer` starts redis-server with
`--port 0 --tls-port P` (no plaintext port at all), the default user disabled, an `admin` user for
the tests' own checks, and the `ph` user an operator would give the plugin: its keys (`~ph:*`) and
the commands the routes, the replay and the FastAGI server send, nothing else (PLUGIN_ACL).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from sandbox.redis_server import free_port, redis_binary, stop_process

# What the plugin sends, and nothing more: the three routes' pipelines (store/records.py), the
# decision's read, the KPI and replay Lua scripts (and the commands they call), the replay's PING
# and SELECT for a /N database. (redis-py's CLIENT SETINFO at connect, Redis 7.2+, may be refused:
# redis-py ignores that.) docs/reliability.md has the line to put in an ACL file.
PLUGIN_COMMANDS = (
    "ping",
    "select",
    "hset",
    "hincrby",
    "expire",
    "xadd",
    "sadd",
    "zadd",
    "zrem",
    "zremrangebyscore",
    "lpush",
    "ltrim",
    "lrange",
    "eval",
    # the KPI script's lost-call correction, and the reaper (store/reaper.py)
    "hget",
    "hdel",
    "hgetall",
    "smembers",
    "zrangebyscore",
    "set",
    "get",
    "del",
)
PLUGIN_ACL = ["~ph:*", "resetchannels", "-@all", *(f"+{command}" for command in PLUGIN_COMMANDS)]

PLUGIN_USER = "ph"
PLUGIN_PASSWORD = "Pw-0f-the-ph-user-9c1e"  # what the tests look for in every log line
ADMIN_PASSWORD = "admin-pw-5d2a"


def openssl() -> str:
    found = shutil.which("openssl")
    if not found:
        raise RuntimeError("openssl is not installed: run ./scripts/setup (apt-get install openssl)")
    return found


def _run(*args: str, cwd: str) -> None:
    proc = subprocess.run([openssl(), *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr[-500:]}")


def make_ca(directory: str, name: str = "ca") -> tuple[str, str]:
    """A self-signed CA: (cert path, key path)."""
    cert, key = f"{name}.crt", f"{name}.key"
    _run(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=premium-hotline test {name}",
        cwd=directory,
    )  # fmt: skip
    return os.path.join(directory, cert), os.path.join(directory, key)


def make_pki(directory: str) -> dict[str, str]:
    """CA, server certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    ca_cert, ca_key = make_ca(directory, "ca")
    other_ca, _ = make_ca(directory, "other-ca")
    with open(os.path.join(directory, "san.ext"), "w") as handle:
        handle.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(
        "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    _run(
        "x509", "-req", "-in", "server.csr", "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
        cwd=directory,
    )  # fmt: skip
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    return {
        "ca": ca_cert,
        "other_ca": other_ca,
        "cert": os.path.join(directory, "server.crt"),
        "key": os.path.join(directory, "server.key"),
    }


class TlsRedisServer:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ph-redis-tls-")
        self.pki = make_pki(self.dir)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, user: str = PLUGIN_USER, password: str = PLUGIN_PASSWORD) -> str:
        return f"rediss://{user}:{password}@127.0.0.1:{self.port}/0"

    def start(self) -> TlsRedisServer:
        args = [
            redis_binary(),
            "--port", "0",
            "--tls-port", str(self.port),
            "--bind", "127.0.0.1",
            "--tls-cert-file", self.pki["cert"],
            "--tls-key-file", self.pki["key"],
            "--tls-ca-cert-file", self.pki["ca"],
            "--tls-auth-clients", "no",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--loglevel", "warning",
            "--user", "default", "off",
            "--user", "admin", "on", f">{ADMIN_PASSWORD}", "~*", "&*", "+@all",
            "--user", PLUGIN_USER, "on", f">{PLUGIN_PASSWORD}", *PLUGIN_ACL,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server (TLS) exited: {self.process.stderr.read().decode()[:800]}")
            try:
                client = self.admin()
                client.ping()
                client.close()
                return self
            except Exception as exc:  # not listening yet
                last = exc
                time.sleep(0.05)
        raise RuntimeError(f"redis-server (TLS) did not answer on {self.port}: {last}")

    def client(self, user: str, password: str):
        import redis

        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            ssl=True,
            ssl_ca_certs=self.pki["ca"],
            username=user,
            password=password,
            decode_responses=True,
            socket_timeout=3,
        )

    def admin(self):
        return self.client("admin", ADMIN_PASSWORD)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
