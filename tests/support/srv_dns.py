"""A DNS server on loopback answering one zone's SRV and address records: Debian's dnsmasq.

It listens on port 53 of an address of its own in 127.0.0.0/8, because the resolver that
Asterisk's ``hagi://`` goes through (``ast_srv_lookup`` -> ``ast_search_dns``: glibc's
``res_nsearch``, not res_resolver_unbound) takes its servers from resolv.conf, which names no
port. Every address of 127/8 is local on Linux, so two test runs pick two addresses and never
meet. It answers only its own zone (``--local``), from its command line: no upstream, no
/etc/hosts, no config file, no cache to go stale between a test's changes.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Srv:
    """One SRV record: lower ``priority`` first (RFC 2782), ``weight`` among equal priorities."""

    name: str
    target: str
    port: int
    priority: int
    weight: int = 0


def _port_53_free(address: str) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((address, 53))
            except OSError:
                return False
    return True


def free_loopback_address() -> str:
    """An address of 127/8 whose port 53 nobody holds (not 127.0.0.x, the usual resolvers')."""
    for _ in range(50):
        address = f"127.{random.randint(53, 250)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if _port_53_free(address):
            return address
    raise RuntimeError("no loopback address with a free port 53")


def srv_query(address: str, name: str, timeout: float = 1.0) -> int:
    """The number of SRV answers ``address`` gives for ``name``: start() waits on it, a test can
    check its records with it."""
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", 0x5048, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 33, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (address, 53))
        reply = s.recv(4096)
    return struct.unpack(">H", reply[6:8])[0]


class SrvDns:
    """dnsmasq serving ``zone``: ``records`` (SRV) and ``hosts`` (name -> IPv4 address).

    Use as a context manager, or start() / stop(). queries() reads what it was asked (its
    log, one line per question), to prove a resolver really went through it.
    """

    def __init__(
        self, workdir: str | Path, zone: str, records: Sequence[Srv], hosts: Mapping[str, str]
    ) -> None:
        self.dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not Path(self.dnsmasq).exists():
            raise RuntimeError("dnsmasq not found: scripts/setup installs dnsmasq-base")
        self.zone = zone
        self.records = list(records)
        self.hosts = dict(hosts)
        self.log_path = Path(workdir) / "dnsmasq.log"
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        args = [self.dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file="]
        args += ["--no-resolv", "--no-hosts", "--no-poll", "--cache-size=0", f"--local=/{self.zone}/"]
        args += [f"--listen-address={self.address}", "--bind-interfaces", "--port=53"]
        args += ["--log-queries", "--log-facility=-"]
        args += [f"--srv-host={r.name},{r.target},{r.port},{r.priority},{r.weight}" for r in self.records]
        args += [f"--host-record={name},{ip}" for name, ip in self.hosts.items()]
        return args

    def start(self, timeout: float = 10.0) -> SrvDns:
        self.address = free_loopback_address()
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        probe = f"ready-probe.{self.zone}"  # not a name under test: queries() stays the resolver's
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"dnsmasq exited (rc={self.process.returncode}): {self.log()[-1000:]}")
            try:
                srv_query(self.address, probe, timeout=0.2)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"dnsmasq not answering on {self.address}:53 after {timeout} s"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def queries(self) -> list[tuple[str, str]]:
        """(type, name) of each question asked, in order: ("SRV", "_agi._tcp.example.test")."""
        out = []
        for line in self.log().splitlines():
            _, sep, rest = line.partition(": query[")
            if sep:
                kind, _, tail = rest.partition("] ")
                out.append((kind, tail.split(" ", 1)[0]))
        return out

    def __enter__(self) -> SrvDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
