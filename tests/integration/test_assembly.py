"""Assembly at the central workshop a few units at a time, and shipping, through the services."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from domain import events
from domain.errors import DomainError, Forbidden
from domain.model import Assembly, Order, OrderLine, OrderStatus
from domain.services.deliveries import (
    MoreThanOrdered,
    NotAssemblable,
    Shortage,
    record_assembly,
)
from domain.services.guards import InvalidField
from domain.services.orders import ship_order
from domain.services.people import set_at_workshop
from domain.store import Store, is_sqlite
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import Floor, open_floor
from tests.integration.overlap import meeting


async def components_in(floor: Floor, code: str, *lots: int) -> None:
    """Otieno makes ``sum(lots)`` pieces of ``code``, all pass QC, and they are counted in at
    the central workshop lot by lot."""
    artisan = floor.factory.otieno
    allocation = await floor.passed_pieces(code, artisan, sum(lots))
    for lot in lots:
        await floor.receive(await floor.drop_off(allocation, artisan, lot), lot)


async def assemble(
    floor: Floor, sku: str, units: int | None = None, *, by: int | None = None
) -> tuple[Assembly, list[events.Event]]:
    async with floor.store.transaction() as s:
        done = await record_assembly(
            s,
            order_line_id=floor.order.lines[sku],
            recorded_by=floor.factory.admin if by is None else by,
            now=floor.clock.now(),
            units=units,
        )
        return done, events.drain(s)


async def line_and_order(floor: Floor, sku: str) -> tuple[OrderLine, Order]:
    """Copies of the line and its order as they are now."""
    async with floor.store.read() as s:
        line = await s.get(OrderLine, floor.order.lines[sku])
        order = await s.get(Order, floor.order.order_id)
        assert line is not None
        assert order is not None
        return line.model_copy(), order.model_copy()


async def test_a_line_is_assembled_a_few_units_at_a_time_as_its_components_come_in(
    floor: Floor,
) -> None:
    # 10 necklaces: a pendant and two hooks each. Four pendants and eight hooks are in.
    await components_in(floor, "HORN-PENDANT", 4, 6)
    await components_in(floor, "BRASS-HOOK", 8)

    first, told = await assemble(floor, "NECKLACE-HORN", 3)
    assert (first.units, told) == (3, [])
    second, _ = await assemble(floor, "NECKLACE-HORN")  # the one more the hooks allow
    assert second.units == 1
    line, order = await line_and_order(floor, "NECKLACE-HORN")
    assert (line.assembled_quantity, order.status) == (4, OrderStatus.IN_PRODUCTION)

    await components_in(floor, "BRASS-HOOK", 12)
    rest, told = await assemble(floor, "NECKLACE-HORN")
    assert (rest.units, told) == (6, [])  # the bangles are not made yet
    line, order = await line_and_order(floor, "NECKLACE-HORN")
    assert (line.assembled_quantity, order.status) == (10, OrderStatus.IN_PRODUCTION)


async def test_more_units_than_the_components_allow_are_refused_naming_what_is_short(
    floor: Floor,
) -> None:
    await components_in(floor, "HORN-PENDANT", 4)
    await components_in(floor, "BRASS-HOOK", 5)

    with pytest.raises(NotAssemblable) as refused:
        await assemble(floor, "NECKLACE-HORN", 3)

    assert (refused.value.asked, refused.value.assemblable) == (3, 2)
    assert refused.value.missing == (Shortage("BRASS-HOOK", "Brass hook", 5, 6),)
    assert "Brass hook (BRASS-HOOK) has 5 of 6 received" in str(refused.value)
    line, _ = await line_and_order(floor, "NECKLACE-HORN")
    assert line.assembled_quantity == 0
    async with floor.store.read() as s:
        assert (await s.exec(select(Assembly))).all() == []


async def test_nothing_is_assembled_before_every_component_of_a_unit_is_in(
    floor: Floor,
) -> None:
    await components_in(floor, "HORN-PENDANT", 10)
    await components_in(floor, "BRASS-HOOK", 1)

    with pytest.raises(NotAssemblable, match="nothing of order line") as refused:
        await assemble(floor, "NECKLACE-HORN")
    assert refused.value.missing == (Shortage("BRASS-HOOK", "Brass hook", 1, 20),)

    with pytest.raises(NotAssemblable) as bangles:
        await assemble(floor, "BANGLE-BRASS", 1)
    assert bangles.value.missing == (Shortage("BRASS-BANGLE", "Brass bangle", 0, 1),)


async def test_more_units_than_the_line_has_left_are_refused(floor: Floor) -> None:
    await components_in(floor, "BRASS-BANGLE", 6)
    await assemble(floor, "BANGLE-BRASS", 4)

    with pytest.raises(MoreThanOrdered, match="has 2 unit\\(s\\) left to assemble, not 3"):
        await assemble(floor, "BANGLE-BRASS", 3)


async def test_the_last_unit_of_the_last_line_makes_the_order_ready_exactly_once(
    floor: Floor,
) -> None:
    await components_in(floor, "HORN-PENDANT", 10)
    await components_in(floor, "BRASS-HOOK", 20)
    await components_in(floor, "BRASS-BANGLE", 6)

    _, told = await assemble(floor, "NECKLACE-HORN", 9)
    assert told == []
    _, told = await assemble(floor, "BANGLE-BRASS")
    assert told == []
    _, order = await line_and_order(floor, "BANGLE-BRASS")
    assert order.status is OrderStatus.IN_PRODUCTION
    _, told = await assemble(floor, "NECKLACE-HORN", 1)
    assert told == [events.OrderReady(floor.order.order_id)]
    _, order = await line_and_order(floor, "NECKLACE-HORN")
    assert order.status is OrderStatus.READY
    with pytest.raises(DomainError, match="only an order in production is assembled"):
        await assemble(floor, "NECKLACE-HORN", 1)


async def test_only_admins_and_field_agents_at_the_workshop_assemble(floor: Floor) -> None:
    await components_in(floor, "BRASS-BANGLE", 6)
    agent = floor.factory.agent
    with pytest.raises(Forbidden, match="at the central workshop"):
        await assemble(floor, "BANGLE-BRASS", 1, by=agent)
    with pytest.raises(Forbidden, match=r"only an? admin or field agent"):
        await assemble(floor, "BANGLE-BRASS", 1, by=floor.factory.otieno)

    async with floor.store.transaction() as s:
        await set_at_workshop(s, person_id=agent, at_workshop=True, admin_id=floor.factory.admin)
    done, _ = await assemble(floor, "BANGLE-BRASS", 1, by=agent)
    assert done.recorded_by == agent


async def test_two_staff_assembling_one_line_at_once_never_assemble_more_than_is_in(
    any_store: Store, clock: FakeClock
) -> None:
    floor = await open_floor(any_store, clock, lines={"BANGLE-BRASS": 6})
    agent = floor.factory.agent
    async with any_store.transaction() as s:
        await set_at_workshop(s, person_id=agent, at_workshop=True, admin_id=floor.factory.admin)
    await components_in(floor, "BRASS-BANGLE", 5)

    async def three_by(person: int) -> Assembly | DomainError:
        try:
            done, _ = await assemble(floor, "BANGLE-BRASS", 3, by=person)
            return done
        except DomainError as refused:
            return refused

    with meeting(any_store, table="customer_order") as met:
        outcomes = await asyncio.gather(three_by(floor.factory.admin), three_by(agent))
    assert met.met or is_sqlite(str(any_store.engine.url))

    [made] = [o for o in outcomes if isinstance(o, Assembly)]
    [refused] = [o for o in outcomes if not isinstance(o, Assembly)]
    assert made.units == 3
    assert isinstance(refused, NotAssemblable)
    assert refused.assemblable == 2
    line, _ = await line_and_order(floor, "BANGLE-BRASS")
    assert line.assembled_quantity == 3


# --- shipping ----------------------------------------------------------------------------------


async def ready_bangles(store: Store, clock: FakeClock) -> Floor:
    floor = await open_floor(store, clock, lines={"BANGLE-BRASS": 2})
    await components_in(floor, "BRASS-BANGLE", 2)
    await assemble(floor, "BANGLE-BRASS")
    return floor


async def test_shipping_records_the_cleaned_carrier_and_tracking_and_tells_who_follows_it(
    store: Store, clock: FakeClock
) -> None:
    floor = await ready_bangles(store, clock)
    async with store.transaction() as s:
        shipped = await ship_order(
            s,
            floor.order.order_id,
            now=clock.now(),
            carrier="  G4S\u200b  Courier ",
            tracking="KE\u202e123",
        )
        told = events.drain(s)
    assert (shipped.status, shipped.carrier, shipped.tracking_reference) == (
        OrderStatus.SHIPPED,
        "G4S Courier",
        "KE123",
    )
    assert told == [events.OrderShipped(floor.order.order_id, "G4S Courier", "KE123")]


async def test_shipping_without_a_carrier_records_none(store: Store, clock: FakeClock) -> None:
    floor = await ready_bangles(store, clock)
    async with store.transaction() as s:
        shipped = await ship_order(s, floor.order.order_id, now=clock.now(), carrier="  ")
        assert events.drain(s) == [events.OrderShipped(floor.order.order_id, None, None)]
    assert (shipped.carrier, shipped.tracking_reference) == (None, None)


async def test_a_tracking_reference_too_long_to_keep_is_refused_and_nothing_ships(
    store: Store, clock: FakeClock
) -> None:
    floor = await ready_bangles(store, clock)
    async with store.transaction() as s:
        with pytest.raises(InvalidField, match="tracking reference must be at most 80"):
            await ship_order(s, floor.order.order_id, now=clock.now(), tracking="X" * 81)
    _, order = await line_and_order(floor, "BANGLE-BRASS")
    assert (order.status, order.tracking_reference) == (OrderStatus.READY, None)
