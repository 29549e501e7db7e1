"""What artisans and admins are told about payouts, in each one's language.

Artisans get a receipt for every payout M-Pesa completes (amount, M-Pesa transaction id, date)
and a plain note when one fails (the money stays theirs for the next batch). Admins are asked to
approve a batch that waits for them (saying who started it: an admin, or the weekly schedule),
hear who approved or cancelled it, hear about failures with a reason they can act on, and get a
summary when a batch is complete, with the artisans' share of the revenue of the orders that
batch paid for, against the configured band. The admin who started, approved or cancelled a
batch in chat is not told again: their command's reply said it.

Payouts are the admins' business, so their news is told from here, the artisans' receipts too.
Combined into the one table by conversations/registry.py; whoever settles a payout hands the
events drained from the session to the registry's ``notify``, inside the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from decimal import Decimal

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.admin.draft_problems import problem_text
from conversations.admin.queries import orders_paid_by_batch
from conversations.formatting import figure, numeric_date, numeric_date_time
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, Together, tell
from conversations.outbox import notify_people
from domain import events, revenue_share
from domain.model import (
    Customer,
    Order,
    OrderLine,
    Payout,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutStatus,
    Person,
    Role,
)
from domain.store import in_lists
from domain.text import quoted


def _percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'))}%"


async def _admins(session: AsyncSession) -> list[Person]:
    rows = await session.exec(
        select(Person).where(Person.role == Role.ADMIN).order_by(col(Person.id))
    )
    return list(rows.all())


async def _receipts_and_failures(
    session: AsyncSession,
    settled: Sequence[events.PayoutSucceeded | events.PayoutFailed],
    ctx: NoticeContext,
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
    when = numeric_date_time(ctx.now, ctx.zone)
    letters: list[tuple[Person, str]] = []
    for event in settled:
        artisan = artisans.get(event.artisan_id)
        amount = figure(event.amount_cents)
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
    session: AsyncSession, event: events.PayoutBatchCreated, ctx: NoticeContext
) -> int:
    batch = await session.get(PayoutBatch, event.batch_id)
    if batch is None or batch.status is not PayoutBatchStatus.AWAITING_APPROVAL:
        return 0  # approved automatically in the same breath: the approval says so
    starter = None if event.created_by is None else await session.get(Person, event.created_by)
    sent = 0
    for admin in await _admins(session):
        if admin.id == event.created_by:
            continue  # /make_payouts answered them already
        params = {
            "batch": event.batch_id,
            "count": event.payout_count,
            "total": figure(event.total_cents),
        }
        if starter is None:
            text = ctx.catalogue.t(admin.language, "payouts.batch_waiting_scheduled", **params)
        else:
            text = ctx.catalogue.t(
                admin.language, "payouts.batch_waiting_started_by", name=starter.name, **params
            )
        sent += await tell(session, admin, Reply(text), ctx.now)
    return sent


async def _batch_approved(
    session: AsyncSession, event: events.PayoutBatchApproved, ctx: NoticeContext
) -> int:
    approver = None if event.approved_by is None else await session.get(Person, event.approved_by)
    sent = 0
    for admin in await _admins(session):
        if admin.id == event.approved_by:
            continue  # /approve_payouts answered them already
        if approver is None:
            text = ctx.catalogue.t(
                admin.language,
                "payouts.batch_auto_approved",
                batch=event.batch_id,
                total=figure(event.total_cents),
            )
        else:
            text = ctx.catalogue.t(
                admin.language,
                "payouts.batch_approved",
                batch=event.batch_id,
                total=figure(event.total_cents),
                name=approver.name,
            )
        sent += await tell(session, admin, Reply(text), ctx.now)
    return sent


async def _batch_cancelled(
    session: AsyncSession, event: events.PayoutBatchCancelled, ctx: NoticeContext
) -> int:
    canceller = await session.get(Person, event.cancelled_by)
    assert canceller is not None  # cancel_batch found them an admin in this transaction
    sent = 0
    for admin in await _admins(session):
        if admin.id == event.cancelled_by:
            continue  # /cancel_payouts answered them already
        text = ctx.catalogue.t(
            admin.language,
            "payouts.batch_cancelled",
            name=canceller.name,
            batch=event.batch_id,
            count=event.payout_count,
            total=figure(event.total_cents),
        )
        sent += await tell(session, admin, Reply(text), ctx.now)
    return sent


async def _share_line(
    session: AsyncSession, batch_id: int, ctx: NoticeContext, admin: Person
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
    session: AsyncSession, event: events.PayoutBatchCompleted, ctx: NoticeContext
) -> int:
    # Summed in the database: a batch may pay tens of thousands of artisans.
    totals = await session.exec(
        select(Payout.status, func.sum(Payout.amount_cents))
        .where(Payout.batch_id == event.batch_id)
        .group_by(col(Payout.status))
    )
    by_status = {PayoutStatus(status): int(total or 0) for status, total in totals.all()}
    paid = by_status.get(PayoutStatus.SUCCEEDED, 0)
    failed = by_status.get(PayoutStatus.FAILED, 0)
    sent = 0
    for admin in await _admins(session):
        text = ctx.catalogue.t(
            admin.language,
            "payouts.batch_done",
            batch=event.batch_id,
            succeeded=event.succeeded,
            paid=figure(paid),
            failed=event.failed,
            unpaid=figure(failed),
        )
        share = await _share_line(session, event.batch_id, ctx, admin)
        if share is not None:
            text = f"{text}\n{share}"
        sent += await tell(session, admin, Reply(text), ctx.now)
    return sent


_SOURCES = {"shopify": N_("intake.source_shopify"), "api": N_("intake.source_api")}


async def _order_placed(
    session: AsyncSession, event: events.OrderPlaced, ctx: NoticeContext
) -> int:
    """A customer's order came in by machine (web shop, retailers' API): every admin is asked
    to confirm it, with a Confirm button, and told what stands in the way."""
    order = await session.get(Order, event.order_id)
    if order is None:
        return 0
    customer = await session.get(Customer, order.customer_id)
    pieces = (
        await session.exec(
            select(func.coalesce(func.sum(OrderLine.quantity), 0)).where(
                OrderLine.order_id == event.order_id
            )
        )
    ).one()
    sent = 0
    for admin in await _admins(session):
        source = _SOURCES.get(event.source)
        text = ctx.catalogue.t(
            admin.language,
            "intake.order_placed",
            id=event.order_id,
            customer=quoted(customer.name if customer else None),
            source=ctx.catalogue.t(admin.language, source) if source else event.source,
            reference=quoted(order.reference),
            pieces=pieces,
            due=numeric_date(order.due_date),
        )
        if event.problems:
            words = functools.partial(ctx.catalogue.t, admin.language)
            lines = "\n".join(
                f"- {problem_text(problem, words, ctx.money)}" for problem in event.problems
            )
            text = f"{text}\n{ctx.catalogue.t(admin.language, 'intake.order_problems')}\n{lines}"
        button = Choice(
            f"confirm:{event.order_id}",
            ctx.catalogue.t(admin.language, "intake.confirm_button", id=event.order_id),
        )
        sent += await tell(session, admin, Reply(text, choices=(button,)), ctx.now)
    return sent


# Payout results are settled in groups: their receipts and notes are queued together.
_SETTLED = Together(_receipts_and_failures)

NOTICES: NoticeTable = {
    events.OrderPlaced: _order_placed,
    events.PayoutBatchCreated: _batch_created,
    events.PayoutBatchApproved: _batch_approved,
    events.PayoutBatchCancelled: _batch_cancelled,
    events.PayoutSucceeded: _SETTLED,
    events.PayoutFailed: _SETTLED,
    events.PayoutBatchCompleted: _batch_completed,
}
