"""The `stats` report as plain data: what `--json` prints and what the table shows.

Kept apart from the command so tests, the plot and scripts get the same numbers the operator
sees, computed by core/kpi.py from one read of the window.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ..core import agents, kpi
from ..store.keys import Keys
from . import reader
from .window import Window


def _iso(epoch_ms: int, tz: str) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, ZoneInfo(tz)).isoformat(timespec="seconds")


def build(
    client, general, window: Window, *, now_ms: int, queues: list[str] | None = None, by_agent: bool = False
) -> dict:
    """Read the window and the waiting sets, and return the report (JSON-ready). With
    `by_agent`, the figures per agent too (from the same read of the minutes)."""
    keys = Keys(general.key_prefix)
    names = reader.list_queues(client, keys, queues)
    if by_agent:
        by_queue, crews = reader.read_window_and_agents(client, keys, names, window)
    else:
        by_queue, crews = reader.read_window(client, keys, names, window), None
    waiting = reader.read_waiting(client, keys, names, now_ms)
    out = assemble(general, window, by_queue, waiting, now_ms=now_ms)
    if crews is not None:
        add_agents(out, crews)
    return out


def add_agents(report: dict, crews: dict[str, dict]) -> dict:
    """Per-agent figures into the report: under each queue, and merged over queues at the top."""
    everyone: dict = {}
    for queue, crew in crews.items():
        if queue in report["queues"]:
            report["queues"][queue]["agents"] = agents.summarize(crew)
        agents.merge(everyone, crew)
    report["agents"] = agents.summarize(everyone)
    return report


def assemble(general, window: Window, by_queue: dict, waiting: dict, *, now_ms: int) -> dict:
    """The report from already-read tallies (pure: used by `build` and by tests)."""
    tz = general.timezone
    queues = {}
    grand: dict[str, kpi.Tally] = {}
    for queue in sorted(by_queue):
        tallies = by_queue[queue]
        kpi.add_by_tariff(grand, tallies)
        entry = kpi.summarize(tallies)
        entry["waiting"] = waiting[queue].as_dict(now_ms) if queue in waiting else {"count": 0}
        queues[queue] = entry
    total = kpi.summarize(grand)
    longest = [w.longest_wait_s(now_ms) for w in waiting.values() if w.oldest_ms is not None]
    total["waiting"] = {
        "count": sum(w.count for w in waiting.values()),
        "longest_wait_s": max(longest) if longest else None,
    }
    return {
        "window": {
            "start": _iso(window.start_ms, tz),
            "end": _iso(window.end_ms, tz),
            "start_ms": window.start_ms,
            "end_ms": window.end_ms,
            "minutes": len(range(window.start_ms, window.end_ms, 60_000)),
            "timezone": tz,
            "label": window.label,
            "by": "arrival minute",
        },
        "generated_at": _iso(now_ms, tz),
        "settings": {
            "service_level_s": general.service_level_s,
            "short_abandon_s": general.short_abandon_s,
            "commitment_s": general.commitment_s,
        },
        "percentile_error": kpi.error_bound(),
        "queues": queues,
        "total": total,
    }
