"""AGI sessions: what a route handler talks to, whichever way Asterisk reached us.

Handlers are `async def` functions over an AgiSession, so one handler serves both transports:
- PlainSession, for an AGI script: pyst2's AGI class, fixed where it breaks (below), driven
  synchronously. Its coroutines never suspend, so `run_sync` drives them without asyncio
  (whose import alone would cost a plain script tens of milliseconds).
- the FastAGI server's session (server/), over asyncio streams, with the same wire rules from
  agi.protocol.

What the pyst2 subclass fixes, without forking pyst2:
- no protocol echo on stderr (pyst2 writes every line it sends or reads there);
- no SIGHUP handler installed from the constructor (ValueError outside the main thread);
- every value quoted and escaped (`"`, `\\`, newlines): a caller-ID name cannot inject a command;
- end of input, the FastAGI `HANGUP` line, 511, both 520 forms, garbage: typed errors instead of
  ValueError or an endless read;
- reads with a deadline: Asterisk would otherwise wait for us forever with the caller in silence.
"""

from __future__ import annotations

import os

from .protocol import (
    AgiHangup,
    Reply,
    UncarriableValue,
    format_command,
    format_sets,
    pyst2,
    quote,
    read_reply,
)

AGI = pyst2.AGI
AGISIGHUPHangup = pyst2.AGISIGHUPHangup


class _Quiet:
    """Where pyst2's debug echo goes: nowhere."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class PystAGI(AGI):
    """pyst2's AGI, constructed from an already-read environment and a deadline-bound reader."""

    def __init__(self, lines, out_fd: int, env: dict[str, str]) -> None:
        # Not calling AGI.__init__ on purpose: it installs a SIGHUP handler, echoes to stderr and
        # reads the environment with no deadline. Set the attributes its methods use instead.
        self.stdin = lines
        self.stdout = _Quiet()
        self.stderr = _Quiet()
        self.env = env
        self._got_sighup = False
        self._out_fd = out_fd
        self.last_reply: Reply | None = None

    def _quote(self, string) -> str:
        return quote(string)

    def send_command(self, command: str, *args) -> None:
        line = " ".join((command.strip(), *(str(arg) for arg in args))).strip()
        # Arguments from pyst2's own methods (digits, timeouts) are not quoted: keep the line whole.
        line = line.replace("\r", " ").replace("\n", " ") + "\n"
        data = line.encode("utf-8")
        while data:
            written = os.write(self._out_fd, data)
            data = data[written:]

    def get_result(self, stdin=None) -> dict:
        reply = read_reply(self.stdin.readline)
        self.last_reply = reply
        return {"result": (reply.result, reply.data)}

    def test_hangup(self) -> None:
        if self._got_sighup:
            raise AGISIGHUPHangup("Received SIGHUP from Asterisk")

    def hangup_signalled(self, *_args) -> None:
        """SIGHUP handler, installed by the plain runner in the main thread only."""
        self._got_sighup = True


class AgiSession:
    """The interface handlers use. `env` is the agi_* block; `args` are agi_arg_1..N.

    `set()` only buffers: every round trip is paid by Asterisk's thread and ours alike, so the
    sets go out together, as one `SET VARIABLE "ARRAY(...)"` (protocol.format_sets), at `flush()`
    or `close()`, or before the next read so a read still sees what was set. A route that reads
    once and sets once then talks to Asterisk exactly twice. A transport implements
    `_exchange(line) -> Reply` and `_release()`.
    """

    env: dict[str, str]
    closed = False
    _pending: list[tuple[str, object]] | None = None

    @property
    def args(self) -> list[str]:
        args = []
        index = 1
        while f"agi_arg_{index}" in self.env:
            args.append(self.env[f"agi_arg_{index}"])
            index += 1
        return args

    async def _exchange(self, line: str) -> Reply:  # pragma: no cover - interface
        """Send one command line (from agi.protocol) and read its reply."""
        raise NotImplementedError

    def _release(self) -> None:  # pragma: no cover - interface
        """Let the dialplan go on: end our side of the exchange."""
        raise NotImplementedError

    async def get(self, expression: str) -> str:
        """GET FULL VARIABLE: evaluates `${...}` expressions, and works on a dead channel."""
        await self.flush()
        return (await self._exchange(format_command("GET FULL VARIABLE", expression))).data

    async def set(self, name: str, value: object) -> None:
        """Buffer one variable (or `FUNC(args)`) for the next flush."""
        if self.closed:
            raise AgiHangup("the AGI exchange is closed")
        if self._pending is None:
            self._pending = []
        self._pending.append((name, value))

    async def flush(self) -> None:
        """Send the buffered sets, in as few commands as Asterisk's limits allow (usually one).

        A value Asterisk could not receive intact costs only itself: the others still go, then
        UncarriableValue names what was left out (the route records it as a failed exchange).
        """
        pending, self._pending = self._pending, None
        if not pending:
            return
        refused: list[str] = []
        try:
            lines = format_sets(pending)
        except UncarriableValue:
            kept = []
            for pair in pending:
                try:
                    format_sets([pair])
                except UncarriableValue as exc:
                    refused.append(str(exc))
                else:
                    kept.append(pair)
            lines = format_sets(kept) if kept else []
        for line in lines:
            await self._exchange(line)
        if refused:
            raise UncarriableValue("; ".join(refused) + " (not set; the other variables were)")

    async def verbose(self, message: str, level: int = 3) -> None:
        # The level unquoted, as pyst2 sends it, so both transports put the same bytes on the wire.
        await self._exchange(f"VERBOSE {quote(message)} {int(level)}\n")

    async def close(self) -> None:
        """Flush, then end the AGI exchange so the dialplan goes on; the handler may keep working.

        Asterisk is released even when the flush fails (hang-up, timeout, a value rejected): the
        error then goes on to the route, which records the call as it does for any failed exchange.
        """
        if self.closed:
            return
        try:
            await self.flush()
        finally:
            self.closed = True
            self._release()


class PlainSession(AgiSession):
    def __init__(self, agi: PystAGI, detach) -> None:
        self.agi = agi
        self.env = agi.env
        self._detach = detach
        self.closed = False

    async def _exchange(self, line: str) -> Reply:
        agi = self.agi
        agi.execute(line[:-1])  # pyst2's: a SIGHUP from Asterisk is noticed before the line goes
        return agi.last_reply

    def _release(self) -> None:
        self._detach()


def run_sync(coroutine):
    """Drive a coroutine whose awaits all complete at once (PlainSession, PlainStore)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("a plain AGI handler awaited something that suspends")


__all__ = ["AgiHangup", "AgiSession", "PlainSession", "PystAGI", "format_command", "run_sync"]
