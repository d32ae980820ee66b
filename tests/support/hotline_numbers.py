"""The numbers and queue state the route tests share: one premium number, one behind a voice
menu, one in the free range, all on queue `support`, and a fixed Asterisk clock."""

from __future__ import annotations

import time

NUMBERS = """
[0899123456]
queue = support
rate = 0.80/min
announce = ph/price

[0899000009]
queue = support
rate = 0.80/min
ivr = yes

[0805000000]
queue = support
"""

# A fixed Asterisk clock near the real one (the routes ignore a PBX clock a day off their own).
T0 = (int(time.time() * 1000) // 60_000) * 60_000 - 3_600_000

# Two agents ready, nobody waiting: every rule but the live ones already allows premium.
READY = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "2",
    "QUEUE_WAITING_COUNT(support)": "0",
}
