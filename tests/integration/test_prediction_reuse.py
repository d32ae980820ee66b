"""A FastAGI server deciding many calls a second reuses one prediction per queue state and second,
instead of reading Redis and running the predictor on its event loop for every call."""

from __future__ import annotations

from premium_hotline.agi.protocol import format_command, parse_200
from premium_hotline.agi.session import AgiSession, run_sync
from premium_hotline.config import load_config
from premium_hotline.log import Log
from premium_hotline.routes import decide_tariff
from premium_hotline.routes.call import Call
from premium_hotline.store.backend import PlainStore
from sandbox.agi_peer import ChannelModel, default_env

READY = {
    "QUEUE_MEMBER(support,ready)": "2",
    "QUEUE_MEMBER(support,logged)": "2",
    "QUEUE_WAITING_COUNT(support)": "0",
}


class ModelSession(AgiSession):
    """An in-process AGI session answered by a ChannelModel, through the real wire format."""

    def __init__(self, channel: ChannelModel, env: dict[str, str]) -> None:
        self.channel = channel
        self.env = env

    async def get(self, expression: str) -> str:
        return parse_200(self.channel.reply(format_command("GET FULL VARIABLE", expression)[:-1])).data

    async def set(self, name: str, value: object) -> None:
        self.channel.reply(format_command("SET VARIABLE", name, value)[:-1])

    async def close(self) -> None:
        pass


def lrange_calls(client) -> int:
    return int(client.info("commandstats").get("cmdstat_lrange", {}).get("calls", 0))


def decide(config, clock_ms: int, uid: str) -> str:
    channel = ChannelModel(functions=READY, clock_ms=lambda: clock_ms)
    call = Call(
        ModelSession(channel, default_env(uniqueid=uid)),
        PlainStore(config.general, Log()),
        config,
        Log(),
        clock_ms=lambda: clock_ms,
    )
    run_sync(decide_tariff.handle(call))
    return channel.variables["PH_TARIFF"]


def test_one_redis_read_per_queue_state_and_second(redis_server, redis_url, write_config):
    config = load_config(
        write_config("[0899123456]\nqueue = support\nrate = 0.80/min\n", redis_url=redis_url)
    )
    client = redis_server.client()
    client.config_resetstat()
    decide_tariff._PREDICTIONS.clear()
    decide_tariff._FIGURES.clear()
    t0 = 1_795_000_000_000
    assert [decide(config, t0 + offset, f"1.{offset}") for offset in (0, 300, 900)] == ["premium"] * 3
    assert lrange_calls(client) == 3  # one pipeline of three lists, for three calls
    decide(config, t0 + 1500, "1.1500")
    assert lrange_calls(client) == 6  # a second later the figures are read again
