"""Catalogues and orders between CSV specs and the database, through the domain services.

The CSV text itself is parsed and written by ``domain.csv_formats``; this module applies a parsed
file inside the caller's transaction (so a file is imported whole or not at all) and reads the
catalogue back out for export.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.csv_formats import (
    BomLineSpec,
    CatalogueSpec,
    ComponentSpec,
    MaterialSpec,
    OrderSpec,
    ProductSpec,
)
from domain.explosion import FACTORY_ZONE, BomItem
from domain.model import BomLine, Component, Customer, CustomerKind, Order, Product
from domain.revenue_share import ComponentCost, SaleLine, revenue_share
from domain.services.catalogue import component_materials, set_bom, upsert_component, upsert_product
from domain.services.orders import (
    bills_of_materials,
    confirm_order,
    create_order,
    get_or_create_customer,
)


@dataclass(frozen=True, slots=True)
class CatalogueImported:
    products_added: int
    products_updated: int
    components_added: int
    components_updated: int


@dataclass(frozen=True, slots=True)
class OrderImported:
    order: Order
    customer: str
    units: int
    jobs: int  # created by confirming it; 0 for a draft


async def apply_catalogue(session: AsyncSession, catalogue: CatalogueSpec) -> CatalogueImported:
    """Create or update every component and product of ``catalogue`` and replace their BOMs."""
    known_components = set(await session.exec(select(Component.code)))
    known_products = {p.sku: p for p in await session.exec(select(Product))}
    for component in catalogue.components:
        await upsert_component(
            session,
            code=component.code,
            name=component.name,
            skill=component.skill,
            piece_rate_cents=component.piece_rate_cents,
            lead_time_days=component.lead_time_days,
            materials=[(m.material, m.quantity, m.unit) for m in component.materials],
        )
    for product in catalogue.products:
        existing = known_products.get(product.sku)
        await upsert_product(
            session,
            sku=product.sku,
            name=product.name,
            wholesale_price_cents=product.wholesale_price_cents,
            retail_price_cents=product.retail_price_cents,
            assembly_days=product.assembly_days,
            # Not in the CSV: an import must not wipe what was set some other way.
            assembly_cost_cents=0 if existing is None else existing.assembly_cost_cents,
        )
        await set_bom(
            session,
            sku=product.sku,
            components={line.component_code: line.quantity_per_unit for line in product.bom},
        )
    added_products = sum(1 for p in catalogue.products if p.sku not in known_products)
    added_components = sum(1 for c in catalogue.components if c.code not in known_components)
    return CatalogueImported(
        products_added=added_products,
        products_updated=len(catalogue.products) - added_products,
        components_added=added_components,
        components_updated=len(catalogue.components) - added_components,
    )


async def read_catalogue(session: AsyncSession) -> CatalogueSpec:
    """Every product with its BOM, and every component some product uses, for export."""
    rows = await session.exec(
        select(Product, BomLine, Component)
        .join(BomLine, col(BomLine.product_id) == Product.id)
        .join(Component, col(Component.id) == BomLine.component_id)
        .order_by(col(Product.sku), col(Component.code))
    )
    products: dict[str, tuple[Product, list[BomLineSpec]]] = {}
    components: dict[str, ComponentSpec] = {}
    for product, line, component in rows:
        products.setdefault(product.sku, (product, []))[1].append(
            BomLineSpec(component.code, line.quantity_per_unit)
        )
        if component.code not in components:
            assert component.id is not None
            materials = await component_materials(session, component.id)
            components[component.code] = ComponentSpec(
                code=component.code,
                name=component.name,
                skill=component.skill,
                piece_rate_cents=component.piece_rate_cents,
                lead_time_days=component.lead_time_days,
                materials=tuple(
                    MaterialSpec(m.material, m.quantity_per_piece.normalize(), m.unit)
                    for m in materials
                ),
            )
    return CatalogueSpec(
        products=tuple(
            ProductSpec(
                sku=product.sku,
                name=product.name,
                wholesale_price_cents=product.wholesale_price_cents,
                retail_price_cents=product.retail_price_cents,
                assembly_days=product.assembly_days,
                bom=tuple(bom),
            )
            for product, bom in products.values()
        ),
        components=tuple(components.values()),
    )


def wholesale_shares(catalogue: CatalogueSpec) -> list[tuple[str, Decimal]]:
    """Each product's piece payments as a share of its wholesale price, for the band check."""
    return [
        (
            product.sku,
            revenue_share(
                [
                    SaleLine(
                        units=1,
                        unit_price_cents=product.wholesale_price_cents,
                        components=[
                            ComponentCost(
                                catalogue.component(line.component_code).piece_rate_cents,
                                line.quantity_per_unit,
                            )
                            for line in product.bom
                        ],
                    )
                ]
            ),
        )
        for product in catalogue.products
    ]


@dataclass(frozen=True, slots=True)
class OrderContext:
    """What an orders file is checked against: the catalogue, and orders and customers we have."""

    known_skus: frozenset[str]
    existing_orders: frozenset[tuple[str, str]]
    customer_kinds: dict[str, CustomerKind]
    boms: dict[str, list[BomItem]]  # so a line too big for one job is refused on its own line


async def order_context(session: AsyncSession) -> OrderContext:
    customers = {c.id: c for c in await session.exec(select(Customer))}
    orders = await session.exec(select(Order.customer_id, Order.reference))
    return OrderContext(
        known_skus=frozenset(await session.exec(select(Product.sku))),
        existing_orders=frozenset(
            (customers[customer_id].name, reference) for customer_id, reference in orders
        ),
        customer_kinds={c.name: c.kind for c in customers.values()},
        boms=await bills_of_materials(session),
    )


async def apply_orders(
    session: AsyncSession,
    orders: Sequence[OrderSpec],
    *,
    now: datetime,
    confirm: bool,
    zone: tzinfo = FACTORY_ZONE,
) -> list[OrderImported]:
    """Create each order as a draft, and confirm it (exploding it into jobs) if asked to."""
    imported = []
    for spec in orders:
        customer = await get_or_create_customer(
            session, name=spec.customer, kind=spec.customer_kind
        )
        assert customer.id is not None
        order = await create_order(
            session,
            customer_id=customer.id,
            reference=spec.reference,
            due_date=spec.due_date,
            lines=[(line.sku, line.quantity) for line in spec.lines],
            now=now,
            zone=zone,
        )
        assert order.id is not None
        jobs = await confirm_order(session, order.id, now=now) if confirm else []
        imported.append(
            OrderImported(
                order=order,
                customer=customer.name,
                units=sum(line.quantity for line in spec.lines),
                jobs=len(jobs),
            )
        )
    return imported
