"""``karakana names``: what skills, components, materials, areas and products are called.

One row per thing: ``kind,code,name_en,name_sw`` (docs/csv-formats.md). Export, fill in the
Kiswahili column, import: artisans read "uchongaji wa pembe" instead of ``horn_carving``. An area
row makes the area a known one, the list registration matches typed areas against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, read_text, say, with_factory
from bot.main import Factory
from domain.services.names import NamesImported, apply_names, names_to_csv, parse_names_csv

app = typer.Typer(
    help="Names of skills, components, materials, areas and products per language, as CSV."
)


@app.command("import")
def names_import(
    file: Annotated[Path, typer.Argument(help="names.csv: kind,code,name_en,name_sw.")],
) -> None:
    """Set the names in a CSV (see docs/csv-formats.md); a file with any bad row is rejected
    whole, every problem listed and nothing written."""
    text = read_text(file)

    async def work(factory: Factory) -> NamesImported:
        rows = parse_names_csv(text)
        async with factory.store.transaction() as session:
            return await apply_names(session, rows)

    result = with_factory(work)
    say(f"Named {result.named} things from {file}; {result.new_areas} new known area(s).")


@app.command("export")
def names_export(
    file: Annotated[
        str, typer.Argument(help="Where to write the CSV; - (the default) is the screen.")
    ] = "-",
) -> None:
    """Write every skill, component, material, product and known area with its names (blank
    where none is set yet): the file to fill in and import."""

    async def work(factory: Factory) -> str:
        async with factory.store.read() as session:
            return await names_to_csv(session)

    text = with_factory(work)
    if file == "-":
        typer.echo(text, nl=False)
        return
    try:
        Path(file).write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {file}: {exc.strerror or exc}")
    say(f"Exported the names to {file}.")
