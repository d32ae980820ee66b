"""The SIP test support (sandbox/sip.py): sipp's message trace read right, scenarios that
sipp can load, the a-law audio the callers send, and the pjsip.conf of a session."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from sandbox import sip

TRACE = """\
----------------------------------------------- 2026-12-02 07:58:09.704977
UDP message sent (561 bytes):

INVITE sip:0899500001@127.0.0.1:26704 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.2:25448;branch=z9hG4bK-15127-1-0
From: "SIP E2E" <sip:0693243877@127.0.0.2:25448>;tag=15127SIPpTag001
To: <sip:0899500001@127.0.0.1:26704>
Call-ID: 1-15127@127.0.0.2
CSeq: 1 INVITE
Content-Length:   0

----------------------------------------------- 2026-12-02 07:58:09.721000
UDP message received [293] bytes :

SIP/2.0 183 Session Progress
Via: SIP/2.0/UDP 127.0.0.2:25448;received=127.0.0.2;branch=z9hG4bK-15127-1-0
Call-ID: 1-15127@127.0.0.2
CSeq: 1 INVITE
Content-Length:  0

----------------------------------------------- 2026-12-02 07:58:13.805695
UDP message received [293] bytes :

SIP/2.0 200 OK
Call-ID: 1-15127@127.0.0.2
CSeq: 1 INVITE
Content-Length:  0

"""


def epoch(text: str) -> float:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def test_a_sipp_trace_reads_as_timed_messages_in_order():
    messages = sip.parse_trace(TRACE)
    assert [(m.sent, m.method, m.status) for m in messages] == [
        (True, "INVITE", None),
        (False, None, 183),
        (False, None, 200),
    ]
    assert messages[0].at == epoch("2026-12-02 07:58:09.704977")
    assert messages[2].at - messages[0].at == epoch("2026-12-02 07:58:13.805695") - epoch(
        "2026-12-02 07:58:09.704977"
    )
    assert {m.call_id for m in messages} == {"1-15127@127.0.0.2"}
    assert sip._user_of(messages[0].headers["from"]) == "0693243877"


@given(st.text(max_size=300))
def test_any_text_parses_without_error_and_only_whole_messages_count(noise):
    messages = sip.parse_trace(noise + "\n" + TRACE)
    assert [m.status for m in messages][-2:] == [183, 200]


def test_the_scenarios_are_well_formed_xml_sipp_can_load():
    caller = sip.caller_scenario(
        number="0899500001",
        caller="0612345678",
        caller_name="X",
        patience_ms=3000,
        talk_ms=2000,
        audio="/tmp/a.alaw",
        dtmf_pcap="/usr/share/sip-tester/dtmf_2833_pound.pcap",
        dtmf_after_ms=500,
    )
    root = ET.fromstring(caller.encode("iso-8859-1"))
    # Every receive before the answer carries the caller's patience (sipp's per-element timeout).
    before_labels = []
    for element in root:
        if element.tag == "label":
            break
        before_labels.append(element)
    waits = [e for e in before_labels if e.tag == "recv" and e.get("response") in ("180", "183", "200")]
    assert waits and all(e.get("timeout") == "3000" and e.get("ontimeout") == "cancel" for e in waits)
    assert any(e.tag == "pause" for e in root)  # the # press
    for behaviour in ({"answer_after_ms": 1500, "talk_ms": 600_000}, {"answer_after_ms": None, "talk_ms": 1},
                      {"answer_after_ms": None, "talk_ms": 1, "reject": 486}):  # fmt: skip
        agent = ET.fromstring(sip.agent_scenario(**behaviour).encode("iso-8859-1"))
        assert agent[0].tag == "recv" and agent[0].get("request") == "INVITE"


def test_the_callers_audio_is_g711_a_law():
    # Reference values from CPython's audioop.lin2alaw (removed in 3.13), which agreed with
    # _alaw on all 65,536 samples when checked on 3.11.
    samples = (0, 1000, -1000, 32767, -32768)
    assert [sip._alaw(v) for v in samples] == [0xD5, 0xFA, 0x7A, 0xAA, 0x2A]
    assert len({sip._alaw(v) for v in range(-32768, 32768)}) == 256


def test_the_session_pjsip_conf_identifies_the_trunk_by_address_and_agents_by_static_contact(tmp_path):
    network = sip.SipNetwork(tmp_path)
    network.add_agent("agent1", answer_after_s=1)
    text = network.pjsip_conf()
    assert f"bind=127.0.0.1:{network.port}" in text
    assert f"match={sip.TRUNK_ADDRESS}" in text
    agent = network.agents["agent1"]
    assert f"contact=sip:agent1@{agent.address}:{agent.port}" in text
    assert "context=premium-hotline" in text
