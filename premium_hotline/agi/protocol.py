"""The AGI wire format, as res_agi.c speaks it: pure functions shared by both transports.

Asterisk splits an AGI command line into arguments itself (res_agi.c `parse_args`): a double
quote toggles quoting, a backslash makes the next character literal, and the line ends at the
first newline. So a value is safe once it is quoted, its backslashes and quotes are escaped, and
it holds no line break: then no caller-ID name, however hostile, can end a command early or add
one. Asterisk also reads a command into a 2048-byte buffer and treats the rest as a new command,
so values are cut well below that.
"""

from __future__ import annotations

from .pyst2_loader import pyst2

# One name per failure, for both sessions and both runners. The first four are pyst2's own
# classes under our names (not subclasses): pyst2 raises them, and its subclasses (SIGHUP,
# result=-1 hang-ups...), from inside PystAGI, so a catcher of AgiHangup catches those too.
AgiError = pyst2.AGIError  # every AGI failure: the exchange cannot go on
AgiHangup = pyst2.AGIHangup  # the channel hung up, the FastAGI peer said HANGUP, or the input ended
AgiUsageError = pyst2.AGIUsageError  # 520: Asterisk rejected the command's syntax
AgiInvalidCommand = pyst2.AGIInvalidCommand  # 510: Asterisk does not know the command

MAX_VALUE_BYTES = 1000  # one value; a command carries at most two, well under Asterisk's 2048
MAX_LINE_BYTES = 8192  # longest reply line we accept before calling the exchange broken
MAX_ENV_BYTES = 65536  # the whole environment block (Asterisk's is a few hundred bytes)
MAX_ENV_LINES = 200  # the environment block's lines (Asterisk sends about 25, FastAGI 3 more)
MAX_INTERIM_LINES = 20  # `100 Trying` lines before one reply (GOSUB sends one)


class AgiDeadChannel(AgiHangup):
    """511: the command is not allowed on a dead channel: the caller has gone, a hang-up.

    A subclass of AgiHangup: both runners treat it as the caller hanging up, not as a broken
    exchange.
    """


class AgiTimeout(AgiError):
    """Asterisk did not answer within the read deadline."""


class AgiProtocolError(AgiError):
    """A reply that is not AGI: garbage, an unknown code, an over-long line."""


__all__ = [
    "AgiDeadChannel",
    "AgiError",
    "AgiHangup",
    "AgiInvalidCommand",
    "AgiProtocolError",
    "AgiTimeout",
    "AgiUsageError",
    "EnvParser",
    "Reply",
    "ReplyParser",
    "format_command",
    "parse_env",
    "pyst2",
    "quote",
    "read_reply",
]


def _cut_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def quote(value: object) -> str:
    """One AGI argument: quoted, escaped, on one line, bounded in length."""
    text = str(value)
    if "\r" in text or "\n" in text or "\0" in text:
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\0", "")
    text = _cut_utf8(text, MAX_VALUE_BYTES)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(verb: str, *args: object) -> str:
    """A full command line; `verb` is ours (never caller data), every argument is quoted."""
    return " ".join((verb, *(quote(arg) for arg in args))) + "\n"


def parse_env(lines: list[str]) -> dict[str, str]:
    """The `agi_*: value` block Asterisk sends first. Lines without a colon are ignored."""
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key:
            env[key] = value.strip()
    return env


class EnvParser:
    """The environment block, line by line, without I/O: both sessions feed it what they read.

    `feed(line)` (a line as read, "" at end of input) gives the `agi_*` dict once the blank line
    that ends the block has come, else None. A block that ends without its blank line, or runs
    past MAX_ENV_LINES or MAX_ENV_BYTES, is not AGI: the script was started by hand, or the
    peer is not Asterisk. Input that ends before the block began is a hang-up.
    """

    __slots__ = ("lines", "size")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0

    def feed(self, line: str) -> dict[str, str] | None:
        if line == "":
            if not self.lines:
                raise AgiHangup("no AGI environment: input ended before it began")
            raise AgiProtocolError("AGI environment ended without its blank line")
        line = line.rstrip("\r\n")
        if not line.strip():
            return parse_env(self.lines)
        self.lines.append(line)
        self.size += len(line)
        if len(self.lines) > MAX_ENV_LINES:
            raise AgiProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
        if self.size > MAX_ENV_BYTES:
            raise AgiProtocolError(f"AGI environment larger than {MAX_ENV_BYTES} bytes")
        return None


class Reply:
    """A `200 result=N (data) endpos=N` line: result and data as strings, flags kept."""

    __slots__ = ("data", "endpos", "line", "result")

    def __init__(self, result: str, data: str, endpos: str, line: str) -> None:
        self.result = result
        self.data = data
        self.endpos = endpos
        self.line = line

    @property
    def timed_out(self) -> bool:
        """GET DATA and friends report a timeout as `(timeout)`, which pyst2 loses."""
        return self.data == "timeout"

    def __repr__(self) -> str:
        return f"Reply({self.line!r})"


def parse_200(line: str) -> Reply:
    """Parse the text after `200 `: `result=1 (some value) endpos=1234`.

    The data sits between the first ' (' after the result and the last ')' on the line, so a
    value holding parentheses survives; pyst2 splits it with a regex that can cut it short.
    """
    body = line[4:] if line.startswith("200") else line
    result = ""
    data = ""
    endpos = ""
    if body.startswith("result="):
        rest = body[7:]
        space = rest.find(" ")
        if space < 0:
            result = rest
            rest = ""
        else:
            result = rest[:space]
            rest = rest[space + 1 :]
        if rest.startswith("("):
            close = rest.rfind(")")
            if close >= 0:
                data = rest[1:close]
                rest = rest[close + 1 :].strip()
        if rest.startswith("endpos="):
            endpos = rest[7:]
    else:
        raise AgiProtocolError(f"200 reply without result=: {line[:80]!r}")
    return Reply(result, data, endpos, line)


class ReplyParser:
    """Turns reply lines into one Reply, fed a line at a time (sans I/O, for both transports).

    Handles what Asterisk actually sends: `100 result=0 Trying...` before GOSUB's reply, the
    FastAGI `HANGUP` line in the middle of an exchange, 511 on a dead channel, and both 520 forms
    (a single `520 Invalid command syntax...` line, or `520-` lines ending with `520 End of...`).
    `feed` returns the Reply, or None when it needs another line; errors are raised.
    """

    __slots__ = ("_interim", "_usage")

    def __init__(self) -> None:
        self._usage: list[str] | None = None
        self._interim = 0

    def feed(self, line: str) -> Reply | None:
        if line == "":
            raise AgiHangup("AGI input ended (caller hung up or Asterisk closed the pipe)")
        line = line.rstrip("\r\n")
        if self._usage is not None:
            self._usage.append(line)
            if line.startswith("520 ") or len(self._usage) > 200:
                usage, self._usage = self._usage, None
                raise AgiUsageError("\n".join(usage)[:2000])
            return None
        if line == "HANGUP":
            raise AgiHangup("FastAGI HANGUP from Asterisk")
        code = line[:3]
        if code == "200":
            reply = parse_200(line)
            if reply.result == "-1":
                raise AgiHangup(f"command failed on a hung-up channel: {line[:80]!r}")
            return reply
        if code == "100":
            # Each line gets its own read deadline: a peer sending these forever would hold the
            # route (and the caller) forever without this bound.
            self._interim += 1
            if self._interim > MAX_INTERIM_LINES:
                raise AgiProtocolError(f"more than {MAX_INTERIM_LINES} interim '100' lines for one command")
            return None
        if code == "511":
            raise AgiDeadChannel(line[:200])
        if code == "510":
            raise AgiInvalidCommand(line[:200])
        if code == "520":
            if line.startswith("520-"):
                self._usage = [line]
                return None
            raise AgiUsageError(line[:2000])
        raise AgiProtocolError(f"unexpected AGI reply: {line[:80]!r}")


def read_reply(readline) -> Reply:
    """Read one reply with a blocking file-like `readline()` ('' at end of input)."""
    parser = ReplyParser()
    while True:
        reply = parser.feed(readline())
        if reply is not None:
            return reply
