"""Route `decide_tariff`: premium or free, at call arrival, before the caller hears anything.

Dialplan: `AGI(decide_tariff.py,${EXTEN})`. Sets PH_TARIFF, PH_REASON, PH_RATE, PH_QUEUE,
PH_ANNOUNCE, PH_EWT_S (the expected wait until a person once in the queue, whole seconds; empty
when unknown), PH_ANNOUNCE_WAIT (yes when `announce_wait` is on), PH_PROMISE (the call's day and
predicted probability, for the settling routes) and PH_DECIDED, PH_COMMITMENT_S, PH_DID,
PH_ARRIVED_MS for the later routes, PH_ANSWER and PH_EARLY_MAX_S (how the dialplan answers the
call: it runs on a channel that is not answered, and this route never answers it), and
CDR(userfield). Asterisk is asked once (queue state,
member list, clock, marks set by the dialplan), a second time only when some members are logged
in but not ready (which of them are paused: QUEUE_MEMBER(q,paused) needs the interface), Redis
at most once before replying (one pipeline: recent waits, ended calls, arrivals and the number's
daily promise count; only when every other rule already allows premium, or for any call with a
queue when `announce_wait` is on), and the call's record is written after the dialplan has moved
on.
"""

from __future__ import annotations

# Loaded with the config before any call (config.py imports them): here at no cost to a plain
# script, where an import inside a function costs a server's call some microseconds each time.
from ..config import FRANCE
from ..core import promise
from ..core.codes import FAILURE_REASONS, FREE, RECENT_WINDOW_MS
from ..core.ewt import HISTORY_WINDOW_MS, expected_wait, patience_rate_after
from ..core.hours import public_holidays
from ..core.numbers import national
from ..core.predict import History, Prediction, predict
from ..core.tariff import Decision, QueueState, live_rules, static_rules
from ..local_time import local_time
from ..store.keys import Keys
from .call import NOW, RECOVERABLE, Call, as_int, userfield

RECENT_READ = 100


def dialled_number(env: dict[str, str]) -> str:
    """The number the caller dialled: the route's first argument, else the extension, else DNID."""
    for candidate in (env.get("agi_arg_1", ""), env.get("agi_extension", ""), env.get("agi_dnid", "")):
        candidate = candidate.strip()
        digits = candidate.lstrip("+")
        if digits.isascii() and digits.isdigit():  # "²" and "٣" are digits to str.isdigit
            return candidate[:32]
    return ""


def _recent_waits(reply, now_ms: int) -> list[int]:
    waits = []
    for item in reply or ():
        human, _, rest = str(item).partition(":")
        tth = rest.partition(":")[0]
        if as_int(human) >= now_ms - RECENT_WINDOW_MS:
            waits.append(as_int(tth))
    return waits


# A FastAGI server decides many calls a second for the same queue: what Redis says of a queue
# within a second is reused rather than read again for every call, and so is the prediction for
# the same live state. A plain AGI process decides one call and starts empty.
PREDICTION_REUSE_MS = 1000
_FIGURES: dict[tuple, tuple[int, object]] = {}
_PREDICTIONS: dict[tuple, tuple[int, object]] = {}
_PREDICTIONS_MAX = 256
_EWTS: dict[tuple, tuple[object, str]] = {}  # PH_EWT_S by queue state, for the Figures it came from


class Figures:
    """What the one Redis read says: the queue's history and the number's day so far."""

    __slots__ = ("_long", "_patience", "_threshold", "count", "history", "lists", "now_ms", "waits")

    def __init__(
        self, history: History, waits: list[int], count: promise.DayCount | None, lists, now_ms: int
    ) -> None:
        self.history = history
        self.waits = waits
        self.count = count
        self.lists = lists  # the three replies, for the announcement's longer window
        self.now_ms = now_ms
        self._long: History | None = None
        self._patience: tuple[float | None] | None = None
        self._threshold: tuple[float, float] | None = None

    def long_history(self) -> History:
        """The same lists over the announcement's window (ewt.HISTORY_WINDOW_MS), worked out once
        per Figures: the server reuses one Figures for every call of the queue within a second."""
        if self._long is None:
            recent, ended, arrivals = self.lists
            self._long = History.from_lists(
                recent, ended, arrivals, self.now_ms, read_limit=RECENT_READ, window_ms=HISTORY_WINDOW_MS
            )
        return self._long

    def threshold(self, target: float, entry, local) -> float:
        """promise.daily_threshold for the number's day as this read found it, worked out once
        per Figures: the count is this second's snapshot, and so is what it allows."""
        if self._threshold is None or self._threshold[0] != target:
            count = self.count
            remaining = promise.remaining_calls(count, self.now_ms, _open_left_s(entry, local))
            self._threshold = target, promise.daily_threshold(count, target=target, remaining=remaining)
        return self._threshold[1]

    def patience_rate(self) -> float | None:
        """ewt.patience_rate_after over the ended calls, once per Figures (as long_history)."""
        if self._patience is None:
            self._patience = (patience_rate_after(self.lists[1], self.now_ms),)
        return self._patience[0]


async def _figures(call: Call, queue: str, promise_key: str, now_ms: int) -> Figures | None:
    """One round trip: recent waits, ended calls (talk, abandons), arrivals, and (daily policy)
    the number's promise count, all under the queue's hash tag (one node on a Cluster). An older
    Redis without the newer keys gives empty replies: the predictor falls back to the waits."""
    general = call.general
    key = (general.key_prefix, queue, promise_key)
    cached = _FIGURES.get(key)
    if cached is not None and 0 <= now_ms - cached[0] < PREDICTION_REUSE_MS:
        return cached[1]
    keys = Keys(general.key_prefix)
    last = str(RECENT_READ - 1)
    commands = [
        ["LRANGE", keys.recent(queue), "0", last],
        ["LRANGE", keys.ended(queue), "0", last],
        ["LRANGE", keys.arrivals(queue), "0", last],
    ]
    if promise_key:
        commands.append(["HGETALL", promise_key])
    replies = await call.store.read(commands)
    if replies is None:
        return None
    figures = Figures(
        History.from_lists(replies[0], replies[1], replies[2], now_ms, read_limit=RECENT_READ),
        _recent_waits(replies[0], now_ms),
        promise.DayCount.from_hash(replies[3]) if promise_key else None,
        replies[:3],
        now_ms,
    )
    if len(_FIGURES) >= _PREDICTIONS_MAX:
        _FIGURES.clear()
    _FIGURES[key] = (now_ms, figures)
    return figures


def _prediction(call: Call, queue: str, state: QueueState, commitment_s: int, figures: Figures, now_ms: int):
    """The wait prediction for this queue state (its probability; the threshold comes later)."""
    general = call.general
    key = (general.key_prefix, queue, state.ready, state.logged, state.waiting, commitment_s)
    cached = _PREDICTIONS.get(key)
    if cached is not None and 0 <= now_ms - cached[0] < PREDICTION_REUSE_MS:
        return cached[1]
    prediction = predict(
        state,
        figures.waits,
        commitment_s=commitment_s,
        confidence=general.promise_confidence,
        history=figures.history,
        wrapup_s=general.wrapup_s,
    )
    if len(_PREDICTIONS) >= _PREDICTIONS_MAX:
        _PREDICTIONS.clear()
    _PREDICTIONS[key] = (now_ms, prediction)
    return prediction


def _open_left_s(entry, local) -> float:
    """Seconds of opening left today in the number's hours (the daily target's horizon)."""
    now_min = local.hour * 60 + local.minute + local.second / 60
    spans = entry.hours.spans.get(local.weekday(), ())
    return sum(max(0.0, end - max(start, now_min)) * 60 for start, end in spans)


class Context:
    """What the decision learnt on the way, for PH_EWT_S and the promise count."""

    __slots__ = ("day", "eligible", "figures", "p", "promise_key", "state", "threshold")

    def __init__(self) -> None:
        self.state: QueueState | None = None
        self.figures: Figures | None = None
        self.eligible = False  # the static rules passed: the tariff was up to the queue
        self.p: float | None = None
        self.day = ""
        self.promise_key = ""
        self.threshold: float | None = None  # the daily threshold this call was held to


def _queue_state(live: dict[str, str] | None) -> QueueState | None:
    """Ready, logged-in and waiting, paused members left out of the capacity: a paused member is
    logged in, yet takes no call (QUEUE_MEMBER(q,ready) already leaves them out)."""
    # An empty or non-numeric value means Asterisk could not tell (unknown queue): fail, not free.
    if live is None or not all(live.get(k, "").strip().isdigit() for k in ("ready", "logged", "waiting")):
        return None
    paused = live.get("paused", "")  # set by _paused: digits or empty
    logged = int(live["logged"]) - (int(paused) if paused.isdigit() else 0)
    return QueueState(int(live["ready"]), max(logged, int(live["ready"])), int(live["waiting"]))


def _count(text: str | None) -> int | None:
    """A count as Asterisk writes one (ASCII digits, a sane size), else None."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


MAX_MEMBERS = 64  # beyond this the paused members are not asked for (one reply stays short)


async def _paused(call: Call, queue: str, live: dict[str, str]) -> str:
    """How many of the queue's members are paused, as text ("" when not asked or unknown).

    Asked only when some logged-in members are not ready (a paused member is one of them):
    otherwise nobody is paused, and the decision costs no second exchange with Asterisk."""
    ready, logged = _count(live.get("ready")), _count(live.get("logged"))
    if ready is None or logged is None or logged <= ready:
        return ""  # nobody paused, or counts Asterisk would not give (_queue_state judges those)
    members = [m for m in live.get("members", "").split(",") if m.strip()]
    if not members or len(members) > MAX_MEMBERS:
        return ""
    try:
        flags = await call.read(
            {str(i): f"${{QUEUE_MEMBER({queue},paused,{m})}}" for i, m in enumerate(members)}
        )
    except RECOVERABLE as exc:
        call.log.warning("agi_read_failed", error=str(exc))
        return ""
    return str(sum(1 for value in flags.values() if value.strip() == "1"))


async def _decide(
    call: Call, number: str, entry, live: dict[str, str] | None, now_ms: int, ctx: Context
) -> Decision:
    config = call.config
    general = config.general
    commitment_s = config.commitment_for(entry)
    local = local_time(now_ms, config.timezone_for(entry)) if entry is not None and not entry.broken else None
    holidays: dict = {}
    closed: frozenset = frozenset()
    if local is not None:
        holidays = public_holidays(local.year, entry.holidays or general.holidays)
        closed = entry.closed_dates | general.closed_dates
    verdict = static_rules(
        national(number),
        entry,
        weekday=local.weekday() if local else 0,
        minute_of_day=local.hour * 60 + local.minute if local else 0,
        local_date=local.date() if local else None,
        holidays=holidays,
        closed_dates=closed,
        ivr_seen=_ivr_seen(live),
        default_queue=general.default_queue,
        fail_tariff=general.fail_tariff,
        commitment_s=commitment_s,
        france=FRANCE,
    )
    state = ctx.state = _queue_state(live)
    if verdict.decision is not None:
        return verdict.decision
    ctx.eligible = True
    daily = general.promise_policy == "daily"
    if entry.queue and local is not None:
        ctx.day = f"{local.year:04d}{local.month:02d}{local.day:02d}"  # strftime's cost, without it
        ctx.promise_key = Keys(general.key_prefix).promise(entry.queue, national(number), ctx.day)
    prediction = None
    store_ok = True
    if state is not None and state.ready > 0:
        ctx.figures = await _figures(call, entry.queue, ctx.promise_key if daily else "", now_ms)
        store_ok = ctx.figures is not None
        if ctx.figures is not None:
            raw = _prediction(call, entry.queue, state, commitment_s, ctx.figures, now_ms)
            threshold = general.promise_confidence
            if daily and ctx.figures.count is not None:
                threshold = ctx.threshold = ctx.figures.threshold(general.promise_target, entry, local)
            prediction = Prediction(raw.p_within, raw.p_within >= threshold, raw.method, raw.samples)
            ctx.p = raw.p_within
    return live_rules(
        entry,
        queue_state=state,
        prediction=prediction,
        store_ok=store_ok,
        fail_tariff=general.fail_tariff,
        commitment_s=commitment_s,
        default_queue=general.default_queue,
    )


def _ivr_seen(live: dict | None) -> bool:
    """The dialplan's PH_IVR: the caller came through a voice menu."""
    return bool(live and live.get("ivr", "").strip() not in ("", "0", "no"))


def _ewt_text(
    state: QueueState | None, figures: Figures | None, wrapup_s: int, live, decision: Decision
) -> str:
    """PH_EWT_S: whole seconds, or empty when the queue's state is unknown or nobody can answer.
    A premium caller with a price message joins the queue only after it (core/ewt.py)."""
    if state is None:
        return ""
    free = _count((live or {}).get("free"))
    wrapping = max(0, free - state.ready) if free is not None else 0
    price_first = decision.tariff == "premium" and bool(decision.announce)
    # The same figures (reused for a second) and the same queue state give the same wait: worked
    # out once, not for every call of a busy queue.
    key = (state.ready, state.logged, state.waiting, wrapping, price_first, wrapup_s)
    cached = _EWTS.get(key)
    if cached is not None and figures is not None and cached[0] is figures:
        return cached[1]
    history = figures.long_history() if figures else None
    pre = history.pre_queue() if history is not None and price_first else 0.0
    theta = figures.patience_rate() if figures else None
    wait = expected_wait(
        state, history, wrapup_s=wrapup_s, in_wrapup=wrapping, pre_queue_s=pre, abandon_rate=theta
    )
    text = str(round(wait)) if wait < 86_400 else ""
    if figures is not None:
        if len(_EWTS) >= _PREDICTIONS_MAX:
            _EWTS.clear()
        _EWTS[key] = (figures, text)
    return text


async def handle(call: Call) -> None:
    general = call.general
    number = dialled_number(call.agi.env)
    entry = call.config.lookup(number) if number else None
    queue = (entry.queue if entry else "") or general.default_queue

    wanted = {"arrived": "${PH_ARRIVED_MS}", "ivr": "${PH_IVR}", "now": NOW}
    if entry is not None and entry.queue and not entry.broken:
        q = entry.queue
        wanted.update(
            ready=f"${{QUEUE_MEMBER({q},ready)}}",
            logged=f"${{QUEUE_MEMBER({q},logged)}}",
            free=f"${{QUEUE_MEMBER({q},free)}}",
            members=f"${{QUEUE_MEMBER_LIST({q})}}",
            waiting=f"${{QUEUE_WAITING_COUNT({q})}}",
        )
    live: dict[str, str] | None
    try:
        live = await call.read(wanted)
    except RECOVERABLE as exc:
        call.log.warning("agi_read_failed", error=str(exc))
        live = None
    if live is not None and entry is not None and entry.queue and not entry.broken:
        live["paused"] = await _paused(call, entry.queue, live)
    now_ms = call.asterisk_ms(live["now"]) if live else call.clock_ms()
    arrived_ms = as_int(live["arrived"]) if live and live["arrived"] else now_ms

    ctx = Context()
    ewt = ""
    try:
        decision = await _decide(call, number, entry, live, now_ms, ctx)
        if ctx.figures is None and general.announce_wait and ctx.state is not None and entry.queue:
            # The announcement needs the history even where the tariff did not (the same read).
            ctx.figures = await _figures(call, entry.queue, "", now_ms)
        ewt = _ewt_text(ctx.state, ctx.figures, general.wrapup_s, live, decision)
    except Exception as exc:
        call.log.error("decision_failed", error=repr(exc), number=number, exc_info=True)
        decision = Decision(general.fail_tariff, "internal_error", queue=queue)
        ctx = Context()
    commitment_s = decision.commitment_s or call.config.commitment_for(entry)
    answer, early_max_s = call.config.answer_for(entry)

    agi = call.agi
    await agi.set("PH_TARIFF", decision.tariff)
    await agi.set("PH_REASON", decision.reason)
    await agi.set("PH_RATE", decision.rate_text)
    await agi.set("PH_QUEUE", decision.queue)
    await agi.set("PH_ANNOUNCE", decision.announce)
    await agi.set("PH_DECIDED", decision.tariff)
    await agi.set("PH_COMMITMENT_S", commitment_s)
    await agi.set("PH_DID", number)
    await agi.set("PH_EWT_S", ewt)
    if general.announce_wait:
        await agi.set("PH_ANNOUNCE_WAIT", "yes")
    # Always set (empty when the call is not eligible): one command stream whatever the call.
    await agi.set(
        "PH_PROMISE", f"{ctx.day}:{'' if ctx.p is None else f'{ctx.p:.3f}'}" if ctx.promise_key else ""
    )
    await agi.set("PH_ANSWER", answer)
    await agi.set("PH_EARLY_MAX_S", early_max_s)
    if not (live and live["arrived"]):
        await agi.set("PH_ARRIVED_MS", arrived_ms)
    await agi.set(
        "CDR(userfield)",
        userfield(tariff=decision.tariff, reason=decision.reason, rate=decision.rate_text, did=number),
    )
    await agi.close()

    (call.log.warning if decision.reason in FAILURE_REASONS else call.log.info)(
        "decided", number=number, tariff=decision.tariff, reason=decision.reason, queue=decision.queue
    )
    prediction = decision.predicted
    record = {
        "uniqueid": call.uniqueid,
        "did": number,
        "queue": decision.queue,
        "decided_tariff": decision.tariff,
        "decided_reason": decision.reason,
        "rate": decision.rate_text,
        "commitment_s": commitment_s,
        "answer": answer,
        "arrived_at": arrived_ms,
        "decided_at": now_ms,
        "caller": call.caller_identity(),
        "ready": live.get("ready") if live else None,
        "waiting": live.get("waiting") if live else None,
        "p_within": f"{prediction.p_within:.3f}" if prediction is not None else None,
        # The premium criteria as decided, for the day's report: the site and the voice menu.
        "site": entry.site if entry is not None else None,
        "ivr": (entry is not None and entry.ivr) or _ivr_seen(live),
        "ewt_s": ewt or None,
    }
    # Once Asterisk is released: a plain AGI process is detached here. From the module, not the
    # package: `from package import module` runs importlib's Python fallback on every call.
    from ..store.records import decided, promise_decided

    batch = decided(
        **call.batch_of(),
        record=record,
        queue=decision.queue,
        arrived_ms=arrived_ms,
        max_call_s=call.config.max_call_for(entry),
    )
    if ctx.promise_key:
        fields = promise.DayCount.eligible_fields(ctx.p, decision.tariff == "premium", ctx.threshold)
        guard = Keys(general.key_prefix).promised(entry.queue, arrived_ms)
        batch += promise_decided(ctx.promise_key, guard, call.uniqueid, fields, now_ms)
    await call.store.write(batch, route="decide_tariff", uniqueid=call.uniqueid)


__all__ = ["FREE", "dialled_number", "handle"]
