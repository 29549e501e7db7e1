"""Reads for one order in the console: its lines, the component jobs each line exploded into,
who holds which lot (allocations), and every QC review and receipt on those lots. The lines and
jobs come from the domain's own reads (``domain.services.orders``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    Allocation,
    Component,
    Customer,
    Delivery,
    Job,
    Order,
    OrderLine,
    Person,
    Product,
    QcReview,
    Submission,
)
from domain.services.orders import jobs_of_order, order_lines


@dataclass(frozen=True, slots=True)
class Lot:
    allocation: Allocation
    artisan: Person


@dataclass(frozen=True, slots=True)
class QcRow:
    review: QcReview
    submission: Submission
    allocation_id: int
    artisan: str
    reviewer: str


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    delivery: Delivery
    artisan: str
    received_by: str | None


@dataclass(frozen=True, slots=True)
class JobView:
    job: Job
    component: Component
    lots: list[Lot] = field(default_factory=list)
    reviews: list[QcRow] = field(default_factory=list)
    receipts: list[ReceiptRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OrderView:
    order: Order
    customer: Customer
    lines: list[tuple[OrderLine, Product]]
    jobs: dict[int, list[JobView]]  # by order line id


async def order_view(session: AsyncSession, order_id: int) -> OrderView | None:
    order = await session.get(Order, order_id)
    if order is None:
        return None
    customer = await session.get(Customer, order.customer_id)
    assert customer is not None
    lines = await order_lines(session, order_id)
    jobs = await jobs_of_order(session, order_id)
    components = {
        c.id: c
        for c in await session.exec(
            select(Component).where(col(Component.id).in_({j.component_id for j in jobs}))
        )
    }
    views = {
        job.id: JobView(job, components[job.component_id]) for job in jobs if job.id is not None
    }
    names: dict[int, str] = {}
    lots = await session.exec(
        select(Allocation, Person)
        .join(Person, col(Person.id) == col(Allocation.artisan_id))
        .where(col(Allocation.job_id).in_(list(views)))
        .order_by(col(Allocation.id))
    )
    owner: dict[int, str] = {}
    for allocation, artisan in lots:
        views[allocation.job_id].lots.append(Lot(allocation, artisan))
        owner[allocation.id or 0] = artisan.name
    job_of = {lot.allocation.id: job_id for job_id, v in views.items() for lot in v.lots}
    reviews = await session.exec(
        select(QcReview, Submission, Person)
        .join(Submission, col(Submission.id) == col(QcReview.submission_id))
        .join(Person, col(Person.id) == col(QcReview.reviewer_id))
        .where(col(Submission.allocation_id).in_(list(job_of)))
        .order_by(col(QcReview.reviewed_at))
    )
    for review, submission, reviewer in reviews:
        views[job_of[submission.allocation_id]].reviews.append(
            QcRow(
                review,
                submission,
                submission.allocation_id,
                owner[submission.allocation_id],
                reviewer.name,
            )
        )
    receivers = set()
    deliveries = list(
        await session.exec(
            select(Delivery)
            .where(col(Delivery.allocation_id).in_(list(job_of)))
            .order_by(col(Delivery.created_at))
        )
    )
    receivers = {d.received_by for d in deliveries if d.received_by is not None}
    if receivers:
        names = {
            p.id: p.name
            for p in await session.exec(select(Person).where(col(Person.id).in_(receivers)))
            if p.id is not None
        }
    for delivery in deliveries:
        views[job_of[delivery.allocation_id]].receipts.append(
            ReceiptRow(
                delivery,
                owner[delivery.allocation_id],
                None if delivery.received_by is None else names.get(delivery.received_by),
            )
        )
    by_line: dict[int, list[JobView]] = defaultdict(list)
    for view in views.values():
        by_line[view.job.order_line_id].append(view)
    return OrderView(order, customer, lines, dict(by_line))
