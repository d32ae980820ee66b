"""`hagi://` for real: FastAGI servers found by DNS SRV, tried in priority order, behind the shipped
dialplan in the sandbox Asterisk 22.

Asterisk's `AGI(hagi://NAME/script)` (res_agi.c, launch_ha_netscript) asks DNS for the SRV
records of `_agi._tcp.NAME`, sorts them by priority (then weight), and runs `agi://TARGET:PORT/script`
for each in turn until one connects; when the lookup fails or every target refused, AGI() returns
with AGISTATUS=FAILURE. The lookup goes through glibc's resolver (ast_search_dns: res_nsearch on
/etc/resolv.conf, not res_resolver_unbound), so the test's DNS server is dnsmasq on port 53 of a
loopback address of its own (tests/support/srv_dns.py), and this session's Asterisk, in a mount
namespace of its own, reads a resolv.conf naming only it (AsteriskSandbox.set_nameserver).

What must hold, with `PH_AGI_BASE=hagi://hotline.test/` and no `PH_AGI_FALLBACK`:
- while both servers run, the priority-10 target serves every route of a call (decision, agent's
  answer through Queue()'s AGI argument, hang-up handler), the priority-20 one none;
- once the first is down, the next target serves every route of the next calls, Queue()'s
  included (which a plain PH_AGI_FALLBACK list cannot cover), with the right tariff and record,
  and Asterisk warns only about the refused target;
- when nothing can serve (every target down, the name without SRV records, the DNS server dead)
  the call still goes on through the dialplan's fail branch: free, reason agi_failure, the agent
  reached, the call ended, within seconds.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time

import pytest

from sandbox.redis_server import free_port
from tests.support.chroot_fastagi import ChrootServer
from tests.support.srv_dns import Srv, SrvDns

ZONE = "hotline.test"  # RFC 2606: never a real name
SERVICE = f"_agi._tcp.{ZONE}"  # res_agi's SRV_PREFIX "_agi._tcp." before the URL's host
TARGETS = {"fastagi-a": 10, "fastagi-b": 20}  # host name in the zone -> SRV priority
ROUTES_OF_AN_ANSWERED_CALL = {"decide_tariff", "agent_answered", "call_ended"}


def refused_target_warnings(host: str, port: int) -> list[str]:
    """What res_agi logs (WARNING) each time a hagi:// target refuses: the address, then the URL."""
    return [
        rf"res_agi\.c: Connecting to '127\.0\.0\.1:{port}' failed for url 'agi://{re.escape(host)}:{port}/",
        r"res_agi\.c: Couldn't connect to any host\.  FastAGI failed\.",
        rf"res_agi\.c: AGI request failed for host '{re.escape(ZONE)}' \({re.escape(host)}:{port}\)",
    ]


@contextlib.contextmanager
def hagi_zone(hotline, tmp_path, ports: dict[str, int]):
    """dnsmasq serving `_agi._tcp.hotline.test` -> ports (by TARGETS' priorities), the session's
    Asterisk resolving through it and the dialplan's base set to hagi://; all undone after."""
    records = [Srv(SERVICE, f"{name}.{ZONE}", ports[name], priority) for name, priority in TARGETS.items()]
    dns = SrvDns(tmp_path, ZONE, records, {f"{name}.{ZONE}": "127.0.0.1" for name in TARGETS})
    pbx = hotline.pbx
    try:
        dns.start()
        pbx.set_nameserver(dns.address)
        pbx.set_global("PH_AGI_BASE", f"hagi://{ZONE}/")
        yield dns
    finally:
        pbx.set_global("PH_AGI_BASE", "")
        pbx.set_nameserver(None)
        dns.stop()


def place(hotline, number: str, hangup_after: float) -> tuple[object, str, float]:
    """Place a call; return it, its decision line and the seconds from placing to that line."""
    mark = hotline.pbx.mark()
    started = time.monotonic()
    call = hotline.call(number, hangup_after=hangup_after)
    line = hotline.pbx.wait_for_log(rf"premium-hotline: {number} tariff=\S+ reason=\S+.*", since=mark)
    return call, line.group(0), time.monotonic() - started


def test_hagi_calls_go_to_the_first_srv_target_by_priority_then_to_the_next_once_it_is_down(
    hotline, tmp_path
):
    pbx = hotline.pbx
    hotline.configure(log_level="info")  # a log line per route: which server served which call
    a = ChrootServer(pbx, free_port())
    b = ChrootServer(pbx, free_port())
    try:
        with hagi_zone(hotline, tmp_path, {"fastagi-a": a.port, "fastagi-b": b.port}) as dns:
            first, first_line, _ = place(hotline, "0899123456", hangup_after=6)
            first_record = hotline.record(first, timeout=30)
            pbx.wait_idle(timeout=30)
            a.kill()  # a crash: the priority-10 target now refuses connections
            after_kill = pbx.mark()
            second, second_line, _ = place(hotline, "0899123456", hangup_after=6)
            second_record = hotline.record(second, timeout=30)
            third, third_line, _ = place(hotline, "0805123456", hangup_after=3)
            third_record = hotline.record(third, timeout=30)
            pbx.wait_idle(timeout=30)
    finally:
        if a.process.poll() is None:
            a.kill()
        assert b.stop() == 0, b.stderr[-2000:]
    assert a.process.returncode == -signal.SIGKILL
    by_a, by_b = a.served(), b.served()

    # Priority order: A (10) served the whole first call, B (20) nothing of it; A down, B, the
    # next target, served the whole second call, Queue()'s AGI included. Both premium, answered.
    for call, line, record, server, other in (
        (first, first_line, first_record, by_a, by_b),
        (second, second_line, second_record, by_b, by_a),
    ):
        assert line.startswith("premium-hotline: 0899123456 tariff=premium reason=premium rate=0.80/min")
        decided = (record["outcome"], record["tariff"], record["decided_tariff"], record["rate"])
        assert decided == ("answered", "premium", "premium", "0.80/min")
        assert server.get(call.uniqueid) == ROUTES_OF_AN_ANSWERED_CALL
        assert call.uniqueid not in other
    assert " tariff=free reason=free_range " in third_line
    assert (third_record["tariff"], third_record["reason"]) == ("free", "free_range")
    assert {"decide_tariff", "call_ended"} <= by_b.get(third.uniqueid, set())
    assert all(record["reason"] != "agi_failure" for record in (first_record, second_record, third_record))

    # Through DNS for real: Asterisk asked dnsmasq for the SRV records and both targets' addresses.
    asked = dns.queries()
    assert ("SRV", SERVICE) in asked
    assert {("A", f"{name}.{ZONE}") for name in TARGETS} <= set(asked)

    # Asterisk warned that A refused, once per route after the kill (3 + 2 at least), and of nothing else.
    refused = refused_target_warnings(f"fastagi-a.{ZONE}", a.port)
    log = pbx.log_since(after_kill)
    assert len(re.findall(refused[2], log)) >= len(ROUTES_OF_AN_ANSWERED_CALL) + 2
    assert pbx.problems_since(hotline.mark, ignore=refused) == []
    assert "Traceback" not in pbx.console_output()
    print(
        f"\nhagi:// {SERVICE}: A served {sorted(by_a.get(first.uniqueid, ()))} of call 1; after its kill "
        f"B served {sum(len(by_b.get(c.uniqueid, ())) for c in (second, third))} routes of calls 2-3, "
        f"{len(re.findall(refused[2], log))} refused tries of A; {len(asked)} DNS questions"
    )


@pytest.mark.parametrize("failure", ["every_target_down", "no_srv_records", "dns_server_down"])
def test_hagi_with_nothing_to_serve_the_call_takes_the_dialplan_fail_branch_and_never_hangs(
    failure, hotline, tmp_path
):
    pbx = hotline.pbx
    ports = {name: free_port() for name in TARGETS}  # nothing listens on them
    with hagi_zone(hotline, tmp_path, ports) as dns:
        if failure == "no_srv_records":
            pbx.set_global("PH_AGI_BASE", f"hagi://nowhere.{ZONE}/")  # the zone answers NXDOMAIN
        elif failure == "dns_server_down":
            dns.stop()
        call, line, seconds = place(hotline, "0899123456", hangup_after=6)
        pbx.wait_idle(timeout=30)  # the hang-up handler's AGI fails as fast: the call ends

    assert line.startswith("premium-hotline: 0899123456 tariff=free reason=agi_failure")
    assert seconds < 5, f"the decision took {seconds:.1f} s"
    rows = [r for r in pbx.cdr_rows() if r.get("uniqueid") == call.uniqueid]
    assert any(r.get("userfield") == "ph;tariff=free;reason=agi_failure;did=0899123456" for r in rows)
    agent = [r for r in pbx.cdr_rows() if "agent1@agents" in str(r.get("channel", "")) and r.get("answer")]
    assert agent, "the caller never reached the agent"

    if failure == "every_target_down":
        # Each AGI() of the call (decision, agent's answer, hang-up) tried A then B; no lookup failure.
        expected = [w for name in TARGETS for w in refused_target_warnings(f"{name}.{ZONE}", ports[name])]
        log = pbx.log_since(hotline.mark)
        tried = re.findall(rf"AGI request failed for host '{re.escape(ZONE)}' \((fastagi-[ab])\.", log)
        assert len(tried) >= 4 and tried == ["fastagi-a", "fastagi-b"] * (len(tried) // 2), tried
    else:
        expected = [r"res_agi\.c: SRV lookup failed for hagi://"]
        assert re.search(r"SRV lookup failed for hagi://", pbx.log_since(hotline.mark))
    if failure == "no_srv_records":
        assert ("SRV", f"_agi._tcp.nowhere.{ZONE}") in dns.queries()
    assert pbx.problems_since(hotline.mark, ignore=expected) == []
    assert "Traceback" not in pbx.console_output()
    print(f"\nhagi:// {failure}: decided free/agi_failure {seconds:.2f} s after the call was placed")
