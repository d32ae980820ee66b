#!/usr/bin/env python3
"""Self-check of the sandbox Asterisk (run as root after sandbox/build.sh).

Drives a real Asterisk 22 in the cached chroot through sandbox/asterisk.py and
checks the behaviour the project's dialplan relies on:

* a queue ``support`` whose only member is ``Local/agent1@agents/n``; the agent's extension
  waits 2 s before it answers, so the caller is connected about 2 s after joining the queue;
* ``Queue(support,,,,30,selfcheck_connected.py)``: the AGI argument runs a plain AGI script
  (chroot python3, stdlib only, raw AGI on stdin/stdout) on the caller's channel once the
  agent answers, before the two are bridged;
* a hangup handler pushed with ``Set(CHANNEL(hangup_handler_push)=hh,s,1)`` that sets
  ``CDR(userfield)`` and runs an AGI on the dead channel (which commands still work there);
* ``STRFTIME`` with ``%3q`` (milliseconds) and custom CDR variables landing in the CDR;
* a FastAGI server on the host (127.0.0.1, free port) reached as ``agi://127.0.0.1:PORT/...``;
* several calls at once, placed with the CLI's ``channel originate``, each playing a
  generated 2 s WAV; their CDRs show the 2 s;
* nothing logged at WARNING or ERROR level during all of it.

Prints one line per check, then timings and the loaded modules; exits 1 if a check failed.
``--keep`` leaves the session directory's files (AGI scripts, sound) in place for a look.
"""

from __future__ import annotations

import json
import re
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sandbox.asterisk import AsteriskSandbox  # noqa: E402

# A plain AGI script for the chroot's python3: stdlib only, speaks raw AGI.  It records when it
# started, its AGI environment, the replies to a few commands and whether SIGHUP arrived, as
# JSON in ${PH_OUT}/<script name>-<uniqueid>.json.  The same text is installed under two names.
AGI_SCRIPT = r"""#!/usr/bin/python3
import json, os, signal, sys, time

t_start = time.time()
hup = []
# Asterisk sends SIGHUP when the channel hangs up (unless AGISIGHUP=no); Python's default
# action for SIGHUP would kill us before we write our record.
signal.signal(signal.SIGHUP, lambda *_: hup.append(time.time()))

env = {}
while True:
    line = sys.stdin.readline()
    if not line or line == "\n":
        break
    key, _, value = line.rstrip("\n").partition(": ")
    env[key] = value

def agi(command):
    sys.stdout.write(command + "\n")
    sys.stdout.flush()
    reply = sys.stdin.readline().rstrip("\n")
    while reply.startswith("520-"):          # multi-line usage message
        reply = sys.stdin.readline().rstrip("\n")
    return reply

name = os.path.basename(sys.argv[0]).rsplit(".", 1)[0]
commands = [
    "GET VARIABLE PH_T_QUEUE",
    "GET VARIABLE MEMBERINTERFACE",
    "GET VARIABLE DIALEDPEERNUMBER",
    "GET VARIABLE QUEUEWAIT_MS",
    "GET FULL VARIABLE ${CDR(userfield)}",
    'SET VARIABLE CDR(userfield) "set-by-agi-%s"' % name,
    "GET FULL VARIABLE ${CDR(userfield)}",
    "GET FULL VARIABLE ${STRFTIME(,,%s.%3q)}",
    "CHANNEL STATUS",
    "STREAM FILE silence/1 \"\"",
    'VERBOSE "selfcheck AGI %s ran" 1' % name,
]
replies = [[c, agi(c)] for c in commands]
out = agi("GET VARIABLE PH_OUT").partition("(")[2].rstrip(")")
record = {"t_start": t_start, "args": sys.argv[1:], "env": env, "replies": replies,
          "sighup_before_exit": bool(hup),
          "environ": {k: v for k, v in os.environ.items() if k.startswith(("AST_", "PH_"))}}
with open(os.path.join(out, "%s-%s.json" % (name, env.get("agi_uniqueid"))), "w") as f:
    json.dump(record, f, indent=1)
"""

DIALPLAN = r"""
[agents]
; The queue member: rings 2 s, then answers and stays on.
exten => agent1,1,NoOp(agent1 rings)
 same => n,Wait(2)
 same => n,Answer()
 same => n,Wait(30)

[caller]
; The hotline side of a test call (Local ;2 half).
exten => 100,1,Answer()
 same => n,Set(CHANNEL(hangup_handler_push)=hh,s,1)
 same => n,Set(CDR(ph_tariff)=premium)
 same => n,Set(CDR(userfield)=set-before-queue)
 same => n,Set(PH_T_QUEUE=${STRFTIME(,,%s.%3q)})
 same => n,Verbose(1,selfcheck entering queue at ${STRFTIME(,,%F %T.%3q)})
 same => n,Verbose(1,selfcheck caller ${CALLERID(num)} var ${PH_TEST})
 same => n,Queue(support,,,,30,selfcheck_connected.py)
 same => n,Verbose(1,selfcheck queue over QUEUESTATUS=${QUEUESTATUS})
 same => n,Hangup()

; FastAGI on the host.
exten => 200,1,Answer(0)
 same => n,AGI(agi://127.0.0.1:${FASTAGI_PORT}/ping?x=1)
 same => n,Verbose(1,selfcheck fastagi AGISTATUS=${AGISTATUS} FASTAGI_OK=${FASTAGI_OK})
 same => n,Hangup()

; Several calls at once, each plays the generated 2 s WAV.
exten => 300,1,Answer(0)
 same => n,Set(PH_T0=${STRFTIME(,,%s%3q)})
 same => n,Playback(ph-selfcheck/two-seconds)
 same => n,Set(CDR(ph_played_ms)=${MATH(${STRFTIME(,,%s%3q)}-${PH_T0},int)})
 same => n,Hangup()

; A call that meets no Dial/Queue: its hangup handler sets CDR(userfield) without AGI.
exten => 400,1,Answer(0)
 same => n,Set(CHANNEL(hangup_handler_push)=hh-plain,s,1)
 same => n,Set(CDR(userfield)=set-before-hangup)
 same => n,Wait(1)
 same => n,Hangup()

[hh-plain]
exten => s,1,Set(CDR(userfield)=set-in-hangup-handler)
 same => n,Return()

[hh]
; Hangup handler of the caller's channel: runs after the hangup, on the dead channel.
exten => s,1,Verbose(1,selfcheck hangup handler ran on ${CHANNEL(name)} cause ${HANGUPCAUSE})
 same => n,Set(CDR(userfield)=set-in-hangup-handler)
 same => n,AGI(selfcheck_hh.py)
 same => n,Return()
"""

QUEUES = """
[support]
strategy = ringall
timeout = 15
retry = 1
wrapuptime = 0
joinempty = yes
leavewhenempty = no
ringinuse = no
member => Local/agent1@agents/n
"""


class FastAGIPing(socketserver.BaseRequestHandler):
    """Minimal FastAGI: read the environment, send two commands, remember what came."""

    seen: ClassVar[list[dict]] = []

    def handle(self) -> None:
        f = self.request.makefile("rwb")
        env = {}
        while True:
            line = f.readline().decode()
            if not line or line == "\n":
                break
            k, _, v = line.rstrip("\n").partition(": ")
            env[k] = v
        replies = []
        for cmd in ('VERBOSE "fastagi ping" 1', "SET VARIABLE FASTAGI_OK yes"):
            f.write(cmd.encode() + b"\n")
            f.flush()
            replies.append(f.readline().decode().strip())
        self.seen.append({"env": env, "replies": replies})


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, name: str, ok: bool, detail: object = "") -> bool:
        self.failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  [{detail}]" if detail != "" else ""))
        return ok


def info(name: str, detail: object) -> None:
    """A fact about Asterisk's behaviour, printed for the record (not a pass/fail check)."""
    print(f"INFO  {name}  [{detail}]")


def main() -> int:
    keep = "--keep" in sys.argv
    check = Checks()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FastAGIPing)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fastagi_port = server.server_address[1]

    with AsteriskSandbox(env={"PH_SELFCHECK_ENV": "passed-through"}) as pbx:
        out_dir = f"{pbx.sdir}/selfcheck"
        pbx.host_path(out_dir).mkdir(parents=True, exist_ok=True)
        pbx.configure(
            extensions=DIALPLAN,
            queues=QUEUES,
            globals_={"PH_OUT": out_dir, "FASTAGI_PORT": str(fastagi_port)},
            cdr_extra_fields=["ph_tariff", "ph_played_ms"],
        )
        for name in ("selfcheck_connected.py", "selfcheck_hh.py"):
            pbx.install_agi_script(name=name, content=AGI_SCRIPT)
        pbx.make_sound("ph-selfcheck/two-seconds", 2.0)

        def agi_record(script: str, uniqueid: str) -> dict | None:
            path = pbx.host_path(f"{out_dir}/{script}-{uniqueid}.json")
            return json.loads(path.read_text()) if path.exists() else None

        boot = pbx.start()
        check("Asterisk boots", True, f"{boot:.2f} s")
        boot_problems = pbx.problems_since(0)
        check("no WARNING/ERROR while loading modules", not boot_problems, boot_problems)
        mark = pbx.mark()

        # 1. A queue call placed through AMI with a caller ID; the caller's phone hangs up
        #    6 s after the hotline answers, so about 3.5 s after the agent answered.
        call = pbx.call(
            "100",
            "caller",
            caller_id="0612345678",
            caller_name="Self Check",
            variables={"PH_TEST": "from-originate"},
            hangup_after=6,
        )
        # 2. FastAGI on the host.
        pbx.originate("Local/200@caller/n", app="Wait", data="5")
        # 3. Three calls at once from the CLI.
        for _ in range(3):
            pbx.originate("Local/300@caller/n", app="Wait", data="10")
        time.sleep(1.0)
        active = pbx.channels()
        check("channels() lists the calls in progress", len(active) >= 8, len(active))
        pbx.wait_idle(timeout=60)
        # 4. A caller who gives up in the queue, 1 s after the answer (the agent needs 2 s).
        abandoned = pbx.call("100", "caller", caller_id="0699999999", hangup_after=1)
        # 5. No queue at all: answer, push the hangup handler, hang up after 1 s.
        no_queue = pbx.call("400", "caller", caller_id="0611111111")
        pbx.wait_idle(timeout=30)
        time.sleep(0.5)  # CDR records are written just after the channels are gone

        log = pbx.log_since(mark)
        problems = pbx.problems_since(mark)
        check("no WARNING/ERROR from the dialplan", not problems, problems)
        check("variables from call() reach the dialplan", "var from-originate" in log)

        # Answer() on a Local channel whose other half sends no audio waits 500 ms.
        times = {}
        for prio in (1, 2):
            m = re.search(rf"^\[([\d: -]+\.\d+)\].*Executing \[100@caller:{prio}\]", log, re.M)
            times[prio] = m and time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + float(
                "0" + m.group(1)[19:]
            )
        if times[1] and times[2]:
            info("Answer() with no argument on a Local channel takes", f"{times[2] - times[1]:.3f} s")

        conn = agi_record("selfcheck_connected", call.uniqueid)
        if check("Queue's AGI argument ran the AGI script", conn is not None):
            replies = dict(conn["replies"])
            t_queue = float(replies["GET VARIABLE PH_T_QUEUE"].partition("(")[2].rstrip(")"))
            waited = conn["t_start"] - t_queue
            check(
                "agent connected about 2 s after joining the queue",
                1.8 <= waited <= 3.5,
                f"AGI started {waited:.3f} s after Queue()",
            )
            check(
                "Queue AGI runs on the caller's channel",
                conn["env"].get("agi_channel", "").endswith(";2")
                and conn["env"].get("agi_callerid") == "0612345678",
                f"{conn['env'].get('agi_channel')} cid={conn['env'].get('agi_callerid')}",
            )
            bridged_at = re.search(r"\[([\d: -]+\.\d+)\].*Local/100@caller-\S+;2 joined", log)
            info(
                "Queue AGI runs before the bridge; caller joined the bridge at",
                bridged_at.group(1) if bridged_at else "?",
            )
            for var in ("MEMBERINTERFACE", "DIALEDPEERNUMBER", "QUEUEWAIT_MS"):
                info(f"in the Queue AGI, GET VARIABLE {var}", replies[f"GET VARIABLE {var}"])
            environ = conn.get("environ", {})
            check(
                "AGI scripts inherit Asterisk's environment (AsteriskSandbox(env=...))",
                environ.get("PH_SELFCHECK_ENV") == "passed-through",
                environ.get("PH_SELFCHECK_ENV"),
            )
            info("AGI environment: AST_CONFIG_DIR", environ.get("AST_CONFIG_DIR"))
            stamp = replies["GET FULL VARIABLE ${STRFTIME(,,%s.%3q)}"]
            check("STRFTIME %3q gives milliseconds", bool(re.search(r"\(\d{10}\.\d{3}\)", stamp)), stamp)

        hh = agi_record("selfcheck_hh", call.uniqueid)
        check("hangup handler's dialplan ran", "selfcheck hangup handler ran" in log)
        if check("hangup handler ran its AGI (dead channel)", hh is not None):
            replies = dict(hh["replies"])
            check(
                "dead-channel AGI: GET/SET VARIABLE work",
                replies['SET VARIABLE CDR(userfield) "set-by-agi-selfcheck_hh"'] == "200 result=1"
                and "set-by-agi-selfcheck_hh" in replies["GET FULL VARIABLE ${CDR(userfield)}"],
                replies["GET FULL VARIABLE ${CDR(userfield)}"],
            )
            check(
                "dead-channel AGI: STREAM FILE answers 511",
                replies['STREAM FILE silence/1 ""'].startswith("511"),
                replies['STREAM FILE silence/1 ""'],
            )
            info("dead-channel AGI: CHANNEL STATUS", replies["CHANNEL STATUS"])
            info("dead-channel AGI: SIGHUP received while it ran", hh["sighup_before_exit"])

        cdrs = pbx.cdr_rows()
        mine = [r for r in cdrs if r["uniqueid"] == call.uniqueid]
        bridged = [r for r in mine if str(r["dstchannel"]).startswith("Local/agent1@agents")]
        after = [r for r in mine if not r["dstchannel"]]
        if check(
            "CDR of the queue call bridged to the agent (by call()'s uniqueid)",
            len(bridged) == 1,
            f"{len(mine)} CDRs for {call.uniqueid}",
        ):
            row = bridged[0]
            check("custom CDR variable lands in the CDR", row["ph_tariff"] == "premium", row["ph_tariff"])
            check(
                "caller ID from call() reaches the dialplan and CDR",
                row["src"] == "0612345678",
                f"src={row['src']} clid={row['clid']}",
            )
            check(
                "CDR start/answer/end carry milliseconds",
                "." in str(row["answer"]),
                f"{row['start']} / {row['answer']} / {row['end']}",
            )
            info("bridged CDR: userfield (hangup handler's value does NOT reach it)", row["userfield"])
        if check(
            "hangup handler's CDR(userfield) lands in a separate trailing CDR",
            any(r["userfield"] == "set-by-agi-selfcheck_hh" for r in after),
        ):
            row = after[-1]
            info(
                "trailing CDR after the bridge",
                f"lastapp={row['lastapp']} "
                f"start={row['start']} end={row['end']} billsec={row['billsec']} "
                f"sequence={row['sequence']}",
            )
        ab = [r for r in cdrs if r["uniqueid"] == abandoned.uniqueid]
        ab_queue = [r for r in ab if r["lastapp"] == "Queue"]
        check(
            "abandoned in queue: hangup handler's userfield in a trailing CDR again",
            len(ab) == 2 and ab[-1]["userfield"] == "set-by-agi-selfcheck_hh",
            [(r["lastapp"], r["userfield"], r["disposition"]) for r in ab],
        )
        if ab_queue:
            info(
                "abandoned in queue: disposition of the caller's Queue CDR",
                f"{ab_queue[0]['disposition']} (billsec={ab_queue[0]['billsec']}, "
                f"dstchannel={ab_queue[0]['dstchannel']})",
            )
        plain = [r for r in cdrs if r["uniqueid"] == no_queue.uniqueid]
        check(
            "no Dial/Queue: a single CDR, carrying the hangup handler's userfield",
            len(plain) == 1 and plain[0]["userfield"] == "set-in-hangup-handler",
            [(r["lastapp"], r["userfield"]) for r in plain],
        )

        check(
            "FastAGI on the host reached from the chroot",
            bool(FastAGIPing.seen) and "AGISTATUS=SUCCESS FASTAGI_OK=yes" in log,
            FastAGIPing.seen[0]["env"].get("agi_network_script") if FastAGIPing.seen else "",
        )

        played = [
            r
            for r in cdrs
            if r["dcontext"] == "caller" and r["dst"] == "300" and str(r["channel"]).endswith(";2")
        ]
        ms = sorted(int(r["ph_played_ms"] or 0) for r in played)
        check(
            "3 simultaneous calls each played the 2 s WAV",
            len(played) == 3 and all(1950 <= m <= 2300 for m in ms),
            f"ms measured in dialplan: {ms}",
        )

        events = [e[4] for e in pbx.queue_log() if len(e) > 4]
        check(
            "queue_log has ENTERQUEUE, CONNECT, COMPLETECALLER, ABANDON",
            {"ENTERQUEUE", "CONNECT", "COMPLETECALLER", "ABANDON"} <= set(events),
            events,
        )

        modules = pbx.loaded_modules()
        t_stop = time.monotonic()
        pid = pbx.pid
        pbx.stop()
        stop_s = time.monotonic() - t_stop
        alive = subprocess.run(
            ["ps", "-o", "pid=", "-g", str(pid)], capture_output=True, text=True
        ).stdout.split()
        check("stop() leaves no process behind", not alive, f"stop took {stop_s:.2f} s")
        if keep:
            pbx._installed.clear()
    server.shutdown()
    server.server_close()

    print(f"\nsession dir: {pbx.host_path(pbx.sdir)}")
    print(f"boot time: {boot:.2f} s; modules loaded ({len(modules)}): {' '.join(modules)}")
    print(f"{check.failed} failed" if check.failed else "all checks passed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
