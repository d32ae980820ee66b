"""Real Redis Cluster and Sentinel set-ups on loopback, for the scale tests.

Debian's own `redis-server` and `redis-cli`, nothing home-made: `LocalCluster` starts six
cluster-enabled servers on free ports and joins them with `redis-cli --cluster create ...
--cluster-replicas 1 --cluster-yes` (three masters, three replicas); `LocalSentinel` starts a
master, a replica and three sentinels (`redis-server sentinel.conf --sentinel`). Each node has
its own temporary directory; `cleanup()` stops every process and removes them.

Timeouts are short so a failover takes seconds, not half a minute: `cluster-node-timeout` and
`down-after-milliseconds` of one second.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.redis_server import RedisServer, free_port, redis_binary, stop_process

NODE_TIMEOUT_MS = 1000


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-LOADING"))
    except OSError:
        return False


def _wait(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(interval_s)


def _fields(value) -> dict:
    """A reply as a dict, whether redis-py parsed it already or left it a flat list or text."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(k): str(v) for k, v in zip(value[::2], value[1::2], strict=False)}
    if isinstance(value, str):
        return dict(item.split("=", 1) for item in value.split(",") if "=" in item)
    return {}


def _plain(port: int):
    import redis

    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too, and exists."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNodeProcess(RedisServer):
    """One cluster-enabled redis-server; its nodes.conf survives a stop, so a restart rejoins."""

    def __init__(self) -> None:
        super().__init__(
            port=_cluster_port(),
            extra_args=[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--cluster-replica-validity-factor",
                "0",  # a replica may always take over: the test kills masters on purpose
            ],
        )

    def kill(self) -> None:
        """SIGKILL: a crash, no goodbye to the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def role(self) -> str:
        with _plain(self.port) as client:
            return client.execute_command("ROLE")[0]


class LocalCluster:
    """Three masters and three replicas of Debian's redis-server, made by `redis-cli --cluster`."""

    def __init__(self, size: int = 6) -> None:
        self.nodes = [ClusterNodeProcess() for _ in range(size)]

    def start(self) -> LocalCluster:
        started = time.monotonic()
        try:
            self._create()
        except BaseException:
            self.cleanup()
            raise
        self.setup_s = time.monotonic() - started
        return self

    def _create(self) -> None:
        for node in self.nodes:
            node.start()
        result = subprocess.run(
            [
                shutil.which("redis-cli") or "/usr/bin/redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout[-2000:]}{result.stderr}")
        self.wait_healthy()

    @property
    def url(self) -> str:
        """The plugin's redis_url: three seeds (any node would do; the client asks for the map)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:3]) + "/0"

    def node(self, port: int) -> ClusterNodeProcess:
        return next(node for node in self.nodes if node.port == port)

    def _view(self) -> dict | None:
        """From one live node: {master port: [replica ports]} when the cluster is ok, else None."""
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                with _plain(node.port) as client:
                    if "cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                        return None
                    slots = client.execute_command("CLUSTER", "SLOTS")
            except Exception:
                continue
            return {int(item[2][1]): sorted(int(r[1]) for r in item[3:]) for item in slots}
        return None

    def healthy(self) -> bool:
        """Every node up and agreeing: the cluster is ok everywhere, each master has a replica
        that is in sync, and every slot is served."""
        if not all(node.alive for node in self.nodes):
            return False
        view = self._view()
        if not view or len(view) != len(self.nodes) // 2 or not all(view.values()):
            return False
        for node in self.nodes:
            try:
                with _plain(node.port) as client:
                    info = client.execute_command("CLUSTER", "INFO")
                    if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                        return False
                    replication = client.info("replication")
                    if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                        return False
            except Exception:
                return False
        return True

    def wait_healthy(self, timeout_s: float = 60) -> None:
        _wait(self.healthy, timeout_s, "the cluster to be ok with a replica per master", 0.1)

    def wait_healthy_slots(self, timeout_s: float = 30) -> None:
        """Until the live nodes serve every slot again (a replica took over), failed or not."""
        _wait(self._view, timeout_s, "every slot served by a live master", 0.05)

    def masters(self) -> list[ClusterNodeProcess]:
        view = _wait(self._view, 30, "a cluster view")
        return [self.node(port) for port in sorted(view)]

    def replica_of(self, master: ClusterNodeProcess) -> ClusterNodeProcess:
        view = _wait(self._view, 30, "a cluster view")
        return self.node(view[master.port][0])

    def owner_of(self, key: str) -> ClusterNodeProcess:
        from premium_hotline.redis.slots import key_slot

        slot = key_slot(key)
        with _plain(self.masters()[0].port) as client:
            for item in client.execute_command("CLUSTER", "SLOTS"):
                if int(item[0]) <= slot <= int(item[1]):
                    return self.node(int(item[2][1]))
        raise LookupError(slot)

    def manual_failover(self, master: ClusterNodeProcess) -> ClusterNodeProcess:
        """CLUSTER FAILOVER on the master's replica (no data lost); returns the new master."""
        replica = self.replica_of(master)
        with _plain(replica.port) as client:
            client.execute_command("CLUSTER", "FAILOVER")
        _wait(lambda: replica.role() == "master", 30, f"{replica.port} to take over")
        return replica

    def restart_dead(self) -> None:
        """Start the killed nodes again: they rejoin from their nodes.conf as replicas."""
        for node in self.nodes:
            if not node.alive:
                node.start()

    def client(self):
        """redis-py's RedisCluster, for the tests' own reads."""
        from redis.cluster import ClusterNode, RedisCluster

        live = [node for node in self.nodes if node.alive]
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", node.port) for node in live], decode_responses=True
        )

    def flushall(self) -> None:
        for master in self.masters():
            with _plain(master.port) as client:
                client.flushall()

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()


class SentinelProcess:
    """One sentinel: `redis-server sentinel.conf --sentinel`, watching `master_name`."""

    def __init__(self, master_name: str, master_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ph-sentinel-"))
        self.conf = self.dir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {master_name} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {master_name} {NODE_TIMEOUT_MS}\n"
            f"sentinel failover-timeout {master_name} 10000\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> SentinelProcess:
        self.process = subprocess.Popen(
            [redis_binary(), str(self.conf), "--sentinel", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _ping(self.port), 10, f"sentinel on {self.port}")
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def ask(self, *args: str):
        with _plain(self.port) as client:
            return client.execute_command("SENTINEL", *args)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class LocalSentinel:
    """A master, one replica, three sentinels (quorum 2): Sentinel's smallest sound set-up."""

    MASTER_NAME = "phmaster"

    def __init__(self) -> None:
        self.master = RedisServer()
        self.replica = RedisServer(extra_args=["--replicaof", "127.0.0.1", str(self.master.port)])
        self.sentinels = [SentinelProcess(self.MASTER_NAME, self.master.port) for _ in range(3)]
        self.servers = [self.master, self.replica]

    def start(self) -> LocalSentinel:
        started = time.monotonic()
        try:
            self.master.start()
            self.replica.start()
            for sentinel in self.sentinels:
                sentinel.start()
            self.wait_healthy()
        except BaseException:
            self.cleanup()
            raise
        self.setup_s = time.monotonic() - started
        return self

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.MASTER_NAME}/0"

    def master_port(self) -> int:
        return int(self.sentinels[0].ask("GET-MASTER-ADDR-BY-NAME", self.MASTER_NAME)[1])

    def current_master(self) -> RedisServer:
        port = self.master_port()
        return next(server for server in self.servers if server.port == port)

    def healthy(self) -> bool:
        """Every sentinel agrees on a live master, sees a live, in-sync replica and the others."""
        try:
            ports = {int(s.ask("GET-MASTER-ADDR-BY-NAME", self.MASTER_NAME)[1]) for s in self.sentinels}
            if len(ports) != 1:
                return False
            port = ports.pop()
            with _plain(port) as client:
                replication = client.info("replication")
            if replication["role"] != "master" or replication.get("connected_slaves", 0) < 1:
                return False
            if _fields(replication.get("slave0")).get("state") != "online":
                return False
            for sentinel in self.sentinels:
                replicas = [_fields(r) for r in sentinel.ask("REPLICAS", self.MASTER_NAME)]
                if not any("s_down" not in r.get("flags", "s_down") for r in replicas):
                    return False
                if len(sentinel.ask("SENTINELS", self.MASTER_NAME)) < 2:
                    return False
        except Exception:
            return False
        return True

    def wait_healthy(self, timeout_s: float = 60) -> None:
        _wait(self.healthy, timeout_s, "sentinels agreeing on a master with a live replica", 0.1)

    def kill_master(self) -> RedisServer:
        server = self.current_master()
        if server.process is not None:
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        server.process = None
        return server

    def restart_dead(self) -> None:
        """A killed master comes back as a replica of the current one, as an operator would
        start it (left alone, the sentinels would demote it too, but only some 10 s later)."""
        master = self.master_port()
        for server in self.servers:
            if server.process is None or server.process.poll() is not None:
                server.extra_args = ["--replicaof", "127.0.0.1", str(master)]
                server.start()

    def client(self):
        from redis.sentinel import Sentinel

        sentinel = Sentinel([("127.0.0.1", s.port) for s in self.sentinels], socket_timeout=2)
        return sentinel.master_for(self.MASTER_NAME, decode_responses=True, socket_timeout=2)

    def flushall(self) -> None:
        with _plain(self.master_port()) as client:
            client.flushall()

    def cleanup(self) -> None:
        for sentinel in self.sentinels:
            sentinel.cleanup()
        for server in self.servers:
            server.cleanup()
