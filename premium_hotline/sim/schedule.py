"""A scenario's traffic as a schedule the sandbox demo can play at real time.

The simulator does not drive Asterisk itself: the demo (FastAGI server + sandbox Asterisk) owns
the channels. It reads these JSON lines and, at each `at_s` after it starts, originates a call to
`number`; the caller skips the price message (DTMF #) after `message_s` if that is shorter than
the full message, hangs up after `patience_s` without a person, and talks `talk_s` once answered;
the answering agent's Local channel waits `ring_s` before Answer(). `agents` lines say how many
queue members should be logged in from `at_s` on. Same seed, same schedule.
"""

from __future__ import annotations

from .traffic import DAY_START_H, QUEUE, Scenario, generate_calls


def schedule(
    scenario: Scenario, *, seed: int = 1, start_h: float = 10.0, minutes: float = 5.0, commitment_s: int = 60
) -> list[dict]:
    """Header, staffing lines, then one line per call, times relative to the schedule's start."""
    start_s = (start_h - DAY_START_H) * 3600
    end_s = start_s + minutes * 60
    calls = generate_calls(scenario, seed * 1000, start_s, end_s)
    lines: list[dict] = [
        {
            "kind": "schedule",
            "version": 1,
            "scenario": scenario.name,
            "seed": seed,
            "start_h": start_h,
            "minutes": minutes,
            "queue": QUEUE,
            "commitment_s": commitment_s,
            "message_s": scenario.message_s,
            "wrapup_s": scenario.wrapup_s,
            "calls": len(calls),
        }
    ]
    lines += [
        {"kind": "agents", "at_s": round(at - start_s, 3), "agents": agents}
        for at, agents in scenario.staffing_plan(start_s, end_s)
    ]
    lines += [
        {
            "kind": "call",
            "id": call.cid,
            "at_s": round(call.arrival_s - start_s, 3),
            "number": call.number,
            "patience_s": round(call.patience_s, 3),
            "message_s": round(call.message_s, 3),
            "ring_s": round(call.ring_s, 3),
            "talk_s": round(call.talk_s, 3),
        }
        for call in calls
    ]
    return lines
