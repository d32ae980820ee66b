"""The decide exchange as a pystrix FastAGI handler (a thread per call), with redis-py's pool.

What a team would write on pystrix: `FastAGIServer.register_script_handler`, `agi.execute` of
`GetFullVariable` and `SetVariable` actions, and the synchronous redis-py client with its
connection pool. Like our server it shuts the socket (releasing Asterisk) before the Redis write.

`python -m bench.peers.pystrix_server PORT REDIS_PORT`
"""

from __future__ import annotations

import socket
import sys

import redis
from pystrix.agi import FastAGIServer
from pystrix.agi.core import GetFullVariable, SetVariable

from bench.peers import common


def main() -> None:
    port, redis_port = int(sys.argv[1]), int(sys.argv[2])
    pool = redis.ConnectionPool(host="127.0.0.1", port=redis_port, decode_responses=True, max_connections=64)
    client = redis.Redis(connection_pool=pool)

    def decide(agi, args, kwargs, match, path) -> None:
        uid = agi.get_environment().get("agi_uniqueid", "")
        now_ms = common.now_from(agi.execute(GetFullVariable(common.EXPRESSION)) or "")
        pipe = client.pipeline(transaction=False)
        for cmd in common.READS:
            pipe.execute_command(*cmd)
        pipe.execute()
        for name, value in common.sets(now_ms):
            agi.execute(SetVariable(name, value))
        agi._wfile.flush()
        sock = getattr(agi._wfile, "_sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        pipe = client.pipeline(transaction=False)
        for cmd in common.batch(uid, now_ms):
            pipe.execute_command(*cmd)
        pipe.execute()

    server = FastAGIServer(interface="127.0.0.1", port=port)
    server.register_script_handler(r"^decide_tariff", decide)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
