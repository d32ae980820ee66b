"""Route `call_ended`: the hang-up handler that closes the call's record and its bill.

Dialplan: pushed first thing, `Set(CHANNEL(hangup_handler_push)=premium-hotline-hangup,s,1)`,
so it runs however the call ends, abandoned callers included. It runs on a dead channel, where
Asterisk allows only GET/SET VARIABLE and a few more: that is all it uses. Billable seconds
count from the human's answer; a downgraded or free call bills nothing.

The wire's side comes from Asterisk too (`wire_answered_ms`, see `network_answer`). The number's
service price S comes from the config, since the operator charges it on a call decided free as
well: what it charged beyond what is owed is `refund_due`.
"""

from __future__ import annotations

from ..core import agents, kpi
from ..core.timeline import ended
from ..store import records
from .call import CALL_MARKS, Call, as_int, channel_queue
from .promise_settle import settle


def network_answer(marks: dict[str, str], ended_ms: int, human_ms: int) -> int | None:
    """When the network answered the caller (its 200 OK), in Asterisk's epoch ms; None: never.

    In order: the dialplan's stamp (`PH_WIRE_ANSWERED_MS`, set as its own Answer() runs: answer =
    immediate, or early_media_max_s reached); app_queue's answer at the bridge, `ANSWEREDTIME_MS`
    before the hang-up (Asterisk 20.19 and 22.9+; checked on 22.10 against the caller's 200 OK:
    1 to 3 ms); on older versions the person's answer, which the bridge follows by the
    agent_answered round trip; the CDR's answer last. `CDR(answer)` is not first: in a hang-up
    handler after a bridge with a Queue AGI it was the bridge's end on 22.10, not the answer.
    """
    stamp = as_int(marks.get("wire_stamp", ""))
    if stamp > 0:
        return stamp
    if marks.get("state") != "Up":
        return None
    bridged = as_int(marks.get("bridged_ms", ""), -1)
    if bridged > 0 and human_ms:
        return ended_ms - bridged
    if human_ms:
        return human_ms
    return epoch_seconds_ms(marks.get("cdr_answer", "")) or None


def epoch_seconds_ms(text: str) -> int:
    """`1796196222.823110` (CDR(answer,u), epoch seconds) as epoch ms; 0 when never answered."""
    try:
        return max(0, round(float(text) * 1000))
    except (TypeError, ValueError, OverflowError):
        return 0


async def handle(call: Call) -> None:
    marks = await call.read(
        {
            **CALL_MARKS,
            "human": "${PH_HUMAN_MS}",
            "queue_status": "${QUEUESTATUS}",
            "wire_stamp": "${PH_WIRE_ANSWERED_MS}",
            "bridged_ms": "${ANSWEREDTIME_MS}",
            "state": "${CHANNEL(state)}",
            "cdr_answer": "${CDR(answer,u)}",
            "ended": "${PH_ENDED_MS}",
        }
    )
    general = call.general
    # The hang-up handler's own stamp (the dialplan's first step, before this script started),
    # else Asterisk's clock now, late by the AGI start-up.
    ended_ms = call.asterisk_ms(marks["ended"] or marks["now"])
    decided = marks["decided"] or marks["tariff"] or "free"
    human = marks["human"] or marks["stamped"]
    entry = call.config.lookup(marks["did"]) if marks["did"] else None
    surcharge = str(entry.rate) if entry is not None and entry.rate is not None and not entry.broken else ""
    wire_ms = network_answer(marks, ended_ms, as_int(human))
    ending = ended(
        arrived_ms=marks["arrived"],
        queued_ms=marks["queued"],
        human_ms=human,
        ended_ms=ended_ms,
        decided_tariff=decided,
        tariff=marks["tariff"] or decided,
        reason=marks["reason"] or "undecided",
        rate=marks["rate"],
        commitment_s=as_int(marks["commitment"]) or general.commitment_s,
        short_abandon_s=general.short_abandon_s,
        service_level_s=general.service_level_s,
        queue_status=marks["queue_status"],
        wire_answered_ms=wire_ms,
        surcharge=surcharge,
    )
    amount = f"{ending.amount:.2f}"
    refund = f"{ending.refund_due:.2f}"
    told = {
        "PH_OUTCOME": ending.outcome,
        "PH_BILLABLE_S": ending.billable_s,
        "PH_AMOUNT": amount,
        "PH_WIRE_BILLABLE_S": ending.wire_billable_s,
        "PH_REFUND_DUE": refund,
    }
    cdr = {
        "tariff": ending.tariff,
        "reason": ending.reason,
        "rate": marks["rate"],
        "did": marks["did"],
        "outcome": ending.outcome,
        "billable_s": ending.billable_s,
        "amount": amount,
        # Only for a caller the network answered, only when something is owed back.
        "wire_billable_s": ending.wire_billable_s if ending.wire_answered_ms else "",
        "refund_due": refund if ending.refund_due else "",
    }
    cut = await call.tell(told, cdr)

    queue = channel_queue(marks["queue"], general.default_queue)
    arrived_ms = as_int(marks["arrived"]) or ended_ms
    record = {
        "uniqueid": call.uniqueid,
        "did": marks["did"],
        "queue": queue,
        "decided_tariff": decided,
        "tariff": ending.tariff,
        "reason": ending.reason,
        "rate": marks["rate"],
        "arrived_at": arrived_ms,
        "queued_at": as_int(marks["queued"]) or None,
        "human_at": as_int(human) or None,
        "ended_at": ended_ms,
        "time_to_human_ms": ending.time_to_human_ms,
        "before_queue_ms": ending.before_queue_ms,
        "in_queue_ms": ending.in_queue_ms,
        "wait_ms": ending.wait_ms,
        "outcome": ending.outcome,
        "talk_s": ending.talk_s,
        "billable_s": ending.billable_s,
        "amount": amount,
        # Empty when the network never answered the caller (the field is there all the same).
        "wire_answered_ms": ending.wire_answered_ms or "",
        "wire_billable_s": ending.wire_billable_s,
        "refund_due": refund,
        "sla_breached": ending.sla_breached,
        "queue_status": marks["queue_status"] or None,
    }
    kpis = kpi.counters(ending, decided)
    if ending.outcome == "answered":
        agent, agent_name = agents.clean(marks["member"]), agents.clean(marks["member_name"])
        ring = agents.ring_ms(marks["rang"], as_int(human) or None)
        record.update(agent=agent or None, agent_name=agent_name or None, ring_ms=ring)
        kpis.update(
            agents.kpi_fields(
                agent,
                agent_name,
                outcome=ending.outcome,
                decided_tariff=decided,
                tariff=ending.tariff,
                talk_s=ending.talk_s,
                ring=ring,
                billable_s=ending.billable_s,
                amount_cents=int(ending.amount * 100),
            )
        )
    call.log.info("call_ended", outcome=ending.outcome, billable_s=ending.billable_s, tariff=ending.tariff)
    batch = records.call_closed(
        **call.batch_of(),
        record=record,
        queue=queue,
        arrived_ms=arrived_ms,
        kpis=kpis,
    )
    batch += settle(
        call,
        marks,
        queue=queue,
        arrived_ms=arrived_ms,
        outcome=ending.outcome,
        time_to_human_ms=ending.time_to_human_ms if ending.outcome == "answered" else None,
        commitment_s=as_int(marks["commitment"]) or general.commitment_s,
    )
    await call.store.write(batch, route="call_ended", uniqueid=call.uniqueid)
    if cut is not None:
        raise cut
