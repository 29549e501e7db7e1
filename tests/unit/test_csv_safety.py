"""CSV exports cannot carry spreadsheet formulas, and what they write imports back unchanged."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.csv_formats import (
    BomLineSpec,
    CatalogueSpec,
    ComponentSpec,
    MaterialSpec,
    ProductSpec,
    catalogue_to_csv,
    parse_products_csv,
)
from domain.csv_safety import csv_text, from_cell, to_cell

ROOT = Path(__file__).resolve().parents[2]
DANGEROUS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("start", DANGEROUS)
def test_a_text_cell_starting_like_a_formula_gets_a_quote_in_front(start: str) -> None:
    assert to_cell(f"{start}SUM(A1)") == f"'{start}SUM(A1)"


@pytest.mark.parametrize("value", ["Horn pendant", "", "'quoted'", "1=1", " =x", "a-b"])
def test_a_text_cell_not_starting_like_a_formula_is_written_as_it_is(value: str) -> None:
    assert to_cell(value) == value


def test_a_value_with_quotes_before_a_formula_gets_one_more_so_it_reads_back_the_same() -> None:
    assert to_cell("'=x") == "''=x"
    assert from_cell("''=x") == "'=x"


def test_a_quote_before_ordinary_text_is_kept_on_import() -> None:
    assert from_cell("'Tis the season") == "'Tis the season"
    assert from_cell("'") == "'"


@given(st.text(st.one_of(st.characters(), st.sampled_from([*DANGEROUS, "'"]))))
def test_any_text_reads_back_as_it_was_written(value: str) -> None:
    assert from_cell(to_cell(value)) == value


@given(st.text(st.one_of(st.characters(), st.sampled_from([*DANGEROUS, "'"]))))
def test_no_written_text_cell_starts_like_a_formula(value: str) -> None:
    assert to_cell(value)[:1] not in DANGEROUS


def test_csv_text_neutralises_text_cells_and_leaves_numbers_alone() -> None:
    text = csv_text([("name", "count"), ("=cmd|' /C calc'!A0", -5), ("@SUM(1)", 3)])

    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "count"], ["'=cmd|' /C calc'!A0", "-5"], ["'@SUM(1)", "3"]]


def _dangerous_catalogue() -> CatalogueSpec:
    return CatalogueSpec(
        products=(
            ProductSpec(
                sku="-RING",
                name='=HYPERLINK("http://evil.example","Click")',
                wholesale_price_cents=1_000,
                retail_price_cents=2_000,
                assembly_days=1,
                bom=(BomLineSpec("+HOOK", 1), BomLineSpec("@BEAD", 2)),
            ),
        ),
        components=(
            ComponentSpec(
                "+HOOK",
                "-Hook",
                "brass_casting",
                500,
                3,
                (MaterialSpec("=brass", Decimal(1), "kg"),),
            ),
            ComponentSpec(
                "@BEAD", "@Bead", "beading", 100, 2, (MaterialSpec("glass", Decimal(2), "@pcs"),)
            ),
        ),
    )


def test_every_exported_cell_from_people_starting_like_a_formula_starts_with_a_quote() -> None:
    rows = list(csv.reader(io.StringIO(catalogue_to_csv(_dangerous_catalogue()))))

    cells = [cell for row in rows[1:] for cell in row]
    assert not [cell for cell in cells if cell[:1] in DANGEROUS]
    assert rows[1][:2] == ["'-RING", '\'=HYPERLINK("http://evil.example","Click")']
    assert {rows[1][5], rows[2][5]} == {"'+HOOK", "'@BEAD"}
    assert "'=brass:1:kg" in cells


def test_an_exported_catalogue_with_formula_like_names_imports_as_the_same_catalogue() -> None:
    catalogue = _dangerous_catalogue()

    again = parse_products_csv(catalogue_to_csv(catalogue))

    assert again.products == catalogue.products
    assert set(again.components) == set(catalogue.components)


def test_every_csv_the_product_writes_goes_through_the_one_safe_writer() -> None:
    writers = re.compile(r"csv\.writer\(|DictWriter\(|\.writerows?\(")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("bot", "conversations", "domain", "matching", "scheduler")
        for path in (ROOT / package).rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["domain/csv_safety.py"]
