"""AsyncSession: the AgiSession of one FastAGI connection, over asyncio streams.

The wire rules are agi/protocol.py's, shared with the plain script: same command lines byte for
byte, same reply parsing (100 Trying, 510, 511, both 520 forms, `HANGUP`), same exceptions.
What is particular to a socket:

- a read deadline: Asterisk sends its environment at once and answers a GET or SET in well under
  a millisecond, so a peer that does not is stalled, half-open or not Asterisk. One timer per
  connection enforces it (re-armed lazily, not one timer per line: at thousands of lines a
  second that matters), and aborts the connection when it passes;
- the environment block has one deadline as a whole, so a peer cannot trickle lines to hold a
  connection forever; it is bounded in lines and every line in bytes;
- `close()` flushes the buffered sets (agi/session.py), then closes the socket, which is what
  lets Asterisk go on with the dialplan; the handler keeps running after it (its Redis write)
  in the same task.
"""

from __future__ import annotations

import asyncio

from ..agi.protocol import (
    MAX_LINE_BYTES,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
    EnvParser,
    Reply,
    ReplyParser,
)
from ..agi.session import AgiSession

# The StreamReader's own cap: a line longer than this is refused before it is buffered whole.
READ_LIMIT = MAX_LINE_BYTES + 2


class AsyncSession(AgiSession):
    """One FastAGI call. `env` is filled by `read_env()`; handlers then use get/set/close."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float, peer: str = ""
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout_s = timeout_s
        self.peer = peer
        self.env: dict[str, str] = {}
        self.closed = False
        self.last_reply: Reply | None = None
        self.commands = 0
        self._loop = asyncio.get_running_loop()
        self._since: float | None = None  # when the pending read began; None when not reading
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False

    # -- the deadline -------------------------------------------------------------------------

    def _arm(self) -> None:
        self._since = now = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self.timeout_s, self._check)

    def _check(self) -> None:
        self._timer = None
        since = self._since
        if since is None or self.closed:
            return  # not reading now: the next read arms a new timer
        due = since + self.timeout_s
        if self._loop.time() >= due:
            self._timed_out = True
            self.writer.transport.abort()  # the pending read ends at once, with EOF
        else:
            self._timer = self._loop.call_at(due, self._check)

    async def _read(self, separator: bytes) -> bytes:
        """Bytes up to and with `separator`, or what came before the end of input (b"" for none).
        LimitOverrunError (nothing consumed) when more than READ_LIMIT bytes come without it."""
        try:
            data = await self.reader.readuntil(separator)
        except asyncio.IncompleteReadError as exc:
            data = exc.partial
        except OSError as exc:
            if self._timed_out:
                raise AgiTimeout(f"no line from Asterisk within {self.timeout_s:.1f}s") from None
            raise AgiHangup(f"FastAGI connection failed: {exc}") from None
        if self._timed_out:
            raise AgiTimeout(f"no line from Asterisk within {self.timeout_s:.1f}s")
        return data

    async def _readline(self) -> str:
        """One line as FdLines.readline gives it: '' at end of input, else ending in a newline."""
        try:
            data = await self._read(b"\n")
        except asyncio.LimitOverrunError:
            raise AgiProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes") from None
        if not data:
            return ""
        if data[-1:] != b"\n":  # input ended inside a line
            return data.decode("utf-8", "replace")
        return data[:-1].decode("utf-8", "replace").rstrip("\r") + "\n"

    # -- the exchange -------------------------------------------------------------------------

    async def read_env(self) -> dict[str, str]:
        """The `agi_*` block, whole, within one deadline (protocol.EnvParser); no input: a hang-up.

        Asterisk sends the block at once, so it is taken in one read up to its blank line and
        given to the parser line by line, as if read so: the same environment and the same
        refusals, one wake-up instead of some thirty (cProfile under bench/driver.py). A block
        longer than one line's cap is read line by line, where each line is bounded. A peer
        whose block ends otherwise than with an empty line (CR LF, a line of spaces) and then
        waits is not Asterisk: it meets the deadline, and the call goes on as on any timeout."""
        parser = EnvParser()
        self._arm()  # one deadline for the whole block
        try:
            env = await self._read_block(parser)
            while env is None:
                env = parser.feed(await self._readline())
        finally:
            self._since = None
        self.env = env
        return env

    async def _read_block(self, parser: EnvParser) -> dict[str, str] | None:
        """Feed `parser` the block up to its first empty line; None when it must go on line by line."""
        try:
            data = await self._read(b"\n\n")
        except asyncio.LimitOverrunError:
            return None
        *lines, rest = data.decode("utf-8", "replace").split("\n")
        env = parser.feed_lines(lines)  # a line of spaces before the empty one ends it there, as read
        if env is not None:
            return env
        if rest:  # input ended inside a line
            env = parser.feed(rest)
            if env is not None:
                return env
        return parser.feed("")  # the input ended before the block did: the parser refuses it

    async def _exchange(self, line: str) -> Reply:
        """Send one command line (from format_command) and read its reply."""
        if self.closed:
            raise AgiHangup("the AGI exchange is closed")
        transport = self.writer.transport
        if transport.is_closing():
            raise AgiHangup("the FastAGI connection is closed")
        transport.write(line.encode("utf-8"))
        self.commands += 1
        parser = ReplyParser()
        try:
            while True:
                self._arm()
                reply = parser.feed(await self._readline())
                if reply is not None:
                    self.last_reply = reply
                    return reply
        finally:
            self._since = None

    def _disarm(self) -> None:
        """No more reads: closed, and the deadline timer stopped."""
        self.closed = True
        self._since = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self) -> None:
        """Close our side; the dialplan continues as soon as Asterisk sees it."""
        self._disarm()
        try:
            self.writer.close()
        except Exception:
            pass

    def abort(self) -> None:
        """Drop the connection now (allow-list, overload, protocol error): nothing is flushed."""
        self._disarm()
        try:
            self.writer.transport.abort()
        except Exception:
            pass
