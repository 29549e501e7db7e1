from collections.abc import Iterable
from decimal import Decimal
from typing import TypedDict

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import DomainError, InvalidQuantity
from domain.model import BomLine, Component, Product
from domain.services.catalogue import (
    MaterialUse,
    UnknownComponents,
    component_materials,
    set_bom,
    skills_in_use,
    upsert_component,
    upsert_product,
)
from domain.services.catalogue_io import read_catalogue
from domain.services.guards import InvalidField
from domain.store import Store
from tests.integration.factory_fixtures import BEADS, BRASS, HORN, stock_catalogue


async def test_a_component_is_created_then_updated_by_its_code_with_materials_replaced(
    store: Store,
) -> None:
    async with store.transaction() as session:
        first = await upsert_component(
            session,
            code="HOOK",
            name="Hook",
            skill="Brass  Work",
            piece_rate_cents=1_000,
            lead_time_days=2,
            materials=[("Brass Wire", "0.01", "kg"), ("solder", 1, "g")],
        )
    async with store.transaction() as session:
        second = await upsert_component(
            session,
            code=" HOOK ",
            name="Brass hook",
            skill="brass work",
            piece_rate_cents=1_500,
            lead_time_days=3,
            materials=[MaterialUse("brass wire", Decimal("0.02"), "kg")],
        )
    async with store.transaction() as session:
        components = (await session.exec(select(Component))).all()
        assert second.id is not None
        materials = await component_materials(session, second.id)

    assert second.id == first.id
    assert [
        (c.code, c.name, c.skill, c.piece_rate_cents, c.lead_time_days) for c in components
    ] == [("HOOK", "Brass hook", "brass work", 1_500, 3)]
    assert materials == [MaterialUse("brass wire", Decimal("0.0200"), "kg")]


class ComponentFields(TypedDict, total=False):
    """``upsert_component``'s keyword arguments, or some of them."""

    code: str
    name: str
    skill: str
    piece_rate_cents: int
    lead_time_days: int
    materials: Iterable[tuple[str, Decimal | int | str, str]]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": "  "}, "component code must not be empty"),
        ({"piece_rate_cents": 0}, "piece rate"),
        ({"lead_time_days": -1}, "lead time"),
        ({"materials": [("beads", 0, "pcs")]}, "quantity of beads must be above zero"),
        ({"materials": [("beads", "lots", "pcs")]}, "quantity of beads is not a number"),
        ({"materials": [("beads", 1, "pcs"), ("Beads", 2, "pcs")]}, "beads twice"),
    ],
)
async def test_a_component_with_a_bad_field_is_refused_naming_the_field(
    store: Store, changes: ComponentFields, message: str
) -> None:
    fields: ComponentFields = {
        "code": "STRAND",
        "name": "Strand",
        "skill": BEADS,
        "piece_rate_cents": 500,
        "lead_time_days": 3,
        "materials": [],
        **changes,
    }
    async with store.transaction() as session:
        with pytest.raises(InvalidField, match=message):
            await upsert_component(session, **fields)
        assert (await session.exec(select(Component))).all() == []


async def test_a_product_is_created_then_updated_by_its_sku(store: Store) -> None:
    async with store.transaction() as session:
        await upsert_product(
            session, sku="RING", name="Ring", wholesale_price_cents=100, retail_price_cents=150
        )
        await upsert_product(
            session,
            sku="RING",
            name="Brass ring",
            wholesale_price_cents=200,
            retail_price_cents=300,
            assembly_days=0,
            assembly_cost_cents=50,
        )
        products = (await session.exec(select(Product))).all()

    assert [
        (p.sku, p.name, p.wholesale_price_cents, p.retail_price_cents, p.assembly_days)
        for p in products
    ] == [("RING", "Brass ring", 200, 300, 0)]


async def test_a_wholesale_price_above_the_retail_price_is_refused(store: Store) -> None:
    async with store.transaction() as session:
        with pytest.raises(InvalidField, match=r"RING .*is above its retail price"):
            await upsert_product(
                session, sku="RING", name="Ring", wholesale_price_cents=200, retail_price_cents=150
            )


async def test_setting_a_bom_replaces_the_old_one(store: Store) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        await set_bom(session, sku="NECKLACE-HORN", components={"HORN-PENDANT": 3})
        catalogue = await read_catalogue(session)  # what `karakana products export` writes

    [necklace] = [p for p in catalogue.products if p.sku == "NECKLACE-HORN"]
    assert [(b.component_code, b.quantity_per_unit) for b in necklace.bom] == [("HORN-PENDANT", 3)]


async def test_an_empty_bom_is_refused(store: Store) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        with pytest.raises(DomainError, match="bill of materials of NECKLACE-HORN is empty"):
            await set_bom(session, sku="NECKLACE-HORN", components={})


async def _bom_lines(session: AsyncSession) -> list[tuple[int, int, int]]:
    rows = await session.exec(select(BomLine))
    return sorted((r.product_id, r.component_id, r.quantity_per_unit) for r in rows)


async def test_a_bom_naming_unknown_components_is_refused_naming_each_of_them(
    store: Store,
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        stocked = await _bom_lines(session)
        with pytest.raises(UnknownComponents, match="GOLD-CHAIN, SILVER-CLASP") as caught:
            await set_bom(
                session,
                sku="NECKLACE-HORN",
                components={"HORN-PENDANT": 1, "SILVER-CLASP": 1, "GOLD-CHAIN": 1},
            )
        # The old BOM is untouched by the refused one.
        rows = await _bom_lines(session)

    assert caught.value.codes == ("GOLD-CHAIN", "SILVER-CLASP")
    assert rows == stocked


async def test_a_bom_with_zero_pieces_of_a_component_is_refused(store: Store) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        with pytest.raises(InvalidQuantity, match="HORN-PENDANT pieces per unit"):
            await set_bom(session, sku="NECKLACE-HORN", components={"HORN-PENDANT": 0})


async def test_a_bom_for_an_unknown_product_is_refused(store: Store) -> None:
    async with store.transaction() as session:
        with pytest.raises(DomainError, match="unknown product SKU 'NOPE'"):
            await set_bom(session, sku="NOPE", components={"X": 1})


async def test_skills_in_use_are_those_of_components_in_some_bom_sorted(store: Store) -> None:
    async with store.transaction() as session:
        assert await skills_in_use(session) == []
        await stock_catalogue(session)
        await upsert_component(
            session,
            code="BONE-BEAD",
            name="Bone bead",
            skill="bone carving",
            piece_rate_cents=300,
            lead_time_days=4,
        )  # in no BOM yet
        skills = await skills_in_use(session)

    assert skills == sorted([BEADS, BRASS, HORN])
