"""The one SET VARIABLE "ARRAY(...)" of our routes, on the sandbox's real Asterisk 22.

A FastAGI peer of the test's own sends exactly the lines protocol.format_sets makes for hostile
values, then asks Asterisk for each variable back (GET VARIABLE: the raw value, nothing
evaluated). Every value must come back byte for byte: quotes, commas, semicolons, spaces at
either end, backslashes, parentheses, brackets, `${...}` and non-ASCII text. This is the fact the
unit tests' model of app.c __ast_app_separate_args stands on.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from premium_hotline.agi.protocol import format_command, format_sets, parse_200
from sandbox.asterisk import AsteriskSandbox

HOSTILE = {
    "PH_QUOTES": "say \"hi\" 'there'",
    "PH_COMMAS": "a,b,,c,",
    "PH_SEMI": "ph;tariff=premium;rate=0,80 €/min",
    "PH_SPACES": "  both ends  ",
    "PH_SLASHES": "back\\slash \\, \\\\ end\\",
    "PH_PARENS": "(open [square] close) ) ] ( [",
    "PH_DOLLAR": "${CALLERID(num)} $[1+1]",
    "PH_UNICODE": "Zoë Ĳssel 日本 😀",
    "PH_PIPE": "a|b|c",
    "PH_EMPTY": "",
    "CDR(userfield)": "ph;tariff=premium;reason=premium;rate=0.80/min;did=0899123456",
}


@pytest.fixture(scope="module")
def received():
    """What Asterisk holds after our SET lines, read back through a FastAGI call of our own."""
    names = list(HOSTILE)
    lines = format_sets(HOSTILE.items())
    got: dict[str, str] = {}
    replies: list[str] = []
    done = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    port = server.getsockname()[1]

    def serve() -> None:
        try:
            conn, _ = server.accept()
            conn.settimeout(10)
            stream = conn.makefile("rwb", buffering=0)
            while stream.readline().strip():
                pass

            def exchange(line: str) -> str:
                stream.write(line.encode("utf-8"))
                return stream.readline().decode("utf-8").rstrip("\n")

            for line in lines:
                replies.append(exchange(line))
            for name in names:
                if name.startswith("CDR("):
                    reply = exchange(format_command("GET FULL VARIABLE", "${CDR(userfield)}"))
                else:
                    reply = exchange(format_command("GET VARIABLE", name))
                got[name] = parse_200(reply).data
            conn.close()
        finally:
            done.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with AsteriskSandbox() as pbx:
        dialplan = f"[probe]\nexten => s,1,AGI(agi://127.0.0.1:{port}/probe)\n same => n,Hangup()\n"
        pbx.configure(extensions=dialplan)
        pbx.start()
        pbx.originate("Local/s@probe/n", app="Wait", data="10")
        assert done.wait(30), "Asterisk never ran the probe's FastAGI call"
        time.sleep(0.2)
    server.close()
    return lines, replies, got


def test_all_the_variables_go_in_one_command(received):
    lines, replies, _ = received
    assert len(lines) == 1 and lines[0].startswith('SET VARIABLE "ARRAY(')
    assert replies == ["200 result=1"]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_value_arrives_intact(received, name):
    assert received[2][name] == HOSTILE[name]
