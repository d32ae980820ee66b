"""Per-agent counters: any interface or member name round-trips, never touches the queue figures,
and agent tallies merge by adding, whatever the grouping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from premium_hotline.core import agents, kpi

names = st.text(min_size=1, max_size=40).filter(lambda t: agents.clean(t) == t)


def fields_for(agent: str, name: str, **overrides) -> dict[str, str]:
    values = dict(
        outcome="answered",
        decided_tariff="premium",
        tariff="premium",
        talk_s=42,
        ring=2_000,
        billable_s=42,
        amount_cents=56,
    )
    values.update(overrides)
    return {k: str(v) for k, v in agents.kpi_fields(agent, name, **values).items()}


@given(names, names)
def test_any_agent_and_name_round_trip_and_stay_out_of_the_queue_figures(agent, name):
    fields = fields_for(agent, name)
    assert all(":" not in field for field in fields)
    assert kpi.parse_minute(fields) == {}
    crew = agents.accumulate({}, fields)
    assert list(crew) == [agent]
    assert crew[agent].name == name
    assert crew[agent]["answered"] == 1 and crew[agent]["ring_sum_ms"] == 2_000


@given(
    st.lists(st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 600), st.booleans()), max_size=30),
    st.integers(0, 30),
)
def test_agent_tallies_merge_exactly_however_the_minutes_are_split(calls, cut):
    minutes = [
        fields_for(a, a.lower(), talk_s=t, decided_tariff="premium" if p else "free") for a, t, p in calls
    ]
    whole = {}
    for minute in minutes:
        agents.accumulate(whole, minute)
    left, right = {}, {}
    for minute in minutes[:cut]:
        agents.accumulate(left, minute)
    for minute in minutes[cut:]:
        agents.accumulate(right, minute)
    merged = agents.merge(agents.merge({}, left), right)
    assert agents.summarize(merged) == agents.summarize(whole)


def test_only_answered_calls_with_a_known_agent_count():
    assert (
        agents.kpi_fields(
            "",
            "x",
            outcome="answered",
            decided_tariff="free",
            tariff="free",
            talk_s=1,
            ring=None,
            billable_s=0,
            amount_cents=0,
        )
        == {}
    )
    assert fields_for("PJSIP/1001", "Zoé", outcome="abandoned") == {}


def test_a_downgraded_premium_call_is_answered_premium_but_not_kept():
    crew = agents.accumulate({}, fields_for("PJSIP/1001", "", tariff="free", billable_s=0, amount_cents=0))
    figures = agents.figures(crew["PJSIP/1001"])
    assert figures["premium_answered"] == 1 and figures["premium_kept"] == 0
    assert figures["premium_kept_rate"] == 0


def test_the_ring_time_comes_from_the_agent_channel_s_cdr_start():
    assert agents.ring_ms("1796195996.451561", 1796195998455) == 2003
    assert agents.ring_ms("", 1796195998455) is None
    assert agents.ring_ms("garbage", 1796195998455) is None
    assert agents.ring_ms("1796195999.0", 1796195998455) is None  # after the answer: not a ring
    assert agents.ring_ms("1796195996.4", None) is None
