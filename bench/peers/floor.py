"""The floor: the same decide exchange on bare asyncio streams, no library at all.

No deadline, no allow-list, no config, no error handling worth the name, a hand-rolled RESP
pipeline over a few connections: the least a Python asyncio FastAGI server can do for this
exchange. Nothing else in the table can be cheaper per call; it is the yardstick, not a product.

`python -m bench.peers.floor PORT REDIS_PORT`
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


async def read_reply(reader: asyncio.StreamReader):
    line = await reader.readuntil(b"\r\n")
    kind = line[:1]
    if kind == b"$":
        size = int(line[1:-2])
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        return [await read_reply(reader) for _ in range(int(line[1:-2]))]
    return line[1:-2]


class Redis:
    """A LIFO list of connections; a new one when none is free."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list = []

    async def pipeline(self, commands: list[list]) -> list:
        conn = self.idle.pop() if self.idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        writer.write(b"".join(encode(c) for c in commands))
        replies = [await read_reply(reader) for _ in commands]
        self.idle.append(conn)
        return replies


async def command(reader, writer, line: str) -> str:
    writer.write(line.encode())
    reply = await reader.readuntil(b"\n")
    return reply.decode()


def main() -> None:
    port, redis_port = int(sys.argv[1]), int(sys.argv[2])
    redis = Redis(redis_port)

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
