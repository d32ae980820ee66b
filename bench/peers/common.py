"""What every peer's minimal decide handler does, so that only the FastAGI stack differs.

The exchange is decide_tariff's for a premium number with an agent ready: one GET FULL VARIABLE
of the same six expressions, one Redis round trip reading the same three lists, ten SET
VARIABLEs with the same values, the connection closed (Asterisk released), then the same write
batch in one pipeline: store.records.decided builds it, so the Redis work is identical by
construction. The peers skip what our route adds on top: config lookup, business hours, the
wait predictor. Their handlers are therefore a little cheaper than ours, never dearer.
"""

from __future__ import annotations

import time

from premium_hotline.store import records
from premium_hotline.store.keys import Keys

KEYS = Keys("ph:")
QUEUE = "support"
NUMBER = "0899123456"
EXPRESSION = "|".join(
    (
        "${PH_ARRIVED_MS}",
        "${PH_IVR}",
        "${STRFTIME(,,%s%3q)}",
        f"${{QUEUE_MEMBER({QUEUE},ready)}}",
        f"${{QUEUE_MEMBER({QUEUE},logged)}}",
        f"${{QUEUE_WAITING_COUNT({QUEUE})}}",
    )
)


def _list_key(name: str) -> str:
    """The predictor's list keys, wherever the store module names them (Keys or records)."""
    method = getattr(KEYS, name, None)
    return method(QUEUE) if method else getattr(records, f"{name}_key")(KEYS, QUEUE)


READS = [["LRANGE", _list_key(name), "0", "99"] for name in ("recent", "ended", "arrivals")]


def sets(now_ms: int) -> list[tuple[str, str]]:
    return [
        ("PH_TARIFF", "premium"),
        ("PH_REASON", "premium"),
        ("PH_RATE", "0.80/min"),
        ("PH_QUEUE", QUEUE),
        ("PH_ANNOUNCE", ""),
        ("PH_DECIDED", "premium"),
        ("PH_COMMITMENT_S", "60"),
        ("PH_DID", NUMBER),
        ("PH_ARRIVED_MS", str(now_ms)),
        ("CDR(userfield)", f"ph;tariff=premium;reason=premium;rate=0.80/min;did={NUMBER}"),
    ]


def now_from(values: str) -> int:
    parts = values.split("|")
    try:
        return int(parts[2])
    except (IndexError, ValueError):
        return int(time.time() * 1000)


def batch(uniqueid: str, now_ms: int) -> list[list]:
    record = {
        "uniqueid": uniqueid,
        "did": NUMBER,
        "queue": QUEUE,
        "decided_tariff": "premium",
        "decided_reason": "premium",
        "rate": "0.80/min",
        "commitment_s": 60,
        "arrived_at": now_ms,
        "decided_at": now_ms,
        "caller": "4f185c297179919122cf",
        "ready": "2",
        "waiting": "0",
        "p_within": "1.000",
    }
    return records.live_commands(
        records.decided(
            KEYS,
            uniqueid=uniqueid,
            record=record,
            queue=QUEUE,
            arrived_ms=now_ms,
            ttl_s=31 * 86400,
            events_maxlen=100_000,
        )
    )


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
