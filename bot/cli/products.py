"""``karakana products``: import and export the catalogue as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from sqlalchemy import func
from sqlmodel import select

from bot.cli.common import err, fail, read_text, say, with_factory
from bot.main import Factory
from bot.settings import Settings
from domain.csv_formats import (
    CatalogueSpec,
    catalogue_to_csv,
    parse_products_csv,
)
from domain.model import Product
from domain.revenue_share import check_band
from domain.services.catalogue_io import (
    CatalogueImported,
    apply_catalogue,
    read_catalogue,
    wholesale_shares,
)

app = typer.Typer(help="The catalogue of products and components, as CSV.")


@app.command("import")
def products_import(
    file: Annotated[Path, typer.Argument(help="products.csv: one row per bill-of-materials line.")],
) -> None:
    """Create or update products and components from a CSV (see docs/csv-formats.md).

    A file with any bad row is rejected whole: every problem is listed and nothing is written.
    """
    text = read_text(file)

    async def work(factory: Factory) -> tuple[CatalogueSpec, CatalogueImported, Settings]:
        catalogue = parse_products_csv(text)
        async with factory.store.transaction() as session:
            return catalogue, await apply_catalogue(session, catalogue), factory.settings

    catalogue, result, settings = with_factory(work)
    lines = sum(len(p.bom) for p in catalogue.products)
    say(
        f"Imported {len(catalogue.products)} products ({result.products_added} new, "
        f"{result.products_updated} updated) with {lines} bill-of-materials lines, and "
        f"{len(catalogue.components)} components ({result.components_added} new) from {file}."
    )
    for sku, share in wholesale_shares(catalogue):
        check = check_band(share, low=settings.revenue_share_min, high=settings.revenue_share_max)
        if not check.within:
            say(f"{sku} at its wholesale price: {check.verdict}.", "yellow")


@app.command("export")
def products_export(
    file: Annotated[
        str, typer.Argument(help="Where to write the CSV; - (the default) is the screen.")
    ] = "-",
) -> None:
    """Write the catalogue as products.csv; importing it again gives the same catalogue."""

    async def work(factory: Factory) -> tuple[CatalogueSpec, int]:
        async with factory.store.read() as session:
            total = (await session.exec(select(func.count()).select_from(Product))).one()
            return await read_catalogue(session), total

    catalogue, total = with_factory(work)
    text = catalogue_to_csv(catalogue)
    if left_out := total - len(catalogue.products):
        # On stderr, so a CSV printed to the screen or piped on stays clean.
        err().print(
            Text(
                f"{left_out} product(s) without a bill of materials cannot be written as rows "
                "and were left out.",
                style="yellow",
            ),
            soft_wrap=True,
        )
    if file == "-":
        typer.echo(text, nl=False)
        return
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    say(f"Exported {len(catalogue.products)} products to {file}.")
