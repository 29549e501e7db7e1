"""A catalogue whose names look like spreadsheet formulas exports inert, and imports back the same.

Through the ``karakana products`` commands on real SQLite, so the database and
``domain/services/catalogue_io.py`` are on the way in and out.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner, Result

from bot.cli import app
from bot.db.database import upgrade_database
from domain.csv_formats import PRODUCT_COLUMNS

HEADER = ",".join(PRODUCT_COLUMNS)
# Made by hand, as a spreadsheet would save it: the formula-like cells are plain text here.
HOSTILE = (
    f"{HEADER}\n"
    '-RING,"=HYPERLINK(""http://evil.example"",""Click"")",1000,2000,1,'
    "+HOOK,@Hook,brass_casting,1,500,3,=brass:1:kg\n"
    '-RING,"=HYPERLINK(""http://evil.example"",""Click"")",1000,2000,1,'
    "@BEAD,-Bead,beading,2,100,2,glass:2:+pcs\n"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _karakana(database: Path, *args: str) -> Result:
    url = f"sqlite+aiosqlite:///{database}"
    return CliRunner().invoke(app, list(args), env={"DATABASE_URL": url, "NO_COLOR": "1"})


def _fresh(database: Path) -> Path:
    upgrade_database(f"sqlite+aiosqlite:///{database}")
    return database


def test_formula_like_names_export_quoted_and_import_elsewhere_as_the_same_catalogue(
    tmp_path: Path,
) -> None:
    here, elsewhere = _fresh(tmp_path / "here.db"), _fresh(tmp_path / "elsewhere.db")
    (tmp_path / "hostile.csv").write_text(HOSTILE, encoding="utf-8")
    assert _karakana(here, "products", "import", str(tmp_path / "hostile.csv")).exit_code == 0

    exported = _karakana(here, "products", "export").stdout
    rows = list(csv.reader(io.StringIO(exported)))
    cells = [cell for row in rows[1:] for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == []
    for hostile in ("-RING", "+HOOK", "@BEAD", "@Hook", "-Bead", "=brass:1:kg"):
        assert f"'{hostile}" in cells
    assert '\'=HYPERLINK("http://evil.example","Click")' in cells

    (tmp_path / "exported.csv").write_text(exported, encoding="utf-8")
    imported = _karakana(elsewhere, "products", "import", str(tmp_path / "exported.csv"))
    assert imported.exit_code == 0, imported.output
    assert _karakana(elsewhere, "products", "export").stdout == exported
    # Imported the export into the same database: nothing changes, nothing gains a quote.
    assert _karakana(here, "products", "import", str(tmp_path / "exported.csv")).exit_code == 0
    assert _karakana(here, "products", "export").stdout == exported
