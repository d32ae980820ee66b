"""The AGI wire format, as res_agi.c speaks it: pure functions shared by both transports.

Asterisk splits an AGI command line into arguments itself (res_agi.c `parse_args`): a double
quote toggles quoting, a backslash makes the next character literal, and the line ends at the
first newline. So a value is safe once it is quoted, its backslashes and quotes are escaped, and
it holds no line break: then no caller-ID name, however hostile, can end a command early or add
one. Asterisk also reads a command into a 2048-byte buffer (res_agi.c AGI_BUF_LEN) and treats
the rest as a new command, so every command line is kept below that.

Setting many variables costs one round trip with func_strings' `ARRAY(A,B,...)`: its names and
its value are split again by app.c `__ast_app_separate_args` (a comma separates; a backslash
makes the next character literal and is removed; a double quote toggles quoting and is removed;
a comma inside `(...)` or `[...]` does not separate). So inside ARRAY each value is escaped a
second time, a backslash before each of `\\ , " ( ) [ ]`, before the AGI quoting of the whole
argument. Checked on the sandbox's Asterisk 22 (tests/e2e/test_array_sets_on_real_asterisk.py):
a comma escaped once only (one backslash on the wire) is unescaped by the AGI layer already,
and ARRAY() then splits the value there.
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
MAX_COMMAND_BYTES = 2000  # one command line with its newline: res_agi.c reads 2048 bytes at most
# ARRAY() splits into at most 100 items and leaves the 100th unparsed (escapes kept): stay far below.
MAX_ARRAY_ITEMS = 50
MAX_LINE_BYTES = 8192  # longest reply line we accept before calling the exchange broken
MAX_ENV_BYTES = 65536  # the whole environment block (Asterisk's is a few hundred bytes)
MAX_ENV_LINES = 200  # the environment block's lines (Asterisk sends about 25, FastAGI 3 more)
MAX_INTERIM_LINES = 20  # `100 Trying` lines before one reply (GOSUB sends one)


class AgiDeadChannel(AgiHangup):
    """511: the command is not allowed on a dead channel: the caller has gone, a hang-up.

    A subclass of AgiHangup: both runners treat it as the caller hanging up, not as a broken
    exchange.
    """


class UncarriableValue(AgiError):
    """A SET VARIABLE Asterisk could not receive intact: rejected whole, nothing half-sent.

    A value holding a line break or NUL would end the AGI line early; one too long for a
    command line would be cut by Asterisk's buffer; a name that is not a plain variable or
    `FUNC(args)` could be split by ARRAY(). An AgiError: the route ends as on any exchange that
    cannot go on, and the dialplan takes over (no call hangs on it).
    """


class AgiTimeout(AgiError):
    """Asterisk did not answer within the read deadline."""


class AgiProtocolError(AgiError):
    """A reply that is not AGI: garbage, an unknown code, an over-long line."""


__all__ = [
    "MAX_ARRAY_ITEMS",
    "MAX_COMMAND_BYTES",
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
    "UncarriableValue",
    "array_escape",
    "format_command",
    "format_sets",
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


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_ARG_CHARS = _NAME_CHARS | frozenset(",-.")
_ARRAY_SPECIALS = frozenset('\\,"()[]')
_ARRAY_ESCAPES = str.maketrans({ch: "\\" + ch for ch in _ARRAY_SPECIALS})


_NAMES_SEEN: set[str] = set()  # names already found good: a route sets the same dozen each call


def _check_name(name: str) -> None:
    """`PH_X` or `CDR(userfield)`: nothing ARRAY() or the AGI quoting could split or change."""
    if name in _NAMES_SEEN:
        return
    head, paren, rest = name.partition("(")
    ok = bool(head) and all(ch in _NAME_CHARS for ch in head)
    if paren:
        ok = ok and rest.endswith(")") and all(ch in _ARG_CHARS for ch in rest[:-1])
    if not ok:
        raise UncarriableValue(f"variable name {name[:60]!r} is not NAME or FUNC(args)")
    if len(_NAMES_SEEN) < 1024:
        _NAMES_SEEN.add(name)


def _value_text(name: str, value: object) -> str:
    text = value if type(value) is str else str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        raise UncarriableValue(f"{name}: the value holds a line break or NUL, which would end the AGI line")
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise UncarriableValue(f"{name}: the value is not valid Unicode (a lone surrogate)") from None
    if size > MAX_VALUE_BYTES:
        raise UncarriableValue(f"{name}: the value is over {MAX_VALUE_BYTES} bytes")
    return text


def array_escape(text: str) -> str:
    """One value as ARRAY()'s argument parser must see it to keep it whole (the second layer)."""
    if _ARRAY_SPECIALS.isdisjoint(text):  # most values: translate() looks up every character
        return text
    return text.translate(_ARRAY_ESCAPES)


def _agi_arg(text: str) -> str:
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text + '"'


def format_sets(pairs) -> list[str]:
    """SET VARIABLE command lines for `(name, value)` pairs: as few as the limits allow, in order.

    One pair is a plain `SET VARIABLE "N" "v"`; several are `SET VARIABLE "ARRAY(N1,N2)" "v1,v2"`,
    each value escaped for ARRAY() then the whole argument quoted for AGI, a new command started
    before one would pass MAX_COMMAND_BYTES or MAX_ARRAY_ITEMS. The same name twice keeps the last
    value, at the first one's place. Raises UncarriableValue (nothing is formatted) for a value
    with a line break or NUL, one over MAX_VALUE_BYTES, or a name that is not NAME or FUNC(args).
    """
    values: dict[str, str] = {}
    for name, value in pairs:
        _check_name(name)
        values[name] = _value_text(name, value)
    commands: list[str] = []
    group: list[tuple[str, str]] = []  # (name, value escaped for ARRAY)
    firsts: list[tuple[str, str]] = []  # each command's first pair, to name a line too long
    size = _ARRAY_OVERHEAD
    for name, text in values.items():
        escaped = array_escape(text)
        quoted = _agi_arg(escaped)
        # Its bytes and its name; its two quotes pay for its two commas.
        cost = len(name) + (len(quoted) if quoted.isascii() else len(quoted.encode("utf-8")))
        if group and (size + cost > MAX_COMMAND_BYTES or len(group) >= MAX_ARRAY_ITEMS):
            commands.append(_set_line(group, values))
            firsts.append(group[0])
            group, size = [], _ARRAY_OVERHEAD
        group.append((name, escaped))
        size += cost
    if group:
        commands.append(_set_line(group, values))
        firsts.append(group[0])
    for line, (name, _) in zip(commands, firsts, strict=True):
        # Only a lone value can get here (a character is 4 UTF-8 bytes at most).
        if len(line) > MAX_COMMAND_BYTES // 4 and len(line.encode("utf-8")) > MAX_COMMAND_BYTES:
            raise UncarriableValue(f"{name}: the value is too long for one AGI command line")
    return commands


_ARRAY_OVERHEAD = len('SET VARIABLE "ARRAY()" ""\n')


def _set_line(group: list[tuple[str, str]], values: dict[str, str]) -> str:
    """One SET VARIABLE: plain for a lone pair (no second layer), else ARRAY(...)."""
    if len(group) == 1:
        name = group[0][0]
        return f"SET VARIABLE {_agi_arg(name)} {_agi_arg(values[name])}\n"
    names = ",".join(name for name, _ in group)
    return f"SET VARIABLE {_agi_arg('ARRAY(' + names + ')')} {_agi_arg(','.join(v for _, v in group))}\n"


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
        return self.feed_lines((line,))

    def feed_lines(self, lines) -> dict[str, str] | None:
        """`feed` for several whole lines (with or without their newline), in order: the FastAGI
        server reads the block at once."""
        kept = self.lines
        for line in lines:
            line = line.rstrip("\r\n")
            if not line.strip():
                return parse_env(kept)
            kept.append(line)
            self.size += len(line)
            if len(kept) > MAX_ENV_LINES:
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
