"""Real SIP calls into the sandbox Asterisk: sipp as the carrier's trunk and as the agents.

Standard library only, like sandbox/asterisk.py, so the tests, the demo and the bench can all
drive it. The picture on loopback:

    sipp UAC (one process per call, 127.0.0.2) ──INVITE──▶ Asterisk PJSIP (127.0.0.1:<free port>)
        endpoint `trunk` (identified by address) ──▶ [premium-hotline] ──Queue──▶ PJSIP/agentN
    sipp UAS per agent (127.0.0.(10+N):<free port>), endpoint with a static contact, no REGISTER

Every sipp writes its message trace (``-trace_msg``), and :func:`parse_trace` turns it into the
SIP truth the tests compare the plugin's records with: when the caller sent its INVITE, got its
183, its 200 OK (the network's answer, what the caller's operator bills from), when the agent
sent its 180 and 200. The agent's INVITE from Asterisk carries the caller's number in its From
header, which ties each agent leg to its caller.

Callers send RTP audio (a-law) from the moment they have the far end's SDP (183 or 200), so
Asterisk's ``Answer()`` media wait is the real one, and can press ``#`` (RFC 4733, the pcap
Debian's sip-tester ships) during the price message.

sipp traps handled here: a receive timeout applies only to the element sipp waits on, so every
receive before the answer carries the caller's patience; a ``<pause>`` cannot take a CANCEL, so an
agent rings with a receive-with-timeout instead; each sipp gets its own control and media ports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
PCAP_DIR = "/usr/share/sip-tester"  # Debian's sip-tester: dtmf_2833_*.pcap, g711a.pcap
TRUNK_ADDRESS = "127.0.0.2"
ASTERISK_ADDRESS = "127.0.0.1"

#: Asterisk modules for PJSIP over UDP with RTP, on top of sandbox.asterisk.DEFAULT_MODULES.
#: Checked to load with no WARNING or ERROR on Asterisk 22.10.
PJSIP_MODULES: tuple[str, ...] = (
    "res_pjproject.so",
    "res_sorcery_config.so",
    "res_sorcery_memory.so",
    "res_sorcery_astdb.so",
    "res_pjsip.so",
    "res_pjsip_authenticator_digest.so",  # without it: "No SIP authenticator registered" per call
    "res_pjsip_session.so",
    "res_pjsip_pubsub.so",
    "chan_pjsip.so",
    "res_pjsip_sdp_rtp.so",
    "res_pjsip_endpoint_identifier_ip.so",
    "res_pjsip_caller_id.so",
    "res_pjsip_rfc3326.so",
    "res_rtp_asterisk.so",
    "func_pjsip_endpoint.so",
)


class SipError(RuntimeError):
    """A sipp process could not be started or did not behave."""


# ---------------------------------------------------------------------------- ports


_HANDED_OUT: set[int] = set()


def free_udp_port(host: str = "", span: int = 1) -> int:
    """A UDP port such that `span` consecutive ports are free on every address (sipp binds its
    control port on 0.0.0.0, and media on port + 2), never one this process handed out before.
    Below Linux's ephemeral range (32768+), so a client socket cannot take it meanwhile; `host`
    is kept for the callers' clarity: the check is on all addresses."""
    for _ in range(500):
        base = random.randrange(20_000, 32_000, 4)
        if any(base + offset in _HANDED_OUT for offset in range(span)):
            continue
        sockets = []
        try:
            for offset in range(span):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sockets.append(s)
                s.bind(("", base + offset))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        _HANDED_OUT.update(base + offset for offset in range(span))
        return base
    raise SipError(f"no free UDP port range for {host or 'any address'}")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the SIP truth


@dataclasses.dataclass(frozen=True)
class SipMessage:
    """One message in a sipp trace: when (epoch s), sent or received, and its first line."""

    at: float
    sent: bool
    first_line: str
    call_id: str
    cseq: str
    headers: dict[str, str]

    @property
    def status(self) -> int | None:
        """The response code, or None for a request."""
        m = re.match(r"SIP/2\.0 (\d{3})", self.first_line)
        return int(m.group(1)) if m else None

    @property
    def method(self) -> str | None:
        return None if self.status is not None else self.first_line.split(" ", 1)[0]


_TRACE_HEAD = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+)\s*$", re.M)


def parse_trace(text: str) -> list[SipMessage]:
    """sipp's ``-trace_msg`` log as messages, oldest first.

    Each message there is a line of dashes with the local time (microseconds), a line
    ``UDP message sent|received ...``, a blank line, then the message itself.
    """
    out: list[SipMessage] = []
    heads = list(_TRACE_HEAD.finditer(text))
    for i, head in enumerate(heads):
        body = text[head.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        lines = body.strip("\n").splitlines()
        if not lines:
            continue
        kind = lines[0]
        if "message sent" not in kind and "message received" not in kind:
            continue
        message = [line for line in lines[1:]]
        while message and not message[0].strip():
            message.pop(0)
        if not message:
            continue
        headers: dict[str, str] = {}
        for line in message[1:]:
            if not line.strip():
                break
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        stamp = re.sub(r"\s+", " ", head.group(1))
        at = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        out.append(
            SipMessage(
                at=at,
                sent="message sent" in kind,
                first_line=message[0].strip(),
                call_id=headers.get("call-id", headers.get("i", "")),
                cseq=headers.get("cseq", ""),
                headers=headers,
            )
        )
    return out


def _user_of(header: str) -> str:
    m = re.search(r"sip:([^@;>]+)@", header)
    return m.group(1) if m else ""


# ---------------------------------------------------------------------------- scenarios

_SDP = """\
v=0
o=user1 53655765 2353687637 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
"""

_FINALS_REFUSED = (404, 480, 486, 487, 500, 503, 603)


def _xml(body: str, name: str) -> str:
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{body}\n</scenario>\n'


def _cdata(text: str) -> str:
    return "<![CDATA[\n" + text.strip("\n") + "\n\n]]>"


def caller_scenario(
    *,
    number: str,
    caller: str,
    caller_name: str,
    patience_ms: int,
    talk_ms: int,
    audio: str,
    dtmf_pcap: str | None = None,
    dtmf_after_ms: int = 0,
) -> str:
    """One call from the trunk: INVITE, wait up to `patience_ms` for the 200 OK (then CANCEL),
    once answered talk `talk_ms` then BYE (or take the far end's BYE). A final error is ACKed."""
    rtp = f'<action><exec rtp_stream="{audio},-1,8"/></action>'
    patience = str(max(1, patience_ms))
    invite = f"""\
INVITE sip:{number}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "{caller_name}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{number}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""
    parts = [f'<send retrans="500">{_cdata(invite)}</send>']
    wait = f'timeout="{patience}" ontimeout="cancel"'
    parts.append('<recv response="100" optional="true"/>')
    for code in (180, 183, 180, 183):
        action = rtp if code == 183 else ""
        parts.append(f'<recv response="{code}" optional="true" {wait}>{action}</recv>')
    for code in _FINALS_REFUSED:
        parts.append(f'<recv response="{code}" optional="true" next="refused"/>')
    parts.append(f'<recv response="200" rrs="true" {wait}>{rtp}</recv>')
    ack = """\
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
"""
    parts.append(f"<send>{_cdata(ack)}</send>")
    parts.append(f'<recv request="BYE" timeout="{max(1, talk_ms)}" ontimeout="hangup"/>')
    parts.append(f'<send next="end">{_cdata(_ok_to_request())}</send>')
    bye = """\
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
"""
    parts.append('<label id="hangup"/>')
    parts.append(f"<send>{_cdata(bye)}</send>")
    parts.append('<recv response="200" next="end"/>')
    cancel = f"""\
CANCEL sip:{number}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: "{caller_name}" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{number}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0
"""
    parts.append('<label id="cancel"/>')
    parts.append(f"<send>{_cdata(cancel)}</send>")
    parts.append('<recv response="200" optional="true"/>')
    parts.append('<recv response="487"/>')
    parts.append('<label id="refused"/>')
    refused_ack = """\
ACK sip:{number}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
""".replace("{number}", number)
    parts.append(f'<send next="end">{_cdata(refused_ack)}</send>')
    parts.append('<label id="end"/>')
    body = "\n".join(parts)
    if dtmf_pcap:
        # Press # once the far end's 183 (its SDP) is in: a pause right after that receive.
        marker = '<recv response="183" optional="true" ' + wait + ">" + rtp + "</recv>"
        press = (
            f'<pause milliseconds="{max(1, dtmf_after_ms)}"/>'
            f'<nop><action><exec play_pcap_audio="{dtmf_pcap}"/></action></nop>'
        )
        body = body.replace(marker, marker + "\n" + press, 1)
        # the first 183 is no longer optional: the press must follow it
        body = body.replace(marker, '<recv response="183" ' + wait + ">" + rtp + "</recv>", 1)
    return _xml(body, "ph-caller")


def _ok_to_request() -> str:
    return """\
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""


def agent_scenario(*, answer_after_ms: int | None, talk_ms: int, reject: int | None = None) -> str:
    """An agent's phone, for any number of calls: 180 at once, then 200 after `answer_after_ms`
    (None: rings until cancelled), talks `talk_ms` then hangs up; or answers `reject` (486)."""
    invite = (
        '<recv request="INVITE" crlf="true">'
        '<action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="remote"/>'
        '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>'
        '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/>'
        '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="local"/>'
        "</action></recv>"
    )
    to_tag = "[last_To:];tag=[pid]SIPpTag01[call_number]"
    if reject is not None:
        refuse = f"""\
SIP/2.0 {reject} Busy Here
[last_Via:]
[last_From:]
{to_tag}
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
        # The three variables are read by a harmless header so none is "used only once".
        refuse = refuse.replace(
            "Content-Length", "X-Seen: [$remote] [$contact] [$cseq] [$local]\nContent-Length"
        )
        body = "\n".join([invite, f"<send>{_cdata(refuse)}</send>", '<recv request="ACK"/>'])
        return _xml(body, "ph-agent")
    ringing = f"""\
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
{to_tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""
    ok = f"""\
SIP/2.0 200 OK
[last_Via:]
[last_From:]
{to_tag}
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{_SDP}"""
    ring = 3_600_000 if answer_after_ms is None else max(1, answer_after_ms)
    cancelled_ok = _ok_to_request()
    terminated = f"""\
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
{to_tag}
[last_Call-ID:]
CSeq: [$cseq] INVITE
Content-Length: 0
"""
    # BYE's From is our side (the INVITE's To, with our tag), its To the INVITE's From.
    bye = """\
BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local];tag=[pid]SIPpTag01[call_number]
To: [$remote]
[last_Call-ID:]
CSeq: 101 BYE
Max-Forwards: 70
Content-Length: 0
"""
    parts = [
        invite,
        f"<send>{_cdata(ringing)}</send>",
        f'<recv request="CANCEL" timeout="{ring}" ontimeout="answer"/>',
        f"<send>{_cdata(cancelled_ok)}</send>",
        f"<send>{_cdata(terminated)}</send>",
        '<recv request="ACK" next="end"/>',
        '<label id="answer"/>',
        f"<send>{_cdata(ok)}</send>",
        '<recv request="ACK"/>',
        f'<recv request="BYE" timeout="{max(1, talk_ms)}" ontimeout="hangup"/>',
        f'<send next="end">{_cdata(_ok_to_request())}</send>',
        '<label id="hangup"/>',
        f"<send>{_cdata(bye)}</send>",
        '<recv response="200"/>',
        '<label id="end"/>',
    ]
    return _xml("\n".join(parts), "ph-agent")


# ---------------------------------------------------------------------------- processes


def _alaw_audio(path: Path, seconds: float = 1.0) -> str:
    """One second of a-law audio, looped by rtp_stream: a quiet 400 Hz tone (payload type 8)."""
    if not path.exists():
        import math

        samples = []
        for i in range(int(8000 * seconds)):
            samples.append(_alaw(int(2000 * math.sin(2 * math.pi * 400 * i / 8000))))
        path.write_bytes(bytes(samples))
    return str(path)


def _alaw(sample: int) -> int:
    """G.711 a-law encoding of one 16-bit sample."""
    sign = 0x00 if sample < 0 else 0x80
    if sample < 0:
        sample = -sample - 1
    sample = min(sample, 32635) >> 3
    if sample >= 32:
        exponent = sample.bit_length() - 5
        mantissa = (sample >> exponent) & 0x0F
        value = (exponent << 4) | mantissa
    else:
        value = sample >> 1
    return (value | sign) ^ 0x55


class _Sipp:
    """A sipp process with its own scenario file, ports and message trace."""

    def __init__(self, workdir: Path, name: str, scenario: str, args: Sequence[str]) -> None:
        self.workdir = workdir
        self.name = name
        self.scenario_path = workdir / f"{name}.xml"
        self.trace_path = workdir / f"{name}.messages.log"
        self.errors_path = workdir / f"{name}.errors.log"
        self.scenario_path.write_text(scenario)
        self.args = [
            SIPP,
            *args,
            "-sf",
            str(self.scenario_path),
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.trace_path),
            "-trace_err",
            "-error_file",
            str(self.errors_path),
            "-aa",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.workdir,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # sipp: quit now
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(3)

    def messages(self) -> list[SipMessage]:
        try:
            return parse_trace(self.trace_path.read_text(errors="replace"))
        except FileNotFoundError:
            return []


class Agent:
    """One agent: a sipp UAS on its own loopback address and port, for as many calls as come."""

    def __init__(
        self,
        workdir: Path,
        name: str,
        address: str,
        *,
        answer_after_s: float | None = 2.0,
        talk_s: float = 600.0,
        reject: int | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.port = free_udp_port(address)
        self.media_port = free_udp_port(address, 4)
        self.answer_after_s = answer_after_s
        self.talk_s = talk_s
        self.reject = reject
        self.workdir = workdir
        self._sipp: _Sipp | None = None
        self._old: list[_Sipp] = []
        self._generation = 0

    def endpoint_conf(self, transport: str) -> str:
        return (
            f"[{self.name}]\ntype=endpoint\ntransport={transport}\ncontext=ph-sip-agents\n"
            f"disallow=all\nallow=alaw,ulaw\naors={self.name}\ndirect_media=no\n"
            "send_connected_line=no\nrtp_symmetric=no\n\n"
            f"[{self.name}]\ntype=aor\ncontact=sip:{self.name}@{self.address}:{self.port}\nmax_contacts=1\n\n"
        )

    def start(self) -> Agent:
        """(Re)start the phone with the current behaviour; earlier traces are kept."""
        if self._sipp is not None:
            self._sipp.stop()
            self._old.append(self._sipp)
        self._generation += 1
        scenario = agent_scenario(
            answer_after_ms=None if self.answer_after_s is None else int(self.answer_after_s * 1000),
            talk_ms=int(self.talk_s * 1000),
            reject=self.reject,
        )
        args = [
            "-i",
            self.address,
            "-bind_local",
            "-p",
            str(self.port),
            "-mi",
            self.address,
            "-mp",
            str(self.media_port),
            "-cp",
            str(free_udp_port("127.0.0.1")),
            "-t",
            "u1",
        ]
        self._sipp = _Sipp(self.workdir, f"{self.name}-{self._generation}", scenario, args)
        self._sipp.start()
        _wait_udp_bound(self.address, self.port, self._sipp)
        return self

    def behave(self, *, answer_after_s: float | None = 2.0, talk_s: float = 600.0, reject: int | None = None):
        """Change how the phone answers (restarts its sipp)."""
        self.answer_after_s, self.talk_s, self.reject = answer_after_s, talk_s, reject
        return self.start()

    def stop(self) -> None:
        if self._sipp is not None:
            self._sipp.stop()

    def messages(self) -> list[SipMessage]:
        out = []
        for sipp in [*self._old, *([self._sipp] if self._sipp else [])]:
            out.extend(sipp.messages())
        return sorted(out, key=lambda m: m.at)

    def legs_for(self, caller: str) -> list[AgentLeg]:
        """This agent's calls from Asterisk for the caller with that number (From user)."""
        legs: dict[str, list[SipMessage]] = {}
        for message in self.messages():
            legs.setdefault(message.call_id, []).append(message)
        out = []
        for call_id, messages in legs.items():
            invite = next((m for m in messages if m.method == "INVITE" and not m.sent), None)
            if invite is None or _user_of(invite.headers.get("from", "")) != caller:
                continue
            out.append(AgentLeg(self.name, call_id, messages))
        return sorted(out, key=lambda leg: leg.invited_at)


def _wait_udp_bound(address: str, port: int, sipp: _Sipp, timeout: float = 5.0) -> None:
    """Until sipp holds its SIP port (a bind test fails), or say why it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sipp.process is not None and sipp.process.poll() is not None:
            err = sipp.process.stderr.read().decode(errors="replace") if sipp.process.stderr else ""
            raise SipError(f"sipp {sipp.name} exited at start (rc={sipp.process.returncode}): {err[-800:]}")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((address, port))
        except OSError:
            return
        finally:
            s.close()
        time.sleep(0.02)
    raise SipError(f"sipp {sipp.name} never bound {address}:{port}")


def _request_at(messages: list[SipMessage], method: str, *, sent: bool) -> float:
    return next(m.at for m in messages if m.sent == sent and m.method == method)


def _invite_response(messages: list[SipMessage], status: int, *, sent: bool) -> float | None:
    """When the first response `status` to the INVITE went out (sent) or came in."""
    for m in messages:
        if m.sent == sent and m.status == status and "INVITE" in m.cseq:
            return m.at
    return None


@dataclasses.dataclass
class AgentLeg:
    """One INVITE from Asterisk to an agent, and what the agent answered."""

    agent: str
    call_id: str
    messages: list[SipMessage]

    @property
    def invited_at(self) -> float:
        return _request_at(self.messages, "INVITE", sent=False)

    @property
    def ringing_at(self) -> float | None:
        return _invite_response(self.messages, 180, sent=True)

    @property
    def answered_at(self) -> float | None:
        return _invite_response(self.messages, 200, sent=True)

    @property
    def cancelled(self) -> bool:
        return any(m.method == "CANCEL" and not m.sent for m in self.messages)


class SipCall:
    """One caller's sipp (UAC, a single call). Its SIP truth once :meth:`wait` returned."""

    def __init__(self, sipp: _Sipp, number: str, caller: str) -> None:
        self._sipp = sipp
        self.number = number
        self.caller = caller
        self.returncode: int | None = None

    def wait(self, timeout: float = 120.0) -> SipCall:
        proc = self._sipp.process
        assert proc is not None
        try:
            self.returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._sipp.stop()
            raise SipError(f"caller {self.caller} still on the line after {timeout} s") from None
        return self

    @property
    def done(self) -> bool:
        proc = self._sipp.process
        return proc is not None and proc.poll() is not None

    def hang_up(self) -> None:
        self._sipp.stop()

    def messages(self) -> list[SipMessage]:
        return self._sipp.messages()

    def errors(self) -> str:
        try:
            return self._sipp.errors_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def invited_at(self) -> float:
        return _request_at(self.messages(), "INVITE", sent=True)

    @property
    def progress_at(self) -> float | None:
        """183 Session Progress: the call is unanswered, early media flows."""
        return _invite_response(self.messages(), 183, sent=False)

    @property
    def answered_at(self) -> float | None:
        """The 200 OK to the INVITE: the network's answer, what the caller's operator bills from."""
        return _invite_response(self.messages(), 200, sent=False)

    @property
    def final_status(self) -> int | None:
        for m in self.messages():
            if not m.sent and "INVITE" in m.cseq and m.status is not None and m.status >= 200:
                return m.status
        return None

    @property
    def ended_at(self) -> float | None:
        """The BYE (either side) or the CANCEL: the end of the call on the wire."""
        for m in self.messages():
            if m.method in ("BYE", "CANCEL"):
                return m.at
        return None

    @property
    def hung_up_by_caller(self) -> bool:
        return any(m.sent and m.method in ("BYE", "CANCEL") for m in self.messages())


class SipNetwork:
    """The carrier's trunk and the agents' phones around one sandbox Asterisk."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port(ASTERISK_ADDRESS)
        self.agents: dict[str, Agent] = {}
        self.audio = _alaw_audio(self.workdir / "caller-audio.alaw")
        self._calls: list[SipCall] = []
        self._count = 0

    def add_agent(self, name: str, **behaviour) -> Agent:
        address = f"127.0.0.{10 + len(self.agents)}"
        agent = Agent(self.workdir, name, address, **behaviour)
        self.agents[name] = agent
        return agent

    def pjsip_conf(self) -> str:
        """pjsip.conf for the session: a UDP transport, the trunk identified by address, the agents."""
        text = (
            "[global]\ntype=global\nuser_agent=premium-hotline-sandbox\n\n"
            f"[udp]\ntype=transport\nprotocol=udp\nbind={ASTERISK_ADDRESS}:{self.port}\n\n"
            "[trunk]\ntype=endpoint\ntransport=udp\ncontext=premium-hotline\ndisallow=all\n"
            "allow=alaw,ulaw\ndirect_media=no\nsend_connected_line=no\nrtp_symmetric=no\n"
            "dtmf_mode=rfc4733\n\n"
            f"[trunk-identify]\ntype=identify\nendpoint=trunk\nmatch={TRUNK_ADDRESS}\n\n"
        )
        return text + "".join(agent.endpoint_conf("udp") for agent in self.agents.values())

    def start_agents(self) -> None:
        for agent in self.agents.values():
            agent.start()

    def call(
        self,
        number: str,
        *,
        caller: str | None = None,
        caller_name: str = "SIP Caller",
        patience_s: float = 300.0,
        talk_s: float = 5.0,
        press_hash_after_s: float | None = None,
    ) -> SipCall:
        """Place one call from the trunk (returns once sipp runs; the call goes on)."""
        self._count += 1
        caller = caller or f"06{random.randrange(10**8):08d}"
        name = f"call-{self._count:04d}-{caller}"
        scenario = caller_scenario(
            number=number,
            caller=caller,
            caller_name=caller_name,
            patience_ms=int(patience_s * 1000),
            talk_ms=int(talk_s * 1000),
            audio=self.audio,
            dtmf_pcap=f"{PCAP_DIR}/dtmf_2833_pound.pcap" if press_hash_after_s is not None else None,
            dtmf_after_ms=int((press_hash_after_s or 0) * 1000),
        )
        args = [
            f"{ASTERISK_ADDRESS}:{self.port}",
            "-i",
            TRUNK_ADDRESS,
            "-bind_local",
            "-p",
            str(free_udp_port(TRUNK_ADDRESS)),
            "-mi",
            TRUNK_ADDRESS,
            "-mp",
            str(free_udp_port(TRUNK_ADDRESS, 4)),
            "-cp",
            str(free_udp_port("127.0.0.1")),
            "-m",
            "1",
            "-l",
            "1",
            "-timeout",
            str(int(patience_s + talk_s + 60)),
            "-timeout_error",
        ]
        sipp = _Sipp(self.workdir, name, scenario, args)
        sipp.start()
        call = SipCall(sipp, number, caller)
        self._calls.append(call)
        return call

    def stop(self) -> None:
        for call in self._calls:
            call.hang_up()
        for agent in self.agents.values():
            agent.stop()


#: rtp.conf for a sandbox session (two sessions share the range: Asterisk binds free ports).
RTP_CONF = "[general]\nrtpstart=10000\nrtpend=20000\n"
