"""The decide exchange as a panoramisk FastAGI application, with redis-py's asyncio pool.

What a team would write on panoramisk: `Application.add_route`, `request.send_command`, and
`redis.asyncio` for Redis (pipelines, transaction off). Like our server it closes the connection
(releasing Asterisk) before the Redis write.

`python -m bench.peers.panoramisk_server PORT REDIS_PORT`
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis
from panoramisk.fast_agi import Application

from bench.peers import common


def main() -> None:
    port, redis_port = int(sys.argv[1]), int(sys.argv[2])

    async def serve() -> None:
        redis = aioredis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True, max_connections=64)
        app = Application(loop=asyncio.get_running_loop())

        async def decide(request) -> None:
            uid = request.headers.get("agi_uniqueid", "")
            result = await request.send_command(f"GET FULL VARIABLE {common.quote(common.EXPRESSION)}")
            now_ms = common.now_from(result["result"][1])
            pipe = redis.pipeline(transaction=False)
            for cmd in common.READS:
                pipe.execute_command(*cmd)
            await pipe.execute()
            for name, value in common.sets(now_ms):
                await request.send_command(f"SET VARIABLE {common.quote(name)} {common.quote(value)}")
            request.writer.close()
            pipe = redis.pipeline(transaction=False)
            for cmd in common.batch(uid, now_ms):
                pipe.execute_command(*cmd)
            await pipe.execute()

        app.add_route("decide_tariff", decide)
        server = await asyncio.start_server(app.handler, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
