"""Revenue share: what artisans are paid as a fraction of what the order sells for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidQuantity
from domain.revenue_share import (
    ComponentCost,
    NothingSold,
    SaleLine,
    check_band,
    revenue_share,
)

LOW, HIGH = Decimal("0.25"), Decimal("0.35")


def test_the_share_is_piece_payments_over_revenue() -> None:
    # A horn pendant necklace: 1 pendant at 120.00 and 2 brass hooks at 15.00, sold at 500.00.
    necklace = SaleLine(
        units=10,
        unit_price_cents=50_000,
        components=(ComponentCost(12_000, 1), ComponentCost(1_500, 2)),
    )
    # Beaded earrings: 2 strands at 40.00, sold at 300.00.
    earrings = SaleLine(units=4, unit_price_cents=30_000, components=(ComponentCost(4_000, 2),))
    share = revenue_share([necklace, earrings])
    assert share == Decimal(10 * 15_000 + 4 * 8_000) / Decimal(10 * 50_000 + 4 * 30_000)
    assert isinstance(share, Decimal)


def test_an_order_of_nothing_has_no_share() -> None:
    with pytest.raises(NothingSold):
        revenue_share([])


def test_a_product_without_components_pays_artisans_nothing() -> None:
    assert revenue_share([SaleLine(units=3, unit_price_cents=1_000, components=())]) == 0


@pytest.mark.parametrize(
    ("units", "price", "rate", "per_unit"),
    [(0, 100, 10, 1), (1, 0, 10, 1), (1, 100, -1, 1), (1, 100, 10, 0)],
)
def test_a_sale_line_refuses_impossible_numbers(
    units: int, price: int, rate: int, per_unit: int
) -> None:
    with pytest.raises(InvalidQuantity):
        SaleLine(units=units, unit_price_cents=price, components=(ComponentCost(rate, per_unit),))


lines = st.lists(
    st.builds(
        SaleLine,
        units=st.integers(1, 1_000),
        unit_price_cents=st.integers(1, 10_000_000),
        components=st.lists(
            st.builds(
                ComponentCost,
                piece_rate_cents=st.integers(0, 1_000_000),
                pieces_per_unit=st.integers(1, 20),
            ),
            max_size=6,
        ).map(tuple),
    ),
    min_size=1,
    max_size=8,
)


@given(lines)
def test_the_share_is_never_negative_and_matches_the_formula(sale: list[SaleLine]) -> None:
    share = revenue_share(sale)
    assert share >= 0
    paid = sum(
        line.units * c.piece_rate_cents * c.pieces_per_unit
        for line in sale
        for c in line.components
    )
    sold = sum(line.units * line.unit_price_cents for line in sale)
    assert abs(share * sold - paid) <= Decimal("1e-20") * max(paid, 1)


@given(lines, st.integers(2, 5))
def test_selling_more_of_the_same_order_keeps_the_share(sale: list[SaleLine], k: int) -> None:
    scaled = [SaleLine(line.units * k, line.unit_price_cents, line.components) for line in sale]
    assert revenue_share(scaled) == pytest.approx(revenue_share(sale), rel=Decimal("1e-25"))


def test_a_share_inside_the_band_is_within() -> None:
    check = check_band(Decimal("0.3"), low=LOW, high=HIGH)
    assert check.within
    assert check.verdict == "artisans get 30.0% of revenue, within the 25.0%–35.0% band"


def test_the_band_includes_its_edges() -> None:
    assert check_band(LOW, low=LOW, high=HIGH).within
    assert check_band(HIGH, low=LOW, high=HIGH).within


def test_a_share_below_the_band_says_piece_rates_may_be_too_low() -> None:
    check = check_band(Decimal("0.2"), low=LOW, high=HIGH)
    assert not check.within
    assert "20.0%" in check.verdict
    assert "below the 25.0%–35.0% band" in check.verdict
    assert "piece rates may be too low" in check.verdict


def test_a_share_above_the_band_says_the_price_may_not_cover_costs() -> None:
    check = check_band(Decimal("0.41"), low=LOW, high=HIGH)
    assert not check.within
    assert "above the 25.0%–35.0% band" in check.verdict
    assert (check.share, check.low, check.high) == (Decimal("0.41"), LOW, HIGH)


@pytest.mark.parametrize(("low", "high"), [("0.4", "0.3"), ("-0.1", "0.3"), ("0.2", "1.5")])
def test_a_band_must_run_upwards_within_zero_and_one(low: str, high: str) -> None:
    with pytest.raises(ValueError, match="band"):
        check_band(Decimal("0.3"), low=Decimal(low), high=Decimal(high))
