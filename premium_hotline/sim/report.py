"""Policies compared: one run over the scenarios, one table.

The clairvoyant bound is found by hindsight on the same traffic. Candidates are the calls that
kept the promise as premium in any run (every policy's, plus one where every eligible caller is
premium). The day is replayed with premium for exactly the candidates, and those that did not
keep it this time are dropped (free callers skip the price message and join earlier, so the
choice itself shifts the queue a little); three times. The result is a set of premium calls that
nearly all keep the promise: a policy deciding at arrival, without the future, can hardly do
better on this traffic.
"""

from __future__ import annotations

from decimal import Decimal

from .engine import Day, Outcome, Policy
from .traffic import DAY_HOURS, DAY_START_H, Scenario, generate_calls

ORACLE_PASSES = 3


class Row:
    """One policy's figures over every simulated day of one scenario."""

    __slots__ = (
        "abandoned",
        "answered",
        "asa_s",
        "calls",
        "eligible",
        "kept",
        "label",
        "offered",
        "premium",
        "premium_offered",
        "revenue",
        "scenario",
        "tth_p95_s",
    )

    def __init__(self, scenario: str, label: str, outcomes: list[Outcome], days: float) -> None:
        self.scenario = scenario
        self.label = label
        self.calls = len(outcomes)
        eligible = [o for o in outcomes if o.call.premium_number]
        premium = [o for o in eligible if o.premium]
        # Short abandons (misdials, under 5 s) are neither offered nor a broken promise.
        offered = [o for o in outcomes if o.ending.outcome != "short_abandon"]
        premium_offered = [o for o in premium if o.ending.outcome != "short_abandon"]
        answered = [o for o in outcomes if o.ending.outcome == "answered"]
        self.eligible = len(eligible)
        self.premium = len(premium)
        self.premium_offered = len(premium_offered)
        self.kept = sum(1 for o in premium_offered if o.kept)
        self.abandoned = sum(1 for o in offered if o.ending.outcome in ("abandoned", "unanswered"))
        self.answered = len(answered)
        self.asa_s = (
            sum(o.ending.in_queue_ms or 0 for o in answered) / len(answered) / 1000 if answered else 0.0
        )
        waits = sorted(o.ending.time_to_human_ms for o in premium_offered if o.ending.outcome == "answered")
        self.tth_p95_s = waits[int(0.95 * (len(waits) - 1))] / 1000 if waits else 0.0
        total = sum((o.ending.amount for o in outcomes), Decimal("0.00"))
        self.revenue = total / Decimal(str(days)) if days else total
        self.offered = len(offered)

    @property
    def premium_share(self) -> float:
        return self.premium / self.eligible if self.eligible else 0.0

    @property
    def kept_share(self) -> float:
        return self.kept / self.premium_offered if self.premium_offered else 1.0

    @property
    def abandon_share(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    def as_dict(self) -> dict:
        return {
            "scenario": self.scenario,
            "policy": self.label,
            "calls": self.calls,
            "eligible": self.eligible,
            "premium": self.premium,
            "premium_share": round(self.premium_share, 4),
            "promises_kept": round(self.kept_share, 4),
            "abandonment": round(self.abandon_share, 4),
            "asa_s": round(self.asa_s, 1),
            "premium_tth_p95_s": round(self.tth_p95_s, 1),
            "revenue_per_day_eur": str(self.revenue.quantize(Decimal("0.01"))),
        }


def default_policies(confidences: tuple[float, ...] = (0.80, 0.90, 0.95, 0.99)) -> list[Policy]:
    """Naive, the predictor at each confidence as the plugin wires it, and at 0.95 without the
    ready-agent rule (what the predictor alone would do)."""
    policies = [Policy("naive", "naive: agent ready now")]
    policies += [Policy("predictor", f"predictor {c:.2f}", confidence=c) for c in confidences]
    policies.append(Policy("predictor", "predictor 0.95, no ready rule", confidence=0.95, ready_rule=False))
    return policies


def run_scenario(
    scenario: Scenario,
    policies: list[Policy],
    *,
    seed: int = 1,
    days: int = 1,
    start_h: float = DAY_START_H,
    hours: float = DAY_HOURS,
    commitment_s: int = 60,
    oracle: bool = True,
) -> list[Row]:
    """Every policy on the same `days` of traffic; the clairvoyant bound last."""
    start_s = (start_h - DAY_START_H) * 3600
    end_s = start_s + hours * 3600
    plan = scenario.staffing_plan(start_s, end_s)
    traffic = [
        generate_calls(scenario, seed * 1000 + day, start_s, end_s, first_id=day * 1_000_000)
        for day in range(days)
    ]
    span = days * hours / DAY_HOURS

    def run(policy: Policy) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for calls in traffic:
            if calls:
                outcomes += Day(scenario, calls, plan, policy, commitment_s=commitment_s).run()
        return outcomes

    rows = []
    kept_by_any: set[int] = set()
    for policy in policies:
        outcomes = run(policy)
        kept_by_any.update(o.call.cid for o in outcomes if o.premium and o.kept)
        rows.append(Row(scenario.name, policy.label, outcomes, span))
    if oracle:
        everyone = run(Policy("oracle", "all premium", chosen=frozenset(c.cid for t in traffic for c in t)))
        chosen = frozenset(kept_by_any | {o.call.cid for o in everyone if o.premium and o.kept})
        for _ in range(ORACLE_PASSES):
            outcomes = run(Policy("oracle", "clairvoyant bound", chosen=chosen))
            chosen = frozenset(o.call.cid for o in outcomes if o.premium and o.kept)
        rows.append(Row(scenario.name, "clairvoyant bound", outcomes, span))
    return rows


def table(rows: list[Row]) -> str:
    """The comparison as a Markdown table."""
    head = (
        "| scenario | policy | premium share | promises kept | kept premium share | abandonment | ASA s "
        "| premium p95 to human s | revenue EUR/day |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.label} | {r.premium_share:.1%} | {r.kept_share:.1%} "
            f"| {r.kept / r.eligible if r.eligible else 0.0:.1%} "
            f"| {r.abandon_share:.1%} | {r.asa_s:.1f} | {r.tth_p95_s:.0f} | {r.revenue:.2f} |"
        )
    return "\n".join(lines)


def calibration(
    scenario: Scenario,
    *,
    seed: int = 1,
    days: int = 1,
    start_h: float = DAY_START_H,
    hours: float = DAY_HOURS,
    commitment_s: int = 60,
    edges: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95, 1.0),
) -> list[tuple[float, float, int, float]]:
    """Is the predicted probability right? Every eligible caller is made premium (so every
    prediction is put to the test) and callers are grouped by their predicted probability:
    (low, high, calls, share that kept the promise) per group."""
    start_s = (start_h - DAY_START_H) * 3600
    end_s = start_s + hours * 3600
    plan = scenario.staffing_plan(start_s, end_s)
    policy = Policy("predictor", "all premium", confidence=0.0, ready_rule=False)
    groups = [[0, 0] for _ in edges[:-1]]
    for day in range(days):
        calls = generate_calls(scenario, seed * 1000 + day, start_s, end_s, first_id=day * 1_000_000)
        if not calls:
            continue
        for o in Day(scenario, calls, plan, policy, commitment_s=commitment_s).run():
            if o.p_within is None or o.ending.outcome == "short_abandon":
                continue
            i = next(i for i in range(len(groups)) if o.p_within < edges[i + 1] or i == len(groups) - 1)
            groups[i][0] += 1
            groups[i][1] += o.kept
    return [(edges[i], edges[i + 1], n, kept / n if n else 0.0) for i, (n, kept) in enumerate(groups)]
