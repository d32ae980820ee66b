"""Figures per agent, counted exactly like the queue's: integers per arrival minute, added.

The agent who took a call is Asterisk's queue member interface (`MEMBERINTERFACE`, with the
queue's `setinterfacevar = yes`), and its display name `MEMBERNAME`. Each answered call adds a
few counters for its agent to the same KPI minute hash as the queue figures, in the same Lua
call behind the same once-only guard (store/records.py), so a replay never counts an agent
twice and any window or set of queues merges by adding integers first and dividing last.

Field names: `ag|<agent>|<counter>`, and `ag|<agent>|name|<member name>` counting the calls seen
under that name (the display name is the most frequent one). The agent and the name are
escaped so neither `|` nor `:` appears in them: the queue counters' parser splits on `:` and
ignores any name without one, so these fields never leak into a tariff's tally.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "ag"
SEP = "|"
NAME = "name"

# The counters per agent; only answered calls have an agent (kpi.counters says what each adds).
COUNTERS = (
    "answered",
    "talk_s",
    "ring_sum_ms",
    "rung",
    "premium",
    "premium_kept",
    "billable_s",
    "amount_cents",
)

MAX_AGENT = 80  # the longest interface or name kept (a field name, and a Prometheus label)

_ESCAPES = (("%", "%25"), ("|", "%7C"), (":", "%3A"))


def escape(text: str) -> str:
    """`text` as a field-name part: no `|` (our separator) nor `:` (the queue parser's)."""
    for raw, coded in _ESCAPES:
        text = text.replace(raw, coded)
    return text


def unescape(text: str) -> str:
    for raw, coded in reversed(_ESCAPES):
        text = text.replace(coded, raw)
    return text


def clean(text: str | None) -> str:
    """An interface or a member name as read from the channel: printable, bounded, or empty."""
    if not text:
        return ""
    return "".join(ch for ch in text if ch.isprintable())[:MAX_AGENT].strip()


def ring_ms(rang_at: str | None, human_ms: int | None) -> int | None:
    """Time the agent's phone rang before the answer, from the agent channel's CDR start.

    The member gosub stamps `${CDR(start,u)}` of the agent's channel (epoch seconds with
    microseconds: when app_queue created that channel to ring it). Unknown when either is
    missing or the two are not in order.
    """
    if not rang_at or human_ms is None:
        return None
    try:
        started = round(float(rang_at) * 1000)
    except ValueError:
        return None
    if started <= 0 or started > human_ms or human_ms - started > 86_400_000:
        return None
    return human_ms - started


def kpi_fields(
    agent: str,
    name: str,
    *,
    outcome: str,
    decided_tariff: str,
    tariff: str,
    talk_s: int,
    ring: int | None,
    billable_s: int,
    amount_cents: int,
) -> dict[str, int]:
    """The counters one ended call adds for its agent (nothing unless answered by a known agent)."""
    if outcome != "answered" or not agent:
        return {}
    head = f"{PREFIX}{SEP}{escape(agent)}{SEP}"
    fields = {f"{head}answered": 1}
    if talk_s:
        fields[f"{head}talk_s"] = talk_s
    if ring is not None:
        fields[f"{head}rung"] = 1
        if ring:
            fields[f"{head}ring_sum_ms"] = ring
    if decided_tariff == "premium":
        fields[f"{head}premium"] = 1
        if tariff == "premium":
            fields[f"{head}premium_kept"] = 1
    if billable_s:
        fields[f"{head}billable_s"] = billable_s
    if amount_cents:
        fields[f"{head}amount_cents"] = amount_cents
    if name:
        fields[f"{head}{NAME}{SEP}{escape(name)}"] = 1
    return fields


class AgentTally:
    """Summed counters of one agent over some minutes and queues; adding two gives the union's."""

    __slots__ = ("counts", "names")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.names: dict[str, int] = {}

    def __getitem__(self, name: str) -> int:
        return self.counts.get(name, 0)

    def add(self, other: AgentTally) -> AgentTally:
        for key, value in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        for key, value in other.names.items():
            self.names[key] = self.names.get(key, 0) + value
        return self

    @property
    def name(self) -> str:
        """The member name seen most often (ties: the first in alphabetical order), or empty."""
        if not self.names:
            return ""
        return min(self.names.items(), key=lambda item: (-item[1], item[0]))[0]


def accumulate(into: dict[str, AgentTally], fields: Mapping[str, str | bytes]) -> dict[str, AgentTally]:
    """Add one minute hash's agent fields into per-agent tallies (in place) and return them.
    Fields that are not ours or whose value is not an integer are skipped."""
    marker = PREFIX + SEP
    for raw_name, raw_value in fields.items():
        name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
        if not name.startswith(marker):
            continue
        parts = name.split(SEP)
        try:
            value = int(raw_value)
        except (TypeError, ValueError):
            continue
        if len(parts) == 3:
            tally = into.setdefault(unescape(parts[1]), AgentTally())
            tally.counts[parts[2]] = tally.counts.get(parts[2], 0) + value
        elif len(parts) == 4 and parts[2] == NAME:
            tally = into.setdefault(unescape(parts[1]), AgentTally())
            member = unescape(parts[3])
            tally.names[member] = tally.names.get(member, 0) + value
    return into


def merge(into: dict[str, AgentTally], more: Mapping[str, AgentTally]) -> dict[str, AgentTally]:
    for agent, tally in more.items():
        into.setdefault(agent, AgentTally()).add(tally)
    return into


def figures(tally: AgentTally) -> dict:
    """The published figures of one agent (None where a denominator is zero)."""
    answered = tally["answered"]
    rung = tally["rung"]
    premium = tally["premium"]
    return {
        "name": tally.name,
        "answered": answered,
        "talk_min": tally["talk_s"] / 60,
        "talk_s": tally["talk_s"],
        "talk_mean_s": tally["talk_s"] / answered if answered else None,
        "ring_mean_s": tally["ring_sum_ms"] / rung / 1000 if rung else None,
        "premium_answered": premium,
        "premium_kept": tally["premium_kept"],
        "premium_kept_rate": tally["premium_kept"] / premium if premium else None,
        "billable_min": tally["billable_s"] / 60,
        "amount": tally["amount_cents"] / 100,
        "amount_cents": tally["amount_cents"],
    }


def summarize(by_agent: Mapping[str, AgentTally]) -> dict[str, dict]:
    """{agent: figures}, agents in alphabetical order of their interface."""
    return {agent: figures(by_agent[agent]) for agent in sorted(by_agent)}
