"""What artisans and admins are told about payouts, in each one's language.

Artisans get a receipt for every payout M-Pesa completes (amount, M-Pesa transaction id, date)
and a plain note when one fails (the money stays theirs for the next batch). Admins are asked to
approve a batch that waits for them, hear about failures with a reason they can act on, and get a
summary when a batch is complete, with the artisans' share of the revenue of the orders that
batch paid for, against the configured band.

Whoever settles a payout calls :func:`queue_payout_notifications` with the events drained from
the session, inside the same transaction; other events go on to
``conversations.notifications.queue_notifications``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import Catalogue
from conversations.messages import Reply
from conversations.notifications import queue_notifications
from conversations.outbox import notify_person
from domain import events, ledger, revenue_share
from domain.model import (
    Account,
    Allocation,
    Delivery,
    Job,
    OrderLine,
    OutboxMessage,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
    Transfer,
)

NAIROBI = ZoneInfo("Africa/Nairobi")


@dataclass(frozen=True, slots=True)
class RevenueBand:
    """The artisans' share of revenue the business aims for (inclusive, fractions of 1)."""

    low: Decimal
    high: Decimal


def shillings(cents: int) -> str:
    """``123456`` -> ``1,234.56``; whole shillings without decimals."""
    whole, part = divmod(cents, 100)
    return f"{whole:,}" if part == 0 else f"{whole:,}.{part:02d}"


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))}%"


async def _admins(session: AsyncSession) -> list[Person]:
    rows = await session.exec(
        select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id))
    )
    return list(rows.all())


async def _tell(
    session: AsyncSession, person: Person, text: str, now: datetime
) -> list[OutboxMessage]:
    message = await notify_person(session, person, Reply(text), now=now)
    return [] if message is None else [message]


@dataclass(frozen=True, slots=True)
class _Context:
    catalogue: Catalogue
    band: RevenueBand | None
    zone: ZoneInfo
    now: datetime


async def _succeeded(
    session: AsyncSession, event: events.PayoutSucceeded, ctx: _Context
) -> list[OutboxMessage]:
    artisan = await session.get(Person, event.artisan_id)
    if artisan is None:
        return []
    text = ctx.catalogue.t(
        artisan.language,
        "payouts.receipt",
        amount=shillings(event.amount_cents),
        receipt=event.mpesa_receipt,
        date=ctx.now.astimezone(ctx.zone).strftime("%d/%m/%Y %H:%M"),
    )
    return await _tell(session, artisan, text, ctx.now)


async def _failed(
    session: AsyncSession, event: events.PayoutFailed, ctx: _Context
) -> list[OutboxMessage]:
    sent: list[OutboxMessage] = []
    artisan = await session.get(Person, event.artisan_id)
    if artisan is not None:
        text = ctx.catalogue.t(
            artisan.language, "payouts.failed", amount=shillings(event.amount_cents)
        )
        sent += await _tell(session, artisan, text, ctx.now)
    for admin in await _admins(session):
        text = ctx.catalogue.t(
            admin.language,
            "payouts.admin_failed",
            payout=event.payout_id,
            name=artisan.name if artisan else event.artisan_id,
            amount=shillings(event.amount_cents),
            reason=event.reason,
        )
        sent += await _tell(session, admin, text, ctx.now)
    return sent


async def _batch_created(
    session: AsyncSession, event: events.PayoutBatchCreated, ctx: _Context
) -> list[OutboxMessage]:
    batch = await session.get(PayoutBatch, event.batch_id)
    if batch is None or batch.status is not PayoutBatchStatus.AWAITING_APPROVAL:
        return []  # approved automatically in the same breath: the approval says so
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        text = ctx.catalogue.t(
            admin.language,
            "payouts.batch_waiting",
            batch=event.batch_id,
            count=event.payout_count,
            total=shillings(event.total_cents),
        )
        sent += await _tell(session, admin, text, ctx.now)
    return sent


async def _batch_approved(
    session: AsyncSession, event: events.PayoutBatchApproved, ctx: _Context
) -> list[OutboxMessage]:
    approver = None if event.approved_by is None else await session.get(Person, event.approved_by)
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        if approver is None:
            text = ctx.catalogue.t(
                admin.language,
                "payouts.batch_auto_approved",
                batch=event.batch_id,
                total=shillings(event.total_cents),
            )
        else:
            text = ctx.catalogue.t(
                admin.language,
                "payouts.batch_approved",
                batch=event.batch_id,
                total=shillings(event.total_cents),
                name=approver.name,
            )
        sent += await _tell(session, admin, text, ctx.now)
    return sent


async def orders_paid_by_batch(session: AsyncSession, batch_id: int) -> list[int]:
    """Orders whose delivered pieces this batch paid for.

    For each artisan paid in the batch: the deliveries whose earnings reached their payable after
    their previous paid batch was made and up to this one.
    """
    batch = await session.get(PayoutBatch, batch_id)
    if batch is None:
        return []
    paid = await session.exec(
        select(Payout).where(Payout.batch_id == batch_id, Payout.status == PayoutStatus.SUCCEEDED)
    )
    delivery_ids: set[int] = set()
    for payout in paid.all():
        previous = (
            await session.exec(
                select(PayoutBatch.created_at)
                .join(Payout, col(Payout.batch_id) == col(PayoutBatch.id))
                .where(
                    Payout.artisan_id == payout.artisan_id,
                    Payout.status == PayoutStatus.SUCCEEDED,
                    col(PayoutBatch.created_at) < batch.created_at,
                )
                .order_by(col(PayoutBatch.created_at).desc())
            )
        ).first()
        earnings = select(Transfer.reference).join(
            Account, col(Account.id) == col(Transfer.credit_account_id)
        )
        earnings = earnings.where(
            Account.code == ledger.artisan_payable_code(payout.artisan_id),
            Transfer.code == ledger.EARNING,
            col(Transfer.created_at) <= batch.created_at,
            col(Transfer.reference).startswith("delivery:"),
        )
        if previous is not None:
            earnings = earnings.where(col(Transfer.created_at) > previous)
        for reference in (await session.exec(earnings)).all():
            number = reference.partition(":")[2]
            if number.isdigit():
                delivery_ids.add(int(number))
    if not delivery_ids:
        return []
    orders = await session.exec(
        select(OrderLine.order_id)
        .join(Job, col(Job.order_line_id) == col(OrderLine.id))
        .join(Allocation, col(Allocation.job_id) == col(Job.id))
        .join(Delivery, col(Delivery.allocation_id) == col(Allocation.id))
        .where(col(Delivery.id).in_(sorted(delivery_ids)))
        .distinct()
    )
    return sorted(orders.all())


async def _share_line(
    session: AsyncSession, batch_id: int, ctx: _Context, admin: Person
) -> str | None:
    if ctx.band is None:
        return None
    order_ids = await orders_paid_by_batch(session, batch_id)
    lines: list[revenue_share.SaleLine] = []
    for order_id in order_ids:
        lines += await revenue_share.order_sale_lines(session, order_id)
    if not lines:
        return ctx.catalogue.t(admin.language, "payouts.share_none")
    check = revenue_share.check_band(
        revenue_share.revenue_share(lines), low=ctx.band.low, high=ctx.band.high
    )
    params = {
        "share": _percent(check.share),
        "low": _percent(check.low),
        "high": _percent(check.high),
        "orders": len(order_ids),
    }
    if check.share < check.low:
        return ctx.catalogue.t(admin.language, "payouts.share_below", **params)
    if check.share > check.high:
        return ctx.catalogue.t(admin.language, "payouts.share_above", **params)
    return ctx.catalogue.t(admin.language, "payouts.share_within", **params)


async def _batch_completed(
    session: AsyncSession, event: events.PayoutBatchCompleted, ctx: _Context
) -> list[OutboxMessage]:
    payouts = (await session.exec(select(Payout).where(Payout.batch_id == event.batch_id))).all()
    paid = sum(p.amount_cents for p in payouts if p.status is PayoutStatus.SUCCEEDED)
    failed = sum(p.amount_cents for p in payouts if p.status is PayoutStatus.FAILED)
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        text = ctx.catalogue.t(
            admin.language,
            "payouts.batch_done",
            batch=event.batch_id,
            succeeded=event.succeeded,
            paid=shillings(paid),
            failed=event.failed,
            unpaid=shillings(failed),
        )
        share = await _share_line(session, event.batch_id, ctx, admin)
        if share is not None:
            text = f"{text}\n{share}"
        sent += await _tell(session, admin, text, ctx.now)
    return sent


async def queue_payout_notifications(
    session: AsyncSession,
    recorded: Sequence[events.Event],
    *,
    catalogue: Catalogue,
    now: datetime,
    band: RevenueBand | None = None,
    zone: ZoneInfo = NAIROBI,
) -> list[OutboxMessage]:
    """Outbox messages for payout events (and, through ``queue_notifications``, any other)."""
    ctx = _Context(catalogue=catalogue, band=band, zone=zone, now=now)
    queued: list[OutboxMessage] = []
    others: list[events.Event] = []
    for event in recorded:
        if isinstance(event, events.PayoutSucceeded):
            queued += await _succeeded(session, event, ctx)
        elif isinstance(event, events.PayoutFailed):
            queued += await _failed(session, event, ctx)
        elif isinstance(event, events.PayoutBatchCreated):
            queued += await _batch_created(session, event, ctx)
        elif isinstance(event, events.PayoutBatchApproved):
            queued += await _batch_approved(session, event, ctx)
        elif isinstance(event, events.PayoutBatchCompleted):
            queued += await _batch_completed(session, event, ctx)
        else:
            others.append(event)
    if others:
        queued += await queue_notifications(session, others, catalogue=catalogue, now=now)
    return queued
