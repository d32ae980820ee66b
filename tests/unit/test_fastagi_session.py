"""AsyncSession: one FastAGI connection, in process, over a socket pair (no server, no Redis)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from premium_hotline.agi.protocol import (
    AgiDeadChannel,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
    AgiUsageError,
    UncarriableValue,
    format_command,
)
from premium_hotline.server.session import READ_LIMIT, AsyncSession

ENV = b"agi_network: yes\nagi_network_script: decide_tariff\nagi_uniqueid: 1700000000.1\n\n"


async def _pair(timeout_s: float = 0.5):
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours, limit=READ_LIMIT)
    theirs.setblocking(False)
    return AsyncSession(reader, writer, timeout_s), theirs


async def _send(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def _line(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            break
        data += chunk
    return data


async def set_now(session: AsyncSession, name: str, value: str) -> None:
    """One SET on the wire now: set() only buffers until flush() or close()."""
    await session.set(name, value)
    await session.flush()


def run(coro):
    return asyncio.run(coro)


def test_the_environment_is_read_up_to_the_blank_line():
    async def scenario():
        session, peer = await _pair()
        await _send(peer, ENV)
        env = await session.read_env()
        assert env == {
            "agi_network": "yes",
            "agi_network_script": "decide_tariff",
            "agi_uniqueid": "1700000000.1",
        }

    run(scenario())


def test_a_get_sends_the_same_line_as_the_plain_script_and_returns_the_data():
    async def scenario():
        session, peer = await _pair()
        await _send(peer, ENV)
        await session.read_env()
        task = asyncio.create_task(session.get('${CALLERID(name)}|"x"'))
        line = await _line(peer)
        assert line.decode() == format_command("GET FULL VARIABLE", '${CALLERID(name)}|"x"')
        await _send(peer, b"200 result=1 (Jean (Paris)|x)\n")
        assert await task == "Jean (Paris)|x"

    run(scenario())


def test_verbose_puts_pyst2s_bytes_on_the_wire():
    async def scenario():
        session, peer = await _pair()
        task = asyncio.create_task(session.verbose('say "hi"', 2))
        assert await _line(peer) == b'VERBOSE "say \\"hi\\"" 2\n'
        await _send(peer, b"200 result=1\n")
        await task

    run(scenario())


@pytest.mark.parametrize(
    ("replies", "error"),
    [
        (b"HANGUP\n", AgiHangup),
        (b"200 result=-1\n", AgiHangup),
        (b"511 Command Not Permitted on a dead channel or intercept routine\n", AgiDeadChannel),
        (b"520 Invalid command syntax.  Proper usage not available.\n", AgiUsageError),
        (
            b"520-Invalid command syntax.  Proper usage follows:\nUsage: ...\n520 End of proper usage.\n",
            AgiUsageError,
        ),
        (b"garbage\n", AgiProtocolError),
        (b"", AgiHangup),  # the peer closed
    ],
)
def test_replies_that_are_not_a_result_raise_the_protocol_modules_errors(replies, error):
    async def scenario():
        session, peer = await _pair()
        task = asyncio.create_task(set_now(session, "PH_TARIFF", "premium"))
        await _line(peer)
        if replies:
            await _send(peer, replies)
        else:
            peer.close()
        with pytest.raises(error):
            await task

    run(scenario())


def test_gosubs_100_trying_is_skipped():
    async def scenario():
        session, peer = await _pair()
        task = asyncio.create_task(session.get("${X}"))
        await _line(peer)
        await _send(peer, b"100 result=0 Trying...\n200 result=1 (v)\n")
        assert await task == "v"

    run(scenario())


def test_a_peer_that_says_nothing_is_cut_at_the_deadline():
    async def scenario():
        session, peer = await _pair(timeout_s=0.2)
        start = time.monotonic()
        with pytest.raises(AgiTimeout):
            await session.read_env()
        assert 0.15 < time.monotonic() - start < 1.0
        assert session.writer.transport.is_closing()
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""  # the socket is closed

    run(scenario())


@pytest.mark.parametrize("block", [b"agi_request: x\r\n\r\n", b"agi_request: x\n   \n"])
def test_a_block_not_ending_with_an_empty_line_meets_the_deadline_not_a_hang(block):
    """The block is read up to its empty line at once; a peer ending it otherwise (CR LF, a
    line of spaces) and then waiting is cut at the deadline like any silent peer."""

    async def scenario():
        session, peer = await _pair(timeout_s=0.2)
        await _send(peer, block)
        start = time.monotonic()
        with pytest.raises(AgiTimeout):
            await session.read_env()
        assert time.monotonic() - start < 1.0
        assert session.writer.transport.is_closing()

    run(scenario())


def test_the_environment_has_one_deadline_however_slowly_it_trickles():
    async def scenario():
        session, peer = await _pair(timeout_s=0.3)

        async def trickle():
            for _ in range(20):
                try:
                    await _send(peer, b"agi_x: y\n")
                except OSError:
                    return
                await asyncio.sleep(0.05)

        feeder = asyncio.create_task(trickle())
        start = time.monotonic()
        with pytest.raises(AgiTimeout):
            await session.read_env()
        assert time.monotonic() - start < 0.6
        feeder.cancel()

    run(scenario())


def test_a_reply_that_does_not_come_is_cut_at_the_deadline_per_line():
    async def scenario():
        session, peer = await _pair(timeout_s=0.2)
        # Answered in time, twice in a row: the deadline counts from each read, not the session.
        for _ in range(3):
            task = asyncio.create_task(set_now(session, "A", "1"))
            await _line(peer)
            await asyncio.sleep(0.12)
            await _send(peer, b"200 result=1\n")
            await task
        task = asyncio.create_task(set_now(session, "A", "1"))
        await _line(peer)
        with pytest.raises(AgiTimeout):
            await task

    run(scenario())


def test_an_over_long_line_is_refused_without_buffering_it_whole():
    async def scenario():
        session, peer = await _pair()
        task = asyncio.create_task(session.get("${X}"))
        await _line(peer)
        await _send(peer, b"200 result=1 (" + b"x" * (READ_LIMIT + 100))
        with pytest.raises(AgiProtocolError):
            await task

    run(scenario())


def test_close_releases_the_peer_and_later_commands_are_refused():
    async def scenario():
        session, peer = await _pair()
        await session.close()
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""
        with pytest.raises(AgiHangup):
            await session.set("A", "1")

    run(scenario())


def test_bytes_that_are_not_utf8_are_replaced_not_fatal():
    async def scenario():
        session, peer = await _pair()
        task = asyncio.create_task(session.get("${CALLERID(name)}"))
        await _line(peer)
        await _send(peer, b"200 result=1 (Jos\xc3)\n")  # a name cut inside a character
        assert await task == "Jos\ufffd"

    run(scenario())


def test_sets_wait_for_close_and_go_out_as_one_command_before_the_socket_closes():
    async def scenario():
        session, peer = await _pair()
        await session.set("PH_TARIFF", "premium")
        await session.set("CDR(userfield)", "ph;tariff=premium;rate=0,80")
        task = asyncio.create_task(session.close())
        line = await _line(peer)
        # The comma inside the value escaped twice: once for ARRAY(), once for the AGI line.
        assert line == (
            b'SET VARIABLE "ARRAY(PH_TARIFF,CDR(userfield))" "premium,ph;tariff=premium;rate=0\\\\,80"\n'
        )
        await _send(peer, b"200 result=1\n")
        await task
        assert session.commands == 1
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""

    run(scenario())


def test_a_hang_up_during_the_flush_still_releases_asterisk_and_reaches_the_route():
    async def scenario():
        session, peer = await _pair()
        await session.set("A", "1")
        await session.set("B", "2")
        task = asyncio.create_task(session.close())
        await _line(peer)
        await _send(peer, b"HANGUP\n")
        with pytest.raises(AgiHangup):
            await task
        assert session.closed
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""
        await session.close()  # a second close (the server's) neither sends nor raises

    run(scenario())


def test_a_read_after_a_set_sends_the_set_first():
    async def scenario():
        session, peer = await _pair()
        await session.set("A", "1")
        task = asyncio.create_task(session.get("${A}"))
        assert await _line(peer) == b'SET VARIABLE "A" "1"\n'
        await _send(peer, b"200 result=1\n")
        assert (await _line(peer)).startswith(b"GET FULL VARIABLE")
        await _send(peer, b"200 result=1 (1)\n")
        assert await task == "1"

    run(scenario())


def test_a_value_asterisk_cannot_carry_costs_only_itself_the_others_are_set():
    async def scenario():
        session, peer = await _pair()
        await session.set("PH_OUTCOME", "answered")
        await session.set("PH_RATE", "9" * 5000)  # a hostile channel value, over MAX_VALUE_BYTES
        await session.set("CDR(userfield)", "ph;outcome=answered")
        task = asyncio.create_task(session.close())
        assert (
            await _line(peer)
            == b'SET VARIABLE "ARRAY(PH_OUTCOME,CDR(userfield))" "answered,ph;outcome=answered"\n'
        )
        await _send(peer, b"200 result=1\n")
        with pytest.raises(UncarriableValue, match=r"PH_RATE: the value is over .* the other variables were"):
            await task
        assert session.closed
        assert await asyncio.get_running_loop().sock_recv(peer, 10) == b""

    run(scenario())
