"""Serving HTTP from a command (the exporter, the wallboard): the same start, line and stop.

Both are long-lived processes under systemd: they take SIGTERM and SIGINT before saying they
serve (a signal right after the line must stop them cleanly), say where in one line on stderr,
and close their server and its thread on the way out.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def add_listen(parser: argparse.ArgumentParser, default: str, timeout_help: str) -> None:
    """`--listen HOST:PORT` and the Redis `--timeout` both servers take."""
    parser.add_argument("--listen", default=default, metavar="HOST:PORT", help=f"default {default}")
    parser.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS", help=timeout_help)


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[::1]:PORT` or `:PORT` (loopback) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def listen_address(name: str, text: str) -> tuple[str, int] | None:
    """`parse_listen`, or None after saying why (the command then exits 2)."""
    try:
        return parse_listen(text)
    except ValueError as exc:
        print(f"premium-hotline {name}: {exc}", file=sys.stderr)
        return None


def prepare(name: str, args: argparse.Namespace):
    """What both servers need before serving: the address, the config (its problems said once),
    a Redis client from it. (host, port, config, client), or the exit code after saying why."""
    address = listen_address(name, args.listen)
    if address is None:
        return 2
    from ..config import config_path, load_config

    config = load_config(config_path(args.config))
    if config.errors:
        print(
            f"premium-hotline {name}: {config.path}: {len(config.errors)} config problem(s)", file=sys.stderr
        )
    import redis

    from ..ops.client import connect

    try:
        client = connect(config.general, timeout_s=args.timeout)
    except (ValueError, redis.RedisError) as exc:  # RedisError: no cluster node answered
        print(f"premium-hotline {name}: {exc}", file=sys.stderr)
        return 1
    return (*address, config, client)


def serve(name: str, host: str, port: int, start, *, path: str, detail: str) -> int:
    """`start()` binds and starts serving in a thread, returning (server, thread); then this
    blocks until SIGTERM or SIGINT. Exit 1 when the address cannot be had."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server, thread = start()
    except OSError as exc:
        print(f"premium-hotline {name}: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    shown = f"[{host}]" if ":" in host else host
    print(
        f"premium-hotline {name}: serving http://{shown}:{server.server_port}{path} ({detail})",
        file=sys.stderr,
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    return 0
