"""Asterisk SIGKILLed under its calls: no call left open, nothing counted twice.

The real Asterisk 22 of the sandbox runs the shipped dialplan with calls in every state: one
hearing the price message, one talking to an agent, two waiting in a queue (a premium one
ringing an agent who never answers, a free one in a queue with nobody). Asterisk is killed with
SIGKILL (and, in the FastAGI run, the FastAGI server with it, at the same moment): no hang-up
handler runs. It is restarted; calls placed after the restart are decided and closed as usual.
Once `max_call_s` (short here) has passed, every call left open is closed as `lost` (by
`premium-hotline reap` in the chroot for the plain scripts, by the restarted server's
background reaper for FastAGI), `stats` counts each once, and a second reap and a replay change
nothing. Every call of the run is accounted for exactly once: answered, abandoned, unanswered,
short abandon or lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sandbox.fastagi import wait_port
from sandbox.redis_server import free_port
from tests.e2e.conftest import CONFIG_PATH, plugin_config
from tests.support.calls import dump

MAX_CALL_S = 15
LONG_SOUND = f"premium-hotline/price-long-e2e-{os.getpid()}"
LONG_NUMBER = "0899400000"  # premium, support queue, a 40 s price message
ACCOUNTED = {"answered", "abandoned", "unanswered", "short_abandon", "lost"}


class ChrootServer:
    """`premium-hotline serve` inside the chroot, reaping every second."""

    def __init__(self, pbx, port: int) -> None:
        self.port = port
        command = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        command += ["HOME=/root", "LANG=C.UTF-8", "chroot", str(pbx.root), "premium-hotline", "serve"]
        command += ["--port", str(port), "--reap-every", "1"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.stderr = ""
        wait_port(port, process=self.process)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.stderr += self.process.communicate(timeout=10)[1].decode("utf-8", "replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.stderr += self.process.communicate(timeout=30)[1].decode("utf-8", "replace")
        return self.process.returncode


def _log(server: ChrootServer) -> list[dict]:
    return [json.loads(line) for line in server.stderr.splitlines() if line.startswith("{")]


def _configure(hotline) -> None:
    extra = f"\n[{LONG_NUMBER}]\nqueue = support\nrate = 0.80/min\nannounce = {LONG_SOUND}\n"
    config = plugin_config(redis_url=hotline.redis_server.url, max_call_s=str(MAX_CALL_S), log_level="info")
    hotline.pbx.put_file(CONFIG_PATH, config + extra)


def _in_app(pbx, uniqueid: str, app: str) -> bool:
    return any(c.get("uniqueid") == uniqueid and c.get("application") == app for c in pbx.channels())


def _place_calls_in_every_state(hotline) -> list:
    pbx, client = hotline.pbx, hotline.redis
    hotline.agent_delay("agent1", 1)
    hotline.agent_delay("agent2", 600)  # the slow queue's agent rings and never answers
    hearing = hotline.call(LONG_NUMBER, hangup_after=600)
    pbx.wait_until(lambda: _in_app(pbx, hearing.uniqueid, "ControlPlayback"), 15, what="price message")
    talking = hotline.call("0899123456", hangup_after=600)
    pbx.wait_until(lambda: client.hget(f"ph:call:{{{talking.uniqueid}}}", "human_at"), 20, what="answer")
    ringing = hotline.call("0899200000", hangup_after=600)
    nobody = hotline.call("0899300000", hangup_after=600)
    for call in (ringing, nobody):
        pbx.wait_until(lambda call=call: _in_app(pbx, call.uniqueid, "Queue"), 15, what="in queue")
    assert _in_app(pbx, hearing.uniqueid, "ControlPlayback")  # still hearing the price message
    for call in (hearing, talking, ringing, nobody):  # every one decided, none closed
        record = client.hgetall(f"ph:call:{{{call.uniqueid}}}")
        assert record.get("decided_tariff") and not record.get("outcome"), record
    return [hearing, talking, ringing, nobody]


def _stats(hotline, tmp_path, since_ms: int) -> dict:
    import datetime as dt

    config = tmp_path / "ops.conf"
    config.write_text(f"[general]\nredis_url = {hotline.redis_server.url}\ntimezone = UTC\n")
    since = dt.datetime.fromtimestamp(since_ms / 1000, dt.UTC).isoformat()
    command = [sys.executable, "-m", "premium_hotline.cli", "stats", "-c", str(config), "--json"]
    out = subprocess.run([*command, "--since", since], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


@pytest.mark.parametrize("mode", ["plain", "fastagi"])
def test_asterisk_killed_under_its_calls_every_call_is_closed_and_counted_once(hotline, tmp_path, mode):
    pbx, client = hotline.pbx, hotline.redis
    pbx.make_sound(LONG_SOUND, seconds=40)
    _configure(hotline)
    started = int(time.time() * 1000) - 1000
    server = first = ChrootServer(pbx, free_port()) if mode == "fastagi" else None
    try:
        if server:
            pbx.set_global("PH_AGI_BASE", f"agi://127.0.0.1:{server.port}/")
        in_flight = _place_calls_in_every_state(hotline)

        if server:  # the PBX host goes down: Asterisk and the FastAGI server at the same moment
            server.kill()
        pbx.kill()
        assert not pbx.running
        pbx.start()
        if server:
            server = ChrootServer(pbx, free_port())
            pbx.set_global("PH_AGI_BASE", f"agi://127.0.0.1:{server.port}/")
        hotline.agent_delay("agent1", 1)

        # After the restart: calls decided and closed as usual, by their own hang-up.
        after = [hotline.call("0899123456", hangup_after=7), hotline.call("0899300000", hangup_after=6)]
        closed = [hotline.record(call, timeout=30) for call in after]
        assert [r["outcome"] for r in closed] == ["answered", "abandoned"]
        assert (closed[0]["decided_tariff"], closed[0]["tariff"]) == ("premium", "premium")
        assert int(closed[0]["billable_s"]) > 0 and "reaped_at" not in closed[0]

        # Once max_call_s has passed, every call the PBX took down with it is closed as lost.
        deadline = max(int(client.hget(f"ph:call:{{{c.uniqueid}}}", "arrived_at")) for c in in_flight)
        time.sleep(max(0.0, (deadline + MAX_CALL_S * 1000 - time.time() * 1000) / 1000 + 0.5))
        if server:
            pbx.wait_until(
                lambda: all(client.hget(f"ph:call:{{{c.uniqueid}}}", "outcome") for c in in_flight),
                10,
                what="the server's background reap",
            )
        else:
            reaped = pbx.run("premium-hotline", "reap")
            assert "closed 4 call(s) as lost" in reaped.stdout, reaped.stdout + reaped.stderr
            assert "redis_not_durable" in reaped.stderr  # the test Redis has no AOF: said, one line
    finally:
        pbx.set_global("PH_AGI_BASE", "")
        if server and server.process.poll() is None:
            assert server.stop() == 0, server.stderr[-2000:]

    lost = {c.uniqueid: client.hgetall(f"ph:call:{{{c.uniqueid}}}") for c in in_flight}
    for record in lost.values():
        assert (record["outcome"], record["billable_s"], record["amount"]) == ("lost", "0", "0.00"), record
    hearing, talking = lost[in_flight[0].uniqueid], lost[in_flight[1].uniqueid]
    assert talking["last_seen_at"] == talking["human_at"] and int(talking["time_to_human_ms"]) > 2000
    assert "human_at" not in hearing

    # Every call of the run accounted for exactly once, in the calls and in the counters.
    calls = in_flight + after
    outcomes = [client.hget(f"ph:call:{{{c.uniqueid}}}", "outcome") for c in calls]
    assert all(outcome in ACCOUNTED for outcome in outcomes), outcomes
    report = _stats(hotline, tmp_path, started)
    total = report["total"]["all"]
    assert total["lost"] == 4
    assert total["offered"] + total["short_abandoned"] == len(calls)
    for outcome, key in (("answered", "answered"), ("abandoned", "abandoned"), ("lost", "lost")):
        assert total[key] == outcomes.count(outcome), (outcome, total)
    assert total["amount_cents"] == round(float(closed[0]["amount"]) * 100)

    # A second reap, and a replay of the spool, change nothing.
    state = dump(client)
    again = pbx.run("premium-hotline", "reap")
    assert "closed 0 call(s) as lost" in again.stdout
    pbx.run("premium-hotline", "replay")
    assert dump(client) == state
    if server:  # decided by the server that died, closed by the one started after
        decided = {e.get("uniqueid") for e in _log(first) if e.get("route") == "decide_tariff"}
        assert {c.uniqueid for c in in_flight} <= decided
        assert sum(e.get("lost", 0) for e in _log(server) if e.get("event") == "calls_lost") == 4
    print(f"\n{mode}: {len(calls)} calls, lost {total['lost']}, stats {total['offered']} offered")
