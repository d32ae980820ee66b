"""Run a route's handler in this process, through either session class, against any Asterisk.

`run_route(route, env, responder, transport=...)` drives the real handler over the real session
of the plain script (PystAGI writing to a pipe, replies read through the same readline interface
as FdLines) or of the FastAGI server (AsyncSession over in-memory streams), with a store that
records every Redis batch instead of sending it. `responder(line) -> list of reply lines` plays
Asterisk: a ChannelModel's answer, or anything hostile; None in the list is the end of input,
and a peer with nothing more to say times out. No processes, no sockets: fast enough for
property tests with hundreds of examples.
"""

from __future__ import annotations

import asyncio
import os
import select

from premium_hotline.agi.protocol import AgiError, AgiTimeout
from premium_hotline.agi.session import PlainSession, PystAGI, run_sync
from premium_hotline.log import Log
from premium_hotline.routes import get_handler
from premium_hotline.routes.call import Call
from premium_hotline.server.session import READ_LIMIT, AsyncSession

MAX_READS = 10_000  # a route that reads more lines than this from a finite peer is looping


class CaptureStore:
    """The store interface routes use: reads answer empty lists, writes are kept."""

    def __init__(self) -> None:
        self.reads: list[list[list]] = []
        self.writes: list[list[list]] = []

    async def read(self, commands: list[list]) -> list:
        self.reads.append(commands)
        return [[] for _ in commands]

    async def write(self, batch: list[list], *, route: str, uniqueid: str) -> bool:
        self.writes.append(batch)
        return True


class Outcome:
    def __init__(self) -> None:
        self.lines: list[str] = []  # every byte the route wrote, split at newlines
        self.error: BaseException | None = None
        self.store = CaptureStore()
        self.closed = False
        self.reads = 0  # lines the route read from Asterisk


class _PipePeer:
    """The plain script's stdin as FdLines gives it; its stdout is the pipe PystAGI writes to."""

    def __init__(self, read_fd: int, responder, outcome: Outcome) -> None:
        self.read_fd = read_fd
        self.responder = responder
        self.outcome = outcome
        self.pending: list[str] = []
        self.partial = b""
        self.reads = 0

    def readline(self) -> str:
        self.reads += 1
        self.outcome.reads += 1
        if self.reads > MAX_READS:
            raise AssertionError("the route keeps reading")
        while not self.pending:
            ready, _, _ = select.select([self.read_fd], [], [], 0)
            if not ready:  # no new command, no reply left: Asterisk is silent, FdLines times out
                raise AgiTimeout("no line from Asterisk (in-process peer)")
            data = os.read(self.read_fd, 1 << 20)
            self.partial += data
            *complete, self.partial = self.partial.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace")
                self.outcome.lines.append(line)
                self.pending += self.responder(line)
        line = self.pending.pop(0)
        return "" if line is None else line + "\n"


def _call(session, store, config, route: str, clock_ms: int) -> Call:
    return Call(session, store, config, Log("error"), clock_ms=lambda: clock_ms, route=route)


def run_plain(route: str, env: dict, responder, config, clock_ms: int) -> Outcome:
    outcome = Outcome()
    read_fd, write_fd = os.pipe()
    try:
        peer = _PipePeer(read_fd, responder, outcome)
        agi = PystAGI(peer, write_fd, dict(env))
        session = PlainSession(agi, lambda: setattr(outcome, "closed", True))
        try:
            run_sync(get_handler(route)(_call(session, outcome.store, config, route, clock_ms)))
        except AgiError as exc:
            outcome.error = exc
    finally:
        os.close(write_fd)
        rest = b""
        while chunk := os.read(read_fd, 1 << 20):
            rest += chunk
        os.close(read_fd)
        if rest:  # written after the last read (nothing should be)
            outcome.lines += (
                rest.decode("utf-8", "replace").split("\n")[:-1]
                if rest.endswith(b"\n")
                else [rest.decode("utf-8", "replace")]
            )
    return outcome


class _Transport:
    def __init__(self, reader: asyncio.StreamReader, responder, outcome: Outcome) -> None:
        self.reader = reader
        self.responder = responder
        self.outcome = outcome
        self.partial = b""
        self.closing = False
        self.eof = False

    def write(self, data: bytes) -> None:
        self.partial += data
        *complete, self.partial = self.partial.split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8", "replace")
            self.outcome.lines.append(line)
            for reply in self.responder(line):
                if self.eof:
                    return
                if reply is None:
                    self.eof = True
                    self.reader.feed_eof()
                    return
                self.reader.feed_data(reply.encode("utf-8") + b"\n")

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True
        if not self.eof:
            self.eof = True
            self.reader.feed_eof()


class _Writer:
    def __init__(self, transport: _Transport, outcome: Outcome) -> None:
        self.transport = transport
        self.outcome = outcome

    def close(self) -> None:
        self.outcome.closed = True
        self.transport.closing = True


class _CountingSession(AsyncSession):
    outcome: Outcome

    async def _readline(self) -> str:
        self.outcome.reads += 1
        if self.outcome.reads > MAX_READS:
            raise AssertionError("the route keeps reading")
        return await super()._readline()


def run_fastagi(route: str, env: dict, responder, config, clock_ms: int) -> Outcome:
    outcome = Outcome()

    async def scenario() -> None:
        reader = asyncio.StreamReader(limit=READ_LIMIT)
        transport = _Transport(reader, responder, outcome)
        session = _CountingSession(reader, _Writer(transport, outcome), 0.05)  # a silent peer: 50 ms
        session.outcome = outcome
        session.env = dict(env)
        try:
            await get_handler(route)(_call(session, outcome.store, config, route, clock_ms))
        except AgiError as exc:
            outcome.error = exc
        if transport.partial:
            outcome.lines.append(transport.partial.decode("utf-8", "replace"))

    asyncio.run(scenario())
    return outcome


def run_route(route: str, env: dict, responder, config, clock_ms: int, transport: str = "plain") -> Outcome:
    runner = run_plain if transport == "plain" else run_fastagi
    return runner(route, env, responder, config, clock_ms)
