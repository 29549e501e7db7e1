"""An artisan's history and an order's revenue share, read from real rows on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.errors import NotFound
from domain.model import (
    Allocation,
    AllocationStatus,
    BomLine,
    Component,
    Customer,
    CustomerKind,
    Delivery,
    DeliveryMethod,
    DeliveryStatus,
    Job,
    Offer,
    OfferStatus,
    Order,
    OrderLine,
    Product,
    QcReview,
    Submission,
    SubmissionStatus,
)
from domain.reputation import ArtisanHistory, artisan_history, reputation
from domain.revenue_share import NothingSold, order_sale_lines, revenue_share
from domain.store import Store
from tests.integration.factory_fixtures import hire_staff, ident, pending_artisan

NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 10:00 in Nairobi


def at(day: int, hour: int = 9, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


T = TypeVar("T", bound=SQLModel)


class Rows:
    """Writes the rows a history is made of, with only the fields that matter to it."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.made = 0

    def name(self, prefix: str) -> str:
        self.made += 1
        return f"{prefix}-{self.made}"

    async def add(self, row: T) -> T:
        self.session.add(row)
        await self.session.flush()
        return row

    async def order(self, lines: list[tuple[Product, int, int]]) -> Order:
        customer = await self.add(Customer(name=self.name("Shop"), kind=CustomerKind.RETAILER))
        order = await self.add(
            Order(
                customer_id=customer.id or 0,
                reference=self.name("PO"),
                due_date=date(2026, 3, 20),
                created_at=NOW,
            )
        )
        for product, units, price in lines:
            await self.add(
                OrderLine(
                    order_id=order.id or 0,
                    product_id=product.id or 0,
                    quantity=units,
                    unit_price_cents=price,
                )
            )
        return order

    async def product(self, sku: str, bom: list[tuple[Component, int]]) -> Product:
        product = await self.add(
            Product(sku=sku, name=sku, wholesale_price_cents=10_000, retail_price_cents=20_000)
        )
        for component, per_unit in bom:
            await self.add(
                BomLine(
                    product_id=product.id or 0,
                    component_id=component.id or 0,
                    quantity_per_unit=per_unit,
                )
            )
        return product

    async def component(self, code: str, rate: int) -> Component:
        return await self.add(
            Component(code=code, name=code, skill="horn", piece_rate_cents=rate, lead_time_days=5)
        )

    async def job(self) -> Job:
        component = await self.component(self.name("C"), 100)
        product = await self.product(self.name("P"), [(component, 1)])
        await self.order([(product, 100, 10_000)])
        line = (
            await self.session.exec(select(OrderLine).where(OrderLine.product_id == product.id))
        ).one()
        return await self.add(
            Job(
                order_line_id=line.id or 0,
                component_id=component.id or 0,
                quantity=100,
                due_date=date(2026, 3, 15),
                created_at=at(1),
            )
        )


async def _offer(
    rows: Rows,
    job: Job,
    artisan: int,
    status: OfferStatus,
    *,
    offered: datetime,
    answered_after: timedelta | None = None,
) -> None:
    await rows.add(
        Offer(
            job_id=job.id or 0,
            artisan_id=artisan,
            quantity=5,
            piece_rate_cents=100,
            due_date=date(2026, 3, 10),
            offered_at=offered,
            expires_at=offered + timedelta(hours=12),
            status=status,
            responded_at=offered + answered_after if answered_after else None,
        )
    )


async def _allocation(
    rows: Rows,
    job: Job,
    artisan: int,
    quantity: int,
    due: date,
    receipts: list[tuple[datetime, int]],
    *,
    status: AllocationStatus = AllocationStatus.ACTIVE,
) -> Allocation:
    allocation = await rows.add(
        Allocation(
            job_id=job.id or 0,
            artisan_id=artisan,
            quantity=quantity,
            piece_rate_cents=100,
            due_date=due,
            status=status,
            created_at=at(1),
        )
    )
    for when, pieces in receipts:
        await rows.add(
            Delivery(
                allocation_id=allocation.id or 0,
                method=DeliveryMethod.DROP_OFF,
                slot_start=when,
                declared_quantity=pieces,
                status=DeliveryStatus.RECEIVED,
                received_quantity=pieces,
                received_at=when,
                created_at=when,
            )
        )
    return allocation


async def _review(
    rows: Rows, allocation: Allocation, agent: int, passed: int, rejected: int, when: datetime
) -> None:
    submission = await rows.add(
        Submission(
            allocation_id=allocation.id or 0,
            count=passed + rejected,
            status=SubmissionStatus.REVIEWED,
            submitted_at=when - timedelta(hours=3),
        )
    )
    await rows.add(
        QcReview(
            submission_id=submission.id or 0,
            reviewer_id=agent,
            passed=passed,
            rejected=rejected,
            reviewed_at=when,
        )
    )


async def test_an_artisan_s_history_counts_what_they_did_by_now(any_store: Store) -> None:
    async with any_store.transaction() as session:
        rows = Rows(session)
        artisan = ident(await pending_artisan(session, now=at(1)))
        someone_else = ident(await pending_artisan(session, now=at(1), name="Baraka"))
        agent = (await hire_staff(session, now=at(1))).agent
        job = await rows.job()

        await _offer(
            rows,
            job,
            artisan,
            OfferStatus.ACCEPTED,
            offered=at(10),
            answered_after=timedelta(minutes=30),
        )
        await _offer(
            rows,
            job,
            artisan,
            OfferStatus.PARTLY_ACCEPTED,
            offered=at(11),
            answered_after=timedelta(hours=1, minutes=30),
        )
        await _offer(
            rows,
            job,
            artisan,
            OfferStatus.DECLINED,
            offered=at(12),
            answered_after=timedelta(hours=2),
        )
        await _offer(rows, job, artisan, OfferStatus.EXPIRED, offered=at(13))
        await _offer(rows, job, artisan, OfferStatus.OPEN, offered=at(1, 6, month=3))
        await _offer(rows, job, artisan, OfferStatus.WITHDRAWN, offered=at(14))
        await _offer(
            rows,
            job,
            artisan,
            OfferStatus.ACCEPTED,
            offered=NOW + timedelta(hours=1),
            answered_after=timedelta(minutes=5),
        )
        await _offer(
            rows,
            job,
            someone_else,
            OfferStatus.DECLINED,
            offered=at(10),
            answered_after=timedelta(minutes=1),
        )

        on_time = await _allocation(rows, job, artisan, 10, date(2026, 2, 20), [(at(19), 10)])
        split_late = await _allocation(
            rows, job, artisan, 5, date(2026, 2, 25), [(at(24), 3), (at(26), 2)]
        )
        await _allocation(rows, job, artisan, 4, date(2026, 3, 10), [(at(28), 4)])  # early
        await _allocation(rows, job, artisan, 6, date(2026, 3, 10), [])  # not due yet
        await _allocation(
            rows, job, artisan, 3, date(2026, 2, 1), [], status=AllocationStatus.CANCELLED
        )
        await _allocation(rows, job, artisan, 2, date(2026, 2, 27), [])  # overdue, nothing came
        # 22:30 UTC on the 20th is already the 21st in Nairobi: late.
        await _allocation(rows, job, artisan, 1, date(2026, 2, 20), [(at(20, 22), 1)])
        # Received after `now`: not yet part of the history.
        await _allocation(rows, job, artisan, 2, date(2026, 3, 5), [(NOW + timedelta(hours=2), 2)])
        await _allocation(rows, job, someone_else, 50, date(2026, 2, 20), [(at(19), 50)])

        await _review(rows, on_time, agent, passed=10, rejected=2, when=at(18))
        await _review(rows, split_late, agent, passed=5, rejected=0, when=at(23))
        await _review(rows, split_late, agent, passed=1, rejected=1, when=NOW + timedelta(days=1))

    async with any_store.transaction() as session:
        history = await artisan_history(session, artisan, now=NOW)

    assert history == ArtisanHistory(
        offers_made=6,  # the one offered after `now` is not history yet
        offers_accepted=2,
        offers_declined=1,
        offers_expired=1,
        responses=3,
        response_seconds_total=(30 + 90 + 120) * 60,
        allocations_due=5,
        allocations_on_time=2,
        qc_pieces_passed=15,
        qc_pieces_rejected=2,
        pieces_received=10 + 5 + 4 + 1,
        last_work_date=date(2026, 2, 28),
    )
    r = reputation(history)
    assert r.on_time_rate == pytest.approx((2 + 3.2) / 9)
    assert r.volume == 20


async def test_a_newcomer_s_history_is_empty_and_their_reputation_is_the_prior(
    any_store: Store,
) -> None:
    async with any_store.transaction() as session:
        artisan = ident(await pending_artisan(session, now=at(1)))
        history = await artisan_history(session, artisan, now=NOW)
    assert history == ArtisanHistory()
    assert reputation(history).on_time_rate == 0.8


async def test_an_order_s_revenue_share_comes_from_its_bill_of_materials(any_store: Store) -> None:
    async with any_store.transaction() as session:
        rows = Rows(session)
        pendant = await rows.component("horn-pendant", 12_000)
        hook = await rows.component("brass-hook", 1_500)
        strand = await rows.component("bead-strand", 4_000)
        necklace = await rows.product("NECK-01", [(pendant, 1), (hook, 2)])
        earrings = await rows.product("EAR-01", [(strand, 2)])
        order = await rows.order([(necklace, 10, 50_000), (earrings, 4, 30_000)])
        share = revenue_share(await order_sale_lines(session, order.id or 0))
    assert share == Decimal(10 * 15_000 + 4 * 8_000) / Decimal(10 * 50_000 + 4 * 30_000)


async def test_the_revenue_share_of_a_missing_or_empty_order_is_refused(any_store: Store) -> None:
    async with any_store.transaction() as session:
        rows = Rows(session)
        with pytest.raises(NotFound):
            await order_sale_lines(session, 404)
        empty = await rows.order([])
        with pytest.raises(NothingSold):
            revenue_share(await order_sale_lines(session, empty.id or 0))
