"""``/impact [YYYY-MM]``: the impact report in chat, as a chart and a few lines, for admins.

The figures come from ``domain.impact.impact_report``, the same query as ``karakana report
impact`` and the console's Impact page; the chart is drawn by the composition root
(``ctx.attachments``, bot/charts.py) and sent as a photo. Groups of fewer than five people are
said to be too small, never shown as numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conversations.admin.replies import ADMINS, Replies
from conversations.flow import Command, Context
from conversations.formatting import month_words
from conversations.i18n import N_
from conversations.messages import MediaItem, Reply
from domain.impact import MIN_GROUP, ImpactReport, Row, ShareBand, impact_report, month_label

MAX_ORDERS_LISTED = 5
CHART_WORDS: dict[str, str] = {  # bot/charts.py's words, in the reader's language
    "title": N_("impact.chart.title"),
    "people": N_("impact.chart.people"),
    "active": N_("impact.chart.active"),
    "new": N_("impact.chart.new"),
    "no_income": N_("impact.chart.no_income"),
    "income": N_("impact.chart.income"),
    "share": N_("impact.chart.share"),
    "band": N_("impact.chart.band"),
    "suppressed": N_("impact.chart.suppressed"),
    "no_data": N_("impact.chart.no_data"),
}
FIGURE_WORDS: dict[str, tuple[str, str]] = {
    # Each figure's title and definition msgids (Figure.title_key / definition_key), named here
    # so the catalogues' checks see them; the console translates them with these.
    "artisans_active": (
        N_("impact.title.artisans_active"),
        N_("impact.definition.artisans_active"),
    ),
    "artisans_new": (N_("impact.title.artisans_new"), N_("impact.definition.artisans_new")),
    "artisans_no_income": (
        N_("impact.title.artisans_no_income"),
        N_("impact.definition.artisans_no_income"),
    ),
    "income_per_active_artisan": (
        N_("impact.title.income_per_active_artisan"),
        N_("impact.definition.income_per_active_artisan"),
    ),
    "income_growth_since_joining": (
        N_("impact.title.income_growth_since_joining"),
        N_("impact.definition.income_growth_since_joining"),
    ),
    "income_against_before_joining": (
        N_("impact.title.income_against_before_joining"),
        N_("impact.definition.income_against_before_joining"),
    ),
    "revenue_share_by_month": (
        N_("impact.title.revenue_share_by_month"),
        N_("impact.definition.revenue_share_by_month"),
    ),
    "revenue_share_by_product": (
        N_("impact.title.revenue_share_by_product"),
        N_("impact.definition.revenue_share_by_product"),
    ),
    "revenue_share_by_order": (
        N_("impact.title.revenue_share_by_order"),
        N_("impact.definition.revenue_share_by_order"),
    ),
    "orders_outside_band": (
        N_("impact.title.orders_outside_band"),
        N_("impact.definition.orders_outside_band"),
    ),
    "women_led_share": (
        N_("impact.title.women_led_share"),
        N_("impact.definition.women_led_share"),
    ),
}


def parse_month(text: str) -> date | None:
    """``YYYY-MM`` as the month's first day; None for anything else."""
    year, dash, month = text.strip().partition("-")
    if not dash or not (year.isdigit() and month.isdigit()) or len(year) != 4:
        return None
    try:
        return date(int(year), int(month), 1)
    except ValueError:
        return None


def _percent(value: object) -> str:
    return f"{Decimal(str(value)) * 100:.0f}%"


def _ratio(ctx: Context, row: Row) -> str:
    if row.suppressed:
        return ctx.t("impact.too_few", least=MIN_GROUP)
    return ctx.t(
        "impact.ratio",
        median=row.value("median"),
        q1=row.value("q1"),
        q3=row.value("q3"),
        people=row.people,
    )


def summary(ctx: Context, report: ImpactReport) -> str:
    """A few lines about the report's last month, in the reader's language."""
    assert report.month is not None
    last = report.month

    def count(key: str) -> str:
        row = next(r for r in report.figure(key).rows if r.month == last and r.area in ("", None))
        return ctx.t("impact.too_few", least=MIN_GROUP) if row.suppressed else str(row.people)

    income = report.figure("income_per_active_artisan").row(month_label(last))
    assert income is not None
    if income.suppressed:
        income_text = ctx.t("impact.too_few", least=MIN_GROUP)
    else:
        income_text = ctx.t(
            "impact.income_spread",
            median=ctx.money(int(income.value("median") or 0)),
            q1=ctx.money(int(income.value("q1") or 0)),
            q3=ctx.money(int(income.value("q3") or 0)),
            people=income.people,
        )
    share = report.figure("revenue_share_by_month").row(month_label(last))
    share_text = (
        ctx.t("impact.no_orders")
        if share is None
        else ctx.t(
            "impact.share_line",
            share=_percent(share.values["share"]),
            low=_percent(report.band.low),
            high=_percent(report.band.high),
        )
    )
    outside = report.figure("orders_outside_band").rows
    women = report.figure("women_led_share").rows[0]
    lines = [
        ctx.t(
            "impact.heading",
            month=month_words(ctx.language, last),
            first=month_words(ctx.language, report.months[0]),
        ),
        ctx.t(
            "impact.people_line",
            active=count("artisans_active"),
            new=count("artisans_new"),
            none=count("artisans_no_income"),
        ),
        ctx.t("impact.income_line", spread=income_text),
        ctx.t(
            "impact.growth_line",
            growth=_ratio(ctx, report.figure("income_growth_since_joining").rows[0]),
        ),
        ctx.t(
            "impact.before_line",
            before=_ratio(ctx, report.figure("income_against_before_joining").rows[0]),
        ),
        share_text,
    ]
    if outside:
        listed = ", ".join(
            f"{row.label} ({_percent(row.values['share'])})" for row in outside[:MAX_ORDERS_LISTED]
        )
        more = len(outside) - MAX_ORDERS_LISTED
        lines.append(
            ctx.t("impact.outside_line", number=len(outside), orders=listed)
            + (ctx.t("impact.and_more", number=more) if more > 0 else "")
        )
    lines.append(
        ctx.t("impact.women_line", share=_percent(women.values["share"]), people=women.people)
        if not women.suppressed
        else ctx.t("impact.women_line_few", least=MIN_GROUP)
    )
    lines.append(ctx.t("impact.footnote"))
    return "\n".join(lines)


async def impact(ctx: Context, argument: str) -> Replies:
    month = None
    if argument.strip():
        month = parse_month(argument)
        if month is None:
            return [Reply(ctx.t("impact.usage"))]
    band = ShareBand(ctx.policy.share_low, ctx.policy.share_high)
    report = await impact_report(ctx.session, month=month, band=band)
    if report.month is None:
        return [Reply(ctx.t("impact.nothing_yet"))]
    text = summary(ctx, report)
    if ctx.attachments is None:
        return [Reply(text + "\n" + ctx.t("impact.no_chart"))]
    labels = {word: ctx.t(msgid) for word, msgid in CHART_WORDS.items()}
    chart = await ctx.attachments.impact_chart(report, labels)
    return [Reply(text, media=(MediaItem(chart.content_type, chart.size, chart.ref),))]


COMMANDS: dict[str, Command] = {
    "impact": Command(ADMINS, impact, N_("impact.help")),
}
