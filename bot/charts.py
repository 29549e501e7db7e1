"""Charts drawn on the server with matplotlib (Agg, no display): the impact report as one PNG.

The same picture goes to ``/impact`` in chat and to the console's Impact page. It uses the object
API (``Figure`` and its Agg canvas), never ``pyplot``'s global state, so it is safe from a worker
thread and leaves nothing open behind it. Suppressed rows (fewer than five people) are drawn as
gaps, never as zeros.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from domain.impact import ALL_AREAS, ImpactReport, Row, month_label

LABELS: dict[str, str] = {
    "title": "Impact",
    "people": "Artisans per month",
    "active": "active",
    "new": "new",
    "no_income": "no income",
    "income": "Income per active artisan (median, quartiles)",
    "share": "Artisans' share of revenue",
    "band": "band",
    "suppressed": "fewer than 5 people: not shown",
    "no_data": "No data yet",
}
"""The words on the chart; ``/impact`` passes them in the admin's language."""

_COLOURS = {"active": "#1b7f5f", "new": "#e0a526", "no_income": "#b5483b", "line": "#24527a"}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | Decimal) else None


def impact_chart_png(
    report: ImpactReport,
    *,
    labels: Mapping[str, str] | None = None,
    currency: str = "KES",
) -> bytes:
    """The report's monthly figures as one PNG: artisans (active, new, no income), income per
    active artisan, and the artisans' share of revenue against the band."""
    words = {**LABELS, **(labels or {})}
    figure = Figure(figsize=(8, 9), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    area = f" · {report.area}" if report.area else ""
    figure.suptitle(
        f"{words['title']}{area}"
        + (
            f" · {month_label(report.months[0])} – {month_label(report.months[-1])}"
            if report.months
            else ""
        ),
        fontsize=14,
        fontweight="bold",
    )
    if not report.months:
        axes = figure.subplots()
        axes.axis("off")
        axes.text(0.5, 0.5, words["no_data"], ha="center", va="center", fontsize=14)
        return _png(figure)

    people_axes, income_axes, share_axes = figure.subplots(3, 1)
    x = list(range(len(report.months)))
    ticks = [month_label(m) for m in report.months]

    width = 0.27
    any_suppressed = False
    for offset, (key, name) in enumerate(
        (
            ("artisans_active", "active"),
            ("artisans_new", "new"),
            ("artisans_no_income", "no_income"),
        )
    ):
        rows = {r.month: r for r in report.figure(key).rows if r.area == ALL_AREAS}
        shown: list[tuple[float, float]] = []
        for i, month in enumerate(report.months):
            row = rows.get(month)
            place = i + (offset - 1) * width
            if row is not None and row.suppressed:
                # Too few people to show: a star where the bar would be, never a zero.
                any_suppressed = True
                people_axes.text(place, 0, "*", ha="center", va="bottom", fontsize=9)
                continue
            value = None if row is None else _number(row.value("count"))
            shown.append((place, value or 0.0))
        bars = people_axes.bar(
            [place for place, _ in shown],
            [height for _, height in shown],
            width,
            label=words[name],
            color=_COLOURS[name],
        )
        people_axes.bar_label(bars, fmt="%d", fontsize=7, padding=1)
    people_axes.set_ylim(bottom=0, top=max(5.0, people_axes.get_ylim()[1]))
    people_axes.set_title(words["people"], fontsize=11, loc="left")
    people_axes.set_xticks(x, ticks, fontsize=8)
    people_axes.legend(
        handles=[
            Patch(color=_COLOURS[name], label=words[name])
            for name in ("active", "new", "no_income")
        ],
        fontsize=8,
        loc="upper left",
        frameon=False,
    )
    people_axes.spines[["top", "right"]].set_visible(False)

    income = {r.month: r for r in report.figure("income_per_active_artisan").rows}
    medians, lows, highs = [], [], []
    for month in report.months:
        row = income.get(month)
        any_suppressed |= row is not None and row.suppressed

        def get(name: str, r: Row | None = row) -> float | None:
            return None if r is None else _number(r.value(name))

        medians.append(_scaled(get("median")))
        lows.append(_scaled(get("q1")))
        highs.append(_scaled(get("q3")))
    income_axes.fill_between(
        x,
        [v if v is not None else float("nan") for v in lows],
        [v if v is not None else float("nan") for v in highs],
        color=_COLOURS["line"],
        alpha=0.18,
        linewidth=0,
    )
    income_axes.plot(
        x,
        [v if v is not None else float("nan") for v in medians],
        marker="o",
        color=_COLOURS["line"],
    )
    for i, value in enumerate(medians):
        if value is not None:
            income_axes.annotate(
                f"{value:,.0f}",
                (i, value),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
            )
    income_axes.set_title(f"{words['income']} ({currency})", fontsize=11, loc="left")
    income_axes.set_xticks(x, ticks, fontsize=8)
    income_axes.set_ylim(bottom=0)
    if all(v is None for v in medians):
        income_axes.set_ylim(0, 1)
        income_axes.set_yticks([])
        income_axes.text(
            0.5,
            0.5,
            "* " + words["suppressed"],
            transform=income_axes.transAxes,
            ha="center",
            va="center",
            fontsize=10,
            color="#555555",
        )
    income_axes.spines[["top", "right"]].set_visible(False)

    shares = {r.month: r for r in report.figure("revenue_share_by_month").rows}
    values = []
    for month in report.months:
        row = shares.get(month)
        value = None if row is None else _number(row.value("share"))
        values.append(float("nan") if value is None else value * 100)
    share_axes.axhspan(
        float(report.band.low) * 100,
        float(report.band.high) * 100,
        color="#9ccfb3",
        alpha=0.35,
        label=f"{words['band']} {float(report.band.low) * 100:.0f}–"
        f"{float(report.band.high) * 100:.0f}%",
    )
    share_axes.plot(x, values, marker="s", color="#5b3a8c")
    share_axes.set_title(words["share"] + " (%)", fontsize=11, loc="left")
    share_axes.set_xticks(x, ticks, fontsize=8)
    share_axes.set_ylim(0, max([60.0, *(v + 5 for v in values if v == v)]))
    share_axes.legend(fontsize=8, loc="upper left", frameon=False)
    share_axes.spines[["top", "right"]].set_visible(False)

    for axes in (people_axes, income_axes, share_axes):
        axes.set_xlim(-0.5, len(x) - 0.5)
    if any_suppressed:
        figure.supxlabel("* " + words["suppressed"], fontsize=8, color="#555555")
    return _png(figure)


def _scaled(cents: float | None) -> float | None:
    return None if cents is None else cents / 100


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
