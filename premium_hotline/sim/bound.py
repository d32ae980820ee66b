"""An upper bound on the kept premium share that no policy can beat on the same traffic.

A relaxation of the simulated day, provably optimistic (docs/promise.md has the argument):

1. A premium call can keep its promise only if its caller is still there when the person
   answers and that happens within the commitment: message + ring <= min(commitment, patience)
   (the wait in the queue is at least 0). Calls failing this are out whatever the policy.
2. A kept call holds one agent from the moment it is assigned, a in [arrival + message,
   arrival + min(commitment, patience) - ring], for ring + talk + wrap-up. The agents present
   at t are at most the staffing plan's count plus the ones still finishing the call they had
   when the plan went down (they take no new call, and that call started before the change, so
   it ends by a time computed from the calls that had arrived by then).
3. Over any window [a, b) of time, the kept calls that arrived in it use at least
   min(ring + talk + wrap-up, b - latest assignment) agent-seconds inside it, and the agents
   offer at most the integral of their count over it. Free callers, premium callers not kept,
   the order of the queue and the shape of talk times are all dropped: each only adds load.

Windows that do not overlap give independent constraints, so the sum over a partition of the
day of the most calls each window can hold is a bound; with unit value per call the most calls
a window holds is found exactly by taking the smallest occupancies first. Every partition gives
a bound: the smallest over a few window lengths is reported.
"""

from __future__ import annotations

import itertools

from .traffic import Call, Scenario

WINDOWS_S = (600.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)


def _agents_upper(
    scenario: Scenario, plan: list[tuple[float, int]], calls: list[Call], wrapup_s: float, end_s: float
):
    """Piecewise-constant upper bound on the agents present: [(from, to, agents)]."""
    pieces = []
    extra: list[tuple[float, int]] = []  # (until, count) of agents still finishing a call
    times = [at for at, _ in plan] + [end_s]
    for k, (at, agents) in enumerate(plan):
        if k and agents < plan[k - 1][1]:
            # Agents told to leave at `at` finish the call they hold, which started by `at`.
            last_end = at + scenario.ring_timeout_s  # or a member letting a call ring out
            for call in calls:
                if call.arrival_s > at:
                    break
                start = min(at, call.arrival_s + call.patience_s)
                last_end = max(last_end, start + call.ring_s + call.talk_s + wrapup_s)
            extra.append((last_end, plan[k - 1][1] - agents))
        pieces.append((at, times[k + 1], agents))
    # Split each plan piece where a group of leaving agents is gone.
    out = []
    for start, stop, agents in pieces:
        cuts = sorted({start, stop, *(u for u, _ in extra if start < u < stop)})
        for a, b in itertools.pairwise(cuts):
            leaving = sum(n for until, n in extra if until > a)
            out.append((a, b, agents + leaving))
    tail_end = max([end_s, *(u for u, _ in extra)])
    if tail_end > end_s and plan:
        cuts = sorted({end_s, tail_end, *(u for u, _ in extra if end_s < u < tail_end)})
        for a, b in itertools.pairwise(cuts):
            out.append((a, b, plan[-1][1] + sum(n for until, n in extra if until > a)))
    return out


def _capacity(pieces, a: float, b: float) -> float:
    return sum(max(0.0, min(b, hi) - max(a, lo)) * n for lo, hi, n in pieces)


def kept_bound(
    scenario: Scenario,
    calls: list[Call],
    plan: list[tuple[float, int]],
    *,
    commitment_s: int,
    end_s: float,
) -> int:
    """Most premium calls any policy could have kept on this day's traffic."""
    premium = [c for c in calls if c.premium_number]
    if not premium or not plan:
        return 0
    wrapup = scenario.wrapup_s
    horizon = max(c.arrival_s + c.patience_s + c.ring_s + c.talk_s + wrapup for c in calls) + 1.0
    pieces = _agents_upper(scenario, plan, calls, wrapup, max(end_s, horizon))
    feasible = []
    for c in premium:
        # A premium caller hears the price message (c.message_s) before the queue.
        # (plus 10 ms: the timeline counts in whole milliseconds, never against a kept call)
        limit = min(commitment_s + 0.01, c.patience_s)
        if c.message_s + c.ring_s <= limit and c.patience_s > c.message_s:
            feasible.append((c.arrival_s, c.arrival_s + limit - c.ring_s, c.ring_s + c.talk_s + wrapup))
    best = len(feasible)
    first = min(a for a, _, _ in feasible) if feasible else 0.0
    for width in WINDOWS_S:
        total = 0
        start = first
        index = 0
        feasible.sort()
        while index < len(feasible):
            stop = start + width
            weights = []
            while index < len(feasible) and feasible[index][0] < stop:
                _, latest, hold = feasible[index]
                weights.append(min(hold, max(0.0, stop - latest)))
                index += 1
            room = _capacity(pieces, start, stop)
            weights.sort()
            used = 0.0
            for w in weights:
                if used + w > room + 1e-9:
                    break
                used += w
                total += 1
            start = stop
        best = min(best, total)
    return best
