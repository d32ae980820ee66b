"""The report picture: how long callers waited for a person, and how the queue did over time.

Top left, the distribution of time to a human, premium against free, as the share of each
tariff's answered calls per time bin (tariffs differ in volume, shares compare); top right, the
same as "answered within t" curves, where the commitment and the service-level target read
off directly. Below, per 5 or 15 minutes of arrival: ASA and mean time to a human with the
offered volume behind; then the service level against its target. All numbers come from
core/kpi.py over the same minute counters as `stats`, so the picture and the table agree.

matplotlib with the Agg backend: no display needed, PNG or SVG by the file's extension.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

from ..core import histogram, kpi
from . import i18n
from .window import MINUTE_MS, Window

PREMIUM_COLOR = "#c2410c"  # orange: the paid line
FREE_COLOR = "#1d4ed8"  # blue
ALL_COLOR = "#374151"
COMMITMENT_COLOR = "#b91c1c"
TARGET_COLOR = "#15803d"


def auto_interval_min(window: Window) -> int:
    """5 minutes for windows up to 6 hours, else 15: about 24 to 100 points either way."""
    return 5 if window.end_ms - window.start_ms <= 6 * 3_600_000 else 15


def series(per_minute: dict[int, dict[str, kpi.Tally]], window: Window, interval_min: int) -> list[dict]:
    """Per interval of arrival time: start (ms) and the figures per tariff and for all calls."""
    step = interval_min * MINUTE_MS
    first = window.start_ms - window.start_ms % step
    out = []
    for start in range(first, window.end_ms, step):
        by_tariff: dict[str, kpi.Tally] = {}
        for minute in range(start, start + step, MINUTE_MS):
            if minute in per_minute:
                kpi.add_by_tariff(by_tariff, per_minute[minute])
        out.append({"start_ms": start, **kpi.summarize(by_tariff)})
    return out


def _display_bins(tallies: dict[str, kpi.Tally], commitment_s: int) -> tuple[float, float]:
    """(bin width s, x limit s): show past the commitment and the slowest percentile that matters."""
    p99 = max((histogram.percentile(t.tth, 0.99) or 0) / 1000 for t in tallies.values())
    limit = max(commitment_s * 1.5, p99 * 1.1, 10.0)
    for width in (1, 2, 5, 10, 15, 30, 60, 120, 300):
        if limit / width <= 40:
            break
    return float(width), math.ceil(limit / width) * width


def _shares(tally: kpi.Tally, width: float, limit: float) -> list[float]:
    """Share of the tariff's answered calls in each display bin (stored buckets by their middle);
    the last bin also takes everything beyond the limit."""
    bins = [0] * int(limit / width)
    total = sum(tally.tth.values())
    if not total:
        return [0.0] * len(bins)
    for index, count in tally.tth.items():
        position = min(int(histogram.representative(index) / 1000 / width), len(bins) - 1)
        bins[position] += count
    return [count / total for count in bins]


def _within_curve(tally: kpi.Tally, limit: float) -> tuple[list[float], list[float]]:
    """Share answered within t, stepping at each stored bucket's upper edge (exact at the edges)."""
    total = sum(tally.tth.values())
    xs, ys = [0.0], [0.0]
    running = 0
    for index in sorted(tally.tth):
        running += tally.tth[index]
        edge = histogram.UPPER[index] / 1000
        xs += [min(edge, limit), min(edge, limit)]
        ys += [ys[-1], running / total if total else 0.0]
    xs.append(limit)
    ys.append(ys[-1])
    return xs, ys


def within_share(tally: kpi.Tally, seconds: float) -> float | None:
    """Share of answered calls whose time to human is under `seconds`, counted at the stored edge
    at or below it (exact when `seconds` is an edge)."""
    total = sum(tally.tth.values())
    if not total:
        return None
    limit_ms = seconds * 1000
    return sum(count for index, count in tally.tth.items() if histogram.UPPER[index] <= limit_ms) / total


def _thresholds(axes, t, commitment: float, service_level: float) -> None:
    """The commitment and the service-level threshold as vertical lines, on either time chart."""
    axes.axvline(
        commitment, color=COMMITMENT_COLOR, linestyle="--", linewidth=1.5, label=t("commitment", s=commitment)
    )
    axes.axvline(
        service_level,
        color=TARGET_COLOR,
        linestyle=":",
        linewidth=1.5,
        label=t("sl_threshold", s=service_level),
    )


def draw(
    path: str,
    *,
    per_minute: dict[int, dict[str, kpi.Tally]],
    window: Window,
    general,
    title: str,
    interval_min: int,
    sl_target: float = 0.8,
    lang: str = "en",
) -> None:
    """Write the report figure to `path` (PNG or SVG by extension), its words in `lang`."""

    def t(key: str, **values) -> str:
        english, french = i18n.CHART_TEXT.get(key) or i18n.WORDS[key]
        return (french if lang == "fr" else english).format(**values)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    zone = ZoneInfo(general.timezone)
    totals: dict[str, kpi.Tally] = {}
    for by_tariff in per_minute.values():
        kpi.add_by_tariff(totals, by_tariff)
    tariffs = {t: totals.get(t, kpi.Tally()) for t in kpi.TARIFFS}
    summary = kpi.summarize(tariffs)
    commitment = general.commitment_s
    service_level = general.service_level_s

    fig = plt.figure(figsize=(13, 11), dpi=110, layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=[1.15, 1, 1])
    dist = fig.add_subplot(grid[0, 0])
    cum = fig.add_subplot(grid[0, 1])
    asa = fig.add_subplot(grid[1, :])
    slp = fig.add_subplot(grid[2, :], sharex=asa)
    fig.suptitle(title, fontsize=14, fontweight="bold")

    # -- distribution -------------------------------------------------------------------------
    width, limit = _display_bins(tariffs, commitment)
    lefts = [i * width for i in range(int(limit / width))]
    colors = {kpi.PREMIUM: PREMIUM_COLOR, kpi.FREE: FREE_COLOR}
    for offset, tariff in ((-0.2, kpi.PREMIUM), (0.2, kpi.FREE)):
        figures = summary[tariff]
        label = t("answered", tariff=t(tariff), n=figures["answered"])
        if figures["tth_p90_s"] is not None:
            label += f", p50 {figures['tth_p50_s']:.0f}s, p90 {figures['tth_p90_s']:.0f}s"
        dist.bar(
            [x + width * (0.5 + offset) for x in lefts],
            _shares(tariffs[tariff], width, limit),
            width=width * 0.4,
            color=colors[tariff],
            alpha=0.85,
            label=label,
        )
    _thresholds(dist, t, commitment, service_level)
    dist.set_xlim(0, limit)
    dist.set_ylim(bottom=0, top=max(dist.get_ylim()[1], 0.05))
    if not any(t.tth for t in tariffs.values()):
        dist.text(
            0.5,
            0.5,
            t("no_answered"),
            ha="center",
            transform=dist.transAxes,
            color="#6b7280",
        )
    dist.set_title(t("dist_title", width=width))
    dist.set_xlabel(t("dist_x"))
    dist.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    dist.legend(fontsize=8, loc="upper right")
    dist.grid(axis="y", alpha=0.3)

    for tariff in kpi.TARIFFS:
        if not tariffs[tariff].tth:
            continue
        xs, ys = _within_curve(tariffs[tariff], limit)
        share = within_share(tariffs[tariff], commitment)
        cum.plot(xs, ys, color=colors[tariff], linewidth=2, label=t("within", tariff=t(tariff), share=share))
    _thresholds(cum, t, commitment, service_level)
    cum.axhline(sl_target, color=TARGET_COLOR, linestyle="-", linewidth=0.8, alpha=0.6)
    cum.set_xlim(0, limit)
    cum.set_ylim(0, 1.02)
    cum.set_title(t("cum_title"))
    cum.set_xlabel(t("seconds"))
    cum.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    cum.legend(fontsize=8, loc="lower right")
    cum.grid(alpha=0.3)

    # -- over time ----------------------------------------------------------------------------
    points = series(per_minute, window, interval_min)
    times = [dt.datetime.fromtimestamp(p["start_ms"] / 1000, zone) for p in points]
    bar_width = dt.timedelta(minutes=interval_min * 0.8)
    volume = asa.twinx()
    volume.bar(
        [t + dt.timedelta(minutes=interval_min / 2) for t in times],
        [p[kpi.ALL]["offered"] for p in points],
        width=bar_width,
        color="#9ca3af",
        alpha=0.3,
        label=t("offered_calls"),
    )
    volume.set_ylabel(t("offered_per_interval"), color="#6b7280")
    asa.set_zorder(volume.get_zorder() + 1)
    asa.patch.set_visible(False)
    mid = [t + dt.timedelta(minutes=interval_min / 2) for t in times]
    for tariff in kpi.TARIFFS:
        asa.plot(
            mid,
            [_nan(p[tariff]["asa_s"]) for p in points],
            marker="o",
            markersize=3,
            color=colors[tariff],
            label=f"ASA {t(tariff)}",
        )
        asa.plot(
            mid,
            [_nan(p[tariff]["tth_mean_s"]) for p in points],
            linestyle="--",
            color=colors[tariff],
            alpha=0.6,
            label=t("tth_mean", tariff=t(tariff)),
        )
    asa.axhline(
        commitment, color=COMMITMENT_COLOR, linestyle="--", linewidth=1, label=t("commitment", s=commitment)
    )
    # Headroom above the data and the commitment line for the legend, which sits at the top.
    highest = max(
        [commitment]
        + [
            p[t][k]
            for p in points
            for t in kpi.TARIFFS
            for k in ("asa_s", "tth_mean_s")
            if p[t][k] is not None
        ]
    )
    asa.set_ylim(0, highest * 1.45)
    volume.set_ylim(0, max([p[kpi.ALL]["offered"] for p in points] + [1]) * 1.45)
    asa.set_ylabel(t("seconds"))
    asa.set_title(t("asa_title", minutes=interval_min))
    handles, labels = asa.get_legend_handles_labels()
    more_handles, more_labels = volume.get_legend_handles_labels()
    asa.legend(handles + more_handles, labels + more_labels, fontsize=8, loc="upper left", ncol=3)
    asa.grid(alpha=0.3)

    for tariff, style in ((kpi.PREMIUM, "-"), (kpi.FREE, "-"), (kpi.ALL, ":")):
        color = colors.get(tariff, ALL_COLOR)
        slp.plot(
            mid,
            [_nan(p[tariff]["service_level"]) for p in points],
            linestyle=style,
            marker="o",
            markersize=3,
            color=color,
            label=t("sl", tariff=t(tariff), s=service_level),
        )
    slp.plot(
        mid,
        [_nan(p[kpi.ALL]["service_level_2"]) for p in points],
        linestyle="--",
        color=ALL_COLOR,
        alpha=0.6,
        label=t("sl2"),
    )
    slp.axhline(sl_target, color=TARGET_COLOR, linewidth=1.2, label=t("target", target=sl_target))
    slp.set_ylim(-0.02, 1.05)
    slp.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    slp.set_title(t("sl_title", minutes=interval_min))
    slp.legend(fontsize=8, loc="lower left", ncol=3)
    slp.grid(alpha=0.3)
    locator = mdates.AutoDateLocator(tz=zone, maxticks=14)
    slp.xaxis.set_major_locator(locator)
    slp.xaxis.set_major_formatter(
        mdates.DateFormatter(
            "%H:%M" if window.end_ms - window.start_ms <= 86_400_000 else "%d %H:%M", tz=zone
        )
    )
    if times:
        slp.set_xlim(times[0], times[-1] + dt.timedelta(minutes=interval_min))
    slp.set_xlabel(t("arrival_x", tz=general.timezone))

    everyone = summary[kpi.ALL]
    footer = t("footer", bound=kpi.RELATIVE_BOUND, bound_ms=kpi.ABSOLUTE_BOUND_MS, **everyone)
    fig.text(0.5, -0.01, footer, ha="center", va="top", fontsize=8, color="#374151", wrap=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
