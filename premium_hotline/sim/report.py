"""Policies compared: one run over the scenarios, one table, the day-by-day check, the bound.

Every policy plays the same traffic (common random numbers). Beside the policies themselves:

* the hindsight sweep: the predictor at each fixed threshold of SWEEP, day by day; the best
  threshold of a day is the one with the highest kept premium share among those whose day kept
  the target, found knowing how the day went;
* the bound (sim/bound.py): kept premium share no policy can exceed on that day's traffic,
  from a relaxation proved optimistic in docs/promise.md; `violations` lists any run above it;
* the clairvoyant replay: premium for exactly the calls that kept the promise in some run,
  replayed until stable; a policy that knows the future, so the bound must hold it too;
* the waiting-time announcements (plugin, asterisk, les) measured in the default policy's run.
"""

from __future__ import annotations

import math
from decimal import Decimal

from .bound import kept_bound
from .engine import Day, Outcome, Policy
from .traffic import DAY_HOURS, DAY_START_H, Scenario, generate_calls

ORACLE_PASSES = 3
SWEEP = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99)
DEFAULT_TARGET = 0.95
ESTIMATORS = ("plugin", "asterisk", "les")


def _share(part: int, whole: int, empty: float = 0.0) -> float:
    return part / whole if whole else empty


class Row:
    """One policy's figures over every simulated day of one scenario."""

    __slots__ = (
        "abandon_share",
        "abandoned",
        "answered",
        "asa_s",
        "calls",
        "eligible",
        "kept",
        "kept_premium_share",
        "kept_share",
        "label",
        "offered",
        "premium",
        "premium_offered",
        "premium_share",
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
        self.premium_share = _share(self.premium, self.eligible)
        self.kept_share = _share(self.kept, self.premium_offered, 1.0)
        # Premium calls that kept the promise over calls to the premium number.
        self.kept_premium_share = _share(self.kept, self.eligible)
        self.abandon_share = _share(self.abandoned, self.offered)

    def as_dict(self) -> dict:
        return {
            "kind": "policy",
            "scenario": self.scenario,
            "policy": self.label,
            "calls": self.calls,
            "eligible": self.eligible,
            "premium": self.premium,
            "premium_share": round(self.premium_share, 4),
            "promises_kept": round(self.kept_share, 4),
            "kept_premium_share": round(self.kept_premium_share, 4),
            "abandonment": round(self.abandon_share, 4),
            "asa_s": round(self.asa_s, 1),
            "premium_tth_p95_s": round(self.tth_p95_s, 1),
            "revenue_per_day_eur": str(self.revenue.quantize(Decimal("0.01"))),
        }


def default_policies(
    confidences: tuple[float, ...] = (0.80, 0.90, 0.95, 0.99), target: float = DEFAULT_TARGET
) -> list[Policy]:
    """Naive, the predictor at each per-call confidence as the plugin wires it, the daily target
    (the default policy), and the predictor at 0.95 without the ready-agent rule."""
    policies = [Policy("naive", "naive: agent ready now")]
    policies += [Policy("predictor", f"predictor {c:.2f}", confidence=c) for c in confidences]
    policies.append(Policy("daily", f"target {target:g}", target=target))
    policies.append(Policy("predictor", "predictor 0.95, no ready rule", confidence=0.95, ready_rule=False))
    return policies


class DayCheck:
    """One simulated day of one scenario: the daily-target policy against the hindsight sweep
    and the bound (shares are kept premium calls over calls to the premium number)."""

    __slots__ = (
        "best_share",
        "best_threshold",
        "best_tried",
        "best_tried_share",
        "bound_share",
        "day",
        "scenario",
        "sweep",
        "target",
        "target_kept",
        "target_share",
    )  # fmt: skip

    def __init__(self, scenario: str, day: int, target: float) -> None:
        self.scenario = scenario
        self.day = day
        self.target = target
        self.target_kept = 1.0
        self.target_share = 0.0
        self.best_threshold: float | None = None
        self.best_share: float | None = None
        self.bound_share = 1.0
        self.best_tried = ""
        self.best_tried_share = 0.0
        self.sweep: list[tuple[float, float, float]] = []  # (threshold, promises kept, share)

    def pick_best(self) -> None:
        """The best threshold in hindsight: the highest share among those that kept the target."""
        met = [(share, c) for c, kept, share in self.sweep if kept >= self.target]
        if met:
            self.best_share, self.best_threshold = max(met, key=lambda m: (m[0], -m[1]))

    @property
    def gap(self) -> float | None:
        """Daily policy minus the best hindsight threshold, in share (negative: below it)."""
        return None if self.best_share is None else self.target_share - self.best_share

    @property
    def bound_gap(self) -> float:
        """Daily policy minus the bound, in share: how far below the provable best it may be."""
        return self.target_share - self.bound_share

    @property
    def best_tried_gap(self) -> float:
        """Daily policy minus the best of all runs that day (an estimate of the best, not a bound)."""
        return self.target_share - self.best_tried_share

    @property
    def ok(self) -> bool:
        """At or above the target, and within 1 point of the best threshold that met it."""
        close = self.gap is None or self.gap >= -0.01 - 1e-9
        return self.target_kept >= self.target - 1e-9 and close

    def as_dict(self) -> dict:
        return {
            "kind": "day",
            "scenario": self.scenario,
            "day": self.day,
            "target": self.target,
            "promises_kept": round(self.target_kept, 4),
            "kept_premium_share": round(self.target_share, 4),
            "best_threshold": self.best_threshold,
            "best_threshold_share": None if self.best_share is None else round(self.best_share, 4),
            "gap": None if self.gap is None else round(self.gap, 4),
            "bound_share": round(self.bound_share, 4),
            "bound_gap": round(self.bound_gap, 4),
            "best_tried": self.best_tried,
            "best_tried_share": round(self.best_tried_share, 4),
            "best_tried_gap": round(self.best_tried_gap, 4),
            "ok": self.ok,
        }


class EwtRow:
    """Accuracy of one waiting-time estimator in one scenario, against the wait that followed
    (answered callers; for those who gave up, the wait they would have had)."""

    __slots__ = ("bias_s", "estimator", "n", "rmse_rel", "scenario")

    def __init__(self, scenario: str, estimator: str, pairs: list[tuple[float, float]]) -> None:
        self.scenario = scenario
        self.estimator = estimator
        pairs = [(a, w) for a, w in pairs if math.isfinite(a)]
        self.n = len(pairs)
        mean = sum(w for _, w in pairs) / self.n if self.n else 0.0
        mse = sum((a - w) ** 2 for a, w in pairs) / self.n if self.n else 0.0
        self.rmse_rel = math.sqrt(mse) / mean if mean > 0 else 0.0
        self.bias_s = sum(a - w for a, w in pairs) / self.n if self.n else 0.0

    def as_dict(self) -> dict:
        return {
            "kind": "ewt",
            "scenario": self.scenario,
            "estimator": self.estimator,
            "rmse_rel": round(self.rmse_rel, 4),
            "bias_s": round(self.bias_s, 2),
            "n": self.n,
        }


class Comparison:
    """Everything one scenario's run produced."""

    __slots__ = ("bound", "days", "ewt", "rows", "violations")

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.days: list[DayCheck] = []
        self.ewt: list[EwtRow] = []
        self.bound: dict = {}
        self.violations: list[str] = []


def _day_share(outcomes: list[Outcome]) -> tuple[float, float, int]:
    """(promises kept, kept premium share, calls to the premium number) of one day's outcomes."""
    eligible = [o for o in outcomes if o.call.premium_number]
    premium = [o for o in eligible if o.premium and o.ending.outcome != "short_abandon"]
    kept = sum(1 for o in premium if o.kept)
    return (kept / len(premium) if premium else 1.0), (kept / len(eligible) if eligible else 0.0), kept


def compare(
    scenario: Scenario,
    policies: list[Policy],
    *,
    seed: int = 1,
    days: int = 1,
    start_h: float = DAY_START_H,
    hours: float = DAY_HOURS,
    commitment_s: int = 60,
    oracle: bool = True,
    target: float = DEFAULT_TARGET,
    sweep: tuple[float, ...] = SWEEP,
) -> Comparison:
    """Every policy, the hindsight sweep and the clairvoyant replay on the same `days` of
    traffic; the bound; the per-day check of the daily-target policy; waiting-time accuracy."""
    start_s = (start_h - DAY_START_H) * 3600
    end_s = start_s + hours * 3600
    plan = scenario.staffing_plan(start_s, end_s)
    traffic = [
        generate_calls(scenario, seed * 1000 + day, start_s, end_s, first_id=day * 1_000_000)
        for day in range(days)
    ]
    span = days * hours / DAY_HOURS
    result = Comparison()

    def run_days(policy: Policy, announce: bool = False) -> list[tuple[list[Outcome], Day | None]]:
        runs = []
        for calls in traffic:
            if not calls:
                runs.append(([], None))
                continue
            day = Day(
                scenario, calls, plan, policy, commitment_s=commitment_s, close_s=end_s, announce=announce
            )
            runs.append((day.run(), day))
        return runs

    every_run: dict[str, list[list[Outcome]]] = {}
    kept_by_any: set[int] = set()

    def record(label: str, runs) -> list[Outcome]:
        every_run[label] = [outcomes for outcomes, _ in runs]
        flat = [o for outcomes, _ in runs for o in outcomes]
        kept_by_any.update(o.call.cid for o in flat if o.premium and o.kept)
        return flat

    daily_runs = None
    for policy in policies:
        # The waiting-time accuracy is measured in the daily policy's run only.
        runs = run_days(policy, announce=policy.kind == "daily" and daily_runs is None)
        result.rows.append(Row(scenario.name, policy.label, record(policy.label, runs), span))
        if policy.kind == "daily" and daily_runs is None:
            daily_runs = (policy, runs)
    sweep_runs = {}
    for c in sweep:
        label = f"predictor {c:.2f}"
        if label in every_run:
            sweep_runs[c] = every_run[label]
        else:
            sweep_runs[c] = [outcomes for outcomes, _ in run_days(Policy("predictor", label, confidence=c))]
            every_run[label] = sweep_runs[c]
            kept_by_any.update(o.call.cid for d in sweep_runs[c] for o in d if o.premium and o.kept)
    if oracle:
        all_ids = frozenset(c.cid for t in traffic for c in t)
        everyone = run_days(Policy("oracle", "all premium", chosen=all_ids))
        chosen = frozenset(kept_by_any | {o.call.cid for d, _ in everyone for o in d if o.premium and o.kept})
        for _ in range(ORACLE_PASSES):
            runs = run_days(Policy("oracle", "clairvoyant replay", chosen=chosen))
            chosen = frozenset(o.call.cid for d, _ in runs for o in d if o.premium and o.kept)
        result.rows.append(Row(scenario.name, "clairvoyant replay", record("clairvoyant replay", runs), span))

    # The bound, day by day, and every run held against it.
    bound_kept = 0
    bound_eligible = 0
    bounds = []
    for day, calls in enumerate(traffic):
        eligible = sum(1 for c in calls if c.premium_number)
        kept = kept_bound(scenario, calls, plan, commitment_s=commitment_s, end_s=end_s)
        bound_kept += kept
        bound_eligible += eligible
        bounds.append((kept, eligible))
        for label, per_day in every_run.items():
            _, share, run_kept = _day_share(per_day[day])
            if run_kept > kept:
                result.violations.append(
                    f"{scenario.name} day {day} commitment {commitment_s} s: {label!r} kept {run_kept} "
                    f"premium calls ({share:.2%}), above the bound's {kept}"
                )
    result.bound = {
        "kind": "bound",
        "scenario": scenario.name,
        "policy": "bound (relaxation)",
        "kept_premium_share": round(bound_kept / bound_eligible, 4) if bound_eligible else 0.0,
    }

    # The daily-target policy, day by day, against the best fixed threshold in hindsight.
    best_outcomes: list[Outcome] = []
    if daily_runs is not None:
        policy, runs = daily_runs
        for day, (outcomes, _) in enumerate(runs):
            check = DayCheck(scenario.name, day, policy.target)
            check.target_kept, check.target_share, _ = _day_share(outcomes)
            check.sweep = [(c, *_day_share(sweep_runs[c][day])[:2]) for c in sweep]
            check.pick_best()
            if check.best_threshold is not None:
                best_outcomes += sweep_runs[check.best_threshold][day]
            kept, eligible = bounds[day]
            check.bound_share = kept / eligible if eligible else 0.0
            tried = max(every_run, key=lambda label: _day_share(every_run[label][day])[1])
            check.best_tried = tried
            check.best_tried_share = _day_share(every_run[tried][day])[1]
            result.days.append(check)
        pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in ESTIMATORS}
        for _, day_sim in runs:
            if day_sim is None:
                continue
            for announced, waited in day_sim.ewt:
                for name in ESTIMATORS:
                    pairs[name].append((announced[name], waited))
        result.ewt = [EwtRow(scenario.name, name, pairs[name]) for name in ESTIMATORS]
    if best_outcomes:
        # Over the days that had one: a day no threshold met is not in the row (nor its revenue).
        met = sum(1 for check in result.days if check.best_threshold is not None)
        row = Row(scenario.name, "best fixed threshold in hindsight", best_outcomes, met * hours / DAY_HOURS)
        result.rows.append(row)
    if daily_runs is not None:
        # Issue 14, item 1: the daily policy's distance to the bound, over the scenario's days.
        daily = next(row for row in result.rows if row.label == daily_runs[0].label)
        result.bound["daily_policy"] = daily.label
        result.bound["daily_gap"] = round(daily.kept_premium_share - result.bound["kept_premium_share"], 4)
    return result


def run_scenario(scenario: Scenario, policies: list[Policy], **options) -> list[Row]:
    """The policies' rows only (see `compare`)."""
    return compare(scenario, policies, **options).rows


def table(rows: list[Row], bounds: list[dict] | None = None) -> str:
    """The comparison as a Markdown table (with each scenario's bound after its rows)."""
    head = (
        "| scenario | policy | premium share | promises kept | kept premium share | abandonment | ASA s "
        "| premium p95 to human s | revenue EUR/day |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.label} | {r.premium_share:.1%} | {r.kept_share:.1%} "
            f"| {r.kept_premium_share:.1%} "
            f"| {r.abandon_share:.1%} | {r.asa_s:.1f} | {r.tth_p95_s:.0f} | {r.revenue:.2f} |"
        )
        last = r is rows[-1] or rows[rows.index(r) + 1].scenario != r.scenario
        for bound in bounds or ():
            if last and bound["scenario"] == r.scenario:
                share = bound["kept_premium_share"]
                lines.append(f"| {r.scenario} | {bound['policy']} | | | {share:.1%} | | | | |")
                if "daily_gap" in bound:
                    gap = 100 * bound["daily_gap"]
                    label = f"{bound['daily_policy']} to the bound"
                    lines.append(f"| {r.scenario} | {label} | | | {gap:+.1f} pt | | | | |")
    return "\n".join(lines)


def day_table(days: list[DayCheck]) -> str:
    """The daily-target policy day by day: its kept share, its premium share against the best
    fixed threshold in hindsight, the bound and the best of every run."""
    lines = [
        "| scenario | day | promises kept | kept premium share | best threshold | its share | gap "
        "| bound | gap to bound | best of all runs | gap to it | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for d in days:
        best = "none met" if d.best_threshold is None else f"{d.best_threshold:.2f}"
        share = "" if d.best_share is None else f"{d.best_share:.1%}"
        gap = "" if d.gap is None else f"{100 * d.gap:+.1f} pt"
        lines.append(
            f"| {d.scenario} | {d.day} | {d.target_kept:.1%} | {d.target_share:.1%} | {best} | {share} "
            f"| {gap} | {d.bound_share:.1%} | {100 * d.bound_gap:+.1f} pt "
            f"| {d.best_tried_share:.1%} ({d.best_tried}) | {100 * d.best_tried_gap:+.1f} pt | "
            f"{'yes' if d.ok else 'NO'} |"
        )
    return "\n".join(lines)


def ewt_table(rows: list[EwtRow]) -> str:
    """Waiting-time accuracy per scenario and estimator."""
    lines = ["| scenario | estimator | relative RMSE | bias s | callers |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.scenario} | {r.estimator} | {r.rmse_rel:.3f} | {r.bias_s:+.1f} | {r.n} |")
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
        for o in Day(scenario, calls, plan, policy, commitment_s=commitment_s, announce=False).run():
            if o.p_within is None or o.ending.outcome == "short_abandon":
                continue
            i = next(i for i in range(len(groups)) if o.p_within < edges[i + 1] or i == len(groups) - 1)
            groups[i][0] += 1
            groups[i][1] += o.kept
    return [(edges[i], edges[i + 1], n, kept / n if n else 0.0) for i, (n, kept) in enumerate(groups)]
