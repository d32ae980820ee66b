"""The wallboard: today's figures per queue for a screen on the wall, served by the plugin itself.

What a viewer gets is one snapshot, built at most once per refresh interval whatever the number
of screens and browsers looking: `SnapshotCache` holds it, and the first request after it goes
stale rebuilds it while the others wait for that one read (one pipeline per queue for today's
minutes, one for the waiting sets: the same reads as `stats --by agent`). So Redis work per
interval is bounded by the number of queues, never by the number of viewers. Nothing here
writes to Redis.

The page (`page`) has no asset from outside, not even a font: it must work on a PBX with no
internet. Its script fetches `/data.json` every few seconds and redraws in place, with every
value written through `textContent` (a queue or member name is never HTML). Each figure past
its threshold (`alert_<figure>` in the config) is drawn in colour: red past it, amber close to
it (from 80 % of a ceiling, within 5 points above a floor).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from zoneinfo import ZoneInfo

from ..config import ALERT_BELOW
from ..core import kpi
from . import i18n
from . import report as report_module
from .window import Window, local_midnight_ms

# The figures of each queue's tiles, in the order shown.
FIGURES = (
    "waiting",
    "longest_wait_s",
    "offered",
    "answered",
    "abandoned",
    "asa_s",
    "service_level",
    "tth_p90_s",
    "premium_share",
    "commitments_broken",
    "refunds_due",
    "lost",
)
AGENT_FIGURES = ("agent_answered", "agent_talk_min", "ring_mean_s", "premium_kept")
WARN_SHARE = 0.8  # amber from 80 % of a "high is bad" threshold
FLOOR_MARGIN = 0.05  # amber within 5 points above a floor (service level, premium share)


def level(figure: str, value: float | None, alerts: dict[str, float]) -> str:
    """`alert`, `warn`, `ok`, or `none` (no value, or no threshold) for one figure."""
    threshold = alerts.get(figure, 0)
    if value is None or not threshold:
        return "none"
    if figure in ALERT_BELOW:
        if value < threshold:
            return "alert"
        return "warn" if value < threshold + FLOOR_MARGIN else "ok"
    if value >= threshold:
        return "alert"
    return "warn" if value >= WARN_SHARE * threshold else "ok"


def queue_figures(tallies: dict[str, kpi.Tally], waiting: dict, summary: dict) -> dict:
    """One queue's tile values: today's figures of all calls, the waiting now, and the
    counters other features add (refunds, lost calls), 0 when no call carried them."""
    total = kpi.merged(tallies.values())
    everyone = summary[kpi.ALL]
    return {
        "waiting": waiting.get("count", 0),
        "longest_wait_s": waiting.get("longest_wait_s"),
        "offered": everyone["offered"],
        "answered": everyone["answered"],
        "abandoned": everyone["abandoned"],
        "abandon_rate": everyone["abandon_rate"],
        "asa_s": everyone["asa_s"],
        "service_level": everyone["service_level"],
        "tth_p90_s": everyone["tth_p90_s"],
        "premium_share": everyone["premium_share"],
        "commitments_broken": everyone["commitments_broken"],
        "refunds_due": total["refund_cents"] / 100,
        "refund_cents": total["refund_cents"],
        "lost": total["lost"],
    }


def snapshot(client, general, *, now_ms: int) -> dict:
    """Today's wallboard data (JSON-ready): one read of the minutes and the waiting sets."""
    from ..store.keys import Keys
    from . import reader

    keys = Keys(general.key_prefix)
    span = Window(local_midnight_ms(now_ms, general.timezone), now_ms + 1, "today")
    names = reader.list_queues(client, keys)
    by_queue, crews = reader.read_window_and_agents(client, keys, names, span)
    waiting = reader.read_waiting(client, keys, names, now_ms)
    stats = report_module.assemble(general, span, by_queue, waiting, now_ms=now_ms)
    report_module.add_agents(stats, crews)
    return assemble(general, by_queue, stats, now_ms=now_ms)


def assemble(general, by_queue: dict, stats: dict, *, now_ms: int) -> dict:
    """The snapshot from `stats` (report.assemble with agents) and the raw tallies (pure)."""
    alerts = general.alerts
    queues = {}
    for queue, entry in stats["queues"].items():
        figures = queue_figures(by_queue.get(queue, {}), entry["waiting"], entry)
        crew = [
            {
                "agent": agent,
                "name": f["name"],
                "agent_answered": f["answered"],
                "agent_talk_min": f["talk_min"],
                "ring_mean_s": f["ring_mean_s"],
                "premium_kept": f["premium_kept"],
                "premium_answered": f["premium_answered"],
            }
            for agent, f in entry.get("agents", {}).items()
        ]
        crew.sort(key=lambda row: (-row["agent_answered"], row["agent"]))
        queues[queue] = {
            "figures": figures,
            "levels": {figure: level(figure, figures[figure], alerts) for figure in FIGURES},
            "agents": crew,
        }
    zone = ZoneInfo(general.timezone)
    return {
        "ok": True,
        "error": None,
        "generated_ms": now_ms,
        "generated_at": dt.datetime.fromtimestamp(now_ms / 1000, zone).isoformat(timespec="seconds"),
        "day_start_ms": stats["window"]["start_ms"],
        "timezone": general.timezone,
        "thresholds": {figure: alerts.get(figure, 0) for figure in FIGURES},
        "queues": queues,
    }


class SnapshotCache:
    """One snapshot per interval, shared by every viewer.

    `get()` returns the cached snapshot while it is younger than `interval_s`; the first
    caller after that rebuilds it under a lock, and callers arriving meanwhile wait for that
    build rather than starting their own. A failed build keeps the last good snapshot, marked
    `ok: false` with the error, so a screen shows stale figures as stale rather than going blank;
    the failure is cached for the interval too (a dead Redis is not hammered by every viewer).
    """

    def __init__(self, build, interval_s: float, clock=time.monotonic) -> None:
        self._build = build
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: dict | None = None
        self._body: bytes = b""
        self._at = float("-inf")
        self.builds = 0

    def get(self) -> tuple[dict, bytes]:
        """(snapshot, its JSON bytes)."""
        if self._clock() - self._at < self.interval_s:
            return self._value, self._body
        with self._lock:
            if self._clock() - self._at < self.interval_s:
                return self._value, self._body
            self.builds += 1
            try:
                value = self._build()
            except Exception as exc:  # any read failure: keep the last figures, say why
                value = dict(self._value or {"queues": {}, "generated_ms": None})
                value.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
            self._value = value
            self._body = json.dumps(value, ensure_ascii=False).encode()
            self._at = self._clock()
            return self._value, self._body


PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style nonce="{nonce}">
  :root {{ color-scheme: dark; }}
  html, body {{ margin: 0; background: #000; color: #fff;
    font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; }}
  header {{ display: flex; justify-content: space-between; align-items: baseline;
    padding: 1.2vh 2vw; border-bottom: 0.4vh solid #444; }}
  h1 {{ font-size: 3.2vw; margin: 0; font-weight: 700; }}
  #clock {{ font-size: 2.4vw; font-variant-numeric: tabular-nums; }}
  #status {{ font-size: 1.8vw; padding: 0.6vh 2vw; background: #b91c1c; color: #fff; display: none; }}
  #status.shown {{ display: block; }}
  section.queue {{ padding: 1.2vh 2vw 1.5vh; border-bottom: 0.4vh solid #333; }}
  h2 {{ font-size: 2.4vw; margin: 0 0 0.8vh; color: #fde047; }}
  .tiles {{ display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 1vw; }}
  .tile {{ background: #1f2937; border-radius: 0.8vw; padding: 0.8vh 0.9vw; min-height: 11vh;
    display: flex; flex-direction: column; justify-content: space-between; }}
  .tile .label {{ font-size: 1.35vw; line-height: 1.15; color: #e5e7eb; }}
  .tile .value {{ font-size: 3.9vw; font-weight: 800; font-variant-numeric: tabular-nums;
    text-align: right; line-height: 1.05; white-space: nowrap; }}
  .tile .value.long {{ font-size: 2.9vw; }}
  .tile[data-level="warn"] {{ background: #b45309; }}
  .tile[data-level="alert"] {{ background: #b91c1c; }}
  .tile[data-level="warn"] .label, .tile[data-level="alert"] .label {{ color: #fff; }}
  table.agents {{ width: 100%; border-collapse: collapse; margin-top: 1.2vh; font-size: 1.9vw; }}
  table.agents th {{ text-align: right; font-weight: 600; color: #d1d5db; font-size: 1.5vw;
    border-bottom: 0.2vh solid #555; padding: 0.4vh 0.8vw; }}
  table.agents td {{ text-align: right; padding: 0.4vh 0.8vw; font-variant-numeric: tabular-nums; }}
  table.agents th:first-child, table.agents td:first-child {{ text-align: left; }}
  table.agents tr:nth-child(even) td {{ background: #111827; }}
  .empty {{ font-size: 2vw; color: #9ca3af; padding: 1vh 0; }}
</style>
</head>
<body>
<header><h1 id="title">{title}</h1><div id="clock" data-generated=""></div></header>
<div id="status" role="alert"></div>
<main id="board"></main>
<script nonce="{nonce}">
"use strict";
const LANG = {lang_json};
const T = {labels};
const FIGURES = {figures};
const AGENT_FIGURES = {agent_figures};
const REFRESH_MS = {refresh_ms};
const locale = LANG === "fr" ? "fr-FR" : "en-GB";
const num = new Intl.NumberFormat(locale, {{ maximumFractionDigits: 0 }});
const dec = new Intl.NumberFormat(locale, {{ maximumFractionDigits: 1, minimumFractionDigits: 1 }});
const pct = new Intl.NumberFormat(locale, {{ style: "percent", maximumFractionDigits: 0 }});
const eur = new Intl.NumberFormat(locale, {{ style: "currency", currency: "EUR" }});
const KIND = {{ waiting: "int", longest_wait_s: "dur", offered: "int", answered: "int", abandoned: "int",
  asa_s: "dur", service_level: "pct", tth_p90_s: "dur", premium_share: "pct", commitments_broken: "int",
  refunds_due: "eur", lost: "int", agent_answered: "int", agent_talk_min: "min", ring_mean_s: "dur",
  premium_kept: "int" }};
function show(kind, v) {{
  if (v === null || v === undefined) return "–";
  if (kind === "int") return num.format(v);
  if (kind === "pct") return pct.format(v);
  if (kind === "eur") return eur.format(v);
  if (kind === "min") return dec.format(v) + " min";
  if (kind === "dur") {{
    if (v < 100) return dec.format(v) + " s";
    const m = Math.floor(Math.round(v) / 60), s = Math.round(v) % 60;
    return m + " min " + String(s).padStart(2, "0");
  }}
  return String(v);
}}
function el(tag, cls, text) {{
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}}
function tile(queue, figure, value, lvl) {{
  const t = el("div", "tile");
  t.dataset.queue = queue; t.dataset.figure = figure; t.dataset.level = lvl || "none";
  t.dataset.value = value === null || value === undefined ? "" : String(value);
  const text = show(KIND[figure], value);
  t.append(el("div", "label", T[figure]), el("div", text.length > 7 ? "value long" : "value", text));
  return t;
}}
function agentsTable(queue, rows) {{
  if (!rows.length) return el("div", "empty", T.no_agent);
  const table = el("table", "agents"), head = el("tr");
  head.append(el("th", "", T.agent));
  for (const f of AGENT_FIGURES) head.append(el("th", "", T[f]));
  table.append(head);
  for (const row of rows) {{
    const tr = el("tr");
    tr.dataset.queue = queue; tr.dataset.agent = row.agent;
    const who = el("td", "", row.name || row.agent);
    who.title = row.agent;
    tr.append(who);
    for (const f of AGENT_FIGURES) {{
      const td = el("td", "", show(KIND[f], row[f]));
      td.dataset.figure = f; td.dataset.value = row[f] === null ? "" : String(row[f]);
      tr.append(td);
    }}
    table.append(tr);
  }}
  return table;
}}
function render(data) {{
  const board = document.getElementById("board");
  const sections = [];
  const names = Object.keys(data.queues || {{}}).sort();
  for (const q of names) {{
    const d = data.queues[q];
    const s = el("section", "queue");
    s.dataset.queue = q;
    s.append(el("h2", "", T.queue + " " + q));
    const tiles = el("div", "tiles");
    for (const f of FIGURES) tiles.append(tile(q, f, d.figures[f], d.levels[f]));
    s.append(tiles, agentsTable(q, d.agents));
    sections.push(s);
  }}
  if (!sections.length) sections.push(el("div", "empty", T.no_queue));
  board.replaceChildren(...sections);
  const clock = document.getElementById("clock");
  clock.dataset.generated = String(data.generated_ms || "");
  clock.textContent = data.generated_at ? T.updated + " " + data.generated_at.slice(11, 19) : "";
  const status = document.getElementById("status");
  status.textContent = data.ok ? "" : T.stale + " (" + (data.error || "") + ")";
  status.className = data.ok ? "" : "shown";
  document.body.dataset.generated = String(data.generated_ms || "");
}}
async function refresh() {{
  try {{
    const r = await fetch("data.json", {{ cache: "no-store" }});
    render(await r.json());
  }} catch (e) {{
    const status = document.getElementById("status");
    status.textContent = T.stale; status.className = "shown";
  }}
}}
refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
"""


def page(lang: str, refresh_s: float, nonce: str) -> str:
    """The wall page in `lang`: labels, figure order and refresh period baked in."""
    return PAGE.format(
        lang=lang,
        lang_json=json.dumps(lang),
        title=_html(i18n.name("wallboard", lang)),
        nonce=nonce,
        labels=_script_json(i18n.table(lang)),
        figures=_script_json(FIGURES),
        agent_figures=_script_json(AGENT_FIGURES),
        refresh_ms=int(refresh_s * 1000),
    )


def _html(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def _script_json(value) -> str:
    """JSON safe inside a <script>: no `</script>` or `<!--` can close or confuse it."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
