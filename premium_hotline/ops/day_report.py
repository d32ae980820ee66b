"""The day's proof for billing and audit: per number and tariff, from the per-call records.

`summarize` counts the day's ended calls (pure: records in, plain numbers out); `render` writes
one self-contained HTML page (styles inline, charts as inline SVG, nothing fetched from
anywhere) in French or English. Every number in it is a count or a sum over the listed calls,
so an auditor can recount any cell from the per-call appendix, and each broken commitment is
listed with its call. Percentiles here are exact (nearest rank over the day's calls), not the
bucketed ones of the live KPIs.

Money is summed in cents from the records' own `0.00` texts: the report never re-rates a call.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import Counter
from zoneinfo import ZoneInfo

from .calls import as_int, cents
from .i18n import name

ENDED_OUTCOMES = ("answered", "abandoned", "short_abandon", "unanswered", "lost")


def nearest_rank(values: list[int], q: float) -> int | None:
    """The smallest value with at least a share q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(q * len(ordered), 9))) - 1]


def _group() -> dict:
    return {
        "calls": 0,
        "offered": 0,
        **{outcome: 0 for outcome in ENDED_OUTCOMES},
        "tth_ms": [],
        "premium_offered": 0,
        "kept": 0,
        "broken": 0,
        "billable_s": 0,
        "billed_cents": 0,
        "refund_cents": 0,
        "wire_billable_s": 0,
        "rates": set(),
        "sites": set(),
        "ivr": 0,
        "ready": [],
        "p_within": [],
        "reasons": Counter(),
    }


def _add(group: dict, record: dict) -> None:
    outcome = record["outcome"]
    group["calls"] += 1
    if outcome != "short_abandon":
        group["offered"] += 1
    group[outcome] = group.get(outcome, 0) + 1
    if outcome == "answered" and record.get("time_to_human_ms"):
        group["tth_ms"].append(as_int(record["time_to_human_ms"]))
    broken = record.get("sla_breached") == "1"
    if record.get("decided_tariff") == "premium":
        group["premium_offered"] += outcome != "short_abandon"
        group["kept"] += outcome == "answered" and not broken
    group["broken"] += broken
    group["billable_s"] += as_int(record.get("billable_s"))
    group["billed_cents"] += cents(record.get("amount"))
    group["refund_cents"] += cents(record.get("refund_due"))
    group["wire_billable_s"] += as_int(record.get("wire_billable_s"))
    if record.get("rate"):
        group["rates"].add(record["rate"])
    if record.get("site"):
        group["sites"].add(record["site"])
    group["ivr"] += record.get("ivr") == "1"
    if record.get("ready", "").isdigit():
        group["ready"].append(int(record["ready"]))
    try:
        group["p_within"].append(float(record["p_within"]))
    except (KeyError, ValueError):
        pass
    group["reasons"][record.get("decided_reason") or "-"] += 1


def _finish(group: dict) -> dict:
    tth = group["tth_ms"]
    out = dict(group)
    out["tth_mean_s"] = sum(tth) / len(tth) / 1000 if tth else None
    out["tth_p90_s"] = nearest_rank(tth, 0.9) / 1000 if tth else None
    out["rates"] = sorted(group["rates"])
    out["sites"] = sorted(group["sites"])
    out["ready_min"] = min(group["ready"]) if group["ready"] else None
    out["ready_max"] = max(group["ready"]) if group["ready"] else None
    p = group["p_within"]
    out["p_within_mean"] = sum(p) / len(p) if p else None
    out["p_within_min"] = min(p) if p else None
    out["reasons"] = dict(sorted(group["reasons"].items()))
    del out["tth_ms"], out["ready"], out["p_within"]
    out["tth_count"] = len(tth)
    return out


def summarize(records: list[dict]) -> dict:
    """The report's numbers: per (number, decided tariff), totals, the broken list, open calls."""
    groups: dict[tuple[str, str], dict] = {}
    total = _group()
    ended, broken, still_open = [], [], 0
    for record in records:
        if record.get("outcome") not in ENDED_OUTCOMES:
            still_open += 1
            continue
        ended.append(record)
        key = (record.get("did", ""), record.get("decided_tariff") or "free")
        _add(groups.setdefault(key, _group()), record)
        _add(total, record)
        if record.get("sla_breached") == "1":
            broken.append(record)
    return {
        "groups": {key: _finish(group) for key, group in sorted(groups.items())},
        "total": _finish(total),
        "broken": broken,
        "calls": ended,
        "still_open": still_open,
    }


# ---- HTML ------------------------------------------------------------------------------------

STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111; margin: 2em;
  max-width: 1400px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 2px solid #333; }
p.meta { color: #333; margin: 0.2em 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #999; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
th { background: #e5e7eb; } td.text, th.text { text-align: left; }
tr.total td { font-weight: bold; background: #f3f4f6; }
.figure svg { max-width: 100%; height: auto; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _money(cents_value: int, lang: str) -> str:
    text = f"{cents_value / 100:,.2f}"
    if lang == "fr":
        return text.replace(",", "\u202f").replace(".", ",") + " €"
    return "€" + text


def _seconds(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value:.1f} s"
    return text.replace(".", ",") if lang == "fr" else text


def _share(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value:.3f}"
    return text.replace(".", ",") if lang == "fr" else text


def _local(epoch_ms: str | int | None, tz: str) -> str:
    ms = as_int(epoch_ms)
    if not ms:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%H:%M:%S")


def _cell(key: str, value, text: str | None = None, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (
        f'<td data-figure="{key}" data-value="{_e(value)}"{klass}>{_e(value if text is None else text)}</td>'
    )


def _group_row(key: tuple[str, str] | None, g: dict, lang: str) -> str:
    did, tariff = key if key else (name("totals", lang), "")
    attrs = f' data-did="{_e(did)}" data-tariff="{_e(tariff)}"' if key else ' class="total" data-total="1"'
    tariff_text = name(tariff, lang) if tariff in ("premium", "free") else tariff
    cells = [
        f'<td class="text">{_e(did)}</td>',
        f'<td class="text">{_e(tariff_text)}</td>',
        f'<td class="text">{_e(", ".join(g["rates"]))}</td>',
        _cell("calls", g["calls"]),
        _cell("offered", g["offered"]),
        _cell("answered", g["answered"]),
        _cell("abandoned", g["abandoned"]),
        _cell("short_abandoned", g["short_abandon"]),
        _cell("unanswered", g["unanswered"]),
        _cell("lost", g["lost"]),
        _cell("tth_mean_s", g["tth_mean_s"], _seconds(g["tth_mean_s"], lang)),
        _cell("tth_p90_s", g["tth_p90_s"], _seconds(g["tth_p90_s"], lang)),
        _cell("commitments_kept", g["kept"]),
        _cell("commitments_broken", g["broken"]),
        _cell("billable_s", g["billable_s"]),
        _cell("billed_cents", g["billed_cents"], _money(g["billed_cents"], lang)),
        _cell("refund_cents", g["refund_cents"], _money(g["refund_cents"], lang)),
    ]
    return f"<tr{attrs}>{''.join(cells)}</tr>"


def _criteria_row(key: tuple[str, str], g: dict, lang: str) -> str:
    did, tariff = key
    ready = "–" if g["ready_min"] is None else f"{g['ready_min']}–{g['ready_max']}"
    reasons = ", ".join(f"{reason} × {count}" for reason, count in g["reasons"].items())
    return (
        f'<tr data-did="{_e(did)}" data-tariff="{_e(tariff)}"><td class="text">{_e(did)}</td>'
        f'<td class="text">{_e(name(tariff, lang) if tariff in ("premium", "free") else tariff)}</td>'
        f'<td class="text">{_e(", ".join(g["sites"]) or "–")}</td>'
        + _cell("ivr", g["ivr"], f"{g['ivr']} / {g['calls']}")
        + _cell("ready", ready)
        + _cell("p_within_mean", g["p_within_mean"], _share(g["p_within_mean"], lang))
        + _cell("p_within_min", g["p_within_min"], _share(g["p_within_min"], lang))
        + f'<td class="text">{_e(reasons)}</td></tr>'
    )


def _call_row(record: dict, tz: str, lang: str) -> str:
    yes, no = name("yes", lang), name("no", lang)
    tth = as_int(record.get("time_to_human_ms")) if record.get("time_to_human_ms") else None
    wait = tth if tth is not None else as_int(record.get("wait_ms"))
    return (
        f'<tr data-uniqueid="{_e(record.get("uniqueid", ""))}">'
        f'<td class="text">{_e(_local(record.get("arrived_at"), tz))}</td>'
        f'<td class="text">{_e(record.get("uniqueid", ""))}</td>'
        f'<td class="text">{_e(record.get("did", ""))}</td>'
        f'<td class="text">{_e(record.get("decided_tariff", ""))}</td>'
        f'<td class="text">{_e(record.get("decided_reason", ""))}</td>'
        f'<td class="text">{_e(record.get("site", ""))}</td>'
        f'<td class="text">{yes if record.get("ivr") == "1" else no if record.get("ivr") == "0" else ""}</td>'
        f"<td>{_e(record.get('ready', ''))}</td><td>{_e(record.get('p_within', ''))}</td>"
        f"<td>{_e(record.get('commitment_s', ''))}</td>"
        f"<td>{_e(_seconds(wait / 1000 if wait is not None else None, lang))}</td>"
        f'<td class="text">{_e(record.get("outcome", ""))}</td>'
        f'<td class="text">{_e(record.get("agent_name") or record.get("agent") or "")}</td>'
        f'<td class="text">{_e(record.get("tariff", ""))}</td>'
        f"<td>{_e(record.get('billable_s', ''))}</td>"
        f"<td>{_e(_money(cents(record.get('amount')), lang))}</td>"
        f"<td>{_e(_money(cents(record.get('refund_due')), lang))}</td></tr>"
    )


def render(summary: dict, *, day: str, tz: str, lang: str, generated_at: str, charts_svg: str = "") -> str:
    """The whole report as one HTML document."""
    n = lambda key: _e(name(key, lang))  # noqa: E731
    head_groups = (
        f'<tr><th class="text">{n("number")}</th><th class="text">{n("tariff")}</th>'
        f'<th class="text">{n("rate")}</th>'
        f"<th>{n('calls')}</th><th>{n('offered')}</th><th>{n('answered')}</th><th>{n('abandoned')}</th>"
        f"<th>{n('short_abandoned')}</th><th>{n('unanswered')}</th><th>{n('lost')}</th>"
        f"<th>{n('tth_mean_s')}</th><th>{n('tth_p90_s')}</th><th>{n('commitments_kept')}</th>"
        f"<th>{n('commitments_broken')}</th><th>{n('billable_min')} (s)</th><th>{n('billed')}</th>"
        f"<th>{n('refunded')}</th></tr>"
    )
    groups = summary["groups"]
    rows = "".join(_group_row(key, g, lang) for key, g in groups.items())
    rows += _group_row(None, summary["total"], lang)
    criteria_head = (
        f'<tr><th class="text">{n("number")}</th><th class="text">{n("tariff")}</th>'
        f'<th class="text">{n("site")}</th><th>{n("ivr")}</th><th>{n("ready")}</th>'
        f"<th>{n('p_within')} (moy./mean)</th><th>{n('p_within')} (min)</th>"
        f'<th class="text">{n("reason")}</th></tr>'
    )
    criteria = "".join(_criteria_row(key, g, lang) for key, g in groups.items())
    calls_head = (
        f'<tr><th class="text">{n("arrived")}</th><th class="text">uniqueid</th>'
        f'<th class="text">{n("number")}</th><th class="text">{n("tariff")}</th>'
        f'<th class="text">{n("reason")}</th><th class="text">{n("site")}</th>'
        f'<th class="text">{n("ivr")}</th><th>{n("ready")}</th><th>{n("p_within")}</th>'
        f"<th>{n('commitment')} (s)</th><th>{n('wait')}</th>"
        f'<th class="text">{n("outcome")}</th><th class="text">{n("agent")}</th>'
        f'<th class="text">{n("tariff")} final</th><th>{n("billable_min")} (s)</th><th>{n("billed")}</th>'
        f"<th>{n('refunded')}</th></tr>"
    )
    broken = "".join(_call_row(r, tz, lang) for r in summary["broken"])
    broken_html = (
        f'<table id="broken">{calls_head}{broken}</table>' if broken else f'<p id="broken">{n("none")}</p>'
    )
    calls = "".join(_call_row(r, tz, lang) for r in summary["calls"])
    total = summary["total"]
    still_open = summary["still_open"]
    open_note = (
        f"<p class='meta' id='still-open' data-value='{still_open}'>"
        + (
            f"{still_open} appel(s) encore en cours, non comptés."
            if lang == "fr"
            else f"{still_open} call(s) still in progress, not counted."
        )
        + "</p>"
    )
    figure = f'<h2>{n("charts")}</h2><div class="figure">{charts_svg}</div>' if charts_svg else ""
    return f"""<!doctype html>
<html lang="{_e(lang)}"><head><meta charset="utf-8"><title>{n("report_title")} {_e(day)}</title>
<style>{STYLE}</style></head><body>
<h1>{n("report_title")} — {_e(day)}</h1>
<p class="meta">{_e(tz)} · {n("generated")} {_e(generated_at)}</p>
<p class="meta">{n("source")}</p>
{open_note}
<h2>{n("totals")}</h2>
<table id="totals"><tr><th class="text">{n("calls")}</th><td data-figure="calls">{total["calls"]}</td></tr>
<tr><th class="text">{n("answered")}</th><td data-figure="answered">{total["answered"]}</td></tr>
<tr><th class="text">{n("commitments_kept")}</th><td data-figure="commitments_kept">{total["kept"]}</td></tr>
<tr><th class="text">{n("commitments_broken")}</th><td data-figure="commitments_broken">{
        total["broken"]
    }</td></tr>
<tr><th class="text">{n("billed")}</th><td data-figure="billed_cents" data-value="{total["billed_cents"]}">{
        _e(_money(total["billed_cents"], lang))
    }</td></tr>
<tr><th class="text">{n("refunded")}</th><td data-figure="refund_cents" data-value="{total["refund_cents"]}">{
        _e(_money(total["refund_cents"], lang))
    }</td></tr></table>
<h2>{n("number")} · {n("tariff")}</h2>
<table id="groups">{head_groups}{rows}</table>
<h2>{n("criteria")}</h2>
<table id="criteria">{criteria_head}{criteria}</table>
<h2>{n("broken_list")}</h2>
{broken_html}
{figure}
<h2>{n("calls")}</h2>
<table id="calls">{calls_head}{calls}</table>
</body></html>
"""
