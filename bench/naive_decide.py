#!/usr/bin/env python3
"""A naive plain AGI decide script, the way one is usually first written: pyst2, redis-py,
structlog, everything imported up front, the Redis write before exiting. The same exchange
and Redis work as decide_tariff.py for a premium number; the bench's yardstick for start-up.

Redis URL from BENCH_REDIS_URL.
"""

import os
import sys
import time

import redis
import structlog
from asterisk.agi import AGI

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.peers import common

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout is AGI
log = structlog.get_logger()
agi = AGI()
client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"], decode_responses=True, socket_timeout=0.2)
uid = agi.env.get("agi_uniqueid", "")
now_ms = common.now_from(agi.get_full_variable(common.EXPRESSION) or "") or int(time.time() * 1000)
pipe = client.pipeline(transaction=False)
for cmd in common.READS:
    pipe.execute_command(*cmd)
pipe.execute()
for name, value in common.sets(now_ms):
    agi.set_variable(name, value)
pipe = client.pipeline(transaction=False)
for cmd in common.batch(uid, now_ms):
    pipe.execute_command(*cmd)
pipe.execute()
log.info("decided", uniqueid=uid, tariff="premium")
