"""Route `decide_tariff`: premium or free, at call arrival, before the caller hears anything.

Dialplan: `AGI(decide_tariff.py,${EXTEN})`. Sets PH_TARIFF, PH_REASON, PH_RATE, PH_QUEUE,
PH_ANNOUNCE (and PH_DECIDED, PH_COMMITMENT_S, PH_DID, PH_ARRIVED_MS for the later routes),
PH_ANSWER and PH_EARLY_MAX_S (how the dialplan answers the call: it runs on a channel that is
not answered, and this route never answers it) and CDR(userfield). Asterisk is asked once (queue
state, clock, marks set by the dialplan), Redis at most once before replying (recent waits, only
when every other rule already allows premium), and the call's record is written after the
dialplan has moved on.
"""

from __future__ import annotations

from ..core.predict import History, predict
from ..core.tariff import FREE, Decision, QueueState, live_rules, static_rules
from ..store import records
from ..store.keys import Keys
from .call import NOW, RECOVERABLE, Call, as_int, userfield

RECENT_WINDOW_MS = 15 * 60 * 1000
RECENT_READ = 100


def dialled_number(env: dict[str, str]) -> str:
    """The number the caller dialled: the route's first argument, else the extension, else DNID."""
    for candidate in (env.get("agi_arg_1", ""), env.get("agi_extension", ""), env.get("agi_dnid", "")):
        candidate = candidate.strip()
        digits = candidate.lstrip("+")
        if digits.isascii() and digits.isdigit():  # "²" and "٣" are digits to str.isdigit
            return candidate[:32]
    return ""


def _local_time(now_ms: int, timezone: str):
    import datetime as dt
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo(timezone))


def _recent_waits(reply, now_ms: int) -> list[int]:
    waits = []
    for item in reply or ():
        human, _, rest = str(item).partition(":")
        tth = rest.partition(":")[0]
        if as_int(human) >= now_ms - RECENT_WINDOW_MS:
            waits.append(as_int(tth))
    return waits


# A FastAGI server decides many calls a second for the same queue: the same live state within a
# second gives the same prediction, so it is reused rather than read from Redis and computed again
# on the event loop for every call. A plain AGI process decides one call and starts empty.
PREDICTION_REUSE_MS = 1000
_PREDICTIONS: dict[tuple, tuple[int, object]] = {}
_PREDICTIONS_MAX = 256


async def _prediction(call: Call, queue: str, state: QueueState, commitment_s: int, now_ms: int):
    """The wait prediction for this queue state, or None when Redis could not say in time."""
    general = call.general
    key = (general.key_prefix, queue, state.ready, state.logged, state.waiting, commitment_s,
           general.promise_confidence)  # fmt: skip
    cached = _PREDICTIONS.get(key)
    if cached is not None and 0 <= now_ms - cached[0] < PREDICTION_REUSE_MS:
        return cached[1]
    keys = Keys(general.key_prefix)
    # One round trip: recent waits, ended calls (talk, abandons) and arrivals, for the Erlang A
    # predictor (core/predict.History); an older Redis without the last two lists just gives
    # empty replies and the predictor falls back to the recent waits.
    last = str(RECENT_READ - 1)
    replies = await call.store.read(
        [
            ["LRANGE", keys.recent(queue), "0", last],
            ["LRANGE", keys.ended(queue), "0", last],
            ["LRANGE", keys.arrivals(queue), "0", last],
        ]
    )
    if replies is None:
        return None
    prediction = predict(
        state,
        _recent_waits(replies[0], now_ms),
        commitment_s=commitment_s,
        confidence=general.promise_confidence,
        history=History.from_lists(replies[0], replies[1], replies[2], now_ms, read_limit=RECENT_READ),
    )
    if len(_PREDICTIONS) >= _PREDICTIONS_MAX:
        _PREDICTIONS.clear()
    _PREDICTIONS[key] = (now_ms, prediction)
    return prediction


async def _decide(call: Call, number: str, entry, live: dict[str, str] | None, now_ms: int) -> Decision:
    config = call.config
    general = config.general
    commitment_s = config.commitment_for(entry)
    local = (
        _local_time(now_ms, config.timezone_for(entry)) if entry is not None and not entry.broken else None
    )
    holidays: dict = {}
    closed: frozenset = frozenset()
    if local is not None:
        from ..core.hours import public_holidays

        holidays = public_holidays(local.year, entry.holidays or general.holidays)
        closed = entry.closed_dates | general.closed_dates
    from ..config import FRANCE
    from ..core.numbers import national

    verdict = static_rules(
        national(number),
        entry,
        weekday=local.weekday() if local else 0,
        minute_of_day=local.hour * 60 + local.minute if local else 0,
        local_date=local.date() if local else None,
        holidays=holidays,
        closed_dates=closed,
        ivr_seen=bool(live and live.get("ivr", "").strip() not in ("", "0", "no")),
        default_queue=general.default_queue,
        fail_tariff=general.fail_tariff,
        commitment_s=commitment_s,
        france=FRANCE,
    )
    if verdict.decision is not None:
        return verdict.decision
    state = None
    # An empty or non-numeric value means Asterisk could not tell (unknown queue): fail, not free.
    if live is not None and all(live.get(k, "").strip().isdigit() for k in ("ready", "logged", "waiting")):
        state = QueueState(int(live["ready"]), int(live["logged"]), int(live["waiting"]))
    prediction = None
    store_ok = True
    if state is not None and state.ready > 0:
        prediction = await _prediction(call, entry.queue, state, commitment_s, now_ms)
        store_ok = prediction is not None
    return live_rules(
        entry,
        queue_state=state,
        prediction=prediction,
        store_ok=store_ok,
        fail_tariff=general.fail_tariff,
        commitment_s=commitment_s,
        default_queue=general.default_queue,
    )


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
            waiting=f"${{QUEUE_WAITING_COUNT({q})}}",
        )
    live: dict[str, str] | None
    try:
        live = await call.read(wanted)
    except RECOVERABLE as exc:
        call.log.warning("agi_read_failed", error=str(exc))
        live = None
    now_ms = call.asterisk_ms(live["now"]) if live else call.clock_ms()
    arrived_ms = as_int(live["arrived"]) if live and live["arrived"] else now_ms

    try:
        decision = await _decide(call, number, entry, live, now_ms)
    except Exception as exc:
        call.log.error("decision_failed", error=repr(exc), number=number, exc_info=True)
        decision = Decision(general.fail_tariff, "internal_error", queue=queue)
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
    await agi.set("PH_ANSWER", answer)
    await agi.set("PH_EARLY_MAX_S", early_max_s)
    if not (live and live["arrived"]):
        await agi.set("PH_ARRIVED_MS", arrived_ms)
    await agi.set(
        "CDR(userfield)",
        userfield(tariff=decision.tariff, reason=decision.reason, rate=decision.rate_text, did=number),
    )
    await agi.close()

    call.log.info(
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
    }
    batch = records.decided(
        Keys(general.key_prefix),
        uniqueid=call.uniqueid,
        record=record,
        queue=decision.queue,
        arrived_ms=arrived_ms,
        ttl_s=general.record_ttl_days * 86400,
        events_maxlen=general.events_maxlen,
    )
    await call.store.write(batch, route="decide_tariff", uniqueid=call.uniqueid)


__all__ = ["FREE", "dialled_number", "handle"]
