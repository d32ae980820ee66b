"""Asterisk's side of an AGI exchange, for tests and benchmarks.

A ChannelModel answers GET FULL VARIABLE / SET VARIABLE / VERBOSE the way res_agi.c does, from
a dict of channel variables and dialplan functions, and records every command line it received,
split into arguments by the same rules as res_agi.c's parse_args. That split is what the
injection tests assert on: a hostile caller-ID name must never add an argument or a command.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

_EXPR = re.compile(r"\$\{([^{}]*)\}")


def parse_args(line: str) -> list[str]:
    """res_agi.c parse_args, line for line: quotes toggle, backslash escapes, blanks split."""
    args: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                cur = []
                args.append("")
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            if cur is not None:
                args[-1] = "".join(cur)
            cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            cur = []
            args.append("")
            whitespace = False
        if cur is None:
            cur = []
        cur.append(ch)
        args[-1] = "".join(cur)
        escaped = False
    return args


def separate_args(text: str, limit: int = 100) -> list[str]:
    """app.c __ast_app_separate_args with remove_chars (AST_STANDARD_APP_ARGS), as ARRAY() uses it.

    A comma separates unless inside (...), [...] or quotes; a double quote toggles quoting and is
    removed; a backslash is removed and the next character kept literally; a closing paren or
    bracket without its opening one counts nothing. The `limit`-th item is the rest, unparsed.
    """
    args: list[str] = []
    i = 0
    n = len(text)
    ended_on_comma = False
    while i < n and len(args) < limit - 1:
        cur: list[str] = []
        paren = bracket = 0
        quoted = False
        ended_on_comma = False
        while i < n:
            ch = text[i]
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == "[":
                bracket += 1
            elif ch == "]":
                bracket = max(0, bracket - 1)
            elif ch == '"':
                quoted = not quoted
                i += 1
                continue
            elif ch == "\\":
                i += 1
                if i < n:
                    cur.append(text[i])
                    i += 1
                continue
            elif ch == "," and not (paren or quoted or bracket):
                i += 1
                ended_on_comma = True
                break
            cur.append(ch)
            i += 1
        args.append("".join(cur))
    if i < n or ended_on_comma:
        args.append(text[i:])
    return args


def array_names(name: str) -> list[str] | None:
    """The names of `ARRAY(A,B,...)` as func_strings splits them, or None for another name."""
    if name.upper().startswith("ARRAY(") and name.endswith(")"):
        return separate_args(name[6:-1])
    return None


class ChannelModel:
    """One channel as an AGI peer sees it."""

    def __init__(
        self,
        variables: dict[str, str] | None = None,
        functions: dict[str, str] | None = None,
        clock_ms=None,
        dead: bool = False,
    ) -> None:
        self.variables = dict(variables or {})
        self.functions = dict(functions or {})
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.dead = dead
        self.commands: list[str] = []
        self.sets: list[tuple[str, str]] = []

    def expand(self, text: str) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name == "STRFTIME(,,%s%3q)":
                return str(self.clock_ms())
            if name in self.functions:
                return self.functions[name]
            return self.variables.get(name, "")

        return _EXPR.sub(one, text)

    def reply(self, line: str) -> str:
        self.commands.append(line)
        args = parse_args(line)
        verb = " ".join(args[:3]).upper()
        if verb.startswith("GET FULL VARIABLE") and len(args) >= 4:
            return f"200 result=1 ({self.expand(args[3])})"
        if verb.startswith("GET VARIABLE") and len(args) >= 3:
            value = self.variables.get(args[2])
            return f"200 result=1 ({value})" if value is not None else "200 result=0"
        if verb.startswith("SET VARIABLE") and len(args) == 4:
            names = array_names(args[2])
            if names is None:
                pairs = [(args[2], args[3])]
            else:  # func_strings.c array(): missing values set the name to ""
                values = separate_args(args[3])
                pairs = [(name, values[i] if i < len(values) else "") for i, name in enumerate(names)]
            for name, value in pairs:
                self.variables[name] = value
                self.sets.append((name, value))
            return "200 result=1"
        if verb.startswith("SET VARIABLE"):
            return "520 Invalid command syntax.  Proper usage not available."
        if args and args[0].upper() == "VERBOSE":
            return "200 result=1"
        if self.dead:
            return "511 Command Not Permitted on a dead channel or intercept routine"
        return "510 Invalid or unknown command"


ONE_NUMBER = """[general]
caller_hash_key = test-key-0123456789abcdef
default_queue = support
spool_dir = /nonexistent/spool

[0899123456]
queue = support
rate = 0.80/min
"""


def one_number_config(directory):
    """The config of the in-process route tests: one premium number on the `support` queue."""
    from premium_hotline.config import load_config

    path = directory / "premium-hotline.conf"
    path.write_text(ONE_NUMBER)
    loaded = load_config(str(path))
    assert not loaded.errors, loaded.errors
    return loaded


# What decide_tariff leaves on the channel of a premium call to 0899123456 (queue support).
PREMIUM_MARKS = {
    "PH_TARIFF": "premium",
    "PH_DECIDED": "premium",
    "PH_REASON": "premium",
    "PH_RATE": "0.80/min",
    "PH_COMMITMENT_S": "60",
    "PH_QUEUE": "support",
    "PH_DID": "0899123456",
}


def channel_in_call(route: str, now_ms: int) -> ChannelModel:
    """The channel as `route` finds it in a normal call at `now_ms`: an agent ready for
    decide_tariff, a premium call answered after 20 s for the later routes (call_ended: dead)."""
    channel = ChannelModel(
        variables={"PH_ARRIVED_MS": str(now_ms - 30_000)},
        functions={
            "QUEUE_MEMBER(support,ready)": "2",
            "QUEUE_MEMBER(support,logged)": "2",
            "QUEUE_WAITING_COUNT(support)": "0",
        },
        clock_ms=lambda: now_ms,
    )
    if route != "decide_tariff":
        channel.variables.update(
            PREMIUM_MARKS, PH_QUEUED_MS=str(now_ms - 28_000), MEMBERINTERFACE="Local/agent1@agents/n"
        )
        channel.functions["SHARED(PH_HUMAN_MS)"] = str(now_ms - 10_000)
    if route == "call_ended":
        channel.dead = True
    return channel


def env_block(env: dict[str, str]) -> bytes:
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"


def default_env(uniqueid: str = "1700000000.1", extension: str = "0899123456", **more: str) -> dict[str, str]:
    env = {
        "agi_request": "decide_tariff.py",
        "agi_channel": "Local/100@hotline-00000001;2",
        "agi_language": "en",
        "agi_type": "Local",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.0.0",
        "agi_callerid": "0612345678",
        "agi_calleridname": "Jean Dupont",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "unknown",
        "agi_rdnis": "unknown",
        "agi_context": "premium-hotline",
        "agi_extension": extension,
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "1",
    }
    env.update(more)
    return env


class RunResult:
    def __init__(self, returncode, stderr, elapsed_s, channel) -> None:
        self.returncode = returncode
        self.stderr = stderr
        self.elapsed_s = elapsed_s
        self.channel = channel


def run_script(
    script: str,
    env: dict[str, str],
    channel: ChannelModel,
    *,
    config: str,
    extra_environ: dict[str, str] | None = None,
    timeout_s: float = 10,
    cut_after: int | None = None,
    sighup_after: int | None = None,
    raw_replies: dict[int, str] | None = None,
    unanswered: frozenset = frozenset(),
) -> RunResult:
    """Run an AGI script as Asterisk does: env block on stdin, answer each command line.

    `cut_after=N` closes stdin after N commands (the caller vanished); `sighup_after=N` sends
    SIGHUP as Asterisk does on hang-up; `raw_replies={i: line}` answers command i with that line;
    commands whose index is in `unanswered` get no reply at all (a stuck PBX).
    Returns when the script closes stdout (as Asterisk does), not when the process exits.
    """
    environ = {**os.environ, "PREMIUM_HOTLINE_CONFIG": config, **(extra_environ or {})}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    proc.stdin.write(env_block(env))
    proc.stdin.flush()
    buffer = b""
    count = 0
    deadline = start + timeout_s
    fd = proc.stdout.fileno()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            proc.kill()
            raise TimeoutError(f"{script} did not finish within {timeout_s}s; commands: {channel.commands}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode("utf-8", "replace")
            count += 1
            reply = (raw_replies or {}).get(count) or channel.reply(text)
            if sighup_after is not None and count == sighup_after:
                proc.send_signal(1)
            if count in unanswered:
                continue
            try:
                if cut_after is not None and count > cut_after:
                    proc.stdin.close()
                    continue
                proc.stdin.write((reply + "\n").encode())
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                pass
    elapsed = time.monotonic() - start
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    return RunResult(proc.returncode, stderr, elapsed, channel)
