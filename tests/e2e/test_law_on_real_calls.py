"""The law through a real Asterisk 22: a refused surcharge is decided free, and premium callers hear
the shipped 11-second price message, skippable with # (docs/law.md).

The shipped messages (sounds/premium-hotline/*.gsm, made by scripts/price-messages) are copied
where an administrator installs them, /usr/share/asterisk/sounds/premium-hotline/, and played by
the shipped dialplan's ControlPlayback.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import CONFIG_PATH, plugin_config

ROOT = Path(__file__).resolve().parents[2]
SOUNDS = "/usr/share/asterisk/sounds"
MESSAGE = "premium-hotline/price-0899123456"  # 0.80/min, 11.0 s
MESSAGE_S = 11.0

LAW_NUMBERS = f"""
[0899400000]
queue = support
purpose = complaint
rate = 0.80/min
announce = {MESSAGE}

[0899500000]
queue = support
purpose = advice
rate = 0.80/min
announce = {MESSAGE}
"""


def install_messages(pbx) -> None:
    """Where this session's Playback looks (its own sounds folder), and where an administrator
    installs them and check-config's default `sounds_dir` looks (the same files for every run)."""
    for path in sorted((ROOT / "sounds" / "premium-hotline").glob("*.gsm")):
        pbx.put_file(f"{pbx.sounds_dir}/premium-hotline/{path.name}", src=path)
        pbx.put_file(f"{SOUNDS}/premium-hotline/{path.name}", src=path)


def configure(hotline) -> None:
    install_messages(hotline.pbx)
    text = plugin_config(redis_url=hotline.redis_server.url) + LAW_NUMBERS
    hotline.pbx.put_file(CONFIG_PATH, text)


def test_a_surcharged_complaints_number_is_refused_by_check_config_and_decided_free(hotline):
    configure(hotline)
    check = hotline.pbx.run("premium-hotline", "check-config", CONFIG_PATH, check=False)
    assert check.returncode == 1
    lines = hotline.pbx.read_file(CONFIG_PATH).splitlines()
    rate_line = lines.index("purpose = complaint") + 2
    refused = [line for line in check.stderr.splitlines() if "on a complaint number" in line]
    assert refused == [
        f"{CONFIG_PATH}:{rate_line}: rate: 0.80/min on a complaint number: no surcharge is allowed on a "
        "number for the performance of a contract or for complaints (consumer code L.121-16)"
    ]
    # The refused config still runs: the number works and is never premium, whatever fail_tariff says.
    hotline.pbx.put_file(
        CONFIG_PATH, plugin_config(redis_url=hotline.redis_server.url, fail_tariff="premium") + LAW_NUMBERS
    )
    call = hotline.call("0899400000", hangup_after=6)
    assert hotline.decision_line("0899400000").endswith("tariff=free reason=not_surchargeable")
    record = hotline.record(call)
    assert (record["decided_tariff"], record["decided_reason"], record.get("rate", "")) == (
        "free",
        "not_surchargeable",
        "",
    )
    assert (record["outcome"], record["tariff"], record["billable_s"]) == ("answered", "free", "0")
    # Free: no price message, so the agent answers after about their own 2 s.
    assert int(record["time_to_human_ms"]) < 5000
    hotline.assert_clean()


def test_a_premium_caller_hears_the_shipped_11_second_price_message(hotline):
    configure(hotline)
    call = hotline.call("0899500000", hangup_after=18)
    assert hotline.decision_line("0899500000").endswith("tariff=premium reason=premium")
    hotline.pbx.wait_for_log(rf"Playing '{MESSAGE}\.gsm'", since=hotline.mark)
    record = hotline.record(call, timeout=30)
    assert (record["outcome"], record["tariff"]) == ("answered", "premium")
    # Arrival to queue entry is the message (plus the decision); the agent takes 2 s more.
    assert MESSAGE_S * 1000 <= int(record["before_queue_ms"]) < (MESSAGE_S + 2) * 1000
    assert int(record["time_to_human_ms"]) >= (MESSAGE_S + 2) * 1000
    hotline.assert_clean()


def test_the_caller_skips_the_price_message_with_hash(hotline):
    configure(hotline)
    # The caller's phone presses # 2.5 s after the line answers, then stays on the line.
    context = "ph-law-caller"
    hotline.pbx.cli(f"dialplan add extension s,1,SendDTMF,wwwww# into {context} replace")
    hotline.pbx.cli(f"dialplan add extension s,2,Wait,15 into {context} replace")
    try:
        hotline.pbx.originate("Local/0899500000@premium-hotline/n", exten="s", context=context)
        assert hotline.decision_line("0899500000").endswith("tariff=premium reason=premium")
        deadline = time.monotonic() + 30
        record: dict = {}
        while time.monotonic() < deadline and not record.get("outcome"):
            time.sleep(0.2)
            keys = hotline.redis.keys("ph:call:*")
            record = hotline.redis.hgetall(keys[0]) if keys else {}
    finally:
        hotline.pbx.cli(f"dialplan remove context {context}", check=False)
    assert (record.get("outcome"), record.get("tariff")) == ("answered", "premium")
    # The 11-second message stopped at the # (about 2.5 s after the answer, the decision included).
    assert int(record["before_queue_ms"]) < 6000
    hotline.assert_clean()


def test_check_config_in_the_pbx_accepts_the_sample_config_with_the_shipped_messages(hotline):
    install_messages(hotline.pbx)
    sample = "/tmp/premium-hotline-sample.conf"
    hotline.pbx.put_file(sample, src=ROOT / "config" / "premium-hotline.conf")
    check = hotline.pbx.run("premium-hotline", "check-config", sample, check=False)
    assert check.returncode == 0, check.stderr
    assert "OK, 5 number section(s)" in check.stdout


def test_check_config_finds_a_sound_exactly_where_asterisk_playback_does(hotline):
    """Asterisk wins: for each place and channel language, check-config's look-up (find_sound, run
    inside the PBX) says "found" exactly when the real Playback finds the file."""
    pbx = hotline.pbx
    tag = f"ph-law-lookup-{int(time.time() * 1000)}"
    # Debian links sounds/en to the installed English prompts (en_US_f_Allison): write through it.
    en = pbx.run("readlink", "-f", f"{pbx.sounds_dir}/en").stdout.strip()
    en = en[len(SOUNDS) + 1 :] if en.startswith(f"{SOUNDS}/") else "en"
    cases = {  # name: (where the only file is, the channel's language, found by Asterisk?)
        "fr-fr": ("fr", "fr", True),
        "fr-en": ("fr", "en", False),
        "plain-fr": ("", "fr", True),
        "en-fr": (en, "fr", True),
        "fr-frca": ("fr", "fr_CA", True),
        "de-fr": ("de", "fr", False),
    }
    for name, (where, language, _) in cases.items():
        pbx.make_sound(f"{where}/{tag}/{name}" if where else f"{tag}/{name}", seconds=0.2)
        context = f"{tag}-{name}"
        pbx.cli(f"dialplan add extension s,1,Set(CHANNEL(language)={language}) into {context}")
        pbx.cli(f"dialplan add extension s,2,Playback({tag}/{name}) into {context}")
        pbx.cli(f"dialplan add extension s,3,Hangup into {context}")
    try:
        for name in cases:
            pbx.originate(f"Local/s@{tag}-{name}/n", app="Wait", data="2")
        pbx.wait_idle(timeout=30)
    finally:
        for name in cases:
            pbx.cli(f"dialplan remove context {tag}-{name}", check=False)
    probe = (
        "import json, sys; from premium_hotline.price_message import find_sound; "
        f"print(json.dumps({{n: bool(find_sound('{tag}/' + n, '{pbx.sounds_dir}', l)) for n, l in "
        "json.loads(sys.argv[1]).items()}))"
    )
    languages = {name: language for name, (_, language, _) in cases.items()}
    import json

    ours = json.loads(pbx.run("python3", "-c", probe, json.dumps(languages)).stdout)
    log = pbx.log_since(hotline.mark)
    for name, (_, _, found) in cases.items():
        played = f"Playing '{tag}/{name}." in log
        missing = f"{tag}/{name} does not exist" in log
        assert (played, missing) == (found, not found), (name, [ln for ln in log.splitlines() if name in ln])
        assert ours[name] == found, (name, ours)
