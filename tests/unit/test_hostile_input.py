"""Hostile and broken input, as property tests over the real handlers and both session classes.

What Asterisk hands the plugin (the environment block, every reply, every channel value read
back) is data its callers partly control: a caller-ID name, a SIP header copied into a variable,
a FastAGI peer that is not Asterisk at all. Whatever it is, it must never:

- add an AGI command, or an argument to one (asserted on the exact command stream, split by
  res_agi.c's own rules: sandbox.agi_peer.parse_args);
- produce a Redis key outside `<prefix><kind>:{<plain tag>}...` (KEY below);
- make the route allocate without bound (every batch under BATCH_BOUND bytes; the environment,
  each line and each reply's interim lines are capped);
- escape as anything but an AGI error (which the runners turn into a clean exit).

And every malformed config gives exactly one `file:line: key: problem` line per problem.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from premium_hotline.agi.lines import FdLines, read_env
from premium_hotline.agi.protocol import (
    MAX_ENV_BYTES,
    MAX_INTERIM_LINES,
    AgiError,
    AgiProtocolError,
)
from premium_hotline.config import load_config
from premium_hotline.server.session import READ_LIMIT, AsyncSession
from premium_hotline.store.keys import Keys
from sandbox.agi_peer import (
    ONE_NUMBER,
    ChannelModel,
    channel_in_call,
    default_env,
    one_number_config,
    parse_args,
)
from tests.support.inprocess import run_route

T = 1_790_000_000_000  # the Asterisk clock of every run here (ms)
# The hostile strategies draw values of several kilobytes on purpose (a 5,000-digit number, 3 KB
# texts): Hypothesis' size and speed health checks would fail a run for doing what it is meant to.
SLOW_DATA = [HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.too_slow]
ROUTES = ("decide_tariff", "agent_answered", "call_ended")
TRANSPORTS = ("plain", "fastagi")
BATCH_BOUND = 64_000  # bytes per route batch, whatever the input (replies are capped at 8 KB a line)

KEY = re.compile(
    r"^ph:(?:events|queues"
    r"|(?:call|waiting|recent|arrivals|ended|open):\{[A-Za-z0-9._/-]{1,128}\}"
    r"|(?:kpi|counted|lost):\{[A-Za-z0-9._/-]{1,128}\}:\d{10,12}"
    r"|promise:\{[A-Za-z0-9._/-]{1,128}\}:\d{1,32}:\d{8}|promised:\{[A-Za-z0-9._/-]{1,128}\}:\d{10})$"
)
_ONE_KEY = {
    *("HSET", "EXPIRE", "XADD", "ZREMRANGEBYSCORE", "ZADD", "SADD", "LPUSH", "LTRIM", "ZREM", "LRANGE"),
    "HGETALL",
}

NASTY = [
    '"',
    "\\",
    "\n",
    "\r",
    "\r\n",
    "\0",
    'x"\nEXEC Dial SIP/evil\n',
    '\\"; EXEC System "rm -rf /"',
    "}{",
    "a}b",
    "${SHELL(id)}",
    "|",
    "||||",
    ")",
    "200 result=1",
    "HANGUP",
    "\u2028",
    "\x85",
    "é" * 700,
    "9" * 5000,
    " " * 50,
    "²",  # digits to str.isdigit, not to a PBX
    "٠٨٩٩١٢٣٤٥٦",
    "0899１２３４５６",
]
hostile = st.one_of(st.sampled_from(NASTY), st.text(max_size=120), st.text(min_size=1500, max_size=3000))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return one_number_config(tmp_path_factory.mktemp("hostile"))


def channel_for(route: str) -> ChannelModel:
    """The channel as each route finds it in a normal call (agent ready, answered in 20 s)."""
    return channel_in_call(route, T)


def run(route, env, responder, config, transport):
    return run_route(route, env, responder, config, T, transport)


_REFERENCE: dict = {}


def reference(route: str, transport: str, config):
    key = (route, transport)
    if key not in _REFERENCE:
        channel = channel_for(route)
        outcome = run(route, default_env(), lambda line: [channel.reply(line)], config, transport)
        assert outcome.error is None and outcome.store.writes
        _REFERENCE[key] = outcome
    return _REFERENCE[key]


def command_shape(line: str) -> tuple[str, ...]:
    """What a line is for Asterisk: the verb and, for SET, the variable; exactly 4 arguments."""
    args = parse_args(line)
    assert len(args) == 4, line
    if args[:3] == ["GET", "FULL", "VARIABLE"]:
        return ("GET",)
    assert args[:2] == ["SET", "VARIABLE"], line
    return ("SET", args[2])


def keys_of(command: list) -> list[str]:
    name = command[0]
    if name == "EVAL":
        return [str(k) for k in command[3 : 3 + int(command[2])]]
    assert name in _ONE_KEY, command
    return [str(command[1])]


def check_store(outcome) -> None:
    for batch in outcome.store.reads + outcome.store.writes:
        size = 0
        for command in batch:
            if command[0] == "live-only":
                command = command[1:]
            for key in keys_of(command):
                assert KEY.match(key), key
            size += sum(len(str(arg).encode("utf-8", "replace")) for arg in command)
        assert size < BATCH_BOUND


# The other legitimate command streams a route has: decide_tariff stamps PH_ARRIVED_MS when the
# dialplan did not; agent_answered downgrades a late answer (three more SETs).
VARIANTS = {
    "decide_tariff": lambda channel: channel.variables.pop("PH_ARRIVED_MS"),
    "agent_answered": lambda channel: channel.variables.update(PH_COMMITMENT_S="1"),
}


def allowed_shapes(route: str, transport: str, config) -> list[list[tuple]]:
    shapes = [[command_shape(line) for line in reference(route, transport, config).lines]]
    if route in VARIANTS:
        channel = channel_for(route)
        VARIANTS[route](channel)
        other = run(route, default_env(), lambda line: [channel.reply(line)], config, transport)
        assert other.error is None
        shapes.append([command_shape(line) for line in other.lines])
        assert shapes[0] != shapes[1]
    return shapes


def set_names(shape: tuple[str, ...]) -> list[str]:
    """The variables one SET carries: its name, or each name inside ARRAY(...)."""
    name = shape[1]
    if not (name.startswith("ARRAY(") and name.endswith(")")):
        return [name]
    names, depth, current = [], 0, ""
    for ch in name[len("ARRAY(") : -1]:
        if ch == "," and depth == 0:
            names.append(current)
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    return [*names, current]


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    rest = iter(whole)
    return all(name in rest for name in part)


def same_or_fewer(shape: tuple[str, ...], legitimate: tuple[str, ...]) -> bool:
    """A command of a legitimate stream, or its SET with some variables left out (a value
    Asterisk could not carry costs only itself: agi/session.py flush)."""
    if shape == legitimate:
        return True
    return shape[0] == legitimate[0] == "SET" and is_subsequence(set_names(shape), set_names(legitimate))


def check_stream(outcome, route: str, transport: str, config) -> None:
    """No extra command: each line is one well-formed command, in a legitimate stream's order."""
    assert outcome.error is None or isinstance(outcome.error, AgiError), repr(outcome.error)
    shapes = [command_shape(line) for line in outcome.lines]
    variants = allowed_shapes(route, transport, config)
    assert any(
        len(shapes) <= len(variant) and all(map(same_or_fewer, shapes, variant)) for variant in variants
    ), (shapes, variants)


# -- the environment block ------------------------------------------------------------------

CALLER_FIELDS = (
    "agi_callerid",
    "agi_calleridname",
    "agi_channel",
    "agi_uniqueid",
    "agi_accountcode",
    "agi_rdnis",
    "agi_language",
    "agi_type",
    "agi_context",
    "agi_threadid",
)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_DATA)
@given(field=st.sampled_from(CALLER_FIELDS), value=hostile)
def test_a_hostile_caller_or_channel_value_leaves_the_command_stream_byte_for_byte_the_same(
    config, route, transport, field, value
):
    """None of these values is ever sent to Asterisk: the stream must be the reference's, byte
    for byte, and every key stays in the prefix (a hostile uniqueid is hashed into the tag)."""
    channel = channel_for(route)
    env = default_env(**{field: value})
    outcome = run(route, env, lambda line: [channel.reply(line)], config, transport)
    ref = reference(route, transport, config)
    assert outcome.error is None
    assert outcome.lines == ref.lines
    check_store(outcome)


@pytest.mark.parametrize("transport", TRANSPORTS)
@settings(max_examples=80, deadline=None, suppress_health_check=SLOW_DATA)
@given(
    values=st.dictionaries(st.sampled_from(["agi_extension", "agi_arg_1", "agi_dnid"]), hostile, min_size=1)
)
@example(values={"agi_extension": "²"})
@example(values={"agi_arg_1": "0899１２３４５６"})
@example(values={"agi_extension": 'x"\nEXEC Dial SIP/evil'})
def test_a_hostile_dialled_number_is_one_plain_argument_or_nothing(config, transport, values):
    channel = channel_for("decide_tariff")
    outcome = run(
        "decide_tariff", default_env(**values), lambda line: [channel.reply(line)], config, transport
    )
    assert outcome.error is None
    shapes = [command_shape(line) for line in outcome.lines]
    assert shapes == [command_shape(line) for line in reference("decide_tariff", transport, config).lines]
    did = channel.variables["PH_DID"]  # as Asterisk holds it after the one SET ARRAY(...)
    assert did == "" or (re.fullmatch(r"\+?\d{1,32}", did) and len(did) <= 32)
    check_store(outcome)


# -- channel values read back, and the replies themselves -----------------------------------

CHANNEL_VALUES = (
    "PH_ARRIVED_MS",
    "PH_QUEUED_MS",
    "PH_HUMAN_MS",
    "PH_TARIFF",
    "PH_DECIDED",
    "PH_REASON",
    "PH_RATE",
    "PH_COMMITMENT_S",
    "PH_QUEUE",
    "PH_DID",
    "PH_IVR",
    "QUEUESTATUS",
    "MEMBERINTERFACE",
    "SHARED(PH_HUMAN_MS)",
    "QUEUE_MEMBER(support,ready)",
    "STRFTIME(,,%s%3q)",
)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_DATA)
@given(values=st.dictionaries(st.sampled_from(CHANNEL_VALUES), hostile, min_size=1, max_size=4))
def test_hostile_channel_values_never_add_a_command_nor_a_key_outside_the_prefix(
    config, route, transport, values
):
    channel = channel_for(route)
    for name, value in values.items():
        if name.startswith(("SHARED", "QUEUE_", "STRFTIME")):
            channel.functions[name] = value
            if name.startswith("STRFTIME"):
                channel.clock_ms = lambda value=value: value
        else:
            channel.variables[name] = value

    def responder(line):
        # A value with a line break arrives as Asterisk would send it: as several lines.
        return channel.reply(line).replace("\r\n", "\n").split("\n")

    outcome = run(route, default_env(), responder, config, transport)
    check_stream(outcome, route, transport, config)
    check_store(outcome)


REPLIES = st.one_of(
    st.builds(lambda data: f"200 result=1 ({data})", hostile),
    st.sampled_from(
        [
            "200 result=1",
            "200 result=0",
            "200 result=-1",
            "200 result=",
            "200 result=1 (timeout)",
            "200 junk",
            "100 result=0 Trying...",
            "510 Invalid or unknown command",
            "511 Command Not Permitted on a dead channel or intercept routine",
            "520 Invalid command syntax.  Proper usage not available.",
            "520-Invalid command syntax.  Proper usage follows:",
            "520 End of proper usage.",
            "HANGUP",
            "",
            "   ",
            "agi_network: yes",
        ]
    ),
    hostile,
)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=80, deadline=None, suppress_health_check=SLOW_DATA)
@given(script=st.lists(st.lists(REPLIES, min_size=0, max_size=3), max_size=14))
def test_any_reply_stream_ends_the_route_cleanly_without_extra_commands(config, route, transport, script):
    """Asterisk answers command i with script[i] (any lines, or none: then end of input)."""
    replies = iter(script)

    def responder(_line):
        group = next(replies, None)
        if group is None:
            return [None]  # the peer is gone
        return [part for reply in group for part in reply.split("\n")] or [None]

    outcome = run(route, default_env(), responder, config, transport)
    check_stream(outcome, route, transport, config)
    check_store(outcome)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("line", "cap"),
    [("100 result=0 Trying...", MAX_INTERIM_LINES), ("520-Proper usage follows:", 200)],
)
def test_a_peer_that_never_finishes_a_reply_is_cut_off(config, transport, line, cap):
    """Each line arrives at once, so no read deadline fires: only a count can end this."""

    def responder(_command):
        return [line] * 2000

    outcome = run("decide_tariff", default_env(), responder, config, transport)
    assert isinstance(outcome.error, AgiError)
    check_stream(outcome, "decide_tariff", transport, config)
    # At most `cap` lines were taken for one command: a 100 line is not a reply, so the route
    # stops at its read; a 520 usage error is one, so the route goes on to fail at its next SET.
    assert len(outcome.lines) == (1 if cap == MAX_INTERIM_LINES else 2)
    assert outcome.reads <= (cap + 1) * len(outcome.lines)


# -- caps on the environment block ------------------------------------------------------------


def _pipe_reader(data: bytes) -> FdLines:
    """FdLines over a file holding `data` (a pipe would block on more than 64 KB)."""
    handle = tempfile.TemporaryFile()
    handle.write(data)
    handle.seek(0)
    reader = FdLines(handle.fileno(), 1.0)
    reader._keep = handle  # closed with the reader
    return reader


async def _session_env(data: bytes) -> dict:
    reader = asyncio.StreamReader(limit=READ_LIMIT)
    reader.feed_data(data)
    reader.feed_eof()

    class Writer:
        class transport:  # the attribute AsyncSession reads
            @staticmethod
            def abort():
                pass

        def close(self):
            pass

    return await AsyncSession(reader, Writer(), 1.0).read_env()


BIG_ENVS = {
    "too many lines": b"agi_x: y\n" * 400 + b"\n",
    "too many bytes": b"".join(b"agi_arg_%d: %s\n" % (i, b"x" * 4000) for i in range(1, 40)) + b"\n",
    "no blank line": b"agi_request: decide_tariff\n" * 3,
    "one huge line": b"agi_calleridname: " + b"x" * 200_000 + b"\n\n",
}


@pytest.mark.parametrize("case", sorted(BIG_ENVS))
def test_the_environment_block_is_bounded_in_both_readers(case):
    data = BIG_ENVS[case]
    with pytest.raises(AgiProtocolError):
        read_env(_pipe_reader(data).readline)
    with pytest.raises(AgiProtocolError):
        asyncio.run(_session_env(data))


def test_an_environment_at_the_limit_is_still_read():
    data = b"".join(b"agi_arg_%d: %s\n" % (i, b"x" * 900) for i in range(1, 60)) + b"\n"
    assert len(data) < MAX_ENV_BYTES
    assert len(read_env(_pipe_reader(data).readline)) == 59
    assert len(asyncio.run(_session_env(data))) == 59


@given(data=st.binary(max_size=2000))
@settings(max_examples=150, deadline=None)
def test_any_bytes_give_the_same_environment_or_the_same_refusal_in_both_readers(data):
    data = data + b"\n\n"
    results = []
    for read in (
        lambda: read_env(_pipe_reader(data).readline),
        lambda: asyncio.run(_session_env(data)),
    ):
        try:
            env = read()
        except AgiError as exc:
            results.append(type(exc).__name__)
        else:
            results.append(env)
    assert results[0] == results[1]


# -- key names ------------------------------------------------------------------------------


@given(text=st.one_of(hostile, st.text()), prefix=st.sampled_from(["ph:", "x:", "hotline-"]))
def test_no_value_can_make_a_key_outside_the_prefix_or_break_its_hash_tag(text, prefix):
    keys = Keys(prefix)
    names = [
        keys.call(text),
        keys.waiting(text),
        keys.recent(text),
        keys.arrivals(text),
        keys.ended(text),
        keys.kpi_minute(text, T),
        keys.counted(text, T),
    ]
    for name in names:
        assert name.startswith(prefix)
        rest = name[len(prefix) :]
        assert rest.count("{") == 1 and rest.count("}") == 1, name
        tag = rest.split("{", 1)[1].split("}", 1)[0]
        assert re.fullmatch(r"[A-Za-z0-9._/-]{1,128}", tag), name
        assert len(name) <= len(prefix) + 160


# -- config -----------------------------------------------------------------------------------

# (text after "[general]\n" on line 1, line of the one error, key of the one error)
MALFORMED = [
    ("redis_timeout_ms = soon\n", 2, "redis_timeout_ms"),
    ("redis_timeout_ms = 5\n", 2, "redis_timeout_ms"),
    ("fail_tariff = maybe\n", 2, "fail_tariff"),
    ("redis_url = http://127.0.0.1\n", 2, "redis_url"),
    ("redis_ca_file = /nonexistent/ca.pem\n", 2, "redis_ca_file"),
    ("caller_hash_key = short\n", 2, "caller_hash_key"),
    ("caller_hash_key_file = /nonexistent/key\n", 2, "caller_hash_key_file"),
    ("events_maxlen = 10\n", 2, "events_maxlen"),
    ("key_prefix = {ph}\n", 2, "key_prefix"),
    ("timezone = Mars/Olympus_Mons\n", 2, "timezone"),
    ("log_level = chatty\n", 2, "log_level"),
    ("promise_confidence = 2\n", 2, "promise_confidence"),
    ("redis_timeout = 200\n", 2, "redis_timeout"),
    ("just words\n", 2, "just"),
    ("= 3\n", 2, "(empty)"),
    ("spool_max_mb = 1\nspool_max_mb = 2\n", 3, "spool_max_mb"),
    ("#exec /bin/sh\n", 2, "#exec"),
    ("#include missing.conf\n", 0, "file"),
    ("\n[0899123456]\nqueue = support\nrate = 9.99/min\n", 5, "rate"),
    ("\n[0899123456]\nrate = 0.80/min\n", 3, "queue"),
    ("\n[hotline]\nqueue = support\n", 3, "[hotline]"),
    ("\n[0899123456\nqueue = support\n", 3, "[0899123456"),
    ("\n[0899123456](nosuch)\nqueue = support\n", 3, "[0899123456]"),
    ("\n[0899123456]\nqueue = sup port\n", 4, "queue"),
    ("\n[0899123456]\nqueue = support\nhours = mon-fri 25:00-26:00\n", 5, "hours"),
]


@pytest.mark.parametrize(("text", "line", "key"), MALFORMED)
def test_each_malformed_config_gives_one_file_line_key_problem_line(tmp_path, capsys, text, line, key):
    from premium_hotline.commands import check_config

    path = tmp_path / "premium-hotline.conf"
    path.write_text("[general]\n" + text)
    errors = load_config(str(path)).errors
    assert len(errors) == 1, [str(e) for e in errors]
    message = str(errors[0])
    where = str(path) if key != "file" else str(tmp_path / "missing.conf")
    assert message.startswith(f"{where}:{line}: {key}: ") and "\n" not in message
    assert len(message) > len(f"{where}:{line}: {key}: ") + 3  # a problem is stated
    assert check_config.main([str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[0] == message


KNOWN = ["redis_url", "redis_timeout_ms", "fail_tariff", "events_maxlen", "key_prefix", "redis_ca_file",
         "caller_hash_key", "log_level", "timezone", "spool_max_mb", "no_such_key", "queue"]  # fmt: skip
ERROR = re.compile(r"^(?P<path>[^\n]+):(?P<line>\d+): (?P<key>[^\n]+?): (?P<problem>[^\n]+)$")


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW_DATA)
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(KNOWN),
            st.text(
                st.characters(
                    blacklist_categories=("Cs",),
                    blacklist_characters="\r\n;\x85\u2028\u2029\x0b\x0c\x1c\x1d\x1e",
                ),
                max_size=40,
            ),
        ),
        max_size=8,
    )
)
def test_any_general_section_loads_and_every_problem_is_one_line_at_its_own_key(tmp_path_factory, pairs):
    path = tmp_path_factory.mktemp("cfg") / "c.conf"
    lines = ["[general]"] + [f"{key} = {value}" for key, value in pairs]
    path.write_text("\n".join(lines) + "\n")
    config = load_config(str(path))
    for error in config.errors:
        match = ERROR.match(str(error))
        assert match, str(error)
        number = int(match["line"])
        assert 1 <= number <= len(lines)
        written = lines[number - 1]
        assert written.split("=")[0].strip().lower() == error.key or error.key in written, (
            str(error),
            written,
        )


def test_loading_a_config_is_fast_enough_for_every_plain_call(tmp_path):
    path = tmp_path / "c.conf"
    path.write_text(ONE_NUMBER)
    start = time.perf_counter()
    for _ in range(20):
        load_config(str(path))
    assert (time.perf_counter() - start) / 20 < 0.05
