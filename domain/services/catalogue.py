"""The catalogue: components, products and the bill of materials that joins them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, InvalidQuantity
from domain.limits import (
    MAX_DAYS,
    MAX_MATERIAL_PER_PIECE,
    MAX_PIECE_RATE_CENTS,
    MAX_PIECES_PER_UNIT,
    MAX_PRICE_CENTS,
)
from domain.model import BomLine, Component, ComponentMaterial, Product
from domain.services.guards import InvalidField, clean_skill, clean_text


class MaterialUse(NamedTuple):
    """How much of one material a single piece of a component consumes."""

    material: str
    quantity_per_piece: Decimal
    unit: str


class UnknownComponents(DomainError):
    def __init__(self, codes: Iterable[str]) -> None:
        self.codes = tuple(sorted(set(codes)))
        super().__init__(
            f"unknown component code(s): {', '.join(self.codes)}; add the component first"
        )


def clean_material(value: str) -> str:
    """Material names match stock reports and requests, so case and spacing must not matter."""
    return " ".join(clean_text(value, field="material", max_length=40).lower().split())


def _positive_whole(value: int, *, field: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= most:
        raise InvalidField(field, f"must be a whole number from 1 to {most:,} (got {value!r})")
    return value


def _non_negative_whole(value: int, *, field: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
        raise InvalidField(field, f"must be a whole number from 0 to {most:,} (got {value!r})")
    return value


def _material_quantity(value: Decimal | int | str, *, material: str) -> Decimal:
    try:
        quantity = Decimal(value)
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise InvalidField(f"quantity of {material}", f"is not a number ({value!r})") from exc
    if not quantity.is_finite() or quantity <= 0 or quantity > MAX_MATERIAL_PER_PIECE:
        raise InvalidField(
            f"quantity of {material}",
            f"must be above zero and at most {MAX_MATERIAL_PER_PIECE:,} (got {value!r})",
        )
    if quantity != quantity.quantize(Decimal("0.0001")):
        raise InvalidField(f"quantity of {material}", "allows at most 4 decimal places")
    return quantity


async def upsert_component(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    skill: str,
    piece_rate_cents: int,
    lead_time_days: int,
    materials: Iterable[tuple[str, Decimal | int | str, str]] = (),
) -> Component:
    """Create the component with ``code`` or update it; its materials list is replaced."""
    code = clean_text(code, field="component code", max_length=40)
    uses: dict[str, ComponentMaterial] = {}
    for raw_material, raw_quantity, raw_unit in materials:
        material = clean_material(raw_material)
        if material in uses:
            raise InvalidField("materials", f"list {material} twice for component {code}")
        uses[material] = ComponentMaterial(
            component_id=0,  # set below, once the component has an id
            material=material,
            quantity_per_piece=_material_quantity(raw_quantity, material=material),
            unit=clean_text(raw_unit, field=f"unit of {material}", max_length=12),
        )
    wanted = Component(
        code=code,
        name=clean_text(name, field="component name", max_length=80),
        skill=clean_skill(skill),
        piece_rate_cents=_positive_whole(
            piece_rate_cents, field="piece rate (cents)", most=MAX_PIECE_RATE_CENTS
        ),
        lead_time_days=_positive_whole(lead_time_days, field="lead time (days)", most=MAX_DAYS),
    )
    component = (await session.exec(select(Component).where(Component.code == code))).first()
    if component is None:
        component = wanted
        session.add(component)
    else:
        component.sqlmodel_update(wanted.model_dump(exclude={"id"}))
    await session.flush()
    assert component.id is not None
    await session.exec(
        delete(ComponentMaterial).where(col(ComponentMaterial.component_id) == component.id)
    )
    for use in uses.values():
        use.component_id = component.id
        session.add(use)
    await session.flush()
    return component


async def component_materials(session: AsyncSession, component_id: int) -> list[MaterialUse]:
    rows = await session.exec(
        select(ComponentMaterial)
        .where(ComponentMaterial.component_id == component_id)
        .order_by(col(ComponentMaterial.material))
    )
    return [MaterialUse(r.material, r.quantity_per_piece, r.unit) for r in rows]


async def upsert_product(
    session: AsyncSession,
    *,
    sku: str,
    name: str,
    wholesale_price_cents: int,
    retail_price_cents: int,
    assembly_days: int = 1,
    assembly_cost_cents: int = 0,
) -> Product:
    """Create the product with ``sku`` or update it; its BOM is set separately (``set_bom``)."""
    sku = clean_text(sku, field="SKU", max_length=40)
    wanted = Product(
        sku=sku,
        name=clean_text(name, field="product name", max_length=120),
        wholesale_price_cents=_positive_whole(
            wholesale_price_cents, field="wholesale price (cents)", most=MAX_PRICE_CENTS
        ),
        retail_price_cents=_positive_whole(
            retail_price_cents, field="retail price (cents)", most=MAX_PRICE_CENTS
        ),
        assembly_days=_non_negative_whole(assembly_days, field="assembly days", most=MAX_DAYS),
        assembly_cost_cents=_non_negative_whole(
            assembly_cost_cents, field="assembly cost (cents)", most=MAX_PRICE_CENTS
        ),
    )
    if wanted.wholesale_price_cents > wanted.retail_price_cents:
        raise InvalidField(
            "wholesale price",
            f"of {sku} ({wholesale_price_cents} cents) is above its retail price "
            f"({retail_price_cents} cents)",
        )
    product = (await session.exec(select(Product).where(Product.sku == sku))).first()
    if product is None:
        product = wanted
        session.add(product)
    else:
        product.sqlmodel_update(wanted.model_dump(exclude={"id"}))
    await session.flush()
    return product


async def set_bom(
    session: AsyncSession, *, sku: str, components: Mapping[str, int]
) -> list[BomLine]:
    """Replace the bill of materials of ``sku``: component code -> pieces per unit of product.

    Jobs already exploded from confirmed orders keep the BOM they were made from.
    """
    sku = sku.strip()
    product = (await session.exec(select(Product).where(Product.sku == sku))).first()
    if product is None:
        raise DomainError(f"unknown product SKU {sku!r}; add the product first")
    if not components:
        raise DomainError(
            f"the bill of materials of {sku} is empty: a product needs at least one component"
        )
    wanted = {code.strip(): quantity for code, quantity in components.items()}
    for code, quantity in wanted.items():
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 0 < quantity <= MAX_PIECES_PER_UNIT
        ):
            raise InvalidQuantity(
                f"{sku} needs a whole number of {code} pieces per unit, from 1 to "
                f"{MAX_PIECES_PER_UNIT:,} (got {quantity!r})"
            )
    found = {
        c.code: c
        for c in await session.exec(select(Component).where(col(Component.code).in_(wanted)))
    }
    if unknown := set(wanted) - set(found):
        raise UnknownComponents(unknown)
    assert product.id is not None
    await session.exec(delete(BomLine).where(col(BomLine.product_id) == product.id))
    lines = []
    for code, quantity in sorted(wanted.items()):
        component_id = found[code].id
        assert component_id is not None
        line = BomLine(product_id=product.id, component_id=component_id, quantity_per_unit=quantity)
        session.add(line)
        lines.append(line)
    await session.flush()
    return lines


async def skills_in_use(session: AsyncSession) -> list[str]:
    """The skills some product needs: those of components that appear in a BOM, sorted."""
    rows = await session.exec(
        select(Component.skill)
        .join(BomLine, col(BomLine.component_id) == Component.id)
        .distinct()
        .order_by(col(Component.skill))
    )
    return list(rows)
