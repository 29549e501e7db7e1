"""Reads behind the console's CSV exports: each export is a header and pages of rows read by key
(``id > last``), so a large table streams in bounded memory, one short read at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.model import (
    Account,
    Allocation,
    Component,
    Customer,
    Delivery,
    Job,
    Order,
    OrderLine,
    Payout,
    Person,
    QcReview,
    Submission,
    Transfer,
)
from domain.store import Store

PAGE = 500
Row = Sequence[object]


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


def _amount(cents: int) -> str:
    whole, part = divmod(cents, 100)
    return f"{whole}.{part:02d}"


async def _orders(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = list(
        await session.exec(
            select(Order, Customer)
            .join(Customer, col(Customer.id) == col(Order.customer_id))
            .where(col(Order.id) > after)
            .order_by(col(Order.id))
            .limit(PAGE)
        )
    )
    totals = {
        order_id: (int(pieces or 0), int(value or 0))
        for order_id, pieces, value in await session.exec(
            select(
                OrderLine.order_id,
                sa.func.sum(OrderLine.quantity),
                sa.func.sum(col(OrderLine.quantity) * col(OrderLine.unit_price_cents)),
            )
            .where(col(OrderLine.order_id).in_([o.id for o, _ in rows]))
            .group_by(col(OrderLine.order_id))
        )
    }
    return [
        (
            order.id,
            (
                order.id,
                order.reference,
                customer.name,
                str(order.status),
                order.due_date.isoformat(),
                totals.get(order.id or 0, (0, 0))[0],
                _amount(totals.get(order.id or 0, (0, 0))[1]),
                _when(order.created_at),
                _when(order.confirmed_at),
            ),
        )
        for order, customer in rows
    ]


async def _jobs(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = await session.exec(
        select(Job, Component, OrderLine.order_id)
        .join(Component, col(Component.id) == col(Job.component_id))
        .join(OrderLine, col(OrderLine.id) == col(Job.order_line_id))
        .where(col(Job.id) > after)
        .order_by(col(Job.id))
        .limit(PAGE)
    )
    return [
        (
            job.id,
            (
                job.id,
                order_id,
                component.code,
                component.name,
                component.skill,
                job.quantity,
                job.due_date.isoformat(),
                str(job.status),
                _when(job.created_at),
            ),
        )
        for job, component, order_id in rows
    ]


async def _names(session: AsyncSession, ids: set[int | None]) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    found = await session.exec(select(Person.id, Person.name).where(col(Person.id).in_(wanted)))
    return dict(found.all())


async def _qc(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = list(
        await session.exec(
            select(QcReview, Submission, Allocation)
            .join(Submission, col(Submission.id) == col(QcReview.submission_id))
            .join(Allocation, col(Allocation.id) == col(Submission.allocation_id))
            .where(col(QcReview.id) > after)
            .order_by(col(QcReview.id))
            .limit(PAGE)
        )
    )
    people: set[int | None] = {a.artisan_id for _, _, a in rows}
    names = await _names(session, people | {r.reviewer_id for r, _, _ in rows})
    return [
        (
            review.id,
            (
                review.id,
                submission.id,
                allocation.id,
                allocation.job_id,
                allocation.artisan_id,
                names.get(allocation.artisan_id, ""),
                names.get(review.reviewer_id, ""),
                submission.count,
                review.passed,
                review.rejected,
                review.reasons,
                review.note or "",
                _when(review.reviewed_at),
            ),
        )
        for review, submission, allocation in rows
    ]


async def _receipts(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = list(
        await session.exec(
            select(Delivery, Allocation)
            .join(Allocation, col(Allocation.id) == col(Delivery.allocation_id))
            .where(col(Delivery.id) > after)
            .order_by(col(Delivery.id))
            .limit(PAGE)
        )
    )
    people: set[int | None] = {a.artisan_id for _, a in rows}
    names = await _names(session, people | {d.received_by for d, _ in rows})
    return [
        (
            delivery.id,
            (
                delivery.id,
                allocation.id,
                allocation.job_id,
                allocation.artisan_id,
                names.get(allocation.artisan_id, ""),
                str(delivery.method),
                str(delivery.status),
                delivery.declared_quantity,
                "" if delivery.received_quantity is None else delivery.received_quantity,
                "" if delivery.received_by is None else names.get(delivery.received_by, ""),
                _when(delivery.received_at),
                delivery.discrepancy_note or "",
            ),
        )
        for delivery, allocation in rows
    ]


async def _payouts(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = await session.exec(
        select(Payout, Person)
        .join(Person, col(Person.id) == col(Payout.artisan_id))
        .where(col(Payout.id) > after)
        .order_by(col(Payout.id))
        .limit(PAGE)
    )
    return [
        (
            payout.id,
            (
                payout.id,
                payout.batch_id,
                person.id,
                person.name,
                payout.msisdn,
                _amount(payout.amount_cents),
                str(payout.status),
                payout.mpesa_receipt or "",
                payout.result_code or "",
                payout.result_desc or "",
                _when(payout.created_at),
                _when(payout.updated_at),
            ),
        )
        for payout, person in rows
    ]


async def _transfers(session: AsyncSession, after: Any) -> list[tuple[Any, Row]]:
    rows = list(
        await session.exec(
            select(Transfer).where(col(Transfer.id) > after).order_by(col(Transfer.id)).limit(PAGE)
        )
    )
    accounts = {t.debit_account_id for t in rows} | {t.credit_account_id for t in rows}
    codes = dict(
        (
            await session.exec(
                select(Account.id, Account.code).where(col(Account.id).in_(accounts))
            )
        ).all()
    )
    return [
        (
            transfer.id,
            (
                transfer.id,
                _when(transfer.created_at),
                transfer.code,
                transfer.reference,
                codes.get(transfer.debit_account_id, ""),
                codes.get(transfer.credit_account_id, ""),
                _amount(transfer.amount_cents),
                str(transfer.phase),
                transfer.pending_id or "",
                transfer.reverses_id or "",
            ),
        )
        for transfer in rows
    ]


@dataclass(frozen=True, slots=True)
class Export:
    header: tuple[str, ...]
    page: Callable[[AsyncSession, Any], Any]
    first: Any = 0  # a key below every row's


EXPORTS: dict[str, Export] = {
    "orders": Export(
        (
            "order_id",
            "reference",
            "customer",
            "status",
            "due_date",
            "pieces",
            "value",
            "created_at",
            "confirmed_at",
        ),
        _orders,
    ),
    "jobs": Export(
        (
            "job_id",
            "order_id",
            "component",
            "component_name",
            "skill",
            "quantity",
            "due_date",
            "status",
            "created_at",
        ),
        _jobs,
    ),
    "qc_results": Export(
        (
            "review_id",
            "submission_id",
            "allocation_id",
            "job_id",
            "artisan_id",
            "artisan",
            "reviewer",
            "submitted",
            "passed",
            "rejected",
            "reasons",
            "note",
            "reviewed_at",
        ),
        _qc,
    ),
    "receipts": Export(
        (
            "delivery_id",
            "allocation_id",
            "job_id",
            "artisan_id",
            "artisan",
            "method",
            "status",
            "declared",
            "received",
            "received_by",
            "received_at",
            "discrepancy_note",
        ),
        _receipts,
    ),
    "payouts": Export(
        (
            "payout_id",
            "batch_id",
            "artisan_id",
            "artisan",
            "msisdn",
            "amount",
            "status",
            "mpesa_receipt",
            "result_code",
            "result_desc",
            "created_at",
            "updated_at",
        ),
        _payouts,
    ),
    "ledger_transfers": Export(
        (
            "transfer_id",
            "created_at",
            "code",
            "reference",
            "debit_account",
            "credit_account",
            "amount",
            "phase",
            "pending_id",
            "reverses_id",
        ),
        _transfers,
        first="",
    ),
}


async def pages(store: Store, export: Export) -> AsyncIterator[list[Row]]:
    """The export's rows a page at a time, each page from its own short read."""
    after = export.first
    while True:
        async with store.read() as session:
            found: list[tuple[Any, Row]] = await export.page(session, after)
        if not found:
            return
        yield [row for _, row in found]
        after = found[-1][0]
