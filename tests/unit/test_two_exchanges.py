"""Each route talks to Asterisk twice: one GET FULL VARIABLE for all it reads, one SET for all it sets.

Every round trip is paid by Asterisk's channel thread and by us in system calls and wake-ups,
so the count is part of the contract, through both sessions (plain script and FastAGI alike).
"""

from __future__ import annotations

import pytest

from sandbox.agi_peer import ChannelModel, channel_in_call, default_env, one_number_config, parse_args
from tests.support.inprocess import run_route

T = 1_800_000_000_000
TRANSPORTS = ("plain", "fastagi")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return one_number_config(tmp_path_factory.mktemp("two"))


def channel(route: str, **variables: str) -> ChannelModel:
    model = channel_in_call(route, T)
    model.variables.update(variables)
    return model


def exchanges(route: str, model: ChannelModel, config, transport: str):
    outcome = run_route(route, default_env(), lambda line: [model.reply(line)], config, T, transport)
    assert outcome.error is None, outcome.error
    assert outcome.store.writes, "the route wrote its record"
    return [parse_args(line)[:2] for line in outcome.lines]


CASES = {
    "decide_tariff": {},
    "decide_tariff, no arrival stamp yet": {"PH_ARRIVED_MS": ""},
    "agent_answered": {},
    "agent_answered, commitment breached": {"PH_COMMITMENT_S": "1"},
    "call_ended": {},
}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", CASES)
def test_each_route_reads_once_and_sets_once(config, case, transport):
    route = case.split(",")[0]
    assert exchanges(route, channel(route, **CASES[case]), config, transport) == [
        ["GET", "FULL"],
        ["SET", "VARIABLE"],
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_variable_of_a_decision_arrives_through_the_one_set(config, transport):
    model = channel("decide_tariff", PH_ARRIVED_MS="")
    exchanges("decide_tariff", model, config, transport)
    names = [name for name, _ in model.sets]
    assert {
        "PH_TARIFF",
        "PH_REASON",
        "PH_RATE",
        "PH_QUEUE",
        "PH_DID",
        "PH_ARRIVED_MS",
        "CDR(userfield)",
    } <= set(names)
    assert model.variables["PH_TARIFF"] == "premium"
    assert (
        model.variables["CDR(userfield)"] == "ph;tariff=premium;reason=premium;rate=0.80/min;did=0899123456"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_members_logged_in_but_not_ready_cost_one_more_read_for_their_pause_flags(config, transport):
    # QUEUE_MEMBER(q,paused) needs each member's interface, known only from the first reply.
    model = channel("decide_tariff")
    model.functions.update(
        {
            "QUEUE_MEMBER(support,logged)": "3",
            "QUEUE_MEMBER_LIST(support)": "Local/a@agents/n,Local/b@agents/n,Local/c@agents/n",
        }
    )
    assert exchanges("decide_tariff", model, config, transport) == [
        ["GET", "FULL"],
        ["GET", "FULL"],
        ["SET", "VARIABLE"],
    ]
