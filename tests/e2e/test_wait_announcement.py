"""The expected wait on a real Asterisk: decide_tariff sets PH_EWT_S, and with `announce_wait =
yes` the shipped dialplan says "moins de N minutes" with Asterisk's own French prompts on joining
the queue, without a warning, then the caller still reaches the agent."""

from __future__ import annotations

import re

# The sandbox has Debian's asterisk-core-sounds-fr-gsm only: the French prompts' own folder.
FRENCH = "fr_CA_f_June"


def test_the_expected_wait_is_set_and_announced_in_french(hotline):
    hotline.configure(announce_wait="yes")
    hotline.pbx.set_global("PH_WAIT_LANGUAGE", FRENCH)
    try:
        call = hotline.call("0899123456", hangup_after=14)
        assert hotline.decision_line("0899123456").endswith("tariff=premium reason=premium")
        for prompt in ("queue-less-than", "digits/2", "queue-minutes"):
            hotline.pbx.wait_for_log(
                rf"Playing '{re.escape(prompt)}\.gsm' \(language '{FRENCH}'\)", since=hotline.mark
            )
        record = hotline.record(call)
    finally:
        hotline.pbx.set_global("PH_WAIT_LANGUAGE", "")
    # An agent ready, nobody waiting: the wait announced is the ring alone, "less than 2 minutes".
    assert 0 < int(record["ewt_s"]) < 60
    assert record["outcome"] == "answered"
    hotline.assert_clean()


def test_without_announce_wait_the_caller_hears_no_announcement(hotline):
    call = hotline.call("0805123456", hangup_after=6)
    record = hotline.record(call)
    assert record["outcome"] == "answered" and "ewt_s" in record
    assert "queue-less-than" not in hotline.pbx.log_since(hotline.mark)
    hotline.assert_clean()


def test_a_paused_member_is_no_capacity_for_the_expected_wait(hotline):
    pbx = hotline.pbx
    pbx.cli("queue pause member Local/agent1@agents/n queue support")
    try:
        call = hotline.call("0805123456", hangup_after=4)
        record = hotline.record(call)
    finally:
        pbx.cli("queue unpause member Local/agent1@agents/n queue support")
    # Its only member paused: logged in, yet nobody can answer, so no wait can be announced
    # (counted as capacity, the member would have given about one talk time).
    assert record["ready"] == "0" and record["outcome"] in ("abandoned", "short_abandon")
    assert record.get("ewt_s") is None
    hotline.assert_clean()
