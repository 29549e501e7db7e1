"""What artisans and admins are told about payouts, in each one's language.

Artisans get a receipt for every payout M-Pesa completes (amount, M-Pesa transaction id, date)
and a plain note when one fails (the money stays theirs for the next batch). Admins are asked to
approve a batch that waits for them (saying who started it: an admin, or the weekly schedule),
hear who approved or cancelled it, hear about failures with a reason they can act on, and get a
summary when a batch is complete, with the artisans' share of the revenue of the orders that
batch paid for, against the configured band. The admin who started, approved or cancelled a
batch in chat is not told again: their command's reply said it.

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

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.i18n import Catalogue
from conversations.messages import Reply
from conversations.notifications import queue_notifications
from conversations.outbox import notify_people, notify_person
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
from domain.store import in_lists
from domain.text import quoted

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


async def _receipts_and_failures(
    session: AsyncSession,
    settled: Sequence[events.PayoutSucceeded | events.PayoutFailed],
    ctx: _Context,
) -> int:
    """Each artisan's receipt or failure note, and the admins' note of each failure, queued
    together: the payout callbacks are settled in groups, and one message at a time cost five
    statements each (the person, their chats, the sequence, the insert and its flush)."""
    if not settled:
        return 0
    artisans = await _people(session, {event.artisan_id for event in settled})
    admins = (
        await _admins(session) if any(isinstance(e, events.PayoutFailed) for e in settled) else []
    )
    when = ctx.now.astimezone(ctx.zone).strftime("%d/%m/%Y %H:%M")
    letters: list[tuple[Person, str]] = []
    for event in settled:
        artisan = artisans.get(event.artisan_id)
        amount = shillings(event.amount_cents)
        if isinstance(event, events.PayoutSucceeded):
            if artisan is not None:
                text = ctx.catalogue.t(
                    artisan.language,
                    "payouts.receipt",
                    amount=amount,
                    receipt=event.mpesa_receipt,
                    date=when,
                )
                letters.append((artisan, text))
            continue
        if artisan is not None:
            text = ctx.catalogue.t(artisan.language, "payouts.failed", amount=amount)
            letters.append((artisan, text))
        for admin in admins:
            text = ctx.catalogue.t(
                admin.language,
                "payouts.admin_failed",
                payout=event.payout_id,
                name=quoted(artisan.name) if artisan else event.artisan_id,
                amount=amount,
                reason=event.reason,
            )
            letters.append((admin, text))
    return await notify_people(session, letters, now=ctx.now)


async def _people(session: AsyncSession, person_ids: set[int]) -> dict[int, Person]:
    wanted = sorted(person_ids)
    found: dict[int, Person] = {}
    for some in in_lists(wanted):
        rows = await session.exec(select(Person).where(col(Person.id).in_(some)))
        found.update({person.id: person for person in rows.all() if person.id is not None})
    return found


async def _batch_created(
    session: AsyncSession, event: events.PayoutBatchCreated, ctx: _Context
) -> list[OutboxMessage]:
    batch = await session.get(PayoutBatch, event.batch_id)
    if batch is None or batch.status is not PayoutBatchStatus.AWAITING_APPROVAL:
        return []  # approved automatically in the same breath: the approval says so
    starter = None if event.created_by is None else await session.get(Person, event.created_by)
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        if admin.id == event.created_by:
            continue  # /make_payouts answered them already
        params = {
            "batch": event.batch_id,
            "count": event.payout_count,
            "total": shillings(event.total_cents),
        }
        if starter is None:
            text = ctx.catalogue.t(admin.language, "payouts.batch_waiting_scheduled", **params)
        else:
            text = ctx.catalogue.t(
                admin.language, "payouts.batch_waiting_started_by", name=starter.name, **params
            )
        sent += await _tell(session, admin, text, ctx.now)
    return sent


async def _batch_approved(
    session: AsyncSession, event: events.PayoutBatchApproved, ctx: _Context
) -> list[OutboxMessage]:
    approver = None if event.approved_by is None else await session.get(Person, event.approved_by)
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        if admin.id == event.approved_by:
            continue  # /approve_payouts answered them already
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


async def _batch_cancelled(
    session: AsyncSession, event: events.PayoutBatchCancelled, ctx: _Context
) -> list[OutboxMessage]:
    canceller = await session.get(Person, event.cancelled_by)
    assert canceller is not None  # cancel_batch found them an admin in this transaction
    sent: list[OutboxMessage] = []
    for admin in await _admins(session):
        if admin.id == event.cancelled_by:
            continue  # /cancel_payouts answered them already
        text = ctx.catalogue.t(
            admin.language,
            "payouts.batch_cancelled",
            name=canceller.name,
            batch=event.batch_id,
            count=event.payout_count,
            total=shillings(event.total_cents),
        )
        sent += await _tell(session, admin, text, ctx.now)
    return sent


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
    # Summed in the database: a batch may pay tens of thousands of artisans.
    totals = await session.exec(
        select(Payout.status, func.sum(Payout.amount_cents))
        .where(Payout.batch_id == event.batch_id)
        .group_by(col(Payout.status))
    )
    by_status = {PayoutStatus(status): int(total or 0) for status, total in totals.all()}
    paid = by_status.get(PayoutStatus.SUCCEEDED, 0)
    failed = by_status.get(PayoutStatus.FAILED, 0)
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
) -> int:
    """Outbox messages for payout events (and, through ``queue_notifications``, any other), in
    the order of the events; returns how many were queued."""
    ctx = _Context(catalogue=catalogue, band=band, zone=zone, now=now)
    queued = 0
    settled: list[events.PayoutSucceeded | events.PayoutFailed] = []
    others: list[events.Event] = []
    for event in recorded:
        if isinstance(event, events.PayoutSucceeded | events.PayoutFailed):
            settled.append(event)
            continue
        # What was settled so far goes first, so each address gets its messages in order.
        queued += await _receipts_and_failures(session, settled, ctx)
        settled = []
        if isinstance(event, events.PayoutBatchCreated):
            queued += len(await _batch_created(session, event, ctx))
        elif isinstance(event, events.PayoutBatchApproved):
            queued += len(await _batch_approved(session, event, ctx))
        elif isinstance(event, events.PayoutBatchCancelled):
            queued += len(await _batch_cancelled(session, event, ctx))
        elif isinstance(event, events.PayoutBatchCompleted):
            queued += len(await _batch_completed(session, event, ctx))
        else:
            others.append(event)
    queued += await _receipts_and_failures(session, settled, ctx)
    if others:
        queued += len(await queue_notifications(session, others, catalogue=catalogue, now=now))
    return queued
