"""``karakana report impact``: the impact report in the terminal, and as CSV with ``--csv``.

The same query as ``/impact`` in chat and the console's Impact page (``domain.impact``); the CSV
goes through ``domain.csv_safety`` like every export. Rows about fewer than five people are
shown as suppressed, never as numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import fail, kes, out, say, with_factory
from bot.main import Factory
from domain.csv_safety import csv_text
from domain.impact import (
    ALL_AREAS,
    MIN_GROUP,
    Figure,
    ImpactReport,
    Row,
    ShareBand,
    csv_rows,
    impact_report,
)

app = typer.Typer(help="Reports on the factory: impact.")


def parse_month(text: str) -> date:
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        return date(year, month, 1)
    except ValueError:
        fail(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-11")


def _shown(figure: Figure, row: Row) -> str:
    if row.suppressed:
        return "suppressed (< 5 people)"
    if figure.unit == "people":
        return str(row.value("count"))
    if figure.unit == "cents":
        return " / ".join(kes(int(row.value(k) or 0)) for k in ("q1", "median", "q3"))
    if figure.unit == "ratio":
        return " / ".join(f"x{row.value(k)}" for k in ("q1", "median", "q3"))
    share = row.value("share")
    return "" if share is None else f"{Decimal(share) * 100:.1f}%"


def _print(report: ImpactReport) -> None:
    if report.month is None:
        say("No artisans and no earnings yet: nothing to report.", style="yellow")
        return
    where = f" in {report.area}" if report.area else ""
    out().print(
        f"Impact{where}, {report.months[0]:%Y-%m} to {report.months[-1]:%Y-%m} "
        f"(band {report.band.low * 100:.0f}-{report.band.high * 100:.0f}%)",
        style="bold",
    )
    for figure in report.figures:
        table = Table(title=figure.key.replace("_", " "), title_justify="left")
        table.add_column("")
        table.add_column("people", justify="right")
        table.add_column("value" if figure.unit != "cents" else "q1 / median / q3")
        for row in figure.rows:
            if figure.unit == "people" and row.area != ALL_AREAS:
                continue  # areas go to the CSV; the terminal shows the totals
            people = f"<{MIN_GROUP}" if row.people is None else str(row.people)
            table.add_row(row.label, people, _shown(figure, row))
        out().print(table)
        out().print(figure.definition, style="dim")


@app.command("impact")
def impact(
    month: Annotated[
        str | None, typer.Option("--month", help="The last month covered, YYYY-MM.")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write every row to this CSV file.")
    ] = None,
    area: Annotated[str | None, typer.Option("--area", help="One area only.")] = None,
) -> None:
    """Artisans active, new and without income; income per artisan and its growth; the
    artisans' share of revenue against the band; women-led workshops reached."""
    last = None if month is None else parse_month(month)

    async def work(factory: Factory) -> ImpactReport:
        band = ShareBand(factory.settings.revenue_share_min, factory.settings.revenue_share_max)
        async with factory.store.transaction() as session:
            return await impact_report(session, month=last, area=area, band=band, zone=factory.zone)

    report = with_factory(work)
    _print(report)
    if csv is not None:
        try:
            csv.write_text(csv_text(csv_rows(report)), encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {csv}: {exc.strerror or exc}")
        say(f"Wrote {sum(len(f.rows) for f in report.figures)} rows to {csv}.")
