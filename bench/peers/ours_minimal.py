"""Our FastAGI stack (AsyncSession, the RESP pool store, the server's connection handling) with
the peers' minimal decide handler instead of the real route: what the server itself costs per
call, apart from the decision logic (config lookup, hours, the wait predictor).

`python -m bench.peers.ours_minimal PORT CONFIG`
"""

from __future__ import annotations

import asyncio
import sys

from bench.peers import common
from premium_hotline.server.app import SETTINGS, FastAgiServer, event_loop_factory


async def decide(call) -> None:
    agi = call.agi
    now_ms = common.now_from(await agi.get(common.EXPRESSION))
    await call.store.read(common.READS)
    for name, value in common.sets(now_ms):
        await agi.set(name, value)
    await agi.close()
    await call.store.write(common.batch(call.uniqueid, now_ms), route="decide_tariff", uniqueid=call.uniqueid)


def main() -> None:
    port, config = int(sys.argv[1]), sys.argv[2]
    server = FastAgiServer(config, "127.0.0.1", port)
    server._handlers = {"decide_tariff": decide}
    with asyncio.Runner(loop_factory=event_loop_factory(SETTINGS["loop"])) as runner:  # as `serve` does
        sys.exit(runner.run(server.run()))


if __name__ == "__main__":
    main()
