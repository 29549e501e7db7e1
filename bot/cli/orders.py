"""``karakana orders import``: customers' orders from a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import out, read_text, say, with_factory
from bot.main import Factory
from domain.csv_formats import (
    parse_orders_csv,
)
from domain.services.catalogue_io import (
    apply_orders,
    order_context,
)

app = typer.Typer(help="Customers' orders, as CSV.")


@app.command("import")
def orders_import(
    file: Annotated[Path, typer.Argument(help="orders.csv: one row per order line.")],
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm", help="Confirm each order as well, exploding it into component jobs."
        ),
    ] = False,
) -> None:
    """Create orders from a CSV (see docs/csv-formats.md), as drafts unless --confirm.

    A file with any bad row is rejected whole: every problem is listed and nothing is written.
    """
    text = read_text(file)

    async def work(factory: Factory) -> list[tuple[str, str, str, int, str, int]]:
        async with factory.store.transaction() as session:
            known = await order_context(session)
            specs = parse_orders_csv(
                text,
                known_skus=known.known_skus,
                today=factory.today(),
                existing_orders=known.existing_orders,
                customer_kinds=known.customer_kinds,
                boms=known.boms,
            )
            imported = await apply_orders(
                session, specs, now=factory.now(), confirm=confirm, zone=factory.zone
            )
            return [
                (
                    item.order.reference,
                    item.customer,
                    item.order.due_date.isoformat(),
                    item.units,
                    str(item.order.status),
                    item.jobs,
                )
                for item in imported
            ]

    rows = with_factory(work)
    table = Table(title=f"Imported {len(rows)} orders from {file}")
    for column in ("Reference", "Customer", "Due", "Units", "Status", "Jobs"):
        table.add_column(column, justify="right" if column in ("Units", "Jobs") else "left")
    for reference, customer, due, units, status, jobs in rows:
        table.add_row(reference, customer, due, str(units), status, str(jobs))
    out().print(table)
    if not confirm:
        say("The orders are drafts: nothing is made until an order is confirmed.", "yellow")
