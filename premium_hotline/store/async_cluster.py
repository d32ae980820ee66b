"""Redis Cluster and Sentinel for the FastAGI server: the RESP pool, one per node, routed.

The server's default transport (store/async_backend.py, `--redis-client resp`) is a small RESP
pool that costs a third of redis-py's CPU per call; this module keeps that pool and adds the
routing of store/topology.py, so a cluster or a sentinel set-up costs the server what one Redis
does, plus a dictionary lookup per command:

- Cluster: one RespPool per master. A route's pipeline is split by node and the sub-pipelines
  go out together (`asyncio.gather`): one round trip per node, in parallel. The slot map is
  read with CLUSTER SLOTS at the first call and again, in the background and at most every
  `REFRESH_MIN_S`, after anything that says it changed (MOVED, a node down, CLUSTERDOWN).
- Sentinel: one RespPool to the master the sentinels name; a failure or a READONLY reply (the
  master was demoted) makes the next call ask the sentinels again.

`--redis-client redis-py` gets redis-py's own `redis.asyncio.cluster.RedisCluster` and
`redis.asyncio.sentinel.Sentinel` instead (`RedisPyTopologyStore`), for operators who prefer
them. Either way the store's deadline (`redis_timeout_ms`) bounds every call, discovery
included, and any failure is RedisUnavailable: `fail_tariff`, and the writes go to the spool.
"""

from __future__ import annotations

import asyncio
import time

from ..log import Log
from .async_backend import DEFAULT_POOL_SIZE, RespPool, _from_redis_py, _SpoolingStore
from .resp import RedisUnavailable, RespError
from .topology import (
    Node,
    Routing,
    SlotMap,
    Topology,
    parse_cluster_slots,
    parse_topology_url,
    transient,
)

REFRESH_MIN_S = 0.1  # a failover makes every call fail for a while: one topology query per 100 ms


class _Refresher:
    """One discovery at a time, shared by every call that needs it, and not too often.

    The discovery runs as its own task, shielded: a call whose deadline expires stops waiting
    for it, but does not cancel it for the others.
    """

    def __init__(self, discover) -> None:
        self._discover = discover
        self._task: asyncio.Task | None = None
        self._last = -1e9

    def kick(self) -> asyncio.Task:
        """The discovery in progress, or a new one if the last started long enough ago."""
        task = self._task
        if task is not None and not task.done():
            return task
        now = time.monotonic()
        if task is not None and now - self._last < REFRESH_MIN_S:
            return task
        self._last = now
        self._task = asyncio.get_running_loop().create_task(self._discover())
        self._task.add_done_callback(_consume)
        return self._task

    async def wait(self):
        return await asyncio.shield(self.kick())

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _consume(task: asyncio.Task) -> None:
    """A background discovery that failed is only logged by the next call that needs it."""
    if not task.cancelled():
        task.exception()


class AsyncClusterClient:
    """A Redis Cluster for the FastAGI server: RespPool per master, routes split by node."""

    def __init__(self, topology: Topology, timeout_s: float, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.topology = topology
        self.timeout_s = timeout_s
        self.pool_size = pool_size
        self.slots: SlotMap | None = None
        self._pools: dict[Node, RespPool] = {}
        self._refresher = _Refresher(self._load_slots)
        self.round_trips = 0  # node pipelines sent
        self.refreshes = 0

    def _pool(self, node: Node) -> RespPool:
        pool = self._pools.get(node)
        if pool is None:
            pool = self._pools[node] = RespPool(self.topology.node_url(node), self.pool_size, self.timeout_s)
        return pool

    async def pipeline(self, commands: list[list]) -> list:
        slots = self.slots
        if slots is None:
            slots = await self._refresher.wait()
        routing = Routing(commands, slots)
        try:
            while groups := routing.plan():
                if len(groups) == 1:
                    ((node, indexes),) = groups.items()
                    routing.take(node, indexes, await self._send(node, routing.commands_for(node, indexes)))
                    continue
                items = list(groups.items())
                results = await asyncio.gather(
                    *(self._send(node, routing.commands_for(node, indexes)) for node, indexes in items),
                    return_exceptions=True,
                )
                failure = None
                for (node, indexes), result in zip(items, results, strict=True):
                    if isinstance(result, BaseException):
                        failure = failure or result
                    else:
                        routing.take(node, indexes, result)
                if failure is not None:
                    raise failure
            replies = routing.result()
        except RedisUnavailable:
            self._refresher.kick()
            raise
        if routing.redirected:
            self._refresher.kick()
        return replies

    async def _send(self, node: Node, commands: list[list]) -> list:
        self.round_trips += 1
        return await self._pool(node).pipeline(commands)

    async def _load_slots(self) -> SlotMap:
        """CLUSTER SLOTS from the known masters first, then the seeds; the first answer wins."""
        known = self.slots.nodes() if self.slots is not None else []
        candidates = list(dict.fromkeys([*known, *self.topology.nodes, *self._pools]))
        problems = []
        for node in candidates:
            try:
                async with asyncio.timeout(self.timeout_s):
                    reply = (await self._send(node, [["CLUSTER", "SLOTS"]]))[0]
            except TimeoutError:
                problems.append(f"{node[0]}:{node[1]}: no answer in {self.timeout_s * 1000:.0f} ms")
                continue
            except RedisUnavailable as exc:
                problems.append(str(exc))
                continue
            if isinstance(reply, RespError):
                problems.append(f"{node[0]}:{node[1]}: {reply}")
                continue
            ranges = parse_cluster_slots(reply, node)
            if ranges:
                self.slots = SlotMap(ranges)
                self.refreshes += 1
                await self._drop_unused()
                return self.slots
        raise RedisUnavailable("no cluster node gave its slot map: " + "; ".join(problems))

    async def _drop_unused(self) -> None:
        """Close the pools of nodes that no longer serve a slot (a failed-over master)."""
        serving = set(self.slots.nodes())
        for node in [node for node in self._pools if node not in serving]:
            await self._pools.pop(node).close()

    async def close(self) -> None:
        self._refresher.cancel()
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()


class AsyncSentinelClient:
    """A Sentinel-managed master for the FastAGI server: one RespPool to wherever it is now."""

    def __init__(self, topology: Topology, timeout_s: float, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.topology = topology
        self.timeout_s = timeout_s
        self.pool_size = pool_size
        self.sentinels = list(topology.nodes)
        self.master: Node | None = None
        self._pool: RespPool | None = None
        self._retired: list[RespPool] = []
        self._refresher = _Refresher(self._discover)
        self.round_trips = 0
        self.discoveries = 0

    async def pipeline(self, commands: list[list]) -> list:
        pool = self._pool
        if pool is None:
            await self._refresher.wait()
            pool = self._pool
        master = self.master
        self.round_trips += 1
        try:
            replies = await pool.pipeline(commands)
        except RedisUnavailable:
            self._lost(master)
            raise
        for reply in replies:
            if isinstance(reply, RespError) and str(reply).startswith("READONLY"):
                self._lost(master)
                raise RedisUnavailable(f"{master[0]}:{master[1]} is a replica now: {reply}")
            if transient(reply):
                raise RedisUnavailable(f"the master cannot serve this now: {reply}")
        return replies

    def _lost(self, master: Node | None) -> None:
        """The master failed: look for it again (in the background), unless already moved."""
        if master is not None and master == self.master:
            self._refresher.kick()

    async def _discover(self) -> Node:
        name = self.topology.master
        problems = []
        for sentinel in list(self.sentinels):
            pool = RespPool(f"redis://{_shown(sentinel[0])}:{sentinel[1]}/0", 1, self.timeout_s)
            try:
                async with asyncio.timeout(self.timeout_s):
                    reply = (await pool.pipeline([["SENTINEL", "GET-MASTER-ADDR-BY-NAME", name]]))[0]
            except (TimeoutError, RedisUnavailable) as exc:
                problems.append(f"sentinel {sentinel[0]}:{sentinel[1]}: {exc or 'no answer'}")
                continue
            finally:
                await pool.close()
            if isinstance(reply, list) and len(reply) == 2:
                self.sentinels.remove(sentinel)
                self.sentinels.insert(0, sentinel)
                master = (reply[0], int(reply[1]))
                self.discoveries += 1
                if master != self.master or self._pool is None:
                    if self._pool is not None:
                        self._retired.append(self._pool)
                    self.master = master
                    self._pool = RespPool(self.topology.node_url(master), self.pool_size, self.timeout_s)
                    await self._close_retired()
                return master
            problems.append(f"sentinel {sentinel[0]}:{sentinel[1]} does not know {name!r}: {reply!r:.60}")
        raise RedisUnavailable(f"no sentinel gave the address of {name!r}: " + "; ".join(problems))

    async def _close_retired(self) -> None:
        while self._retired:
            await self._retired.pop().close()

    async def close(self) -> None:
        self._refresher.cancel()
        await self._close_retired()
        if self._pool is not None:
            await self._pool.close()


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_async_client(url: str, timeout_s: float, pool_size: int = DEFAULT_POOL_SIZE):
    """AsyncClusterClient or AsyncSentinelClient for a topology URL; ValueError if malformed."""
    topology = parse_topology_url(url)
    if topology.kind == "cluster":
        return AsyncClusterClient(topology, timeout_s, pool_size)
    return AsyncSentinelClient(topology, timeout_s, pool_size)


class TopologyStore(_SpoolingStore):
    """The server's store on a cluster or behind sentinels, over the RESP pools."""

    def __init__(self, general, log: Log, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        super().__init__(general, log)
        try:
            self.client = make_async_client(general.redis_url, self.timeout_s, pool_size)
        except ValueError as exc:
            log.error("redis_url_unsupported", url_scheme=general.redis_url.partition(":")[0], error=str(exc))
            self.client = None

    async def _transport(self, commands: list[list]) -> list:
        if self.client is None:
            raise RedisUnavailable(f"unusable Redis URL: {self.general.redis_url!r}")
        return await self.client.pipeline(commands)

    async def _close_transport(self) -> None:
        if self.client is not None:
            await self.client.close()


class RedisPyTopologyStore(_SpoolingStore):
    """The same through redis-py's asyncio RedisCluster or Sentinel (`--redis-client redis-py`).

    redis-py retries cluster errors on its own; its retries are turned down to what the
    deadline allows, RESP2 asked for as in RedisPyStore, and the response callbacks of the
    commands we send replaced by the identity (raw replies, as the RESP client gives). Only
    those: RedisCluster shares the dictionary with its nodes and parses its own COMMAND and
    CLUSTER SLOTS replies through it.
    """

    def __init__(self, general, log: Log, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        super().__init__(general, log)
        from redis import exceptions

        self._errors = exceptions
        self._client = None
        try:
            topology = parse_topology_url(general.redis_url)
        except ValueError as exc:
            log.error("redis_url_unsupported", url_scheme=general.redis_url.partition(":")[0], error=str(exc))
            return
        options = {
            "username": topology.username,
            "password": topology.password,
            "decode_responses": True,
            "encoding_errors": "replace",
            "socket_timeout": self.timeout_s,
            "socket_connect_timeout": self.timeout_s,
            "protocol": 2,
        }
        if topology.kind == "cluster":
            from redis.asyncio.cluster import ClusterNode, RedisCluster

            self._client = RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in topology.nodes],
                max_connections=pool_size,
                cluster_error_retry_attempts=1,
                **options,
            )
            self._raw_only = self._client.response_callbacks
        else:
            from redis.asyncio import Redis
            from redis.asyncio.sentinel import Sentinel

            sentinel = Sentinel(
                topology.nodes,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
            )
            self._client = sentinel.master_for(
                topology.master, redis_class=Redis, db=topology.db, max_connections=pool_size, **options
            )
            self._client.response_callbacks.clear()  # as RedisPyStore: this client is ours alone
            self._raw_only = None

    async def _transport(self, commands: list[list]) -> list:
        errors = self._errors
        if self._client is None:
            raise RedisUnavailable(f"unusable Redis URL: {self.general.redis_url!r}")
        callbacks = self._raw_only
        try:
            pipe = self._client.pipeline(transaction=False)
            for command in commands:
                if callbacks is not None and callbacks.get(command[0]) is not _raw:
                    callbacks[command[0]] = _raw
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        except errors.ResponseError as exc:
            raise RedisUnavailable(f"Redis refused: {exc}") from None
        except (errors.RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis failed: {type(exc).__name__}: {exc}") from None
        except Exception as exc:  # redis-py's RedisClusterException is not a RedisError
            if type(exc).__module__.startswith("redis."):
                raise RedisUnavailable(f"Redis cluster client: {exc}") from None
            raise
        out = [_from_redis_py(reply, errors) for reply in replies]
        for reply in out:
            if transient(reply):
                raise RedisUnavailable(f"Redis cannot serve this now: {reply}")
        return out

    async def _close_transport(self) -> None:
        if self._client is None:
            return
        try:
            await self._client.aclose()
        except Exception:
            pass


def _raw(response, **_options):
    return response


def make_topology_store(general, log: Log, client: str = "resp", pool_size: int = DEFAULT_POOL_SIZE):
    """The server's store for `redis+cluster://` and `redis+sentinel://` URLs."""
    if client == "redis-py":
        return RedisPyTopologyStore(general, log, pool_size)
    return TopologyStore(general, log, pool_size)
