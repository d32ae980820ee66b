"""One simulated day of the queue under one tariff policy, on simpy, with the real core deciding.

What is real here: the decision rules (core.tariff.static_rules and live_rules), the predictor
(core.predict, fed by History.from_lists over the very list items store.records writes), and the
bill (core.timeline.ended, billable_amount). What is modelled: Asterisk's queue. Callers join in
FIFO order; a free agent (the one idle longest) rings, then answers; `QUEUE_MEMBER(q,ready)`
counts idle agents (not ringing, not talking, not in wrap-up) and `QUEUE_WAITING_COUNT(q)` counts
callers in the queue, the ones whose agent is still ringing included, as Asterisk does. A premium
caller hears the price message before joining the queue; a free caller joins at once. Callers
hang up when their patience runs out, wherever they are.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import simpy

from ..config import FRANCE, NumberEntry
from ..core import ewt
from ..core.numbers import NumberPattern, parse_rate
from ..core.predict import RECENT_WINDOW_MS, History, Prediction, predict
from ..core.promise import DayCount, daily_threshold, remaining_calls, would_keep
from ..core.tariff import PREMIUM, Decision, QueueState, live_rules, static_rules
from ..core.timeline import Ending, ended
from ..store import records
from ..store.keys import Keys
from .traffic import FREE_NUMBER, PREMIUM_NUMBER, PREMIUM_RATE, QUEUE, Call, Scenario

EPOCH_MS = 1_772_438_400_000  # 2026-03-02 08:00 UTC: simulated time 0
READ = 100  # as decide_tariff: LRANGE 0 99
SHORT_ABANDON_S = 5
SERVICE_LEVEL_S = 20


def entries() -> dict[str, NumberEntry]:
    """The two numbers of the simulated hotline, as a config file would define them."""
    premium = NumberEntry(NumberPattern(PREMIUM_NUMBER), "sim", 1)
    premium.queue = QUEUE
    premium.rate = parse_rate(PREMIUM_RATE)
    premium.announce = "premium-hotline/price-message"
    free = NumberEntry(NumberPattern(FREE_NUMBER), "sim", 2)
    free.queue = QUEUE
    return {PREMIUM_NUMBER: premium, FREE_NUMBER: free}


class Policy:
    """How the live part of the decision is made.

    kind: "naive" (an agent is ready now), "predictor" (core.predict at `confidence`), "daily"
    (core.promise: the threshold adapted to the day's count so that `target` of the day's premium
    calls keep the promise), "oracle" (premium exactly for the call ids in `chosen`, i.e. knowing
    the future). `ready_rule`: keep live_rules' "no agent ready means free" (what the plugin does)
    or let the prediction alone decide.
    """

    __slots__ = ("chosen", "confidence", "kind", "label", "ready_rule", "target")

    def __init__(
        self,
        kind: str,
        label: str,
        *,
        confidence: float = 0.95,
        ready_rule: bool = True,
        chosen: frozenset[int] | None = None,
        target: float = 0.95,
    ) -> None:
        self.kind = kind
        self.target = target
        self.label = label
        self.confidence = confidence
        self.ready_rule = ready_rule
        self.chosen = chosen or frozenset()


@dataclass(slots=True)
class Outcome:
    """One call's fate: the decision, the timeline and the bill (a core.timeline.Ending)."""

    call: Call
    decision: Decision
    ending: Ending
    p_within: float | None

    @property
    def premium(self) -> bool:
        return self.decision.tariff == PREMIUM

    @property
    def kept(self) -> bool:
        """Answered by a person within the commitment, price message included."""
        return self.ending.outcome == "answered" and not self.ending.sla_breached


class _Lists:
    """The three Redis lists the predictor reads, kept the way Redis would keep them.

    Only the live LPUSH/LTRIM of store.records batches matter here; hashes, streams and
    counters are the ops view's business and are skipped.
    """

    __slots__ = ("lists",)

    def __init__(self) -> None:
        self.lists: dict[str, list[str]] = {}

    def apply(self, batch: list[list]) -> None:
        for command in records.live_commands(batch):
            if command[0] == "LPUSH":
                self.lists.setdefault(command[1], []).insert(0, command[2])
            elif command[0] == "LTRIM":
                del self.lists.setdefault(command[1], [])[int(command[3]) + 1 :]

    def lrange(self, key: str) -> list[str]:
        return self.lists.get(key, [])[:READ]


class _Agent:
    __slots__ = ("leaving", "name")

    def __init__(self, name: int) -> None:
        self.name = name
        self.leaving = False


class _Waiter:
    __slots__ = ("assigned", "call", "seq")

    def __init__(self, call: Call, event: simpy.Event, seq: int = 0) -> None:
        self.call = call
        self.assigned = event
        self.seq = seq


class Day:
    """Runs one day: `Day(scenario, calls, plan, policy, commitment_s).run()` -> [Outcome]."""

    def __init__(
        self,
        scenario: Scenario,
        calls: list[Call],
        plan: list[tuple[float, int]],
        policy: Policy,
        *,
        commitment_s: int = 60,
        close_s: float | None = None,
        announce: bool = True,
    ) -> None:
        self.scenario = scenario
        # The waiting-time estimators cost as much as the decision: only the run measured needs them.
        self.announce = announce
        # The day the daily target is counted over ends here (the simulated span's end).
        self.close_s = close_s if close_s is not None else (calls[-1].arrival_s if calls else 0.0)
        self.count = DayCount()
        self._eligible: dict[int, tuple[float | None, bool]] = {}  # cid -> (p, premium)
        # The predictor knows the queue's wrapuptime, as decide_tariff reads it from Asterisk.
        self.wrapup_known = scenario.wrapup_s
        self.thresholds: list[float] = []
        # Waiting-time announcements: (estimator -> announced s, actual s) per caller who queued.
        self.ewt: list[tuple[dict[str, float], float]] = []
        self._holdtime = 0  # app_queue's QUEUEHOLDTIME: (3 old + new) / 4, whole seconds
        self._last_hold = 0.0  # the last caller to enter service: their wait
        self._ghosts: list[tuple[int, float, dict[str, float], float]] = []
        self._seq = 0
        self.calls = calls
        self.plan = plan
        self.policy = policy
        self.commitment_s = commitment_s
        self.env = simpy.Environment(initial_time=calls[0].arrival_s if calls else 0.0)
        self.entries = entries()
        self.keys = Keys("ph:")
        self.lists = _Lists()
        self.idle: deque[_Agent] = deque()
        self.agents: set[_Agent] = set()
        self.queue: deque[_Waiter] = deque()
        self.ringing = 0
        self.retrying = 0  # callers between a ring-no-answer and the next ring (still in the queue)
        self.wrapping = 0
        self.outcomes: list[Outcome] = []
        self._names = 0

    # ---- the run -------------------------------------------------------------------------------

    def run(self) -> list[Outcome]:
        env = self.env
        if self.plan:
            self._staff(self.plan[0][1])
        env.process(self._staffing())
        env.process(self._arrivals())
        env.run()
        return self.outcomes

    def _ms(self, t: float) -> int:
        return EPOCH_MS + int(t * 1000)

    def _staffing(self):
        for at, agents in self.plan[1:]:
            yield self.env.timeout(max(0.0, at - self.env.now))
            self._staff(agents)

    def _staff(self, target: int) -> None:
        """Shift change: agents log in, or log out (idle ones at once, busy ones after the call)."""
        # In login order: a set of objects iterates in memory order, which differs between runs.
        agents = sorted(self.agents, key=lambda a: a.name)
        staying = [a for a in agents if not a.leaving]
        if len(staying) < target:
            for agent in agents:
                if agent.leaving and len(staying) < target:
                    agent.leaving = False
                    staying.append(agent)
            while len(staying) < target:
                self._names += 1
                agent = _Agent(self._names)
                self.agents.add(agent)
                self.idle.append(agent)
                staying.append(agent)
            self._dispatch()
        else:
            surplus = len(staying) - target
            while surplus and self.idle:
                self.agents.discard(self.idle.pop())
                surplus -= 1
            for agent in staying:
                if surplus and agent not in self.idle and not agent.leaving:
                    agent.leaving = True
                    surplus -= 1

    def _arrivals(self):
        for call in self.calls:
            yield self.env.timeout(max(0.0, call.arrival_s - self.env.now))
            self.env.process(self._caller(call))

    def _dispatch(self) -> None:
        while self.idle and self.queue:
            agent = self.idle.popleft()
            waiter = self.queue.popleft()
            self.ringing += 1
            self._resolve_ghosts(waiter.seq)
            waiter.assigned.succeed(agent)
        if self.idle and self._ghosts:
            self._resolve_ghosts(None)

    def _resolve_ghosts(self, seq: int | None) -> None:
        """Callers who gave up in the queue: the agent that went to someone behind them (or sat
        idle with nobody ahead of them left) would have been theirs. That moment, plus their own
        ring time, is the wait they would have had (the "virtual wait")."""
        keep = []
        for ghost in self._ghosts:
            ghost_seq, queued, announced, ring_s = ghost
            if seq is None or ghost_seq < seq:
                self.ewt.append((announced, self.env.now + ring_s - queued))
            else:
                keep.append(ghost)
        self._ghosts = keep

    def _release(self, agent: _Agent, wrapup: bool):
        if wrapup and self.scenario.wrapup_s > 0:
            self.wrapping += 1  # QUEUE_MEMBER(q,free) counts them, (q,ready) does not
            yield self.env.timeout(self.scenario.wrapup_s)
            self.wrapping -= 1
        if agent.leaving or agent not in self.agents:
            self.agents.discard(agent)
        else:
            self.idle.append(agent)
            self._dispatch()

    # ---- one caller ----------------------------------------------------------------------------

    def state(self) -> QueueState:
        return QueueState(len(self.idle), len(self.agents), len(self.queue) + self.ringing + self.retrying)

    def _caller(self, call: Call):
        env = self.env
        arrived = env.now
        deadline = arrived + call.patience_s
        decision, p_within = self._decide(call, self._ms(arrived))
        announced = self._announce(self._ms(arrived), decision.tariff == PREMIUM) if self.announce else {}
        self.lists.apply(
            records.decided(
                self.keys,
                uniqueid=str(call.cid),
                record={"decided_tariff": decision.tariff},
                queue=QUEUE,
                arrived_ms=self._ms(arrived),
                ttl_s=86400,
                events_maxlen=1000,
            )
        )
        if decision.tariff == PREMIUM:
            if call.patience_s <= call.message_s:
                yield env.timeout(call.patience_s)
                return self._close(call, decision, p_within, arrived, None, None)
            yield env.timeout(call.message_s)
        queued = env.now
        self._seq += 1
        seq = self._seq
        unanswered = call.unanswered  # agents who will let it ring out before one answers
        first = True
        while True:
            waiter = _Waiter(call, env.event(), seq)
            if first:
                self.queue.append(waiter)
            else:
                self.queue.appendleft(waiter)  # back from a retry: still first in line
            first = False
            self._dispatch()
            if not waiter.assigned.triggered:
                yield waiter.assigned | env.timeout(max(0.0, deadline - env.now))
            if not waiter.assigned.triggered:
                self.queue.remove(waiter)
                self._ghosts.append((seq, queued, announced, call.ring_s))
                return self._close(call, decision, p_within, arrived, queued, None)
            agent = waiter.assigned.value
            if not unanswered:
                break
            # Ring-no-answer: the member rings for the queue's timeout, then Asterisk waits
            # `retry` seconds before ringing again; the caller stays first in line meanwhile.
            unanswered -= 1
            ring_out = min(self.scenario.ring_timeout_s, max(0.0, deadline - env.now))
            yield env.timeout(ring_out)
            self.ringing -= 1
            env.process(self._release(agent, wrapup=False))
            self.retrying += 1
            yield env.timeout(min(self.scenario.retry_s, max(0.0, deadline - env.now)))
            self.retrying -= 1
            if env.now >= deadline:
                self._ghosts.append((seq, queued, announced, call.ring_s))
                return self._close(call, decision, p_within, arrived, queued, None)
        if env.now + call.ring_s > deadline:
            # Hangs up while the agent's phone rings: the agent is free again at once.
            self.ewt.append((announced, env.now + call.ring_s - queued))
            yield env.timeout(max(0.0, deadline - env.now))
            self.ringing -= 1
            env.process(self._release(agent, wrapup=False))
            return self._close(call, decision, p_within, arrived, queued, None)
        yield env.timeout(call.ring_s)
        self.ringing -= 1
        human = env.now
        time_to_human_ms = self._ms(human) - self._ms(arrived)
        in_queue_ms = self._ms(human) - self._ms(queued)
        self.ewt.append((announced, human - queued))
        hold = int(human - queued)
        self._holdtime = (3 * self._holdtime + hold) // 4
        self._last_hold = human - queued
        self._settle(call, "answered", time_to_human_ms)
        self.lists.apply(
            records.human_reached(
                self.keys,
                uniqueid=str(call.cid),
                record={},
                queue=QUEUE,
                human_ms=self._ms(human),
                time_to_human_ms=time_to_human_ms,
                in_queue_ms=in_queue_ms,
                ttl_s=86400,
                events_maxlen=1000,
            )
        )
        yield env.timeout(call.talk_s)
        env.process(self._release(agent, wrapup=True))
        return self._close(call, decision, p_within, arrived, queued, human)

    def _decide(self, call: Call, now_ms: int) -> tuple[Decision, float | None]:
        """The real rules, in the order the route applies them."""
        entry = self.entries[call.number]
        commitment_s = self.commitment_s
        verdict = static_rules(
            call.number,
            entry,
            weekday=0,
            minute_of_day=600,
            local_date=None,
            holidays={},
            closed_dates=frozenset(),
            ivr_seen=False,
            default_queue=QUEUE,
            fail_tariff="free",
            commitment_s=commitment_s,
            france=FRANCE,
        )
        if verdict.decision is not None:
            return verdict.decision, None
        state = self.state()
        policy = self.policy
        prediction: Prediction | None
        held_to = None  # the daily threshold this call was held to, if any
        if policy.kind == "oracle":
            keeps = call.cid in policy.chosen
            prediction = Prediction(1.0 if keeps else 0.0, keeps, "oracle", 0)
        elif policy.kind == "naive":
            prediction = Prediction(1.0, True, "naive", 0)
        elif state.ready > 0 or not policy.ready_rule:
            recent, history = self._history(now_ms)
            waits = []
            for item in recent:
                human, tth, _ = item.split(":")
                if int(human) >= now_ms - 15 * 60 * 1000:
                    waits.append(int(tth))
            confidence = policy.confidence
            if policy.kind == "daily":
                open_left_s = max(0.0, self.close_s - self.env.now)
                remaining = remaining_calls(self.count, now_ms, open_left_s)
                confidence = held_to = daily_threshold(self.count, target=policy.target, remaining=remaining)
                self.thresholds.append(confidence)
            prediction = predict(
                state,
                waits,
                commitment_s=commitment_s,
                confidence=confidence,
                history=history,
                wrapup_s=self.wrapup_known,
            )
        else:
            prediction = None  # the route does not even ask: live_rules says no_agent_ready
        p = prediction.p_within if prediction is not None else None
        if not policy.ready_rule and state.ready <= 0 and prediction is not None:
            # Without the ready-agent rule the prediction alone decides.
            tariff = PREMIUM if prediction.keeps_promise else "free"
            reason = "premium" if prediction.keeps_promise else "predicted_wait"
            self._eligible_call(call, p, tariff == PREMIUM, now_ms, held_to)
            return Decision(
                tariff,
                reason,
                queue=QUEUE,
                rate=entry.rate,
                announce=entry.announce,
                commitment_s=commitment_s,
                predicted=prediction,
            ), p
        decision = live_rules(
            entry,
            queue_state=state,
            prediction=prediction if prediction is not None else Prediction(0.0, False, "none", 0),
            store_ok=True,
            fail_tariff="free",
            commitment_s=commitment_s,
            default_queue=QUEUE,
        )
        self._eligible_call(call, p, decision.tariff == PREMIUM, now_ms, held_to)
        return decision, p

    def _close(
        self,
        call: Call,
        decision: Decision,
        p_within: float | None,
        arrived: float,
        queued: float | None,
        human: float | None,
    ) -> None:
        now = self.env.now
        ending = ended(
            arrived_ms=self._ms(arrived),
            queued_ms=self._ms(queued) if queued is not None else None,
            human_ms=self._ms(human) if human is not None else None,
            ended_ms=self._ms(now),
            decided_tariff=decision.tariff,
            tariff=decision.tariff,
            reason=decision.reason,
            rate=decision.rate_text,
            commitment_s=self.commitment_s,
            short_abandon_s=SHORT_ABANDON_S,
            service_level_s=SERVICE_LEVEL_S,
        )
        record = {
            "ended_at": self._ms(now),
            "outcome": ending.outcome,
            "in_queue_ms": ending.in_queue_ms,
            "talk_s": ending.talk_s,
        }
        self.lists.apply(
            records.call_closed(
                self.keys,
                uniqueid=str(call.cid),
                record=record,
                queue=QUEUE,
                arrived_ms=self._ms(arrived),
                kpis={},
                ttl_s=86400,
                events_maxlen=1000,
            )
        )
        if ending.outcome != "answered":
            self._settle(call, ending.outcome, None)
        self.outcomes.append(Outcome(call, decision, ending, p_within))

    def _eligible_call(
        self, call: Call, p: float | None, premium: bool, now_ms: int, threshold: float | None = None
    ) -> None:
        """What decide_tariff adds to the day's count (store.records.promise_decided)."""
        self._eligible[call.cid] = (p, premium)
        self.count.apply(DayCount.eligible_fields(p, premium, threshold), now_ms)

    def _settle(self, call: Call, outcome: str, time_to_human_ms: int | None) -> None:
        """What agent_answered / call_ended add once the promise is settled."""
        seen = self._eligible.pop(call.cid, None)
        if seen is None:
            return
        p, premium = seen
        keeps = would_keep(outcome, time_to_human_ms, self.commitment_s, premium)
        self.count.apply(DayCount.settled_fields(p, premium, keeps))

    def _history(self, now_ms: int, window_ms: int = RECENT_WINDOW_MS) -> tuple[list[str], History]:
        recent = self.lists.lrange(self.keys.recent(QUEUE))
        history = History.from_lists(
            recent,
            self.lists.lrange(self.keys.ended(QUEUE)),
            self.lists.lrange(self.keys.arrivals(QUEUE)),
            now_ms,
            read_limit=READ,
            window_ms=window_ms,
        )
        return recent, history

    def _announce(self, now_ms: int, premium: bool) -> dict[str, float]:
        """What each estimator would announce to this caller now (PH_EWT_S, QUEUEHOLDTIME, LES)."""
        _, history = self._history(now_ms, ewt.HISTORY_WINDOW_MS)
        pre = history.pre_queue() if premium else 0.0
        ended = self.lists.lrange(self.keys.ended(QUEUE))
        theta = ewt.patience_rate_after(ended, now_ms)
        plugin = ewt.expected_wait(
            self.state(),
            history,
            wrapup_s=self.wrapup_known,
            pre_queue_s=pre,
            in_wrapup=self.wrapping,
            abandon_rate=theta,
        )
        return {"plugin": plugin, "asterisk": float(self._holdtime), "les": self._last_hold}
