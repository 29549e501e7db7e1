from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQuantity
from domain.explosion import (
    TRANSIT_DAYS,
    BomItem,
    LineDemand,
    MissingBom,
    explode,
    factory_today,
    is_at_risk,
    job_due_date,
    latest_start,
    line_problems,
)

ORDER_DUE = date(2026, 3, 30)
NECKLACE_BOM = {
    "NECKLACE": [
        BomItem(component_id=1, quantity_per_unit=1, piece_rate_cents=5_000),
        BomItem(2, 2, 40),
    ]
}


def test_a_line_becomes_one_job_per_component_with_pieces_for_every_unit() -> None:
    specs = explode([LineDemand(7, "NECKLACE", 10, assembly_days=1)], NECKLACE_BOM, ORDER_DUE)

    assert [(s.order_line_id, s.component_id, s.quantity) for s in specs] == [
        (7, 1, 10),
        (7, 2, 20),
    ]


def test_jobs_are_due_before_transit_and_assembly_at_the_central_workshop() -> None:
    specs = explode([LineDemand(7, "NECKLACE", 10, assembly_days=2)], NECKLACE_BOM, ORDER_DUE)

    assert {s.due_date for s in specs} == {date(2026, 3, 27)}  # 30th - 2 assembly - 1 transit


def test_a_component_listed_twice_in_a_bom_is_merged_into_one_job_per_line() -> None:
    boms = {"KIT": [BomItem(5, 2, 100), BomItem(5, 3, 100)]}

    specs = explode([LineDemand(1, "KIT", 4, 0)], boms, ORDER_DUE)

    assert [(s.component_id, s.quantity) for s in specs] == [(5, 20)]


def test_two_lines_sharing_a_component_each_get_their_own_job() -> None:
    boms = {"A": [BomItem(9, 1, 100)], "B": [BomItem(9, 2, 100)]}

    specs = explode([LineDemand(1, "A", 3, 0), LineDemand(2, "B", 4, 3)], boms, ORDER_DUE)

    assert [(s.order_line_id, s.quantity, s.due_date) for s in specs] == [
        (1, 3, date(2026, 3, 29)),
        (2, 8, date(2026, 3, 26)),
    ]


def test_a_product_without_a_bom_refuses_the_whole_order_and_names_it() -> None:
    lines = [LineDemand(1, "NECKLACE", 1, 1), LineDemand(2, "MYSTERY", 1, 1)]

    with pytest.raises(MissingBom, match="no bill of materials for MYSTERY") as caught:
        explode(lines, {**NECKLACE_BOM, "EMPTY": []}, ORDER_DUE)

    assert caught.value.skus == ("MYSTERY",)


def test_an_empty_bom_counts_as_no_bom() -> None:
    with pytest.raises(MissingBom, match="EMPTY"):
        explode([LineDemand(1, "EMPTY", 1, 1)], {"EMPTY": []}, ORDER_DUE)


def test_a_line_of_zero_units_is_refused() -> None:
    with pytest.raises(InvalidQuantity, match="at least one unit"):
        explode([LineDemand(1, "NECKLACE", 0, 1)], NECKLACE_BOM, ORDER_DUE)


def test_a_line_whose_job_would_have_more_pieces_than_a_job_may_is_refused() -> None:
    # 50,001 necklaces need 100,002 pieces of component 2 (two a necklace).
    with pytest.raises(InvalidQuantity, match=r"make 100,002 pieces of one component.*100,000"):
        explode([LineDemand(1, "NECKLACE", 50_001, 1)], NECKLACE_BOM, ORDER_DUE)

    assert len(explode([LineDemand(1, "NECKLACE", 50_000, 1)], NECKLACE_BOM, ORDER_DUE)) == 2


def test_a_line_whose_job_would_pay_more_than_a_job_may_is_refused() -> None:
    carved = [BomItem(1, 1, piece_rate_cents=50_000)]  # KES 500 a piece
    # 40,000 pieces are KES 20,000,000, the most one job may pay; one more piece is too many.
    assert line_problems("MASK", 40_000, carved) == []

    with pytest.raises(InvalidQuantity, match=r"would pay KES 20,000,500 .* KES 20,000,000"):
        explode([LineDemand(1, "MASK", 40_001, 1)], {"MASK": carved}, ORDER_DUE)


def test_an_order_with_no_lines_explodes_into_no_jobs() -> None:
    assert explode([], NECKLACE_BOM, ORDER_DUE) == []


def test_job_due_date_leaves_one_transit_day_after_production() -> None:
    assert TRANSIT_DAYS == 1
    assert job_due_date(ORDER_DUE, 0) == date(2026, 3, 29)


def test_the_latest_start_is_the_lead_time_before_the_job_is_due() -> None:
    assert latest_start(date(2026, 3, 27), 5) == date(2026, 3, 22)


def test_a_job_whose_latest_start_is_today_is_not_yet_at_risk() -> None:
    assert not is_at_risk(date(2026, 3, 27), 5, today=date(2026, 3, 22))


def test_a_job_whose_latest_start_was_yesterday_is_at_risk() -> None:
    assert is_at_risk(date(2026, 3, 27), 5, today=date(2026, 3, 23))


def test_the_factory_day_turns_at_midnight_in_nairobi_not_utc() -> None:
    assert factory_today(datetime(2026, 3, 2, 20, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert factory_today(datetime(2026, 3, 2, 21, 0, tzinfo=UTC)) == date(2026, 3, 3)


def test_a_naive_time_has_no_factory_day() -> None:
    with pytest.raises(ValueError, match="aware"):
        factory_today(datetime(2026, 3, 2, 12, 0))


# -- properties ---------------------------------------------------------------------------------

skus = st.sampled_from(["NECKLACE", "EARRINGS", "BANGLE", "BROOCH", "RING"])
bom_items = st.lists(
    st.builds(
        BomItem,
        component_id=st.integers(1, 8),
        quantity_per_unit=st.integers(1, 12),
        piece_rate_cents=st.integers(1, 100_000),
    ),
    min_size=1,
    max_size=5,
)
boms_strategy = st.dictionaries(skus, bom_items, min_size=5, max_size=5)


@st.composite
def orders(draw: st.DrawFn) -> tuple[list[LineDemand], dict[str, list[BomItem]], date]:
    boms = draw(boms_strategy)
    line_skus = draw(st.lists(skus, max_size=5, unique=True))
    line_ids = draw(
        st.lists(
            st.integers(1, 10_000), min_size=len(line_skus), max_size=len(line_skus), unique=True
        )
    )
    lines = [
        LineDemand(line_id, sku, draw(st.integers(1, 500)), draw(st.integers(0, 5)))
        for line_id, sku in zip(line_ids, line_skus, strict=True)
    ]
    due = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)))
    return lines, boms, due


@given(orders())
def test_total_pieces_per_component_equal_line_quantity_times_quantity_per_unit(
    order: tuple[list[LineDemand], dict[str, list[BomItem]], date],
) -> None:
    lines, boms, due = order
    expected: Counter[int] = Counter()
    for line in lines:
        for item in boms[line.sku]:
            expected[item.component_id] += line.quantity * item.quantity_per_unit

    produced: Counter[int] = Counter()
    for spec in explode(lines, boms, due):
        produced[spec.component_id] += spec.quantity

    assert produced == expected


@given(orders())
def test_nothing_is_produced_for_a_line_not_in_the_order(
    order: tuple[list[LineDemand], dict[str, list[BomItem]], date],
) -> None:
    lines, boms, due = order
    specs = explode(lines, boms, due)

    assert {s.order_line_id for s in specs} <= {line.line_id for line in lines}
    # ...and every line that is in the order gets work, one job per distinct component.
    for line in lines:
        components = [s.component_id for s in specs if s.order_line_id == line.line_id]
        assert sorted(components) == sorted({i.component_id for i in boms[line.sku]})


@given(orders())
def test_no_job_is_ever_due_after_its_order(
    order: tuple[list[LineDemand], dict[str, list[BomItem]], date],
) -> None:
    lines, boms, due = order
    for spec in explode(lines, boms, due):
        assert spec.due_date <= due - timedelta(days=TRANSIT_DAYS)
        assert spec.quantity > 0
