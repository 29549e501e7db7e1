"""Quantities, prices and pay have limits (domain/limits.py): the services refuse what goes
beyond them, and so does the database itself, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from domain.errors import InvalidQuantity
from domain.limits import MAX_MONEY_CENTS, MAX_PIECES
from domain.model import Job, Order, OrderLine
from domain.services import catalogue, deliveries, materials, visits, work
from domain.services.guards import InvalidField
from domain.services.orders import OrderRejected, confirm_order, create_order
from domain.store import Store
from tests.conftest import FakeClock
from tests.integration.factory_fixtures import (
    HORN,
    accepted_offer,
    active_artisan,
    arranged_drop_off,
    confirmed_order,
    draft_order,
    hire_staff,
    ident,
    open_offer,
    retailer,
    stock_catalogue,
    submitted_work,
)

# --- the services ---------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [MAX_PIECES + 1, 10**12, 99999999999999999999])
async def test_an_order_line_beyond_the_most_pieces_is_refused_and_nothing_is_made(
    store: Store, clock: FakeClock, quantity: int
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        customer = await retailer(session)
        with pytest.raises(OrderRejected, match="from 1 to 100,000"):
            await create_order(
                session,
                customer_id=ident(customer),
                reference="PO-HUGE",
                due_date=date(2026, 4, 30),
                lines=[("BANGLE-BRASS", quantity)],
                now=clock.now(),
            )
        assert (await session.exec(select(Order))).all() == []


async def test_a_unit_price_beyond_the_most_a_price_may_be_is_refused(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        customer = await retailer(session)
        with pytest.raises(OrderRejected, match=r"unit price must be .* from 1 to 100,000,000"):
            await create_order(
                session,
                customer_id=ident(customer),
                reference="PO-DEAR",
                due_date=date(2026, 4, 30),
                lines=[("BANGLE-BRASS", 1)],
                unit_prices={"BANGLE-BRASS": 100_000_001},
                now=clock.now(),
            )


async def test_an_order_line_whose_job_would_have_too_many_pieces_is_refused_as_a_draft(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        # Two brass hooks a necklace: 50,001 necklaces need 100,002 hooks.
        with pytest.raises(OrderRejected, match="make 100,002 pieces of one component"):
            await draft_order(session, now=clock.now(), lines={"NECKLACE-HORN": 50_001})
        await draft_order(session, now=clock.now(), lines={"NECKLACE-HORN": 50_000})


async def test_confirming_is_refused_when_the_bill_of_materials_grew_too_big_since_the_draft(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now(), lines={"BANGLE-BRASS": 60_000})
        await catalogue.set_bom(session, sku="BANGLE-BRASS", components={"BRASS-BANGLE": 2})

        with pytest.raises(InvalidQuantity, match="make 120,000 pieces of one component"):
            await confirm_order(session, ident(order), now=clock.now())
        assert (await session.exec(select(Job))).all() == []


async def test_confirming_is_refused_when_a_job_would_pay_more_than_a_job_may(
    store: Store, clock: FakeClock
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        order = await draft_order(session, now=clock.now(), lines={"BANGLE-BRASS": 30_000})
        await catalogue.upsert_component(
            session,
            code="BRASS-BANGLE",
            name="Brass bangle",
            skill="brass smithing",
            piece_rate_cents=100_000,  # KES 1,000 a bangle: KES 30 million for the job
            lead_time_days=4,
        )

        with pytest.raises(InvalidQuantity, match="a job may pay"):
            await confirm_order(session, ident(order), now=clock.now())


async def test_an_offer_may_not_pay_more_than_a_job_may_after_the_piece_rate_rose(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        artisan = await active_artisan(session, verified_by=staff.agent, now=now)
        placed = await confirmed_order(session, now=now, lines={"BANGLE-BRASS": 30_000})
        await catalogue.upsert_component(
            session,
            code="BRASS-BANGLE",
            name="Brass bangle",
            skill="brass smithing",
            piece_rate_cents=MAX_MONEY_CENTS // 20_000,  # 20,000 bangles pay the most a job may
            lead_time_days=4,
        )
        job_id = placed.jobs["BRASS-BANGLE"]

        with pytest.raises(InvalidQuantity, match="would pay more than"):
            await open_offer(
                session, job_id=job_id, artisan_id=ident(artisan), quantity=20_001, now=now
            )
        await open_offer(
            session, job_id=job_id, artisan_id=ident(artisan), quantity=20_000, now=now
        )


async def test_an_offer_of_more_pieces_than_its_job_has_is_refused(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        artisan = await active_artisan(session, verified_by=staff.agent, now=now)
        placed = await confirmed_order(session, now=now, lines={"BANGLE-BRASS": 10})

        with pytest.raises(InvalidQuantity, match=r"job \d+ has 10 pieces; cannot offer 11"):
            await open_offer(
                session,
                job_id=placed.jobs["BRASS-BANGLE"],
                artisan_id=ident(artisan),
                quantity=11,
                now=now,
                over_offer=3.0,
            )


@pytest.mark.parametrize(
    ("rate", "lead_time", "message"),
    [
        (10_000_001, 3, r"piece rate \(cents\) must be a whole number from 1 to 10,000,000"),
        (100, 366, r"lead time \(days\) must be a whole number from 1 to 365"),
    ],
)
async def test_a_component_beyond_its_limits_is_refused(
    store: Store, rate: int, lead_time: int, message: str
) -> None:
    async with store.transaction() as session:
        with pytest.raises(InvalidField, match=message):
            await catalogue.upsert_component(
                session, code="C", name="C", skill=HORN, piece_rate_cents=rate,
                lead_time_days=lead_time,
            )  # fmt: skip


@pytest.mark.parametrize(
    ("wholesale", "retail", "days", "cost", "message"),
    [
        (100_000_001, 100_000_001, 1, 0, r"wholesale price \(cents\) .* from 1 to 100,000,000"),
        (100, 100_000_001, 1, 0, r"retail price \(cents\) .* from 1 to 100,000,000"),
        (100, 200, 366, 0, "assembly days must be a whole number from 0 to 365"),
        (100, 200, 1, 100_000_001, r"assembly cost \(cents\) .* from 0 to 100,000,000"),
    ],
)
async def test_a_product_beyond_its_limits_is_refused(
    store: Store, wholesale: int, retail: int, days: int, cost: int, message: str
) -> None:
    async with store.transaction() as session:
        with pytest.raises(InvalidField, match=message):
            await catalogue.upsert_product(
                session, sku="P", name="P", wholesale_price_cents=wholesale,
                retail_price_cents=retail, assembly_days=days, assembly_cost_cents=cost,
            )  # fmt: skip


async def test_a_bill_of_materials_line_beyond_the_most_pieces_per_unit_is_refused(
    store: Store,
) -> None:
    async with store.transaction() as session:
        await stock_catalogue(session)
        with pytest.raises(InvalidQuantity, match="from 1 to 1,000"):
            await catalogue.set_bom(session, sku="BANGLE-BRASS", components={"BRASS-BANGLE": 1001})


# --- the database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Everything:
    """One row, at least, in every table with a limited column."""

    store: Store
    offer_id: int


@pytest.fixture
async def everything(any_store: Store, clock: FakeClock) -> Everything:
    now = clock.now()
    async with any_store.transaction() as session:
        await stock_catalogue(session)
        staff = await hire_staff(session, now=now)
        artisan = ident(await active_artisan(session, verified_by=staff.agent, now=now))
        placed = await confirmed_order(session, now=now, lines={"NECKLACE-HORN": 10})
        allocation = ident(
            await accepted_offer(
                session, job_id=placed.jobs["HORN-PENDANT"], artisan_id=artisan, quantity=6, now=now
            )
        )
        offer = await open_offer(
            session, job_id=placed.jobs["BRASS-HOOK"], artisan_id=artisan, quantity=20, now=now
        )
        await visits.record_visit(
            session,
            allocation_id=allocation,
            agent_id=staff.agent,
            pieces_done=2,
            note=None,
            photo_refs=[],
            now=now,
        )
        submission = await submitted_work(
            session, allocation_id=allocation, artisan_id=artisan, count=4, now=now
        )
        await work.review_submission(
            session,
            submission_id=ident(submission),
            reviewer_id=staff.agent,
            passed=4,
            rejected=0,
            reasons=[],
            now=now,
        )
        delivery = await arranged_drop_off(
            session, allocation_id=allocation, artisan_id=artisan, quantity=4, now=now
        )
        await deliveries.record_receipt(
            session,
            delivery_id=ident(delivery),
            receiver_id=staff.agent,
            received_quantity=4,
            note=None,
            now=now,
        )
        await materials.report_stock(
            session, artisan_id=artisan, material="brass wire", quantity=3, unit="kg", now=now
        )
        await materials.request_material(
            session,
            artisan_id=artisan,
            material="cattle horn",
            quantity=Decimal("0.5"),
            unit="kg",
            allocation_id=allocation,
            now=now,
        )
    return Everything(any_store, ident(offer))


# Each value is one past what its column may hold; each row of the table gets it.
BEYOND = [
    ("order_line", "quantity", MAX_PIECES + 1),
    ("order_line", "quantity", 0),
    ("order_line", "unit_price_cents", 100_000_001),
    ("job", "quantity", MAX_PIECES + 1),
    ("job", "quantity", -5),
    ("offer", "quantity", MAX_PIECES + 1),
    ("offer", "accepted_quantity", -1),
    ("offer", "piece_rate_cents", 10_000_001),
    ("allocation", "quantity", MAX_PIECES + 1),
    ("allocation", "piece_rate_cents", 0),
    ("submission", "count", MAX_PIECES + 1),
    ("qc_review", "passed", -1),
    ("qc_review", "rejected", MAX_PIECES + 1),
    ("delivery", "declared_quantity", MAX_PIECES + 1),
    ("delivery", "received_quantity", -1),
    ("workshop_visit", "pieces_done", MAX_PIECES + 1),
    ("component", "piece_rate_cents", 10_000_001),
    ("component", "lead_time_days", 366),
    ("product", "wholesale_price_cents", 100_000_001),
    ("product", "retail_price_cents", 0),
    ("product", "assembly_days", 366),
    ("product", "assembly_cost_cents", -1),
    ("bom_line", "quantity_per_unit", 1001),
    ("artisan_skill", "weekly_capacity", 10_001),
    ("component_material", "quantity_per_piece", 0),
    ("material_stock", "quantity", -1),
    ("material_request", "quantity", 0),
]


async def _execute(store: Store, statement: str, **params: object) -> None:
    async with store.transaction() as session:
        connection = await session.connection()
        await connection.execute(text(statement), params)


async def _set_every_line_quantity(store: Store, quantity: int) -> None:
    async with store.transaction() as session:
        for line in await session.exec(select(OrderLine)):
            line.quantity = quantity
            session.add(line)


async def _count(store: Store, table: str) -> int:
    async with store.transaction() as session:
        connection = await session.connection()
        return int((await connection.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


@pytest.mark.parametrize(
    ("table", "column", "value"), BEYOND, ids=[f"{t}.{c}={v}" for t, c, v in BEYOND]
)
async def test_the_database_itself_refuses_a_value_beyond_its_columns_limit(
    everything: Everything, table: str, column: str, value: int
) -> None:
    assert await _count(everything.store, table) > 0  # else the update would prove nothing

    with pytest.raises(IntegrityError, match=f"{table}_{column}_range"):
        await _execute(everything.store, f"UPDATE {table} SET {column} = :value", value=value)


@pytest.mark.parametrize("table", ["offer", "allocation"])
async def test_the_database_refuses_an_offer_or_allocation_paying_more_than_a_job_may(
    everything: Everything, table: str
) -> None:
    # 100,000 pieces at KES 200.01: each within its own limit, together beyond KES 20 million.
    with pytest.raises(IntegrityError, match=f"{table}_pay_range"):
        await _execute(
            everything.store, f"UPDATE {table} SET quantity = 100000, piece_rate_cents = 20001"
        )


async def test_the_database_refuses_an_offer_accepted_for_more_than_it_offered(
    everything: Everything,
) -> None:
    with pytest.raises(IntegrityError, match="offer_accepted_quantity_range"):
        await _execute(
            everything.store,
            "UPDATE offer SET accepted_quantity = quantity + 1 WHERE id = :id",
            id=everything.offer_id,
        )


async def test_an_order_line_of_ten_to_the_twelve_pieces_cannot_be_stored(
    everything: Everything,
) -> None:
    # SQLite has room for the number and its CHECK refuses it (an IntegrityError); PostgreSQL's
    # INTEGER has no room for it at all (a DataError). Either way the database says no.
    with pytest.raises(DBAPIError):
        await _set_every_line_quantity(everything.store, 10**12)

    async with everything.store.transaction() as session:
        assert [line.quantity for line in await session.exec(select(OrderLine))] == [10]
