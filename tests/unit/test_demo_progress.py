"""The demo's progress line: every call placed is in exactly one column, so they add up."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "demo" / "hotline_minute.py"


def _demo():
    spec = importlib.util.spec_from_file_location("hotline_minute", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def channel(name: str, application: str, bridgeid: str = "") -> dict[str, str]:
    return {"channel": name, "application": application, "bridgeid": bridgeid}


def test_each_caller_is_in_the_price_message_the_queue_or_talking_and_the_columns_add_up():
    channels = [
        channel("PJSIP/trunk-00000001", "ControlPlayback"),
        channel("PJSIP/trunk-00000002", "Queue"),
        channel("PJSIP/trunk-00000003", "Queue", bridgeid="b1"),
        channel("PJSIP/agent1-00000004", "AppQueue", bridgeid="b1"),  # the agent's leg is no caller
        channel("Local/agent1@agents-00000005;1", "Dial"),
    ]
    states = _demo().call_states(channels, {"answered": 3, "abandoned": 1}, placed=8)
    assert states == {"message": 1, "queue": 1, "talking": 1, "ended": 4, "transit": 1}
    assert sum(states.values()) == 8


def test_a_record_ahead_of_its_channel_never_makes_a_negative_column():
    states = _demo().call_states([channel("PJSIP/trunk-00000001", "Queue")], {"answered": 2}, placed=2)
    assert states["transit"] == 0


def test_the_help_says_four_agents_and_queue_log():
    text = _demo().__doc__
    assert "four agents" in text and "queue_log" in text
    assert "three agents" not in text and "CDRs" not in text
