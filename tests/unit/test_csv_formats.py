"""The catalogue and order CSV parsers: good files become specs; bad ones name every bad row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.csv_formats import (
    PRODUCT_COLUMNS,
    BomLineSpec,
    CatalogueSpec,
    ComponentSpec,
    CsvRejected,
    MaterialSpec,
    OrderLineSpec,
    ProductSpec,
    RowError,
    catalogue_to_csv,
    format_kes,
    parse_orders_csv,
    parse_products_csv,
)
from domain.explosion import BomItem
from domain.limits import MAX_PIECE_RATE_CENTS
from domain.model import CustomerKind

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = ",".join(PRODUCT_COLUMNS)
PENDANT = "HRN-PND,Horn pendant,1200,2400,1"
HORN = "horn_pendant,Horn crescent,horn_carving,1,250,5,cattle horn:0.05:kg"
BAIL = "brass_bail,Brass bail,brass_casting,1,40,3,brass:0.01:kg;solder:1:g"
TODAY = date(2026, 3, 2)
ORDER_HEADER = "customer,customer_kind,reference,due_date,sku,quantity"


def products(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def orders(*rows: str) -> str:
    return "\n".join([ORDER_HEADER, *rows]) + "\n"


def rejected_products(text: str) -> list[RowError]:
    with pytest.raises(CsvRejected) as caught:
        parse_products_csv(text)
    return list(caught.value.errors)


def rejected_orders(text: str, **context: object) -> list[RowError]:
    context.setdefault("known_skus", {"HRN-PND", "BNE-BNG"})
    context.setdefault("today", TODAY)
    with pytest.raises(CsvRejected) as caught:
        parse_orders_csv(text, **context)  # type: ignore[arg-type]
    return list(caught.value.errors)


def where(errors: list[RowError]) -> list[tuple[int, str | None]]:
    return [(e.line, e.column) for e in errors]


# --- products.csv: good files ---------------------------------------------------------------------


def test_a_product_with_two_components_becomes_one_product_and_two_components() -> None:
    catalogue = parse_products_csv(products(f"{PENDANT},{HORN}", f"{PENDANT},{BAIL}"))

    assert catalogue.products == (
        ProductSpec(
            sku="HRN-PND",
            name="Horn pendant",
            wholesale_price_cents=120_000,
            retail_price_cents=240_000,
            assembly_days=1,
            bom=(BomLineSpec("horn_pendant", 1), BomLineSpec("brass_bail", 1)),
        ),
    )
    assert catalogue.component("brass_bail") == ComponentSpec(
        code="brass_bail",
        name="Brass bail",
        skill="brass_casting",
        piece_rate_cents=4_000,
        lead_time_days=3,
        materials=(
            MaterialSpec("brass", Decimal("0.01"), "kg"),
            MaterialSpec("solder", Decimal("1"), "g"),
        ),
    )


def test_shillings_with_cents_become_integer_cents() -> None:
    catalogue = parse_products_csv(products(f"HRN-PND,Horn pendant,1199.5,2399.99,1,{HORN}"))

    assert catalogue.products[0].wholesale_price_cents == 119_950
    assert catalogue.products[0].retail_price_cents == 239_999


def test_a_byte_order_mark_trailing_whitespace_and_blank_lines_are_tolerated() -> None:
    text = "\ufeff" + HEADER + "  \r\n\r\n" + f"{PENDANT} , {HORN}   \r\n\r\n"

    catalogue = parse_products_csv(text)

    assert catalogue.products[0].sku == "HRN-PND"
    assert catalogue.components[0].materials == (
        MaterialSpec("cattle horn", Decimal("0.05"), "kg"),
    )


def test_a_component_shared_by_two_products_is_one_component() -> None:
    bangle = "BNE-BNG,Bone bangle,900,1800,1"

    catalogue = parse_products_csv(products(f"{PENDANT},{BAIL}", f"{bangle},{BAIL}"))

    assert [p.sku for p in catalogue.products] == ["HRN-PND", "BNE-BNG"]
    assert [c.code for c in catalogue.components] == ["brass_bail"]


def test_an_empty_materials_cell_means_the_component_uses_no_materials() -> None:
    catalogue = parse_products_csv(
        products(f"{PENDANT},horn_pendant,Horn crescent,horn_carving,1,250,5,")
    )

    assert catalogue.components[0].materials == ()


def test_material_names_ignore_case_and_spacing_as_stock_does() -> None:
    catalogue = parse_products_csv(
        products(f'{PENDANT},horn_pendant,Horn,horn_carving,1,250,5,"Cattle  Horn : 0.05 : kg"')
    )

    assert catalogue.components[0].materials == (
        MaterialSpec("cattle horn", Decimal("0.05"), "kg"),
    )


def test_columns_may_come_in_any_order_and_any_case() -> None:
    columns = list(reversed(PRODUCT_COLUMNS))
    values = list(reversed(f"{PENDANT},{HORN}".split(",")))
    text = ",".join(c.upper() for c in columns) + "\n" + ",".join(values) + "\n"

    assert parse_products_csv(text) == parse_products_csv(products(f"{PENDANT},{HORN}"))


def test_the_example_products_file_is_a_valid_catalogue() -> None:
    catalogue = parse_products_csv((EXAMPLES / "products.csv").read_text(encoding="utf-8"))

    assert len(catalogue.products) >= 8
    assert {c.skill for c in catalogue.components} >= {
        "horn_carving",
        "bone_carving",
        "brass_casting",
        "wire_work",
        "beadwork",
    }


def test_the_example_orders_file_orders_products_of_the_example_catalogue() -> None:
    catalogue = parse_products_csv((EXAMPLES / "products.csv").read_text(encoding="utf-8"))

    parsed = parse_orders_csv(
        (EXAMPLES / "orders.csv").read_text(encoding="utf-8"),
        known_skus={p.sku for p in catalogue.products},
        today=date(2026, 1, 1),
    )

    assert {o.customer_kind for o in parsed} == {CustomerKind.RETAILER, CustomerKind.WEB_SHOP}


# --- products.csv: every kind of problem, with its line -------------------------------------------


def test_a_missing_header_column_is_reported_on_line_one() -> None:
    header = HEADER.replace(",materials", "")

    errors = rejected_products(header + "\n" + f"{PENDANT},{HORN}".rsplit(",", 1)[0] + "\n")

    assert where(errors) == [(1, "materials")]
    assert errors[0].reason == "missing column"


def test_an_unknown_or_repeated_header_column_is_reported() -> None:
    errors = rejected_products(HEADER + ",colour,sku\n")

    assert sorted(where(errors)) == [(1, "colour"), (1, "sku")]


def test_an_empty_file_and_a_header_without_rows_are_rejected() -> None:
    assert where(rejected_products("")) == [(1, None)]
    assert where(rejected_products(HEADER + "\n")) == [(1, None)]


def test_an_empty_required_cell_is_a_missing_value_on_its_line() -> None:
    errors = rejected_products(products(f"{PENDANT},{HORN}", f"HRN-PND,,1200,2400,1,{BAIL}"))

    assert where(errors) == [(3, "product_name")]
    assert errors[0].reason == "missing value"


def test_a_row_with_more_values_than_columns_is_rejected() -> None:
    errors = rejected_products(products(f"{PENDANT},{HORN},surplus"))

    assert where(errors) == [(2, None)]


@pytest.mark.parametrize(
    ("wholesale", "reason"),
    [
        ("twelve", "'twelve' is not a number"),
        ("-1200", "-1200 is negative"),
        ("1200.505", "1200.505 has more than 2 decimal places"),
        ("0", "must be more than zero"),
        ("1e3", "'1e3' is not a number"),
    ],
)
def test_a_bad_price_is_reported_with_its_reason(wholesale: str, reason: str) -> None:
    errors = rejected_products(products(f"HRN-PND,Horn pendant,{wholesale},2400,1,{HORN}"))

    assert errors == [RowError(2, "wholesale_kes", reason)]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("wholesale_kes", "1000000.01", "1000000.01 is more than KES 1,000,000, the most a price"),
        ("retail_kes", "99999999999999999999", "the most a price may be"),
        ("piece_rate_kes", "100000.50", "100000.50 is more than KES 100,000, the most a piece"),
        ("assembly_days", "366", "366 is more than 365, the most allowed"),
        ("lead_time_days", "99999999999999999999", "is more than 365"),
        ("quantity_per_unit", "1001", "1001 is more than 1,000, the most allowed"),
        ("quantity_per_unit", "9" * 5000, "is more than 1,000"),  # int() would refuse 4300 digits
        ("materials", "horn:100000000:kg", "quantity of horn is more than 99999999.9999"),
    ],
)
def test_a_number_beyond_its_limit_is_refused_on_its_line(
    column: str, value: str, reason: str
) -> None:
    cells = dict(zip(PRODUCT_COLUMNS, f"{PENDANT},{HORN}".split(","), strict=True))
    cells[column] = value

    errors = rejected_products(products(",".join(cells.values())))

    assert where(errors) == [(2, column)]
    assert reason in errors[0].reason


def test_the_largest_allowed_numbers_are_accepted() -> None:
    row = "BIG,Big,1000000,1000000,365,part,Part,wire_work,1000,100000,365,wire:99999999.9999:m"

    catalogue = parse_products_csv(products(row))

    assert catalogue.products[0].retail_price_cents == 100_000_000
    assert catalogue.components[0].piece_rate_cents == 10_000_000


def test_bad_whole_numbers_are_reported_per_column() -> None:
    row = "HRN-PND,Horn pendant,1200,2400,-1,horn_pendant,Horn crescent,horn_carving,1.5,250,0,"

    errors = rejected_products(products(row))

    assert errors == [
        RowError(2, "assembly_days", "-1 is negative"),
        RowError(2, "lead_time_days", "must be at least 1"),
        RowError(2, "quantity_per_unit", "'1.5' is not a whole number"),
    ]


def test_a_skill_that_is_not_a_snake_case_name_is_rejected() -> None:
    errors = rejected_products(
        products(f"{PENDANT},horn_pendant,Horn crescent,Horn Carving,1,250,5,")
    )

    assert where(errors) == [(2, "skill")]
    assert "horn_carving" in errors[0].reason


@pytest.mark.parametrize(
    ("materials", "fragment"),
    [
        ("brass wire;0.02;kg", "is not material:quantity:unit"),
        ("brass wire:lots:kg", "quantity of brass wire: 'lots' is not a number"),
        ("brass wire:0:kg", "quantity of brass wire must be more than zero"),
        ("brass wire:0.00001:kg", "more than 4 decimal places"),
        ("brass:1:kg;brass:2:kg", "listed twice"),
        ("Brass:1:kg;brass :2:kg", "listed twice"),
    ],
)
def test_a_bad_materials_list_is_rejected(materials: str, fragment: str) -> None:
    errors = rejected_products(
        products(f'{PENDANT},horn_pendant,Horn crescent,horn_carving,1,250,5,"{materials}"')
    )

    assert where(errors) == [(2, "materials")]
    assert fragment in errors[0].reason


def test_retail_below_wholesale_is_rejected() -> None:
    errors = rejected_products(products(f"HRN-PND,Horn pendant,2400,1200,1,{HORN}"))

    assert errors == [RowError(2, "retail_kes", "retail price is below the wholesale price")]


def test_product_fields_that_disagree_between_rows_of_one_sku_are_rejected() -> None:
    errors = rejected_products(
        products(f"{PENDANT},{HORN}", f"HRN-PND,Horn Pendant,1200.00,2500,1,{BAIL}")
    )

    assert where(errors) == [(3, "product_name"), (3, "retail_kes")]
    assert "disagrees with line 2 for sku HRN-PND" in errors[0].reason


def test_component_fields_that_disagree_between_products_are_rejected() -> None:
    bangle = "BNE-BNG,Bone bangle,900,1800,1"
    cheaper_bail = BAIL.replace(",40,", ",35,")

    errors = rejected_products(products(f"{PENDANT},{BAIL}", f"{bangle},{cheaper_bail}"))

    assert where(errors) == [(3, "piece_rate_kes")]
    assert "disagrees with line 2 for component brass_bail" in errors[0].reason


def test_a_bom_line_listed_twice_is_a_duplicate() -> None:
    errors = rejected_products(products(f"{PENDANT},{HORN}", f"{PENDANT},{HORN}"))

    assert errors == [
        RowError(3, "component_code", "sku HRN-PND already lists component horn_pendant on line 2")
    ]


def test_every_bad_row_is_reported_not_just_the_first() -> None:
    errors = rejected_products(
        products(
            f"{PENDANT},{HORN}",
            f"BNE-BNG,Bone bangle,nine hundred,1800,1,{BAIL}",
            "",
            f"WIR-EAR,Wire earrings,600,1200,1,{HORN.replace('horn_carving', 'Horn!')}",
            f"{PENDANT},{BAIL}",
        )
    )

    assert where(errors) == [(3, "wholesale_kes"), (5, "skill")]


def test_a_quoted_value_spanning_lines_is_reported_where_its_record_starts() -> None:
    errors = rejected_products(
        products(f'HRN-PND,"Horn\npendant",1200,2400,1,{HORN}', f"BNE-BNG,Bone,x,1800,1,{BAIL}")
    )

    assert where(errors) == [(4, "wholesale_kes")]


def test_the_rejection_message_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(CsvRejected) as caught:
        parse_products_csv(products(f"HRN-PND,,1200,2400,1,{HORN}"))

    assert str(caught.value) == (
        "products CSV rejected: 1 problem, nothing was imported.\n"
        "  line 2, product_name: missing value"
    )


# --- export and round trip ------------------------------------------------------------------------


def test_exporting_a_parsed_catalogue_and_parsing_it_again_gives_the_same_catalogue() -> None:
    catalogue = parse_products_csv((EXAMPLES / "products.csv").read_text(encoding="utf-8"))

    again = parse_products_csv(catalogue_to_csv(catalogue))

    assert normalised(again) == normalised(catalogue)
    assert catalogue_to_csv(again) == catalogue_to_csv(catalogue)


def normalised(catalogue: CatalogueSpec) -> tuple[object, ...]:
    """The catalogue without the file's row order, which carries no meaning."""
    products = sorted(
        (
            p.sku,
            p.name,
            p.wholesale_price_cents,
            p.retail_price_cents,
            p.assembly_days,
            frozenset(p.bom),
        )
        for p in catalogue.products
    )
    return tuple(products), frozenset(catalogue.components)


@given(st.integers(min_value=1, max_value=MAX_PIECE_RATE_CENTS))
def test_any_amount_of_cents_survives_formatting_and_parsing(cents: int) -> None:
    catalogue = CatalogueSpec(
        products=(ProductSpec("SKU", "Thing", cents, cents, 0, (BomLineSpec("c", 1),)),),
        components=(ComponentSpec("c", "C", "wire_work", cents, 1, ()),),
    )

    parsed = parse_products_csv(catalogue_to_csv(catalogue))

    assert parsed == catalogue
    assert format_kes(cents).count(".") <= 1


# --- orders.csv -----------------------------------------------------------------------------------


def test_rows_of_one_reference_become_one_order_with_lines() -> None:
    parsed = parse_orders_csv(
        orders(
            "Maridadi Crafts,retailer,PO-1001,2026-04-15,HRN-PND,40",
            "Maridadi Crafts,retailer,PO-1001,2026-04-15,BNE-BNG,25",
            "Karakana web shop,web_shop,WEB-77,2026-03-20,HRN-PND,1",
        ),
        known_skus={"HRN-PND", "BNE-BNG"},
        today=TODAY,
    )

    assert [(o.customer, o.reference, o.customer_kind, o.due_date) for o in parsed] == [
        ("Maridadi Crafts", "PO-1001", CustomerKind.RETAILER, date(2026, 4, 15)),
        ("Karakana web shop", "WEB-77", CustomerKind.WEB_SHOP, date(2026, 3, 20)),
    ]
    assert parsed[0].lines == (OrderLineSpec("HRN-PND", 40), OrderLineSpec("BNE-BNG", 25))
    assert parsed[0].line_numbers == (2, 3)


def test_a_due_date_of_today_is_accepted() -> None:
    parsed = parse_orders_csv(
        orders("Shop,web_shop,W-1,2026-03-02,HRN-PND,1"), known_skus={"HRN-PND"}, today=TODAY
    )

    assert parsed[0].due_date == TODAY


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("Shop,wholesaler,W-1,2026-04-01,HRN-PND,1", "customer_kind", "retailer or web_shop"),
        ("Shop,retailer,W-1,01/04/2026,HRN-PND,1", "due_date", "YYYY-MM-DD"),
        ("Shop,retailer,W-1,2026-02-30,HRN-PND,1", "due_date", "not a real date"),
        ("Shop,retailer,W-1,2026-03-01,HRN-PND,1", "due_date", "is in the past"),
        ("Shop,retailer,W-1,2026-04-01,NOPE,1", "sku", "unknown sku 'NOPE'"),
        ("Shop,retailer,W-1,2026-04-01,HRN-PND,0", "quantity", "must be at least 1"),
        ("Shop,retailer,W-1,2026-04-01,HRN-PND,-3", "quantity", "is negative"),
        ("Shop,retailer,W-1,2026-04-01,HRN-PND,two", "quantity", "not a whole number"),
        ("Shop,retailer,W-1,2026-04-01,HRN-PND,+3", "quantity", "has a sign"),
        ("Shop,retailer,W-1,2026-04-01,HRN-PND,1e3", "quantity", "not a whole number"),
        ('Shop,retailer,W-1,2026-04-01,HRN-PND,"1,000"', "quantity", "not a whole number"),
        ("Shop,retailer,,2026-04-01,HRN-PND,2", "reference", "missing value"),
    ],
)
def test_a_bad_order_row_is_reported_with_its_line_and_column(
    row: str, column: str, fragment: str
) -> None:
    errors = rejected_orders(orders("Shop,retailer,W-0,2026-04-01,HRN-PND,1", row))

    assert where(errors) == [(3, column)]
    assert fragment in errors[0].reason


def test_an_order_line_listed_twice_is_a_duplicate() -> None:
    errors = rejected_orders(
        orders("Shop,retailer,PO-1,2026-04-01,HRN-PND,1", "Shop,retailer,PO-1,2026-04-01,HRN-PND,5")
    )

    assert errors == [RowError(3, "sku", "order PO-1 already has a line for HRN-PND on line 2")]


def test_rows_of_one_order_must_agree_on_the_due_date_and_the_customer_kind() -> None:
    errors = rejected_orders(
        orders(
            "Shop,retailer,PO-1,2026-04-01,HRN-PND,1",
            "Shop,retailer,PO-1,2026-04-08,BNE-BNG,1",
            "Shop,web_shop,PO-2,2026-04-08,BNE-BNG,1",
        )
    )

    assert where(errors) == [(3, "due_date"), (4, "customer_kind")]


def test_an_order_already_in_the_database_is_refused() -> None:
    errors = rejected_orders(
        orders("Shop,retailer,PO-1,2026-04-01,HRN-PND,1"), existing_orders={("Shop", "PO-1")}
    )

    assert errors == [RowError(2, "reference", "order PO-1 for Shop already exists")]


def test_a_known_customer_keeps_its_kind() -> None:
    errors = rejected_orders(
        orders("Shop,web_shop,PO-1,2026-04-01,HRN-PND,1"),
        customer_kinds={"Shop": CustomerKind.RETAILER},
    )

    assert where(errors) == [(2, "customer_kind")]
    assert "already a retailer customer" in errors[0].reason


def test_every_bad_order_row_is_reported_at_once() -> None:
    errors = rejected_orders(
        orders(
            "Shop,retailer,PO-1,2026-04-01,HRN-PND,1",
            "Shop,retailer,PO-2,yesterday,HRN-PND,1",
            "Shop,retailer,PO-3,2026-04-01,GHOST,1",
            "Shop,retailer,PO-4,2026-04-01,BNE-BNG,many",
        )
    )

    assert where(errors) == [(3, "due_date"), (4, "sku"), (5, "quantity")]


@pytest.mark.parametrize("quantity", ["99999999999999999999", str(10**12), "100001"])
def test_an_order_quantity_beyond_the_most_a_line_may_have_is_refused_on_its_line(
    quantity: str,
) -> None:
    errors = rejected_orders(
        orders(
            "Shop,retailer,PO-1,2026-04-01,HRN-PND,10",
            f"Shop,retailer,PO-2,2026-04-01,HRN-PND,{quantity}",
        )
    )

    assert errors == [
        RowError(
            3,
            "quantity",
            f"{quantity} is more than 100,000, the most allowed: split a larger order into several",
        )
    ]


def test_an_order_line_whose_job_would_be_too_big_is_refused_on_its_line() -> None:
    boms = {"HRN-PND": [BomItem(1, 1, 15_000), BomItem(2, 4, 500)]}

    errors = rejected_orders(
        orders(
            "Shop,retailer,PO-1,2026-04-01,HRN-PND,25000",  # 100,000 bails: the most a job has
            "Shop,retailer,PO-2,2026-04-01,HRN-PND,25001",
        ),
        boms=boms,
    )

    assert where(errors) == [(3, "quantity")]
    assert "make 100,004 pieces of one component" in errors[0].reason
