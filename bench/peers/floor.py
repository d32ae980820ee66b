"""The floor: the same decide exchange on bare asyncio streams, no library at all.

No deadline, no allow-list, no config, no error handling worth the name, a hand-rolled RESP
pipeline over a few connections whose replies are delimited but never decoded: the least a
Python asyncio FastAGI server can do for this exchange: the yardstick, not a product.

`python -m bench.peers.floor PORT REDIS_PORT [--two]`: with `--two`, the same job in two
exchanges, as our routes do it: the one GET, then every variable in one
`SET VARIABLE "ARRAY(...)"` (its values hold nothing ARRAY() would split, so no escaping).
"""

from __future__ import annotations

import asyncio
import sys

from bench.peers import common


def encode(command: list) -> bytes:
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _reply_end(buf: bytes, pos: int) -> int:
    """Position after the whole reply at `pos` (arrays included), or -1 if it is incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return -1
    kind = buf[pos]
    head = buf[pos + 1 : end]
    pos = end + 2
    if kind == 36:  # $ bulk string
        size = int(head)
        if size < 0:
            return pos
        stop = pos + size + 2
        return stop if len(buf) >= stop else -1
    if kind == 42:  # * array
        for _ in range(max(int(head), 0)):
            pos = _reply_end(buf, pos)
            if pos < 0:
                return -1
    return pos


class Redis:
    """A LIFO list of connections; a new one when none is free. Replies are read in chunks and
    only delimited, never decoded: the least a client can do and still know it has them all."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list = []

    async def pipeline(self, commands: list[list]) -> None:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        writer.write(b"".join(encode(c) for c in commands))
        buf = b""
        pos = 0
        pending = len(commands)
        while pending:
            buf += await reader.read(65536)
            while pending:
                end = _reply_end(buf, pos)
                if end < 0:
                    break
                pos = end
                pending -= 1
        self.idle.append(conn)


async def command(reader, writer, line: str) -> str:
    writer.write(line.encode())
    reply = await reader.readuntil(b"\n")
    return reply.decode()


def main() -> None:
    port, redis_port = int(sys.argv[1]), int(sys.argv[2])
    two = "--two" in sys.argv[3:]
    redis = Redis(redis_port)
    names = ",".join(name for name, _ in common.sets(0))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env = {}
        while True:
            line = await reader.readuntil(b"\n")
            if line == b"\n":
                break
            key, _, value = line.decode().partition(":")
            env[key] = value.strip()
        uid = env.get("agi_uniqueid", "")
        reply = await command(reader, writer, f"GET FULL VARIABLE {common.quote(common.EXPRESSION)}\n")
        values = reply[reply.find("(") + 1 : reply.rfind(")")]
        now_ms = common.now_from(values)
        await redis.pipeline(common.READS)
        if two:
            values = ",".join(value for _, value in common.sets(now_ms))
            await command(reader, writer, f'SET VARIABLE "ARRAY({names})" {common.quote(values)}\n')
        else:
            for name, value in common.sets(now_ms):
                await command(reader, writer, f"SET VARIABLE {common.quote(name)} {common.quote(value)}\n")
        writer.close()
        await redis.pipeline(common.batch(uid, now_ms))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
