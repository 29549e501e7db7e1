"""What admins look at: read-only queries behind the admin commands and notices, kept apart from
the wording.

Everything here returns plain rows and figures; the admin's commands (``orders.py``,
``people.py``, ``payouts.py``, ``reports.py``) and ``notices.py`` turn them into messages in the
admin's language. Nothing here changes the database. What an orders file is checked against is
``domain.services.catalogue_io.order_context``, shared with the command line.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.ports import AdminPolicy
from domain import ledger, revenue_share
from domain.explosion import FACTORY_ZONE, factory_today
from domain.model import (
    Account,
    AgentArea,
    Allocation,
    AllocationStatus,
    ArtisanProfile,
    ArtisanSkill,
    ArtisanStatus,
    Component,
    Customer,
    Delivery,
    DeliveryStatus,
    Job,
    JobStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    QcReview,
    Role,
    Transfer,
)
from domain.quantities import COUNTED_ALLOCATIONS
from domain.store import in_lists

STATS_WEEKS = 4


# --- orders -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderRow:
    order: Order
    customer: Customer
    pieces: int  # units of product over all lines


async def recent_orders(
    session: AsyncSession, *, status: OrderStatus | None = None, limit: int, offset: int = 0
) -> tuple[list[OrderRow], int]:
    """The latest orders (newest first), at most ``limit`` after skipping ``offset``, and how
    many there are in all."""
    statement = select(Order, Customer).join(Customer, col(Customer.id) == col(Order.customer_id))
    counting = select(func.count()).select_from(Order)
    if status is not None:
        statement = statement.where(Order.status == status)
        counting = counting.where(Order.status == status)
    rows = list(
        await session.exec(statement.order_by(col(Order.id).desc()).offset(offset).limit(limit))
    )
    total = (await session.exec(counting)).one()
    ids = [order.id for order, _ in rows]
    pieces = dict(
        (
            await session.exec(
                select(OrderLine.order_id, func.sum(OrderLine.quantity))
                .where(col(OrderLine.order_id).in_(ids))
                .group_by(col(OrderLine.order_id))
            )
        ).all()
    )
    return [
        OrderRow(order, customer, int(pieces.get(order.id or 0, 0) or 0))
        for order, customer in rows
    ], int(total)


async def order_share(
    session: AsyncSession, order_ids: Sequence[int], policy: AdminPolicy
) -> revenue_share.BandCheck | None:
    """The artisans' share of these orders' revenue against the band; None if nothing sold."""
    lines: list[revenue_share.SaleLine] = []
    for order_id in order_ids:
        lines += await revenue_share.order_sale_lines(session, order_id)
    if not lines:
        return None
    return revenue_share.check_band(
        revenue_share.revenue_share(lines), low=policy.share_low, high=policy.share_high
    )


# --- jobs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobRow:
    job: Job
    component: Component
    order_id: int


async def open_jobs(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> tuple[list[JobRow], int]:
    """Unfinished jobs, soonest due first, at most ``limit`` after skipping ``offset``, and how
    many there are in all."""
    unfinished = col(Job.status).in_([JobStatus.OPEN, JobStatus.IN_PRODUCTION])
    rows = await session.exec(
        select(Job, Component, OrderLine.order_id)
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .where(unfinished)
        .order_by(col(Job.due_date), col(Job.id))
        .offset(offset)
        .limit(limit)
    )
    total = (await session.exec(select(func.count()).select_from(Job).where(unfinished))).one()
    return [JobRow(job, component, order_id) for job, component, order_id in rows], int(total)


async def order_of_jobs(session: AsyncSession, job_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.exec(
        select(Job.id, OrderLine.order_id)
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .where(col(Job.id).in_(job_ids))
    )
    return {job_id: order_id for job_id, order_id in rows if job_id is not None}


# --- artisans ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtisanRow:
    person: Person
    profile: ArtisanProfile
    skills: tuple[ArtisanSkill, ...]


async def known_skills(session: AsyncSession) -> list[str]:
    """Skills artisans offer or components need, as they are spelt."""
    offered = set(await session.exec(select(ArtisanSkill.skill).distinct()))
    needed = set(await session.exec(select(Component.skill).distinct()))
    return sorted(offered | needed)


async def known_areas(session: AsyncSession) -> list[str]:
    """Areas artisans live in or field agents cover."""
    homes = await session.exec(
        select(Person.area).where(Person.role == Role.ARTISAN, col(Person.area).is_not(None))
    )
    covered = await session.exec(select(AgentArea.area).distinct())
    return sorted({area for area in homes if area} | set(covered))


async def artisans(
    session: AsyncSession,
    *,
    skill: str | None = None,
    area: str | None = None,
    statuses: Sequence[ArtisanStatus] = tuple(ArtisanStatus),
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[ArtisanRow], int]:
    """Artisans with a skill and/or in an area (both compared ignoring case), oldest first."""
    statement = (
        select(Person, ArtisanProfile)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == col(Person.id))
        .where(col(ArtisanProfile.status).in_(list(statuses)))
    )
    if skill is not None:
        having = select(ArtisanSkill.artisan_id).where(
            func.lower(col(ArtisanSkill.skill)) == skill.casefold()
        )
        statement = statement.where(col(Person.id).in_(having))
    if area is not None:
        statement = statement.where(func.lower(col(Person.area)) == area.casefold())
    found = list(await session.exec(statement.order_by(col(Person.id))))
    shown = found[offset:] if limit is None else found[offset : offset + limit]
    ids = [person.id for person, _ in shown]
    skills: dict[int, list[ArtisanSkill]] = defaultdict(list)
    for row in await session.exec(
        select(ArtisanSkill)
        .where(col(ArtisanSkill.artisan_id).in_(ids))
        .order_by(col(ArtisanSkill.skill))
    ):
        skills[row.artisan_id].append(row)
    return [
        ArtisanRow(person, profile, tuple(skills[profile.person_id])) for person, profile in shown
    ], len(found)


async def active_allocations(session: AsyncSession, artisan_id: int) -> int:
    statement = select(func.count()).where(
        Allocation.artisan_id == artisan_id, Allocation.status == AllocationStatus.ACTIVE
    )
    return int((await session.exec(statement)).one())


# --- payouts ----------------------------------------------------------------------------------


async def batches_awaiting_approval(session: AsyncSession) -> list[PayoutBatch]:
    rows = await session.exec(
        select(PayoutBatch)
        .where(PayoutBatch.status == PayoutBatchStatus.AWAITING_APPROVAL)
        .order_by(col(PayoutBatch.id))
    )
    return list(rows)


async def batch_being_built(session: AsyncSession) -> PayoutBatch | None:
    """A batch whose payouts are still being added (by the scheduler, or left so by a crash)."""
    rows = await session.exec(
        select(PayoutBatch)
        .where(PayoutBatch.status == PayoutBatchStatus.BUILDING)
        .order_by(col(PayoutBatch.id))
        .limit(1)
    )
    return rows.first()


async def batch_starters(
    session: AsyncSession, batches: Sequence[PayoutBatch]
) -> dict[int, Person]:
    """The admin who started each batch, by batch id; a scheduled batch has none."""
    starter_ids = sorted({batch.created_by for batch in batches if batch.created_by is not None})
    if not starter_ids:
        return {}
    people = {
        person.id: person
        for person in await session.exec(select(Person).where(col(Person.id).in_(starter_ids)))
    }
    return {
        batch.id: people[batch.created_by]
        for batch in batches
        if batch.id is not None and batch.created_by in people
    }


async def batch_lines(session: AsyncSession, batch_id: int) -> list[tuple[Payout, Person]]:
    rows = await session.exec(
        select(Payout, Person)
        .join(Person, col(Person.id) == col(Payout.artisan_id))
        .where(Payout.batch_id == batch_id)
        .order_by(col(Payout.id))
    )
    return list(rows)


async def payable_now(session: AsyncSession, minimum_cents: int) -> list[tuple[Person, int]]:
    """Active artisans whose available balance is at least the payout minimum: what a batch
    made now would pay (an artisan with a payout still in flight holds no available money for
    it, so the figures match ``domain.payouts.create_payout_batch``'s except for that case)."""
    rows = await session.exec(
        select(Person)
        .join(ArtisanProfile, col(ArtisanProfile.person_id) == col(Person.id))
        .where(ArtisanProfile.status == ArtisanStatus.ACTIVE)
        .order_by(col(Person.id))
    )
    people = list(rows.all())
    # Grouped queries for everyone at once: one balance at a time took minutes at 25,000.
    balances = await ledger.artisan_balances(session, [p.id for p in people if p.id is not None])
    due = []
    for person in people:
        assert person.id is not None
        available = balances[person.id].available_cents
        if available >= minimum_cents:
            due.append((person, available))
    return due


async def orders_paid_by_batch(session: AsyncSession, batch_id: int) -> list[int]:
    """Orders whose delivered pieces this batch paid for.

    For each artisan paid in the batch: the deliveries whose earnings reached their payable after
    their previous paid batch was made and up to this one. Grouped queries, a few hundred
    artisans at a time: this runs in the transaction that settles a batch's last payout, and two
    queries per artisan held the write lock for many seconds at 25,000 artisans.
    """
    batch = await session.get(PayoutBatch, batch_id)
    if batch is None:
        return []
    paid = sorted(
        (
            await session.exec(
                select(Payout.artisan_id).where(
                    Payout.batch_id == batch_id, Payout.status == PayoutStatus.SUCCEEDED
                )
            )
        ).all()
    )
    delivery_ids: set[int] = set()
    for artisans in in_lists(paid):
        previous = await _previous_paid_batches(session, artisans, before=batch.created_at)
        payables = {ledger.artisan_payable_code(artisan): artisan for artisan in artisans}
        earnings = await session.exec(
            select(Account.code, Transfer.reference, Transfer.created_at)
            .join(Account, col(Account.id) == col(Transfer.credit_account_id))
            .where(
                col(Account.code).in_(list(payables)),
                Transfer.code == ledger.EARNING,
                col(Transfer.created_at) <= batch.created_at,
                col(Transfer.reference).startswith("delivery:"),
            )
        )
        for code, reference, created_at in earnings.all():
            after = previous.get(payables[code])
            number = reference.partition(":")[2]
            if (after is None or created_at > after) and number.isdigit():
                delivery_ids.add(int(number))
    if not delivery_ids:
        return []
    wanted = sorted(delivery_ids)
    orders: set[int] = set()
    for some in in_lists(wanted):
        found = await session.exec(
            select(OrderLine.order_id)
            .join(Job, col(Job.order_line_id) == col(OrderLine.id))
            .join(Allocation, col(Allocation.job_id) == col(Job.id))
            .join(Delivery, col(Delivery.allocation_id) == col(Allocation.id))
            .where(col(Delivery.id).in_(some))
            .distinct()
        )
        orders.update(found.all())
    return sorted(orders)


async def _previous_paid_batches(
    session: AsyncSession, artisan_ids: Sequence[int], *, before: datetime
) -> dict[int, datetime]:
    """When each artisan's latest paid batch made before ``before`` was made (none: absent)."""
    rows = await session.exec(
        select(Payout.artisan_id, func.max(PayoutBatch.created_at))
        .join(PayoutBatch, col(PayoutBatch.id) == col(Payout.batch_id))
        .where(
            col(Payout.artisan_id).in_(artisan_ids),
            Payout.status == PayoutStatus.SUCCEEDED,
            col(PayoutBatch.created_at) < before,
        )
        .group_by(col(Payout.artisan_id))
    )
    return {artisan: made for artisan, made in rows.all() if made is not None}


# --- the factory's figures --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratio:
    part: int
    whole: int

    @property
    def value(self) -> Decimal | None:
        return None if self.whole == 0 else Decimal(self.part) / Decimal(self.whole)


@dataclass(frozen=True, slots=True)
class FactoryStats:
    since: date
    on_time: Ratio  # allocations whose pieces were all received by their due date
    qc_pass: Ratio  # pieces passed of pieces reviewed
    fill: Ratio  # pieces allocated to an artisan of pieces ordered, for jobs made in the period
    orders: int  # orders confirmed in the period (not cancelled)
    share: revenue_share.BandCheck | None  # artisans' share of those orders' revenue


async def factory_stats(
    session: AsyncSession, *, now: datetime, policy: AdminPolicy, weeks: int = STATS_WEEKS
) -> FactoryStats:
    """How the factory did over the last ``weeks`` weeks, up to ``now``."""
    today = factory_today(now)
    since = today - timedelta(weeks=weeks)
    start = now - timedelta(weeks=weeks)
    orders = await _orders_confirmed(session, start=start, now=now)
    return FactoryStats(
        since=since,
        on_time=await _on_time(session, since=since, today=today),
        qc_pass=await _qc_pass(session, start=start, now=now),
        fill=await _fill(session, start=start, now=now),
        orders=len(orders),
        share=await order_share(session, orders, policy),
    )


async def _on_time(session: AsyncSession, *, since: date, today: date) -> Ratio:
    """Allocations due in the period (up to today) or already delivered in full; on time when
    every piece was received on or before the due date (dates in Nairobi)."""
    allocations = list(
        await session.exec(
            select(Allocation).where(
                Allocation.status != AllocationStatus.CANCELLED,
                col(Allocation.due_date) >= since,
            )
        )
    )
    ids = [a.id for a in allocations]
    received: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for delivery in await session.exec(
        select(Delivery).where(
            col(Delivery.allocation_id).in_(ids), Delivery.status == DeliveryStatus.RECEIVED
        )
    ):
        assert delivery.received_at is not None
        counted = min(delivery.received_quantity or 0, delivery.declared_quantity)
        day = delivery.received_at.astimezone(FACTORY_ZONE).date()
        received[delivery.allocation_id].append((day, counted))
    due = on_time = 0
    for allocation in allocations:
        assert allocation.id is not None
        arrivals = received[allocation.id]
        in_full = sum(count for _, count in arrivals) >= allocation.quantity
        if allocation.due_date > today and not in_full:
            continue  # not due yet, and not finished early either
        due += 1
        in_time = sum(count for day, count in arrivals if day <= allocation.due_date)
        on_time += in_time >= allocation.quantity
    return Ratio(on_time, due)


async def _qc_pass(session: AsyncSession, *, start: datetime, now: datetime) -> Ratio:
    passed, rejected = (
        await session.exec(
            select(
                sa.func.coalesce(sa.func.sum(QcReview.passed), 0),
                sa.func.coalesce(sa.func.sum(QcReview.rejected), 0),
            ).where(col(QcReview.reviewed_at) >= start, col(QcReview.reviewed_at) <= now)
        )
    ).one()
    return Ratio(int(passed), int(passed) + int(rejected))


async def _fill(session: AsyncSession, *, start: datetime, now: datetime) -> Ratio:
    jobs = list(
        await session.exec(
            select(Job).where(
                Job.status != JobStatus.CANCELLED,
                col(Job.created_at) >= start,
                col(Job.created_at) <= now,
            )
        )
    )
    allocated = (
        await session.exec(
            select(sa.func.coalesce(sa.func.sum(Allocation.quantity), 0)).where(
                col(Allocation.job_id).in_([job.id for job in jobs]),
                col(Allocation.status).in_(COUNTED_ALLOCATIONS),
            )
        )
    ).one()
    return Ratio(int(allocated), sum(job.quantity for job in jobs))


async def _orders_confirmed(session: AsyncSession, *, start: datetime, now: datetime) -> list[int]:
    return [
        order_id
        for order_id in await session.exec(
            select(Order.id).where(
                Order.status != OrderStatus.CANCELLED,
                col(Order.confirmed_at) >= start,
                col(Order.confirmed_at) <= now,
            )
        )
        if order_id is not None
    ]
