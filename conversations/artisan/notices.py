"""What artisans are told when something happens to their work, each in their own language.

Job offers (with their buttons and typed codes), offers withdrawn or lapsed, QC results with the
reasons in plain words and the rework's due date, requests for better photos (with a button that
starts sending them), and receipts at the central workshop with what they earned, or a polite
note when the count differs from what they declared. That they were verified is told by
``conversations.verification``; payout receipts by ``conversations.admin.notices``, with the
rest of a payout batch's news.

Combined into the one table by conversations/registry.py; opted-out artisans get nothing
(``outbox.notify_person`` refuses them).
"""

from __future__ import annotations

import functools

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.artisan.queries import offer_component
from conversations.artisan.views import offer_message
from conversations.formatting import Say, weekday_date
from conversations.i18n import N_
from conversations.messages import Choice, Reply
from conversations.notices import NoticeContext, NoticeTable, tell
from domain import events
from domain.explosion import factory_today
from domain.model import (
    Allocation,
    Component,
    Delivery,
    Job,
    Offer,
    OfferStatus,
    Person,
    QcReason,
    QcReview,
    Submission,
    WriteOff,
)
from domain.services.deliveries import discrepancy_words
from domain.services.settlement import settlements_of_job
from domain.text import quoted

QC_REASONS: dict[QcReason, str] = {
    QcReason.POOR_FINISH: N_("artisan.qc_reason.poor_finish"),
    QcReason.WRONG_SIZE: N_("artisan.qc_reason.wrong_size"),
    QcReason.BROKEN: N_("artisan.qc_reason.broken"),
    QcReason.WRONG_MATERIAL: N_("artisan.qc_reason.wrong_material"),
    QcReason.INCONSISTENT: N_("artisan.qc_reason.inconsistent"),
    QcReason.OTHER: N_("artisan.qc_reason.other"),
}


def _speaker(ctx: NoticeContext, person: Person) -> Say:
    return functools.partial(ctx.catalogue.t, person.language)


async def _allocation_component(
    session: AsyncSession, allocation_id: int
) -> tuple[Allocation, Component] | None:
    allocation = await session.get(Allocation, allocation_id)
    job = None if allocation is None else await session.get(Job, allocation.job_id)
    component = None if job is None else await session.get(Component, job.component_id)
    if allocation is None or component is None:
        return None
    return allocation, component


# --- offers ---------------------------------------------------------------------------------


async def _offer_made(session: AsyncSession, event: events.OfferMade, ctx: NoticeContext) -> int:
    offer = await session.get(Offer, event.offer_id)
    artisan = await session.get(Person, event.artisan_id)
    if offer is None or artisan is None or offer.status is not OfferStatus.OPEN:
        return 0
    t = _speaker(ctx, artisan)
    component = await offer_component(session, offer)
    reply = await offer_message(session, t, ctx.money, offer, component, new=True)
    return await tell(session, artisan, reply, ctx.now)


async def _offer_closed(
    session: AsyncSession,
    event: events.OfferWithdrawn | events.OfferExpired,
    ctx: NoticeContext,
) -> int:
    offer = await session.get(Offer, event.offer_id)
    artisan = await session.get(Person, event.artisan_id)
    if offer is None or artisan is None:
        return 0
    t = _speaker(ctx, artisan)
    component = await offer_component(session, offer)
    if isinstance(event, events.OfferWithdrawn):
        if event.cancelled:
            msgid = N_("artisan.offer_cancelled_notice")
        elif event.filled:
            msgid = N_("artisan.offer_filled_notice")
        else:
            msgid = N_("artisan.offer_withdrawn_notice")
    else:
        msgid = N_("artisan.offer_expired_notice")
    text = t(msgid, id=offer.id, quantity=offer.quantity, component=component.name)
    return await tell(session, artisan, Reply(text), ctx.now)


# --- QC -------------------------------------------------------------------------------------


async def _qc_reviewed(session: AsyncSession, event: events.QcReviewed, ctx: NoticeContext) -> int:
    submission = await session.get(Submission, event.submission_id)
    artisan = await session.get(Person, event.artisan_id)
    found = (
        None
        if submission is None
        else await _allocation_component(session, submission.allocation_id)
    )
    if artisan is None or found is None:
        return 0
    allocation, component = found
    t = _speaker(ctx, artisan)
    if event.rejected == 0:
        text = t(
            "artisan.qc_all_passed",
            id=event.submission_id,
            passed=event.passed,
            component=component.name,
        )
    else:
        reasons = ", ".join(t(QC_REASONS[QcReason(reason)]) for reason in event.reasons)
        due = event.rework_due_date or allocation.due_date
        if allocation.submit_by is not None:  # a cancelled job: rework only within its grace
            due = min(due, allocation.submit_by)
        text = t(
            "artisan.qc_some_rejected",
            id=event.submission_id,
            passed=event.passed,
            rejected=event.rejected,
            component=component.name,
            reasons=reasons or t(QC_REASONS[QcReason.OTHER]),
            due=weekday_date(t, due),
        )
    review = (
        await session.exec(select(QcReview).where(QcReview.submission_id == event.submission_id))
    ).first()
    if review is not None and review.note:
        text += "\n" + t("artisan.qc_note", note=quoted(review.note))
    menu = (Choice("cmd:menu", t("menu.open")),)
    return await tell(session, artisan, Reply(text, choices=menu), ctx.now)


async def _better_photos(
    session: AsyncSession,
    event: events.BetterPhotosRequested,
    ctx: NoticeContext,
) -> int:
    submission = await session.get(Submission, event.submission_id)
    artisan = await session.get(Person, event.artisan_id)
    found = (
        None
        if submission is None
        else await _allocation_component(session, submission.allocation_id)
    )
    if submission is None or artisan is None or found is None:
        return 0
    t = _speaker(ctx, artisan)
    text = t(
        "artisan.better_photos_request",
        id=event.submission_id,
        count=submission.count,
        component=found[1].name,
    )
    if event.note:
        text += "\n" + t("artisan.qc_note", note=quoted(event.note))
    button = Choice(f"morephotos:{event.submission_id}", t("artisan.better_photos_button"))
    return await tell(session, artisan, Reply(text, choices=(button,)), ctx.now)


# --- deliveries -----------------------------------------------------------------------------


async def _delivery_received(
    session: AsyncSession, event: events.DeliveryReceived, ctx: NoticeContext
) -> int:
    delivery = await session.get(Delivery, event.delivery_id)
    artisan = await session.get(Person, event.artisan_id)
    found = (
        None if delivery is None else await _allocation_component(session, delivery.allocation_id)
    )
    if artisan is None or found is None:
        return 0
    t = _speaker(ctx, artisan)
    text = t(
        "artisan.delivery_received",
        job=found[0].job_id,
        received=event.received,
        component=found[1].name,
        earned=ctx.money(event.earned_cents),
    )
    return await tell(session, artisan, Reply(text), ctx.now)


async def _delivery_discrepancy(
    session: AsyncSession, event: events.DeliveryDiscrepancy, ctx: NoticeContext
) -> int:
    artisan = await session.get(Person, event.artisan_id)
    delivery = await session.get(Delivery, event.delivery_id)
    found = (
        None if delivery is None else await _allocation_component(session, delivery.allocation_id)
    )
    if artisan is None or delivery is None or found is None:
        return 0
    t = _speaker(ctx, artisan)
    msgid = (
        N_("artisan.delivery_short")
        if event.received < event.declared
        else N_("artisan.delivery_extra")
    )
    text = t(msgid, job=found[0].job_id, declared=event.declared, received=event.received)
    # The agent's own words on the count, quoted: why they counted fewer (or more).
    words = discrepancy_words(delivery)
    if words:
        text += "\n" + t("clarity.delivery_agent_note", note=quoted(words))
    return await tell(session, artisan, Reply(text), ctx.now)


# --- cancelled work ---------------------------------------------------------------------------


async def _job_cancelled(
    session: AsyncSession, event: events.JobCancelled, ctx: NoticeContext
) -> int:
    """Each artisan whose lot was cancelled with the job hears, in their language, what stops
    and what happens to their pieces (the rule: domain/services/jobs.py ``cancel_job``). Those
    who only had an open offer hear ``OfferWithdrawn(cancelled=True)``."""
    job = await session.get(Job, event.job_id)
    component = None if job is None else await session.get(Component, job.component_id)
    if component is None:
        return 0
    queued = 0
    for settlement in await settlements_of_job(session, event.job_id):
        allocation = settlement.allocation
        artisan = await session.get(Person, allocation.artisan_id)
        if artisan is None:
            continue
        t = _speaker(ctx, artisan)
        lines = [
            t(
                "artisan.job_cancelled_notice",
                job=allocation.job_id,  # the number they know; the lot id is staff's (#16.7)
                quantity=allocation.quantity,
                component=component.name,
            )
        ]
        if settlement.to_deliver:
            lines.append(t("artisan.job_cancelled_deliver", count=settlement.to_deliver))
        if settlement.in_transit:
            lines.append(t("artisan.job_cancelled_in_transit", count=settlement.in_transit))
        if settlement.in_review:
            lines.append(t("artisan.job_cancelled_in_review", count=settlement.in_review))
        if settlement.unmade and settlement.submit_by is not None:
            assert allocation.cancelled_at is not None
            days = (settlement.submit_by - factory_today(allocation.cancelled_at, ctx.zone)).days
            lines.append(
                t(
                    "artisan.job_cancelled_grace",
                    count=settlement.unmade,
                    date=weekday_date(t, settlement.submit_by),
                    days=days,
                )
            )
        lines.append(t("artisan.job_cancelled_record"))
        menu = (Choice("cmd:menu", t("menu.open")),)
        queued += await tell(session, artisan, Reply("\n".join(lines), choices=menu), ctx.now)
    return queued


async def _written_off(
    session: AsyncSession, event: events.PiecesWrittenOff, ctx: NoticeContext
) -> int:
    entry = await session.get(WriteOff, event.write_off_id)
    artisan = await session.get(Person, event.artisan_id)
    found = None if entry is None else await _allocation_component(session, entry.allocation_id)
    if entry is None or artisan is None or found is None:
        return 0
    t = _speaker(ctx, artisan)
    text = t(
        "artisan.written_off_notice",
        job=found[0].job_id,
        pieces=entry.pieces,
        component=found[1].name,
        amount=ctx.money(entry.amount_cents),
        reason=quoted(entry.reason),
    )
    return await tell(session, artisan, Reply(text), ctx.now)


NOTICES: NoticeTable = {
    events.JobCancelled: _job_cancelled,
    events.PiecesWrittenOff: _written_off,
    events.OfferMade: _offer_made,
    events.OfferWithdrawn: _offer_closed,
    events.OfferExpired: _offer_closed,
    events.QcReviewed: _qc_reviewed,
    events.BetterPhotosRequested: _better_photos,
    events.DeliveryReceived: _delivery_received,
    events.DeliveryDiscrepancy: _delivery_discrepancy,
}
