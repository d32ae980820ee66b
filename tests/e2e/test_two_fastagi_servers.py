"""Two FastAGI servers sharing one Redis behind the shipped dialplan, one killed mid-run.

The real Asterisk 22 of the sandbox runs dialplan/premium-hotline.conf with `PH_AGI_BASE`
pointing at server A and `PH_AGI_FALLBACK` at server B (the plain list of the README's
"Several FastAGI servers"). Calls are placed one after the other; half-way through, A is
killed with SIGKILL (a crash, no drain). What must hold:

- calls keep flowing: every call is decided by a server (A, then B through the fallback),
  none falls to the dialplan's own `agi_failure`, and every call's record is closed;
- the KPIs stay exact: the KPI minute counters equal a hand count from the per-call hashes,
  every placed call is counted once, and the answered calls are the queue's CONNECTs in
  Asterisk's own queue_log.

Queue()'s AGI argument (`agent_answered`) takes a single script, so it has no fallback: a call
answered after A died misses that route, and call_ended records the answer from the member
gosub's stamp (`SHARED(PH_HUMAN_MS)`) instead; DNS SRV (`hagi://`) covers that route too.
"""

from __future__ import annotations

import signal
import time

from premium_hotline.ops.reader import read_window
from premium_hotline.ops.window import Window
from premium_hotline.store.keys import Keys
from sandbox.redis_server import free_port
from tests.support import ops_calls
from tests.support.chroot_fastagi import ChrootServer

# number, seconds before the caller hangs up (after the dialplan answered)
PLAN = [("0899123456", 6), ("0805123456", 4), ("0899300000", 3), ("0826100200", 1)] * 3
KILL_BEFORE = 6  # A dies just before the 7th call is placed


def test_server_a_killed_mid_run_the_dialplan_fallback_keeps_calls_flowing_and_kpis_exact(hotline):
    pbx = hotline.pbx
    hotline.configure(log_level="info")  # a log line per route: which server served which call
    a = ChrootServer(pbx, free_port())
    b = ChrootServer(pbx, free_port())
    calls = []
    try:
        pbx.set_global("PH_AGI_BASE", f"agi://127.0.0.1:{a.port}/")
        pbx.set_global("PH_AGI_FALLBACK", f"agi://127.0.0.1:{b.port}/")
        for index, (number, hang_up_after) in enumerate(PLAN):
            if index == KILL_BEFORE:
                a.kill()
            calls.append(hotline.call(number, hangup_after=hang_up_after))
            time.sleep(1.5)
        records = [hotline.record(call, timeout=60) for call in calls]
        pbx.wait_idle(timeout=60)
    finally:
        pbx.set_global("PH_AGI_BASE", "")
        pbx.set_global("PH_AGI_FALLBACK", "")
        if a.process.poll() is None:
            a.kill()
        assert b.stop() == 0, b.stderr[-2000:]
    assert a.process.returncode == -signal.SIGKILL

    # Calls kept flowing: decided by a server every time, A until it died, then B.
    assert [r["reason"] for r in records if r["reason"] == "agi_failure"] == []
    by_a, by_b = a.served(), b.served()
    before, after = calls[:KILL_BEFORE], calls[KILL_BEFORE:]
    assert all("decide_tariff" in by_a.get(call.uniqueid, set()) for call in before), by_a
    assert all("decide_tariff" in by_b.get(call.uniqueid, set()) for call in after), by_b
    assert all("call_ended" in by_a.get(c.uniqueid, set()) | by_b.get(c.uniqueid, set()) for c in calls)

    # KPIs exact: every call counted once, the counters equal to a hand count of the hashes.
    arrived = [int(r["arrived_at"]) for r in records]
    window = Window(min(arrived), max(arrived) + 60_000)
    totals = read_window(hotline.redis, Keys("ph:"), ["support", "slow", "nobody"], window)
    counted = sum(
        t.counts.get(n, 0) for q in totals.values() for t in q.values() for n in ("offered", "short_abandon")
    )
    assert counted == len(PLAN)
    hand = ops_calls.hand_count(records, window.start_ms, window.end_ms)
    for (queue, tariff), row in hand.items():
        tally = totals[queue].get(tariff)
        assert tally is not None, (queue, tariff)
        for name, key in (("offered", "offered"), ("answered", "answered"), ("abandoned", "abandoned")):
            assert tally.counts.get(name, 0) == row[key], (queue, tariff, name)
        assert tally.counts.get("short_abandon", 0) == row["short_abandoned"], (queue, tariff)
        assert tally.counts.get("tth_sum_ms", 0) == sum(row["tth"]), (queue, tariff)
        assert tally.counts.get("billable_s", 0) == row["billable_s"], (queue, tariff)
    uids = {call.uniqueid for call in calls}
    connects = {
        line[1] for line in pbx.queue_log() if len(line) > 4 and line[4] == "CONNECT" and line[1] in uids
    }
    assert sum(row["answered"] for row in hand.values()) == len(connects) > 0

    # Asterisk warned about A's refused connections, and about nothing else.
    refused = [
        rf"res_agi\.c: Connecting to '127\.0\.0\.1:{a.port}' failed",
        r"res_agi\.c: Couldn't connect to any host",
    ]
    problems = pbx.problems_since(hotline.mark, ignore=refused)
    assert problems == []
    routes_b = sum(len(routes) for routes in by_b.values())
    print(
        f"\ntwo FastAGI servers: {len(PLAN)} calls, A killed before call {KILL_BEFORE + 1}; "
        f"A served {sum(len(r) for r in by_a.values())} routes, B {routes_b}; answered {len(connects)}"
    )
