"""Route `agent_answered`: the moment a person took the call.

Dialplan: Queue()'s AGI argument, `Queue(${PH_QUEUE},,,,,agent_answered.py)`. It runs on the
caller's channel after the member answered and *before* the two are bridged, so every
millisecond here is silence for the caller: one GET (all marks in one exchange), one SET, and the
Redis write only after Asterisk has been released.

The moment of the answer comes from Asterisk, not from this process: the shipped dialplan passes
Queue() a member gosub that stamps `SHARED(PH_HUMAN_MS)` on the caller's channel in C, right after
the member answered and before this script even starts. Without it (a custom dialplan), the
Asterisk clock read here is used, late by the script's start-up time.

A premium caller who reached the person later than the commitment is downgraded now
(PH_TARIFF=free, PH_REASON=commitment_broken). CDR(userfield) is set here, before the bridge,
because that is the value the bridged CDR keeps: what the hang-up handler sets lands only in a
trailing CDR record of the same uniqueid (Asterisk 12+ CDR semantics).
"""

from __future__ import annotations

from ..core import agents
from ..core.timeline import answered
from ..store import records
from .call import CALL_MARKS, Call, as_int, channel_queue
from .promise_settle import settle


async def handle(call: Call) -> None:
    marks = await call.read(CALL_MARKS)
    human_ms = call.asterisk_ms(marks["stamped"] or marks["now"])
    commitment_s = as_int(marks["commitment"]) or call.config.commitment_for(None)
    answer = answered(
        arrived_ms=marks["arrived"],
        queued_ms=marks["queued"],
        human_ms=human_ms,
        tariff=marks["tariff"] or "free",
        reason=marks["reason"],
        commitment_s=commitment_s,
    )
    told = {"PH_HUMAN_MS": human_ms}
    if answer.breached:
        told.update({"PH_TARIFF": answer.tariff, "PH_REASON": answer.reason})
    # Before the bridge: the value the bridged CDR keeps (see the module docstring).
    cdr = {"tariff": answer.tariff, "reason": answer.reason, "rate": marks["rate"], "did": marks["did"]}
    cut = await call.tell(told, {**cdr, "human_ms": human_ms, "time_to_human_ms": answer.time_to_human_ms})

    queue = channel_queue(marks["queue"])
    record = {
        "queue": queue or None,  # also in the event: `tail` shows it on `human` lines
        "human_at": human_ms,
        "time_to_human_ms": answer.time_to_human_ms,
        "before_queue_ms": answer.before_queue_ms,
        "in_queue_ms": answer.in_queue_ms,
        "agent": agents.clean(marks["member"]) or None,
        "agent_name": agents.clean(marks["member_name"]) or None,
        "ring_ms": agents.ring_ms(marks["rang"], human_ms),
        "sla_breached": answer.breached,
    }
    call.log.info("human_reached", time_to_human_ms=answer.time_to_human_ms, breached=answer.breached)
    batch = records.human_reached(
        **call.batch_of(),
        record=record,
        queue=queue,
        human_ms=human_ms,
        time_to_human_ms=answer.time_to_human_ms,
        in_queue_ms=answer.in_queue_ms,
    )
    batch += settle(
        call,
        marks,
        queue=queue,
        arrived_ms=as_int(marks["arrived"]) or human_ms,
        outcome="answered",
        time_to_human_ms=answer.time_to_human_ms,
        commitment_s=commitment_s,
    )
    await call.store.write(batch, route="agent_answered", uniqueid=call.uniqueid)
    if cut is not None:
        raise cut
