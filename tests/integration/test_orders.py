from datetime import date, timedelta
from functools import partial

import pytest
from sqlmodel import col, select

from domain import events
from domain.errors import DomainError, IllegalTransition
from domain.explosion import MissingBom
from domain.model import (
    ORDER_TRANSITIONS,
    Allocation,
    AllocationStatus,
    Component,
    CustomerKind,
    Job,
    JobStatus,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    OrderStatus,
)
from domain.services.catalogue import upsert_product
from domain.services.offers import accept_offer, make_offer
from domain.services.orders import (
    OrderRejected,
    cancel_order,
    confirm_order,
    create_order,
    get_or_create_customer,
    jobs_at_risk,
    jobs_of_order,
    mark_in_production,
    ship_order,
)
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    active_artisan,
    confirmed_order,
    draft_order,
    hire_staff,
    ident,
    retailer,
    stock_catalogue,
)

DUE = date(2026, 3, 30)


async def test_a_customer_is_created_once_and_found_again_by_name(store: Store) -> None:
    async with store.transaction() as session:
        first = await get_or_create_customer(
            session, name=" Zawadi Shop ", kind=CustomerKind.RETAILER
        )
        again = await get_or_create_customer(
            session, name="Zawadi Shop", kind=CustomerKind.RETAILER, contact="buyer@zawadi.example"
        )

    assert again.id == first.id
    assert (again.name, again.contact) == ("Zawadi Shop", "buyer@zawadi.example")


async def test_a_customer_name_cannot_change_kind(store: Store) -> None:
    async with store.transaction() as session:
        await get_or_create_customer(session, name="Zawadi", kind=CustomerKind.RETAILER)
        with pytest.raises(DomainError, match="Zawadi is a retailer, not a web shop"):
            await get_or_create_customer(session, name="Zawadi", kind=CustomerKind.WEB_SHOP)


async def test_a_new_order_is_a_draft_priced_wholesale_for_a_retailer(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(
            session, now=clock.now(), lines={"NECKLACE-HORN": 10, " EARRINGS-BEAD ": 4}
        )
        lines = (await session.exec(select(OrderLine).order_by(col(OrderLine.id)))).all()
        jobs = (await session.exec(select(Job))).all()

    assert (order.status, order.due_date, order.created_at) == (OrderStatus.DRAFT, DUE, clock.now())
    assert [(line.quantity, line.unit_price_cents) for line in lines] == [
        (10, 120_000),
        (4, 60_000),
    ]
    assert jobs == []  # nothing is produced before the order is confirmed


async def test_the_web_shop_pays_retail_unless_a_price_is_agreed(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        shop = await get_or_create_customer(
            session, name="karakana.shop", kind=CustomerKind.WEB_SHOP
        )
        await create_order(
            session,
            customer_id=ident(shop),
            reference="WEB-1",
            due_date=DUE,
            lines=[("NECKLACE-HORN", 1), ("EARRINGS-BEAD", 2)],
            unit_prices={"EARRINGS-BEAD": 85_000},
            now=clock.now(),
        )
        lines = (await session.exec(select(OrderLine).order_by(col(OrderLine.id)))).all()

    assert [line.unit_price_cents for line in lines] == [180_000, 85_000]


async def test_an_order_with_several_problems_is_refused_naming_every_one(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        customer = await retailer(session)
        with pytest.raises(OrderRejected) as caught:
            await create_order(
                session,
                customer_id=ident(customer),
                reference="PO-77",
                due_date=date(2026, 3, 1),
                lines=[
                    ("NECKLACE-HORN", 0),
                    ("GOLD-TIARA", 2),
                    ("EARRINGS-BEAD", 3),
                    ("EARRINGS-BEAD", 5),
                ],
                unit_prices={"BANGLE": 100},
                now=clock.now(),
            )
        orders = (await session.exec(select(Order))).all()

    assert caught.value.problems == (
        "due date 2026-03-01 is in the past (today is 2026-03-02)",
        "NECKLACE-HORN: quantity must be a whole number from 1 to 100,000 (got 0); split a larger "
        "order",
        "EARRINGS-BEAD is on more than one line; put its whole quantity on one",
        "unknown SKU GOLD-TIARA",
        "a unit price is given for BANGLE, which is not on the order",
    )
    assert str(caught.value).startswith("order PO-77 refused: ")
    assert orders == []


async def test_an_order_due_today_is_accepted(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now(), due_date=date(2026, 3, 2))

    assert order.status is OrderStatus.DRAFT


async def test_an_order_without_lines_is_refused(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        with pytest.raises(OrderRejected, match="at least one line"):
            await draft_order(session, now=clock.now(), lines={})


async def test_a_customer_cannot_reuse_an_order_reference(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        customer = await retailer(session)
        place_order = partial(
            create_order,
            session,
            customer_id=ident(customer),
            reference="PO-1",
            due_date=DUE,
            lines=[("NECKLACE-HORN", 1)],
            now=clock.now(),
        )
        await place_order()
        with pytest.raises(OrderRejected, match="already has an order with reference PO-1"):
            await place_order()


async def test_confirming_explodes_every_line_through_its_bom_into_back_scheduled_jobs(
    any_store: Store, clock: FakeClock
) -> None:
    async with any_store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(
            session, now=clock.now(), lines={"NECKLACE-HORN": 10, "EARRINGS-BEAD": 4}
        )
    confirmed_at = clock.advance(hours=2)
    async with any_store.transaction() as session:
        jobs = await confirm_order(session, ident(order), now=confirmed_at)
    async with any_store.transaction() as session:
        stored = await session.get(Order, ident(order))
        rows = await session.exec(
            select(  # type: ignore[call-overload]  # sqlmodel's overloads stop at four columns
                OrderLine.quantity, Component.code, Job.quantity, Job.due_date, Job.status
            )
            .join(Job, Job.order_line_id == OrderLine.id)
            .join(Component, Component.id == Job.component_id)
            .order_by(OrderLine.id, Component.code)
        )
        table = list(rows.all())

    assert stored is not None
    assert (stored.status, stored.confirmed_at) == (OrderStatus.CONFIRMED, confirmed_at)
    assert len(jobs) == 4
    # necklace: 1 pendant + 2 hooks a unit, 1 assembly day; earrings: 2 strands + 2 hooks, 2 days.
    assert table == [
        (10, "BRASS-HOOK", 20, date(2026, 3, 28), JobStatus.OPEN),
        (10, "HORN-PENDANT", 10, date(2026, 3, 28), JobStatus.OPEN),
        (4, "BEAD-STRAND", 8, date(2026, 3, 27), JobStatus.OPEN),
        (4, "BRASS-HOOK", 8, date(2026, 3, 27), JobStatus.OPEN),
    ]


async def test_an_order_for_a_product_without_a_bom_cannot_be_confirmed_and_nothing_is_made(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        await upsert_product(
            session, sku="BANGLE", name="Bangle", wholesale_price_cents=1, retail_price_cents=2
        )
        order = await draft_order(session, now=clock.now(), lines={"NECKLACE-HORN": 1, "BANGLE": 1})
    with pytest.raises(MissingBom, match="no bill of materials for BANGLE"):
        async with store.transaction() as session:
            await confirm_order(session, ident(order), now=clock.now())
    async with store.transaction() as session:
        stored = await session.get(Order, ident(order))
        jobs = (await session.exec(select(Job))).all()

    assert stored is not None
    assert stored.status is OrderStatus.DRAFT
    assert jobs == []


async def test_an_order_is_confirmed_only_once(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await confirmed_order(session, now=clock.now())
        with pytest.raises(IllegalTransition, match="confirmed cannot become confirmed"):
            await confirm_order(session, order.order_id, now=clock.now())
        assert len(await jobs_of_order(session, order.order_id)) == 2


async def test_the_first_allocation_puts_the_job_and_its_order_into_production(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now())
        jobs = await confirm_order(session, ident(order), now=clock.now())
        pendants, hooks = jobs  # in component order; the catalogue adds pendants first
        job = await mark_in_production(session, ident(pendants), now=clock.now())
        again = await mark_in_production(session, ident(pendants), now=clock.now())
        codes = [(await session.get(Component, j.component_id)) for j in jobs]

    assert [c.code for c in codes if c is not None] == ["HORN-PENDANT", "BRASS-HOOK"]
    assert job.status is again.status is JobStatus.IN_PRODUCTION
    assert order.status is OrderStatus.IN_PRODUCTION
    assert hooks.status is JobStatus.OPEN


async def test_cancelling_an_order_cancels_its_jobs_withdraws_offers_and_allocations(
    any_store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with any_store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        artisan = await active_artisan(session, verified_by=staff.agent, now=now)
        order = await draft_order(session, now=now)
        jobs = await confirm_order(session, ident(order), now=now)
        expires = now + timedelta(hours=12)
        first = await make_offer(
            session,
            job_id=ident(jobs[0]),
            artisan_id=ident(artisan),
            quantity=5,
            expires_at=expires,
            now=now,
        )
        await accept_offer(session, offer_id=ident(first), artisan_id=ident(artisan), now=now)
        second = await make_offer(
            session,
            job_id=ident(jobs[1]),
            artisan_id=ident(artisan),
            quantity=3,
            expires_at=expires,
            now=now,
        )
        events.drain(session)
    async with any_store.transaction() as session:
        cancelled = await cancel_order(
            session, ident(order), reason=" Retailer closed the shop ", now=clock.advance(hours=1)
        )
        recorded = events.drain(session)
    async with any_store.transaction() as session:
        job_states = [j.status for j in await jobs_of_order(session, ident(order))]
        allocation = (await session.exec(select(Allocation))).one()
        offers = {o.id: o.status for o in (await session.exec(select(Offer))).all()}

    assert (cancelled.status, cancelled.cancel_reason, cancelled.closed_at) == (
        OrderStatus.CANCELLED,
        "Retailer closed the shop",
        clock.now(),
    )
    assert job_states == [JobStatus.CANCELLED, JobStatus.CANCELLED]
    assert (allocation.status, allocation.closed_at) == (AllocationStatus.CANCELLED, clock.now())
    assert (allocation.cancelled_at, allocation.submit_by) == (
        clock.now(),
        clock.now().date() + timedelta(days=7),  # CANCELLED_WORK_GRACE_DAYS' default
    )
    assert offers == {first.id: OfferStatus.ACCEPTED, second.id: OfferStatus.WITHDRAWN}
    assert recorded == [
        events.JobCancelled(job_id=ident(jobs[0])),
        events.OfferWithdrawn(offer_id=ident(second), artisan_id=ident(artisan), cancelled=True),
        events.JobCancelled(job_id=ident(jobs[1])),
    ]


async def test_a_draft_order_can_be_cancelled(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now())
        await cancel_order(session, ident(order), reason="duplicate", now=clock.now())

    assert order.status is OrderStatus.CANCELLED


async def test_cancelling_needs_a_reason(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now())
        with pytest.raises(DomainError, match="cancellation reason must not be empty"):
            await cancel_order(session, ident(order), reason="  ", now=clock.now())


async def _ready(order: Order) -> None:
    """What assembly does once every line is assembled (engineer A2's step)."""
    order.status = ORDER_TRANSITIONS.check(order.status, OrderStatus.READY)


async def test_a_ready_order_ships_and_a_shipped_order_cannot_be_cancelled(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now())
        jobs = await confirm_order(session, ident(order), now=clock.now())
        await mark_in_production(session, ident(jobs[0]), now=clock.now())
        await _ready(order)
        shipped = await ship_order(session, ident(order), now=clock.advance(days=20))
        with pytest.raises(IllegalTransition, match="shipped cannot become cancelled"):
            await cancel_order(session, ident(order), reason="too late", now=clock.now())

    assert (shipped.status, shipped.closed_at) == (OrderStatus.SHIPPED, clock.now())


async def test_an_order_still_in_production_cannot_ship(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await confirmed_order(session, now=clock.now())
        with pytest.raises(IllegalTransition, match="confirmed cannot become shipped"):
            await ship_order(session, order.order_id, now=clock.now())


async def test_jobs_whose_latest_start_has_passed_are_at_risk(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        # Due 2026-03-09: necklace jobs due the 7th; pendants (5 days) must start by the 2nd,
        # hooks (2 days) by the 5th.
        await confirmed_order(session, now=clock.now(), due_date=date(2026, 3, 9))
        today = await jobs_at_risk(session, now=clock.now())
        tomorrow = await jobs_at_risk(session, now=clock.now() + timedelta(days=1))

    assert today == []
    assert [component.code for _, component in tomorrow] == ["HORN-PENDANT"]
