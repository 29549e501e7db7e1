"""The artisans' share of an order's revenue, and whether it sits inside the agreed band.

share = sum(piece rate x pieces per unit x units) / sum(unit price x units)

The piece rates are the ones in the catalogue's bill of materials: what the order was priced to
pay the artisans. The band itself is a setting (the composition root passes it in), so the
domain holds no default of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, InvalidQuantity, NotFound
from domain.model import BomLine, Component, Order, OrderLine


@dataclass(frozen=True, slots=True)
class ComponentCost:
    """``pieces_per_unit`` pieces of a component, each paid ``piece_rate_cents`` to an artisan."""

    piece_rate_cents: int
    pieces_per_unit: int


@dataclass(frozen=True, slots=True)
class SaleLine:
    """``units`` of a product sold at ``unit_price_cents``, made of ``components``."""

    units: int
    unit_price_cents: int
    components: Sequence[ComponentCost]

    def __post_init__(self) -> None:
        if self.units <= 0 or self.unit_price_cents <= 0:
            raise InvalidQuantity(
                f"a sale line needs positive units and price, not {self.units} units at "
                f"{self.unit_price_cents} cents"
            )
        for c in self.components:
            if c.piece_rate_cents < 0 or c.pieces_per_unit <= 0:
                raise InvalidQuantity(
                    f"a component needs a rate of at least 0 and at least one piece per unit, "
                    f"not {c.piece_rate_cents} cents x {c.pieces_per_unit}"
                )

    @property
    def artisan_cents(self) -> int:
        return self.units * sum(c.piece_rate_cents * c.pieces_per_unit for c in self.components)

    @property
    def revenue_cents(self) -> int:
        return self.units * self.unit_price_cents


class NothingSold(DomainError):
    """A share of nothing is undefined: the order has no lines."""


def revenue_share(lines: Iterable[SaleLine]) -> Decimal:
    """The artisans' piece payments as a fraction of the revenue, exact to 28 digits."""
    lines = list(lines)
    revenue = sum(line.revenue_cents for line in lines)
    if revenue == 0:
        raise NothingSold("an order with no lines has no revenue to share")
    return Decimal(sum(line.artisan_cents for line in lines)) / Decimal(revenue)


@dataclass(frozen=True, slots=True)
class BandCheck:
    share: Decimal
    low: Decimal
    high: Decimal
    within: bool
    verdict: str


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))}%"


def check_band(share: Decimal, *, low: Decimal, high: Decimal) -> BandCheck:
    """Compare a share with the configured band (inclusive at both ends)."""
    if not Decimal(0) <= low <= high <= Decimal(1):
        raise ValueError(f"a band runs from low to high within 0..1, not {low}..{high}")
    band = f"the {_percent(low)}–{_percent(high)} band"
    if share < low:
        verdict = (
            f"artisans get {_percent(share)} of revenue, below {band}: "
            "piece rates may be too low for the price"
        )
    elif share > high:
        verdict = (
            f"artisans get {_percent(share)} of revenue, above {band}: "
            "the price may not cover materials, assembly and running costs"
        )
    else:
        verdict = f"artisans get {_percent(share)} of revenue, within {band}"
    return BandCheck(share=share, low=low, high=high, within=low <= share <= high, verdict=verdict)


async def order_sale_lines(session: AsyncSession, order_id: int) -> list[SaleLine]:
    """An order's lines with their bills of materials, as :func:`revenue_share` reads them."""
    if await session.get(Order, order_id) is None:
        raise NotFound("order", order_id)
    lines = (await session.exec(select(OrderLine).where(OrderLine.order_id == order_id))).all()
    boms = await session.exec(
        select(BomLine.product_id, BomLine.quantity_per_unit, Component.piece_rate_cents)
        .join(Component, col(Component.id) == col(BomLine.component_id))
        .where(col(BomLine.product_id).in_([line.product_id for line in lines]))
    )
    components: dict[int, list[ComponentCost]] = {}
    for product_id, per_unit, rate in boms.all():
        components.setdefault(product_id, []).append(ComponentCost(rate, per_unit))
    return [
        SaleLine(
            units=line.quantity,
            unit_price_cents=line.unit_price_cents,
            components=tuple(components.get(line.product_id, ())),
        )
        for line in lines
    ]
