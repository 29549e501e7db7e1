"""Every CSV Karakana writes goes through ``csv_text``, so no cell can run as a spreadsheet formula.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
spreadsheets skip before looking) is read by Excel, LibreOffice and Google Sheets as a formula:
a product or customer name like ``=HYPERLINK("http://…","Click")`` or ``=cmd|' /C calc'!A0``
would run on the computer of whoever opens the export. Following OWASP's advice ("CSV
Injection"), such a text cell is written with a single quote in front, which spreadsheets show
as plain text.

The import side undoes exactly that (``from_cell``), so a file exported and imported again gives
the same values: one leading ``'`` is removed when what follows it (after any further quotes)
starts with one of those characters. To keep that exact, a value that itself starts with quotes
before such a character gets one more quote on the way out. A hand-made file whose cell really
should begin with ``'=`` must therefore write ``''=``. Numbers we write ourselves (prices,
counts) are not people's text and go out as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = frozenset("=+-@\t\r")
QUOTE = "'"


def _looks_like_formula(value: str) -> bool:
    return value.lstrip(QUOTE)[:1] in FORMULA_STARTS


def to_cell(value: str) -> str:
    """A text value as it is written to a CSV cell: inert in any spreadsheet."""
    return QUOTE + value if _looks_like_formula(value) else value


def from_cell(cell: str) -> str:
    """What ``to_cell`` wrote, back to the value it was given."""
    return cell[1:] if cell.startswith(QUOTE) and _looks_like_formula(cell) else cell


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """``rows`` (a header first, if any) as CSV text with every text cell through ``to_cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([to_cell(cell) if isinstance(cell, str) else cell for cell in row])
    return out.getvalue()
